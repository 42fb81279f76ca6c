//! Real servers for tests and benchmarks, started by them on loopback ports, never downloaded:
//! a throwaway PostgreSQL cluster from Debian's packages ([`PostgresCluster`]) and the Temporal
//! development server ([`TemporalServer`]).

mod postgres;
mod temporal;

pub use postgres::{PostgresCluster, shared_postgres};
pub use temporal::TemporalServer;
