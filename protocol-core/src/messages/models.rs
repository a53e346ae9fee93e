//! Data models nested inside messages: task instance, DAG run, run context, assets.

use serde::{Deserialize, Serialize};

use super::Text;
use crate::json::{self, JsonMap, JsonValue};
use crate::time::Timestamp;
use crate::uuid::Uuid;

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        ///
        /// A value this schema does not know is kept in `Unknown` when read; it is refused
        /// when sent, because the supervisor would never answer such a request.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value not in schema `2026-06-16`, as received.
            Unknown(String),
        }

        impl $name {
            /// Every known value, in schema order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire text.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )+
                    $name::Unknown(text) => text,
                }
            }

            /// Reads the wire text; unknown text is kept in `Unknown`.
            pub fn from_wire(text: &str) -> Self {
                match text {
                    $( $text => $name::$variant, )+
                    other => $name::Unknown(other.to_owned()),
                }
            }

            /// The known value whose wire text is `bytes`, if there is one; for readers
            /// that have not checked the bytes to be UTF-8 (known texts are).
            #[allow(dead_code)]
            pub(crate) fn known_from_wire(bytes: &[u8]) -> Option<Self> {
                $( if bytes == $text.as_bytes() { return Some($name::$variant); } )+
                None
            }

            /// Whether this is a value of the schema (not `Unknown`).
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a ", stringify!($name), " string"))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::from_wire(v))
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

string_enum! {
    /// The state of a task instance.
    TaskInstanceState {
        /// The task no longer exists in the DAG.
        Removed = "removed",
        /// Scheduled to run.
        Scheduled = "scheduled",
        /// Queued on an executor.
        Queued = "queued",
        /// Running.
        Running = "running",
        /// Finished successfully.
        Success = "success",
        /// Being restarted.
        Restarting = "restarting",
        /// Failed.
        Failed = "failed",
        /// Failed and waiting for a retry.
        UpForRetry = "up_for_retry",
        /// Waiting to be rescheduled (sensor in reschedule mode).
        UpForReschedule = "up_for_reschedule",
        /// An upstream task failed.
        UpstreamFailed = "upstream_failed",
        /// Skipped.
        Skipped = "skipped",
        /// Waiting for a trigger.
        Deferred = "deferred",
        /// Waiting for human input.
        AwaitingInput = "awaiting_input",
    }
}

string_enum! {
    /// The state of a DAG run.
    DagRunState {
        /// Queued.
        Queued = "queued",
        /// Running.
        Running = "running",
        /// Finished successfully.
        Success = "success",
        /// Failed.
        Failed = "failed",
    }
}

string_enum! {
    /// How a DAG run was created.
    DagRunType {
        /// A backfill.
        Backfill = "backfill",
        /// By the scheduler, from the DAG's schedule.
        Scheduled = "scheduled",
        /// By hand (UI, REST API or CLI).
        Manual = "manual",
        /// By an operator such as `TriggerDagRunOperator`.
        OperatorTriggered = "operator_triggered",
        /// By asset events.
        AssetTriggered = "asset_triggered",
        /// To materialize an asset.
        AssetMaterialization = "asset_materialization",
    }
}

string_enum! {
    /// The kind of an [`ErrorResponse`](super::ErrorResponse).
    ErrorType {
        /// `GetConnection` found no connection.
        ConnectionNotFound = "CONNECTION_NOT_FOUND",
        /// `GetVariable` found no variable.
        VariableNotFound = "VARIABLE_NOT_FOUND",
        /// `GetXComSequenceItem` found no item.
        XcomNotFound = "XCOM_NOT_FOUND",
        /// No asset with that name or URI.
        AssetNotFound = "ASSET_NOT_FOUND",
        /// No task-state-store entry with that key.
        TaskStoreNotFound = "TASK_STORE_NOT_FOUND",
        /// No asset-state-store entry with that key.
        AssetStoreNotFound = "ASSET_STORE_NOT_FOUND",
        /// `TriggerDagRun` named a run id that exists.
        DagrunAlreadyExists = "DAGRUN_ALREADY_EXISTS",
        /// The Execution API refused access.
        PermissionDenied = "PERMISSION_DENIED",
        /// Any other error.
        GenericError = "GENERIC_ERROR",
        /// The Execution API answered with an HTTP error, or the supervisor failed.
        ApiServerError = "API_SERVER_ERROR",
    }
}

