//! Benchmarks of the Rust Task SDK on loopback TCP, run by `scripts/bench` (not by the test
//! suite):
//!
//! * `benches/loopback.rs`: request round trips of each adapter's client against a lean
//!   supervisor built on the core's `SupervisorSession` ([`server`]), beside a minimal blocking
//!   echo with the same frame sizes ([`floor`]); pipelined throughput of the async adapters.
//! * `benches/startup.rs`: the example bundles as processes, from spawn to the first request,
//!   with their CPU time and peak memory, against the same lean supervisor.
//!
//! Every request is a `GetVariable` for [`KEY`], answered with a `VariableResult` of [`VALUE`]:
//! the frames a task's variable read puts on the wire.

#![warn(missing_docs)]

pub mod clients;
pub mod floor;
pub mod server;
pub mod stats;

/// The variable every benchmark request reads.
pub const KEY: &str = "bench_value";
/// Its value.
pub const VALUE: &str = "hello";
