//! Every message body of supervisor schema `2026-06-16`, typed.
//!
//! [`ToSupervisor`] holds what the runtime sends, [`ToTask`] what the supervisor sends. A
//! body is a msgpack map whose `type` key names the message. Decoding finds that key first
//! and then reads the one struct it names, which is several times faster than serde's
//! buffering of internally tagged enums. The largest and the most frequent bodies are read
//! in a single pass by hand-written readers (`fast`), which leave anything unusual to that
//! generic path.

mod de;
mod fast;
mod models;
mod requests;
mod responses;
pub(crate) mod ser;
pub(crate) mod serde_helpers;

use std::fmt;

use serde::Serialize;

pub use models::*;
pub use requests::*;
pub use responses::*;

/// The text of a message field: ids, keys, names and other strings. Up to 24 bytes it is
/// stored inline, so decoding the short identifiers most messages carry allocates nothing;
/// longer text lives on the heap as a `String` would. It derefs to `str`, and `"text".into()`
/// or `String::into()` makes one.
pub type Text = compact_str::CompactString;

use crate::wire::{self, WireError};

/// The supervisor schema version this crate implements. Executable bundles declare it in
/// `sdk.supervisor_schema_version`; the 1.3.2 supervisor accepts exactly this value.
pub const SUPERVISOR_SCHEMA_VERSION: &str = "2026-06-16";

macro_rules! message_union {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident($ty:ty) ),+ $(,)?
        }
        $( extra { $($extra:tt)* } )?
    ) => {
        $(#[$meta])*
        pub enum $name {
            $( $(#[$vmeta])* $variant($ty), )+
            $( $($extra)* )?
        }

        impl $name {
            /// Every message type name of this direction, as on the wire.
            pub const TYPE_NAMES: &'static [&'static str] = &[$(stringify!($variant)),+];

            /// Decodes `body` as the message its `type` key names; `unknown` decides about a
            /// name this direction does not know. Each arm builds the message in place, in
            /// the caller's return slot.
            #[inline]
            fn decode_body(
                body: &[u8],
                unknown: impl FnOnce(&str) -> Result<Self, BodyError>,
            ) -> Result<Self, BodyError> {
                // Walk the body once with the iterative, depth-bounded reader before serde's
                // recursive decoding does, as the frame envelope does: a body decoded on its
                // own, nested too deep, would otherwise exhaust the stack and abort. The same
                // walk finds the type.
                let tag = wire::scan_body(body)?.ok_or(BodyError::MissingType)?;
                $(
                    if tag == stringify!($variant).as_bytes() {
                        return match de::from_slice::<$ty>(body) {
                            Ok(message) => Ok($name::$variant(message)),
                            Err(e) => Err(invalid(stringify!($variant), e)),
                        };
                    }
                )+
                // Known names are UTF-8; an unknown one is checked only now.
                match std::str::from_utf8(tag) {
                    Ok(tag) => unknown(tag),
                    Err(_) => Err(WireError::InvalidUtf8.into()),
                }
            }

            /// Decodes `body` as the message named `tag`, if `tag` names one; returns the
            /// name with the outcome. For the tests of the deserializer.
            #[cfg(test)]
            fn decode_known(
                tag: &[u8],
                body: &[u8],
            ) -> Option<(&'static str, Result<Self, rmp_serde::decode::Error>)> {
                $(
                    if tag == stringify!($variant).as_bytes() {
                        let decoded = de::from_slice::<$ty>(body).map($name::$variant);
                        return Some((stringify!($variant), decoded));
                    }
                )+
                None
            }

            /// [`Self::decode_known`] with rmp-serde, the reference for the tests.
            #[cfg(test)]
            fn decode_known_with_rmp_serde(
                tag: &[u8],
                body: &[u8],
            ) -> Option<(&'static str, Result<Self, rmp_serde::decode::Error>)> {
                $(
                    if tag == stringify!($variant).as_bytes() {
                        let decoded = rmp_serde::from_slice::<$ty>(body).map($name::$variant);
                        return Some((stringify!($variant), decoded));
                    }
                )+
                None
            }

            /// The wire name of this body's type (its `type` field), as a `'static` string;
            /// `None` for a body of a type this crate does not know.
            #[allow(unreachable_patterns)]
            pub fn known_type_name(&self) -> Option<&'static str> {
                match self {
                    $( $name::$variant(_) => Some(stringify!($variant)), )+
                    _ => None,
                }
            }
        }

        $(
            impl From<$ty> for $name {
                fn from(body: $ty) -> Self {
                    $name::$variant(body)
                }
            }
        )+
    };
}

