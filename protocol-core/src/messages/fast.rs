//! Fast paths for the bodies whose decoding costs the most: `StartupDetails`, the largest,
//! and small bodies a session exchanges often (`GetVariable`, `VariableResult`, …).
//!
//! The generic path reads a body twice: the type scan ([`wire::scan_body`]) walks all of it,
//! to check that it is well-formed and nested at most [`wire::MAX_DEPTH`] levels deep (the
//! guard against stack exhaustion) and to find its `type`, which Python writes last; then
//! serde's derived visitors decode the struct that type names, through [`super::de`]. A
//! reader here does both in one pass, straight from the bytes to the typed message, for the
//! shapes Python and this crate write. On anything else it gives up (`None`): a key that
//! is not text, a value of an unexpected kind, a duplicate or missing required key, any
//! error. The generic path then decodes the body and reports its exact errors.
//!
//! So a reader here never decides what is an error. It must only produce, when it succeeds,
//! exactly what the generic path produces from the same bytes: the type scan must succeed
//! with the same type, and every field must read as its `Deserialize` impl reads it. The
//! tests check that on every golden body, every truncation of one and thousands of
//! mutations, and that the golden bodies do take the fast path.

use serde::Deserialize;

use super::de;
use super::models::{BundleInfo, DagRun, DagRunState, DagRunType, TIRunContext, TaskInstance};
use super::requests::{GetConnection, GetVariable, GetXCom, PutVariable};
use super::responses::{ConnectionResult, OKResponse, StartupDetails, VariableResult, XComResult};
use super::{BodyError, Text, ToSupervisor, ToTask};
use crate::json::{self, JsonMap, JsonValue};
use crate::time::{Timestamp, MSGPACK_TIMESTAMP_EXT};
use crate::uuid::Uuid;
use crate::wire::{self, Reader};

/// A blank value: of a field (by its presence, `required` or `default`), or of a struct (by
/// its name, made into what `$wrap` makes of it).
macro_rules! blank {
    (required) => {
        Blank::blank()
    };
    (default) => {
        Default::default()
    };
    ($name:ident) => {
        <$name as Struct>::blank()
    };
    ($name:ident, $wrap:path) => {
        $wrap(<$name as Struct>::blank)
    };
}

/// Reads `body` with the fast reader of the type its `type` key likely names, if that type is
/// listed (with the variant its message is, and `[boxed]` if it is boxed), and gives
/// `$finish(message)` if the reader succeeds and `$fits` the offset in `body` where the map
/// ended, else `$fallback()`, the generic path. The body's first `type` key must name that
/// type, as the type scan would find. The message is built in the caller's return slot (and
/// a boxed one on the heap): messages are large to move.
macro_rules! dispatch {
    (
        $body:ident, $fits:ident, $finish:ident, $fallback:ident,
        { $( $name:ident => $message:path $([$wrap:path])? ),+ $(,)? }
    ) => {{
        let first = type_first($body);
        $(
            if likely_type($body, first, stringify!($name).as_bytes()) {
                let mut body_type = None;
                let mut reader = Reader::new($body);
                let mut read = blank!($name $(, $wrap)?);
                match <$name as Struct>::read_into(&mut reader, Some(&mut body_type), &mut read) {
                    Some(())
                        if body_type == Some(stringify!($name).as_bytes())
                            && $fits(reader.position()) =>
                    {
                        $finish($message(read))
                    }
                    _ => $fallback(),
                }
            } else
        )+
        {
            $fallback()
        }
    }};
}

/// A blank struct on the heap.
#[inline(always)]
fn boxed<T>(make: impl FnOnce() -> T) -> Box<T> {
    Box::new(make())
}

/// Decodes a response body on its fast path if it has one, else with `generic`.
#[inline]
pub(super) fn to_task(body: &[u8], generic: Generic<ToTask>) -> Result<ToTask, BodyError> {
    to_task_with(body, |_| true, Ok, || generic(body))
}

