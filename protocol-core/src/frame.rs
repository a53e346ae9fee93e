//! The frame codec: a 4-byte big-endian length, then one msgpack value.
//!
//! [`FrameDecoder`] is a push decoder over one receive buffer. Bytes go in as they arrive, in
//! any split; complete frames come out as slices of that buffer, without copying or
//! allocating. Partial input is not an error. A length prefix over the configured maximum is
//! refused as soon as its four bytes are in, before any memory is reserved for the payload;
//! a zero-length frame is refused too (the supervisor's own reader wedges on one).
//!
//! The encoders write the prefix and the payload into a caller-owned buffer that is reused
//! from frame to frame, so that an adapter can send a whole frame with one write.

use std::collections::BTreeMap;
use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::messages::{ser, BodyError, ErrorResponse, ToSupervisor, ToTask};
use crate::wire::{self, Reader, WireError};

/// The default largest frame payload accepted or produced: 64 MiB.
pub const DEFAULT_MAX_FRAME_LEN: u32 = 64 * 1024 * 1024;

/// The length of the frame prefix.
pub const PREFIX_LEN: usize = 4;

/// Why the byte stream cannot be read as frames. The stream is unusable after any of these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame announced a payload of zero bytes.
    Empty {
        /// Offset of the frame in the stream.
        offset: u64,
    },
    /// A frame announced more bytes than the configured maximum.
    TooLarge {
        /// Offset of the frame in the stream.
        offset: u64,
        /// The announced payload length.
        len: u32,
        /// The configured maximum.
        max: u32,
    },
    /// The payload is not a frame envelope (`[id, body, …]` or `[id, body, error]`).
    Malformed {
        /// Offset of the frame in the stream.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty { offset } => write!(f, "zero-length frame at stream offset {offset}"),
            Self::TooLarge { offset, len, max } => write!(
                f,
                "frame at stream offset {offset} announces {len} bytes, over the limit of {max}"
            ),
            Self::Malformed { offset, reason } => {
                write!(f, "malformed frame at stream offset {offset}: {reason}")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// A push decoder of length-prefixed frames over one reusable receive buffer.
#[derive(Debug)]
pub struct FrameDecoder {
    // `buf[start..end]` holds received bytes not yet returned as frames. The whole of `buf`
    // is initialised, so `spare` can hand out its tail without unsafe code.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max_frame_len: u32,
    consumed: u64,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `max_frame_len` bytes.
    pub fn new(max_frame_len: u32) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            end: 0,
            max_frame_len,
            consumed: 0,
            failed: None,
        }
    }

    /// The configured maximum payload length.
    pub fn max_frame_len(&self) -> u32 {
        self.max_frame_len
    }

    /// Bytes received and not yet returned as frames.
    pub fn buffered_len(&self) -> usize {
        self.end - self.start
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.spare(data.len())[..data.len()].copy_from_slice(data);
        self.end += data.len();
    }

    /// A writable region of at least `min` bytes after the buffered data, for reading from a
    /// socket straight into the decoder. Call [`FrameDecoder::commit`] with the count read.
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < min {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < min {
                let wanted = (self.end + min).max(self.buf.len() * 2).max(4096);
                self.buf.resize(wanted, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Marks `n` bytes of the region returned by [`FrameDecoder::spare`] as received.
    ///
    /// # Panics
    /// If `n` is larger than that region, which is a bug in the caller.
    pub fn commit(&mut self, n: usize) {
        assert!(
            self.end + n <= self.buf.len(),
            "committed more bytes than were spare"
        );
        self.end += n;
    }

    /// The next complete frame's payload, `Ok(None)` when more bytes are needed, or the error
    /// that makes the stream unusable (returned again on every later call).
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let available = self.end - self.start;
        if available < PREFIX_LEN {
            return Ok(None);
        }
        let prefix: [u8; 4] = self.buf[self.start..self.start + PREFIX_LEN]
            .try_into()
            .expect("four bytes");
        let len = u32::from_be_bytes(prefix);
        if len == 0 {
            return Err(self.fail(FrameError::Empty {
                offset: self.consumed,
            }));
        }
        if len > self.max_frame_len {
            return Err(self.fail(FrameError::TooLarge {
                offset: self.consumed,
                len,
                max: self.max_frame_len,
            }));
        }
        let total = PREFIX_LEN + len as usize;
        if available < total {
            return Ok(None);
        }
        let payload_start = self.start + PREFIX_LEN;
        self.start += total;
        self.consumed += total as u64;
        Ok(Some(&self.buf[payload_start..payload_start + len as usize]))
    }

    /// Offset in the stream of the next frame, for error messages.
    pub fn stream_offset(&self) -> u64 {
        self.consumed
    }

    fn fail(&mut self, error: FrameError) -> FrameError {
        self.failed = Some(error.clone());
        error
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

/// A request frame's envelope: `[id, body]` or `[id, body, context_carrier]`, extra trailing
/// elements ignored. Body and carrier are left as msgpack for the caller to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestEnvelope<'a> {
    /// The request id.
    pub id: i64,
    /// The body map, or `None` for nil.
    pub body: Option<&'a [u8]>,
    /// The trace context carrier map, or `None` for nil or absent.
    pub context_carrier: Option<&'a [u8]>,
}

/// A response frame's envelope: `[id]`, `[id, body]` or `[id, body, error]`, extra trailing
/// elements ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseEnvelope<'a> {
    /// The id of the request answered.
    pub id: i64,
    /// The body map, or `None` for nil or absent.
    pub body: Option<&'a [u8]>,
    /// The error map, or `None` for nil or absent.
    pub error: Option<&'a [u8]>,
}

/// What went wrong inside an envelope; the caller adds the stream offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeError(pub String);

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<WireError> for EnvelopeError {
    fn from(e: WireError) -> Self {
        EnvelopeError(e.to_string())
    }
}

// The id and up to two optional map elements of an envelope.
type EnvelopeParts<'a> = (i64, [Option<&'a [u8]>; 2]);

