//! Errors: what a task returns to end differently than success, and what the client reports.

use std::fmt;
use std::time::Duration;

use airflow_protocol::messages::{ErrorResponse, ErrorType};
use airflow_protocol::{JsonMap, JsonValue, LocalError, ReplyError, Timestamp};

use crate::runtime::ExchangeError;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How a task ends when it does not succeed. Return it as `Err(...)`; any error type
/// converts into a [`TaskError::failure`] with `?`.
///
/// | returned | sent to the supervisor |
/// |---|---|
/// | any error, [`TaskError::msg`] | `RetryTask` if the run context says it should retry, else `TaskState failed` |
/// | [`TaskError::fail_without_retry`] | `TaskState failed`, even when retries remain |
/// | [`TaskError::retry`] | `RetryTask` with its delay and reason (when retries remain; else `TaskState failed`) |
/// | [`TaskError::skip`] | `TaskState skipped` |
/// | [`TaskError::defer`] | `DeferTask` |
/// | [`TaskError::reschedule`] | `RescheduleTask` |
pub struct TaskError {
    // Boxed: task results travel as `Result<T, TaskError>`, which stays small this way.
    kind: Box<TaskErrorKind>,
}

/// What a [`TaskError`] asks for.
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskErrorKind {
    /// The task failed; retried if retries remain.
    Failed(BoxError),
    /// The task failed and must not be retried.
    FailedWithoutRetry(BoxError),
    /// Retry, with an optional delay and reason.
    Retry {
        /// Overrides the task's retry delay.
        delay: Option<Duration>,
        /// Shown in the task log and sent to the server.
        reason: Option<String>,
    },
    /// Skip the task.
    Skip {
        /// Why, for the task log.
        reason: Option<String>,
    },
    /// Defer to a trigger.
    Defer(Defer),
    /// Run again at a later time.
    Reschedule {
        /// When.
        at: Timestamp,
    },
}

impl TaskError {
    fn new(kind: TaskErrorKind) -> Self {
        Self {
            kind: Box::new(kind),
        }
    }

    /// A failure with a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::failure(MessageError(message.to_string()))
    }

    /// A failure caused by `error`; its whole `source()` chain goes to the task log.
    pub fn failure(error: impl Into<BoxError>) -> Self {
        Self::new(TaskErrorKind::Failed(error.into()))
    }

    /// A failure that must not be retried (Airflow's `AirflowFailException`).
    pub fn fail_without_retry(error: impl Into<BoxError>) -> Self {
        Self::new(TaskErrorKind::FailedWithoutRetry(error.into()))
    }

    /// Ask for a retry with the task's own delay.
    pub fn retry() -> Self {
        Self::new(TaskErrorKind::Retry {
            delay: None,
            reason: None,
        })
    }

    /// Skip the task.
    pub fn skip(reason: impl Into<String>) -> Self {
        Self::new(TaskErrorKind::Skip {
            reason: Some(reason.into()),
        })
    }

    /// Defer to a trigger; the task is resumed with `next_method` when it fires.
    pub fn defer(defer: Defer) -> Self {
        Self::new(TaskErrorKind::Defer(defer))
    }

    /// Run the task again at `at` (a sensor's reschedule mode).
    pub fn reschedule(at: Timestamp) -> Self {
        Self::new(TaskErrorKind::Reschedule { at })
    }

    /// For [`TaskError::retry`]: wait this long before the retry.
    pub fn after(mut self, delay: Duration) -> Self {
        if let TaskErrorKind::Retry { delay: d, .. } = &mut *self.kind {
            *d = Some(delay);
        }
        self
    }

    /// For [`TaskError::retry`]: the reason to record.
    pub fn because(mut self, why: impl Into<String>) -> Self {
        if let TaskErrorKind::Retry { reason, .. } = &mut *self.kind {
            *reason = Some(why.into());
        }
        self
    }

    /// What this error asks for.
    pub fn kind(&self) -> &TaskErrorKind {
        &self.kind
    }

    /// Consumes the error into what it asks for.
    pub fn into_kind(self) -> TaskErrorKind {
        *self.kind
    }

    /// The error and its causes, outermost first, as `(type name, message)` pairs. Empty for
    /// the kinds that are not failures.
    pub fn chain(&self) -> Vec<(String, String)> {
        match &*self.kind {
            TaskErrorKind::Failed(e) | TaskErrorKind::FailedWithoutRetry(e) => error_chain(&**e),
            _ => Vec::new(),
        }
    }
}

