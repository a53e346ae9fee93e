//! `BUNDLE test DAG TASK`: every example bundle runs its ETL locally, with no Python and no
//! Airflow, through the in-process supervisor built on the core's supervisor session.

use std::process::{Command, Output};

use airflow_sdk_interop::binary;
use serde_json::Value;

const BUNDLES: [(&str, &str); 3] = [
    ("example-std-bundle", "std"),
    ("example-tokio-bundle", "tokio"),
    ("example-smol-bundle", "smol"),
];

fn run(package: &str, args: &[String]) -> Output {
    Command::new(binary(package))
        .arg("test")
        .args(args)
        .output()
        .unwrap()
}

fn xcom(output: &Output, key: &str) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let prefix = format!("  XCom {key} = ");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no XCom {key} in:\n{stdout}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn etl_runs_task_by_task_passing_xcoms() {
    for (package, adapter) in BUNDLES {
        let dag = format!("etl_{adapter}");
        let conns = [
            "--conn",
            "etl_source=https://orders.example.com",
            "--conn",
            "etl_warehouse=postgres://etl:s3cret-pass@wh.internal:5432/analytics",
        ]
        .map(String::from);
        let extract = run(
            package,
            &[
                &[
                    dag.clone(),
                    "extract".into(),
                    "--var".into(),
                    "etl_batch_size=9".into(),
                    "--run-id".into(),
                    "manual__local".into(),
                ][..],
                &conns,
            ]
            .concat(),
        );
        assert!(
            extract.status.success(),
            "{package} extract: {}",
            String::from_utf8_lossy(&extract.stdout)
        );
        let orders = xcom(&extract, "return_value");
        assert_eq!(orders.as_array().map(Vec::len), Some(9));

        let transform = run(
            package,
            &[
                dag.clone(),
                "transform".into(),
                "--xcom".into(),
                format!("extract={orders}"),
            ],
        );
        assert!(
            transform.status.success(),
            "{}",
            String::from_utf8_lossy(&transform.stdout)
        );
        let totals = xcom(&transform, "return_value");
        let counted: u64 = totals
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["orders"].as_u64().unwrap())
            .sum();
        assert_eq!(counted, 9);

        let load = run(
            package,
            &[
                &[
                    dag.clone(),
                    "load".into(),
                    "--xcom".into(),
                    format!("transform={totals}"),
                ][..],
                &conns,
            ]
            .concat(),
        );
        assert!(
            load.status.success(),
            "{}",
            String::from_utf8_lossy(&load.stdout)
        );
        let report = xcom(&load, "return_value");
        assert_eq!(report["table"], "analytics.region_totals");
        assert_eq!(report["rows"], totals.as_array().unwrap().len());
        assert_eq!(xcom(&load, "loaded_rows"), report["rows"]);
        let stdout = String::from_utf8_lossy(&load.stdout);
        assert!(
            stdout.contains("loaded")
                && stdout.contains("etl_std.load: success".replace("std", adapter).as_str()),
            "{stdout}"
        );
        assert!(
            !stdout.contains("s3cret-pass"),
            "the password is masked in the printed log"
        );
    }
}

#[test]
fn a_failing_task_prints_its_error_chain_and_exits_1() {
    for (package, adapter) in BUNDLES {
        let out = run(package, &[format!("etl_failure_{adapter}"), "load".into()]);
        assert_eq!(out.status.code(), Some(1), "{package}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("error LoadFailed: loading public.region_totals failed"),
            "{stdout}"
        );
        assert!(stdout.contains("caused by CredentialsRejected"), "{stdout}");
        assert!(stdout.contains(": failed"), "{stdout}");
    }
}

#[test]
fn a_missing_variable_falls_back_and_a_missing_task_is_removed() {
    let out = run(
        "example-std-bundle",
        &[
            "etl_std".into(),
            "extract".into(),
            "--conn".into(),
            "etl_source=http://h".into(),
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("etl_batch_size is not set"));
    let out = run("example-std-bundle", &["etl_std".into(), "nope".into()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed"));
}

#[test]
fn bad_local_input_is_a_clear_usage_error() {
    let out = run(
        "example-std-bundle",
        &[
            "etl_std".into(),
            "extract".into(),
            "--conn".into(),
            "etl_source=not a uri".into(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--conn etl_source"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        "example-std-bundle",
        &[
            "etl_std".into(),
            "load".into(),
            "--xcom".into(),
            "transform={oops".into(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not JSON"));
}
