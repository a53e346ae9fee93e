//! This crate's request encoder against the real `apache-airflow-task-sdk==1.3.2` supervisor.
//!
//! A broad corpus of requests (every `ToSupervisor` type, minimal and all-fields-set, plus
//! edge values: empty and non-ASCII strings, negative map indexes, 64-bit integers, nested and
//! large JSON, timestamps before 1970 and with nanoseconds, sub-second and long durations) is
//! encoded with [`frame::encode_request`] into a folder, with a `.json` of what each frame
//! means, and `tests/python/validate_requests.py` feeds every frame through the supervisor's own
//! reader, schema migrator and validator. A refused frame (which the supervisor would never
//! answer) or a value the supervisor reads differently fails the test with the validator's report.
//!
//! The Python side comes from `scripts/python-env` (a pinned venv). When it cannot be set up
//! the tests fail, unless `AIRFLOW_RS_ALLOW_NO_PYTHON=1` is set, in which case they print a
//! warning and pass without checking anything.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use airflow_protocol::frame::{self, ContextCarrier};
use airflow_protocol::messages::*;
use airflow_protocol::{JsonMap, JsonValue, Timestamp, Uuid};
use serde_json::json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("protocol-core sits in the workspace")
        .to_path_buf()
}

/// The pinned venv's python, set up once per test binary. `None` only when
/// `AIRFLOW_RS_ALLOW_NO_PYTHON=1` lets the caller skip; otherwise a failure panics.
fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let script = root().join("scripts/python-env");
        let output = Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|e| format!("cannot run bash {}: {e}", script.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let path = stdout.lines().rev().find(|l| !l.trim().is_empty());
        match path {
            Some(path) if output.status.success() && Path::new(path.trim()).exists() => {
                Ok(PathBuf::from(path.trim()))
            }
            _ => Err(format!(
                "{} exited with {}\nstdout: {stdout}\nstderr: {}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )),
        }
    });
    match found {
        Ok(path) => Some(path.clone()),
        Err(why) if std::env::var("AIRFLOW_RS_ALLOW_NO_PYTHON").as_deref() == Ok("1") => {
            // Written to the real stderr, not through `eprintln!`, which the test harness
            // captures and hides for passing tests: a skip must never go unnoticed.
            let warning = format!(
                "\n{bar}\nWARNING: the Python interop checks were SKIPPED (AIRFLOW_RS_ALLOW_NO_PYTHON=1).\n\
                 Nothing was checked against the real supervisor. Reason:\n{why}\n{bar}\n",
                bar = "!".repeat(78)
            );
            let _ = std::io::stderr().write_all(warning.as_bytes());
            None
        }
        Err(why) => panic!(
            "\n{bar}\nThe Python interop test cannot run: the pinned venv with \
             apache-airflow-task-sdk==1.3.2 could not be set up.\n{why}\n\
             Install Python 3.10-3.12 (and network access to PyPI for the first run), or set \
             AIRFLOW_RS_ALLOW_NO_PYTHON=1 to skip these checks explicitly.\n{bar}",
            bar = "=".repeat(78)
        ),
    }
}