/// A response body on its fast path, made into `finish(message)` if `fits` the offset where
/// its map ended; else `fallback()`.
#[inline(always)]
pub(super) fn to_task_with<R>(
    body: &[u8],
    fits: impl Fn(usize) -> bool,
    finish: impl Fn(ToTask) -> R,
    fallback: impl Fn() -> R,
) -> R {
    dispatch!(body, fits, finish, fallback, {
        StartupDetails => ToTask::StartupDetails [boxed],
        VariableResult => ToTask::VariableResult,
        XComResult => ToTask::XComResult,
        ConnectionResult => ToTask::ConnectionResult [boxed],
        OKResponse => ToTask::OKResponse,
    })
}

/// Decodes a request body on its fast path if it has one, else with `generic`.
#[inline]
pub(super) fn to_supervisor(
    body: &[u8],
    generic: Generic<ToSupervisor>,
) -> Result<ToSupervisor, BodyError> {
    to_supervisor_with(body, |_| true, Ok, || generic(body))
}

/// A request body on its fast path, made into `finish(message)` if `fits` the offset where
/// its map ended; else `fallback()`.
#[inline(always)]
pub(super) fn to_supervisor_with<R>(
    body: &[u8],
    fits: impl Fn(usize) -> bool,
    finish: impl Fn(ToSupervisor) -> R,
    fallback: impl Fn() -> R,
) -> R {
    dispatch!(body, fits, finish, fallback, {
        GetVariable => ToSupervisor::GetVariable,
        PutVariable => ToSupervisor::PutVariable,
        GetConnection => ToSupervisor::GetConnection,
        GetXCom => ToSupervisor::GetXCom,
    })
}

/// The generic decoding of a body, for those the fast paths leave.
pub(super) type Generic<T> = fn(&[u8]) -> Result<T, BodyError>;

/// The `type` key as msgpack writes it.
const TYPE_KEY: &[u8] = b"\xa4type";

/// The text of the `type` key if it is the first key of a body, as serde (the encoders of
/// this crate) writes it.
#[inline]
fn type_first(body: &[u8]) -> Option<&[u8]> {
    let header = match *body.first()? {
        0x80..=0x8f => 1,
        0xde => 3,
        0xdf => 5,
        _ => return None,
    };
    let rest = body.get(header..)?.strip_prefix(TYPE_KEY)?;
    match *rest.first()? {
        marker @ 0xa0..=0xbf => rest.get(1..1 + usize::from(marker & 0x1f)),
        _ => None,
    }
}

/// Whether a body likely has the type `name`: its first key names it (see [`type_first`]),
/// or, when its first key is not `type`, its last entry does, as Python writes it. Only a
/// guess, since those bytes may belong to a nested value: the reader checks it.
#[inline(always)]
fn likely_type(body: &[u8], first: Option<&[u8]>, name: &[u8]) -> bool {
    if let Some(tag) = first {
        return tag == name;
    }
    let Some(start) = body.len().checked_sub(TYPE_KEY.len() + 1 + name.len()) else {
        return false;
    };
    let (key, tag) = body[start..].split_at(TYPE_KEY.len());
    key == TYPE_KEY && tag[0] == 0xa0 | name.len() as u8 && &tag[1..] == name
}

/// How deep a value read by serde (a `conf` map, say) or skipped (an unknown key's) may nest,
/// so that the body stays within [`wire::MAX_DEPTH`] as the type scan requires. Such values
/// sit at most three maps deep (body, `ti_context`, `dag_run`).
const VALUE_DEPTH: usize = wire::MAX_DEPTH - 3;

/// A value read straight from the bytes as its `Deserialize` impl reads it through
/// [`super::de`], or `None`.
trait Fast: Sized {
    fn read(r: &mut Reader<'_>) -> Option<Self>;
}

/// A struct with a derived `Deserialize`, read from a map.
///
/// Structs are read in place: into a [`Struct::blank`] value, field by field, so that a
/// large struct (`StartupDetails` is about 1 KiB) is never moved, nor are the structs in it.
trait Struct: Sized {
    /// The value to read into: every field with a default holds it, every required field a
    /// placeholder that reading the map must replace.
    fn blank() -> Self;

    /// Reads the map into `out`, which must be [`Struct::blank`]. `body_type` is given for a
    /// message body: it receives the text of the body's first `type` key, which the type scan
    /// takes for the type (a body without one, or whose first one is not text, is refused).
    /// In a nested struct, a `type` key is a key like any other. On `None`, `out` holds a
    /// partly read value, to be dropped.
    fn read_into<'a>(
        r: &mut Reader<'a>,
        body_type: Option<&mut Option<&'a [u8]>>,
        out: &mut Self,
    ) -> Option<()>;
}

