//! `airflow-rust-pack`: packs an executable built with the Airflow Rust Task SDK into a
//! self-contained AFBNDL01 bundle, the file Airflow's `ExecutableCoordinator` (task SDK
//! 1.3.2) finds by DAG id under its `executables_root` and runs, and inspects and verifies
//! such bundles.
//!
//! A bundle is the executable followed by the DAG source, the metadata YAML and a 64-byte
//! trailer (see [`airflow_protocol::bundle`], which owns the trailer format; this crate does the
//! hashing and the file I/O):
//!
//! ```text
//! airflow-rust-pack pack target/release/my-dags --source src/main.rs -o bundles/my-dags
//! airflow-rust-pack verify bundles/my-dags
//! airflow-rust-pack inspect bundles/my-dags
//! ```
//!
//! * [`pack`](pack::pack) runs `BINARY --airflow-metadata --format json`, checks it, embeds the
//!   metadata as YAML with every DAG id quoted, and writes the bundle atomically with mode 0755.
//!   The output depends only on the inputs, byte for byte.
//! * [`verify`](verify::verify) checks a bundle as Airflow 1.3.2 would before running it.
//! * [`read_bundle`](verify::read_bundle) and [`describe`](verify::describe) back `inspect`.

mod error;
pub mod metadata;
pub mod pack;
pub mod verify;

pub use error::Error;