message_union! {
    /// A body the runtime sends to the supervisor.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    #[serde(tag = "type")]
    #[non_exhaustive]
    ToSupervisor {
        /// Finish successfully. Terminal.
        SucceedTask(SucceedTask),
        /// Fail and retry. Terminal.
        RetryTask(RetryTask),
        /// Finish as failed, skipped or removed. Terminal.
        TaskState(TaskState),
        /// Defer to a trigger. Terminal.
        DeferTask(DeferTask),
        /// Run again later. Terminal.
        RescheduleTask(RescheduleTask),
        /// Wait for human input. Terminal.
        AwaitInputTask(AwaitInputTask),
        /// Skip downstream tasks.
        SkipDownstreamTasks(SkipDownstreamTasks),
        /// Read a connection.
        GetConnection(GetConnection),
        /// Read a variable.
        GetVariable(GetVariable),
        /// List variable keys.
        GetVariableKeys(GetVariableKeys),
        /// Write a variable.
        PutVariable(PutVariable),
        /// Delete a variable.
        DeleteVariable(DeleteVariable),
        /// Read an XCom.
        GetXCom(GetXCom),
        /// Count an XCom's values.
        GetXComCount(GetXComCount),
        /// Read one item of a mapped XCom.
        GetXComSequenceItem(GetXComSequenceItem),
        /// Read a slice of a mapped XCom.
        GetXComSequenceSlice(GetXComSequenceSlice),
        /// Write an XCom.
        SetXCom(SetXCom),
        /// Delete an XCom.
        DeleteXCom(DeleteXCom),
        /// Record rendered template fields.
        SetRenderedFields(SetRenderedFields),
        /// Set the rendered map index label.
        SetRenderedMapIndex(SetRenderedMapIndex),
        /// Mask a secret in forwarded logs.
        MaskSecret(MaskSecret),
        /// Trigger a DAG run.
        TriggerDagRun(TriggerDagRun),
        /// Read a DAG run.
        GetDagRun(GetDagRun),
        /// Read a DAG run's state.
        GetDagRunState(GetDagRunState),
        /// Count DAG runs.
        GetDRCount(GetDRCount),
        /// Read the previous DAG run.
        GetPreviousDagRun(GetPreviousDagRun),
        /// Read the previous successful DAG run's dates.
        GetPrevSuccessfulDagRun(GetPrevSuccessfulDagRun),
        /// Read a previous task instance.
        GetPreviousTI(GetPreviousTI),
        /// Count task instances.
        GetTICount(GetTICount),
        /// Read task instance states.
        GetTaskStates(GetTaskStates),
        /// Read a run's breadcrumbs.
        GetTaskBreadcrumbs(GetTaskBreadcrumbs),
        /// Read a rescheduled task's first start.
        GetTaskRescheduleStartDate(GetTaskRescheduleStartDate),
        /// Read a DAG.
        GetDag(GetDag),
        /// Read an asset by name.
        GetAssetByName(GetAssetByName),
        /// Read an asset by URI.
        GetAssetByUri(GetAssetByUri),
        /// Read the assets of an alias.
        GetAssetsByAlias(GetAssetsByAlias),
        /// Read an asset's events.
        GetAssetEventByAsset(GetAssetEventByAsset),
        /// Read an asset alias's events.
        GetAssetEventByAssetAlias(GetAssetEventByAssetAlias),
        /// Check inlets and outlets for inactive assets.
        ValidateInletsAndOutlets(ValidateInletsAndOutlets),
        /// Read a task-state-store entry.
        GetTaskStateStore(GetTaskStateStore),
        /// Write a task-state-store entry.
        SetTaskStateStore(SetTaskStateStore),
        /// Delete a task-state-store entry.
        DeleteTaskStateStore(DeleteTaskStateStore),
        /// Delete every task-state-store entry.
        ClearTaskStateStore(ClearTaskStateStore),
        /// Read an asset-state-store entry by asset name.
        GetAssetStateStoreByName(GetAssetStateStoreByName),
        /// Read an asset-state-store entry by asset URI.
        GetAssetStateStoreByUri(GetAssetStateStoreByUri),
        /// Write an asset-state-store entry by asset name.
        SetAssetStateStoreByName(SetAssetStateStoreByName),
        /// Write an asset-state-store entry by asset URI.
        SetAssetStateStoreByUri(SetAssetStateStoreByUri),
        /// Delete an asset-state-store entry by asset name.
        DeleteAssetStateStoreByName(DeleteAssetStateStoreByName),
        /// Delete an asset-state-store entry by asset URI.
        DeleteAssetStateStoreByUri(DeleteAssetStateStoreByUri),
        /// Delete every asset-state-store entry by asset name.
        ClearAssetStateStoreByName(ClearAssetStateStoreByName),
        /// Delete every asset-state-store entry by asset URI.
        ClearAssetStateStoreByUri(ClearAssetStateStoreByUri),
        /// Create a human-in-the-loop request.
        CreateHITLDetailPayload(CreateHITLDetailPayload),
        /// Answer a human-in-the-loop request (unhandled by the 1.3.2 supervisor).
        UpdateHITLDetail(UpdateHITLDetail),
        /// Read a human-in-the-loop answer (unhandled by the 1.3.2 supervisor).
        GetHITLDetailResponse(GetHITLDetailResponse),
        /// Ask for the logging descriptor again. Only meaningful over a Unix socket; a task
        /// session refuses to send it.
        ResendLoggingFD(ResendLoggingFD),
    }
}

