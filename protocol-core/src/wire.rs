//! A minimal msgpack reader for the frame envelope: array headers, ids, strings, and skipping
//! whole values without recursion, so that no input can exhaust the stack.

use std::fmt;

/// Why a msgpack value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The input ended inside a value.
    Truncated,
    /// The marker byte 0xc1, which msgpack never uses.
    ReservedMarker,
    /// Values nested deeper than the limit.
    TooDeep,
    /// A value of another type than expected: `marker` starts it.
    Unexpected { expected: Expected, marker: u8 },
    /// An integer outside the 64-bit signed range.
    IntegerRange,
    /// A string that is not UTF-8.
    InvalidUtf8,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("msgpack value is truncated"),
            Self::ReservedMarker => f.write_str("msgpack marker 0xc1 is reserved"),
            Self::TooDeep => write!(
                f,
                "msgpack values are nested deeper than {MAX_DEPTH} levels"
            ),
            Self::Unexpected { expected, marker } => {
                write!(
                    f,
                    "expected {}, found {}",
                    expected.name(),
                    kind_name(*marker)
                )
            }
            Self::IntegerRange => f.write_str("integer is outside the signed 64-bit range"),
            Self::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
        }
    }
}

/// The kind of value a [`WireError::Unexpected`] wanted. (A name, not a `&str`, keeps the
/// error, and every `Result` of the reader, two bytes long.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expected {
    Array,
    Map,
    Integer,
    String,
    Boolean,
    Extension,
}

impl Expected {
    fn name(self) -> &'static str {
        match self {
            Self::Array => "an array",
            Self::Map => "a map",
            Self::Integer => "an integer",
            Self::String => "a string",
            Self::Boolean => "a boolean",
            Self::Extension => "an extension",
        }
    }
}

/// The deepest nesting of arrays and maps accepted in a frame. Real messages stay below 10;
/// the bound keeps serde's recursive decoding far from the end of the stack.
pub(crate) const MAX_DEPTH: usize = 100;

/// The kind of a msgpack value, named as in error messages.
pub(crate) fn kind_name(marker: u8) -> &'static str {
    match marker {
        0x00..=0x7f | 0xe0..=0xff | 0xcc..=0xd3 => "an integer",
        0x80..=0x8f | 0xde | 0xdf => "a map",
        0x90..=0x9f | 0xdc | 0xdd => "an array",
        0xa0..=0xbf | 0xd9..=0xdb => "a string",
        0xc0 => "nil",
        0xc2 | 0xc3 => "a boolean",
        0xc4..=0xc6 => "binary data",
        0xca | 0xcb => "a float",
        0xc7..=0xc9 | 0xd4..=0xd8 => "an extension",
        0xc1 => "the reserved marker 0xc1",
    }
}

