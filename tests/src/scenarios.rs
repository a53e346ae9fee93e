//! The interop scenarios, written once and run against every adapter's example bundle.
//!
//! Each example bundle has DAG `interop` with the same tasks (see `examples/*-bundle`).
//! [`interop_suite!`](crate::interop_suite) turns this module into one `#[test]` per scenario
//! for a bundle package.

use std::path::Path;

use serde_json::{json, Value};

use crate::{run_scenario, RigResult};

fn run(bundle: &Path, task_id: &str, extra: Value) -> Option<RigResult> {
    let mut scenario = json!({
        "dag_id": "interop",
        "task_id": task_id,
        "variables": {"source_path": "/data/in.csv"},
        "connections": {"warehouse": {"conn_type": "postgres", "host": "db.internal", "login": "etl", "password": "hunter2-secret", "port": 5432, "extra": "{\"sslmode\": \"require\"}"}},
    });
    if let (Some(base), Value::Object(extra)) = (scenario.as_object_mut(), extra) {
        base.extend(extra);
    }
    run_scenario(bundle, scenario)
}

fn assert_state(result: &RigResult, state: &str) {
    assert_eq!(
        result.final_state(),
        state,
        "final state\n{}",
        result.dump()
    );
}

fn ti_id_call_index(result: &RigResult, method: &str, suffix: &str) -> usize {
    result
        .calls()
        .iter()
        .position(|c| {
            c["method"] == method && c["path"].as_str().is_some_and(|p| p.ends_with(suffix))
        })
        .unwrap_or_else(|| panic!("no {method} …{suffix}\n{}", result.dump()))
}

/// Success: a variable, a connection, the return value pushed as XCom, `SucceedTask` with
/// empty outlet lists (the real Execution API refuses null ones), logs with fields.
pub fn extract(bundle: &Path) {
    let Some(r) = run(bundle, "extract", json!({})) else {
        return;
    };
    assert_state(&r, "success");
    assert_eq!(r.exit_code(), Some(0));
    assert_eq!(r.calls_to("GET", "/variables/source_path").len(), 1);
    assert_eq!(r.calls_to("GET", "/connections/warehouse").len(), 1);
    assert_eq!(
        r.xcom("extract", "return_value"),
        Some(&json!({"source": "/data/in.csv", "host": "db.internal", "rows": [3, 1, 2]})),
        "{}",
        r.dump()
    );
    let updates = r.state_updates();
    assert_eq!(updates.len(), 1, "{}", r.dump());
    assert_eq!(updates[0]["state"], "success");
    assert_eq!(updates[0]["task_outlets"], json!([]));
    assert_eq!(updates[0]["outlet_events"], json!([]));
    let line = r
        .log_line("extracting")
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert_eq!(line["level"], "info");
    assert_eq!(line["source"], "/data/in.csv");
    assert_eq!(line["host"], "db.internal");
    assert_eq!(
        line["dag_id"], "interop",
        "span fields reach the task's lines"
    );
    assert_eq!(line["task_id"], "extract");
}

/// Stale XComs listed by the server are deleted before the task runs.
pub fn clears_stale_xcoms(bundle: &Path) {
    let Some(r) = run(
        bundle,
        "extract",
        json!({"xcom_keys_to_clear": ["stale_key", "return_value"]}),
    ) else {
        return;
    };
    assert_state(&r, "success");
    let delete = ti_id_call_index(&r, "DELETE", "/extract/stale_key");
    let read = ti_id_call_index(&r, "GET", "/variables/source_path");
    assert!(delete < read, "deleted before the task ran\n{}", r.dump());
    assert_eq!(r.calls_to("DELETE", "/extract/return_value").len(), 1);
}

/// XCom pull of an upstream value and push of another key.
pub fn load(bundle: &Path) {
    let upstream = json!({"source": "s", "host": "h", "rows": [3, 1, 2]});
    let Some(r) = run(
        bundle,
        "load",
        json!({"xcoms": [{"task_id": "extract", "key": "return_value", "value": upstream}]}),
    ) else {
        return;
    };
    assert_state(&r, "success");
    assert_eq!(r.xcom("load", "row_count"), Some(&json!(3)), "{}", r.dump());
    assert_eq!(r.xcom("load", "return_value"), Some(&json!(6)));
    let line = r
        .log_line("loaded")
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert_eq!(line["total"], 6);
}

