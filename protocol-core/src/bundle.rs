//! The `AFBNDL01` trailer of self-contained executable bundles.
//!
//! A bundle is a native executable with three regions appended: the embedded DAG source, the
//! metadata YAML, and this 64-byte trailer (all lengths little-endian):
//!
//! ```text
//! [0, source_start)               the executable (never empty)
//! [source_start, metadata_start)  the embedded source (may be empty)
//! [metadata_start, size - 64)     airflow-metadata.yaml
//! [size - 64, size)               0..4 source_len, 4..8 metadata_len, 8..12 footer version (1),
//!                                 12..44 SHA-256 of [0, source_start), 44..56 zero,
//!                                 56..64 "AFBNDL01"
//! ```
//!
//! The core reads and writes the trailer and checks the layout; hashing is left to the
//! caller, who owns the file.

use std::fmt;
use std::ops::Range;

/// The trailer's magic bytes.
pub const MAGIC: [u8; 8] = *b"AFBNDL01";
/// The trailer's length.
pub const TRAILER_LEN: usize = 64;
/// The only footer version Airflow reads.
pub const FOOTER_VERSION: u32 = 1;

/// The fixed 64-byte trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Length of the embedded source.
    pub source_len: u32,
    /// Length of the metadata YAML.
    pub metadata_len: u32,
    /// SHA-256 of the executable region.
    pub binary_sha256: [u8; 32],
}

/// Where each region of a bundle lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleLayout {
    /// The executable region, always starting at 0.
    pub executable: Range<u64>,
    /// The embedded source.
    pub source: Range<u64>,
    /// The metadata YAML.
    pub metadata: Range<u64>,
    /// The trailer fields.
    pub trailer: Trailer,
}

/// Why a file is not a valid bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    /// The file is shorter than a trailer.
    TooShort {
        /// The file length.
        len: u64,
    },
    /// The last eight bytes are not `AFBNDL01`.
    BadMagic {
        /// The bytes found.
        found: [u8; 8],
    },
    /// A footer version other than 1.
    UnsupportedVersion(u32),
    /// The reserved bytes are not all zero.
    ReservedNotZero,
    /// The lengths leave no room for an executable (or exceed the file).
    BadLengths {
        /// The file length.
        file_len: u64,
        /// The source length in the trailer.
        source_len: u32,
        /// The metadata length in the trailer.
        metadata_len: u32,
    },
    /// The executable's SHA-256 is not the one in the trailer.
    HashMismatch {
        /// The digest in the trailer.
        expected: [u8; 32],
        /// The digest of the file.
        actual: [u8; 32],
    },
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(
                f,
                "file of {len} bytes is too short for the {TRAILER_LEN}-byte bundle trailer"
            ),
            Self::BadMagic { found } => write!(
                f,
                "no bundle trailer: the last 8 bytes are {} instead of \"AFBNDL01\"",
                String::from_utf8_lossy(found).escape_debug()
            ),
            Self::UnsupportedVersion(v) => {
                write!(f, "bundle footer version {v} is not supported (expected 1)")
            }
            Self::ReservedNotZero => f.write_str("bundle trailer bytes 44..56 must be zero"),
            Self::BadLengths {
                file_len,
                source_len,
                metadata_len,
            } => write!(
                f,
                "bundle trailer lengths (source {source_len}, metadata {metadata_len}) leave no \
                 executable in a file of {file_len} bytes"
            ),
            Self::HashMismatch { expected, actual } => write!(
                f,
                "executable SHA-256 is {} but the trailer records {}",
                hex(actual),
                hex(expected)
            ),
        }
    }
}

impl std::error::Error for BundleError {}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Trailer {
    /// The 64 trailer bytes.
    pub fn to_bytes(&self) -> [u8; TRAILER_LEN] {
        let mut out = [0u8; TRAILER_LEN];
        out[0..4].copy_from_slice(&self.source_len.to_le_bytes());
        out[4..8].copy_from_slice(&self.metadata_len.to_le_bytes());
        out[8..12].copy_from_slice(&FOOTER_VERSION.to_le_bytes());
        out[12..44].copy_from_slice(&self.binary_sha256);
        out[56..64].copy_from_slice(&MAGIC);
        out
    }

