//! Response paths in the GPath style of Saviynt's configuration.
//!
//! `Body.processRequestsAsDOMResponse.result.server.responses.OnlineData~dot#listEntityUsersRs.Users.User`
//! selects elements step by step below the document root; `~dot#` is a literal dot inside an
//! element name; `children()` matches any child element; a final `@attr` selects an attribute and
//! a final `text()` (or a path ending on an element) its text. Namespace prefixes are not written;
//! one written anyway (`soap:Body`) is ignored.

use std::fmt;

/// One element step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An element with this local name.
    Element(String),
    /// Any child element (`children()`).
    AnyChild,
}

impl Step {
    /// Whether an element with this local name matches the step.
    pub fn matches(&self, local_name: &str) -> bool {
        match self {
            Step::Element(name) => name == local_name,
            Step::AnyChild => true,
        }
    }
}

/// What a path selects at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The elements themselves (record paths) or their text (value paths).
    Element,
    /// An attribute of the last element (`@name`).
    Attribute(String),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The element steps, from the first element below the starting point.
    pub steps: Vec<Step>,
    /// What the path selects at its end.
    pub target: Target,
}

/// A path that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// 1-based character column in the path text.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

const LITERAL_DOT: &str = "~dot#";

impl Path {
    /// Parses a path; `text()` and a trailing element both select text.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let leading = text.len() - text.trim_start().len();
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(PathError {
                column: 1,
                message: "the path is empty".into(),
            });
        }
        let mut steps = Vec::new();
        let mut target = Target::Element;
        let mut offset = leading;
        let pieces: Vec<&str> = trimmed.split('.').collect();
        for (index, piece) in pieces.iter().enumerate() {
            let column = text[..offset].chars().count() + 1;
            let is_last = index + 1 == pieces.len();
            match parse_piece(piece, column, is_last)? {
                Piece::Step(step) => steps.push(step),
                Piece::Target(found) => target = found,
            }
            offset += piece.len() + 1;
        }
        Ok(Path { steps, target })
    }

    /// Whether the path selects elements only (as a record path must).
    pub fn selects_elements(&self) -> bool {
        self.target == Target::Element && !self.steps.is_empty()
    }
}

enum Piece {
    Step(Step),
    Target(Target),
}

fn parse_piece(piece: &str, column: usize, is_last: bool) -> Result<Piece, PathError> {
    let error = |message: String| Err(PathError { column, message });
    if piece.is_empty() {
        return error("empty step (two dots in a row, or a dot at an end)".into());
    }
    if let Some(attribute) = piece.strip_prefix('@') {
        if !is_last {
            return error(format!(
                "`{piece}` selects an attribute, so it must be the last step"
            ));
        }
        if !is_name(attribute) {
            return error(format!("`{attribute}` is not a valid attribute name"));
        }
        return Ok(Piece::Target(Target::Attribute(
            local_part(attribute).to_string(),
        )));
    }
    match piece {
        "children()" | "*" => return Ok(Piece::Step(Step::AnyChild)),
        "text()" if is_last => return Ok(Piece::Target(Target::Element)),
        "text()" => return error("`text()` must be the last step".into()),
        _ => {}
    }
    let name = piece.replace(LITERAL_DOT, ".");
    if name.contains('(') || !is_name(&name) {
        return error(format!(
            "`{piece}` is not an element name (supported: names, `~dot#` for a dot, `children()`, a final `@attribute` or `text()`)"
        ));
    }
    Ok(Piece::Step(Step::Element(local_part(&name).to_string())))
}

fn local_part(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, local)| local)
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if first.is_alphabetic() || first == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(name: &str) -> Step {
        Step::Element(name.to_string())
    }

    #[test]
    fn parses_the_supported_forms() {
        let cases: &[(&str, Vec<Step>, Target)] = &[
            (
                "Body.responses.OnlineData~dot#listEntityUsersRs.Users.User",
                vec![
                    element("Body"),
                    element("responses"),
                    element("OnlineData.listEntityUsersRs"),
                    element("Users"),
                    element("User"),
                ],
                Target::Element,
            ),
            ("@name", vec![], Target::Attribute("name".into())),
            (
                " Roles.Role.@name ",
                vec![element("Roles"), element("Role")],
                Target::Attribute("name".into()),
            ),
            (
                "Entities.children()",
                vec![element("Entities"), Step::AnyChild],
                Target::Element,
            ),
            (
                "soap:Body.x",
                vec![element("Body"), element("x")],
                Target::Element,
            ),
            ("Name.text()", vec![element("Name")], Target::Element),
            ("@xsi:type", vec![], Target::Attribute("type".into())),
        ];
        for (text, steps, target) in cases {
            let path = Path::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(&path.steps, steps, "{text}");
            assert_eq!(&path.target, target, "{text}");
        }
    }

    #[test]
    fn reports_errors_with_their_column() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "empty"),
            ("a..b", 3, "empty step"),
            ("a.@id.b", 3, "last step"),
            ("a.b c", 3, "not an element name"),
            ("a.count()", 3, "not an element name"),
            ("Users.", 7, "empty step"),
            ("@", 1, "not a valid attribute"),
            ("text().a", 1, "last step"),
        ];
        for (text, column, message) in cases {
            let error = Path::parse(text).expect_err(text);
            assert_eq!(error.column, *column, "{text}: {error}");
            assert!(error.message.contains(message), "{text}: {error}");
        }
    }

    #[test]
    fn record_paths_must_select_elements() {
        assert!(Path::parse("Users.User").unwrap().selects_elements());
        assert!(!Path::parse("Users.User.@id").unwrap().selects_elements());
        assert!(!Path::parse("@id").unwrap().selects_elements());
    }
}
