//! Bodies the supervisor sends to the runtime (`ToTask`).
//!
//! Reading is lenient: unknown keys are ignored, absent keys read as nil (several results are
//! dumped with `exclude_unset`), and "any value" fields accept whatever msgpack holds.

use serde::{Deserialize, Serialize};

use super::models::{
    AssetEventResponse, AssetProfile, AssetResponse, BundleInfo, DagRun, DagRunState, ErrorType,
    HITLUser, PreviousTIResponse, TIRunContext, TaskInstance,
};
use super::Text;
use crate::json::{self, JsonMap, JsonValue};
use crate::time::Timestamp;
use crate::uuid::Uuid;

/// The first frame: what to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartupDetails {
    /// The task instance.
    pub ti: TaskInstance,
    /// The path of the (Python stub) DAG file, relative to the DAG bundle root.
    pub dag_rel_path: Text,
    /// The DAG bundle.
    pub bundle_info: BundleInfo,
    /// When this try first started (kept across deferrals).
    pub start_date: Timestamp,
    /// The run context.
    pub ti_context: TIRunContext,
    /// A Python Sentry initialiser; ignored by non-Python runtimes.
    #[serde(default)]
    pub sentry_integration: Text,
}

/// An error the supervisor reports, in the body or in the error slot of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The kind of error.
    #[serde(default = "generic_error")]
    pub error: ErrorType,
    /// Details: for `API_SERVER_ERROR`, `status_code`, `message` and the API's `detail`.
    #[serde(default, deserialize_with = "json::lenient_option_map")]
    pub detail: Option<JsonMap>,
}

fn generic_error() -> ErrorType {
    ErrorType::GenericError
}

impl ErrorResponse {
    /// The HTTP status in `detail.status_code`, when there is one.
    pub fn status_code(&self) -> Option<u16> {
        self.detail
            .as_ref()?
            .get("status_code")?
            .as_u64()
            .and_then(|code| u16::try_from(code).ok())
    }

    /// The text in `detail.message`, when there is one.
    pub fn message(&self) -> Option<&str> {
        self.detail.as_ref()?.get("message")?.as_str()
    }
}

impl std::fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.error.as_str())?;
        if let Some(status) = self.status_code() {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(message) = self.message() {
            write!(f, ": {message}")?;
        } else if let Some(detail) = &self.detail {
            write!(f, ": {}", JsonValue::Object(detail.clone()))?;
        }
        Ok(())
    }
}

/// A connection.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionResult {
    /// The connection id.
    pub conn_id: Text,
    /// The connection type.
    pub conn_type: Text,
    /// The host.
    #[serde(default)]
    pub host: Option<Text>,
    /// The schema.
    #[serde(default)]
    pub schema: Option<Text>,
    /// The login.
    #[serde(default)]
    pub login: Option<Text>,
    /// The password. Never shown by `Debug`.
    #[serde(default)]
    pub password: Option<Text>,
    /// The port.
    #[serde(default)]
    pub port: Option<i64>,
    /// The extra field, a JSON text. Never shown by `Debug`.
    #[serde(default)]
    pub extra: Option<Text>,
}

impl std::fmt::Debug for ConnectionResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionResult")
            .field("conn_id", &self.conn_id)
            .field("conn_type", &self.conn_type)
            .field("host", &self.host)
            .field("schema", &self.schema)
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("port", &self.port)
            .field("extra", &self.extra.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableResult {
    /// The key.
    pub key: Text,
    /// The value.
    #[serde(default)]
    pub value: Option<Text>,
}

/// Variable keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableKeysResult {
    /// The keys.
    #[serde(default)]
    pub keys: Vec<Text>,
    /// How many keys match in all.
    #[serde(default)]
    pub total_entries: i64,
}

/// An XCom value; nil when there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XComResult {
    /// The key.
    pub key: Text,
    /// The value, or null when the XCom does not exist.
    #[serde(default, deserialize_with = "json::lenient_value")]
    pub value: JsonValue,
}

/// How many values an XCom has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XComCountResponse {
    /// The count.
    pub len: i64,
}

/// One item of a mapped XCom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XComSequenceIndexResult {
    /// The item.
    #[serde(default, deserialize_with = "json::lenient_value")]
    pub root: JsonValue,
}

/// A slice of a mapped XCom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XComSequenceSliceResult {
    /// The items.
    #[serde(default, deserialize_with = "json::lenient_vec")]
    pub root: Vec<JsonValue>,
}

