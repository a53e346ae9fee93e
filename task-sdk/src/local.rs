//! An in-process supervisor built on the core's [`SupervisorSession`]: it listens on two
//! loopback sockets like Airflow's, sends `StartupDetails`, answers requests from an
//! in-memory store, and collects the task's log lines. `BUNDLE test DAG TASK` runs a task
//! against it, with no Python and no Airflow; tests use it to drive bundles too.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use airflow_protocol::frame::Response;
use airflow_protocol::messages::{self as m, ErrorResponse, ErrorType, StartupDetails, ToTask};
use airflow_protocol::{
    JsonMap, JsonValue, SupervisorConfig, SupervisorEvent, SupervisorSession, Text, Timestamp,
    ToSupervisor, Uuid,
};

use crate::cli::TestArgs;
use crate::connection::Connection;
use crate::execute::RunOutcome;
use crate::serve::{Launch, LaunchError};

/// Where an XCom is kept: DAG, run, task, key, map index (-1 unmapped).
pub type XComKey = (String, String, String, String, i64);

/// What the local supervisor serves.
#[derive(Debug, Clone, Default)]
pub struct LocalStore {
    /// Variables by key.
    pub variables: BTreeMap<String, String>,
    /// Connections by id.
    pub connections: BTreeMap<String, Connection>,
    /// XComs.
    pub xcoms: BTreeMap<XComKey, JsonValue>,
    /// The task state store.
    pub task_state: BTreeMap<String, JsonValue>,
    /// Asset state stores by (asset name or URI, key).
    pub asset_state: BTreeMap<(String, String), JsonValue>,
    /// Values registered with `MaskSecret`.
    pub masked: Vec<String>,
}

/// The order requests are answered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerOrder {
    /// One by one, as they arrive (what Airflow's supervisor does).
    AsReceived,
    /// Held until this many are waiting (or none came for 200 ms), then answered last
    /// first: proves that a runtime routes answers by id. Terminal messages are answered at
    /// once.
    ReversedBatches(usize),
    /// Requests other than terminal messages are never answered, as Airflow does with a
    /// request it cannot validate: proves that a runtime's waits are bounded.
    NeverAnswer,
    /// The first this many requests other than terminal messages are answered as they
    /// arrive, the rest never: proves that a wait begun after earlier requests armed the
    /// runtime's timers is bounded too.
    AnswerFirst(usize),
}

/// What happened in a local run.
#[derive(Debug, Clone)]
pub struct LocalReport {
    /// The first terminal message the task sent.
    pub terminal: Option<ToSupervisor>,
    /// Every request, in arrival order.
    pub requests: Vec<ToSupervisor>,
    /// The store after the run.
    pub store: LocalStore,
    /// The task's log lines, parsed, with secrets masked.
    pub logs: Vec<JsonMap>,
    /// Protocol problems seen: undecodable requests, frame violations.
    pub problems: Vec<String>,
}

impl LocalReport {
    /// How many of the task's requests were of the type with this wire name
    /// (`"GetVariable"`, …).
    pub fn count_requests(&self, type_name: &str) -> usize {
        self.requests
            .iter()
            .filter(|request| request.type_name() == type_name)
            .count()
    }
}

/// An in-process supervisor for one task run.
pub struct LocalSupervisor {
    comm: TcpListener,
    logs: TcpListener,
    details: StartupDetails,
    store: LocalStore,
    order: AnswerOrder,
}

/// A local supervisor running on its threads.
pub struct LocalHandle {
    comm_thread: JoinHandle<io::Result<CommResult>>,
    logs_thread: JoinHandle<Vec<JsonMap>>,
    stop: Arc<AtomicBool>,
}

impl LocalSupervisor {
    /// Listens on two loopback ports for a run of `details` served from `store`.
    pub fn bind(details: StartupDetails, store: LocalStore) -> io::Result<Self> {
        Ok(Self {
            comm: TcpListener::bind("127.0.0.1:0")?,
            logs: TcpListener::bind("127.0.0.1:0")?,
            details,
            store,
            order: AnswerOrder::AsReceived,
        })
    }

