//! End to end in a real Airflow 3.3.2 deployment: api-server, scheduler with LocalExecutor,
//! dag-processor, SQLite. Each example bundle, packed by our packer, sits in the
//! `ExecutableCoordinator`'s executables root; the example stub DAGs sit in the DAGs folder.
//! DAG runs are triggered through the REST API: the ETL runs must succeed, with a Python
//! task checking the Rust task's XCom, and the failure runs must fail with the error in the
//! task log as the UI serves it.
//!
//! One deployment serves all three adapters' bundles (their DAG ids differ), so the test
//! costs one Airflow start (about 20 s plus the runs).

use std::path::{Path, PathBuf};
use std::process::Command;

use airflow_sdk_interop::{binary, binary_named, json, python, repo_root, Value};

const ADAPTERS: [&str; 3] = ["std", "tokio", "smol"];

fn pack(package: &str, out_dir: &Path) -> PathBuf {
    let packer = binary_named("airflow-bundle-pack", "airflow-rust-pack");
    let bundle = binary(package);
    let output = out_dir.join(package);
    let status = Command::new(packer)
        .arg("pack")
        .arg(&bundle)
        .arg("--source")
        .arg(repo_root().join("examples/dags/rust_etl.py"))
        .arg("-o")
        .arg(&output)
        .status()
        .expect("the packer runs");
    assert!(status.success(), "packing {package} failed");
    output
}

fn log_text(result: &Value, key: &str) -> String {
    result["logs"][key]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[test]
fn etl_succeeds_and_failures_fail_in_a_real_deployment() {
    let Some(python) = python() else { return };
    let work = std::env::temp_dir().join(format!("airflow-rs-deployment-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let bundles: Vec<PathBuf> = ADAPTERS
        .iter()
        .map(|a| pack(&format!("example-{a}-bundle"), &work))
        .collect();
    let mut runs = Vec::new();
    let mut logs_of = Vec::new();
    let mut xcoms_of = Vec::new();
    for adapter in ADAPTERS {
        let etl = format!("etl_{adapter}");
        let failure = format!("etl_failure_{adapter}");
        runs.push(json!({"dag_id": etl, "run_id": "e2e"}));
        runs.push(json!({"dag_id": failure, "run_id": "e2e"}));
        for task in ["extract", "transform", "load"] {
            logs_of.push(json!([etl, "e2e", task]));
        }
        logs_of.push(json!([failure, "e2e", "load"]));
        xcoms_of.push(json!([etl, "e2e", "load", "return_value"]));
        xcoms_of.push(json!([etl, "e2e", "check", "return_value"]));
    }
    let result_path = work.join("result.json");
    let config = json!({
        "bundles": bundles,
        "dags": [repo_root().join("examples/dags/rust_etl.py")],
        "runs": runs,
        "variables": {"etl_batch_size": "12"},
        "connections": {
            "etl_source": {"conn_type": "http", "host": "orders.example.com", "schema": "https"},
            "etl_warehouse": {"conn_type": "postgres", "host": "wh.internal", "schema": "analytics", "login": "etl", "password": "wh-s3cret-pass", "port": 5432},
        },
        "logs_of": logs_of,
        "xcoms_of": xcoms_of,
        "result_path": result_path,
        "timeout": 300,
    });
    let mut child = Command::new(python)
        .args(["-m", "airflow_rs_rig.deploy"])
        .current_dir(repo_root().join("tests/python"))
        .env("PYTHONPATH", repo_root().join("tests/python"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("the deployment harness starts");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(config.to_string().as_bytes())
        .unwrap();
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&result_path)
        .unwrap_or_else(|e| panic!("the harness wrote no result ({e}); status {status}"));
    let result: Value = serde_json::from_str(&text).unwrap();
    let dump = serde_json::to_string_pretty(&result).unwrap();
    assert!(
        result["leftover"].as_array().is_some_and(Vec::is_empty),
        "components left running\n{dump}"
    );
    assert!(result["error"].is_null(), "the deployment failed\n{dump}");

    for adapter in ADAPTERS {
        let etl = &result["runs"][format!("etl_{adapter}")];
        assert_eq!(etl["state"], "success", "etl_{adapter}\n{dump}");
        for task in ["extract", "transform", "load", "check"] {
            assert_eq!(
                etl["tasks"][task]["state"], "success",
                "etl_{adapter}.{task}\n{dump}"
            );
        }
        assert_eq!(etl["tasks"]["load"]["queue"], "rust");
        let report = &result["xcoms"][format!("etl_{adapter}.load.return_value")];
        assert_eq!(report["rows"], 3, "{dump}");
        assert!(
            report["table"]
                .as_str()
                .is_some_and(|t| t.ends_with(".region_totals")),
            "{dump}"
        );
        // The Python task read the Rust task's XCom and returned what it checked.
        assert_eq!(
            result["xcoms"][format!("etl_{adapter}.check.return_value")],
            3,
            "{dump}"
        );
        // The Rust task's own log lines, as the UI serves them.
        let extract_log = log_text(&result, &format!("etl_{adapter}.extract.1"));
        assert!(extract_log.contains("extracted orders"), "{extract_log}");
        let load_log = log_text(&result, &format!("etl_{adapter}.load.1"));
        assert!(load_log.contains("\"loaded\""), "{load_log}");
        assert!(!load_log.contains("wh-s3cret-pass"), "{load_log}");

        let failure = &result["runs"][format!("etl_failure_{adapter}")];
        assert_eq!(failure["state"], "failed", "etl_failure_{adapter}\n{dump}");
        assert_eq!(failure["tasks"]["load"]["state"], "failed");
        let failure_log = log_text(&result, &format!("etl_failure_{adapter}.load.1"));
        assert!(
            failure_log.contains("loading public.region_totals failed"),
            "{failure_log}"
        );
        assert!(
            failure_log.contains("rejected the credentials"),
            "{failure_log}"
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
