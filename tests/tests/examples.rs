//! The example stub DAGs are valid for the real Airflow, and every Rust stub task they
//! route to queue `rust` exists in the bundle that serves the DAG.

use std::process::Command;

use airflow_sdk_interop::{binary, python, repo_root};
use serde_json::Value;

#[test]
fn stub_dags_route_rust_tasks_that_the_bundles_have() {
    let Some(python) = python() else { return };
    let script = r#"
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("rust_etl", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from airflow.sdk import DAG
out = {}
for value in vars(module).values():
    if isinstance(value, DAG):
        out[value.dag_id] = {t.task_id: {"queue": t.queue, "stub": getattr(t, "is_stub", False)} for t in value.tasks}
print(json.dumps(out))
"#;
    let home = std::env::temp_dir().join("airflow-rs-examples-home");
    let out = Command::new(python)
        .args(["-c", script])
        .arg(repo_root().join("examples/dags/rust_etl.py"))
        .env("AIRFLOW_HOME", &home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dags: Value = serde_json::from_slice(&out.stdout).unwrap();
    for adapter in ["std", "tokio", "smol"] {
        let metadata = Command::new(binary(&format!("example-{adapter}-bundle")))
            .args(["--airflow-metadata", "--format", "json"])
            .output()
            .unwrap();
        let metadata: Value = serde_json::from_slice(&metadata.stdout).unwrap();
        for dag in [format!("etl_{adapter}"), format!("etl_failure_{adapter}")] {
            let tasks = dags[&dag]
                .as_object()
                .unwrap_or_else(|| panic!("{dag} missing: {dags}"));
            let rust_tasks: Vec<&String> = tasks
                .iter()
                .filter(|(_, t)| t["stub"] == true)
                .map(|(id, _)| id)
                .collect();
            assert!(!rust_tasks.is_empty());
            for id in rust_tasks {
                assert_eq!(tasks[id]["queue"], "rust");
                let served = metadata["dags"][&dag]["tasks"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{dag} not in the {adapter} bundle"));
                assert!(
                    served.iter().any(|t| t == id.as_str()),
                    "{dag}.{id} not served by the {adapter} bundle"
                );
            }
        }
    }
}