    /// A supervisor for the run `args` describe: the `StartupDetails` and the store of
    /// [`local_startup_details`] and [`local_store`], on two loopback ports. The error says
    /// which step failed.
    pub fn for_args(args: &TestArgs) -> Result<Self, String> {
        let details = local_startup_details(args)?;
        let store = local_store(args, &details)?;
        Self::bind(details, store).map_err(|e| format!("cannot listen on loopback: {e}"))
    }

    /// Sets the answer order.
    pub fn answer_order(mut self, order: AnswerOrder) -> Self {
        self.order = order;
        self
    }

    /// The comm address, as `--comm` takes it.
    pub fn comm_address(&self) -> io::Result<String> {
        Ok(self.comm.local_addr()?.to_string())
    }

    /// The logs address, as `--logs` takes it.
    pub fn logs_address(&self) -> io::Result<String> {
        Ok(self.logs.local_addr()?.to_string())
    }

    /// Starts serving on background threads. Each log line, masked, goes to `on_log` as it
    /// arrives.
    pub fn spawn(self, on_log: impl FnMut(&JsonMap) + Send + 'static) -> LocalHandle {
        let stop = Arc::new(AtomicBool::new(false));
        let Self {
            comm,
            logs,
            details,
            store,
            order,
        } = self;
        let masked = Arc::new(std::sync::Mutex::new(initial_secrets(&store)));
        let masks_for_logs = masked.clone();
        let stop_logs = stop.clone();
        let logs_thread =
            std::thread::spawn(move || collect_logs(logs, stop_logs, masks_for_logs, on_log));
        let stop_comm = stop.clone();
        let comm_thread =
            std::thread::spawn(move || serve_comm(comm, details, store, order, stop_comm, masked));
        LocalHandle {
            comm_thread,
            logs_thread,
            stop,
        }
    }
}

impl LocalHandle {
    /// Stops serving (after the run ended) and returns what happened.
    pub fn finish(self) -> io::Result<LocalReport> {
        self.stop.store(true, Ordering::SeqCst);
        let comm = self
            .comm_thread
            .join()
            .map_err(|_| io::Error::other("the local supervisor's comm thread panicked"))?;
        let logs = self
            .logs_thread
            .join()
            .map_err(|_| io::Error::other("the local supervisor's logs thread panicked"))?;
        let (store, requests, terminal, problems) = comm?;
        Ok(LocalReport {
            terminal,
            requests,
            store,
            logs,
            problems,
        })
    }
}

// How long to wait for the runtime to connect, and to poll the stop flag.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);
const BATCH_IDLE: Duration = Duration::from_millis(200);

fn accept(listener: &TcpListener, stop: &AtomicBool) -> io::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the task did not connect",
                    ));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

type CommResult = (
    LocalStore,
    Vec<ToSupervisor>,
    Option<ToSupervisor>,
    Vec<String>,
);

