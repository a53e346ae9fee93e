//! Log lines for the supervisor's logs socket, and level filtering.
//!
//! The supervisor reads one JSON object per line and crashes on some of them: a line without
//! `level`, a top-level value that is not an object, a `timestamp` that is not RFC 3339 text,
//! and keys that collide with its own call (`msg`, `target`, `self`). It silently drops lines
//! whose level is not a lower-case structlog name. [`LogEncoder`] can only write lines it
//! accepts: the canonical keys come first and are always well-formed, and user fields whose
//! names collide with a reserved key are renamed with a trailing `_`, never dropped.
//!
//! The supervisor forwards everything; filtering is the runtime's job. [`LevelFilter`] reads
//! the two environment variables the supervisor passes, `AIRFLOW__LOGGING__LOGGING_LEVEL` and
//! `AIRFLOW__LOGGING__NAMESPACE_LEVELS`, with the same rules as Airflow's own parser.

use std::fmt::Write as _;

use crate::json::JsonValue;
use crate::time::Timestamp;

/// Environment variable with the default level, e.g. `INFO`.
pub const LOGGING_LEVEL_ENV: &str = "AIRFLOW__LOGGING__LOGGING_LEVEL";
/// Environment variable with per-logger levels, e.g. `sqlalchemy=WARNING, my.module=DEBUG`.
pub const NAMESPACE_LEVELS_ENV: &str = "AIRFLOW__LOGGING__NAMESPACE_LEVELS";

/// Keys the runtime writes itself or the supervisor uses; user fields with these names are
/// renamed. `msg`, `target` and `self` collide with the supervisor's call to its logger;
/// `error_detail` is what `exception` becomes.
pub const RESERVED_KEYS: &[&str] = &[
    "timestamp",
    "level",
    "event",
    "logger",
    "msg",
    "target",
    "self",
    "exception",
    "error_detail",
];

/// A record's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Finer than debug; written as `debug` and shown only when the threshold is below
    /// debug (numeric levels under 10, or `notset`).
    Trace,
    /// `debug` (10).
    Debug,
    /// `info` (20).
    Info,
    /// `warning` (30).
    Warning,
    /// `error` (40).
    Error,
    /// `critical` (50).
    Critical,
}

impl Level {
    /// The level name the supervisor accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace | Self::Debug => "debug",
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
        }
    }

    /// The Python logging number of this level (trace is 5).
    pub fn number(self) -> u8 {
        match self {
            Self::Trace => 5,
            Self::Debug => 10,
            Self::Info => 20,
            Self::Warning => 30,
            Self::Error => 40,
            Self::Critical => 50,
        }
    }
}

/// Reads a level as Airflow does: a structlog name in any case (`critical`, `exception`,
/// `error`, `warn`, `warning`, `info`, `debug`, `notset`) or a number.
pub fn parse_level(text: &str) -> Option<u8> {
    let text = text.trim();
    match text.to_ascii_lowercase().as_str() {
        "critical" | "fatal" => Some(50),
        "exception" | "error" => Some(40),
        "warn" | "warning" => Some(30),
        "info" => Some(20),
        "debug" => Some(10),
        "notset" => Some(0),
        _ => text.parse::<u8>().ok(),
    }
}

/// Which records to send: a default threshold and thresholds per logger namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelFilter {
    default: u8,
    // Sorted longest name first, so the first match is the most specific.
    namespaces: Vec<(String, u8)>,
}

impl Default for LevelFilter {
    /// `info` for everything, Airflow's default.
    fn default() -> Self {
        Self {
            default: 20,
            namespaces: Vec::new(),
        }
    }
}

impl LevelFilter {
    /// A filter with one threshold (a Python level number) for every logger.
    pub fn with_default(threshold: u8) -> Self {
        Self {
            default: threshold,
            namespaces: Vec::new(),
        }
    }

