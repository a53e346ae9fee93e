//! Bodies the runtime sends to the supervisor (`ToSupervisor`).
//!
//! Field rules, all checked against the real supervisor by `tests/python/validate_requests.py`:
//! required keys and required-but-nullable keys are always written (a missing one makes the
//! supervisor drop the request without an answer); optional keys are left out when `None`;
//! the state-transition bodies never carry a key the supervisor does not know, because it
//! validates them with `extra="forbid"`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::models::{AssetProfile, DagRunState, HITLUser, TaskInstanceState};
use super::serde_helpers::{duration_secs, null_as_default, required};
use super::Text;
use crate::json::{JsonMap, JsonValue};
use crate::time::Timestamp;
use crate::uuid::Uuid;

/// Finish the task successfully. Terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SucceedTask {
    /// When the task ended.
    pub end_date: Timestamp,
    /// Assets the task produced. Always written, even empty: the Execution API refuses null.
    #[serde(default, deserialize_with = "null_as_default")]
    pub task_outlets: Vec<AssetProfile>,
    /// Asset events the task emitted. Always written, even empty.
    #[serde(default, deserialize_with = "null_as_default")]
    pub outlet_events: Vec<JsonMap>,
    /// The rendered map index label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_map_index: Option<Text>,
}

/// Finish the task as failed and ask for a retry. Terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryTask {
    /// When the task ended.
    pub end_date: Timestamp,
    /// The rendered map index label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_map_index: Option<Text>,
    /// Overrides the task's retry delay, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_seconds: Option<f64>,
    /// Why the task is retried (the supervisor keeps 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_reason: Option<Text>,
}

/// The states [`TaskState`] may report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalState {
    /// The task failed and is not retried.
    Failed,
    /// The task skipped itself.
    Skipped,
    /// The task is not in this bundle.
    Removed,
}

impl TerminalState {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Removed => "removed",
        }
    }
}

/// Finish the task as failed, skipped or removed. Terminal. The supervisor reports it to the
/// server only after the process exits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    /// The final state.
    pub state: TerminalState,
    /// When the task ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<Timestamp>,
    /// The rendered map index label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_map_index: Option<Text>,
}

/// Defer the task to a trigger. Terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeferTask {
    /// The Python class path of the trigger.
    pub classpath: Text,
    /// The trigger's keyword arguments: a map, or a serialized string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_kwargs: Option<JsonValue>,
    /// How long the trigger may wait (sent as seconds).
    #[serde(
        default,
        with = "duration_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub trigger_timeout: Option<Duration>,
    /// The triggerer queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Text>,
    /// The method to resume with.
    pub next_method: Text,
    /// Keyword arguments for `next_method`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_kwargs: Option<JsonMap>,
    /// The rendered map index label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_map_index: Option<Text>,
}

/// Ask to be run again later (sensor reschedule mode). Terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RescheduleTask {
    /// When to run again.
    pub reschedule_date: Timestamp,
    /// When this try ended.
    pub end_date: Timestamp,
}

/// Wait for human input. Terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwaitInputTask {
    /// How long to wait (sent as seconds).
    #[serde(
        default,
        with = "duration_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// The method to resume with.
    pub next_method: Text,
    /// Keyword arguments for `next_method`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_kwargs: Option<JsonMap>,
    /// The rendered map index label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_map_index: Option<Text>,
}

/// A downstream task to skip: by id, or by id and map index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SkipTarget {
    /// Every instance of the task.
    Task(Text),
    /// One mapped instance: `(task_id, map_index)`.
    Mapped(Text, i64),
}

/// Skip downstream tasks. Not terminal: follow it with `SucceedTask`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipDownstreamTasks {
    /// The tasks to skip.
    pub tasks: Vec<SkipTarget>,
}

/// Read a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetConnection {
    /// The connection id.
    pub conn_id: Text,
}

/// Read a variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetVariable {
    /// The key.
    pub key: Text,
}