fn serve_comm(
    listener: TcpListener,
    details: StartupDetails,
    mut store: LocalStore,
    order: AnswerOrder,
    stop: Arc<AtomicBool>,
    masked: Arc<std::sync::Mutex<Vec<String>>>,
) -> io::Result<CommResult> {
    let mut stream = accept(&listener, &stop)?;
    stream.set_read_timeout(Some(POLL))?;
    let mut session = SupervisorSession::new(SupervisorConfig::default());
    session
        .send_startup(&details)
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut requests = Vec::new();
    let mut problems = Vec::new();
    let mut held: Vec<(i64, ToSupervisor)> = Vec::new();
    let mut answered = 0;
    let mut last_request = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if !held.is_empty()
            && last_request.elapsed() > BATCH_IDLE
            && matches!(order, AnswerOrder::ReversedBatches(_))
        {
            while let Some((id, body)) = held.pop() {
                answer(&mut session, &mut store, &details, id, &body);
            }
        }
        stream.write_all(session.transmit())?;
        let written = session.transmit().len();
        session.advance_transmit(written);
        match stream.read(&mut buf) {
            Ok(0) => session.handle_eof(),
            Ok(n) => session.handle_input(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            Err(_) => session.handle_eof(),
        }
        let mut closed = false;
        while let Some(event) = session.poll_event() {
            match event {
                SupervisorEvent::Request { id, body, .. } => {
                    last_request = Instant::now();
                    requests.push(body.clone());
                    if let ToSupervisor::MaskSecret(m::MaskSecret { value, .. }) = &body {
                        masked
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .extend(strings_in(value));
                    }
                    let answer_now = match order {
                        AnswerOrder::AsReceived => true,
                        AnswerOrder::AnswerFirst(first) => answered < first,
                        AnswerOrder::ReversedBatches(_) | AnswerOrder::NeverAnswer => false,
                    };
                    if body.is_terminal() || answer_now {
                        answered += usize::from(!body.is_terminal());
                        answer(&mut session, &mut store, &details, id, &body);
                        continue;
                    }
                    // Otherwise, under `NeverAnswer` or `AnswerFirst`, the request is
                    // recorded and dropped.
                    if let AnswerOrder::ReversedBatches(size) = order {
                        held.push((id, body));
                        if held.len() >= size {
                            while let Some((id, body)) = held.pop() {
                                answer(&mut session, &mut store, &details, id, &body);
                            }
                        }
                    }
                }
                SupervisorEvent::Unanswerable { id, reason } => {
                    problems.push(format!(
                        "request {id} would never be answered by Airflow: {reason}"
                    ));
                }
                SupervisorEvent::Closed { violation, .. } => {
                    if let Some(v) = violation {
                        problems.push(format!("the task broke the protocol: {v}"));
                    }
                    closed = true;
                }
            }
        }
        if closed {
            break;
        }
    }
    let _ = stream.write_all(session.transmit());
    let terminal = session.terminal_message().cloned();
    Ok((store, requests, terminal, problems))
}

fn answer(
    session: &mut SupervisorSession,
    store: &mut LocalStore,
    details: &StartupDetails,
    id: i64,
    body: &ToSupervisor,
) {
    let result = match respond(store, details, body) {
        Answer::Empty => session.respond(id, Response::Empty),
        Answer::Body(body) => session.respond(id, Response::Body(&body)),
        Answer::Error(error) => session.respond(id, Response::Error(&error)),
    };
    if let Err(e) = result {
        eprintln!("local supervisor: cannot answer request {id}: {e}");
    }
}

// Built and sent at once, one at a time: not worth boxing.
#[allow(clippy::large_enum_variant)]
enum Answer {
    Empty,
    Body(ToTask),
    Error(ErrorResponse),
}

fn not_found(error: ErrorType, detail: JsonValue) -> Answer {
    Answer::Body(ToTask::ErrorResponse(ErrorResponse {
        error,
        detail: detail.as_object().cloned(),
    }))
}

fn ok() -> Answer {
    Answer::Body(ToTask::OKResponse(m::OKResponse { ok: true }))
}

