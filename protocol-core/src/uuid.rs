//! UUIDs as the protocol carries them: canonical 36-character strings, never 16-byte `bin`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A UUID, parsed and validated, written as its canonical lower-case hyphenated text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid([u8; 16]);

/// Why a text is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UuidError(String);

impl fmt::Display for UuidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a UUID: {:?} (expected 8-4-4-4-12 hex digits)",
            self.0
        )
    }
}

impl std::error::Error for UuidError {}

impl Uuid {
    /// The all-zero UUID.
    pub const NIL: Uuid = Uuid([0; 16]);

    /// A UUID from its 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses the hyphenated form (upper or lower case), the simple 32-digit form, and either
    /// wrapped in braces or prefixed with `urn:uuid:`, as Python's `uuid.UUID` does.
    pub fn parse(text: &str) -> Result<Self, UuidError> {
        Self::parse_ascii(text.as_bytes()).ok_or_else(|| UuidError(text.to_owned()))
    }

    /// [`Uuid::parse`] of the bytes of a text, without allocating: `None` where `parse`
    /// refuses. It refuses every byte that is not ASCII, so what it accepts is UTF-8.
    pub(crate) fn parse_ascii(text: &[u8]) -> Option<Self> {
        // The hyphenated form, as Python writes UUIDs, read in place. (No other form the
        // code below accepts is 36 bytes long.)
        if let Ok(hyphenated) = <&[u8; 36]>::try_from(text) {
            return parse_hyphenated(hyphenated);
        }
        let mut s = text.strip_prefix(b"urn:uuid:").unwrap_or(text);
        if let [b'{', inner @ .., b'}'] = s {
            s = inner;
        }
        let mut digits = [0u8; 32];
        match s.len() {
            36 if s[8] == b'-' && s[13] == b'-' && s[18] == b'-' && s[23] == b'-' => {
                digits[..8].copy_from_slice(&s[..8]);
                digits[8..12].copy_from_slice(&s[9..13]);
                digits[12..16].copy_from_slice(&s[14..18]);
                digits[16..20].copy_from_slice(&s[19..23]);
                digits[20..].copy_from_slice(&s[24..]);
            }
            32 => digits.copy_from_slice(s),
            _ => return None,
        }
        hex_bytes(&digits)
    }

    fn write_canonical(&self, out: &mut [u8; 36]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut pos = 0;
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out[pos] = b'-';
                pos += 1;
            }
            out[pos] = HEX[usize::from(byte >> 4)];
            out[pos + 1] = HEX[usize::from(byte & 0xf)];
            pos += 2;
        }
    }
}

/// The UUID the 8-4-4-4-12 form spells, or `None`: what [`Uuid::parse_ascii`] gives for 36
/// bytes, without copying the digits out first.
#[inline]
fn parse_hyphenated(text: &[u8; 36]) -> Option<Uuid> {
    if text[8] != b'-' || text[13] != b'-' || text[18] != b'-' || text[23] != b'-' {
        return None;
    }
    // Where each byte's two digits start.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let mut out = [0u8; 16];
    let mut invalid = 0u16;
    for (byte, at) in out.iter_mut().zip(AT) {
        let value = HIGH_NIBBLE[usize::from(text[at])] | LOW_NIBBLE[usize::from(text[at + 1])];
        invalid |= value;
        *byte = value as u8;
    }
    (invalid & 0x100 == 0).then_some(Uuid(out))
}

/// The 16 bytes that 32 hex digits spell, or `None` if one is not a hex digit. (Kept out of
/// line: inlined, its unrolled loop merges with the caller's two forms and runs out of
/// registers.)
#[inline(never)]
fn hex_bytes(digits: &[u8; 32]) -> Option<Uuid> {
    let mut out = [0u8; 16];
    // Bit 8 marks a byte that is not a hex digit: one test of all values or-ed together
    // finds any.
    let mut invalid = 0u16;
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let value = HIGH_NIBBLE[usize::from(pair[0])] | LOW_NIBBLE[usize::from(pair[1])];
        invalid |= value;
        *byte = value as u8;
    }
    (invalid & 0x100 == 0).then_some(Uuid(out))
}

/// The value of each ASCII hex digit shifted into the high nibble, and 0x100 for every other
/// byte.
static HIGH_NIBBLE: [u16; 256] = nibble_table(4);

/// The value of each ASCII hex digit, and 0x100 for every other byte.
static LOW_NIBBLE: [u16; 256] = nibble_table(0);