/// List variable keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetVariableKeys {
    /// Only keys with this prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Text>,
    /// At most this many keys (the supervisor's default is 1000).
    #[serde(default = "default_keys_limit")]
    pub limit: i64,
    /// Skip this many keys.
    #[serde(default)]
    pub offset: i64,
}

/// Create or overwrite a variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutVariable {
    /// The key.
    pub key: Text,
    /// The value. Always written.
    #[serde(deserialize_with = "required")]
    pub value: Option<Text>,
    /// The description. Always written: the supervisor drops the request without it.
    #[serde(deserialize_with = "required")]
    pub description: Option<Text>,
}

/// Delete a variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteVariable {
    /// The key.
    pub key: Text,
}

/// Read an XCom. A missing XCom answers `XComResult` with a nil value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetXCom {
    /// The XCom key.
    pub key: Text,
    /// The DAG id.
    pub dag_id: Text,
    /// The run id.
    pub run_id: Text,
    /// The task id.
    pub task_id: Text,
    /// The map index; `None` reads the unmapped value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_index: Option<i64>,
    /// Also look in earlier runs.
    #[serde(default)]
    pub include_prior_dates: bool,
}

/// Count the values of a (mapped) XCom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetXComCount {
    /// The XCom key.
    pub key: Text,
    /// The DAG id.
    pub dag_id: Text,
    /// The run id.
    pub run_id: Text,
    /// The task id.
    pub task_id: Text,
}

/// Read one item of a mapped XCom by position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetXComSequenceItem {
    /// The XCom key.
    pub key: Text,
    /// The DAG id.
    pub dag_id: Text,
    /// The run id.
    pub run_id: Text,
    /// The task id.
    pub task_id: Text,
    /// The position; negative counts from the end.
    pub offset: i64,
}

/// Read a slice of a mapped XCom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetXComSequenceSlice {
    /// The XCom key.
    pub key: Text,
    /// The DAG id.
    pub dag_id: Text,
    /// The run id.
    pub run_id: Text,
    /// The task id.
    pub task_id: Text,
    /// Slice start. Always written.
    #[serde(deserialize_with = "required")]
    pub start: Option<i64>,
    /// Slice stop. Always written.
    #[serde(deserialize_with = "required")]
    pub stop: Option<i64>,
    /// Slice step. Always written.
    #[serde(deserialize_with = "required")]
    pub step: Option<i64>,
    /// Also look in earlier runs.
    #[serde(default)]
    pub include_prior_dates: bool,
}

/// Write an XCom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetXCom {
    /// The XCom key.
    pub key: Text,
    /// The value: JSON only.
    pub value: JsonValue,
    /// The DAG id.
    pub dag_id: Text,
    /// The run id.
    pub run_id: Text,
    /// The task id.
    pub task_id: Text,
    /// The map index; `None` or negative for an unmapped task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_index: Option<i64>,
    /// Whether this is the DAG's result.
    #[serde(default)]
    pub dag_result: bool,
    /// For a mapped value, how many items it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapped_length: Option<i64>,
}

/// Delete an XCom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteXCom {
    /// The XCom key.
    pub key: Text,
    /// The DAG id.
    pub dag_id: Text,
    /// The run id.
    pub run_id: Text,
    /// The task id.
    pub task_id: Text,
    /// The map index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_index: Option<i64>,
}

/// Record the task's rendered template fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetRenderedFields {
    /// Field name to rendered JSON value.
    pub rendered_fields: JsonMap,
}

/// Set the label shown for this mapped task instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetRenderedMapIndex {
    /// The label.
    pub rendered_map_index: Text,
}

/// Ask the supervisor to mask a value in forwarded log lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskSecret {
    /// The secret; strings, and the strings inside arrays and maps, are masked.
    pub value: JsonValue,
    /// A name for the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
}

/// Trigger a DAG run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerDagRun {
    /// The DAG to run.
    pub dag_id: Text,
    /// The new run's id.
    pub run_id: Text,
    /// The logical date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_date: Option<Timestamp>,
    /// The earliest start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_after: Option<Timestamp>,
    /// The run configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<JsonMap>,
    /// Clear an existing run with the same id instead of failing.
    #[serde(default)]
    pub reset_dag_run: bool,
    /// The partition key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<Text>,
    /// A note on the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