/// A failing task with no retries: `failed`, with the error chain in the log.
pub fn fail(bundle: &Path) {
    let Some(r) = run(bundle, "fail", json!({})) else {
        return;
    };
    assert_state(&r, "failed");
    assert_eq!(r.exit_code(), Some(0), "the runtime reports and exits 0");
    let line = r
        .log_line("Task failed")
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert_eq!(line["level"], "error");
    let chain = line["error_detail"]
        .as_array()
        .unwrap_or_else(|| panic!("error_detail\n{}", r.dump()));
    assert_eq!(chain[0]["exc_value"], "loading the batch failed");
    assert_eq!(chain[1]["exc_value"], "warehouse refused the connection");
    assert_eq!(chain[1]["is_cause"], true);
    assert_eq!(r.state_updates()[0]["state"], "failed");
}

/// A failing task with retries left: `up_for_retry` with the reason.
pub fn fail_with_retries_left(bundle: &Path) {
    let Some(r) = run(
        bundle,
        "fail",
        json!({"should_retry": true, "max_tries": 2}),
    ) else {
        return;
    };
    assert_state(&r, "up_for_retry");
    let update = r.state_updates()[0];
    assert_eq!(update["state"], "up_for_retry");
    assert!(
        update["retry_reason"]
            .as_str()
            .unwrap_or("")
            .contains("loading the batch failed"),
        "{}",
        r.dump()
    );
}

/// An explicit retry with a delay and reason.
pub fn retry(bundle: &Path) {
    let Some(r) = run(
        bundle,
        "retry",
        json!({"should_retry": true, "max_tries": 3}),
    ) else {
        return;
    };
    assert_state(&r, "up_for_retry");
    let update = r.state_updates()[0];
    assert_eq!(update["retry_delay_seconds"], 30.0, "{}", r.dump());
    assert_eq!(update["retry_reason"], "upstream not ready");
}

/// An explicit retry without tries left fails instead of sitting in `up_for_retry`.
pub fn retry_without_tries_left(bundle: &Path) {
    let Some(r) = run(bundle, "retry", json!({"should_retry": false})) else {
        return;
    };
    assert_state(&r, "failed");
    assert!(r.log_line("no tries left").is_some(), "{}", r.dump());
}

/// A skip.
pub fn skip(bundle: &Path) {
    let Some(r) = run(bundle, "skip", json!({})) else {
        return;
    };
    assert_state(&r, "skipped");
    assert_eq!(r.state_updates()[0]["state"], "skipped");
    assert_eq!(
        r.log_line("Task skipped").map(|l| l["reason"].clone()),
        Some(json!("nothing to do today"))
    );
}

/// A task the bundle does not have is reported `removed`.
pub fn removed(bundle: &Path) {
    let Some(r) = run(bundle, "no_such_task", json!({})) else {
        return;
    };
    assert_state(&r, "removed");
    assert!(r.log_mentions("no_such_task"), "{}", r.dump());
}

/// A panic is caught and reported as a failure with its message.
pub fn panic(bundle: &Path) {
    let Some(r) = run(bundle, "panic", json!({})) else {
        return;
    };
    assert_state(&r, "failed");
    assert_eq!(r.exit_code(), Some(0));
    let line = r
        .log_line("Task failed")
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert!(
        line.to_string().contains("kaboom: index out of range"),
        "{}",
        r.dump()
    );
}

/// Deferral to a trigger: `DeferTask` with classpath, kwargs, method and timeout.
pub fn defer(bundle: &Path) {
    let Some(r) = run(bundle, "defer", json!({})) else {
        return;
    };
    assert_state(&r, "deferred");
    let update = r.state_updates()[0];
    assert_eq!(update["state"], "deferred", "{}", r.dump());
    assert_eq!(
        update["classpath"],
        "airflow.providers.standard.triggers.temporal.DateTimeTrigger"
    );
    assert_eq!(update["next_method"], "resume_after_wait");
    assert_eq!(update["next_kwargs"]["attempt"], 1);
    assert!(
        update["trigger_kwargs"].to_string().contains("moment"),
        "{}",
        r.dump()
    );
    assert_eq!(update["trigger_timeout"], "PT1H");
}

/// Resumption after a deferral calls the handler registered for `next_method`.
pub fn resume(bundle: &Path) {
    let Some(r) = run(
        bundle,
        "defer",
        json!({"next_method": "resume_after_wait", "next_kwargs": {"event": "2030-01-01T00:00:00Z", "attempt": 1}}),
    ) else {
        return;
    };
    assert_state(&r, "success");
    assert_eq!(
        r.xcom("defer", "return_value"),
        Some(&json!("resumed via resume_after_wait")),
        "{}",
        r.dump()
    );
    assert!(r
        .log_line("resumed")
        .is_some_and(|l| l.to_string().contains("attempt")));
}

