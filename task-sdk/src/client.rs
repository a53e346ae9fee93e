//! The typed client: one method per request of the schema, the same for every adapter.
//!
//! Methods return `R::Output<T>`: with the blocking adapter a `Result<T, ClientError>`, with
//! the async adapters a future of it. "Not found" is [`ClientError::NotFound`]; failures of
//! the Execution API are [`ClientError::Api`] with the HTTP status and message; a request
//! the supervisor does not answer within the client's timeout is [`ClientError::TimedOut`].

use std::sync::Arc;
use std::time::Duration;

use airflow_protocol::messages::{self as m, DagRun, DagRunState, TaskInstanceState, ToTask};
use airflow_protocol::{JsonMap, JsonValue, Reply, Text, Timestamp, ToSupervisor};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::connection::Connection;
use crate::context::TaskInfo;
use crate::error::ClientError;
use crate::runtime::{Call, Decode, DecodeFn, ExchangeError, Main, Runtime};

/// The default bound on one request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The client of one task run. Cheap to clone.
pub struct Client<R: Runtime> {
    runtime: R,
    info: Arc<TaskInfo>,
    timeout: Duration,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Self {
            runtime: self.runtime.clone(),
            info: self.info.clone(),
            timeout: self.timeout,
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Which asset a state-store call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetKey {
    /// By asset name.
    Name(String),
    /// By asset URI.
    Uri(String),
}

/// Where an XCom is read from. [`Client::xcom_ref`] builds one for this run, unmapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XComRef {
    /// The DAG id.
    pub dag_id: String,
    /// The run id.
    pub run_id: String,
    /// The task that pushed it.
    pub task_id: String,
    /// The key.
    pub key: String,
    /// The pushing task's map index, `None` for unmapped.
    pub map_index: Option<i64>,
    /// Also look in earlier runs.
    pub include_prior_dates: bool,
}

/// The XCom key of returned values.
pub const RETURN_VALUE_KEY: &str = "return_value";

fn expect<T: Send + 'static>(
    request: &'static str,
    key: &str,
    pick: impl FnOnce(ToTask) -> Option<T> + Send + 'static,
) -> Decode<T> {
    Box::new(pick_answer(request, key, pick))
}

// What `expect` boxes, for callers that add a step and box once.
fn pick_answer<T>(
    request: &'static str,
    key: &str,
    pick: impl FnOnce(ToTask) -> Option<T>,
) -> impl FnOnce(Result<Reply, ExchangeError>) -> Result<T, ClientError> {
    // Most keys fit in a `Text` without allocating.
    let key = Text::from(key);
    move |reply| match reply {
        Ok(Reply::Body(body)) => {
            let got = static_type_name(&body);
            pick(body).ok_or_else(|| ClientError::UnexpectedReply {
                request,
                got: got.to_owned(),
            })
        }
        Ok(Reply::Empty) => Err(ClientError::UnexpectedReply {
            request,
            got: "an empty answer".to_owned(),
        }),
        Err(e) => Err(ClientError::from_reply_error(e, request, &key)),
    }
}

// Writes answer with the empty response; some (deletes, state stores) with `OKResponse`.
fn expect_done(request: &'static str, key: &str) -> Decode<()> {
    // Most keys fit in a `Text` without allocating.
    let key = Text::from(key);
    Box::new(move |reply: Result<Reply, ExchangeError>| match reply {
        Ok(Reply::Empty) | Ok(Reply::Body(ToTask::OKResponse(m::OKResponse { ok: true }))) => {
            Ok(())
        }
        Ok(Reply::Body(ToTask::OKResponse(_))) => Err(ClientError::Api {
            error: m::ErrorType::GenericError,
            status: None,
            message: format!("{request} was not applied (ok: false)"),
            detail: None,
        }),
        Ok(Reply::Body(other)) => Err(ClientError::UnexpectedReply {
            request,
            got: other.type_name().to_owned(),
        }),
        Err(e) => Err(ClientError::from_reply_error(e, request, &key)),
    })
}

fn from_json<T: DeserializeOwned>(value: JsonValue, what: &str) -> Result<T, ClientError> {
    serde_json::from_value(value)
        .map_err(|e| ClientError::Serde(format!("{what} does not fit the requested type: {e}")))
}

