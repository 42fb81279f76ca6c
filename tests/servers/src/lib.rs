//! Real servers for tests, started by the tests themselves on loopback ports, never downloaded:
//! a throwaway PostgreSQL cluster from Debian's packages ([`PostgresCluster`]).

mod postgres;

pub use postgres::{PostgresCluster, shared_postgres};