// What Airflow's supervisor and Execution API would answer, from the store.
fn respond(store: &mut LocalStore, details: &StartupDetails, body: &ToSupervisor) -> Answer {
    use ToSupervisor as S;
    match body {
        S::GetVariable(r) => match store.variables.get(r.key.as_str()) {
            Some(value) => Answer::Body(ToTask::VariableResult(m::VariableResult {
                key: r.key.clone(),
                value: Some(value.as_str().into()),
            })),
            None => not_found(ErrorType::VariableNotFound, serde_json::json!({"key": r.key})),
        },
        S::PutVariable(r) => {
            store.variables.insert(r.key.to_string(), r.value.clone().unwrap_or_default().to_string());
            Answer::Empty
        }
        S::DeleteVariable(r) => {
            store.variables.remove(r.key.as_str());
            ok()
        }
        S::GetVariableKeys(r) => {
            let keys: Vec<Text> = store
                .variables
                .keys()
                .filter(|k| r.prefix.as_deref().is_none_or(|p| k.starts_with(p)))
                .map(Text::from)
                .collect();
            let total = keys.len() as i64;
            let keys = keys
                .into_iter()
                .skip(r.offset.max(0) as usize)
                .take(r.limit.max(0) as usize)
                .collect();
            Answer::Body(ToTask::VariableKeysResult(m::VariableKeysResult { keys, total_entries: total }))
        }
        S::GetConnection(r) => match store.connections.get(r.conn_id.as_str()) {
            Some(c) => Answer::Body(ToTask::from(m::ConnectionResult {
                conn_id: c.conn_id.as_str().into(),
                conn_type: c.conn_type.as_str().into(),
                host: c.host.as_deref().map(Text::from),
                schema: c.schema.as_deref().map(Text::from),
                login: c.login.as_deref().map(Text::from),
                password: c.password().map(Text::from),
                port: c.port,
                extra: c.extra().map(Text::from),
            })),
            None => not_found(ErrorType::ConnectionNotFound, serde_json::json!({"conn_id": r.conn_id})),
        },
        S::GetXCom(r) => {
            let key = (r.dag_id.to_string(), r.run_id.to_string(), r.task_id.to_string(), r.key.to_string(), r.map_index.unwrap_or(-1));
            Answer::Body(ToTask::XComResult(m::XComResult {
                key: r.key.clone(),
                value: store.xcoms.get(&key).cloned().unwrap_or(JsonValue::Null),
            }))
        }
        S::SetXCom(r) => {
            let index = r.map_index.filter(|i| *i >= 0).unwrap_or(-1);
            store.xcoms.insert((r.dag_id.to_string(), r.run_id.to_string(), r.task_id.to_string(), r.key.to_string(), index), r.value.clone());
            Answer::Empty
        }
        S::DeleteXCom(r) => {
            store.xcoms.remove(&(r.dag_id.to_string(), r.run_id.to_string(), r.task_id.to_string(), r.key.to_string(), r.map_index.unwrap_or(-1)));
            Answer::Empty
        }
        S::GetXComCount(r) => {
            let len = mapped_values(store, &r.dag_id, &r.run_id, &r.task_id, &r.key).len() as i64;
            Answer::Body(ToTask::XComCountResponse(m::XComCountResponse { len }))
        }
        S::GetXComSequenceItem(r) => {
            let values = mapped_values(store, &r.dag_id, &r.run_id, &r.task_id, &r.key);
            let index = if r.offset < 0 { values.len() as i64 + r.offset } else { r.offset };
            match usize::try_from(index).ok().and_then(|i| values.get(i)) {
                Some(value) => Answer::Body(ToTask::XComSequenceIndexResult(m::XComSequenceIndexResult { root: (*value).clone() })),
                None => not_found(ErrorType::XcomNotFound, serde_json::json!({"offset": r.offset})),
            }
        }
        S::GetXComSequenceSlice(r) => {
            let values = mapped_values(store, &r.dag_id, &r.run_id, &r.task_id, &r.key);
            let root = python_slice(&values, r.start, r.stop, r.step).into_iter().map(|v| (*v).clone()).collect();
            Answer::Body(ToTask::XComSequenceSliceResult(m::XComSequenceSliceResult { root }))
        }
        S::GetTaskStateStore(r) => match store.task_state.get(r.key.as_str()) {
            Some(value) => Answer::Body(ToTask::TaskStateStoreResult(m::TaskStateStoreResult { value: value.clone() })),
            None => not_found(ErrorType::TaskStoreNotFound, serde_json::json!({"key": r.key})),
        },
        S::SetTaskStateStore(r) => {
            store.task_state.insert(r.key.to_string(), r.value.clone());
            ok()
        }
        S::DeleteTaskStateStore(r) => {
            store.task_state.remove(r.key.as_str());
            ok()
        }
        S::ClearTaskStateStore(_) => {
            store.task_state.clear();
            ok()
        }
        S::GetAssetStateStoreByName(m::GetAssetStateStoreByName { name: asset, key })
        | S::GetAssetStateStoreByUri(m::GetAssetStateStoreByUri { uri: asset, key }) => {
            match store.asset_state.get(&(asset.to_string(), key.to_string())) {
                Some(value) => Answer::Body(ToTask::AssetStateStoreResult(m::AssetStateStoreResult { value: value.clone() })),
                None => not_found(ErrorType::AssetStoreNotFound, serde_json::json!({"key": key})),
            }
        }
        S::SetAssetStateStoreByName(m::SetAssetStateStoreByName { name: asset, key, value })
        | S::SetAssetStateStoreByUri(m::SetAssetStateStoreByUri { uri: asset, key, value }) => {
            store.asset_state.insert((asset.to_string(), key.to_string()), value.clone());
            ok()
        }
        S::DeleteAssetStateStoreByName(m::DeleteAssetStateStoreByName { name: asset, key })
        | S::DeleteAssetStateStoreByUri(m::DeleteAssetStateStoreByUri { uri: asset, key }) => {
            store.asset_state.remove(&(asset.to_string(), key.to_string()));
            ok()
        }
        S::ClearAssetStateStoreByName(m::ClearAssetStateStoreByName { name: asset })
        | S::ClearAssetStateStoreByUri(m::ClearAssetStateStoreByUri { uri: asset }) => {
            store.asset_state.retain(|(a, _), _| a != asset);
            ok()
        }
        S::MaskSecret(_) => Answer::Empty,
        S::SetRenderedFields(_) | S::SetRenderedMapIndex(_) | S::SkipDownstreamTasks(_) => Answer::Empty,
        S::GetDagRunState(r) if r.dag_id == details.ti.dag_id && r.run_id == details.ti.run_id => {
            Answer::Body(ToTask::DagRunStateResult(m::DagRunStateResult { state: m::DagRunState::Running }))
        }
        S::GetDagRun(r) if r.dag_id == details.ti.dag_id && r.run_id == details.ti.run_id => {
            Answer::Body(ToTask::from(details.ti_context.dag_run.clone()))
        }
        terminal if terminal.is_terminal() => Answer::Empty,
        other => Answer::Error(ErrorResponse {
            error: ErrorType::ApiServerError,
            detail: serde_json::json!({
                "status_code": 501,
                "message": format!("{} is not available in a local run (there is no Airflow database)", other.type_name()),
            })
            .as_object()
            .cloned(),
        }),
    }
}