// The large answers are boxed, so that a `ToTask` (and every `Reply`) stays small to move:
// an answer is moved several times on its way from the socket to its caller. Each still
// converts from its plain body.
macro_rules! from_unboxed {
    ($name:ident { $($variant:ident($body:ident)),+ $(,)? }) => {
        $(
            impl From<$body> for $name {
                fn from(body: $body) -> Self {
                    $name::$variant(Box::new(body))
                }
            }
        )+
    };
}

from_unboxed!(ToTask {
    DagRunResult(DagRun),
    ConnectionResult(ConnectionResult),
    DagResult(DagResult),
    PreviousDagRunResult(PreviousDagRunResult),
    PreviousTIResult(PreviousTIResult),
    AssetResult(AssetResponse),
    CreateHITLDetailPayload(CreateHITLDetailPayload),
    HITLDetailRequestResult(HITLDetailRequestResult),
});

/// Ask the supervisor to pass the logging file descriptor again (Unix sockets only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct ResendLoggingFD {}

message_union! {
    /// A body the supervisor sends to the runtime.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    #[serde(tag = "type")]
    #[non_exhaustive]
    ToTask {
        /// What to run; the first frame.
        StartupDetails(Box<StartupDetails>),
        /// An error, in the body slot.
        ErrorResponse(ErrorResponse),
        /// A connection.
        ConnectionResult(Box<ConnectionResult>),
        /// A variable.
        VariableResult(VariableResult),
        /// Variable keys.
        VariableKeysResult(VariableKeysResult),
        /// An XCom value.
        XComResult(XComResult),
        /// An XCom's value count.
        XComCountResponse(XComCountResponse),
        /// One item of a mapped XCom.
        XComSequenceIndexResult(XComSequenceIndexResult),
        /// A slice of a mapped XCom.
        XComSequenceSliceResult(XComSequenceSliceResult),
        /// A DAG run.
        DagRunResult(Box<DagRun>),
        /// A DAG run's state.
        DagRunStateResult(DagRunStateResult),
        /// A count of DAG runs.
        DRCount(DRCount),
        /// A DAG.
        DagResult(Box<DagResult>),
        /// The previous DAG run.
        PreviousDagRunResult(Box<PreviousDagRunResult>),
        /// The previous successful DAG run's dates.
        PrevSuccessfulDagRunResult(PrevSuccessfulDagRunResult),
        /// A previous task instance.
        PreviousTIResult(Box<PreviousTIResult>),
        /// A rescheduled task's first start.
        TaskRescheduleStartDate(TaskRescheduleStartDate),
        /// A count of task instances.
        TICount(TICount),
        /// Task instance states.
        TaskStatesResult(TaskStatesResult),
        /// A run's breadcrumbs.
        TaskBreadcrumbsResult(TaskBreadcrumbsResult),
        /// An asset.
        AssetResult(Box<AssetResponse>),
        /// The assets of an alias.
        AssetsByAliasResult(AssetsByAliasResult),
        /// Asset events.
        AssetEventsResult(AssetEventsResult),
        /// Inactive assets.
        InactiveAssetsResult(InactiveAssetsResult),
        /// A task-state-store value.
        TaskStateStoreResult(TaskStateStoreResult),
        /// An asset-state-store value.
        AssetStateStoreResult(AssetStateStoreResult),
        /// A human-in-the-loop request (a member of the 1.3.2 union, never sent by it).
        CreateHITLDetailPayload(Box<CreateHITLDetailPayload>),
        /// The stored human-in-the-loop request.
        HITLDetailRequestResult(Box<HITLDetailRequestResult>),
        /// An acknowledgement.
        OKResponse(OKResponse),
        /// File descriptors (Unix sockets only).
        SentFDs(SentFDs),
    }
    extra {
        /// A body type this schema does not know, tolerated so that a newer supervisor does
        /// not break the session. It cannot be sent.
        #[serde(skip)]
        Unknown {
            /// The `type` the body named.
            type_name: String,
        },
    }
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is not a well-formed msgpack map.
    Malformed(String),
    /// The map has no string `type` key.
    MissingType,
    /// The `type` names no message of this direction.
    UnknownType(String),
    /// The body names a known type but its fields do not fit it.
    Invalid {
        /// The message type.
        type_name: String,
        /// What did not fit.
        reason: String,
    },
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(reason) => write!(f, "body is not a msgpack map: {reason}"),
            Self::MissingType => f.write_str("body has no string `type` key"),
            Self::UnknownType(name) => write!(f, "unknown message type {name:?}"),
            Self::Invalid { type_name, reason } => write!(f, "invalid {type_name} body: {reason}"),
        }
    }
}

