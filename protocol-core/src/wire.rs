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
    /// A value of another type than expected.
    Unexpected {
        expected: &'static str,
        found: &'static str,
    },
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
            Self::Unexpected { expected, found } => write!(f, "expected {expected}, found {found}"),
            Self::IntegerRange => f.write_str("integer is outside the signed 64-bit range"),
            Self::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
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
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn peek(&self) -> Result<u8, WireError> {
        self.buf.get(self.pos).copied().ok_or(WireError::Truncated)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let slice = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    fn be(&mut self, n: usize) -> Result<u64, WireError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    }

    /// Reads a nil if one is next; returns whether it did.
    pub(crate) fn eat_nil(&mut self) -> Result<bool, WireError> {
        if self.peek()? == 0xc0 {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

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
            other => return Err(unexpected("an array", other)),
        };
        Ok(len as usize)
    }

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
            other => return Err(unexpected("a map", other)),
        };
        Ok(len as usize)
    }

    /// Reads an integer of any width that fits in an `i64`.
    pub(crate) fn int(&mut self) -> Result<i64, WireError> {
        let marker = self.peek()?;
        let value = match marker {
            0x00..=0x7f => {
                self.pos += 1;
                i64::from(marker)
            }
            0xe0..=0xff => {
                self.pos += 1;
                i64::from(marker as i8)
            }
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
            other => return Err(unexpected("an integer", other)),
        };
        Ok(value)
    }

    /// Reads a string, borrowing it from the buffer.
    pub(crate) fn str(&mut self) -> Result<&'a str, WireError> {
        let marker = self.peek()?;
        let len = match marker {
            0xa0..=0xbf => {
                self.pos += 1;
                u64::from(marker & 0x1f)
            }
            0xd9 => {
                self.pos += 1;
                self.be(1)?
            }
            0xda => {
                self.pos += 1;
                self.be(2)?
            }
            0xdb => {
                self.pos += 1;
                self.be(4)?
            }
            other => return Err(unexpected("a string", other)),
        };
        std::str::from_utf8(self.take(len as usize)?).map_err(|_| WireError::InvalidUtf8)
    }

    /// Skips one whole value, iteratively; returns the deepest nesting seen inside it.
    pub(crate) fn skip_value(&mut self) -> Result<usize, WireError> {
        // `pending[d]` counts the values still to read at nesting depth `d`.
        let mut pending = [0usize; MAX_DEPTH + 1];
        let mut depth = 0usize;
        let mut deepest = 0usize;
        pending[0] = 1;
        loop {
            while pending[depth] == 0 {
                if depth == 0 {
                    return Ok(deepest);
                }
                depth -= 1;
            }
            pending[depth] -= 1;
            let marker = self.byte()?;
            let children = match marker {
                0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 0,
                0x80..=0x8f => 2 * usize::from(marker & 0x0f),
                0x90..=0x9f => usize::from(marker & 0x0f),
                0xa0..=0xbf => {
                    self.take(usize::from(marker & 0x1f))?;
                    0
                }
                0xc1 => return Err(WireError::ReservedMarker),
                0xc4 | 0xd9 => self.skip_sized(1, 0)?,
                0xc5 | 0xda => self.skip_sized(2, 0)?,
                0xc6 | 0xdb => self.skip_sized(4, 0)?,
                0xc7 => self.skip_sized(1, 1)?,
                0xc8 => self.skip_sized(2, 1)?,
                0xc9 => self.skip_sized(4, 1)?,
                0xca => self.skip(4)?,
                0xcb => self.skip(8)?,
                0xcc | 0xd0 => self.skip(1)?,
                0xcd | 0xd1 => self.skip(2)?,
                0xce | 0xd2 => self.skip(4)?,
                0xcf | 0xd3 => self.skip(8)?,
                0xd4 => self.skip(2)?,
                0xd5 => self.skip(3)?,
                0xd6 => self.skip(5)?,
                0xd7 => self.skip(9)?,
                0xd8 => self.skip(17)?,
                0xdc => self.be(2)? as usize,
                0xdd => self.be(4)? as usize,
                0xde => 2 * self.be(2)? as usize,
                0xdf => 2 * self.be(4)? as usize,
            };
            let is_container = matches!(marker, 0x80..=0x9f | 0xdc..=0xdf);
            if is_container && children > 0 {
                // Every child needs at least one byte: refuse impossible counts at once.
                if children > self.remaining() {
                    return Err(WireError::Truncated);
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(WireError::TooDeep);
                }
                deepest = deepest.max(depth);
                pending[depth] = children;
            } else if is_container {
                deepest = deepest.max(depth + 1);
            }
        }
    }

    fn skip(&mut self, n: usize) -> Result<usize, WireError> {
        self.take(n)?;
        Ok(0)
    }

    // Skips a length-prefixed payload (`len_bytes` of length, then `extra` bytes, then data).
    fn skip_sized(&mut self, len_bytes: usize, extra: usize) -> Result<usize, WireError> {
        let len = self.be(len_bytes)? as usize;
        self.take(extra)?;
        self.take(len)?;
        Ok(0)
    }

    /// Skips one value and returns the bytes it occupied.
    pub(crate) fn value_slice(&mut self) -> Result<&'a [u8], WireError> {
        let start = self.pos;
        self.skip_value()?;
        Ok(&self.buf[start..self.pos])
    }
}

fn unexpected(expected: &'static str, marker: u8) -> WireError {
    if marker == 0xc1 {
        return WireError::ReservedMarker;
    }
    WireError::Unexpected {
        expected,
        found: kind_name(marker),
    }
}

/// Finds the string value of the `type` key of a msgpack map, if the map has one.
pub(crate) fn find_type_tag(body: &[u8]) -> Result<Option<&str>, WireError> {
    let mut reader = Reader::new(body);
    let entries = reader.map_len()?;
    for _ in 0..entries {
        let is_type = match reader.peek()? {
            0xa0..=0xbf | 0xd9..=0xdb => reader.str()? == "type",
            _ => {
                reader.skip_value()?;
                false
            }
        };
        if is_type {
            return match reader.peek()? {
                0xa0..=0xbf | 0xd9..=0xdb => reader.str().map(Some),
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