/// An Execution API error on a request reaches the task as a typed error with its status.
pub fn api_error(bundle: &Path) {
    let failures = json!([{"method": "PUT", "path": "/variables/conflicting$", "status": 409, "json": {"detail": {"reason": "conflict"}}}]);
    let Some(r) = run(bundle, "api_error", json!({"failures": failures})) else {
        return;
    };
    assert_state(&r, "failed");
    let line = r
        .log_line("the API refused the write")
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert_eq!(line["status"], 409);
}

/// A server error (500) on a request reaches the task as a typed error too.
pub fn server_error(bundle: &Path) {
    let failures = json!([{"method": "GET", "path": "/variables/source_path$", "status": 500}]);
    let Some(r) = run(bundle, "extract", json!({"failures": failures})) else {
        return;
    };
    assert_state(&r, "failed");
    let line = r
        .log_line("Task failed")
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert!(line.to_string().contains("500"), "{}", r.dump());
}

/// A missing variable is a typed "not found" the task can handle.
pub fn missing_variable(bundle: &Path) {
    let Some(r) = run(bundle, "missing_variable", json!({})) else {
        return;
    };
    assert_state(&r, "success");
    assert_eq!(
        r.xcom("missing_variable", "return_value"),
        Some(&json!("default"))
    );
    let line = r
        .log_line("variable missing")
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert!(
        line["error"].as_str().unwrap_or("").contains("not found"),
        "{}",
        r.dump()
    );
}

/// `AIRFLOW_VAR_<KEY>` wins over the API, and the value is masked in the task log.
pub fn env_variable(bundle: &Path) {
    let secret = "s3cr3t-from-env";
    let Some(r) = run(
        bundle,
        "env_variable",
        json!({"env": {"AIRFLOW_VAR_FROM_ENV": secret}}),
    ) else {
        return;
    };
    assert_state(&r, "success");
    assert!(
        r.calls_to("GET", "/variables/from_env").is_empty(),
        "the API was not asked\n{}",
        r.dump()
    );
    assert_eq!(
        r.xcom("env_variable", "return_value"),
        Some(&json!(secret.len().to_string()))
    );
    assert!(r.log_line("from the environment").is_some(), "{}", r.dump());
    assert!(
        !r.log_mentions(secret),
        "the environment secret is masked\n{}",
        r.dump()
    );
}

/// Secrets the supervisor fetched are masked in the task log, and `Debug` never shows them.
pub fn secrets_masked(bundle: &Path) {
    let Some(r) = run(bundle, "secrets", json!({})) else {
        return;
    };
    assert_state(&r, "success");
    assert!(
        !r.log_mentions("hunter2-secret"),
        "password masked\n{}",
        r.dump()
    );
    assert!(!r.log_mentions("sslmode"), "extra masked\n{}", r.dump());
    assert!(
        r.log_line("connecting with password ***").is_some(),
        "{}",
        r.dump()
    );
}

/// The default level (INFO) drops trace and debug lines, from `tracing` and from `log`.
pub fn log_levels_default(bundle: &Path) {
    let Some(r) = run(bundle, "log_levels", json!({})) else {
        return;
    };
    assert_state(&r, "success");
    for present in [
        "an info line",
        "a warning line",
        "an error line",
        "a noisy warning line",
        "an info line from the log crate",
    ] {
        assert!(r.log_line(present).is_some(), "{present}\n{}", r.dump());
    }
    for absent in [
        "a trace line",
        "a debug line",
        "a noisy debug line",
        "a debug line from the log crate",
    ] {
        assert!(r.log_line(absent).is_none(), "{absent}\n{}", r.dump());
    }
    assert_eq!(r.log_line("a warning line").unwrap()["level"], "warning");
    assert_eq!(
        r.log_line("an info line from the log crate").unwrap()["logger"],
        "example_log_target"
    );
}

/// `[logging] logging_level` and `namespace_levels` are applied by the runtime.
pub fn log_levels_configured(bundle: &Path) {
    let Some(r) = run(
        bundle,
        "log_levels",
        json!({"logging_level": "DEBUG", "namespace_levels": "noisy=ERROR, other=info"}),
    ) else {
        return;
    };
    assert_state(&r, "success");
    for present in [
        "a debug line",
        "an info line",
        "a debug line from the log crate",
    ] {
        assert!(r.log_line(present).is_some(), "{present}\n{}", r.dump());
    }
    for absent in ["a trace line", "a noisy debug line", "a noisy warning line"] {
        assert!(r.log_line(absent).is_none(), "{absent}\n{}", r.dump());
    }
}

