//! `--set NAME=VALUE`, `--set-env NAME=VARIABLE` and `--set-file NAME=PATH` as clap checks them:
//! a value without `=`, or with nothing before it, is a usage error (exit code 2) that names the
//! flag and the shape it takes. The value itself is never quoted: `--set PASSWORD:hunter2` is a
//! mistake that holds a secret.

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use clap::error::{Error, ErrorKind};
use clap::{Arg, Command};

/// A clap value parser for `NAME=...` arguments.
#[derive(Debug, Clone, Copy)]
pub struct Assignment {
    /// The flag, as the message names it (`--set-env`).
    flag: &'static str,
    /// What follows the `=` (`VALUE`, `VARIABLE`, `PATH`).
    right: &'static str,
    /// An example of the whole argument.
    example: &'static str,
}

impl Assignment {
    /// `--set NAME=VALUE`.
    pub const SET: Assignment = Assignment {
        flag: "--set",
        right: "VALUE",
        example: "SOAP_ENDPOINT=https://dc.example.com/Server.svc",
    };
    /// `--set-env NAME=VARIABLE`.
    pub const SET_ENV: Assignment = Assignment {
        flag: "--set-env",
        right: "VARIABLE",
        example: "PASSWORD=DC_PASSWORD",
    };
    /// `--set-file NAME=PATH`.
    pub const SET_FILE: Assignment = Assignment {
        flag: "--set-file",
        right: "PATH",
        example: "PASSWORD=/run/secrets/dc_password",
    };

    /// What is wrong with `text`, if anything.
    fn problem(&self, text: Option<&str>) -> Option<&'static str> {
        let Some(text) = text else {
            return Some("it is not valid UTF-8");
        };
        match text.split_once('=') {
            None => Some("it has no '='"),
            Some((name, _)) if name.trim().is_empty() => {
                Some("the attribute name before '=' is empty")
            }
            Some(_) => None,
        }
    }
}

impl TypedValueParser for Assignment {
    type Value = String;

    fn parse_ref(
        &self,
        command: &Command,
        _arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<String, Error> {
        let text = value.to_str();
        match self.problem(text) {
            None => Ok(text.unwrap_or_default().to_owned()),
            Some(problem) => Err(Error::raw(
                ErrorKind::ValueValidation,
                format!(
                    "{flag} takes NAME={right} (e.g. {flag} {example}), but {problem}\n",
                    flag = self.flag,
                    right = self.right,
                    example = self.example,
                ),
            )
            .with_cmd(command)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_name_and_an_equals_sign_are_required() {
        let set = Assignment::SET;
        assert_eq!(set.problem(Some("USERNAME=svc")), None);
        assert_eq!(set.problem(Some("USERNAME=")), None);
        assert_eq!(set.problem(Some("A=b=c")), None);
        assert_eq!(set.problem(Some("PASSWORD:hunter2")), Some("it has no '='"));
        assert_eq!(
            set.problem(Some(" =x")),
            Some("the attribute name before '=' is empty")
        );
        assert_eq!(set.problem(None), Some("it is not valid UTF-8"));
    }
}
