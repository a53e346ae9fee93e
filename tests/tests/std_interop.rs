//! The std adapter's example bundle under the real `apache-airflow-task-sdk==1.3.2`
//! supervisor, one test per scenario (see `src/scenarios.rs`).

airflow_sdk_interop::interop_suite!("example-std-bundle");
