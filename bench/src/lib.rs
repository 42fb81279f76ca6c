//! The benchmarks behind `make bench` (see BENCHMARKS.md): the driver, and the measured programs
//! that are not `dcconn` itself (the floor, the native reference and the Python script
//! reference). `dcbench` is a thin binary over this library.

mod cpu;
pub mod driver;
pub mod fleet;
pub mod floor;
pub mod native;
mod process;
pub mod script;
mod simulator;

/// The password the driver gives the simulator and the measured programs (an environment
/// variable, never an argument).
pub const PASSWORD_VARIABLE: &str = "DCBENCH_PASSWORD";
