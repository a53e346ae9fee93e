//! An example bundle on the smol adapter: DAG `etl_smol` (a realistic ETL), `etl_failure_smol`,
//! and DAG `interop`, the tasks the interop suite runs
//! under the real Airflow supervisor (shared with the other async bundle).

mod prelude {
    pub use airflow_sdk_smol::prelude::*;
    pub use airflow_sdk_smol::sdk;
    pub type Handler = sdk::TaskHandler<airflow_sdk_smol::SmolRuntime>;
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
    Bundle::new("example-smol-bundle")
        .version(env!("CARGO_PKG_VERSION"))
        .dag("interop", tasks::interop)
        .dag("etl_smol", etl::etl)
        .dag("etl_failure_smol", etl::etl_failure)
        .serve()
}