/// Runs a script of `tests/python` with the venv's python; returns (success, stdout, stderr).
fn run_script(python: &Path, script: &str, args: &[&Path]) -> (bool, String, String) {
    let output = Command::new(python)
        .arg(root().join("tests/python").join(script))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

fn ts(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn uuid(text: &str) -> Uuid {
    Uuid::parse(text).unwrap()
}

fn map(value: JsonValue) -> JsonMap {
    match value {
        JsonValue::Object(map) => map,
        other => panic!("not a map: {other}"),
    }
}

fn s(text: &str) -> Text {
    text.into()
}

const TI: &str = "01931b2c-0000-7000-8000-000000000001";
const DAG: &str = "orders_daily";
const RUN: &str = "scheduled__2025-01-01T00:00:00+00:00";
const UNICODE: &str = "zürich → 東京 🚀 \u{0} tab\t";

fn nested_json() -> JsonValue {
    let mut deep = json!("bottom");
    for level in 0..40 {
        deep = if level % 2 == 0 {
            json!([deep])
        } else {
            json!({ "level": deep })
        };
    }
    let wide: JsonMap = (0..20).map(|i| (format!("k{i:02}"), json!(i))).collect();
    json!({
        "ints": [0, -1, 127, 128, 255, 256, -32, -33, -129, 65_536, i64::MIN, i64::MAX, u64::MAX],
        "floats": [0.1, -0.0, 1e308, 5e-324, -2.5, 1.0],
        "strings": ["", UNICODE, "x".repeat(40), "y".repeat(300)],
        "bools": [true, false],
        "null": null,
        "": "empty key",
        "ключ": {"🚀": "unicode keys"},
        "deep": deep,
        "wide": wide,
        "looks_like_a_date": "2025-01-01T00:00:00Z",
    })
}

/// One request to encode: a file name, the body, an optional trace carrier and an id.
struct Case {
    name: String,
    body: ToSupervisor,
    carrier: Option<ContextCarrier>,
    id: u64,
}

fn corpus() -> Vec<Case> {
    let t32 = ts("2025-01-01T00:00:00Z");
    let t_nanos = ts("2025-01-01T00:00:05.123456789Z");
    let pre_1970 = ts("1969-07-20T20:17:40.25Z");
    let pre_1970_nanos = ts("1969-12-31T23:59:59.999999999Z");
    let earliest = ts("0001-01-01T00:00:00Z");
    let latest = ts("9999-12-31T23:59:59.999999999Z");
    let offset = ts("2025-06-01T14:00:00.5+02:00");
    let ti = uuid(TI);
    let xcom = |key: &str, map_index: Option<i64>| SetXCom {
        key: s(key),
        value: JsonValue::Null,
        dag_id: s(DAG),
        run_id: s(RUN),
        task_id: s("extract"),
        map_index,
        dag_result: false,
        mapped_length: None,
    };

    let cases: Vec<(&str, ToSupervisor)> = vec![
        // Terminal messages.
        (
            "SucceedTask_minimal",
            SucceedTask {
                end_date: t32,
                task_outlets: vec![],
                outlet_events: vec![],
                rendered_map_index: None,
            }
            .into(),
        ),
        (
            "SucceedTask_full",
            SucceedTask {
                end_date: t_nanos,
                task_outlets: vec![
                    AssetProfile {
                        name: Some(s("orders")),
                        uri: Some(s("s3://warehouse/orders")),
                        profile_type: s("Asset"),
                    },
                    AssetProfile {
                        name: Some(s("orders_alias")),
                        uri: None,
                        profile_type: s("AssetAlias"),
                    },
                    AssetProfile {
                        name: None,
                        uri: Some(s("s3://x")),
                        profile_type: s("AssetUriRef"),
                    },
                ],
                outlet_events: vec![map(json!({
                    "dest_asset_key": {"name": "orders", "uri": "s3://warehouse/orders"},
                    "extra": {"rows": 1200, "nested": nested_json()},
                }))],
                rendered_map_index: Some(s(UNICODE)),
            }
            .into(),
        ),
        (
            "SucceedTask_pre_1970",
            SucceedTask {
                end_date: pre_1970_nanos,
                task_outlets: vec![],
                outlet_events: vec![],
                rendered_map_index: Some(s("")),
            }
            .into(),
        ),
        (
            "RetryTask_minimal",
            RetryTask {
                end_date: t32,
                rendered_map_index: None,
                retry_delay_seconds: None,
                retry_reason: None,
            }
            .into(),
        ),
        (
            "RetryTask_full",
            RetryTask {
                end_date: offset,
                rendered_map_index: Some(s("eu")),
                retry_delay_seconds: Some(30.5),
                retry_reason: Some("r".repeat(600).into()),
            }
            .into(),
        ),
        (
            "RetryTask_zero_delay",
            RetryTask {
                end_date: pre_1970,
                rendered_map_index: Some(s("")),
                retry_delay_seconds: Some(0.0),
                retry_reason: Some(s("")),
            }
            .into(),
        ),
        (
            "TaskState_minimal",
            TaskState {
                state: TerminalState::Failed,
                end_date: None,
                rendered_map_index: None,
            }
            .into(),
        ),
        (
            "TaskState_skipped_full",
            TaskState {
                state: TerminalState::Skipped,
                end_date: Some(t_nanos),
                rendered_map_index: Some(s(UNICODE)),
            }
            .into(),
        ),
        (
            "TaskState_removed",
            TaskState {
                state: TerminalState::Removed,
                end_date: Some(earliest),
                rendered_map_index: None,
            }
            .into(),
        ),
        (
            "DeferTask_minimal",
            DeferTask {
                classpath: s("my.Trigger"),
                trigger_kwargs: None,
                trigger_timeout: None,
                queue: None,
                next_method: s("execute_complete"),
                next_kwargs: None,
                rendered_map_index: None,
            }
            .into(),
        ),
        (
            "DeferTask_full",
            DeferTask {
                classpath: s("airflow.providers.standard.triggers.temporal.DateTimeTrigger"),
                trigger_kwargs: Some(
                    json!({"moment": "2025-01-01T01:00:00+00:00", "end_from_trigger": false, "n": nested_json()}),
                ),
                trigger_timeout: Some(Duration::from_secs(90)),
                queue: Some(s("triggers")),
                next_method: s("execute_complete"),
                next_kwargs: Some(map(json!({"attempt": 2, "event": null}))),
                rendered_map_index: Some(s("batch 7")),
            }
            .into(),
        ),
        (
            "DeferTask_text_kwargs_subsecond",
            DeferTask {
                classpath: s("my.Trigger"),
                trigger_kwargs: Some(json!("{\"__type\": \"dict\", \"__var\": {}}")),
                trigger_timeout: Some(Duration::from_millis(1500)),
                queue: None,
                next_method: s("done"),
                next_kwargs: Some(JsonMap::new()),
                rendered_map_index: None,
            }
            .into(),
        ),
        (
            "DeferTask_long_timeout",
            DeferTask {
                classpath: s("my.Trigger"),
                trigger_kwargs: Some(json!({})),
                trigger_timeout: Some(Duration::from_secs(10 * 365 * 86_400)),
                queue: Some(s("")),
                next_method: s("done"),
                next_kwargs: None,
                rendered_map_index: None,
            }
            .into(),
        ),
        (
            "DeferTask_zero_timeout",
            DeferTask {
                classpath: s("my.Trigger"),
                trigger_kwargs: None,
                trigger_timeout: Some(Duration::ZERO),
                queue: None,
                next_method: s("done"),
                next_kwargs: None,
                rendered_map_index: None,
            }
            .into(),
        ),
        (
            "RescheduleTask",
            RescheduleTask {
                reschedule_date: latest,
                end_date: t_nanos,
            }
            .into(),
        ),
        (
            "RescheduleTask_pre_1970",
            RescheduleTask {
                reschedule_date: pre_1970,
                end_date: earliest,
            }
            .into(),
        ),
        (
            "AwaitInputTask_minimal",
            AwaitInputTask {
                timeout: None,
                next_method: s("resume"),
                next_kwargs: None,
                rendered_map_index: None,
            }
            .into(),
        ),
        (
            "AwaitInputTask_full",
            AwaitInputTask {
                timeout: Some(Duration::new(7201, 500_000_000)),
                next_method: s("resume"),
                next_kwargs: Some(map(json!({"question": UNICODE, "n": u64::MAX}))),
                rendered_map_index: Some(s("eu")),
            }
            .into(),
        ),
        (
            "SkipDownstreamTasks_empty",
            SkipDownstreamTasks { tasks: vec![] }.into(),
        ),
        (
            "SkipDownstreamTasks_full",
            SkipDownstreamTasks {
                tasks: vec![
                    SkipTarget::Task(s("report")),
                    SkipTarget::Mapped(s("load"), 2),
                    SkipTarget::Mapped(s("load"), -1),
                    SkipTarget::Mapped(s(UNICODE), i64::MAX),
                    SkipTarget::Task(s("")),
                ],
            }
            .into(),
        ),
        // Connections and variables.
        (
            "GetConnection",
            GetConnection {
                conn_id: s("warehouse_db"),
            }
            .into(),
        ),
        (
            "GetConnection_empty",
            GetConnection { conn_id: s("") }.into(),
        ),
        ("GetVariable", GetVariable { key: s(UNICODE) }.into()),
        (
            "GetVariable_long_key",
            GetVariable {
                key: "k".repeat(70_000).into(),
            }
            .into(),
        ),
        (
            "GetVariableKeys_minimal",
            GetVariableKeys {
                prefix: None,
                limit: 1000,
                offset: 0,
            }
            .into(),
        ),
        (
            "GetVariableKeys_full",
            GetVariableKeys {
                prefix: Some(s("etl_")),
                limit: i64::MAX,
                offset: 100,
            }
            .into(),
        ),
        (
            "PutVariable_minimal",
            PutVariable {
                key: s("gone"),
                value: None,
                description: None,
            }
            .into(),
        ),
        (
            "PutVariable_full",
            PutVariable {
                key: s(UNICODE),
                value: Some(s("{\"json\": \"text\"}")),
                description: Some(s("")),
            }
            .into(),
        ),
        (
            "DeleteVariable",
            DeleteVariable {
                key: s("etl_limit"),
            }
            .into(),
        ),
        // XComs.
        (
            "GetXCom_minimal",
            GetXCom {
                key: s("return_value"),
                dag_id: s(DAG),
                run_id: s(RUN),
                task_id: s("extract"),
                map_index: None,
                include_prior_dates: false,
            }
            .into(),
        ),
        (
            "GetXCom_full",
            GetXCom {
                key: s(UNICODE),
                dag_id: s(DAG),
                run_id: s(RUN),
                task_id: s("extract"),
                map_index: Some(i64::MIN),
                include_prior_dates: true,
            }
            .into(),
        ),
        (
            "GetXComCount",
            GetXComCount {
                key: s("return_value"),
                dag_id: s(DAG),
                run_id: s(RUN),
                task_id: s("extract"),
            }
            .into(),
        ),
        (
            "GetXComSequenceItem",
            GetXComSequenceItem {
                key: s("return_value"),
                dag_id: s(DAG),
                run_id: s(RUN),
                task_id: s("extract"),
                offset: -1,
            }
            .into(),
        ),
        (
            "GetXComSequenceSlice_minimal",
            GetXComSequenceSlice {
                key: s("return_value"),
                dag_id: s(DAG),
                run_id: s(RUN),
                task_id: s("extract"),
                start: None,
                stop: None,
                step: None,
                include_prior_dates: false,
            }
            .into(),
        ),
        (
            "GetXComSequenceSlice_full",
            GetXComSequenceSlice {
                key: s("return_value"),
                dag_id: s(DAG),
                run_id: s(RUN),
                task_id: s("extract"),
                start: Some(-3),
                stop: Some(i64::MAX),
                step: Some(2),
                include_prior_dates: true,
            }
            .into(),
        ),
        ("SetXCom_minimal", xcom("return_value", None).into()),
        (
            "SetXCom_full",
            SetXCom {
                value: nested_json(),
                map_index: Some(3),
                dag_result: true,
                mapped_length: Some(i64::MAX),
                ..xcom(UNICODE, None)
            }
            .into(),
        ),
        (
            "SetXCom_negative_map_index",
            SetXCom {
                value: json!(u64::MAX),
                ..xcom("return_value", Some(-1))
            }
            .into(),
        ),
        (
            "SetXCom_scalars",
            SetXCom {
                value: json!(-0.0),
                ..xcom("", Some(0))
            }
            .into(),
        ),
        (
            "SetXCom_string",
            SetXCom {
                value: json!(UNICODE),
                ..xcom("s", Some(i64::MIN))
            }
            .into(),
        ),
        (
            "SetXCom_large_array",
            SetXCom {
                value: JsonValue::Array((0..70_000).map(|i| json!(i)).collect()),
                ..xcom("big", None)
            }
            .into(),
        ),
        (
            "DeleteXCom_minimal",
            DeleteXCom {
                key: s("return_value"),
                dag_id: s(DAG),
                run_id: s(RUN),
                task_id: s("extract"),
                map_index: None,
            }
            .into(),
        ),
        (
            "DeleteXCom_full",
            DeleteXCom {
                key: s("return_value"),
                dag_id: s(DAG),
                run_id: s(RUN),
                task_id: s("extract"),
                map_index: Some(-1),
            }
            .into(),
        ),
        (
            "SetRenderedFields_empty",
            SetRenderedFields {
                rendered_fields: JsonMap::new(),
            }
            .into(),
        ),
        (
            "SetRenderedFields_full",
            SetRenderedFields {
                rendered_fields: map(json!({
                    "sql": "SELECT 1",
                    "params": nested_json(),
                    "none": null,
                    "": "",
                })),
            }
            .into(),
        ),
        (
            "SetRenderedMapIndex",
            SetRenderedMapIndex {
                rendered_map_index: s(UNICODE),
            }
            .into(),
        ),
        (
            "SetRenderedMapIndex_empty",
            SetRenderedMapIndex {
                rendered_map_index: s(""),
            }
            .into(),
        ),
        (
            "MaskSecret_minimal",
            MaskSecret {
                value: json!("hunter2"),
                name: None,
            }
            .into(),
        ),
        (
            "MaskSecret_full",
            MaskSecret {
                value: json!({"password": "hunter2", "tokens": ["a", "b"], "n": nested_json()}),
                name: Some(s(UNICODE)),
            }
            .into(),
        ),
        (
            "MaskSecret_null",
            MaskSecret {
                value: JsonValue::Null,
                name: Some(s("")),
            }
            .into(),
        ),
        // DAG runs and task instances.
        (
            "TriggerDagRun_minimal",
            TriggerDagRun {
                dag_id: s("report"),
                run_id: s("triggered__1"),
                logical_date: None,
                run_after: None,
                conf: None,
                reset_dag_run: false,
                partition_key: None,
                note: None,
            }
            .into(),
        ),
        (
            "TriggerDagRun_full",
            TriggerDagRun {
                dag_id: s("report"),
                run_id: s(UNICODE),
                logical_date: Some(pre_1970_nanos),
                run_after: Some(latest),
                conf: Some(map(json!({"source": DAG, "n": nested_json()}))),
                reset_dag_run: true,
                partition_key: Some(s("eu")),
                note: Some(s("")),
            }
            .into(),
        ),
        (
            "GetDagRun",
            GetDagRun {
                dag_id: s(DAG),
                run_id: s(RUN),
            }
            .into(),
        ),
        (
            "GetDagRunState",
            GetDagRunState {
                dag_id: s(""),
                run_id: s(UNICODE),
            }
            .into(),
        ),
        (
            "GetDRCount_minimal",
            GetDRCount {
                dag_id: s(DAG),
                logical_dates: None,
                run_ids: None,
                states: None,
            }
            .into(),
        ),
        (
            "GetDRCount_full",
            GetDRCount {
                dag_id: s(DAG),
                logical_dates: Some(vec![t32, t_nanos, pre_1970, earliest, latest, offset]),
                run_ids: Some(vec![s(RUN), s("")]),
                states: Some(DagRunState::ALL.to_vec()),
            }
            .into(),
        ),
        (
            "GetDRCount_empty_lists",
            GetDRCount {
                dag_id: s(DAG),
                logical_dates: Some(vec![]),
                run_ids: Some(vec![]),
                states: Some(vec![]),
            }
            .into(),
        ),
        (
            "GetPreviousDagRun_minimal",
            GetPreviousDagRun {
                dag_id: s(DAG),
                logical_date: pre_1970,
                state: None,
            }
            .into(),
        ),
        (
            "GetPreviousDagRun_full",
            GetPreviousDagRun {
                dag_id: s(DAG),
                logical_date: t_nanos,
                state: Some(DagRunState::Success),
            }
            .into(),
        ),
        (
            "GetPrevSuccessfulDagRun",
            GetPrevSuccessfulDagRun { ti_id: ti }.into(),
        ),
        (
            "GetPrevSuccessfulDagRun_nil_uuid",
            GetPrevSuccessfulDagRun { ti_id: Uuid::NIL }.into(),
        ),
        (
            "GetPreviousTI_minimal",
            GetPreviousTI {
                dag_id: s(DAG),
                task_id: s("extract"),
                logical_date: None,
                map_index: -1,
                state: None,
            }
            .into(),
        ),
        (
            "GetTICount_minimal",
            GetTICount {
                dag_id: s(DAG),
                map_index: None,
                task_ids: None,
                task_group_id: None,
                logical_dates: None,
                run_ids: None,
                states: None,
            }
            .into(),
        ),
        (
            "GetTICount_full",
            GetTICount {
                dag_id: s(DAG),
                map_index: Some(-1),
                task_ids: Some(vec![s("a"), s(UNICODE)]),
                task_group_id: Some(s("grp")),
                logical_dates: Some(vec![pre_1970_nanos, t32]),
                run_ids: Some(vec![s(RUN)]),
                states: Some(TaskInstanceState::ALL.to_vec()),
            }
            .into(),
        ),
        (
            "GetTaskStates_minimal",
            GetTaskStates {
                dag_id: s(DAG),
                map_index: None,
                task_ids: None,
                task_group_id: None,
                logical_dates: None,
                run_ids: None,
            }
            .into(),
        ),
        (
            "GetTaskStates_full",
            GetTaskStates {
                dag_id: s(DAG),
                map_index: Some(i64::MAX),
                task_ids: Some(vec![s("a")]),
                task_group_id: Some(s("")),
                logical_dates: Some(vec![offset]),
                run_ids: Some(vec![s(RUN), s("manual__1")]),
            }
            .into(),
        ),
        (
            "GetTaskBreadcrumbs",
            GetTaskBreadcrumbs {
                dag_id: s(DAG),
                run_id: s(RUN),
            }
            .into(),
        ),
        (
            "GetTaskRescheduleStartDate",
            GetTaskRescheduleStartDate {
                ti_id: ti,
                try_number: 1,
            }
            .into(),
        ),
        (
            "GetTaskRescheduleStartDate_big",
            GetTaskRescheduleStartDate {
                ti_id: ti,
                try_number: i64::MAX,
            }
            .into(),
        ),
        ("GetDag", GetDag { dag_id: s(UNICODE) }.into()),
        // Assets.
        (
            "GetAssetByName",
            GetAssetByName { name: s("orders") }.into(),
        ),
        (
            "GetAssetByUri",
            GetAssetByUri {
                uri: s("s3://warehouse/orders?x=1#frag"),
            }
            .into(),
        ),
        (
            "GetAssetsByAlias",
            GetAssetsByAlias {
                alias_name: s(UNICODE),
            }
            .into(),
        ),
        (
            "GetAssetEventByAsset_minimal",
            GetAssetEventByAsset {
                name: Some(s("orders")),
                uri: None,
                after: None,
                before: None,
                limit: None,
                ascending: true,
            }
            .into(),
        ),
        (
            "GetAssetEventByAsset_full",
            GetAssetEventByAsset {
                name: Some(s("orders")),
                uri: Some(s("s3://warehouse/orders")),
                after: Some(pre_1970_nanos),
                before: Some(latest),
                limit: Some(i64::MAX),
                ascending: false,
            }
            .into(),
        ),
        (
            "GetAssetEventByAsset_neither",
            GetAssetEventByAsset {
                name: None,
                uri: None,
                after: None,
                before: None,
                limit: Some(0),
                ascending: true,
            }
            .into(),
        ),
        (
            "GetAssetEventByAssetAlias_minimal",
            GetAssetEventByAssetAlias {
                alias_name: s("orders_alias"),
                after: None,
                before: None,
                limit: None,
                ascending: true,
            }
            .into(),
        ),
        (
            "GetAssetEventByAssetAlias_full",
            GetAssetEventByAssetAlias {
                alias_name: s("orders_alias"),
                after: Some(earliest),
                before: Some(t_nanos),
                limit: Some(-1),
                ascending: false,
            }
            .into(),
        ),
        (
            "ValidateInletsAndOutlets",
            ValidateInletsAndOutlets { ti_id: ti }.into(),
        ),
        // State stores.
        (
            "GetTaskStateStore",
            GetTaskStateStore {
                ti_id: ti,
                key: s("cursor"),
            }
            .into(),
        ),
        (
            "SetTaskStateStore_minimal",
            SetTaskStateStore {
                ti_id: ti,
                key: s("cursor"),
                value: JsonValue::Null,
                expires_at: None,
            }
            .into(),
        ),
        (
            "SetTaskStateStore_full",
            SetTaskStateStore {
                ti_id: ti,
                key: s(UNICODE),
                value: nested_json(),
                expires_at: Some(t_nanos),
            }
            .into(),
        ),
        (
            "DeleteTaskStateStore",
            DeleteTaskStateStore {
                ti_id: ti,
                key: s(""),
            }
            .into(),
        ),
        (
            "ClearTaskStateStore",
            ClearTaskStateStore { ti_id: ti }.into(),
        ),
        (
            "GetAssetStateStoreByName",
            GetAssetStateStoreByName {
                name: s("orders"),
                key: s("watermark"),
            }
            .into(),
        ),
        (
            "GetAssetStateStoreByUri",
            GetAssetStateStoreByUri {
                uri: s("s3://warehouse/orders"),
                key: s("watermark"),
            }
            .into(),
        ),
        (
            "SetAssetStateStoreByName",
            SetAssetStateStoreByName {
                name: s("orders"),
                key: s("watermark"),
                value: nested_json(),
            }
            .into(),
        ),
        (
            "SetAssetStateStoreByUri",
            SetAssetStateStoreByUri {
                uri: s("s3://warehouse/orders"),
                key: s("watermark"),
                value: json!([1, "two", null]),
            }
            .into(),
        ),
        (
            "DeleteAssetStateStoreByName",
            DeleteAssetStateStoreByName {
                name: s("orders"),
                key: s("watermark"),
            }
            .into(),
        ),
        (
            "DeleteAssetStateStoreByUri",
            DeleteAssetStateStoreByUri {
                uri: s("s3://warehouse/orders"),
                key: s("watermark"),
            }
            .into(),
        ),
        (
            "ClearAssetStateStoreByName",
            ClearAssetStateStoreByName { name: s(UNICODE) }.into(),
        ),
        (
            "ClearAssetStateStoreByUri",
            ClearAssetStateStoreByUri {
                uri: s("s3://warehouse/orders"),
            }
            .into(),
        ),
        // Human in the loop.
        (
            "CreateHITLDetailPayload_minimal",
            CreateHITLDetailPayload {
                ti_id: ti,
                options: vec![s("yes")],
                subject: s("Release?"),
                body: None,
                defaults: None,
                multiple: false,
                params: None,
                assigned_users: None,
            }
            .into(),
        ),
        (
            "CreateHITLDetailPayload_full",
            CreateHITLDetailPayload {
                ti_id: ti,
                options: vec![s("approve"), s("reject"), s(UNICODE)],
                subject: s(""),
                body: Some(s("Check the **numbers**")),
                defaults: Some(vec![]),
                multiple: true,
                params: Some(map(json!({"threshold": 0.5, "n": nested_json()}))),
                assigned_users: Some(vec![HITLUser {
                    id: s("u-1"),
                    name: s(UNICODE),
                }]),
            }
            .into(),
        ),
        (
            "UpdateHITLDetail_minimal",
            UpdateHITLDetail {
                ti_id: ti,
                chosen_options: vec![s("approve")],
                params_input: None,
            }
            .into(),
        ),
        (
            "UpdateHITLDetail_full",
            UpdateHITLDetail {
                ti_id: ti,
                chosen_options: vec![s("approve"), s("")],
                params_input: Some(map(json!({"threshold": 0.7}))),
            }
            .into(),
        ),
        (
            "GetHITLDetailResponse",
            GetHITLDetailResponse { ti_id: ti }.into(),
        ),
        ("ResendLoggingFD", ResendLoggingFD {}.into()),
    ];
    let mut out: Vec<Case> = cases
        .into_iter()
        .map(|(name, body)| Case {
            name: name.to_owned(),
            body,
            carrier: None,
            id: 0,
        })
        .collect();
    // Every state a previous task instance may be asked for.
    for state in TaskInstanceState::ALL {
        out.push(Case {
            name: format!("GetPreviousTI_{}", state.as_str()),
            body: GetPreviousTI {
                dag_id: s(DAG),
                task_id: s("extract"),
                logical_date: Some(t_nanos),
                map_index: 5,
                state: Some(state.clone()),
            }
            .into(),
            carrier: None,
            id: 0,
        });
    }
    for (index, case) in out.iter_mut().enumerate() {
        case.id = index as u64 + 1;
    }
    // A traced request (three-element frame) and ids at the edges of the range.
    out.push(Case {
        name: "GetVariable_traced".to_owned(),
        body: GetVariable { key: s("region") }.into(),
        carrier: Some(
            [
                (
                    "traceparent".to_owned(),
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
                ),
                ("tracestate".to_owned(), "airflow=rust,other=ü".to_owned()),
            ]
            .into(),
        ),
        id: 1_000,
    });
    out.push(Case {
        name: "GetVariable_empty_carrier".to_owned(),
        body: GetVariable { key: s("region") }.into(),
        carrier: Some(ContextCarrier::new()),
        id: 1_001,
    });
    out.push(Case {
        name: "GetVariable_id_0".to_owned(),
        body: GetVariable { key: s("region") }.into(),
        carrier: None,
        id: 0,
    });
    out.push(Case {
        name: "GetVariable_id_max".to_owned(),
        body: GetVariable { key: s("region") }.into(),
        carrier: None,
        id: i64::MAX as u64,
    });
    out
}

/// Requests the types allow but [`ToSupervisor::validate`] refuses because the supervisor
/// would refuse them too (and never answer).
fn refused_by_both() -> Vec<Case> {
    let ti = uuid(TI);
    let cases: Vec<(&str, ToSupervisor)> = vec![
        (
            "CreateHITLDetailPayload_no_options",
            CreateHITLDetailPayload {
                ti_id: ti,
                options: vec![],
                subject: s("Release?"),
                body: None,
                defaults: None,
                multiple: false,
                params: None,
                assigned_users: None,
            }
            .into(),
        ),
        (
            "UpdateHITLDetail_no_choice",
            UpdateHITLDetail {
                ti_id: ti,
                chosen_options: vec![],
                params_input: None,
            }
            .into(),
        ),
        (
            "DeferTask_list_kwargs",
            DeferTask {
                classpath: s("my.Trigger"),
                trigger_kwargs: Some(json!([1, 2])),
                trigger_timeout: None,
                queue: None,
                next_method: s("done"),
                next_kwargs: None,
                rendered_map_index: None,
            }
            .into(),
        ),
        (
            "GetPreviousTI_unknown_state",
            GetPreviousTI {
                dag_id: s(DAG),
                task_id: s("extract"),
                logical_date: None,
                map_index: -1,
                state: Some(TaskInstanceState::from_wire("succeeded")),
            }
            .into(),
        ),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(index, (name, body))| Case {
            name: name.to_owned(),
            body,
            carrier: None,
            id: index as u64 + 1,
        })
        .collect()
}

/// Encodes the corpus into a fresh folder: `<name>.bin` frames and `<name>.json` meanings.
fn dump(cases: &[Case], dir: &Path) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    let mut out = Vec::new();
    for case in cases {
        out.clear();
        frame::encode_request(
            &mut out,
            case.id,
            &case.body,
            case.carrier.as_ref(),
            frame::DEFAULT_MAX_FRAME_LEN,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        std::fs::write(dir.join(format!("{}.bin", case.name)), &out).unwrap();
        let meaning = json!({
            "id": case.id,
            "body": serde_json::to_value(&case.body).unwrap(),
            "context_carrier": case.carrier,
        });
        std::fs::write(
            dir.join(format!("{}.json", case.name)),
            serde_json::to_vec_pretty(&meaning).unwrap(),
        )
        .unwrap();
    }
}

#[test]
fn the_corpus_covers_every_request_type_and_passes_our_own_checks() {
    let cases = corpus();
    let names: BTreeSet<&str> = cases.iter().map(|c| c.body.type_name()).collect();
    let all: BTreeSet<&str> = ToSupervisor::TYPE_NAMES.iter().copied().collect();
    assert_eq!(
        all.difference(&names).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "request types with no case"
    );
    assert!(
        Timestamp::parse_rfc3339("0000-01-01T00:00:00Z").is_err(),
        "year 0000 cannot be written: the supervisor refuses it"
    );
    let unique: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(unique.len(), cases.len(), "case names are unique");
    for case in &cases {
        let checked = case.body.validate();
        if matches!(case.body, ToSupervisor::ResendLoggingFD(_)) {
            assert!(checked.is_err(), "ResendLoggingFD is refused over TCP");
        } else {
            assert_eq!(checked, Ok(()), "{}", case.name);
        }
    }
}

#[test]
fn the_real_supervisor_accepts_every_request_we_encode_unchanged() {
    let Some(python) = python() else { return };
    let cases = corpus();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-validation/requests");
    dump(&cases, &dir);
    let started = Instant::now();
    let (ok, stdout, stderr) = run_script(&python, "validate_requests.py", &[&dir]);
    eprintln!(
        "validate_requests.py took {:.1} s for {} frames in {}",
        started.elapsed().as_secs_f64(),
        cases.len(),
        dir.display()
    );
    assert!(
        ok,
        "the real 1.3.2 supervisor refused or changed requests encoded by frame::encode_request \
         (frames kept in {}):\n{stdout}\n{stderr}",
        dir.display()
    );
    let summary = format!(
        "checked {n} frames: {n} accepted unchanged, 0 failed",
        n = cases.len()
    );
    assert!(
        stdout.contains(&summary),
        "the validator did not check every frame (wanted {summary:?}):\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("self-test ok"),
        "the validator's self-test did not run:\n{stdout}"
    );
}

#[test]
fn what_our_validate_refuses_the_real_supervisor_refuses_too() {
    let cases = refused_by_both();
    for case in &cases {
        assert!(
            case.body.validate().is_err(),
            "{}: validate() lets it through",
            case.name
        );
    }
    let Some(python) = python() else { return };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-validation/refused");
    dump(&cases, &dir);
    let (ok, stdout, stderr) = run_script(&python, "validate_requests.py", &[&dir]);
    assert!(
        !ok,
        "the supervisor accepted all of them:\n{stdout}\n{stderr}"
    );
    for case in &cases {
        assert!(
            stdout.contains(&format!(
                "REFUSED {}.bin: Unable to decode message",
                case.name
            )),
            "{} was not refused by the supervisor's validation:\n{stdout}\n{stderr}",
            case.name
        );
    }
    let summary = format!(
        "checked {n} frames: 0 accepted unchanged, {n} failed",
        n = cases.len()
    );
    assert!(stdout.contains(&summary), "wanted {summary:?}:\n{stdout}");
}

#[test]
fn checked_in_vectors_are_what_the_generator_writes() {
    let Some(python) = python() else { return };
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-validation/generated");
    if out.exists() {
        std::fs::remove_dir_all(&out).unwrap();
    }
    let (ok, stdout, stderr) = run_script(&python, "gen_vectors.py", &[Path::new("--out"), &out]);
    assert!(ok, "gen_vectors.py failed:\n{stdout}\n{stderr}");
    let checked_in = common::fixtures("generated");
    let mut stale = Vec::new();
    for sub in ["to_task", "to_supervisor"] {
        let listing = |dir: &Path| -> BTreeSet<String> {
            std::fs::read_dir(dir.join(sub))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".bin"))
                .collect()
        };
        let (fresh, ours) = (listing(&out), listing(&checked_in));
        for name in fresh.symmetric_difference(&ours) {
            stale.push(format!("{sub}/{name}: only in one of the two sets"));
        }
        for name in fresh.intersection(&ours) {
            let path = format!("{sub}/{name}");
            if std::fs::read(out.join(&path)).unwrap()
                != std::fs::read(checked_in.join(&path)).unwrap()
            {
                stale.push(format!("{path}: bytes differ"));
            }
        }
    }
    if std::fs::read(out.join("manifest.json")).unwrap()
        != std::fs::read(checked_in.join("manifest.json")).unwrap()
    {
        stale.push("manifest.json differs".into());
    }
    assert!(
        stale.is_empty(),
        "tests/fixtures/generated is not what tests/python/gen_vectors.py writes \
         (re-run `$(scripts/python-env) tests/python/gen_vectors.py`):\n{}",
        stale.join("\n")
    );
}
