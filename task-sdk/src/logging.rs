//! Task logs: `tracing` events (and `log` records, bridged) become JSON lines on the
//! supervisor's logs socket, which Airflow shows as the task log.
//!
//! Lines are filtered by the levels in the environment, written by one background thread,
//! buffered until the logs socket is connected, written to stderr instead if it cannot be,
//! and flushed before the process exits. The line format is the core's
//! [`airflow_protocol::log::LogEncoder`], which the supervisor cannot choke on.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use airflow_protocol::log::{ErrorLink, Level, LevelFilter, LogEncoder, LogLine};
use airflow_protocol::{JsonMap, JsonValue, Timestamp};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Most bytes kept while the logs socket is not connected; older lines beyond it are dropped
/// and the drop is reported when the socket connects.
pub const PRECONNECT_BUFFER_BYTES: usize = 8 * 1024 * 1024;

enum Message {
    Line(Vec<u8>),
    Attach(TcpStream),
    UseStderr(String),
    Flush(SyncSender<()>),
}

/// Where log lines go: a background writer thread. Cheap to clone.
#[derive(Clone)]
pub struct LogSink {
    tx: SyncSender<Message>,
}

impl fmt::Debug for LogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogSink")
    }
}

impl LogSink {
    /// Starts the writer thread. Lines are buffered until [`LogSink::attach`] or
    /// [`LogSink::use_stderr`].
    pub fn start() -> Self {
        // Bounded: a task that logs faster than the supervisor reads waits instead of
        // growing memory without limit. Nothing is dropped once connected.
        let (tx, rx) = mpsc::sync_channel(4096);
        std::thread::Builder::new()
            .name("airflow-logs".into())
            .spawn(move || write_loop(rx))
            .expect("the log writer thread starts");
        Self { tx }
    }

    /// Sends one finished line.
    pub fn write_line(&self, line: Vec<u8>) {
        // The writer only stops when every sink is dropped, so this cannot fail in use.
        let _ = self.tx.send(Message::Line(line));
    }

    /// Connects the logs socket: buffered lines are written to it, then every new line.
    pub fn attach(&self, stream: TcpStream) {
        let _ = self.tx.send(Message::Attach(stream));
    }

    /// The logs socket could not be connected: buffered and later lines go to stderr.
    pub fn use_stderr(&self, why: &str) {
        let _ = self.tx.send(Message::UseStderr(why.to_owned()));
    }

    /// Waits until every line sent so far is written, at most `timeout`. Returns whether it
    /// finished in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        if self.tx.send(Message::Flush(ack_tx)).is_err() {
            return false;
        }
        ack_rx.recv_timeout(timeout).is_ok()
    }
}

enum Target {
    Pending {
        lines: VecDeque<Vec<u8>>,
        bytes: usize,
        dropped: usize,
    },
    Socket(TcpStream),
    Stderr,
}

fn write_loop(rx: Receiver<Message>) {
    let mut target = Target::Pending {
        lines: VecDeque::new(),
        bytes: 0,
        dropped: 0,
    };
    for message in rx {
        match message {
            Message::Line(line) => write_to(&mut target, line),
            Message::Attach(mut stream) => {
                if let Target::Pending { lines, dropped, .. } =
                    std::mem::replace(&mut target, Target::Stderr)
                {
                    let mut ok = true;
                    if dropped > 0 {
                        let note = internal_line(Level::Warning, &format!("{dropped} log lines written before the logs socket connected were dropped (buffer full)"));
                        ok = stream.write_all(&note).is_ok();
                    }
                    let mut pending = lines.into_iter();
                    for line in pending.by_ref() {
                        if ok && stream.write_all(&line).is_err() {
                            ok = false;
                            let _ = std::io::stderr().write_all(&line);
                        } else if !ok {
                            let _ = std::io::stderr().write_all(&line);
                        }
                    }
                    target = if ok {
                        Target::Socket(stream)
                    } else {
                        Target::Stderr
                    };
                }
            }
            Message::UseStderr(why) => {
                let mut stderr = std::io::stderr();
                let _ = writeln!(stderr, "airflow task logs go to stderr: {why}");
                if let Target::Pending { lines, .. } =
                    std::mem::replace(&mut target, Target::Stderr)
                {
                    for line in lines {
                        let _ = stderr.write_all(&line);
                    }
                }
            }
            Message::Flush(ack) => {
                if let Target::Socket(stream) = &mut target {
                    let _ = stream.flush();
                }
                let _ = std::io::stderr().flush();
                let _ = ack.send(());
            }
        }
    }
}