    /// Reads the two values the supervisor passes in the environment. Returns the filter and
    /// one message per entry that was ignored, for the caller to log.
    pub fn from_env_values(
        logging_level: Option<&str>,
        namespace_levels: Option<&str>,
    ) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let mut filter = Self::default();
        if let Some(text) = logging_level.filter(|t| !t.trim().is_empty()) {
            match parse_level(text) {
                Some(level) => filter.default = level,
                None => warnings.push(format!(
                    "ignoring {LOGGING_LEVEL_ENV}={text:?}: not a level name"
                )),
            }
        }
        for entry in namespace_levels
            .unwrap_or("")
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|e| !e.is_empty())
        {
            let Some((name, level)) = entry.split_once('=') else {
                warnings.push(format!(
                    "ignoring namespace level entry {entry:?}: expected <logger>=<level>"
                ));
                continue;
            };
            let name = name.trim();
            if name.is_empty() {
                warnings.push(format!(
                    "ignoring namespace level entry {entry:?}: the logger name is empty"
                ));
                continue;
            }
            match parse_level(level) {
                Some(level) => filter.set_namespace(name, level),
                None => warnings.push(format!(
                    "ignoring namespace level entry {entry:?}: {level:?} is not a level name"
                )),
            }
        }
        (filter, warnings)
    }

    /// Reads `AIRFLOW__LOGGING__LOGGING_LEVEL` and `AIRFLOW__LOGGING__NAMESPACE_LEVELS` from
    /// a lookup function (the environment, in an adapter).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> (Self, Vec<String>) {
        Self::from_env_values(
            lookup(LOGGING_LEVEL_ENV).as_deref(),
            lookup(NAMESPACE_LEVELS_ENV).as_deref(),
        )
    }

    /// Sets the threshold of a logger namespace (dotted; `::` is read as `.`).
    pub fn set_namespace(&mut self, name: &str, threshold: u8) {
        let name = name.replace("::", ".");
        self.namespaces.retain(|(n, _)| *n != name);
        self.namespaces.push((name, threshold));
        self.namespaces
            .sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    }

    /// The threshold that applies to a logger: that of the longest namespace that is the
    /// logger itself or a dotted parent of it, else the default.
    pub fn threshold(&self, logger: &str) -> u8 {
        for (name, threshold) in &self.namespaces {
            if namespace_contains(name, logger) {
                return *threshold;
            }
        }
        self.default
    }

    /// Whether a record of `level` from `logger` is sent.
    pub fn enabled(&self, logger: &str, level: Level) -> bool {
        level.number() >= self.threshold(logger)
    }

    /// The lowest threshold anywhere: nothing below it is ever sent.
    pub fn lowest_threshold(&self) -> u8 {
        self.namespaces
            .iter()
            .map(|(_, t)| *t)
            .fold(self.default, u8::min)
    }
}

// Whether `logger` is `name` or below it, with `.` or `::` as separators.
fn namespace_contains(name: &str, logger: &str) -> bool {
    let mut logger_segments = segments(logger);
    segments(name).all(|wanted| logger_segments.next() == Some(wanted))
}

fn segments(name: &str) -> impl Iterator<Item = &str> {
    name.split("::").flat_map(|part| part.split('.'))
}

/// One link of an error chain, for the `exception` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorLink<'a> {
    /// A type name for the error (shown as the exception type).
    pub type_name: &'a str,
    /// Its message.
    pub message: &'a str,
}

/// Writes log lines into a buffer reused from line to line.
#[derive(Debug, Default)]
pub struct LogEncoder {
    line: Vec<u8>,
    // The user keys of the current line, as ranges of `names`, to rename repeats.
    names: String,
    keys: Vec<(usize, usize)>,
    // Whether the current line has its `exception` key.
    has_exception: bool,
}

impl LogEncoder {
    /// An encoder with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a line with the canonical keys, in the order Airflow's own runtime writes them.
    /// The logger name is written with `.` for `::`.
    pub fn begin(
        &mut self,
        timestamp: Timestamp,
        level: Level,
        logger: &str,
        event: &str,
    ) -> LogLine<'_> {
        self.line.clear();
        self.names.clear();
        self.keys.clear();
        self.has_exception = false;
        self.line.extend_from_slice(b"{\"timestamp\":\"");
        let mut text = String::with_capacity(32);
        timestamp
            .write_rfc3339(&mut text)
            .expect("writing to a String cannot fail");
        self.line.extend_from_slice(text.as_bytes());
        self.line.extend_from_slice(b"\",\"level\":\"");
        self.line.extend_from_slice(level.as_str().as_bytes());
        self.line.extend_from_slice(b"\",\"event\":");
        write_json_str(&mut self.line, event);
        self.line.extend_from_slice(b",\"logger\":");
        if logger.contains("::") {
            write_json_str(&mut self.line, &logger.replace("::", "."));
        } else {
            write_json_str(&mut self.line, logger);
        }
        LogLine { encoder: self }
    }
}

/// A line being written; add fields, then [`finish`](Self::finish) it.
#[derive(Debug)]
pub struct LogLine<'a> {
    encoder: &'a mut LogEncoder,
}

