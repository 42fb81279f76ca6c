//! Configuration problems as a person reads them: the same problem reported at several places
//! (an attribute the connection lacks, used by every call) is one problem with the list of its
//! places, not one line per place.

use crate::runtime::wit;

/// One problem and every place the component reported it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemGroup {
    /// How serious it is.
    pub severity: wit::Severity,
    /// The attribute at fault (`ACCOUNTS_IMPORT_JSON`; `PASSWORD` when it is missing).
    pub attribute: String,
    /// Where, in the order reported, each once (`REQUESTXML2, line 1, column 4`,
    /// `ENABLEACCOUNTJSON call 1`); empty when the problem has no place.
    pub locations: Vec<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl ProblemGroup {
    /// `error` or `warning`.
    pub fn severity_name(&self) -> &'static str {
        match self.severity {
            wit::Severity::Error => "error",
            wit::Severity::Warning => "warning",
        }
    }

    /// The problem on one line: `error: PASSWORD (ACCOUNTS_IMPORT_JSON calls 1-4;
    /// ENABLEACCOUNTJSON call 1): is not set ...`, its places shortened by [`compact`].
    pub fn describe(&self) -> String {
        let severity = self.severity_name();
        if self.locations.is_empty() {
            return format!("{severity}: {}: {}", self.attribute, self.message);
        }
        format!(
            "{severity}: {} ({}): {}",
            self.attribute,
            compact(&self.locations).join("; "),
            self.message
        )
    }
}

/// The problems grouped: those of the same severity, attribute and message are one, with
/// their places in the order reported. Groups keep the order of their first problem.
pub fn grouped(problems: &[wit::Problem]) -> Vec<ProblemGroup> {
    let mut groups: Vec<ProblemGroup> = Vec::new();
    for problem in problems {
        let same = groups.iter_mut().find(|group| {
            group.severity == problem.severity
                && group.attribute == problem.attribute
                && group.message == problem.message
        });
        let group = match same {
            Some(group) => group,
            None => {
                groups.push(ProblemGroup {
                    severity: problem.severity,
                    attribute: problem.attribute.clone(),
                    locations: Vec::new(),
                    message: problem.message.clone(),
                });
                groups.last_mut().expect("just pushed")
            }
        };
        if let Some(location) = &problem.location
            && !group.locations.contains(location)
        {
            group.locations.push(location.clone());
        }
    }
    groups
}

/// Places shortened for reading: consecutive places `PLAN call N` of one plan become `PLAN calls
/// 1-4` (`PLAN calls 1, 3` when not a range); any other place is kept as it is.
pub fn compact(locations: &[String]) -> Vec<String> {
    let mut shown: Vec<String> = Vec::new();
    let mut run: Option<(&str, Vec<u32>)> = None;
    for location in locations {
        match (call_of(location), run.as_mut()) {
            (Some((plan, call)), Some((current, calls))) if *current == plan => calls.push(call),
            (Some((plan, call)), _) => {
                shown.extend(run.take().map(|(plan, calls)| calls_text(plan, &calls)));
                run = Some((plan, vec![call]));
            }
            (None, _) => {
                shown.extend(run.take().map(|(plan, calls)| calls_text(plan, &calls)));
                shown.push(location.clone());
            }
        }
    }
    shown.extend(run.map(|(plan, calls)| calls_text(plan, &calls)));
    shown
}

/// `("ENABLEACCOUNTJSON", 1)` for `ENABLEACCOUNTJSON call 1`.
fn call_of(location: &str) -> Option<(&str, u32)> {
    let (plan, number) = location.rsplit_once(" call ")?;
    let call = number.parse().ok()?;
    (!plan.is_empty() && !plan.contains(' ')).then_some((plan, call))
}

/// `PLAN call 1`, `PLAN calls 1-4`, `PLAN calls 1, 3, 5-6`.
fn calls_text(plan: &str, calls: &[u32]) -> String {
    if let [call] = calls {
        return format!("{plan} call {call}");
    }
    let mut sorted = calls.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<String> = Vec::new();
    let mut start = 0;
    for index in 1..=sorted.len() {
        let ends = index == sorted.len() || sorted[index] != sorted[index - 1] + 1;
        if ends {
            ranges.push(match index - start {
                1 => sorted[start].to_string(),
                _ => format!("{}-{}", sorted[start], sorted[index - 1]),
            });
            start = index;
        }
    }
    format!("{plan} calls {}", ranges.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(attribute: &str, location: Option<&str>, message: &str) -> wit::Problem {
        wit::Problem {
            severity: wit::Severity::Error,
            attribute: attribute.into(),
            location: location.map(str::to_owned),
            message: message.into(),
        }
    }

    #[test]
    fn the_same_problem_at_several_places_is_one_with_its_places() {
        let problems = [
            problem(
                "USERNAME",
                Some("ACCOUNTS_IMPORT_JSON call 1"),
                "is not set",
            ),
            problem(
                "PASSWORD",
                Some("ACCOUNTS_IMPORT_JSON call 1"),
                "is not set",
            ),
            problem(
                "USERNAME",
                Some("ACCOUNTS_IMPORT_JSON call 2"),
                "is not set",
            ),
            problem(
                "ACCOUNTS_IMPORT_JSON",
                Some("REQUESTXML2, line 1"),
                "bad tag",
            ),
            problem(
                "USERNAME",
                Some("ACCOUNTS_IMPORT_JSON call 2"),
                "is not set",
            ),
            problem("USERNAME", Some("ENABLEACCOUNTJSON call 1"), "is not set"),
            problem("SOAP_ENDPOINT", None, "missing"),
        ];
        let described: Vec<String> = grouped(&problems)
            .iter()
            .map(ProblemGroup::describe)
            .collect();
        assert_eq!(
            described,
            [
                "error: USERNAME (ACCOUNTS_IMPORT_JSON calls 1-2; ENABLEACCOUNTJSON call 1): is not set",
                "error: PASSWORD (ACCOUNTS_IMPORT_JSON call 1): is not set",
                "error: ACCOUNTS_IMPORT_JSON (REQUESTXML2, line 1): bad tag",
                "error: SOAP_ENDPOINT: missing",
            ]
        );
        assert_eq!(
            grouped(&problems)[0].locations,
            [
                "ACCOUNTS_IMPORT_JSON call 1",
                "ACCOUNTS_IMPORT_JSON call 2",
                "ENABLEACCOUNTJSON call 1"
            ]
        );
    }

    #[test]
    fn calls_of_one_plan_are_shortened_to_ranges_and_other_places_kept() {
        let places = |texts: &[&str]| texts.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        for (locations, shown) in [
            (
                places(&["P call 1", "P call 2", "P call 3", "P call 5", "Q call 1"]),
                places(&["P calls 1-3, 5", "Q call 1"]),
            ),
            (
                places(&["P call 2", "CONNECTIONJSON gw", "P call 3"]),
                places(&["P call 2", "CONNECTIONJSON gw", "P call 3"]),
            ),
            (
                places(&["call 1 (REQUESTXML)", "REQUESTXML2, line 1, column 3"]),
                places(&["call 1 (REQUESTXML)", "REQUESTXML2, line 1, column 3"]),
            ),
            (places(&["P call 1", "P call 3"]), places(&["P calls 1, 3"])),
        ] {
            assert_eq!(compact(&locations), shown, "{locations:?}");
        }
    }
}
