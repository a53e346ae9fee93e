//! The runtime-agnostic task-author layer of the Rust Task SDK for Apache Airflow.
//!
//! Task authors use it through an adapter crate (`airflow-sdk-std`, `airflow-sdk-tokio` or
//! `airflow-sdk-smol`), which re-exports what is here with its own runtime plugged in. This
//! crate holds everything the adapters share, written once:
//!
//! * [`Bundle`]: the DAGs and tasks of one executable, and its [`BundleMetadata`];
//! * [`TaskContext`] and [`TaskInfo`]: what a running task knows;
//! * [`Client`]: one typed method per request of the protocol;
//! * [`TaskError`]: how a task ends other than in success (failure, retry, skip, defer,
//!   reschedule), and [`execute()`], which maps that to the terminal message;
//! * environment overrides (`AIRFLOW_VAR_*`, `AIRFLOW_CONN_*`) in [`Environment`];
//! * the command line ([`cli`]) and task logging ([`logging`]).
//!
//! An adapter implements [`Runtime`]: one request round trip, a timer, and the shape of
//! client results (plain values when blocking, futures when async).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod blocking;
pub mod bundle;
pub mod cli;
pub mod client;
pub mod connection;
pub mod context;
pub mod dispatch;
pub mod error;
pub mod execute;
pub mod handler;
pub mod local;
pub mod logging;
pub mod runtime;
pub mod serve;
pub mod together;

pub use airflow_protocol as protocol;
pub use airflow_protocol::{JsonMap, JsonValue, Timestamp};
pub use blocking::{block_on, Wait};
pub use bundle::{Bundle, BundleMetadata, DagBuilder, FromTaskFn};
pub use client::{AssetKey, Client, XComRef};
pub use connection::{Connection, Environment};
pub use context::{Cancellation, Resume, TaskContext, TaskInfo};
pub use error::{ClientError, Defer, NotFound, TaskError, TaskErrorKind};
pub use execute::{execute, FinalState, RunLimits, RunOutcome, TaskReturn};
pub use handler::{run_task, AsyncFn, BlockingFn, TaskHandler};
pub use runtime::{BoxFuture, ExchangeError, Runtime};
pub use serve::{serve, Adapter, Launch, LaunchError, Serve};
