//! `dcconn`: a thin binary over the `dcconn` library.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(dcconn::cli::main())
}