/// A value read into its place in a struct.
trait ReadInto {
    fn read_into(r: &mut Reader<'_>, slot: &mut Self) -> Option<()>;
}

impl<T: Fast> ReadInto for T {
    #[inline(always)]
    fn read_into(r: &mut Reader<'_>, slot: &mut Self) -> Option<()> {
        *slot = T::read(r)?;
        Some(())
    }
}

/// The placeholder of a required field, replaced when the struct is read.
trait Blank {
    fn blank() -> Self;
}

impl Blank for String {
    #[inline(always)]
    fn blank() -> Self {
        String::new()
    }
}

impl Blank for i64 {
    #[inline(always)]
    fn blank() -> Self {
        0
    }
}

impl Blank for bool {
    #[inline(always)]
    fn blank() -> Self {
        false
    }
}

impl Blank for Uuid {
    #[inline(always)]
    fn blank() -> Self {
        Uuid::default()
    }
}

impl Blank for Timestamp {
    #[inline(always)]
    fn blank() -> Self {
        Timestamp::UNIX_EPOCH
    }
}

impl Blank for DagRunType {
    #[inline(always)]
    fn blank() -> Self {
        DagRunType::Unknown(String::new())
    }
}

impl Blank for DagRunState {
    #[inline(always)]
    fn blank() -> Self {
        DagRunState::Unknown(String::new())
    }
}

impl<T> Blank for Option<T> {
    #[inline(always)]
    fn blank() -> Self {
        None
    }
}

/// Text, as `&str` visitors get it: `None` for anything that is not a UTF-8 string.
#[inline]
fn text<'a>(r: &mut Reader<'a>) -> Option<&'a str> {
    std::str::from_utf8(r.str_bytes().ok()?).ok()
}

impl Fast for String {
    #[inline]
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        // Checked once copied: the UTF-8 check takes its word-at-a-time path from the start
        // of the copy, which is aligned, where the bytes in the frame start anywhere.
        String::from_utf8(r.str_bytes().ok()?.to_vec()).ok()
    }
}

impl Blank for Text {
    #[inline(always)]
    fn blank() -> Self {
        Text::const_new("")
    }
}

impl Fast for Text {
    #[inline]
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        Text::from_utf8(r.str_bytes().ok()?).ok()
    }
}

impl Fast for i64 {
    #[inline]
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        r.int().ok()
    }
}

impl Fast for bool {
    #[inline]
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        r.bool().ok()
    }
}

impl Fast for Uuid {
    #[inline]
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        Uuid::parse_ascii(r.str_bytes().ok()?)
    }
}

impl Fast for Timestamp {
    #[inline]
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        if let 0xa0..=0xbf | 0xd9..=0xdb = r.peek().ok()? {
            return Timestamp::parse_rfc3339(text(r)?).ok();
        }
        let (ext_type, payload) = r.ext().ok()?;
        if ext_type != MSGPACK_TIMESTAMP_EXT {
            return None;
        }
        // Payloads of other lengths than 4, 8 and 12 bytes are refused here and left to the
        // generic path (which reads the first 12 bytes of longer ones).
        Timestamp::from_msgpack_ext(payload).ok()
    }
}

/// The enums of wire texts (`string_enum!`): known texts compared as bytes, which spares
/// their UTF-8 check, and any other text kept as `Unknown`.
macro_rules! fast_string_enum {
    ($($name:ident),+) => {
        $(
            impl Fast for $name {
                #[inline]
                fn read(r: &mut Reader<'_>) -> Option<Self> {
                    let bytes = r.str_bytes().ok()?;
                    $name::known_from_wire(bytes)
                        .or_else(|| Some($name::from_wire(std::str::from_utf8(bytes).ok()?)))
                }
            }
        )+
    };
}

fast_string_enum!(DagRunType, DagRunState);

impl<T: Fast> Fast for Option<T> {
    #[inline]
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        if r.eat_nil().ok()? {
            return Some(None);
        }
        T::read(r).map(Some)
    }
}

