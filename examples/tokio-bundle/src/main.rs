//! An example bundle on the tokio adapter: DAG `etl_tokio` (a realistic ETL), `etl_failure_tokio`,
//! and DAG `interop`, the tasks the interop suite runs
//! under the real Airflow supervisor (shared with the other async bundle).

mod prelude {
    pub use airflow_sdk_tokio::prelude::*;
    pub use airflow_sdk_tokio::sdk;
    pub type Handler = sdk::TaskHandler<airflow_sdk_tokio::TokioRuntime>;
}

#[path = "../../shared/async_etl.rs"]
mod etl;
#[path = "../../shared/etl_logic.rs"]
mod etl_logic;
#[path = "../../shared/interop_support.rs"]
mod interop_support;
#[path = "../../shared/async_tasks.rs"]
mod tasks;

use prelude::*;

fn main() -> std::process::ExitCode {
    Bundle::new("example-tokio-bundle")
        .version(env!("CARGO_PKG_VERSION"))
        .dag("interop", tasks::interop)
        .dag("etl_tokio", etl::etl)
        .dag("etl_failure_tokio", etl::etl_failure)
        .serve()
}