/// Read a DAG run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetDagRun {
    /// The DAG id.
    pub dag_id: Text,
    /// The run id.
    pub run_id: Text,
}

/// Read a DAG run's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetDagRunState {
    /// The DAG id.
    pub dag_id: Text,
    /// The run id.
    pub run_id: Text,
}

/// Count DAG runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetDRCount {
    /// The DAG id.
    pub dag_id: Text,
    /// Only runs with these logical dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_dates: Option<Vec<Timestamp>>,
    /// Only these runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_ids: Option<Vec<Text>>,
    /// Only runs in these states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<Vec<DagRunState>>,
}

/// Read the DAG run before a logical date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetPreviousDagRun {
    /// The DAG id.
    pub dag_id: Text,
    /// Look before this logical date.
    pub logical_date: Timestamp,
    /// Only a run in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<DagRunState>,
}

/// Read the dates of the previous successful run of this task's DAG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetPrevSuccessfulDagRun {
    /// This task instance (the supervisor uses its own).
    pub ti_id: Uuid,
}

/// Read a previous task instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetPreviousTI {
    /// The DAG id.
    pub dag_id: Text,
    /// The task id.
    pub task_id: Text,
    /// Look before this logical date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_date: Option<Timestamp>,
    /// The map index (`-1` for unmapped).
    #[serde(default = "unmapped")]
    pub map_index: i64,
    /// Only an instance in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<TaskInstanceState>,
}

/// Count task instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTICount {
    /// The DAG id.
    pub dag_id: Text,
    /// Only this map index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_index: Option<i64>,
    /// Only these tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ids: Option<Vec<Text>>,
    /// Only tasks of this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_group_id: Option<Text>,
    /// Only runs with these logical dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_dates: Option<Vec<Timestamp>>,
    /// Only these runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_ids: Option<Vec<Text>>,
    /// Only instances in these states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<Vec<TaskInstanceState>>,
}

/// Read the states of task instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTaskStates {
    /// The DAG id.
    pub dag_id: Text,
    /// Only this map index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_index: Option<i64>,
    /// Only these tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ids: Option<Vec<Text>>,
    /// Only tasks of this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_group_id: Option<Text>,
    /// Only runs with these logical dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_dates: Option<Vec<Timestamp>>,
    /// Only these runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_ids: Option<Vec<Text>>,
}

/// Read the breadcrumbs (task states) of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTaskBreadcrumbs {
    /// The DAG id.
    pub dag_id: Text,
    /// The run id.
    pub run_id: Text,
}

/// Read when a rescheduled task first started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTaskRescheduleStartDate {
    /// The task instance.
    pub ti_id: Uuid,
    /// The try number.
    #[serde(default = "first_try")]
    pub try_number: i64,
}

/// Read a DAG's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetDag {
    /// The DAG id.
    pub dag_id: Text,
}

/// Read an asset by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAssetByName {
    /// The asset name.
    pub name: Text,
}

/// Read an asset by URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAssetByUri {
    /// The asset URI.
    pub uri: Text,
}

/// Read the assets behind an alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAssetsByAlias {
    /// The alias name.
    pub alias_name: Text,
}

/// Read the events of an asset, by name and/or URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAssetEventByAsset {
    /// The asset name. Always written.
    #[serde(deserialize_with = "required")]
    pub name: Option<Text>,
    /// The asset URI. Always written.
    #[serde(deserialize_with = "required")]
    pub uri: Option<Text>,
    /// Only events after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Timestamp>,
    /// Only events before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Timestamp>,
    /// At most this many events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Oldest first (the supervisor's default) or newest first.
    #[serde(default = "default_true")]
    pub ascending: bool,
}

/// Read the events of an asset alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAssetEventByAssetAlias {
    /// The alias name.
    pub alias_name: Text,
    /// Only events after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Timestamp>,
    /// Only events before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Timestamp>,
    /// At most this many events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Oldest first (the supervisor's default) or newest first.
    #[serde(default = "default_true")]
    pub ascending: bool,
}