// Reads `[id, e1, e2, …]`: returns the id and up to two optional map elements (nil → None).
#[inline]
fn parse_envelope<'a>(
    payload: &'a [u8],
    min_len: usize,
    names: [&str; 2],
) -> Result<EnvelopeParts<'a>, EnvelopeError> {
    match read_envelope(payload, min_len) {
        Some(parts) => Ok(parts),
        None => parse_envelope_reporting(payload, min_len, names),
    }
}

// What `parse_envelope_reporting` does, without the errors: the same reads and checks, for
// `None` exactly where it fails. Only the quick `Option` of this one is on the hot path.
#[inline(always)]
fn read_envelope(payload: &[u8], min_len: usize) -> Option<EnvelopeParts<'_>> {
    let mut reader = Reader::new(payload);
    let len = reader.array_len().ok()?;
    if len < min_len {
        return None;
    }
    let id = reader.int().ok()?;
    let mut slots = [None, None];
    for slot in slots.iter_mut().take(len - 1) {
        if reader.eat_nil().ok()? {
            continue;
        }
        if !matches!(reader.peek().ok()?, 0x80..=0x8f | 0xde | 0xdf) {
            return None;
        }
        *slot = Some(reader.value_slice_within(wire::MAX_DEPTH).ok()?);
    }
    for _ in 3..len {
        reader.skip_within(wire::MAX_DEPTH).ok()?;
    }
    (reader.remaining() == 0).then_some((id, slots))
}

// `parse_envelope`, reporting what is wrong.
#[cold]
#[inline(never)]
fn parse_envelope_reporting<'a>(
    payload: &'a [u8],
    min_len: usize,
    names: [&str; 2],
) -> Result<EnvelopeParts<'a>, EnvelopeError> {
    let mut reader = Reader::new(payload);
    let len = reader.array_len().map_err(|e| match e {
        WireError::Unexpected { marker, .. } => EnvelopeError(format!(
            "a frame is a msgpack array, found {}",
            wire::kind_name(marker)
        )),
        other => other.into(),
    })?;
    if len < min_len {
        return Err(EnvelopeError(format!(
            "a frame array needs at least {min_len} elements, found {len}"
        )));
    }
    let id = reader
        .int()
        .map_err(|e| EnvelopeError(format!("request id: {e}")))?;
    let mut slots = [None, None];
    for (index, slot) in slots.iter_mut().enumerate() {
        if index + 1 >= len {
            break;
        }
        if reader.eat_nil()? {
            continue;
        }
        let marker = reader.peek()?;
        if !matches!(marker, 0x80..=0x8f | 0xde | 0xdf) {
            return Err(EnvelopeError(format!(
                "{} must be a map or nil, found {}",
                names[index],
                wire::kind_name(marker)
            )));
        }
        *slot = Some(
            reader
                .value_slice_within(wire::MAX_DEPTH)
                .map_err(|e| EnvelopeError(format!("{}: {e}", names[index])))?,
        );
    }
    for _ in 3..len {
        reader.skip_within(wire::MAX_DEPTH)?;
    }
    if reader.remaining() != 0 {
        return Err(EnvelopeError(format!(
            "{} bytes after the frame array",
            reader.remaining()
        )));
    }
    Ok((id, slots))
}