/// Lists, empty ones read here, others by serde.
impl<T: for<'de> Deserialize<'de>> Fast for Vec<T> {
    #[inline]
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        if r.peek().ok()? == 0x90 {
            r.array_len().ok()?;
            return Some(Vec::new());
        }
        serde_value(r, |d| Vec::deserialize(d))
    }
}

/// A value left to serde: the wire reader skips it first, which checks that it is
/// well-formed and not nested too deep, and serde then reads its bytes on their own.
#[inline]
fn serde_value<'de, T>(
    r: &mut Reader<'de>,
    read: impl FnOnce(&mut de::Deserializer<'de>) -> Result<T, rmp_serde::decode::Error>,
) -> Option<T> {
    let bytes = r.value_slice_within(VALUE_DEPTH).ok()?;
    read(&mut de::Deserializer::new(bytes)).ok()
}

/// A field read with [`json::lenient_option_map`]: nil and `{}` here, other values by serde.
fn lenient_option_map(r: &mut Reader<'_>) -> Option<Option<JsonMap>> {
    match r.peek().ok()? {
        0xc0 => {
            r.eat_nil().ok()?;
            Some(None)
        }
        0x80 => {
            r.map_len().ok()?;
            Some(Some(JsonMap::new()))
        }
        _ => serde_value(r, |d| json::lenient_option_map(d)),
    }
}

/// A field read with [`json::lenient_value`]: nil here, anything else by serde.
fn lenient_value(r: &mut Reader<'_>) -> Option<JsonValue> {
    if r.eat_nil().ok()? {
        return Some(JsonValue::Null);
    }
    serde_value(r, |d| json::lenient_value(d))
}

/// The entries of a map, with the rules for keys no field of the struct has.
struct Entries<'r, 'a> {
    r: &'r mut Reader<'a>,
    left: usize,
    body_type: Option<&'r mut Option<&'a [u8]>>,
}

impl<'r, 'a> Entries<'r, 'a> {
    #[inline]
    fn new(r: &'r mut Reader<'a>, body_type: Option<&'r mut Option<&'a [u8]>>) -> Option<Self> {
        let left = r.map_len().ok()?;
        Some(Self { r, left, body_type })
    }

    /// The next key, `Some(None)` after the last entry.
    #[inline(always)]
    fn next_key(&mut self) -> Option<Option<&'a [u8]>> {
        if self.left == 0 {
            // A body must have had its `type` key.
            return match &self.body_type {
                Some(None) => None,
                _ => Some(None),
            };
        }
        self.left -= 1;
        self.r.str_bytes().ok().map(Some)
    }

    /// Reads the value of a key the struct has no field for: the first `type` key of a body,
    /// which must be text, or a key to skip. (A key before a body's `type` key must be UTF-8
    /// for the type scan, so any unknown key must be.)
    #[inline(always)]
    fn unknown(&mut self, key: &[u8]) -> Option<()> {
        if let Some(body_type) = self.body_type.as_deref_mut() {
            if body_type.is_none() && key == b"type" {
                *body_type = Some(self.r.str_bytes().ok()?);
                return Some(());
            }
        }
        if !wire::is_utf8(key) {
            return None;
        }
        self.r.skip_within(VALUE_DEPTH).ok()
    }
}