/// A cursor over one msgpack buffer.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// A cursor at `pos` in `buf`.
    #[inline]
    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Self {
        Self { buf, pos }
    }

    /// The offset of the cursor.
    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub(crate) fn peek(&self) -> Result<u8, WireError> {
        self.buf.get(self.pos).copied().ok_or(WireError::Truncated)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let slice = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    #[inline]
    fn be(&mut self, n: usize) -> Result<u64, WireError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    }

    /// Reads a nil if one is next; returns whether it did.
    #[inline]
    pub(crate) fn eat_nil(&mut self) -> Result<bool, WireError> {
        if self.peek()? == 0xc0 {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    #[inline]
    pub(crate) fn array_len(&mut self) -> Result<usize, WireError> {
        let marker = self.peek()?;
        let len = match marker {
            0x90..=0x9f => {
                self.pos += 1;
                u64::from(marker & 0x0f)
            }
            0xdc => {
                self.pos += 1;
                self.be(2)?
            }
            0xdd => {
                self.pos += 1;
                self.be(4)?
            }
            other => return Err(unexpected(Expected::Array, other)),
        };
        Ok(len as usize)
    }

    #[inline]
    pub(crate) fn map_len(&mut self) -> Result<usize, WireError> {
        let marker = self.peek()?;
        let len = match marker {
            0x80..=0x8f => {
                self.pos += 1;
                u64::from(marker & 0x0f)
            }
            0xde => {
                self.pos += 1;
                self.be(2)?
            }
            0xdf => {
                self.pos += 1;
                self.be(4)?
            }
            other => return Err(unexpected(Expected::Map, other)),
        };
        Ok(len as usize)
    }

    /// Reads an integer of any width that fits in an `i64`.
    #[inline(always)]
    pub(crate) fn int(&mut self) -> Result<i64, WireError> {
        // Small integers inline, the rest out of line.
        let marker = self.peek()?;
        match marker {
            0x00..=0x7f => {
                self.pos += 1;
                Ok(i64::from(marker))
            }
            0xe0..=0xff => {
                self.pos += 1;
                Ok(i64::from(marker as i8))
            }
            _ => self.wide_int(marker),
        }
    }

    /// [`Reader::int`] of anything but a fixint.
    #[inline(never)]
    fn wide_int(&mut self, marker: u8) -> Result<i64, WireError> {
        let value = match marker {
            0xcc..=0xcf => {
                self.pos += 1;
                let v = self.be(1 << (marker - 0xcc))?;
                i64::try_from(v).map_err(|_| WireError::IntegerRange)?
            }
            0xd0..=0xd3 => {
                self.pos += 1;
                let width = 1usize << (marker - 0xd0);
                let v = self.be(width)?;
                let shift = 64 - 8 * width as u32;
                ((v << shift) as i64) >> shift
            }
            other => return Err(unexpected(Expected::Integer, other)),
        };
        Ok(value)
    }

    /// Reads a string's bytes, borrowed from the buffer, without checking that they are UTF-8.
    #[inline(always)]
    pub(crate) fn str_bytes(&mut self) -> Result<&'a [u8], WireError> {
        // Short strings (every key, most values) and those of up to 255 bytes (UUIDs, say)
        // inline; the rest out of line.
        let marker = self.peek()?;
        let (header, len) = match marker {
            0xa0..=0xbf => (1, usize::from(marker & 0x1f)),
            0xd9 => match self.buf.get(self.pos + 1) {
                Some(&len) => (2, usize::from(len)),
                None => return Err(WireError::Truncated),
            },
            _ => return self.long_str_bytes(marker),
        };
        let start = self.pos + header;
        let bytes = self
            .buf
            .get(start..start + len)
            .ok_or(WireError::Truncated)?;
        self.pos = start + len;
        Ok(bytes)
    }

    /// [`Reader::str_bytes`] of anything but a short string.
    #[inline(never)]
    fn long_str_bytes(&mut self, marker: u8) -> Result<&'a [u8], WireError> {
        let len = match marker {
            0xda => {
                self.pos += 1;
                self.be(2)?
            }
            0xdb => {
                self.pos += 1;
                self.be(4)?
            }
            other => return Err(unexpected(Expected::String, other)),
        };
        self.take(len as usize)
    }

    /// Reads a boolean.
    #[inline]
    pub(crate) fn bool(&mut self) -> Result<bool, WireError> {
        let marker = self.peek()?;
        match marker {
            0xc2 | 0xc3 => {
                self.pos += 1;
                Ok(marker == 0xc3)
            }
            other => Err(unexpected(Expected::Boolean, other)),
        }
    }

    /// Reads an extension: its type and its payload, borrowed from the buffer.
    #[inline(always)]
    pub(crate) fn ext(&mut self) -> Result<(i8, &'a [u8]), WireError> {
        // The fixed sizes (timestamps of 4 and 8 bytes) inline, the rest out of line.
        let marker = self.peek()?;
        if !matches!(marker, 0xd4..=0xd8) {
            return self.sized_ext(marker);
        }
        let len = 1usize << (marker - 0xd4);
        let start = self.pos + 1;
        match self.buf.get(start..start + 1 + len) {
            Some(bytes) => {
                self.pos = start + 1 + len;
                Ok((bytes[0] as i8, &bytes[1..]))
            }
            None => Err(WireError::Truncated),
        }
    }

    /// [`Reader::ext`] of an extension with a length field.
    #[inline(never)]
    fn sized_ext(&mut self, marker: u8) -> Result<(i8, &'a [u8]), WireError> {
        if !matches!(marker, 0xc7..=0xc9) {
            return Err(unexpected(Expected::Extension, marker));
        }
        self.pos += 1;
        let len = match marker {
            0xc7 => self.be(1)? as usize,
            0xc8 => self.be(2)? as usize,
            _ => self.be(4)? as usize,
        };
        let ext_type = self.take(1)?[0] as i8;
        Ok((ext_type, self.take(len)?))
    }

    /// Skips one whole value, iteratively; returns the deepest nesting seen inside it.
    #[inline]
    pub(crate) fn skip_value(&mut self) -> Result<usize, WireError> {
        self.skip_value_within(MAX_DEPTH)
    }

    /// [`Reader::skip_value`] for a value that may nest at most `limit` (≤ [`MAX_DEPTH`])
    /// levels deep.
    #[inline]
    fn skip_value_within(&mut self, limit: usize) -> Result<usize, WireError> {
        let marker = self.peek()?;
        match FIXED_SIZE[usize::from(marker)] {
            0 if is_container(marker) => self.skip_container(limit),
            0 => self.skip_sized(marker).map(|()| 0),
            size => self.take(usize::from(size)).map(|_| 0),
        }
    }

    /// Skips a value whose size is not in [`FIXED_SIZE`]: strings, binary data and
    /// extensions with a length field, and the reserved marker.
    fn skip_sized(&mut self, marker: u8) -> Result<(), WireError> {
        self.pos += 1;
        let (len_bytes, type_byte) = match marker {
            0xc4 | 0xd9 => (1, 0),
            0xc5 | 0xda => (2, 0),
            0xc6 | 0xdb => (4, 0),
            0xc7 => (1, 1),
            0xc8 => (2, 1),
            0xc9 => (4, 1),
            _ => return Err(WireError::ReservedMarker),
        };
        let len = self.be(len_bytes)? as usize;
        self.take(type_byte)?;
        self.take(len).map(|_| ())
    }

    /// Skips any array or map and everything inside it, without recursion. (Not inlined, so
    /// that its stack of counts is set up only when it runs.)
    #[inline(never)]
    fn skip_container(&mut self, limit: usize) -> Result<usize, WireError> {
        // `pending[d]` counts the values still to read at nesting depth `d` below the current
        // one; `left` counts them at the current depth, kept out of the array so that a run
        // of scalars costs a table lookup each.
        let mut pending = [0usize; MAX_DEPTH + 1];
        let mut depth = 0usize;
        let mut deepest = 0usize;
        let mut left = 1usize;
        loop {
            while left == 0 {
                if depth == 0 {
                    return Ok(deepest);
                }
                depth -= 1;
                left = pending[depth];
            }
            left -= 1;
            let marker = self.peek()?;
            let size = FIXED_SIZE[usize::from(marker)];
            if size != 0 {
                let end = self.pos + usize::from(size);
                if end > self.buf.len() {
                    return Err(WireError::Truncated);
                }
                self.pos = end;
                continue;
            }
            let children = match marker {
                0x80..=0x8f => {
                    self.pos += 1;
                    2 * usize::from(marker & 0x0f)
                }
                0x90..=0x9f => {
                    self.pos += 1;
                    usize::from(marker & 0x0f)
                }
                0xdc..=0xdf => {
                    self.pos += 1;
                    match marker {
                        0xdc => self.be(2)? as usize,
                        0xdd => self.be(4)? as usize,
                        0xde => 2 * self.be(2)? as usize,
                        _ => 2 * self.be(4)? as usize,
                    }
                }
                _ => {
                    self.skip_sized(marker)?;
                    continue;
                }
            };
            if children > 0 {
                // Every child needs at least one byte: refuse impossible counts at once.
                if children > self.remaining() {
                    return Err(WireError::Truncated);
                }
                pending[depth] = left;
                depth += 1;
                if depth > limit {
                    return Err(WireError::TooDeep);
                }
                deepest = deepest.max(depth);
                left = children;
            } else {
                deepest = deepest.max(depth + 1);
            }
        }
    }

    /// Skips one value nested at most `limit` (≤ [`MAX_DEPTH`]) levels deep, with the outcome
    /// and the end position of [`Reader::skip_value_within`], but without telling how deep it
    /// nests, which lets most values be skipped in one quick pass.
    #[inline]
    pub(crate) fn skip_within(&mut self, limit: usize) -> Result<(), WireError> {
        let start = self.pos;
        if self.skip_counting(limit).is_none() {
            self.pos = start;
            self.skip_value_within(limit)?;
        }
        Ok(())
    }

    /// Skips one value with a single count of the values still to read in all the containers
    /// open, and no stack. That cannot tell how deep the value nests, but a value of at most
    /// `limit` containers nests at most `limit` deep. `None` (position undefined) for a value
    /// with more containers and for any error: [`Reader::skip_value_within`] then decides.
    #[inline]
    fn skip_counting(&mut self, limit: usize) -> Option<()> {
        // The position is kept in a local, not in `self`, so that it stays in a register.
        let buf = self.buf;
        let mut pos = self.pos;
        let be = |at: usize, n: usize| -> Option<usize> {
            let bytes = buf.get(at..at + n)?;
            Some(bytes.iter().fold(0, |acc, &b| acc << 8 | usize::from(b)))
        };
        let mut left = 1usize;
        let mut containers = 0usize;
        while left > 0 {
            left -= 1;
            // Past the end, `get` fails, and so does the check after the loop: scalars are
            // skipped without a bounds check of their own.
            let marker = *buf.get(pos)?;
            // Where a value ends is known only once the value before it is read: each value
            // waits on the loads for the one before. Short strings (every key, most values),
            // small integers and nil are sized without the table, whose load would lengthen
            // that chain by half (a third faster on a `StartupDetails` envelope, for a few
            // more instructions).
            if marker & 0xe0 == 0xa0 {
                pos += 1 + usize::from(marker & 0x1f);
                continue;
            }
            if marker < 0x80 || marker == 0xc0 {
                pos += 1;
                continue;
            }
            let size = FIXED_SIZE[usize::from(marker)];
            if size != 0 {
                pos += usize::from(size);
                continue;
            }
            let (header, children) = match marker {
                0x80..=0x8f => (1, 2 * usize::from(marker & 0x0f)),
                0x90..=0x9f => (1, usize::from(marker & 0x0f)),
                0xdc => (3, be(pos + 1, 2)?),
                0xdd => (5, be(pos + 1, 4)?),
                0xde => (3, 2 * be(pos + 1, 2)?),
                0xdf => (5, be(pos + 1, 4)?.saturating_mul(2)),
                // Strings and binary data of up to 255 bytes (UUIDs, for one).
                0xc4 | 0xd9 => {
                    pos += 2 + be(pos + 1, 1)?;
                    continue;
                }
                _ => {
                    let mut rest = Reader::at(buf, pos);
                    rest.skip_sized(marker).ok()?;
                    pos = rest.pos;
                    continue;
                }
            };
            pos += header;
            containers += 1;
            left = left.saturating_add(children);
            // Every value needs at least one byte: refuse impossible counts at once.
            if containers > limit || left > buf.len().saturating_sub(pos) {
                return None;
            }
        }
        if pos > buf.len() {
            return None;
        }
        self.pos = pos;
        Some(())
    }

    /// Skips one value nested at most `limit` levels deep and returns the bytes it occupied.
    #[inline]
    pub(crate) fn value_slice_within(&mut self, limit: usize) -> Result<&'a [u8], WireError> {
        let start = self.pos;
        self.skip_within(limit)?;
        Ok(&self.buf[start..self.pos])
    }
}