fn to_json<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<JsonValue, ClientError> {
    serde_json::to_value(value)
        .map_err(|e| ClientError::Serde(format!("{what} cannot be written as JSON: {e}")))
}

// Records `body` as the whole of a call.
macro_rules! request {
    ($body:expr, $decode:expr) => {
        Main::Request(Box::new(ToSupervisor::from($body)), $decode)
    };
}

impl<R: Runtime> Client<R> {
    /// A client over a runtime, for one task run.
    pub fn new(runtime: R, info: Arc<TaskInfo>, timeout: Duration) -> Self {
        Self {
            runtime,
            info,
            timeout,
        }
    }

    /// The same client with another bound on each request.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// The runtime this client sends through.
    pub fn runtime(&self) -> &R {
        &self.runtime
    }

    /// The bound on each request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The run's facts.
    pub fn info(&self) -> &TaskInfo {
        &self.info
    }

    fn call<T: Send + 'static>(&self, main: Main<T>) -> R::Output<T> {
        self.call_with(Vec::new(), main)
    }

    fn call_with<T: Send + 'static, D: DecodeFn<T>>(
        &self,
        side: Vec<ToSupervisor>,
        main: Main<T, D>,
    ) -> R::Output<T> {
        let call = Call {
            side,
            main,
            timeout: self.timeout,
        };
        R::deliver(Box::pin(call.run(self.runtime.clone())))
    }

    fn ready<T: Send + 'static>(&self, value: Result<T, ClientError>) -> R::Output<T> {
        self.call(Main::Ready(value))
    }

    /// Sends any request and returns its raw answer: an escape hatch for what the typed
    /// methods do not cover.
    pub fn request(&self, body: ToSupervisor) -> R::Output<Reply> {
        let request = body.type_name();
        self.call(Main::Request(
            Box::new(body),
            Box::new(move |reply| reply.map_err(|e| ClientError::from_reply_error(e, request, ""))),
        ))
    }

    // ----- variables -----

    /// A variable's value. An `AIRFLOW_VAR_<KEY>` environment variable wins; its value is
    /// then registered with the supervisor's log masker first, because the supervisor never
    /// fetched it. A missing variable is [`ClientError::NotFound`].
    pub fn get_variable(&self, key: &str) -> R::Output<String> {
        let (side, main) = self.variable_call(key);
        self.call_with(side, main)
    }

    /// A variable's value parsed from JSON into `T`.
    pub fn get_variable_json<T: DeserializeOwned + Send + 'static>(
        &self,
        key: &str,
    ) -> R::Output<T> {
        let key_owned = key.to_owned();
        let (side, main) = self.variable_call(key);
        self.call_with(
            side,
            main.and_then(move |text: String| {
                let value: JsonValue = serde_json::from_str(&text).map_err(|e| {
                    ClientError::Serde(format!("variable {key_owned:?} is not JSON: {e}"))
                })?;
                from_json(value, &format!("variable {key_owned:?}"))
            }),
        )
    }

    // Reading a variable: from the environment (masked first) or from the supervisor.
    // Its decode is not boxed: `get_variable` is the call tasks make most.
    fn variable_call(&self, key: &str) -> (Vec<ToSupervisor>, Main<String, impl DecodeFn<String>>) {
        if let Some(value) = self.info.environment().variable(key) {
            return (
                mask_request(&value).into_iter().collect(),
                Main::Ready(Ok(value)),
            );
        }
        let decode = pick_answer("GetVariable", key, |body| match body {
            ToTask::VariableResult(v) => Some(v.value),
            _ => None,
        });
        let key = Text::from(key);
        let main = Main::Request(
            Box::new(m::GetVariable { key: key.clone() }.into()),
            move |reply| match decode(reply)? {
                Some(value) => Ok(value.into_string()),
                // A variable without a value reads as missing, as in the other SDKs.
                None => Err(ClientError::NotFound {
                    kind: crate::error::NotFound::Variable,
                    key: key.into_string(),
                }),
            },
        );
        (Vec::new(), main)
    }

    /// Creates or replaces a variable.
    pub fn set_variable(&self, key: &str, value: &str, description: Option<&str>) -> R::Output<()> {
        self.call(request!(
            m::PutVariable {
                key: key.into(),
                value: Some(value.into()),
                description: description.map(Text::from),
            },
            expect_done("PutVariable", key)
        ))
    }

    /// Deletes a variable.
    pub fn delete_variable(&self, key: &str) -> R::Output<()> {
        self.call(request!(
            m::DeleteVariable { key: key.into() },
            expect_done("DeleteVariable", key)
        ))
    }

    /// Variable keys, optionally with a prefix, one page at a time.
    pub fn variable_keys(
        &self,
        prefix: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> R::Output<m::VariableKeysResult> {
        self.call(request!(
            m::GetVariableKeys {
                prefix: prefix.map(Text::from),
                limit,
                offset,
            },
            expect("GetVariableKeys", prefix.unwrap_or(""), |body| match body {
                ToTask::VariableKeysResult(r) => Some(r),
                _ => None,
            })
        ))
    }

    // ----- connections -----

    /// A connection. An `AIRFLOW_CONN_<ID>` environment variable (URI or JSON form) wins, and
    /// its password and extra are registered with the supervisor's log masker first. A
    /// missing connection is [`ClientError::NotFound`].
    pub fn get_connection(&self, conn_id: &str) -> R::Output<Connection> {
        if let Some(parsed) = self.info.environment().connection(conn_id) {
            let masks = match &parsed {
                Ok(connection) => connection.secrets().filter_map(mask_request).collect(),
                Err(_) => Vec::new(),
            };
            return self.call_with(masks, Main::<_>::Ready(parsed));
        }
        self.call(request!(
            m::GetConnection {
                conn_id: conn_id.into(),
            },
            expect("GetConnection", conn_id, |body| match body {
                ToTask::ConnectionResult(c) => Some(Connection::from(*c)),
                _ => None,
            })
        ))
    }

    // ----- XCom -----

    /// An XCom reference to `key` of `task_id` in this run, unmapped.
    pub fn xcom_ref(&self, task_id: &str, key: &str) -> XComRef {
        XComRef {
            dag_id: self.info.dag_id().to_owned(),
            run_id: self.info.run_id().to_owned(),
            task_id: task_id.to_owned(),
            key: key.to_owned(),
            map_index: None,
            include_prior_dates: false,
        }
    }

    /// The value `task_id` pushed under `key` in this run, or `None` if there is none.
    pub fn xcom_pull<T: DeserializeOwned + Send + 'static>(
        &self,
        task_id: &str,
        key: &str,
    ) -> R::Output<Option<T>> {
        self.xcom_get(self.xcom_ref(task_id, key))
    }

    /// The value at an XCom reference, or `None` if there is none.
    pub fn xcom_get<T: DeserializeOwned + Send + 'static>(
        &self,
        at: XComRef,
    ) -> R::Output<Option<T>> {
        let what = format!("XCom {:?} of task {:?}", at.key, at.task_id);
        self.call(request!(
            m::GetXCom {
                key: at.key.as_str().into(),
                dag_id: at.dag_id.into(),
                run_id: at.run_id.into(),
                task_id: at.task_id.into(),
                map_index: at.map_index,
                include_prior_dates: at.include_prior_dates,
            },
            chain(
                expect("GetXCom", &at.key, |body| match body {
                    ToTask::XComResult(x) => Some(x.value),
                    _ => None,
                }),
                move |value: JsonValue| {
                    if value.is_null() {
                        Ok(None)
                    } else {
                        from_json(value, &what).map(Some)
                    }
                }
            )
        ))
    }

    /// Pushes a value as XCom `key` of this task instance.
    pub fn xcom_push<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> R::Output<()> {
        let value = match to_json(value, &format!("XCom {key:?}")) {
            Ok(value) => value,
            Err(e) => return self.ready(Err(e)),
        };
        self.call(request!(
            m::SetXCom {
                key: key.into(),
                value,
                dag_id: self.info.dag_id().into(),
                run_id: self.info.run_id().into(),
                task_id: self.info.task_id().into(),
                map_index: self.info.map_index(),
                dag_result: false,
                mapped_length: None,
            },
            expect_done("SetXCom", key)
        ))
    }

    /// Deletes XCom `key` of this task instance.
    pub fn xcom_delete(&self, key: &str) -> R::Output<()> {
        self.call(request!(
            m::DeleteXCom {
                key: key.into(),
                dag_id: self.info.dag_id().into(),
                run_id: self.info.run_id().into(),
                task_id: self.info.task_id().into(),
                map_index: self.info.map_index(),
            },
            expect_done("DeleteXCom", key)
        ))
    }

    /// How many values `task_id` pushed under `key` in this run (one per mapped instance).
    pub fn xcom_count(&self, task_id: &str, key: &str) -> R::Output<i64> {
        self.call(request!(
            m::GetXComCount {
                key: key.into(),
                dag_id: self.info.dag_id().into(),
                run_id: self.info.run_id().into(),
                task_id: task_id.into(),
            },
            expect("GetXComCount", key, |body| match body {
                ToTask::XComCountResponse(c) => Some(c.len),
                _ => None,
            })
        ))
    }

    /// One value of a mapped XCom by position (negative counts from the end). A missing
    /// position is [`ClientError::NotFound`].
    pub fn xcom_sequence_item<T: DeserializeOwned + Send + 'static>(
        &self,
        task_id: &str,
        key: &str,
        offset: i64,
    ) -> R::Output<T> {
        let what = format!("XCom {key:?} of task {task_id:?} at {offset}");
        self.call(request!(
            m::GetXComSequenceItem {
                key: key.into(),
                dag_id: self.info.dag_id().into(),
                run_id: self.info.run_id().into(),
                task_id: task_id.into(),
                offset,
            },
            chain(
                expect(
                    "GetXComSequenceItem",
                    &format!("{key}[{offset}]"),
                    |body| match body {
                        ToTask::XComSequenceIndexResult(r) => Some(r.root),
                        _ => None,
                    }
                ),
                move |value| from_json(value, &what)
            )
        ))
    }

    /// A slice of a mapped XCom, with Python's slice semantics.
    pub fn xcom_sequence_slice<T: DeserializeOwned + Send + 'static>(
        &self,
        task_id: &str,
        key: &str,
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
    ) -> R::Output<Vec<T>> {
        let what = format!("XCom {key:?} of task {task_id:?}");
        self.call(request!(
            m::GetXComSequenceSlice {
                key: key.into(),
                dag_id: self.info.dag_id().into(),
                run_id: self.info.run_id().into(),
                task_id: task_id.into(),
                start,
                stop,
                step,
                include_prior_dates: false,
            },
            chain(
                expect("GetXComSequenceSlice", key, |body| match body {
                    ToTask::XComSequenceSliceResult(r) => Some(r.root),
                    _ => None,
                }),
                move |items: Vec<JsonValue>| from_json(JsonValue::Array(items), &what)
            )
        ))
    }

    // ----- task state store -----

    /// A value of this task instance's state store.
    pub fn task_state_get<T: DeserializeOwned + Send + 'static>(&self, key: &str) -> R::Output<T> {
        let what = format!("task state {key:?}");
        self.call(request!(
            m::GetTaskStateStore {
                ti_id: self.info.ti_id(),
                key: key.into(),
            },
            chain(
                expect("GetTaskStateStore", key, |body| match body {
                    ToTask::TaskStateStoreResult(r) => Some(r.value),
                    _ => None,
                }),
                move |value| from_json(value, &what)
            )
        ))
    }

    /// Stores a value in this task instance's state store, optionally expiring.
    pub fn task_state_set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        expires_at: Option<Timestamp>,
    ) -> R::Output<()> {
        let value = match to_json(value, &format!("task state {key:?}")) {
            Ok(value) => value,
            Err(e) => return self.ready(Err(e)),
        };
        self.call(request!(
            m::SetTaskStateStore {
                ti_id: self.info.ti_id(),
                key: key.into(),
                value,
                expires_at,
            },
            expect_done("SetTaskStateStore", key)
        ))
    }

    /// Deletes a key of this task instance's state store.
    pub fn task_state_delete(&self, key: &str) -> R::Output<()> {
        self.call(request!(
            m::DeleteTaskStateStore {
                ti_id: self.info.ti_id(),
                key: key.into(),
            },
            expect_done("DeleteTaskStateStore", key)
        ))
    }

    /// Deletes every key of this task instance's state store.
    pub fn task_state_clear(&self) -> R::Output<()> {
        self.call(request!(
            m::ClearTaskStateStore {
                ti_id: self.info.ti_id(),
            },
            expect_done("ClearTaskStateStore", "")
        ))
    }

    // ----- asset state store -----

    /// A value of an asset's state store.
    pub fn asset_state_get<T: DeserializeOwned + Send + 'static>(
        &self,
        asset: &AssetKey,
        key: &str,
    ) -> R::Output<T> {
        let what = format!("asset state {key:?}");
        let body: ToSupervisor = match asset {
            AssetKey::Name(name) => m::GetAssetStateStoreByName {
                name: name.as_str().into(),
                key: key.into(),
            }
            .into(),
            AssetKey::Uri(uri) => m::GetAssetStateStoreByUri {
                uri: uri.as_str().into(),
                key: key.into(),
            }
            .into(),
        };
        self.call(Main::Request(
            Box::new(body),
            chain(
                expect("GetAssetStateStore", key, |body| match body {
                    ToTask::AssetStateStoreResult(r) => Some(r.value),
                    _ => None,
                }),
                move |value| from_json(value, &what),
            ),
        ))
    }

    /// Stores a value in an asset's state store.
    pub fn asset_state_set<T: Serialize + ?Sized>(
        &self,
        asset: &AssetKey,
        key: &str,
        value: &T,
    ) -> R::Output<()> {
        let value = match to_json(value, &format!("asset state {key:?}")) {
            Ok(value) => value,
            Err(e) => return self.ready(Err(e)),
        };
        let body: ToSupervisor = match asset {
            AssetKey::Name(name) => m::SetAssetStateStoreByName {
                name: name.as_str().into(),
                key: key.into(),
                value,
            }
            .into(),
            AssetKey::Uri(uri) => m::SetAssetStateStoreByUri {
                uri: uri.as_str().into(),
                key: key.into(),
                value,
            }
            .into(),
        };
        self.call(Main::Request(
            Box::new(body),
            expect_done("SetAssetStateStore", key),
        ))
    }

    /// Deletes a key of an asset's state store.
    pub fn asset_state_delete(&self, asset: &AssetKey, key: &str) -> R::Output<()> {
        let body: ToSupervisor = match asset {
            AssetKey::Name(name) => m::DeleteAssetStateStoreByName {
                name: name.as_str().into(),
                key: key.into(),
            }
            .into(),
            AssetKey::Uri(uri) => m::DeleteAssetStateStoreByUri {
                uri: uri.as_str().into(),
                key: key.into(),
            }
            .into(),
        };
        self.call(Main::Request(
            Box::new(body),
            expect_done("DeleteAssetStateStore", key),
        ))
    }

    /// Deletes every key of an asset's state store.
    pub fn asset_state_clear(&self, asset: &AssetKey) -> R::Output<()> {
        let body: ToSupervisor = match asset {
            AssetKey::Name(name) => m::ClearAssetStateStoreByName {
                name: name.as_str().into(),
            }
            .into(),
            AssetKey::Uri(uri) => m::ClearAssetStateStoreByUri {
                uri: uri.as_str().into(),
            }
            .into(),
        };
        self.call(Main::Request(
            Box::new(body),
            expect_done("ClearAssetStateStore", ""),
        ))
    }

    // ----- DAG runs -----

    /// A DAG run.
    pub fn dag_run(&self, dag_id: &str, run_id: &str) -> R::Output<DagRun> {
        self.call(request!(
            m::GetDagRun {
                dag_id: dag_id.into(),
                run_id: run_id.into()
            },
            expect("GetDagRun", run_id, |body| match body {
                ToTask::DagRunResult(run) => Some(*run),
                _ => None,
            })
        ))
    }

    /// A DAG run's state.
    pub fn dag_run_state(&self, dag_id: &str, run_id: &str) -> R::Output<DagRunState> {
        self.call(request!(
            m::GetDagRunState {
                dag_id: dag_id.into(),
                run_id: run_id.into()
            },
            expect("GetDagRunState", run_id, |body| match body {
                ToTask::DagRunStateResult(r) => Some(r.state),
                _ => None,
            })
        ))
    }

    /// How many runs of a DAG match the filters.
    pub fn dag_run_count(&self, query: m::GetDRCount) -> R::Output<i64> {
        let key = query.dag_id.to_string();
        self.call(request!(
            query,
            expect("GetDRCount", &key, |body| match body {
                ToTask::DRCount(c) => Some(c.count),
                _ => None,
            })
        ))
    }

    /// Triggers a DAG run. An existing run id is [`ClientError::Api`] with
    /// `DAGRUN_ALREADY_EXISTS` unless `reset_dag_run` is set.
    pub fn trigger_dag_run(&self, trigger: m::TriggerDagRun) -> R::Output<()> {
        let key = trigger.run_id.to_string();
        self.call(request!(trigger, expect_done("TriggerDagRun", &key)))
    }

    /// The latest run of a DAG before a logical date, optionally in a state.
    pub fn previous_dag_run(
        &self,
        dag_id: &str,
        logical_date: Timestamp,
        state: Option<DagRunState>,
    ) -> R::Output<Option<DagRun>> {
        self.call(request!(
            m::GetPreviousDagRun {
                dag_id: dag_id.into(),
                logical_date,
                state
            },
            expect("GetPreviousDagRun", dag_id, |body| match body {
                ToTask::PreviousDagRunResult(r) => Some(r.dag_run),
                _ => None,
            })
        ))
    }

    /// The dates of the previous successful run of this task's DAG.
    pub fn prev_successful_dag_run(&self) -> R::Output<m::PrevSuccessfulDagRunResult> {
        self.call(request!(
            m::GetPrevSuccessfulDagRun {
                ti_id: self.info.ti_id()
            },
            expect("GetPrevSuccessfulDagRun", "", |body| match body {
                ToTask::PrevSuccessfulDagRunResult(r) => Some(r),
                _ => None,
            })
        ))
    }

    /// A DAG's details.
    pub fn dag(&self, dag_id: &str) -> R::Output<m::DagResult> {
        self.call(request!(
            m::GetDag {
                dag_id: dag_id.into()
            },
            expect("GetDag", dag_id, |body| match body {
                ToTask::DagResult(r) => Some(*r),
                _ => None,
            })
        ))
    }

    // ----- task instances -----

    /// The previous instance of a task, optionally before a logical date and in a state.
    pub fn previous_ti(
        &self,
        dag_id: &str,
        task_id: &str,
        logical_date: Option<Timestamp>,
        map_index: i64,
        state: Option<TaskInstanceState>,
    ) -> R::Output<Option<m::PreviousTIResponse>> {
        self.call(request!(
            m::GetPreviousTI {
                dag_id: dag_id.into(),
                task_id: task_id.into(),
                logical_date,
                map_index,
                state,
            },
            expect("GetPreviousTI", task_id, |body| match body {
                ToTask::PreviousTIResult(r) => Some(r.task_instance),
                _ => None,
            })
        ))
    }

    /// How many task instances match the filters.
    pub fn ti_count(&self, query: m::GetTICount) -> R::Output<i64> {
        let key = query.dag_id.to_string();
        self.call(request!(
            query,
            expect("GetTICount", &key, |body| match body {
                ToTask::TICount(c) => Some(c.count),
                _ => None,
            })
        ))
    }

    /// The states of task instances matching the filters.
    pub fn task_states(&self, query: m::GetTaskStates) -> R::Output<JsonMap> {
        let key = query.dag_id.to_string();
        self.call(request!(
            query,
            expect("GetTaskStates", &key, |body| match body {
                ToTask::TaskStatesResult(r) => Some(r.task_states),
                _ => None,
            })
        ))
    }

    /// The task states of a run, one map per task instance.
    pub fn task_breadcrumbs(&self, dag_id: &str, run_id: &str) -> R::Output<Vec<JsonMap>> {
        self.call(request!(
            m::GetTaskBreadcrumbs {
                dag_id: dag_id.into(),
                run_id: run_id.into()
            },
            expect("GetTaskBreadcrumbs", run_id, |body| match body {
                ToTask::TaskBreadcrumbsResult(r) => Some(r.breadcrumbs),
                _ => None,
            })
        ))
    }

    /// When this task first started, if it was rescheduled.
    pub fn task_reschedule_start_date(&self, try_number: i64) -> R::Output<Option<Timestamp>> {
        self.call(request!(
            m::GetTaskRescheduleStartDate {
                ti_id: self.info.ti_id(),
                try_number
            },
            expect("GetTaskRescheduleStartDate", "", |body| match body {
                ToTask::TaskRescheduleStartDate(r) => Some(r.start_date),
                _ => None,
            })
        ))
    }

    // ----- assets -----

    /// An asset by name or URI. A missing asset is [`ClientError::NotFound`].
    pub fn asset(&self, asset: &AssetKey) -> R::Output<m::AssetResponse> {
        let (body, key): (ToSupervisor, String) = match asset {
            AssetKey::Name(name) => (
                m::GetAssetByName {
                    name: name.as_str().into(),
                }
                .into(),
                name.clone(),
            ),
            AssetKey::Uri(uri) => (
                m::GetAssetByUri {
                    uri: uri.as_str().into(),
                }
                .into(),
                uri.clone(),
            ),
        };
        self.call(Main::Request(
            Box::new(body),
            expect("GetAsset", &key, |body| match body {
                ToTask::AssetResult(a) => Some(*a),
                _ => None,
            }),
        ))
    }

    /// The assets behind an alias.
    pub fn assets_by_alias(&self, alias_name: &str) -> R::Output<Vec<m::AssetResponse>> {
        self.call(request!(
            m::GetAssetsByAlias {
                alias_name: alias_name.into()
            },
            expect("GetAssetsByAlias", alias_name, |body| match body {
                ToTask::AssetsByAliasResult(r) => Some(r.assets),
                _ => None,
            })
        ))
    }

    /// Events of an asset (by name and/or URI).
    pub fn asset_events(
        &self,
        query: m::GetAssetEventByAsset,
    ) -> R::Output<Vec<m::AssetEventResponse>> {
        let key = query
            .name
            .as_ref()
            .or(query.uri.as_ref())
            .map(Text::to_string)
            .unwrap_or_default();
        self.call(request!(
            query,
            expect("GetAssetEventByAsset", &key, |body| match body {
                ToTask::AssetEventsResult(r) => Some(r.asset_events),
                _ => None,
            })
        ))
    }

    /// Events of an asset alias.
    pub fn asset_alias_events(
        &self,
        query: m::GetAssetEventByAssetAlias,
    ) -> R::Output<Vec<m::AssetEventResponse>> {
        let key = query.alias_name.to_string();
        self.call(request!(
            query,
            expect("GetAssetEventByAssetAlias", &key, |body| match body {
                ToTask::AssetEventsResult(r) => Some(r.asset_events),
                _ => None,
            })
        ))
    }

    /// Inactive assets among this task's inlets and outlets.
    pub fn validate_inlets_and_outlets(&self) -> R::Output<Vec<m::AssetProfile>> {
        self.call(request!(
            m::ValidateInletsAndOutlets {
                ti_id: self.info.ti_id()
            },
            expect("ValidateInletsAndOutlets", "", |body| match body {
                ToTask::InactiveAssetsResult(r) => Some(r.inactive_assets.unwrap_or_default()),
                _ => None,
            })
        ))
    }

    // ----- rendering, masking, skipping -----

    /// Records rendered template fields, shown in the UI.
    pub fn set_rendered_fields(&self, fields: JsonMap) -> R::Output<()> {
        self.call(request!(
            m::SetRenderedFields {
                rendered_fields: fields
            },
            expect_done("SetRenderedFields", "")
        ))
    }

    /// Sets the label shown for this mapped task instance.
    pub fn set_rendered_map_index(&self, label: &str) -> R::Output<()> {
        self.call(request!(
            m::SetRenderedMapIndex {
                rendered_map_index: label.into()
            },
            expect_done("SetRenderedMapIndex", "")
        ))
    }

    /// Asks the supervisor to mask a secret in every log line it forwards from now on.
    /// Values the supervisor fetched itself (variables, connection passwords and extras) are
    /// masked already. With a `name`, the supervisor masks the value only if the name looks
    /// sensitive (`password`, `secret`, `token`, `api_key`, ...); values of five characters or
    /// fewer are never masked (`[logging] min_length_masked_secret`).
    pub fn mask_secret(&self, value: &str, name: Option<&str>) -> R::Output<()> {
        self.call(request!(
            m::MaskSecret {
                value: JsonValue::String(value.to_owned()),
                name: name.map(Text::from),
            },
            expect_done("MaskSecret", "")
        ))
    }

    /// Skips downstream tasks. Not terminal: the task still ends as usual.
    pub fn skip_downstream(&self, tasks: Vec<m::SkipTarget>) -> R::Output<()> {
        self.call(request!(
            m::SkipDownstreamTasks { tasks },
            expect_done("SkipDownstreamTasks", "")
        ))
    }

    // ----- human in the loop -----

    /// Creates a human-in-the-loop request for this task instance.
    pub fn create_hitl_detail(
        &self,
        mut payload: m::CreateHITLDetailPayload,
    ) -> R::Output<m::HITLDetailRequestResult> {
        payload.ti_id = self.info.ti_id();
        self.call(request!(
            payload,
            expect("CreateHITLDetailPayload", "", |body| match body {
                ToTask::HITLDetailRequestResult(r) => Some(*r),
                _ => None,
            })
        ))
    }

    /// Answers a human-in-the-loop request. The 1.3.2 supervisor does not handle this
    /// request: it answers [`ClientError::Api`] with status 400.
    pub fn update_hitl_detail(
        &self,
        chosen_options: Vec<String>,
        params_input: Option<JsonMap>,
    ) -> R::Output<Reply> {
        self.request(
            m::UpdateHITLDetail {
                ti_id: self.info.ti_id(),
                chosen_options: chosen_options.into_iter().map(Text::from).collect(),
                params_input,
            }
            .into(),
        )
    }

    /// Reads the answer to this task's human-in-the-loop request. The 1.3.2 supervisor does
    /// not handle this request: it answers [`ClientError::Api`] with status 400.
    pub fn hitl_detail_response(&self) -> R::Output<Reply> {
        self.request(
            m::GetHITLDetailResponse {
                ti_id: self.info.ti_id(),
            }
            .into(),
        )
    }
}