/// The task instance a `StartupDetails` asks the runtime to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInstance {
    /// The task instance id; `ti_id` in requests.
    pub id: Uuid,
    /// The task id.
    pub task_id: Text,
    /// The DAG id.
    pub dag_id: Text,
    /// The DAG run id.
    pub run_id: Text,
    /// The try number, from 1.
    pub try_number: i64,
    /// The id of the serialized DAG version.
    pub dag_version_id: Uuid,
    /// The map index; `-1` or nil when the task is not mapped.
    #[serde(default)]
    pub map_index: Option<i64>,
    /// The worker host name.
    #[serde(default)]
    pub hostname: Option<Text>,
    /// The OpenTelemetry context carrier.
    #[serde(default, deserialize_with = "json::lenient_option_map")]
    pub context_carrier: Option<JsonMap>,
    /// The queue the task was routed through.
    #[serde(default)]
    pub queue: Option<Text>,
}

impl TaskInstance {
    /// The map index, with `-1` for an unmapped task.
    pub fn map_index_or_unmapped(&self) -> i64 {
        self.map_index.unwrap_or(-1)
    }
}

/// The DAG bundle a task came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleInfo {
    /// The bundle name.
    pub name: Text,
    /// The bundle version, if versioned.
    #[serde(default)]
    pub version: Option<Text>,
}

/// A DAG run, as in the run context and in `DagRunResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagRun {
    /// The DAG id.
    pub dag_id: Text,
    /// The run id.
    pub run_id: Text,
    /// The logical date; nil for runs without one.
    #[serde(default)]
    pub logical_date: Option<Timestamp>,
    /// Start of the data interval.
    #[serde(default)]
    pub data_interval_start: Option<Timestamp>,
    /// End of the data interval.
    #[serde(default)]
    pub data_interval_end: Option<Timestamp>,
    /// The earliest time the run could start.
    pub run_after: Timestamp,
    /// When the run started.
    #[serde(default)]
    pub start_date: Option<Timestamp>,
    /// When the run ended.
    #[serde(default)]
    pub end_date: Option<Timestamp>,
    /// How many times the run was cleared.
    #[serde(default)]
    pub clear_number: Option<i64>,
    /// How the run was created.
    pub run_type: DagRunType,
    /// The run state.
    pub state: DagRunState,
    /// The run configuration (`conf`).
    #[serde(default, deserialize_with = "json::lenient_option_map")]
    pub conf: Option<JsonMap>,
    /// The user who triggered the run.
    #[serde(default)]
    pub triggering_user_name: Option<Text>,
    /// Asset events that triggered the run.
    #[serde(default)]
    pub consumed_asset_events: Vec<AssetEventDagRunReference>,
    /// The partition key.
    #[serde(default)]
    pub partition_key: Option<Text>,
    /// The partition date.
    #[serde(default)]
    pub partition_date: Option<Timestamp>,
    /// The run note.
    #[serde(default)]
    pub note: Option<Text>,
    /// The team owning the run.
    #[serde(default)]
    pub team_name: Option<Text>,
}

/// An asset event that a DAG run consumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetEventDagRunReference {
    /// The asset.
    pub asset: AssetReference,
    /// The event's extra data.
    #[serde(default, deserialize_with = "json::lenient_map")]
    pub extra: JsonMap,
    /// The task that emitted the event.
    #[serde(default)]
    pub source_task_id: Option<Text>,
    /// The DAG of that task.
    #[serde(default)]
    pub source_dag_id: Option<Text>,
    /// The run of that task.
    #[serde(default)]
    pub source_run_id: Option<Text>,
    /// The map index of that task.
    #[serde(default)]
    pub source_map_index: Option<i64>,
    /// Aliases the event was emitted through.
    #[serde(default)]
    pub source_aliases: Vec<AssetAliasReference>,
    /// When the event happened.
    pub timestamp: Timestamp,
    /// The partition key.
    #[serde(default)]
    pub partition_key: Option<Text>,
}

/// An asset named in an asset event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetReference {
    /// The asset name.
    pub name: Text,
    /// The asset URI.
    pub uri: Text,
    /// The asset's extra data.
    #[serde(default, deserialize_with = "json::lenient_map")]
    pub extra: JsonMap,
}

/// An asset alias named in an asset event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetAliasReference {
    /// The alias name.
    pub name: Text,
}

/// What the server tells the runtime about the run, in `StartupDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TIRunContext {
    /// The DAG run.
    pub dag_run: DagRun,
    /// How many times the task was rescheduled.
    #[serde(default)]
    pub task_reschedule_count: Option<i64>,
    /// The maximum number of tries.
    pub max_tries: i64,
    /// Variables the server preloaded.
    #[serde(default)]
    pub variables: Option<Vec<VariableResponse>>,
    /// Connections the server preloaded.
    #[serde(default)]
    pub connections: Option<Vec<ConnectionResponse>>,
    /// The method to resume with after a deferral.
    #[serde(default)]
    pub next_method: Option<Text>,
    /// The keyword arguments for `next_method`: a map, or a serialized string.
    #[serde(default, deserialize_with = "json::lenient_value")]
    pub next_kwargs: JsonValue,
    /// XCom keys to delete before the task runs.
    #[serde(default)]
    pub xcom_keys_to_clear: Option<Vec<Text>>,
    /// Whether a failure now should lead to a retry.
    #[serde(default)]
    pub should_retry: Option<bool>,
    /// The first start of this try, kept across deferrals.
    #[serde(default)]
    pub start_date: Option<Timestamp>,
}