/// Every error of a chain as `(type name, message)`, outermost first.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        out.push((error_type_name(e), e.to_string()));
        current = e.source();
    }
    out
}

// A readable type name for an error, from its Debug form when that starts with a name.
fn error_type_name(error: &dyn std::error::Error) -> String {
    let debug = format!("{error:?}");
    let name: String = debug
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    if name.is_empty() || name.chars().next().is_some_and(|c| !c.is_uppercase()) {
        "Error".to_owned()
    } else {
        name
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.kind {
            TaskErrorKind::Failed(e) | TaskErrorKind::FailedWithoutRetry(e) => {
                write!(f, "{e}")?;
                let mut source = e.source();
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            TaskErrorKind::Retry { reason, .. } => {
                write!(f, "retry requested")?;
                if let Some(reason) = reason {
                    write!(f, ": {reason}")?;
                }
                Ok(())
            }
            TaskErrorKind::Skip { reason } => {
                write!(f, "skipped")?;
                if let Some(reason) = reason {
                    write!(f, ": {reason}")?;
                }
                Ok(())
            }
            TaskErrorKind::Defer(defer) => write!(f, "deferred to {}", defer.classpath),
            TaskErrorKind::Reschedule { at } => write!(f, "rescheduled to {at}"),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for TaskError {
    fn from(error: E) -> Self {
        Self::failure(error)
    }
}

#[cfg(feature = "anyhow")]
impl TaskError {
    /// A failure from an `anyhow::Error`, keeping its chain.
    pub fn from_anyhow(error: anyhow::Error) -> Self {
        Self::failure(Box::<dyn std::error::Error + Send + Sync>::from(error))
    }
}

/// A plain message as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError(pub String);

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MessageError {}

/// A deferral: which Python trigger to run and how to resume.
#[derive(Debug, Clone, PartialEq)]
pub struct Defer {
    /// The trigger's Python class path.
    pub classpath: String,
    /// The trigger's keyword arguments (plain JSON, or airflow-serde wrapped values).
    pub kwargs: JsonMap,
    /// The method name the task resumes with; see `TaskContext::resume`.
    pub next_method: String,
    /// Keyword arguments passed back on resume.
    pub next_kwargs: Option<JsonMap>,
    /// How long the trigger may wait before the task fails.
    pub timeout: Option<Duration>,
}

impl Defer {
    /// A deferral to the trigger at `classpath`, resuming with `next_method`.
    pub fn new(classpath: impl Into<String>, next_method: impl Into<String>) -> Self {
        Self {
            classpath: classpath.into(),
            kwargs: JsonMap::new(),
            next_method: next_method.into(),
            next_kwargs: None,
            timeout: None,
        }
    }

    /// Adds a trigger keyword argument.
    pub fn kwarg(mut self, name: impl Into<String>, value: impl Into<JsonValue>) -> Self {
        self.kwargs.insert(name.into(), value.into());
        self
    }

    /// Adds a keyword argument for the resume.
    pub fn next_kwarg(mut self, name: impl Into<String>, value: impl Into<JsonValue>) -> Self {
        self.next_kwargs
            .get_or_insert_with(JsonMap::new)
            .insert(name.into(), value.into());
        self
    }

    /// Fails the task if the trigger has not fired within `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Airflow's `TimeDeltaTrigger`-free way to wait: the standard provider's
    /// `DateTimeTrigger`, firing at `moment`.
    pub fn until(moment: Timestamp, next_method: impl Into<String>) -> Self {
        Self::new(
            "airflow.providers.standard.triggers.temporal.DateTimeTrigger",
            next_method,
        )
        .kwarg("moment", serde_datetime(moment))
    }
}

/// A datetime in Airflow's serde envelope, as trigger kwargs need it.
pub fn serde_datetime(moment: Timestamp) -> JsonValue {
    serde_json::json!({
        "__classname__": "pendulum.datetime.DateTime",
        "__version__": 2,
        "__data__": {
            "timestamp": moment.unix_seconds() as f64 + f64::from(moment.subsec_nanos()) / 1e9,
            "tz": {"__classname__": "builtins.tuple", "__version__": 1, "__data__": ["UTC", "pendulum.tz.timezone.Timezone", 1, true]},
        },
    })
}

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientError {
    /// The thing asked for does not exist.
    NotFound {
        /// What kind of thing.
        kind: NotFound,
        /// Its key or id.
        key: String,
    },
    /// The supervisor or the Execution API refused or failed the request.
    Api {
        /// The error kind the supervisor reported.
        error: ErrorType,
        /// The HTTP status, when the Execution API answered one.
        status: Option<u16>,
        /// A message for humans.
        message: String,
        /// The full details.
        detail: Option<JsonMap>,
    },
    /// No answer within the request's bound.
    TimedOut {
        /// The request type.
        request: &'static str,
        /// The bound.
        after: Duration,
    },
    /// The connection to the supervisor is gone.
    Disconnected(String),
    /// The answer was not what the request expects.
    UnexpectedReply {
        /// The request type.
        request: &'static str,
        /// What came back.
        got: String,
    },
    /// A value could not be converted to or from JSON.
    Serde(String),
    /// The request was not sent: misuse, or a value the supervisor would refuse.
    Refused(String),
}

/// Kinds of things that may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotFound {
    /// A variable.
    Variable,
    /// A connection.
    Connection,
    /// An XCom, or an item of a mapped XCom.
    XCom,
    /// An asset.
    Asset,
    /// A task-state-store key.
    TaskState,
    /// An asset-state-store key.
    AssetState,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Variable => "variable",
            Self::Connection => "connection",
            Self::XCom => "XCom",
            Self::Asset => "asset",
            Self::TaskState => "task state key",
            Self::AssetState => "asset state key",
        })
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { kind, key } => write!(f, "{kind} {key:?} not found"),
            Self::Api {
                error,
                status,
                message,
                ..
            } => {
                write!(f, "{error}")?;
                if let Some(status) = status {
                    write!(f, " (HTTP {status})")?;
                }
                write!(f, ": {message}")
            }
            Self::TimedOut { request, after } => write!(
                f,
                "no answer to {request} from the supervisor within {:.1} s",
                after.as_secs_f64()
            ),
            Self::Disconnected(why) => write!(f, "supervisor connection lost: {why}"),
            Self::UnexpectedReply { request, got } => {
                write!(f, "unexpected answer to {request}: {got}")
            }
            Self::Serde(why) => write!(f, "value conversion failed: {why}"),
            Self::Refused(why) => write!(f, "request refused locally: {why}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    /// Whether this is a "not found" error.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// The error for an `ErrorResponse`, with `key` naming what was asked for.
    pub fn from_error_response(error: ErrorResponse, key: &str) -> Self {
        let not_found = match error.error {
            ErrorType::VariableNotFound => Some(NotFound::Variable),
            ErrorType::ConnectionNotFound => Some(NotFound::Connection),
            ErrorType::XcomNotFound => Some(NotFound::XCom),
            ErrorType::AssetNotFound => Some(NotFound::Asset),
            ErrorType::TaskStoreNotFound => Some(NotFound::TaskState),
            ErrorType::AssetStoreNotFound => Some(NotFound::AssetState),
            _ => None,
        };
        if let Some(kind) = not_found {
            return Self::NotFound {
                kind,
                key: key.to_owned(),
            };
        }
        let status = error.status_code();
        let message = match error.message() {
            Some(message) => message.to_owned(),
            None => error
                .detail
                .as_ref()
                .map(|d| JsonValue::Object(d.clone()).to_string())
                .unwrap_or_else(|| error.error.to_string()),
        };
        Self::Api {
            error: error.error,
            status,
            message,
            detail: error.detail,
        }
    }

    /// The error for a request that got no successful answer.
    pub fn from_reply_error(error: ExchangeError, request: &'static str, key: &str) -> Self {
        let error = match error {
            ExchangeError::Local(local) => return Self::from(local),
            ExchangeError::Remote(remote) => remote,
        };
        match error {
            ReplyError::Error { error, .. } => Self::from_error_response(error, key),
            ReplyError::Malformed(e) => Self::UnexpectedReply {
                request,
                got: e.to_string(),
            },
            ReplyError::TimedOut { after, .. } => Self::TimedOut { request, after },
            ReplyError::ConnectionClosed => {
                Self::Disconnected("closed before the answer came".to_owned())
            }
            other => Self::Disconnected(other.to_string()),
        }
    }
}

impl From<LocalError> for ClientError {
    fn from(e: LocalError) -> Self {
        match e {
            LocalError::Closed => Self::Disconnected(e.to_string()),
            other => Self::Refused(other.to_string()),
        }
    }
}