/// The whole size in bytes (marker included) of every value whose size the marker alone
/// tells; 0 for containers, values with a length field, and the reserved marker 0xc1.
static FIXED_SIZE: [u8; 256] = {
    let mut sizes = [0u8; 256];
    let mut marker = 0usize;
    while marker < 256 {
        sizes[marker] = match marker as u8 {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 1,
            m @ 0xa0..=0xbf => 1 + (m & 0x1f),
            0xcc | 0xd0 => 2,
            0xcd | 0xd1 | 0xd4 => 3,
            0xd5 => 4,
            0xca | 0xce | 0xd2 => 5,
            0xd6 => 6,
            0xcb | 0xcf | 0xd3 => 9,
            0xd7 => 10,
            0xd8 => 18,
            _ => 0,
        };
        marker += 1;
    }
    sizes
};

fn is_container(marker: u8) -> bool {
    matches!(marker, 0x80..=0x9f | 0xdc..=0xdf)
}

/// Whether `bytes` are UTF-8, with a quick answer for ASCII, which map keys nearly always are.
#[inline]
pub(crate) fn is_utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

#[cold]
fn unexpected(expected: Expected, marker: u8) -> WireError {
    if marker == 0xc1 {
        return WireError::ReservedMarker;
    }
    WireError::Unexpected { expected, marker }
}