const fn nibble_table(shift: u32) -> [u16; 256] {
    let mut table = [0x100u16; 256];
    let mut d = 0;
    while d < 16 {
        let value = (d as u16) << shift;
        if d < 10 {
            table[b'0' as usize + d] = value;
        } else {
            table[b'a' as usize + d - 10] = value;
            table[b'A' as usize + d - 10] = value;
        }
        d += 1;
    }
    table
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 36];
        self.write_canonical(&mut buf);
        f.write_str(std::str::from_utf8(&buf).expect("hex is ASCII"))
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

impl std::str::FromStr for Uuid {
    type Err = UuidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Uuid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 36];
        self.write_canonical(&mut buf);
        serializer.serialize_str(std::str::from_utf8(&buf).expect("hex is ASCII"))
    }
}

impl<'de> Deserialize<'de> for Uuid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UuidVisitor;
        impl Visitor<'_> for UuidVisitor {
            type Value = Uuid;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a UUID string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Uuid, E> {
                Uuid::parse(v).map_err(E::custom)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Uuid, E> {
                <[u8; 16]>::try_from(v)
                    .map(Uuid)
                    .map_err(|_| E::invalid_length(v.len(), &"16 bytes"))
            }
        }
        deserializer.deserialize_str(UuidVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_python_accepts() {
        let canonical = "01931b2c-0000-7000-8000-000000000001";
        let id = Uuid::parse(canonical).unwrap();
        assert_eq!(id.to_string(), canonical);
        assert_eq!(
            Uuid::parse("01931B2C-0000-7000-8000-000000000001").unwrap(),
            id
        );
        assert_eq!(Uuid::parse("01931b2c000070008000000000000001").unwrap(), id);
        assert_eq!(
            Uuid::parse("{01931b2c-0000-7000-8000-000000000001}").unwrap(),
            id
        );
        assert_eq!(
            Uuid::parse("urn:uuid:01931b2c-0000-7000-8000-000000000001").unwrap(),
            id
        );
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [
            "",
            "01931b2c-0000-7000-8000-00000000000",
            "01931b2c-0000-7000-8000_000000000001",
            "g1931b2c-0000-7000-8000-000000000001",
            "01931b2c-0000-7000-8000-0000000000011",
        ] {
            assert!(Uuid::parse(bad).is_err(), "{bad}");
        }
    }

    /// The parser this one replaced, which collected the hex digits into a `Vec`.
    fn reference_parse(text: &str) -> Result<Uuid, UuidError> {
        let err = || UuidError(text.to_owned());
        let mut s = text.strip_prefix("urn:uuid:").unwrap_or(text);
        if let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            s = inner;
        }
        let b = s.as_bytes();
        let hex: Vec<u8> = match b.len() {
            32 => b.to_vec(),
            36 if [8, 13, 18, 23].iter().all(|&i| b[i] == b'-') => {
                b.iter().copied().filter(|&c| c != b'-').collect()
            }
            _ => return Err(err()),
        };
        if hex.len() != 32 {
            return Err(err());
        }
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8).ok_or_else(err);
            out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Ok(Uuid(out))
    }

    #[test]
    fn every_form_and_every_single_byte_change_parses_as_before() {
        let forms = [
            "01931b2c-0000-7000-8000-000000000001",
            "0123456789ABCDEFabcdef0123456789",
            "{0123456789ab-cdef-ABCD-EF01-23456789ab}",
            "{01931b2c-0000-7000-8000-000000000001}",
            "urn:uuid:01931b2c-0000-7000-8000-000000000001",
            "urn:uuid:{01931b2c000070008000000000000001}",
            "{01931b2c000070008000000000000001",
            "01931b2c-0000-7000-8000-00000000-001",
        ];
        let bytes = [
            b'0', b'9', b'a', b'f', b'A', b'F', b'g', b'G', b'-', b'{', b'}', b' ', 0xc3,
        ];
        for form in forms {
            assert_eq!(Uuid::parse(form), reference_parse(form), "{form}");
            for pos in 0..form.len() {
                for &byte in &bytes {
                    let mut changed = form.as_bytes().to_vec();
                    changed[pos] = byte;
                    match std::str::from_utf8(&changed) {
                        Ok(text) => {
                            assert_eq!(Uuid::parse(text), reference_parse(text), "{text}");
                            assert_eq!(Uuid::parse_ascii(&changed), reference_parse(text).ok());
                        }
                        Err(_) => assert_eq!(Uuid::parse_ascii(&changed), None),
                    }
                }
            }
            for len in 0..form.len() {
                assert_eq!(Uuid::parse(&form[..len]), reference_parse(&form[..len]));
            }
        }
        let error = Uuid::parse("nope").unwrap_err().to_string();
        assert_eq!(
            error,
            r#"not a UUID: "nope" (expected 8-4-4-4-12 hex digits)"#
        );
    }
}