/// User fields named like the supervisor's own keys (`msg`, `target`, `self`, ...) are
/// renamed, never dropped, and never crash the supervisor.
pub fn log_fields(bundle: &Path) {
    let Some(r) = run(bundle, "log_fields", json!({})) else {
        return;
    };
    assert_state(&r, "success");
    let line = r
        .log_line("fields that collide")
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert_eq!(line["msg_"], "user msg", "{line}");
    assert_eq!(line["target_"], "user target");
    assert_eq!(line["self_"], "user self");
    assert_eq!(line["level_"], "user level");
    assert_eq!(line["timestamp_"], 7);
    assert_eq!(line["logger_"], "user logger");
    assert_eq!(line["exception_"], "user exception");
    assert_eq!(
        (
            line["count"].clone(),
            line["ratio"].clone(),
            line["ok"].clone()
        ),
        (json!(3), json!(0.5), json!(true))
    );
    assert_eq!(line["level"], "info");
    let in_span = r
        .log_line("inside a span")
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert_eq!(in_span["batch_id"], 42);
    assert_eq!(in_span["item"], "a");
}

/// SIGTERM during a task: the task is asked to stop, an outcome is still reported, and the
/// process exits promptly.
pub fn sigterm(bundle: &Path) {
    let Some(r) = run(bundle, "wait_for_sigterm", json!({"sigterm_after": 0.5})) else {
        return;
    };
    assert_state(&r, "failed");
    assert!(r.log_line("waiting for SIGTERM").is_some(), "{}", r.dump());
    assert!(r.log_mentions("SIGTERM"), "{}", r.dump());
    let duration = r.raw["duration"].as_f64().unwrap_or(f64::MAX);
    assert!(duration < 10.0, "exits promptly, took {duration:.1} s");
}

/// A request the supervisor does not answer in time fails the task with a clear error
/// instead of hanging.
pub fn request_timeout(bundle: &Path) {
    let failures = json!([{"method": "GET", "path": "/variables/slow$", "delay": 3.0}]);
    let Some(r) = run(
        bundle,
        "slow_request",
        json!({"failures": failures, "variables": {"slow": "late"}, "env": {"AIRFLOW_RS_REQUEST_TIMEOUT": "1"}}),
    ) else {
        return;
    };
    assert_state(&r, "failed");
    let line = r
        .log_line("Task failed")
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert!(
        line.to_string()
            .contains("no answer to GetVariable from the supervisor within 1.0 s"),
        "{}",
        r.dump()
    );
}

/// A reschedule (sensor mode): `up_for_reschedule` with the date.
pub fn reschedule(bundle: &Path) {
    let Some(r) = run(bundle, "reschedule", json!({})) else {
        return;
    };
    assert_state(&r, "up_for_reschedule");
    let update = r.state_updates()[0];
    assert_eq!(update["state"], "up_for_reschedule", "{}", r.dump());
    assert_eq!(update["reschedule_date"], "2030-01-01T00:05:00Z");
}

/// Async bundles only: three variable reads in flight at once, each answer to its caller.
pub fn join_variables(bundle: &Path) {
    let Some(r) = run(
        bundle,
        "join_variables",
        json!({"variables": {"a": "first", "b": "second", "c": "third"}}),
    ) else {
        return;
    };
    assert_state(&r, "success");
    assert_eq!(
        r.xcom("join_variables", "return_value"),
        Some(&json!(["first", "second", "third"])),
        "{}",
        r.dump()
    );
    assert_eq!(
        r.calls()
            .iter()
            .filter(|c| c["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/variables/")))
            .count(),
        3
    );
}

/// Async bundles only: a plain function runs on a blocking thread and waits on the client.
pub fn blocking_task(bundle: &Path) {
    let Some(r) = run(bundle, "blocking_extract", json!({})) else {
        return;
    };
    assert_state(&r, "success");
    assert_eq!(
        r.xcom("blocking_extract", "return_value"),
        Some(&json!("/data/in.csv")),
        "{}",
        r.dump()
    );
    let line = r
        .log_line("extracting on a blocking thread")
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert_eq!(
        line["task_id"], "blocking_extract",
        "span fields follow the task onto its thread"
    );
}

/// Defines one `#[test]` per scenario for an example bundle package.
#[macro_export]
macro_rules! interop_suite {
    ($package:literal) => {
        $crate::interop_suite!(@tests $package;
            extract, clears_stale_xcoms, load, fail, fail_with_retries_left, retry,
            retry_without_tries_left, skip, removed, panic, defer, resume, api_error,
            server_error, missing_variable, env_variable, secrets_masked, log_levels_default,
            log_levels_configured, log_fields, sigterm, request_timeout, reschedule
        );
    };
    ($package:literal, async) => {
        $crate::interop_suite!($package);
        $crate::interop_suite!(@tests $package; join_variables, blocking_task);
    };
    (@tests $package:literal; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::scenarios::$name(&$crate::binary($package));
            }
        )+
    };
}