/// A variable, as preloaded in the run context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableResponse {
    /// The key.
    pub key: Text,
    /// The value.
    #[serde(default)]
    pub value: Option<Text>,
}

/// A connection, as preloaded in the run context.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionResponse {
    /// The connection id.
    pub conn_id: Text,
    /// The connection type.
    pub conn_type: Text,
    /// The host.
    #[serde(default)]
    pub host: Option<Text>,
    /// The schema. The 1.3.2 supervisor dumps `StartupDetails` without `by_alias`, so a
    /// preloaded connection carries it under the pydantic field name `schema_`.
    #[serde(default, alias = "schema_")]
    pub schema: Option<Text>,
    /// The login.
    #[serde(default)]
    pub login: Option<Text>,
    /// The password.
    #[serde(default)]
    pub password: Option<Text>,
    /// The port.
    #[serde(default)]
    pub port: Option<i64>,
    /// The extra field, a JSON text.
    #[serde(default)]
    pub extra: Option<Text>,
}

impl std::fmt::Debug for ConnectionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionResponse")
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

/// An asset reported as an outlet or found inactive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetProfile {
    /// The asset name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    /// The asset URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<Text>,
    /// The profile type, for example `"Asset"`, `"AssetAlias"` or `"AssetNameRef"`.
    #[serde(rename = "type")]
    pub profile_type: Text,
}

/// An asset, as `AssetResult` and asset events carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetResponse {
    /// The asset name.
    pub name: Text,
    /// The asset URI.
    pub uri: Text,
    /// The asset group.
    pub group: Text,
    /// The asset's extra data.
    #[serde(default, deserialize_with = "json::lenient_option_map")]
    pub extra: Option<JsonMap>,
}

/// One asset event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetEventResponse {
    /// The event id.
    pub id: i64,
    /// When the event happened.
    pub timestamp: Timestamp,
    /// The event's extra data.
    #[serde(default, deserialize_with = "json::lenient_option_map")]
    pub extra: Option<JsonMap>,
    /// The asset.
    pub asset: AssetResponse,
    /// DAG runs the event created.
    #[serde(default)]
    pub created_dagruns: Vec<DagRunAssetReference>,
    /// The task that emitted the event.
    #[serde(default)]
    pub source_task_id: Option<Text>,
    /// The DAG of that task.
    #[serde(default)]
    pub source_dag_id: Option<Text>,
    /// The run of that task.
    #[serde(default)]
    pub source_run_id: Option<Text>,
    /// The map index of that task.
    #[serde(default)]
    pub source_map_index: Option<i64>,
    /// The partition key.
    #[serde(default)]
    pub partition_key: Option<Text>,
}

/// A DAG run created by an asset event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagRunAssetReference {
    /// The run id.
    pub run_id: Text,
    /// The DAG id.
    pub dag_id: Text,
    /// The logical date.
    #[serde(default)]
    pub logical_date: Option<Timestamp>,
    /// When the run started.
    pub start_date: Timestamp,
    /// When the run ended.
    #[serde(default)]
    pub end_date: Option<Timestamp>,
    /// The run state.
    pub state: Text,
    /// Start of the data interval.
    #[serde(default)]
    pub data_interval_start: Option<Timestamp>,
    /// End of the data interval.
    #[serde(default)]
    pub data_interval_end: Option<Timestamp>,
    /// The partition key.
    #[serde(default)]
    pub partition_key: Option<Text>,
}

/// A previous task instance, from `GetPreviousTI`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousTIResponse {
    /// The task id.
    pub task_id: Text,
    /// The DAG id.
    pub dag_id: Text,
    /// The run id.
    pub run_id: Text,
    /// The logical date of its run.
    #[serde(default)]
    pub logical_date: Option<Timestamp>,
    /// When it started.
    #[serde(default)]
    pub start_date: Option<Timestamp>,
    /// When it ended.
    #[serde(default)]
    pub end_date: Option<Timestamp>,
    /// Its state.
    #[serde(default)]
    pub state: Option<Text>,
    /// Its try number.
    pub try_number: i64,
    /// Its map index.
    #[serde(default)]
    pub map_index: Option<i64>,
    /// How long it ran, in seconds.
    #[serde(default)]
    pub duration: Option<f64>,
}

/// A user who may answer a human-in-the-loop request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HITLUser {
    /// The user id.
    pub id: Text,
    /// The user name.
    pub name: Text,
}