// The wire name of a body, without keeping a borrow of it (taken before the body is
// consumed, so it must be cheap: a jump table, not a search).
fn static_type_name(body: &ToTask) -> &'static str {
    body.known_type_name()
        .unwrap_or("a body of an unknown type")
}

fn chain<A: Send + 'static, B: Send + 'static>(
    first: Decode<A>,
    then: impl FnOnce(A) -> Result<B, ClientError> + Send + 'static,
) -> Decode<B> {
    Box::new(move |reply| first(reply).and_then(then))
}

/// The `MaskSecret` request for a secret the supervisor did not fetch itself, unless it is
/// empty. It carries no name: with a name, the supervisor masks the value only when the name
/// looks sensitive (`password`, `token`, ...).
pub fn mask_request(secret: &str) -> Option<ToSupervisor> {
    (!secret.is_empty()).then(|| {
        m::MaskSecret {
            value: JsonValue::String(secret.to_owned()),
            name: None,
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variable_value(body: ToTask) -> Option<Option<Text>> {
        match body {
            ToTask::VariableResult(result) => Some(result.value),
            _ => None,
        }
    }

    #[test]
    fn an_answer_of_another_type_is_refused_with_its_wire_name() {
        let decode = pick_answer("GetVariable", "greeting", variable_value);
        let answer = Ok(Reply::Body(ToTask::OKResponse(m::OKResponse { ok: true })));
        match decode(answer) {
            Err(ClientError::UnexpectedReply { request, got }) => {
                assert_eq!((request, got.as_str()), ("GetVariable", "OKResponse"));
            }
            other => panic!("expected UnexpectedReply, got {other:?}"),
        }
    }

    #[test]
    fn an_answer_of_an_unknown_type_is_refused_as_such() {
        let decode = pick_answer("GetVariable", "greeting", variable_value);
        let answer = Ok(Reply::Body(ToTask::Unknown {
            type_name: "FutureResult".to_owned(),
        }));
        match decode(answer) {
            Err(ClientError::UnexpectedReply { got, .. }) => {
                assert_eq!(got, "a body of an unknown type");
            }
            other => panic!("expected UnexpectedReply, got {other:?}"),
        }
    }

    #[test]
    fn the_expected_answer_is_picked() {
        let decode = pick_answer("GetVariable", "greeting", variable_value);
        let answer = Ok(Reply::Body(ToTask::VariableResult(m::VariableResult {
            key: "greeting".into(),
            value: Some("hello".into()),
        })));
        assert_eq!(decode(answer).unwrap(), Some("hello".into()));
    }
}
