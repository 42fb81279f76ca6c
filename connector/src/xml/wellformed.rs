//! Well-formedness of rendered templates, checked when a configuration is loaded.
//!
//! The known Duck Creek package ships an ENABLEACCOUNTJSON that opens
//! `Security.unlockUserAccountRq` and closes `Security.lockUserAccountRq`; this is where that is
//! caught, with the position and both tag names.

use quick_xml::Reader;
use quick_xml::errors::{Error, IllFormedError};
use quick_xml::events::Event;

use crate::text::TextError;

/// Checks that `document` is one well-formed XML element tree, without DOCTYPE; returns the
/// local name of its root element.
pub fn check_well_formed(document: &str) -> Result<String, TextError> {
    let mut reader = Reader::from_str(document);
    let mut depth = 0usize;
    let mut root: Option<String> = None;
    loop {
        let at = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|error| syntax_error(document, reader.error_position() as usize, &error))?;
        let opens_root = matches!(event, Event::Start(_) | Event::Empty(_)) && depth == 0;
        if opens_root && root.is_some() {
            return Err(TextError::at(
                document,
                at,
                "a second root element: a request holds exactly one".into(),
            ));
        }
        if let Event::Start(start) | Event::Empty(start) = &event {
            check_attributes(start).map_err(|message| TextError::at(document, at, message))?;
        }
        match event {
            Event::Start(start) => {
                if depth == 0 {
                    root = Some(start.local_name().as_ref().to_string());
                }
                depth += 1;
            }
            Event::Empty(start) if depth == 0 => {
                root = Some(start.local_name().as_ref().to_string())
            }
            Event::End(_) => depth -= 1,
            Event::Text(text) if depth == 0 && !text.xml10_content().trim().is_empty() => {
                return Err(TextError::at(
                    document,
                    at,
                    "text outside the root element".into(),
                ));
            }
            Event::DocType(_) => {
                return Err(TextError::at(
                    document,
                    at,
                    "DOCTYPE is not allowed in a request".into(),
                ));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth > 0 {
        return Err(TextError::at(
            document,
            document.len(),
            "the document ends before its root element is closed".into(),
        ));
    }
    root.ok_or_else(|| TextError::at(document, 0, "no element at all".into()))
}

fn check_attributes(start: &quick_xml::events::BytesStart<'_>) -> Result<(), String> {
    for attribute in start.attributes() {
        let attribute =
            attribute.map_err(|error| format!("in `<{}>`: {error}", start.name().as_ref()))?;
        attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|error| format!("in `<{}>`: {error}", start.name().as_ref()))?;
    }
    Ok(())
}

fn syntax_error(document: &str, offset: usize, error: &Error) -> TextError {
    let message = match error {
        Error::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            format!("mismatched closing tag: `<{expected}>` is closed by `</{found}>`")
        }
        Error::IllFormed(IllFormedError::UnmatchedEndTag(name)) => {
            format!("closing tag `</{name}>` has no opening tag")
        }
        other => other.to_string(),
    };
    TextError::at(document, offset, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documents_and_names_the_root() {
        let cases = [
            (
                "<server><requests><A.b x=\"1\"/></requests></server>",
                "server",
            ),
            (
                "<?xml version=\"1.0\"?>\n<soapenv:Envelope xmlns:soapenv=\"u\"><soapenv:Body/></soapenv:Envelope>",
                "Envelope",
            ),
            ("<a/>", "a"),
        ];
        for (document, root) in cases {
            assert_eq!(
                check_well_formed(document).as_deref(),
                Ok(root),
                "{document}"
            );
        }
    }

    #[test]
    fn reports_the_known_package_mistake_with_both_names() {
        let document = "<server><requests>\n<Security.unlockUserAccountRq userName=\"x\"></Security.lockUserAccountRq>\n</requests></server>";
        let error = check_well_formed(document).unwrap_err();
        assert_eq!(
            error.message,
            "mismatched closing tag: `<Security.unlockUserAccountRq>` is closed by `</Security.lockUserAccountRq>`"
        );
        assert_eq!(error.line, 2);
    }

    #[test]
    fn rejects_what_is_not_one_element_tree() {
        let cases = [
            ("<a><b></a>", "mismatched closing tag"),
            ("<a>", "ends before"),
            ("", "no element"),
            ("<a/><b/>", "second root"),
            ("hello <a/>", "text outside"),
            ("<!DOCTYPE a [<!ENTITY x \"y\">]><a/>", "DOCTYPE"),
            ("<a b=\"1\" b=\"2\"/>", "ttribute"),
            ("</a>", "no opening tag"),
        ];
        for (document, message) in cases {
            let error = check_well_formed(document).expect_err(document);
            assert!(error.message.contains(message), "{document}: {error}");
        }
    }
}
