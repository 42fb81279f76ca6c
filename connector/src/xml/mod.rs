//! XML handling: checking templates for well-formedness and reading responses as a stream.

pub mod records;
pub mod wellformed;

pub use records::{Record, RecordReader, ResponseError, first_value};
pub use wellformed::check_well_formed;
