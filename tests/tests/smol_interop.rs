//! The smol adapter's example bundle under the real `apache-airflow-task-sdk==1.3.2`
//! supervisor: the std suite scenario for scenario, plus the async-only ones.

airflow_sdk_interop::interop_suite!("example-smol-bundle", async);
