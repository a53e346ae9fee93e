//! The command line of a bundle executable, run as a process (no Python needed).

use std::process::Command;

use airflow_sdk_interop::binary;

fn bundle() -> Command {
    Command::new(binary("example-std-bundle"))
}

#[test]
fn one_socket_alone_is_a_usage_error() {
    for args in [&["--comm=127.0.0.1:9"][..], &["--logs=127.0.0.1:9"]] {
        let out = bundle().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("required arguments were not provided"),
            "{stderr}"
        );
    }
}

#[test]
fn no_arguments_is_a_usage_error_that_says_what_to_do() {
    let out = bundle().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--comm and --logs"));
}

#[test]
fn metadata_lists_every_dag_and_task_with_the_schema_version() {
    let out = bundle()
        .args(["--airflow-metadata", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(metadata["sdk"]["supervisor_schema_version"], "2026-06-16");
    assert_eq!(metadata["sdk"]["language"], "rust");
    let tasks = metadata["dags"]["interop"]["tasks"].as_array().unwrap();
    assert!(tasks.iter().any(|t| t == "extract") && tasks.iter().any(|t| t == "wait_for_sigterm"));
    let yaml = bundle().arg("--airflow-metadata").output().unwrap();
    let yaml = String::from_utf8(yaml.stdout).unwrap();
    assert!(
        yaml.contains("  \"interop\":\n    tasks:\n      - \"extract\"\n"),
        "{yaml}"
    );
}

#[test]
fn help_and_version() {
    let help = bundle().arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--airflow-metadata") && help.contains("--comm"),
        "{help}"
    );
    let version = bundle().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        "example-std-bundle 0.1.0"
    );
}

#[test]
fn an_unreachable_supervisor_is_a_clear_failure_not_a_hang() {
    // A port nobody listens on: dialling fails at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut command = bundle();
    let started = std::time::Instant::now();
    let out = command
        .args([
            format!("--comm=127.0.0.1:{port}"),
            format!("--logs=127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot connect to the supervisor's comm socket"),
        "{stderr}"
    );
    // A bound far above the milliseconds this takes: it only catches a hang.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
