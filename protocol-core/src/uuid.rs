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
            let hi = hex_value(pair[0]).ok_or_else(err)?;
            let lo = hex_value(pair[1]).ok_or_else(err)?;
            out[i] = hi << 4 | lo;
        }
        Ok(Self(out))
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

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
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
}