/// Checks a message body and finds its type in one walk: what `Reader::skip_value` on the
/// body (one well-formed value, at most [`MAX_DEPTH`] levels deep, so that serde's recursive
/// decoding can never exhaust the stack) and then [`find_type_tag`] decide together, with the
/// same result and the same error.
///
/// The walk visits the whole body once (the `type` key comes last in the bodies Python
/// writes, so the tag search alone already walks it all). Only if it fails are the two
/// passes run, to report exactly the error they report.
pub(crate) fn scan_body(body: &[u8]) -> Result<Option<&[u8]>, WireError> {
    scan_body_once(body).or_else(|_| {
        Reader::new(body).skip_value()?;
        find_type_tag(body)
    })
}

/// The single walk of [`scan_body`]: it succeeds only where both passes succeed, with the
/// same tag. Inside the body map (level 1) keys and values may nest `MAX_DEPTH - 1` levels.
fn scan_body_once(body: &[u8]) -> Result<Option<&[u8]>, WireError> {
    let mut reader = Reader::new(body);
    let entries = reader.map_len()?;
    let mut tag = None;
    let mut found = false;
    for _ in 0..entries {
        match reader.peek()? {
            0xa0..=0xbf | 0xd9..=0xdb => {
                let key = reader.str_bytes()?;
                if !found {
                    if !is_utf8(key) {
                        return Err(WireError::InvalidUtf8);
                    }
                    if key == b"type" {
                        found = true;
                        if let 0xa0..=0xbf | 0xd9..=0xdb = reader.peek()? {
                            tag = Some(reader.str_bytes()?);
                            continue;
                        }
                    }
                }
            }
            _ => {
                reader.skip_within(MAX_DEPTH - 1)?;
            }
        }
        reader.skip_within(MAX_DEPTH - 1)?;
    }
    Ok(tag)
}