impl std::error::Error for BodyError {}

impl From<WireError> for BodyError {
    fn from(e: WireError) -> Self {
        BodyError::Malformed(e.to_string())
    }
}

/// The error for a body whose fields do not fit its type.
#[cold]
fn invalid(type_name: &str, error: rmp_serde::decode::Error) -> BodyError {
    BodyError::Invalid {
        type_name: type_name.to_owned(),
        reason: error.to_string(),
    }
}

impl ToSupervisor {
    /// Decodes a request body (a msgpack map with a `type` key).
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        fast::to_supervisor(body, Self::decode_generic)
    }

    /// The fast path of [`ToSupervisor::decode`], for a body that must fill `body` exactly:
    /// `finish(message)` where it is taken and the body ends at the end of `body`, else
    /// `fallback()`. [`ToSupervisor::decode`] of `body` gives the same message.
    #[inline(always)]
    pub(crate) fn decode_filling<R>(
        body: &[u8],
        finish: impl Fn(Self) -> R,
        fallback: impl Fn() -> R,
    ) -> R {
        fast::to_supervisor_with(body, |end| end == body.len(), finish, fallback)
    }

    /// [`ToSupervisor::decode`] without its fast paths.
    fn decode_generic(body: &[u8]) -> Result<Self, BodyError> {
        Self::decode_body(body, |tag| Err(BodyError::UnknownType(tag.to_owned())))
    }

    /// The wire name of this message type.
    pub fn type_name(&self) -> &'static str {
        self.known_type_name()
            .expect("every request variant is a known type")
    }

    /// Whether this message ends the task: after it the runtime sends nothing else.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::SucceedTask(_)
                | Self::RetryTask(_)
                | Self::TaskState(_)
                | Self::DeferTask(_)
                | Self::RescheduleTask(_)
                | Self::AwaitInputTask(_)
        )
    }

    /// Checks what the types alone cannot: the values the supervisor's validation would
    /// refuse. Such a request would never be answered, so it must not be sent.
    pub fn validate(&self) -> Result<(), InvalidRequest> {
        let invalid = |reason: String| {
            Err(InvalidRequest {
                type_name: self.type_name(),
                reason,
            })
        };
        match self {
            Self::ResendLoggingFD(_) => {
                invalid("it passes a file descriptor, which a TCP connection cannot".into())
            }
            Self::RetryTask(RetryTask {
                retry_delay_seconds: Some(delay),
                ..
            }) if !delay.is_finite() || *delay < 0.0 => invalid(format!(
                "retry_delay_seconds must be a finite number >= 0, got {delay}"
            )),
            Self::DeferTask(DeferTask {
                trigger_kwargs: Some(kwargs),
                ..
            }) if !(kwargs.is_object() || kwargs.is_string() || kwargs.is_null()) => {
                invalid("trigger_kwargs must be a map or a string".into())
            }
            Self::GetPreviousTI(GetPreviousTI {
                state: Some(state), ..
            }) if !state.is_known() => invalid(format!("unknown task instance state {state:?}")),
            Self::CreateHITLDetailPayload(CreateHITLDetailPayload { options, .. })
                if options.is_empty() =>
            {
                invalid("options must offer at least one option".into())
            }
            Self::UpdateHITLDetail(UpdateHITLDetail { chosen_options, .. })
                if chosen_options.is_empty() =>
            {
                invalid("chosen_options must name at least one option".into())
            }
            _ => Ok(()),
        }
    }
}