/// Reads a request frame's envelope.
pub fn parse_request(payload: &[u8]) -> Result<RequestEnvelope<'_>, EnvelopeError> {
    let (id, [body, context_carrier]) = parse_envelope(payload, 2, ["body", "context_carrier"])?;
    Ok(RequestEnvelope {
        id,
        body,
        context_carrier,
    })
}

/// Reads a response frame's envelope.
pub fn parse_response(payload: &[u8]) -> Result<ResponseEnvelope<'_>, EnvelopeError> {
    let (id, [body, error]) = parse_envelope(payload, 1, ["body", "error"])?;
    Ok(ResponseEnvelope { id, body, error })
}

/// A request frame read whole: its envelope, as [`parse_request`] reads it, and its body
/// decoded, as [`ToSupervisor::decode`] decodes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRequest<'a> {
    /// The request id.
    pub id: i64,
    /// The decoded body, or `None` for nil.
    pub body: Option<Result<ToSupervisor, BodyError>>,
    /// The trace context carrier map, or `None` for nil or absent.
    pub context_carrier: Option<&'a [u8]>,
}

/// A response frame read whole: its envelope, as [`parse_response`] reads it, and its body
/// decoded, as [`ToTask::decode`] decodes it. The error slot is left as msgpack.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedResponse<'a> {
    /// The id of the request answered.
    pub id: i64,
    /// The decoded body, or `None` for nil or absent.
    pub body: Option<Result<ToTask, BodyError>>,
    /// The error map, or `None` for nil or absent.
    pub error: Option<&'a [u8]>,
}

/// For a payload `[id, body]` or `[id, body, nil]` whose body is a map: the id, and the bytes
/// the body fills if the payload is well-formed (all up to the end, or up to the final nil).
/// Only a guess: the body decoder must end exactly there for the guess to hold.
#[inline(always)]
fn single_body_guess(payload: &[u8]) -> Option<(i64, &[u8])> {
    let mut reader = Reader::new(payload);
    let end = match reader.array_len().ok()? {
        2 => payload.len(),
        3 if payload.last() == Some(&0xc0) => payload.len() - 1,
        _ => return None,
    };
    let id = reader.int().ok()?;
    let start = reader.position();
    if !matches!(payload.get(start)?, 0x80..=0x8f | 0xde | 0xdf) {
        return None;
    }
    Some((id, payload.get(start..end)?))
}

/// Reads a request frame's envelope and decodes its body: the same as [`parse_request`] and
/// then [`ToSupervisor::decode`] of the body, in one pass over the frame for the bodies with
/// a fast decoder, where those two read the body twice (once to find where it ends).
pub fn decode_request(payload: &[u8]) -> Result<DecodedRequest<'_>, EnvelopeError> {
    // `[id, body]` or `[id, body, nil]`: if the body decoder reads the body up to where the
    // payload ends (or its final nil), the envelope is well-formed, and that is its body.
    // (The message is built where the result goes: it is large to move.)
    match single_body_guess(payload) {
        Some((id, body)) => ToSupervisor::decode_filling(
            body,
            |message| {
                Ok(DecodedRequest {
                    id,
                    body: Some(Ok(message)),
                    context_carrier: None,
                })
            },
            || decode_request_in_two_passes(payload),
        ),
        None => decode_request_in_two_passes(payload),
    }
}

#[inline(never)]
fn decode_request_in_two_passes(payload: &[u8]) -> Result<DecodedRequest<'_>, EnvelopeError> {
    let envelope = parse_request(payload)?;
    Ok(DecodedRequest {
        id: envelope.id,
        body: envelope.body.map(ToSupervisor::decode),
        context_carrier: envelope.context_carrier,
    })
}

/// Reads a response frame's envelope and decodes its body: the same as [`parse_response`] and
/// then [`ToTask::decode`] of the body, in one pass over the frame for the bodies with a fast
/// decoder, where those two read the body twice (once to find where it ends).
pub fn decode_response(payload: &[u8]) -> Result<DecodedResponse<'_>, EnvelopeError> {
    match single_body_guess(payload) {
        Some((id, body)) => ToTask::decode_filling(
            body,
            |message| {
                Ok(DecodedResponse {
                    id,
                    body: Some(Ok(message)),
                    error: None,
                })
            },
            || decode_response_in_two_passes(payload),
        ),
        None => decode_response_in_two_passes(payload),
    }
}