/// Implements [`Struct`] (and [`Fast`]) for a struct whose `Deserialize` is derived with the
/// field names as keys. Each field is listed with what its absence means, `required` (serde
/// refuses the map) or `default` (`#[serde(default)]`: the type's default), and, for a field
/// with `deserialize_with`, the reader that stands for that function. Fields are looked for
/// in the order listed, the order Python and serde write them, so that a key usually costs
/// one comparison.
macro_rules! fast_struct {
    ($name:ident { $( $field:ident: $presence:ident $(with $reader:path)? ),+ $(,)? }) => {
        impl Struct for $name {
            #[inline(always)]
            fn blank() -> Self {
                Self { $( $field: blank!($presence), )+ }
            }

            fn read_into<'a>(
                r: &mut Reader<'a>,
                body_type: Option<&mut Option<&'a [u8]>>,
                out: &mut Self,
            ) -> Option<()> {
                #[allow(non_camel_case_types)]
                #[derive(Clone, Copy)]
                enum Field { $($field),+ }
                const ORDER: &[Field] = &[$(Field::$field),+];
                const REQUIRED: u64 = 0 $( | required_bit!($presence, Field::$field) )+;
                fn named(key: &[u8]) -> Option<Field> {
                    $( if key == stringify!($field).as_bytes() { return Some(Field::$field); } )+
                    None
                }
                // One bit per field read: a key twice is refused by serde, and so is a
                // missing required one.
                let mut seen = 0u64;
                let mut entries = Entries::new(r, body_type)?;
                let mut next = 0;
                while let Some(key) = entries.next_key()? {
                    let field = match ORDER.get(next) {
                        $( Some(Field::$field) if key == stringify!($field).as_bytes() => {
                            Some(Field::$field)
                        } )+
                        _ => named(key),
                    };
                    match field {
                        $( Some(Field::$field) => {
                            let bit = 1u64 << (Field::$field as u32);
                            if seen & bit != 0 {
                                return None;
                            }
                            seen |= bit;
                            read_field!(entries.r, &mut out.$field $(, $reader)?)?;
                            next = Field::$field as usize + 1;
                        } )+
                        None => entries.unknown(key)?,
                    }
                }
                (seen & REQUIRED == REQUIRED).then_some(())
            }
        }

        impl ReadInto for $name {
            #[inline]
            fn read_into(r: &mut Reader<'_>, slot: &mut Self) -> Option<()> {
                <Self as Struct>::read_into(r, None, slot)
            }
        }

        impl Blank for $name {
            #[inline(always)]
            fn blank() -> Self {
                <Self as Struct>::blank()
            }
        }
    };
}

macro_rules! read_field {
    ($r:expr, $slot:expr) => {
        ReadInto::read_into($r, $slot)
    };
    ($r:expr, $slot:expr, $reader:path) => {
        $reader($r).map(|value| *$slot = value)
    };
}

macro_rules! required_bit {
    (required, $field:expr) => {
        1u64 << ($field as u32)
    };
    (default, $field:expr) => {
        0
    };
}

fast_struct!(StartupDetails {
    ti: required,
    dag_rel_path: required,
    bundle_info: required,
    start_date: required,
    ti_context: required,
    sentry_integration: default,
});

fast_struct!(TaskInstance {
    id: required,
    task_id: required,
    dag_id: required,
    run_id: required,
    try_number: required,
    dag_version_id: required,
    map_index: default,
    hostname: default,
    context_carrier: default with lenient_option_map,
    queue: default,
});

fast_struct!(BundleInfo {
    name: required,
    version: default,
});

fast_struct!(TIRunContext {
    dag_run: required,
    task_reschedule_count: default,
    max_tries: required,
    variables: default,
    connections: default,
    next_method: default,
    next_kwargs: default with lenient_value,
    xcom_keys_to_clear: default,
    should_retry: default,
    start_date: default,
});

fast_struct!(DagRun {
    dag_id: required,
    run_id: required,
    logical_date: default,
    data_interval_start: default,
    data_interval_end: default,
    run_after: required,
    start_date: default,
    end_date: default,
    clear_number: default,
    run_type: required,
    state: required,
    conf: default with lenient_option_map,
    triggering_user_name: default,
    consumed_asset_events: default,
    partition_key: default,
    partition_date: default,
    note: default,
    team_name: default,
});

fast_struct!(VariableResult {
    key: required,
    value: default,
});

fast_struct!(XComResult {
    key: required,
    value: default with lenient_value,
});

fast_struct!(ConnectionResult {
    conn_id: required,
    conn_type: required,
    host: default,
    schema: default,
    login: default,
    password: default,
    port: default,
    extra: default,
});

fast_struct!(OKResponse { ok: required });

fast_struct!(GetVariable { key: required });

fast_struct!(PutVariable {
    key: required,
    value: required,
    description: required,
});

fast_struct!(GetConnection { conn_id: required });

fast_struct!(GetXCom {
    key: required,
    dag_id: required,
    run_id: required,
    task_id: required,
    map_index: default,
    include_prior_dates: default,
});

#[cfg(test)]
mod tests {
    //! Differential tests: whatever the fast path decodes, the generic path decodes to the
    //! same message.