/// A DAG run's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DagRunStateResult {
    /// The state.
    pub state: DagRunState,
}

/// A count of DAG runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DRCount {
    /// The count.
    pub count: i64,
}

/// A count of task instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TICount {
    /// The count.
    pub count: i64,
}

/// A DAG's details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagResult {
    /// The DAG id.
    pub dag_id: Text,
    /// Whether the DAG is paused.
    pub is_paused: bool,
    /// Its DAG bundle.
    #[serde(default)]
    pub bundle_name: Option<Text>,
    /// Its bundle version.
    #[serde(default)]
    pub bundle_version: Option<Text>,
    /// Its file, relative to the bundle root.
    #[serde(default)]
    pub relative_fileloc: Option<Text>,
    /// Its owners.
    #[serde(default)]
    pub owners: Option<Text>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Text>,
    /// Its next run.
    #[serde(default)]
    pub next_dagrun: Option<Timestamp>,
}

/// The previous DAG run, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousDagRunResult {
    /// The run.
    #[serde(default)]
    pub dag_run: Option<DagRun>,
}

/// Dates of the previous successful DAG run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrevSuccessfulDagRunResult {
    /// Start of its data interval.
    #[serde(default)]
    pub data_interval_start: Option<Timestamp>,
    /// End of its data interval.
    #[serde(default)]
    pub data_interval_end: Option<Timestamp>,
    /// When it started.
    #[serde(default)]
    pub start_date: Option<Timestamp>,
    /// When it ended.
    #[serde(default)]
    pub end_date: Option<Timestamp>,
}

/// The previous task instance, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousTIResult {
    /// The task instance.
    #[serde(default)]
    pub task_instance: Option<PreviousTIResponse>,
}

/// When a rescheduled task first started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRescheduleStartDate {
    /// The start, if the task was rescheduled.
    #[serde(default)]
    pub start_date: Option<Timestamp>,
}

/// Task states by task id (or by task id and map index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatesResult {
    /// The states.
    #[serde(default, deserialize_with = "json::lenient_map")]
    pub task_states: JsonMap,
}

/// The breadcrumbs of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskBreadcrumbsResult {
    /// One map per task instance.
    #[serde(default, deserialize_with = "json::lenient_vec_of_maps")]
    pub breadcrumbs: Vec<JsonMap>,
}

/// The assets behind an alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetsByAliasResult {
    /// The assets.
    #[serde(default)]
    pub assets: Vec<AssetResponse>,
}

/// Asset events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetEventsResult {
    /// The events.
    #[serde(default)]
    pub asset_events: Vec<AssetEventResponse>,
}

/// Inactive assets among the task's inlets and outlets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InactiveAssetsResult {
    /// The inactive assets.
    #[serde(default)]
    pub inactive_assets: Option<Vec<AssetProfile>>,
}

/// A task-state-store value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStateStoreResult {
    /// The value.
    #[serde(default, deserialize_with = "json::lenient_value")]
    pub value: JsonValue,
}

/// An asset-state-store value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetStateStoreResult {
    /// The value.
    #[serde(default, deserialize_with = "json::lenient_value")]
    pub value: JsonValue,
}

/// The stored human-in-the-loop request, as the supervisor echoes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HITLDetailRequestResult {
    /// The task instance.
    pub ti_id: Uuid,
    /// The options offered.
    pub options: Vec<Text>,
    /// The subject.
    pub subject: Text,
    /// The body text.
    #[serde(default)]
    pub body: Option<Text>,
    /// Options chosen by default.
    #[serde(default)]
    pub defaults: Option<Vec<Text>>,
    /// Whether several options may be chosen.
    #[serde(default, deserialize_with = "super::serde_helpers::null_as_default")]
    pub multiple: bool,
    /// Parameters the user may fill in.
    #[serde(default, deserialize_with = "json::lenient_option_map")]
    pub params: Option<JsonMap>,
    /// Users who may answer.
    #[serde(default)]
    pub assigned_users: Option<Vec<HITLUser>>,
}

/// An acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OKResponse {
    /// Whether the operation succeeded.
    pub ok: bool,
}

/// File descriptors passed over a Unix socket; meaningless over TCP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentFDs {
    /// The descriptors.
    #[serde(default)]
    pub fds: Vec<i64>,
}