#[inline(never)]
fn decode_response_in_two_passes(payload: &[u8]) -> Result<DecodedResponse<'_>, EnvelopeError> {
    let envelope = parse_response(payload)?;
    Ok(DecodedResponse {
        id: envelope.id,
        body: envelope.body.map(ToTask::decode),
        error: envelope.error,
    })
}

/// Panics unless [`decode_request`] and [`decode_response`] give what the two passes they
/// stand for give (`parse_*`, then the body decoder). Shared by the unit tests and the
/// `frame_decoder` fuzz target.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn assert_one_pass_agrees(payload: &[u8]) {
    // Compared as debug text, which a NaN equals.
    let same = |a: &dyn fmt::Debug, b: &dyn fmt::Debug| {
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{payload:02x?}")
    };
    same(
        &decode_request(payload),
        &decode_request_in_two_passes(payload),
    );
    same(
        &decode_response(payload),
        &decode_response_in_two_passes(payload),
    );
}

/// Why a frame could not be encoded. Nothing is left in the output buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The payload is longer than the maximum frame length.
    TooLarge {
        /// The payload length.
        len: usize,
        /// The maximum.
        max: u32,
    },
    /// The body could not be serialized.
    Serialize(String),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => {
                write!(f, "frame payload of {len} bytes is over the limit of {max}")
            }
            Self::Serialize(reason) => write!(f, "body could not be encoded: {reason}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// A W3C trace context carrier (`traceparent`, `tracestate`) sent with a request.
pub type ContextCarrier = BTreeMap<String, String>;

/// Appends a request frame `[id, body]` (or `[id, body, carrier]`) to `out`.
///
/// Timestamps are written as RFC 3339 text with a `Z`, which the supervisor reads as
/// timezone-aware datetimes.
pub fn encode_request(
    out: &mut Vec<u8>,
    id: u64,
    body: &ToSupervisor,
    context_carrier: Option<&ContextCarrier>,
    max_frame_len: u32,
) -> Result<(), EncodeError> {
    write_frame(out, max_frame_len, |out| {
        out.push(if context_carrier.is_some() {
            0x93
        } else {
            0x92
        });
        ser::write(out, &id, true)?;
        ser::write_request(out, body)?;
        if let Some(carrier) = context_carrier {
            ser::write(out, carrier, true)?;
        }
        Ok(())
    })
}

/// What a supervisor answers to one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Response<'a> {
    /// `[id, nil, nil]`: the answer to writes and terminal messages.
    Empty,
    /// `[id, body, nil]`.
    Body(&'a ToTask),
    /// `[id, nil, error]`: the error slot, used for Execution API failures.
    Error(&'a ErrorResponse),
}

/// Appends a response frame, always three elements as the Python supervisor writes them.
///
/// Timestamps are written as msgpack timestamp extensions, as the supervisor writes them.
pub fn encode_response(
    out: &mut Vec<u8>,
    id: i64,
    response: Response<'_>,
    max_frame_len: u32,
) -> Result<(), EncodeError> {
    const NIL: u8 = 0xc0;
    write_frame(out, max_frame_len, |out| {
        out.push(0x93);
        ser::write(out, &id, false)?;
        match response {
            Response::Empty => out.extend_from_slice(&[NIL, NIL]),
            Response::Body(body) => {
                ser::write(out, body, false)?;
                out.push(NIL);
            }
            Response::Error(error) => {
                out.push(NIL);
                ser::write(out, &TaggedError(error), false)?;
            }
        }
        Ok(())
    })
}

// An ErrorResponse with its `type` key, for the error slot.
pub(crate) struct TaggedError<'a>(pub(crate) &'a ErrorResponse);

impl Serialize for TaggedError<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("type", "ErrorResponse")?;
        map.serialize_entry("error", &self.0.error)?;
        map.serialize_entry("detail", &self.0.detail)?;
        map.end()
    }
}