impl ToTask {
    /// Decodes a response body. A `type` this schema does not know reads as
    /// [`ToTask::Unknown`]; a known type whose fields do not fit is an error.
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        fast::to_task(body, Self::decode_generic)
    }

    /// The fast path of [`ToTask::decode`], for a body that must fill `body` exactly:
    /// `finish(message)` where it is taken and the body ends at the end of `body`, else
    /// `fallback()`. [`ToTask::decode`] of `body` gives the same message.
    #[inline(always)]
    pub(crate) fn decode_filling<R>(
        body: &[u8],
        finish: impl Fn(Self) -> R,
        fallback: impl Fn() -> R,
    ) -> R {
        fast::to_task_with(body, |end| end == body.len(), finish, fallback)
    }

    /// [`ToTask::decode`] without its fast paths.
    fn decode_generic(body: &[u8]) -> Result<Self, BodyError> {
        Self::decode_body(body, |tag| {
            Ok(ToTask::Unknown {
                type_name: tag.to_owned(),
            })
        })
    }

    /// The wire name of this message type.
    pub fn type_name(&self) -> &str {
        match self {
            Self::Unknown { type_name } => type_name,
            known => known.known_type_name().unwrap_or("Unknown"),
        }
    }
}

/// A request the supervisor would refuse to validate, and so never answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRequest {
    /// The message type.
    pub type_name: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} would be refused by the supervisor: {}",
            self.type_name, self.reason
        )
    }
}

impl std::error::Error for InvalidRequest {}

/// The bodies of the golden frames, for the tests of the codec.
#[cfg(test)]
pub(crate) mod golden {
    use std::path::Path;

    use crate::frame;

    /// Every body and error map of every frame under `tests/fixtures`, with where it is from
    /// and whether it travels to the supervisor.
    pub(crate) fn bodies() -> Vec<(String, bool, Vec<u8>)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut files = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "bin") {
                    files.push(path);
                }
            }
        }
        files.sort();
        let mut bodies = Vec::new();
        for path in files {
            let bytes = std::fs::read(&path).unwrap();
            let payload = &bytes[4..];
            let name = path.display().to_string();
            let to_supervisor = path.parent().unwrap().ends_with("to_supervisor");
            let slots = if to_supervisor {
                let envelope = frame::parse_request(payload).unwrap();
                [envelope.body, None]
            } else {
                let envelope = frame::parse_response(payload).unwrap();
                [envelope.body, envelope.error]
            };
            for slot in slots.into_iter().flatten() {
                bodies.push((name.clone(), to_supervisor, slot.to_vec()));
            }
        }
        assert!(bodies.len() > 150, "the golden frames are there");
        bodies
    }
}