    use serde_json::json;

    use crate::messages::{golden, ser, BodyError, ToSupervisor, ToTask};

    /// The fast path alone: `None` where it leaves the body to the generic path.
    fn to_task(body: &[u8]) -> Option<ToTask> {
        super::to_task(body, |_| Err(BodyError::MissingType)).ok()
    }

    /// The fast path alone: `None` where it leaves the body to the generic path.
    fn to_supervisor(body: &[u8]) -> Option<ToSupervisor> {
        super::to_supervisor(body, |_| Err(BodyError::MissingType)).ok()
    }

    /// Decodes `body` on the fast paths of both directions; where one succeeds, the generic
    /// path must give the same message. Returns which fast paths succeeded.
    fn agree(body: &[u8]) -> (bool, bool) {
        let task = to_task(body);
        if let Some(message) = &task {
            assert_eq!(
                Ok(message),
                ToTask::decode_generic(body).as_ref(),
                "ToTask {body:02x?}"
            );
        }
        let request = to_supervisor(body);
        if let Some(message) = &request {
            assert_eq!(
                Ok(message),
                ToSupervisor::decode_generic(body).as_ref(),
                "ToSupervisor {body:02x?}"
            );
        }
        (task.is_some(), request.is_some())
    }

    const FAST_TO_TASK: [&str; 5] = [
        "StartupDetails",
        "VariableResult",
        "XComResult",
        "ConnectionResult",
        "OKResponse",
    ];
    const FAST_TO_SUPERVISOR: [&str; 4] =
        ["GetVariable", "PutVariable", "GetConnection", "GetXCom"];

    /// The golden bodies, as Python wrote them (`type` last) and as this crate writes them
    /// (`type` first), with their direction.
    fn bodies() -> Vec<(String, bool, Vec<u8>)> {
        let mut bodies = Vec::new();
        for (file, to_supervisor, body) in golden::bodies() {
            let mut ours = Vec::new();
            if to_supervisor {
                let message = ToSupervisor::decode_generic(&body).unwrap();
                ser::write(&mut ours, &message, true).unwrap();
            } else {
                let message = ToTask::decode_generic(&body).unwrap();
                ser::write(&mut ours, &message, false).unwrap();
            }
            bodies.push((format!("{file} (re-encoded)"), to_supervisor, ours));
            bodies.push((file, to_supervisor, body));
        }
        bodies
    }

    #[test]
    fn golden_bodies_of_the_fast_types_take_the_fast_path_and_agree() {
        let mut hits = 0;
        for (file, to_supervisor, body) in bodies() {
            let type_name = if to_supervisor {
                ToSupervisor::decode_generic(&body)
                    .unwrap()
                    .type_name()
                    .to_owned()
            } else {
                ToTask::decode_generic(&body)
                    .unwrap()
                    .type_name()
                    .to_owned()
            };
            let (task, request) = agree(&body);
            let fast = if to_supervisor {
                FAST_TO_SUPERVISOR.contains(&type_name.as_str())
            } else {
                FAST_TO_TASK.contains(&type_name.as_str())
            };
            assert_eq!(if to_supervisor { request } else { task }, fast, "{file}");
            hits += usize::from(fast);
        }
        assert!(
            hits >= 20,
            "the fast types are among the golden bodies: {hits}"
        );
    }

    #[test]
    fn truncated_and_mutated_bodies_agree() {
        // Markers of every kind, lengths, and bytes of the `type` key.
        const BYTES: [u8; 16] = [
            0x00, 0x01, 0x7f, 0x80, 0x81, 0x90, 0x91, 0xa0, 0xa3, 0xc0, 0xc1, 0xc3, 0xd6, 0xd9,
            0xff, b't',
        ];
        let mut fast = 0usize;
        let mut tried = 0usize;
        let mut agree_counting = |body: &[u8]| {
            let (task, request) = agree(body);
            tried += 1;
            fast += usize::from(task || request);
        };
        for (index, (_, _, body)) in bodies().into_iter().enumerate() {
            if agree(&body) == (false, false) {
                continue;
            }
            for len in 0..body.len() {
                agree_counting(&body[..len]);
            }
            // Every byte of small bodies and of every 8th large one, every 5th byte of the
            // rest, to keep the test quick unoptimised.
            let step = if body.len() < 200 || index % 8 == 0 {
                1
            } else {
                5
            };
            let mut mutated = body.clone();
            for pos in (index % step..body.len()).step_by(step) {
                for byte in BYTES {
                    mutated[pos] = byte;
                    agree_counting(&mutated);
                }
                mutated[pos] = body[pos];
            }
        }
        // Many mutations still read as a message (a changed letter of a string, say).
        eprintln!("{fast} of {tried} truncated or mutated bodies took the fast path");
        assert!(fast * 10 > tried, "{fast} of {tried}");
    }