fn write_to(target: &mut Target, line: Vec<u8>) {
    match target {
        Target::Pending {
            lines,
            bytes,
            dropped,
        } => {
            *bytes += line.len();
            lines.push_back(line);
            while *bytes > PRECONNECT_BUFFER_BYTES {
                match lines.pop_front() {
                    Some(old) => {
                        *bytes -= old.len();
                        *dropped += 1;
                    }
                    None => break,
                }
            }
        }
        Target::Socket(stream) => {
            if let Err(e) = stream.write_all(&line) {
                let mut stderr = std::io::stderr();
                let _ = writeln!(
                    stderr,
                    "airflow task logs go to stderr: the logs socket failed: {e}"
                );
                let _ = stderr.write_all(&line);
                *target = Target::Stderr;
            }
        }
        Target::Stderr => {
            let _ = std::io::stderr().write_all(&line);
        }
    }
}

fn internal_line(level: Level, message: &str) -> Vec<u8> {
    let mut encoder = LogEncoder::new();
    encoder
        .begin(now(), level, "airflow.sdk", message)
        .finish()
        .to_vec()
}

fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The `tracing` layer that turns events into task log lines.
pub struct AirflowLogLayer {
    filter: LevelFilter,
    sink: LogSink,
}

impl AirflowLogLayer {
    /// A layer writing to `sink` what `filter` lets through.
    pub fn new(filter: LevelFilter, sink: LogSink) -> Self {
        Self { filter, sink }
    }
}

fn level_of(level: &tracing::Level) -> Level {
    match *level {
        tracing::Level::TRACE => Level::Trace,
        tracing::Level::DEBUG => Level::Debug,
        tracing::Level::INFO => Level::Info,
        tracing::Level::WARN => Level::Warning,
        _ => Level::Error,
    }
}

/// Span fields, kept in the span's extensions and added to each event inside it.
struct SpanFields(Vec<(String, FieldValue)>);