fn write_frame(
    out: &mut Vec<u8>,
    max_frame_len: u32,
    payload: impl FnOnce(&mut Vec<u8>) -> Result<(), rmp_serde::encode::Error>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0; PREFIX_LEN]);
    if let Err(e) = payload(out) {
        out.truncate(start);
        return Err(EncodeError::Serialize(e.to_string()));
    }
    let len = out.len() - start - PREFIX_LEN;
    match u32::try_from(len) {
        Ok(len32) if len32 <= max_frame_len => {
            out[start..start + PREFIX_LEN].copy_from_slice(&len32.to_be_bytes());
            Ok(())
        }
        _ => {
            out.truncate(start);
            Err(EncodeError::TooLarge {
                len,
                max: max_frame_len,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::GetVariable;

    /// Every golden payload, with the length prefix taken off.
    fn golden_payloads() -> Vec<Vec<u8>> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut payloads = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "bin") {
                    payloads.push(std::fs::read(&path).unwrap()[PREFIX_LEN..].to_vec());
                }
            }
        }
        assert!(payloads.len() > 100, "the golden frames are there");
        payloads
    }

    #[test]
    fn the_quick_envelope_reader_agrees_with_the_reporting_one() {
        let names = ["body", "error"];
        let agree = |payload: &[u8]| {
            for min_len in [1, 2] {
                let quick = read_envelope(payload, min_len);
                let reporting = parse_envelope_reporting(payload, min_len, names);
                match quick {
                    Some(parts) => assert_eq!(reporting, Ok(parts), "{payload:02x?}"),
                    None => assert!(reporting.is_err(), "{payload:02x?}"),
                }
            }
        };
        for payload in golden_payloads() {
            for len in 0..=payload.len() {
                agree(&payload[..len]);
            }
            let mut mutated = payload.clone();
            let step = if payload.len() > 200 { 5 } else { 1 };
            for pos in (0..payload.len()).step_by(step) {
                for byte in [
                    0x00, 0x80, 0x90, 0x91, 0x94, 0xa1, 0xc0, 0xc1, 0xcc, 0xdc, 0xff,
                ] {
                    mutated[pos] = byte;
                    agree(&mutated);
                }
                mutated[pos] = payload[pos];
            }
            // Extra elements and bytes.
            let mut longer = payload.clone();
            longer[0] = 0x94;
            longer.push(0x01);
            agree(&longer);
            agree(&[&payload[..], &[0xc0]].concat());
        }
    }

    #[test]
    fn decoding_in_one_pass_agrees_with_the_two_passes_at_the_depth_limit() {
        // `[1, {key: "k", value: [[…nil…]], type: "XComResult"}, nil]` and the same request
        // (`GetXCom` has no such value; a `PutVariable` value must be text, so it is an
        // unknown key there), nested around the deepest a frame allows.
        let mut outcomes = std::collections::BTreeSet::new();
        for depth in 94..=102 {
            for (type_name, key) in [("XComResult", "value"), ("PutVariable", "extra")] {
                let mut payload = vec![0x93, 0x01, 0x83, 0xa3, b'k', b'e', b'y', 0xa1, b'k'];
                payload.push(0xa0 | key.len() as u8);
                payload.extend_from_slice(key.as_bytes());
                payload.extend(std::iter::repeat_n(0x91, depth));
                payload.push(0xc0);
                payload.extend_from_slice(&[0xa4, b't', b'y', b'p', b'e']);
                payload.push(0xa0 | type_name.len() as u8);
                payload.extend_from_slice(type_name.as_bytes());
                payload.push(0xc0);
                assert_one_pass_agrees(&payload);
                outcomes.insert(match decode_response(&payload) {
                    Ok(DecodedResponse {
                        body: Some(Ok(_)), ..
                    }) => "decoded",
                    Ok(_) => "body refused",
                    Err(_) => "envelope refused",
                });
                payload.pop();
                payload[0] = 0x92;
                assert_one_pass_agrees(&payload);
            }
        }
        // Both sides of the limit.
        assert!(
            outcomes.contains("decoded") && outcomes.contains("envelope refused"),
            "{outcomes:?}"
        );
    }

    #[test]
    fn decoding_in_one_pass_agrees_with_the_two_passes() {
        for payload in golden_payloads() {
            assert_one_pass_agrees(&payload);
            for len in 0..payload.len() {
                assert_one_pass_agrees(&payload[..len]);
            }
            let mut mutated = payload.clone();
            let step = if payload.len() > 200 { 5 } else { 1 };
            for pos in (0..payload.len()).step_by(step) {
                for byte in [
                    0x00, 0x80, 0x81, 0x90, 0x91, 0x92, 0x94, 0xa1, 0xc0, 0xc1, 0xcc, 0xdc, 0xff,
                ] {
                    mutated[pos] = byte;
                    assert_one_pass_agrees(&mutated);
                }
                mutated[pos] = payload[pos];
            }
            // Other counts of elements, extra bytes, a body in the last slot.
            for (first, tail) in [
                (0x92, &[][..]),
                (0x93, &[0xc0][..]),
                (0x93, &[0x80][..]),
                (0x94, &[0xc0][..]),
                (0x94, &[0x01, 0xc0][..]),
            ] {
                let mut changed = payload.clone();
                changed[0] = first;
                changed.extend_from_slice(tail);
                assert_one_pass_agrees(&changed);
                changed.pop();
                assert_one_pass_agrees(&changed);
            }
            if let Ok(ResponseEnvelope {
                body: Some(body), ..
            }) = parse_response(&payload)
            {
                // `[id, nil, body]` and `[id, body, body]`: a map where the nil would be.
                let mut swapped = vec![0x93, 0x01, 0xc0];
                swapped.extend_from_slice(body);
                assert_one_pass_agrees(&swapped);
                let mut twice = vec![0x93, 0x01];
                twice.extend_from_slice(body);
                twice.extend_from_slice(body);
                assert_one_pass_agrees(&twice);
            }
        }
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn partial_input_waits_and_frames_come_out_whole() {
        let mut decoder = FrameDecoder::default();
        let bytes = [frame(&[0x92, 0x01, 0xc0]), frame(&[0x92, 0x02, 0xc0])].concat();
        decoder.push(&bytes[..2]);
        assert_eq!(decoder.next_frame(), Ok(None));
        decoder.push(&bytes[2..9]);
        assert_eq!(decoder.next_frame(), Ok(Some(&[0x92, 0x01, 0xc0][..])));
        assert_eq!(decoder.next_frame(), Ok(None));
        decoder.push(&bytes[9..]);
        assert_eq!(decoder.next_frame(), Ok(Some(&[0x92, 0x02, 0xc0][..])));
        assert_eq!(decoder.buffered_len(), 0);
    }

    #[test]
    fn oversized_prefix_is_refused_before_its_payload_arrives() {
        let mut decoder = FrameDecoder::new(16);
        decoder.push(&[0, 0, 0, 17]);
        assert_eq!(
            decoder.next_frame(),
            Err(FrameError::TooLarge {
                offset: 0,
                len: 17,
                max: 16
            })
        );
        assert!(
            decoder.buf.len() < 4096 + 1,
            "nothing reserved for the payload"
        );
        decoder.push(&[0; 17]);
        assert!(decoder.next_frame().is_err(), "the stream stays failed");
    }

    #[test]
    fn zero_length_frame_is_refused() {
        let mut decoder = FrameDecoder::default();
        decoder.push(&frame(&[0x92, 0x01, 0xc0]));
        decoder.push(&[0, 0, 0, 0]);
        assert!(decoder.next_frame().unwrap().is_some());
        assert_eq!(decoder.next_frame(), Err(FrameError::Empty { offset: 7 }));
    }

    #[test]
    fn envelopes_accept_extra_elements_and_refuse_short_ones() {
        let ok = parse_request(&[0x94, 0x05, 0x80, 0xc0, 0xa1, b'x']).unwrap();
        assert_eq!(
            (ok.id, ok.body, ok.context_carrier),
            (5, Some(&[0x80u8][..]), None)
        );
        assert!(parse_request(&[0x91, 0x05]).is_err());
        assert!(parse_request(&[0x81, 0xa2, b'i', b'd', 0x01]).is_err());
        assert!(
            parse_request(&[0x92, 0x05, 0x80, 0x00]).is_err(),
            "trailing byte"
        );
        assert!(
            parse_request(&[0x92, 0x05, 0x01]).is_err(),
            "body must be a map"
        );
        let short = parse_response(&[0x91, 0x07]).unwrap();
        assert_eq!((short.id, short.body, short.error), (7, None, None));
    }

    #[test]
    fn encoded_frames_never_have_zero_length_and_respect_the_limit() {
        let mut out = Vec::new();
        let body = ToSupervisor::GetVariable(GetVariable {
            key: "k".repeat(100).into(),
        });
        encode_request(&mut out, 1, &body, None, DEFAULT_MAX_FRAME_LEN).unwrap();
        assert!(u32::from_be_bytes(out[..4].try_into().unwrap()) > 0);
        let before = out.len();
        let refused = encode_request(&mut out, 2, &body, None, 50);
        assert!(matches!(
            refused,
            Err(EncodeError::TooLarge { max: 50, .. })
        ));
        assert_eq!(out.len(), before, "a refused frame leaves nothing behind");
    }
}