    /// Random edits (1 to 4 per body: a byte replaced, flipped, inserted or removed, a
    /// letter changed, a cut) of the golden bodies, many more than the test above makes.
    /// Slow unoptimised: `cargo test --release -p airflow-protocol --lib random_edits --
    /// --ignored`; `FAST_PATH_EDITS` sets the count (default 2,000,000).
    #[test]
    #[ignore = "a long run; by hand, optimised"]
    fn random_edits_agree() {
        let bodies: Vec<Vec<u8>> = bodies().into_iter().map(|(_, _, body)| body).collect();
        let count: u64 = std::env::var("FAST_PATH_EDITS")
            .map(|n| n.parse().expect("FAST_PATH_EDITS is a number"))
            .unwrap_or(2_000_000);
        // xorshift64: the same edits on every run.
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        const MARKERS: [u8; 20] = [
            0x00, 0x01, 0x7f, 0x80, 0x81, 0x90, 0x91, 0xa0, 0xa1, 0xa4, 0xc0, 0xc1, 0xc2, 0xc3,
            0xd6, 0xd7, 0xd9, 0xdc, 0xde, 0xff,
        ];
        let mut fast = 0u64;
        for _ in 0..count {
            let mut body = bodies[(next() % bodies.len() as u64) as usize].clone();
            for _ in 0..1 + next() % 4 {
                if body.is_empty() {
                    break;
                }
                let pos = (next() % body.len() as u64) as usize;
                match next() % 8 {
                    0 => body[pos] = next() as u8,
                    1 => body[pos] = MARKERS[(next() % MARKERS.len() as u64) as usize],
                    2 => body[pos] ^= 1 << (next() % 8),
                    3 => body.insert(pos, next() as u8),
                    4 => {
                        body.remove(pos);
                    }
                    5 => body.truncate(pos),
                    _ => body[pos] = b'a' + (next() % 26) as u8,
                }
            }
            let (task, request) = agree(&body);
            fast += u64::from(task) + u64::from(request);
        }
        eprintln!("{fast} of {count} edited bodies took a fast path");
    }

    fn pack(value: &serde_json::Value) -> Vec<u8> {
        rmp_serde::to_vec_named(value).unwrap()
    }

    /// A `StartupDetails` body as JSON, to change and pack.
    fn startup_details() -> serde_json::Value {
        let body = golden::bodies()
            .into_iter()
            .map(|(_, _, body)| body)
            .find(|body| body.ends_with(b"StartupDetails"))
            .unwrap();
        let message = ToTask::decode_generic(&body).unwrap();
        let mut json = serde_json::to_value(&message).unwrap();
        // Move `type` last, as Python writes it.
        let tag = json.as_object_mut().unwrap().shift_remove("type").unwrap();
        json["type"] = tag;
        json
    }