impl<'a> LogLine<'a> {
    /// Ends the line (`}` and a newline) and returns its bytes.
    pub fn finish(self) -> &'a [u8] {
        let encoder = self.encoder;
        encoder.line.extend_from_slice(b"}\n");
        &encoder.line
    }

    /// Adds a string field.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        write_json_str(&mut self.encoder.line, value);
        self
    }

    /// Adds an integer field.
    pub fn i64(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key);
        let _ = write!(LineWriter(&mut self.encoder.line), "{value}");
        self
    }

    /// Adds an unsigned integer field.
    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        let _ = write!(LineWriter(&mut self.encoder.line), "{value}");
        self
    }

    /// Adds a number field; a non-finite value is written as its text.
    pub fn f64(&mut self, key: &str, value: f64) -> &mut Self {
        if !value.is_finite() {
            return self.str(key, &value.to_string());
        }
        self.key(key);
        let _ = write!(LineWriter(&mut self.encoder.line), "{value:?}");
        self
    }

    /// Adds a boolean field.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.encoder
            .line
            .extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// Adds a JSON field.
    pub fn json(&mut self, key: &str, value: &JsonValue) -> &mut Self {
        self.key(key);
        serde_json::to_writer(&mut self.encoder.line, value).expect("a JSON value always encodes");
        self
    }

    /// Adds an error chain as `exception`, in the shape of structlog's dict tracebacks: the
    /// outermost error first, each cause after it. A further chain on the same line is
    /// written under a renamed key (`exception_`), like any repeated key.
    pub fn exception(&mut self, chain: &[ErrorLink<'_>]) -> &mut Self {
        if chain.is_empty() {
            return self;
        }
        if self.encoder.has_exception {
            self.key("exception");
        } else {
            self.encoder.has_exception = true;
            self.encoder.line.extend_from_slice(b",\"exception\":");
        }
        let line = &mut self.encoder.line;
        line.push(b'[');
        for (index, link) in chain.iter().enumerate() {
            if index > 0 {
                line.push(b',');
            }
            line.extend_from_slice(b"{\"exc_type\":");
            write_json_str(line, link.type_name);
            line.extend_from_slice(b",\"exc_value\":");
            write_json_str(line, link.message);
            line.extend_from_slice(b",\"exc_notes\":[],\"syntax_error\":null,\"is_cause\":");
            line.extend_from_slice(if index > 0 { b"true" } else { b"false" });
            line.extend_from_slice(b",\"frames\":[],\"is_group\":false,\"exceptions\":[]}");
        }
        line.push(b']');
        self
    }

    // Writes `,"key":`, renaming a reserved or repeated key with trailing underscores.
    fn key(&mut self, key: &str) {
        let encoder = &mut *self.encoder;
        let mut name = std::borrow::Cow::Borrowed(key);
        while RESERVED_KEYS.contains(&name.as_ref())
            || encoder
                .keys
                .iter()
                .any(|&(start, end)| encoder.names[start..end] == *name)
        {
            name.to_mut().push('_');
        }
        let start = encoder.names.len();
        encoder.names.push_str(&name);
        encoder.keys.push((start, encoder.names.len()));
        encoder.line.push(b',');
        write_json_str(&mut encoder.line, &name);
        encoder.line.push(b':');
    }
}

struct LineWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn write_json_str(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("a string always encodes");
}

#[cfg(test)]
mod tests {
    use super::*;

    // Found by the `log_encoder` fuzz target (corpus seed `seed-two-error-chains`): a second
    // error chain on one line wrote a second `exception` key, and a JSON reader keeps only
    // one of them.
    #[test]
    fn a_second_error_chain_gets_its_own_key() {
        let mut encoder = LogEncoder::new();
        let first = [ErrorLink {
            type_name: "ValueError",
            message: "first",
        }];
        let second = [ErrorLink {
            type_name: "IoError",
            message: "second",
        }];
        let mut line = encoder.begin(Timestamp::UNIX_EPOCH, Level::Error, "task", "failed");
        line.exception(&first)
            .str("exception", "a user field")
            .exception(&second);
        let text = std::str::from_utf8(line.finish()).unwrap();
        // Top-level keys in order (serde_json keeps the order); a duplicate would collapse.
        let value: JsonValue = serde_json::from_str(text).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| k.starts_with("exception"))
            .collect();
        assert_eq!(text.matches("\"exception\":").count(), 1, "{text}");
        assert_eq!(keys, ["exception", "exception_", "exception__"], "{text}");
        assert_eq!(value["exception"][0]["exc_value"], "first");
        assert_eq!(value["exception_"], "a user field");
        assert_eq!(value["exception__"][0]["exc_value"], "second");

        // The next line starts afresh.
        let line = encoder.begin(Timestamp::UNIX_EPOCH, Level::Info, "task", "again");
        let text = std::str::from_utf8(line.finish()).unwrap().to_owned();
        let mut line = encoder.begin(Timestamp::UNIX_EPOCH, Level::Info, "task", "again");
        line.exception(&second);
        let again = std::str::from_utf8(line.finish()).unwrap();
        assert!(!text.contains("exception"));
        assert!(again.contains("\"exception\":[") && !again.contains("exception_"));
    }
}