fn mapped_values<'a>(
    store: &'a LocalStore,
    dag: &str,
    run: &str,
    task: &str,
    key: &str,
) -> Vec<&'a JsonValue> {
    store
        .xcoms
        .iter()
        .filter(|((d, r, t, k, _), _)| d == dag && r == run && t == task && k == key)
        .map(|(_, v)| v)
        .collect()
}

fn python_slice<T>(
    items: &[T],
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
) -> Vec<&T> {
    let len = items.len() as i64;
    let step = step.unwrap_or(1);
    if step == 0 {
        return Vec::new();
    }
    let clamp = |i: i64, low: i64, high: i64| {
        if i < 0 {
            (i + len).max(low)
        } else {
            i.min(high)
        }
    };
    let mut out = Vec::new();
    if step > 0 {
        let mut i = start.map_or(0, |s| clamp(s, 0, len));
        let stop = stop.map_or(len, |s| clamp(s, 0, len));
        while i < stop {
            out.push(&items[i as usize]);
            i += step;
        }
    } else {
        let mut i = start.map_or(len - 1, |s| clamp(s, -1, len - 1));
        let stop = stop.map_or(-1, |s| clamp(s, -1, len - 1));
        while i > stop {
            out.push(&items[i as usize]);
            i += step;
        }
    }
    out
}

// Airflow masks values it fetched; the local supervisor masks what it serves.
fn initial_secrets(store: &LocalStore) -> Vec<String> {
    let mut secrets: Vec<String> = store.variables.values().cloned().collect();
    for connection in store.connections.values() {
        secrets.extend(connection.secrets().map(str::to_owned));
    }
    secrets
}

fn strings_in(value: &JsonValue) -> Vec<String> {
    match value {
        JsonValue::String(s) => vec![s.clone()],
        JsonValue::Array(items) => items.iter().flat_map(strings_in).collect(),
        JsonValue::Object(map) => map.values().flat_map(strings_in).collect(),
        _ => Vec::new(),
    }
}

// Like Airflow: values of five characters or fewer are not masked.
const MIN_MASKED_LEN: usize = 6;

fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_MASKED_LEN) {
        out = out.replace(secret.as_str(), "***");
    }
    out
}