/// Check the task's inlets and outlets for inactive assets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateInletsAndOutlets {
    /// The task instance.
    pub ti_id: Uuid,
}

/// Read a task-state-store entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTaskStateStore {
    /// The task instance.
    pub ti_id: Uuid,
    /// The key.
    pub key: Text,
}

/// Write a task-state-store entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetTaskStateStore {
    /// The task instance.
    pub ti_id: Uuid,
    /// The key.
    pub key: Text,
    /// The value: JSON only.
    pub value: JsonValue,
    /// When the entry expires; `None` keeps it. Always written.
    #[serde(deserialize_with = "required")]
    pub expires_at: Option<Timestamp>,
}

/// Delete a task-state-store entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteTaskStateStore {
    /// The task instance.
    pub ti_id: Uuid,
    /// The key.
    pub key: Text,
}

/// Delete every task-state-store entry of a task instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearTaskStateStore {
    /// The task instance.
    pub ti_id: Uuid,
}

/// Read an asset-state-store entry of an asset named by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAssetStateStoreByName {
    /// The asset name.
    pub name: Text,
    /// The key.
    pub key: Text,
}

/// Read an asset-state-store entry of an asset named by URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAssetStateStoreByUri {
    /// The asset URI.
    pub uri: Text,
    /// The key.
    pub key: Text,
}

/// Write an asset-state-store entry of an asset named by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetAssetStateStoreByName {
    /// The asset name.
    pub name: Text,
    /// The key.
    pub key: Text,
    /// The value: JSON only.
    pub value: JsonValue,
}

/// Write an asset-state-store entry of an asset named by URI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetAssetStateStoreByUri {
    /// The asset URI.
    pub uri: Text,
    /// The key.
    pub key: Text,
    /// The value: JSON only.
    pub value: JsonValue,
}

/// Delete an asset-state-store entry of an asset named by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteAssetStateStoreByName {
    /// The asset name.
    pub name: Text,
    /// The key.
    pub key: Text,
}

/// Delete an asset-state-store entry of an asset named by URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteAssetStateStoreByUri {
    /// The asset URI.
    pub uri: Text,
    /// The key.
    pub key: Text,
}

/// Delete every asset-state-store entry of an asset named by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearAssetStateStoreByName {
    /// The asset name.
    pub name: Text,
}

/// Delete every asset-state-store entry of an asset named by URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearAssetStateStoreByUri {
    /// The asset URI.
    pub uri: Text,
}

/// Create a human-in-the-loop request. Also a response body: the supervisor echoes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateHITLDetailPayload {
    /// The task instance.
    pub ti_id: Uuid,
    /// The options offered.
    pub options: Vec<Text>,
    /// The subject.
    pub subject: Text,
    /// The body text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Text>,
    /// Options chosen by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Vec<Text>>,
    /// Whether several options may be chosen.
    #[serde(default)]
    pub multiple: bool,
    /// Parameters the user may fill in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<JsonMap>,
    /// Users who may answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_users: Option<Vec<HITLUser>>,
}

/// Answer a human-in-the-loop request. The 1.3.2 supervisor does not handle it and answers
/// with an `API_SERVER_ERROR` (status 400).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateHITLDetail {
    /// The task instance.
    pub ti_id: Uuid,
    /// The chosen options.
    pub chosen_options: Vec<Text>,
    /// The parameters filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_input: Option<JsonMap>,
}

/// Read the answer to a human-in-the-loop request. The 1.3.2 supervisor does not handle it
/// and answers with an `API_SERVER_ERROR` (status 400).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetHITLDetailResponse {
    /// The task instance.
    pub ti_id: Uuid,
}

fn default_true() -> bool {
    true
}

// Defaults the supervisor fills in when a runtime leaves these keys out.
fn default_keys_limit() -> i64 {
    1000
}

fn unmapped() -> i64 {
    -1
}

fn first_try() -> i64 {
    1
}