/// Finds the string value of the `type` key of a msgpack map, if the map has one. The value
/// is returned as bytes, not yet checked to be UTF-8: the caller compares it with the names
/// it knows first, which are.
pub(crate) fn find_type_tag(body: &[u8]) -> Result<Option<&[u8]>, WireError> {
    let mut reader = Reader::new(body);
    let entries = reader.map_len()?;
    for _ in 0..entries {
        let is_type = match reader.peek()? {
            0xa0..=0xbf | 0xd9..=0xdb => {
                let key = reader.str_bytes()?;
                if !is_utf8(key) {
                    return Err(WireError::InvalidUtf8);
                }
                key == b"type"
            }
            _ => {
                reader.skip_value()?;
                false
            }
        };
        if is_type {
            return match reader.peek()? {
                0xa0..=0xbf | 0xd9..=0xdb => reader.str_bytes().map(Some),
                _ => Ok(None),
            };
        }
        reader.skip_value()?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_every_kind_and_reports_depth() {
        let value = rmp_serde::to_vec(&(1u8, vec![vec![1u64 << 40]], "s", 2.5f64, ())).unwrap();
        let mut r = Reader::new(&value);
        assert_eq!(r.skip_value().unwrap(), 3);
        assert_eq!(r.remaining(), 0);
    }

    /// The two passes [`scan_body`] stands for.
    fn two_passes(body: &[u8]) -> Result<Option<&[u8]>, WireError> {
        Reader::new(body).skip_value()?;
        find_type_tag(body)
    }

    #[test]
    fn scanning_a_body_once_decides_as_the_two_passes_do() {
        let mut bodies: Vec<Vec<u8>> = crate::messages::golden::bodies()
            .into_iter()
            .map(|(_, _, body)| body)
            .collect();
        // Deep values before and after the type key, at and around the limit.
        for depth in [97, 98, 99, 100, 101] {
            for type_first in [false, true] {
                let mut body = vec![0x82];
                let type_entry = [&[0xa4][..], b"type", &[0xa1, b'X']].concat();
                if type_first {
                    body.extend_from_slice(&type_entry);
                }
                body.extend_from_slice(&[0xa1, b'v']);
                body.extend(std::iter::repeat_n(0x91, depth));
                body.push(0xc0);
                if !type_first {
                    body.extend_from_slice(&type_entry);
                }
                bodies.push(body);
            }
        }
        // Keys that are not text or not UTF-8, a second type key, a non-text type, an array.
        bodies.push(vec![
            0x82, 0xa1, 0xff, 0x01, 0xa4, b't', b'y', b'p', b'e', 0xa1, b'X',
        ]);
        bodies.push(vec![
            0x82, 0xa4, b't', b'y', b'p', b'e', 0xa1, b'X', 0xa1, 0xff, 0x01,
        ]);
        bodies.push(vec![
            0x82, 0x01, 0x91, 0x01, 0xa4, b't', b'y', b'p', b'e', 0x07,
        ]);
        bodies.push(vec![
            0x82, 0xa4, b't', b'y', b'p', b'e', 0xa1, b'X', 0xa4, b't', b'y', b'p', b'e', 0xa1,
            b'Y',
        ]);
        bodies.push(vec![0x92, 0x01, 0x02]);
        bodies.push(vec![0xc1]);
        for body in bodies {
            for len in 0..=body.len() {
                let cut = &body[..len];
                assert_eq!(scan_body(cut), two_passes(cut), "{cut:02x?}");
            }
            // Every byte of small bodies, every 5th of large ones (quick unoptimised).
            let step = if body.len() > 200 { 5 } else { 1 };
            let mut mutated = body.clone();
            for pos in (0..body.len()).step_by(step) {
                for byte in [0x00, 0x81, 0x91, 0xa4, 0xc0, 0xc1, 0xdc, 0xde, 0xff] {
                    mutated[pos] = byte;
                    assert_eq!(scan_body(&mutated), two_passes(&mutated), "{mutated:02x?}");
                }
                mutated[pos] = body[pos];
            }
        }
    }

    /// [`Reader::skip_within`] and the walk it stands for: the same outcome, and on success
    /// the same end.
    fn skip_agrees(bytes: &[u8]) {
        for limit in [0, 1, 2, 3, MAX_DEPTH - 1, MAX_DEPTH] {
            let mut quick = Reader::new(bytes);
            let mut exact = Reader::new(bytes);
            let outcome = (
                quick.skip_within(limit),
                exact.skip_value_within(limit).map(|_| ()),
            );
            assert_eq!(outcome.0, outcome.1, "limit {limit}: {bytes:02x?}");
            if outcome.0.is_ok() {
                assert_eq!(quick.position(), exact.position(), "{bytes:02x?}");
            }
        }
    }

    #[test]
    fn skipping_without_a_stack_agrees_with_the_walk() {
        let mut values: Vec<Vec<u8>> = crate::messages::golden::bodies()
            .into_iter()
            .map(|(_, _, body)| body)
            .collect();
        for depth in [1, 2, 3, 98, 99, 100, 101, 102] {
            for open in [0x91, 0x81, 0xdc, 0xde] {
                let mut value = Vec::new();
                for _ in 0..depth {
                    match open {
                        0x81 => value.extend_from_slice(&[0x81, 0xa1, b'k']),
                        0xdc => value.extend_from_slice(&[0xdc, 0x00, 0x01]),
                        0xde => value.extend_from_slice(&[0xde, 0x00, 0x01, 0x01]),
                        _ => value.push(open),
                    }
                }
                value.push(0xc0);
                values.push(value);
            }
        }
        // Many containers side by side, few levels deep.
        let mut wide = vec![0xdc, 0x00, 0xc8];
        wide.extend(std::iter::repeat_n([0x91, 0x01], 200).flatten());
        values.push(wide);
        // Lengths of every width, strings, binary data and extensions.
        for value in [
            &[0xdd, 0xff, 0xff, 0xff, 0xff][..],
            &[0xdf, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02],
            &[0xd9, 0x02, b'a', b'b', 0xc0],
            &[0xda, 0x00, 0x01, b'a'],
            &[0xdb, 0x00, 0x00, 0x00, 0x01, b'a'],
            &[0xc4, 0x01, 0x00],
            &[0xc5, 0x00, 0x01, 0x00],
            &[0xc7, 0x01, 0xff, 0x00],
            &[0xd8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[0x92, 0xc1, 0x01],
            &[0x82, 0xa1, b'a', 0x90, 0xa1, b'b', 0x80],
        ] {
            values.push(value.to_vec());
        }
        for value in values {
            skip_agrees(&value);
            for len in 0..value.len() {
                skip_agrees(&value[..len]);
            }
            let step = if value.len() > 200 { 7 } else { 1 };
            let mut mutated = value.clone();
            for pos in (0..value.len()).step_by(step) {
                for byte in [
                    0x00, 0x81, 0x91, 0xa4, 0xc0, 0xc1, 0xc7, 0xd9, 0xdc, 0xdf, 0xff,
                ] {
                    mutated[pos] = byte;
                    skip_agrees(&mutated);
                }
                mutated[pos] = value[pos];
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let mut value = vec![0x91u8; 100_000];
        value.push(0xc0);
        assert_eq!(Reader::new(&value).skip_value(), Err(WireError::TooDeep));
    }

    #[test]
    fn impossible_lengths_are_truncation() {
        assert_eq!(
            Reader::new(&[0xdd, 0xff, 0xff, 0xff, 0xff]).skip_value(),
            Err(WireError::Truncated)
        );
        assert_eq!(
            Reader::new(&[0xdb, 0xff, 0xff, 0xff, 0xff]).skip_value(),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn integers_of_every_width() {
        for v in [
            0i64,
            1,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            u32::MAX as i64,
            i64::MAX,
            -1,
            -32,
            -33,
            -128,
            -129,
            -32_768,
            -32_769,
            i64::MIN,
        ] {
            let bytes = rmp_serde::to_vec(&v).unwrap();
            assert_eq!(Reader::new(&bytes).int().unwrap(), v);
        }
        let too_big = rmp_serde::to_vec(&u64::MAX).unwrap();
        assert_eq!(Reader::new(&too_big).int(), Err(WireError::IntegerRange));
    }
}