fn collect_logs(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    masked: Arc<std::sync::Mutex<Vec<String>>>,
    mut on_log: impl FnMut(&JsonMap),
) -> Vec<JsonMap> {
    let mut lines = Vec::new();
    let Ok(stream) = accept(&listener, &stop) else {
        return lines;
    };
    let _ = stream.set_read_timeout(Some(POLL));
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) if line.ends_with(b"\n") => {
                let text = String::from_utf8_lossy(&line).into_owned();
                let secrets = masked.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let parsed = serde_json::from_str::<JsonValue>(&mask(text.trim_end(), &secrets));
                match parsed {
                    Ok(JsonValue::Object(map)) => {
                        on_log(&map);
                        lines.push(map);
                    }
                    _ => {
                        let mut map = JsonMap::new();
                        map.insert(
                            "event".into(),
                            JsonValue::String(format!("unparsable log line: {}", text.trim_end())),
                        );
                        on_log(&map);
                        lines.push(map);
                    }
                }
                line.clear();
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    lines
}

/// `StartupDetails` for a local run of `dag_id.task_id`.
pub fn local_startup_details(args: &TestArgs) -> Result<StartupDetails, String> {
    let now = Timestamp::from_system_time(SystemTime::now()).map_err(|e| e.to_string())?;
    let conf = match &args.conf {
        None => JsonMap::new(),
        Some(text) => match serde_json::from_str::<JsonValue>(text) {
            Ok(JsonValue::Object(map)) => map,
            _ => return Err(format!("--conf {text:?} is not a JSON object")),
        },
    };
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| format!("manual__{now}"));
    let details = serde_json::json!({
        "type": "StartupDetails",
        "ti": {
            "id": Uuid::from_bytes(*b"local-run-ti-id0").to_string(),
            "task_id": args.task_id, "dag_id": args.dag_id, "run_id": run_id,
            "try_number": args.try_number,
            "dag_version_id": Uuid::from_bytes(*b"local-dag-versio").to_string(),
            "map_index": args.map_index.unwrap_or(-1), "hostname": "localhost",
            "context_carrier": null, "queue": "default",
        },
        "dag_rel_path": "local.py",
        "bundle_info": {"name": "local", "version": null},
        "start_date": now.to_rfc3339(),
        "ti_context": {
            "dag_run": {
                "dag_id": args.dag_id, "run_id": run_id,
                "logical_date": now.to_rfc3339(), "data_interval_start": now.to_rfc3339(),
                "data_interval_end": now.to_rfc3339(), "run_after": now.to_rfc3339(),
                "start_date": now.to_rfc3339(), "end_date": null, "clear_number": 0,
                "run_type": "manual", "state": "running", "conf": conf,
                "consumed_asset_events": [], "partition_key": null,
            },
            "max_tries": args.max_tries,
            "should_retry": args.try_number < args.max_tries,
            "xcom_keys_to_clear": [],
        },
        "sentry_integration": "",
    });
    serde_json::from_value(details)
        .map_err(|e| format!("the local StartupDetails does not fit: {e}"))
}

/// The store of a local run, from the command line.
pub fn local_store(args: &TestArgs, details: &StartupDetails) -> Result<LocalStore, String> {
    let mut store = LocalStore::default();
    for (key, value) in &args.vars {
        store.variables.insert(key.clone(), value.clone());
    }
    for (id, value) in &args.conns {
        let connection =
            Connection::from_env_value(id, value).map_err(|e| format!("--conn {id}: {e}"))?;
        store.connections.insert(id.clone(), connection);
    }
    for (target, json) in &args.xcoms {
        let (task, key) = target
            .split_once(':')
            .unwrap_or((target.as_str(), "return_value"));
        let value: JsonValue =
            serde_json::from_str(json).map_err(|e| format!("--xcom {target}: not JSON: {e}"))?;
        store.xcoms.insert(
            (
                details.ti.dag_id.to_string(),
                details.ti.run_id.to_string(),
                task.to_owned(),
                key.to_owned(),
                -1,
            ),
            value,
        );
    }
    Ok(store)
}