    #[test]
    fn unusual_bodies_agree_or_take_the_generic_path() {
        let base = startup_details();
        assert!(agree(&pack(&base)).0, "the base body takes the fast path");
        let mut cases = Vec::new();
        let mut change = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut body = base.clone();
            f(&mut body);
            cases.push(pack(&body));
        };
        change(&|b| b["unknown"] = json!({"a": [1, {"b": null}]}));
        change(&|b| b["ti"]["unknown"] = json!([1, 2]));
        change(&|b| b["ti"]["type"] = json!("Other"));
        change(&|b| b["ti_context"]["dag_run"]["conf"] = json!({"a": {"b": [1, 2.5, "x"]}}));
        change(&|b| b["ti_context"]["dag_run"]["consumed_asset_events"] = json!(null));
        change(&|b| b["ti_context"]["next_kwargs"] = json!({"k": "v"}));
        change(&|b| b["ti_context"]["next_kwargs"] = json!("{\"k\": 1}"));
        change(&|b| b["ti_context"]["xcom_keys_to_clear"] = json!(["a", "b"]));
        change(&|b| b["ti_context"]["variables"] = json!([{"key": "k", "value": "v"}]));
        change(&|b| b["ti"]["context_carrier"] = json!({"traceparent": "00-ab"}));
        change(&|b| b["ti"]["context_carrier"] = json!([]));
        change(&|b| b["ti"]["map_index"] = json!(u64::MAX));
        change(&|b| b["ti"]["try_number"] = json!(1.5));
        change(&|b| b["ti"]["id"] = json!("{01931B2C-0000-7000-8000-000000000001}"));
        change(&|b| b["ti"]["id"] = json!("not a uuid"));
        change(&|b| b["start_date"] = json!("2025-01-01T00:00:05.123456+01:00"));
        change(&|b| b["start_date"] = json!("2025-01-01T00:00:05"));
        change(&|b| b["ti_context"]["dag_run"]["state"] = json!("paused"));
        change(&|b| b["ti_context"]["dag_run"]["run_type"] = json!(3));
        change(&|b| b["ti_context"]["should_retry"] = json!(1));
        change(&|b| b["type"] = json!("DagRunResult"));
        change(&|b| {
            b.as_object_mut()
                .unwrap()
                .shift_remove("sentry_integration");
        });
        change(&|b| {
            b.as_object_mut().unwrap().shift_remove("dag_rel_path");
        });
        change(&|b| {
            b["ti"].as_object_mut().unwrap().shift_remove("queue");
        });
        // Values nested around the deepest the type scan allows where they sit.
        for depth in 94..=99 {
            let mut value = json!(null);
            for _ in 0..depth {
                value = json!([value]);
            }
            let deep = value.clone();
            change(&|b| b["ti_context"]["dag_run"]["conf"] = json!({"deep": deep.clone()}));
            change(&|b| b["ti_context"]["dag_run"]["unknown"] = deep.clone());
            change(&|b| b["unknown"] = deep.clone());
        }
        let deep_hits = cases.iter().rev().take(18).filter(|c| agree(c).0).count();
        assert!(
            deep_hits > 0 && deep_hits < 18,
            "the depth bound is exercised"
        );
        for body in &cases {
            agree(body);
        }
        // Raw bytes JSON cannot make: a second `type` key, a non-text or non-UTF-8 key before
        // `type`, a 16-byte timestamp extension, extra bytes after the body.
        let mut raw = Vec::new();
        let body = pack(&base);
        let entries = body[0] & 0x0f;
        for extra in [
            &[0xa4, b't', b'y', b'p', b'e', 0xa1, b'X'][..],
            &[0xa4, b't', b'y', b'p', b'e', 0x01],
            &[0x01, 0x02],
            &[0xa2, 0xff, 0xfe, 0xc0],
        ] {
            let mut first = vec![0x80 | (entries + 1)];
            first.extend_from_slice(extra);
            first.extend_from_slice(&body[1..]);
            raw.push(first);
            let mut last = vec![0x80 | (entries + 1)];
            last.extend_from_slice(&body[1..]);
            last.extend_from_slice(extra);
            raw.push(last);
        }
        let ext12 = [
            0xc7, 0x0c, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x67, 0x74, 0x85, 0x85,
        ];
        let ext16 = [
            0xd8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x67, 0x74, 0x85, 0x85, 1, 2, 3, 4,
        ];
        let start_date = [&[0xaa][..], b"start_date"].concat();
        for ext in [&ext12[..], &ext16[..]] {
            let at = body
                .windows(start_date.len())
                .position(|w| w == start_date)
                .unwrap()
                + start_date.len();
            let old_len = match body[at] {
                0xd6 => 6,
                0xd7 => 10,
                _ => 15,
            };
            raw.push([&body[..at], ext, &body[at + old_len..]].concat());
        }
        raw.push([&body[..], &[0xc0, 0x01]].concat());
        for body in &raw {
            agree(body);
        }
    }
}
