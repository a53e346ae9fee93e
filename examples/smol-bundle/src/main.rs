//! An example bundle on the smol adapter: DAG `interop`, the tasks the interop suite runs
//! under the real Airflow supervisor (shared with the other async bundle).

mod prelude {
    pub use airflow_sdk_smol::prelude::*;
    pub use airflow_sdk_smol::sdk;
    pub type Handler = sdk::TaskHandler<airflow_sdk_smol::SmolRuntime>;
}

#[path = "../../shared/async_tasks.rs"]
mod tasks;

use prelude::*;

fn main() -> std::process::ExitCode {
    Bundle::new("example-smol-bundle")
        .version(env!("CARGO_PKG_VERSION"))
        .dag("interop", tasks::interop)
        .serve()
}