#[derive(Clone)]
enum FieldValue {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl FieldValue {
    fn write(&self, line: &mut LogLine<'_>, key: &str) {
        match self {
            Self::Str(v) => line.str(key, v),
            Self::I64(v) => line.i64(key, *v),
            Self::U64(v) => line.u64(key, *v),
            Self::F64(v) => line.f64(key, *v),
            Self::Bool(v) => line.bool(key, *v),
        };
    }
}

#[derive(Default)]
struct Collected {
    message: Option<String>,
    fields: Vec<(String, FieldValue)>,
    errors: Vec<(String, String)>,
}

impl Visit for Collected {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else if !field.name().starts_with("log.") {
            self.fields
                .push((field.name().to_owned(), FieldValue::Str(text)));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else if !field.name().starts_with("log.") {
            self.fields
                .push((field.name().to_owned(), FieldValue::Str(value.to_owned())));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !field.name().starts_with("log.") {
            self.fields
                .push((field.name().to_owned(), FieldValue::I64(value)));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !field.name().starts_with("log.") {
            self.fields
                .push((field.name().to_owned(), FieldValue::U64(value)));
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields
            .push((field.name().to_owned(), FieldValue::F64(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .push((field.name().to_owned(), FieldValue::Bool(value)));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let chain = crate::error::error_chain(value);
        // The error's text also stays a plain field, so the line reads well without the
        // structured `exception`.
        let text = chain
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join(": ");
        self.fields
            .push((field.name().to_owned(), FieldValue::Str(text)));
        if self.errors.is_empty() {
            self.errors = chain;
        }
    }
}

thread_local! {
    static ENCODER: RefCell<LogEncoder> = RefCell::new(LogEncoder::new());
}

impl<S> Layer<S> for AirflowLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        // Spans are always kept: their fields decorate events that pass the filter.
        metadata.is_span()
            || self
                .filter
                .enabled(metadata.target(), level_of(metadata.level()))
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut collected = Collected::default();
        attrs.record(&mut collected);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(collected.fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut collected = Collected::default();
        values.record(&mut collected);
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(fields) = extensions.get_mut::<SpanFields>() {
                for (key, value) in collected.fields {
                    match fields.0.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value,
                        None => fields.0.push((key, value)),
                    }
                }
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // `log` records arrive through tracing-log with their real target and level here.
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let level = level_of(metadata.level());
        if !self.filter.enabled(metadata.target(), level) {
            return;
        }
        let mut collected = Collected::default();
        event.record(&mut collected);
        let message = collected.message.take().unwrap_or_default();
        let line = ENCODER.with(|encoder| {
            let mut encoder = encoder.borrow_mut();
            let mut line = encoder.begin(now(), level, metadata.target(), &message);
            for (key, value) in &collected.fields {
                value.write(&mut line, key);
            }
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope.from_root() {
                    if let Some(fields) = span.extensions().get::<SpanFields>() {
                        for (key, value) in &fields.0 {
                            value.write(&mut line, key);
                        }
                    }
                }
            }
            let links: Vec<ErrorLink<'_>> = collected
                .errors
                .iter()
                .map(|(type_name, message)| ErrorLink { type_name, message })
                .collect();
            line.exception(&links);
            line.finish().to_vec()
        });
        self.sink.write_line(line);
    }
}

static INSTALLED: OnceLock<LogSink> = OnceLock::new();

/// Installs the task-log layer as the global `tracing` subscriber, bridges the `log` crate,
/// and reads the level filter from `AIRFLOW__LOGGING__LOGGING_LEVEL` and
/// `AIRFLOW__LOGGING__NAMESPACE_LEVELS` through `lookup`. Returns the sink to attach the
/// logs socket to. Calling it again returns the first sink.
pub fn install(lookup: impl Fn(&str) -> Option<String>) -> LogSink {
    if let Some(sink) = INSTALLED.get() {
        return sink.clone();
    }
    let (filter, warnings) = LevelFilter::from_lookup(lookup);
    let sink = LogSink::start();
    let lowest = filter.lowest_threshold();
    let layer = AirflowLogLayer::new(filter, sink.clone());
    let subscriber =
        tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        let max = match lowest {
            0..=5 => tracing_log::log::LevelFilter::Trace,
            6..=10 => tracing_log::log::LevelFilter::Debug,
            11..=20 => tracing_log::log::LevelFilter::Info,
            21..=30 => tracing_log::log::LevelFilter::Warn,
            _ => tracing_log::log::LevelFilter::Error,
        };
        let _ = tracing_log::LogTracer::builder().with_max_level(max).init();
    } else {
        let _ = writeln!(std::io::stderr(), "airflow task logs: another tracing subscriber is already installed; task logs follow it");
    }
    for warning in warnings {
        tracing::warn!(target: "airflow.sdk", "{warning}");
    }
    let _ = INSTALLED.set(sink.clone());
    INSTALLED.get().cloned().unwrap_or(sink)
}

/// Fields of an event as JSON, for tests and tools that want the structured form.
pub fn line_to_json(line: &[u8]) -> Option<JsonMap> {
    match serde_json::from_slice::<JsonValue>(line).ok()? {
        JsonValue::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn line(text: &str) -> Vec<u8> {
        internal_line(Level::Info, text)
    }

    #[test]
    fn lines_before_the_socket_connects_are_kept_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sink = LogSink::start();
        sink.write_line(line("first"));
        sink.write_line(line("second"));
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        sink.attach(stream);
        sink.write_line(line("third"));
        assert!(sink.flush(Duration::from_secs(5)));
        drop(sink);
        accepted
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&received).contains("third") {
            let n = accepted.read(&mut buf).unwrap();
            assert!(n > 0, "the sink closed early");
            received.extend_from_slice(&buf[..n]);
        }
        let events: Vec<String> = String::from_utf8(received)
            .unwrap()
            .lines()
            .map(|l| {
                line_to_json(l.as_bytes()).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(events, ["first", "second", "third"]);
    }

    #[test]
    fn a_full_preconnect_buffer_drops_the_oldest_and_says_so() {
        let mut target = Target::Pending {
            lines: VecDeque::new(),
            bytes: 0,
            dropped: 0,
        };
        let big = vec![b'x'; PRECONNECT_BUFFER_BYTES / 3 + 1];
        for _ in 0..4 {
            write_to(&mut target, big.clone());
        }
        match target {
            Target::Pending {
                lines,
                bytes,
                dropped,
            } => {
                assert_eq!(dropped, 2);
                assert_eq!(lines.len(), 2);
                assert!(bytes <= PRECONNECT_BUFFER_BYTES);
            }
            _ => panic!("still pending"),
        }
    }

    #[test]
    fn layer_writes_filtered_lines_with_span_fields_and_error_chains() {
        use tracing_subscriber::layer::SubscriberExt;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sink = LogSink::start();
        sink.attach(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
        let (mut accepted, _) = listener.accept().unwrap();
        let (filter, _) = LevelFilter::from_env_values(Some("INFO"), Some("quiet=ERROR"));
        let subscriber =
            tracing_subscriber::registry().with(AirflowLogLayer::new(filter, sink.clone()));
        #[derive(Debug)]
        struct Inner;
        impl fmt::Display for Inner {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("inner cause")
            }
        }
        impl std::error::Error for Inner {}
        #[derive(Debug)]
        struct Outer(Inner);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("outer failure")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("run", run_id = "r1");
            let _entered = span.enter();
            tracing::debug!("dropped by the INFO threshold");
            tracing::warn!(target: "quiet::inner", "dropped by the namespace threshold");
            let error = Outer(Inner);
            tracing::error!(
                error = &error as &(dyn std::error::Error + 'static),
                n = 5,
                "kept"
            );
        });
        assert!(sink.flush(Duration::from_secs(5)));
        accepted
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = accepted.read(&mut buf) {
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
        }
        let lines: Vec<JsonMap> = String::from_utf8(received)
            .unwrap()
            .lines()
            .map(|l| line_to_json(l.as_bytes()).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let kept = &lines[0];
        assert_eq!(kept["event"], "kept");
        assert_eq!(kept["level"], "error");
        assert_eq!(kept["run_id"], "r1");
        assert_eq!(kept["n"], 5);
        assert_eq!(kept["error"], "outer failure: inner cause");
        assert_eq!(kept["exception"][1]["exc_value"], "inner cause");
        assert_eq!(kept["exception"][1]["is_cause"], true);
    }
}
