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

/// What every benchmark runs: the built programs, the component and the connection.
#[derive(Debug, Clone, clap::Args)]
pub struct Built {
    /// The folder holding the built `dcconn`, `dcsim` and `dcbench`.
    #[arg(long, default_value = "target/release")]
    pub bin: std::path::PathBuf,
    /// The component.
    #[arg(
        long,
        default_value = "target/wasm32-wasip2/release/duckcreek_connector.wasm"
    )]
    pub component: std::path::PathBuf,
    /// The connection the imports use (every endpoint's profile, in the fleet).
    #[arg(long, default_value = "packages/duckcreek.json")]
    pub package: std::path::PathBuf,
}