    /// Reads the last 64 bytes of a file.
    pub fn parse(bytes: &[u8; TRAILER_LEN]) -> Result<Self, BundleError> {
        let found: [u8; 8] = bytes[56..64].try_into().expect("eight bytes");
        if found != MAGIC {
            return Err(BundleError::BadMagic { found });
        }
        let u32_at =
            |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"));
        let version = u32_at(8);
        if version != FOOTER_VERSION {
            return Err(BundleError::UnsupportedVersion(version));
        }
        if bytes[44..56].iter().any(|&b| b != 0) {
            return Err(BundleError::ReservedNotZero);
        }
        Ok(Self {
            source_len: u32_at(0),
            metadata_len: u32_at(4),
            binary_sha256: bytes[12..44].try_into().expect("32 bytes"),
        })
    }

    /// The regions of a file of `file_len` bytes ending with this trailer.
    pub fn layout(&self, file_len: u64) -> Result<BundleLayout, BundleError> {
        let bad = || BundleError::BadLengths {
            file_len,
            source_len: self.source_len,
            metadata_len: self.metadata_len,
        };
        let trailer_start = file_len
            .checked_sub(TRAILER_LEN as u64)
            .ok_or(BundleError::TooShort { len: file_len })?;
        let metadata_start = trailer_start
            .checked_sub(u64::from(self.metadata_len))
            .ok_or_else(bad)?;
        let source_start = metadata_start
            .checked_sub(u64::from(self.source_len))
            .ok_or_else(bad)?;
        if source_start == 0 {
            return Err(bad());
        }
        Ok(BundleLayout {
            executable: 0..source_start,
            source: source_start..metadata_start,
            metadata: metadata_start..trailer_start,
            trailer: *self,
        })
    }
}

/// Reads the trailer at the end of a whole bundle in memory and checks its layout.
pub fn read_layout(file: &[u8]) -> Result<BundleLayout, BundleError> {
    let len = file.len() as u64;
    let start = file
        .len()
        .checked_sub(TRAILER_LEN)
        .ok_or(BundleError::TooShort { len })?;
    let trailer = Trailer::parse(file[start..].try_into().expect("64 bytes"))?;
    trailer.layout(len)
}

/// Checks a digest computed by the caller over the executable region.
pub fn check_digest(layout: &BundleLayout, actual: [u8; 32]) -> Result<(), BundleError> {
    if layout.trailer.binary_sha256 == actual {
        Ok(())
    } else {
        Err(BundleError::HashMismatch {
            expected: layout.trailer.binary_sha256,
            actual,
        })
    }
}

/// The bytes to append to an executable whose SHA-256 is `binary_sha256`: source, metadata
/// and trailer, in one buffer so they can be written at once.
pub fn trailer_region(
    source: &[u8],
    metadata_yaml: &[u8],
    binary_sha256: [u8; 32],
) -> Result<Vec<u8>, BundleError> {
    let too_long = || BundleError::BadLengths {
        file_len: 0,
        source_len: u32::try_from(source.len()).unwrap_or(u32::MAX),
        metadata_len: u32::try_from(metadata_yaml.len()).unwrap_or(u32::MAX),
    };
    let trailer = Trailer {
        source_len: u32::try_from(source.len()).map_err(|_| too_long())?,
        metadata_len: u32::try_from(metadata_yaml.len()).map_err(|_| too_long())?,
        binary_sha256,
    };
    let mut out = Vec::with_capacity(source.len() + metadata_yaml.len() + TRAILER_LEN);
    out.extend_from_slice(source);
    out.extend_from_slice(metadata_yaml);
    out.extend_from_slice(&trailer.to_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let exe = b"\x7fELF fake executable";
        let mut file = exe.to_vec();
        file.extend(trailer_region(b"source", b"dags: {}\n", [7; 32]).unwrap());
        let layout = read_layout(&file).unwrap();
        assert_eq!(layout.executable, 0..exe.len() as u64);
        assert_eq!(
            &file[layout.source.start as usize..layout.source.end as usize],
            b"source"
        );
        assert!(check_digest(&layout, [7; 32]).is_ok());
        assert!(matches!(
            check_digest(&layout, [8; 32]),
            Err(BundleError::HashMismatch { .. })
        ));

        let mut bad_magic = file.clone();
        *bad_magic.last_mut().unwrap() = b'2';
        assert!(matches!(
            read_layout(&bad_magic),
            Err(BundleError::BadMagic { .. })
        ));
        let mut reserved = file.clone();
        let at = reserved.len() - 20;
        reserved[at] = 1;
        assert_eq!(read_layout(&reserved), Err(BundleError::ReservedNotZero));
        assert!(matches!(
            read_layout(&file[exe.len()..]),
            Err(BundleError::BadLengths { .. })
        ));
        assert_eq!(
            read_layout(&file[..10]),
            Err(BundleError::TooShort { len: 10 })
        );
    }
}