fn print_line(line: &JsonMap) {
    let text = |k: &str| line.get(k).and_then(JsonValue::as_str).unwrap_or("");
    let time = text("timestamp").get(11..23).unwrap_or("");
    let mut out = format!(
        "{time} {:<8} {}: {}",
        text("level").to_uppercase(),
        text("logger"),
        text("event")
    );
    for (key, value) in line {
        if !matches!(
            key.as_str(),
            "timestamp"
                | "level"
                | "logger"
                | "event"
                | "exception"
                | "dag_id"
                | "task_id"
                | "run_id"
                | "try_number"
        ) {
            out.push_str(&format!(" {key}={value}"));
        }
    }
    if let Some(JsonValue::Array(chain)) = line.get("exception") {
        for (index, link) in chain.iter().enumerate() {
            let how = if index == 0 { "error" } else { "caused by" };
            out.push_str(&format!(
                "\n    {how} {}: {}",
                link["exc_type"].as_str().unwrap_or(""),
                link["exc_value"].as_str().unwrap_or("")
            ));
        }
    }
    println!("{out}");
}

/// Runs a task locally: `BUNDLE test DAG_ID TASK_ID`. Prints the task log and the outcome;
/// exits 0 for success, skip, deferral or reschedule, 1 for failure, retry or removal, 2
/// when the run could not be set up.
pub(crate) fn run(
    args: &TestArgs,
    stop_grace: Duration,
    run: impl FnOnce(Launch) -> Result<RunOutcome, LaunchError>,
) -> ExitCode {
    let supervisor = match LocalSupervisor::for_args(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (Ok(comm), Ok(logs)) = (supervisor.comm_address(), supervisor.logs_address()) else {
        eprintln!("error: cannot read the local listeners' addresses");
        return ExitCode::from(2);
    };
    println!(
        "running {}.{} locally (no Airflow)",
        args.dag_id, args.task_id
    );
    let handle = supervisor.spawn(print_line);
    let status = crate::serve::run_for_supervisor(&comm, &logs, stop_grace, run);
    let report = match handle.finish() {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: the local supervisor failed: {e}");
            return ExitCode::from(2);
        }
    };
    for problem in &report.problems {
        eprintln!("protocol problem: {problem}");
    }
    let (state, code) = match &report.terminal {
        Some(ToSupervisor::SucceedTask(_)) => ("success", 0),
        Some(ToSupervisor::TaskState(s)) => (
            s.state.as_str(),
            u8::from(s.state != m::TerminalState::Skipped),
        ),
        Some(ToSupervisor::RetryTask(_)) => ("up_for_retry", 1),
        Some(ToSupervisor::DeferTask(_)) => ("deferred", 0),
        Some(ToSupervisor::RescheduleTask(_)) => ("up_for_reschedule", 0),
        Some(ToSupervisor::AwaitInputTask(_)) => ("awaiting_input", 0),
        _ => ("no final state reported", 1),
    };
    println!("{}.{}: {state}", args.dag_id, args.task_id);
    for ((_, _, task, key, _), value) in &report.store.xcoms {
        if task == &args.task_id {
            println!("  XCom {key} = {value}");
        }
    }
    if status != ExitCode::SUCCESS {
        return status;
    }
    ExitCode::from(code)
}

/// A [`Launch`] connected to a local supervisor's comm socket, with default limits and an
/// empty override environment: for tests that drive an adapter's `run` in-process.
pub fn local_launch(supervisor: &LocalSupervisor, request_timeout: Duration) -> io::Result<Launch> {
    let comm = TcpStream::connect(supervisor.comm_address()?)?;
    let session = airflow_protocol::SessionConfig {
        request_timeout,
        ..Default::default()
    };
    Ok(Launch {
        comm,
        session,
        limits: crate::execute::RunLimits {
            request_timeout,
            stop_grace: Duration::ZERO,
        },
        cancellation: crate::context::Cancellation::new(),
        env: crate::connection::Environment::from_pairs(Vec::<(String, String)>::new()),
    })
}

/// Test arguments for `dag_id.task_id` with nothing else set.
pub fn test_args(dag_id: &str, task_id: &str) -> TestArgs {
    TestArgs {
        dag_id: dag_id.to_owned(),
        task_id: task_id.to_owned(),
        vars: Vec::new(),
        conns: Vec::new(),
        xcoms: Vec::new(),
        run_id: None,
        map_index: None,
        try_number: 1,
        max_tries: 1,
        conf: None,
    }
}
