//! Property tests of the AFBNDL01 trailer (`airflow_protocol::bundle`): what is written reads
//! back exactly, the layout arithmetic matches spec E.1 for every length, and each field the
//! reader checks is checked whatever the other bytes are. Expected values are computed here
//! from the spec's byte offsets, not from the code under test.

use airflow_protocol::bundle::{
    check_digest, read_layout, trailer_region, BundleError, Trailer, FOOTER_VERSION, MAGIC,
    TRAILER_LEN,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// The trailer of spec E.1, laid out by hand.
fn spec_trailer(source_len: u32, metadata_len: u32, digest: [u8; 32]) -> [u8; 64] {
    let mut t = [0u8; 64];
    t[0..4].copy_from_slice(&source_len.to_le_bytes());
    t[4..8].copy_from_slice(&metadata_len.to_le_bytes());
    t[8..12].copy_from_slice(&1u32.to_le_bytes());
    t[12..44].copy_from_slice(&digest);
    t[56..64].copy_from_slice(b"AFBNDL01");
    t
}

fn digest() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `to_bytes` is the spec layout, and `parse` reads it back.
    #[test]
    fn trailer_bytes_are_the_spec_layout(source_len: u32, metadata_len: u32, sha in digest()) {
        let trailer = Trailer { source_len, metadata_len, binary_sha256: sha };
        let bytes = trailer.to_bytes();
        prop_assert_eq!(bytes, spec_trailer(source_len, metadata_len, sha));
        prop_assert_eq!(Trailer::parse(&bytes), Ok(trailer));
        prop_assert_eq!(MAGIC, *b"AFBNDL01");
        prop_assert_eq!(FOOTER_VERSION, 1);
        prop_assert_eq!(TRAILER_LEN, 64);
    }

    /// Any 64 bytes: accepted exactly when magic, version and reserved bytes are right, with
    /// the checks in Airflow's order, and an accepted trailer re-encodes to the same bytes.
    #[test]
    fn parse_accepts_exactly_well_formed_trailers(
        mut bytes in any::<[u8; 64]>(),
        fix_magic: bool,
        fix_version: bool,
        fix_reserved: bool,
    ) {
        if fix_magic { bytes[56..64].copy_from_slice(b"AFBNDL01"); }
        if fix_version { bytes[8..12].copy_from_slice(&1u32.to_le_bytes()); }
        if fix_reserved { bytes[44..56].fill(0); }
        let magic_ok = &bytes[56..64] == b"AFBNDL01";
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        let reserved_ok = bytes[44..56].iter().all(|&b| b == 0);
        match Trailer::parse(&bytes) {
            Ok(t) => {
                prop_assert!(magic_ok && version == 1 && reserved_ok);
                prop_assert_eq!(t.to_bytes(), bytes);
            }
            Err(BundleError::BadMagic { found }) => {
                prop_assert!(!magic_ok);
                prop_assert_eq!(&found[..], &bytes[56..64]);
            }
            Err(BundleError::UnsupportedVersion(v)) => {
                prop_assert!(magic_ok && version != 1);
                prop_assert_eq!(v, version);
            }
            Err(BundleError::ReservedNotZero) => {
                prop_assert!(magic_ok && version == 1 && !reserved_ok);
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    /// The regions of spec E.1 for any lengths and file size: accepted exactly when a
    /// non-empty executable remains, and then they tile the file.
    #[test]
    fn layout_arithmetic_matches_the_spec(
        source_len in prop_oneof![0u32..200, any::<u32>()],
        metadata_len in prop_oneof![0u32..200, any::<u32>()],
        file_len in prop_oneof![0u64..600, any::<u64>()],
    ) {
        let trailer = Trailer { source_len, metadata_len, binary_sha256: [0; 32] };
        let needed = 64 + u64::from(source_len) + u64::from(metadata_len);
        match trailer.layout(file_len) {
            Ok(layout) => {
                prop_assert!(file_len > needed);
                let metadata_start = file_len - 64 - u64::from(metadata_len);
                let source_start = metadata_start - u64::from(source_len);
                prop_assert_eq!(layout.executable, 0..source_start);
                prop_assert_eq!(layout.source, source_start..metadata_start);
                prop_assert_eq!(layout.metadata, metadata_start..file_len - 64);
                prop_assert_eq!(layout.trailer, trailer);
            }
            Err(BundleError::TooShort { len }) => {
                prop_assert!(file_len < 64);
                prop_assert_eq!(len, file_len);
            }
            Err(BundleError::BadLengths { file_len: f, source_len: s, metadata_len: m }) => {
                prop_assert!(file_len >= 64 && file_len <= needed);
                prop_assert_eq!((f, s, m), (file_len, source_len, metadata_len));
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    /// executable + trailer_region(...) reads back to exactly the pieces written, and the
    /// digest check accepts only the recorded digest.
    #[test]
    fn trailer_region_round_trips_through_read_layout(
        executable in vec(any::<u8>(), 1..300),
        source in vec(any::<u8>(), 0..300),
        metadata in vec(any::<u8>(), 0..300),
        sha in digest(),
        other in digest(),
    ) {
        let region = trailer_region(&source, &metadata, sha).unwrap();
        prop_assert_eq!(region.len(), source.len() + metadata.len() + 64);
        prop_assert_eq!(&region[..source.len()], &source[..]);
        prop_assert_eq!(&region[source.len()..source.len() + metadata.len()], &metadata[..]);
        prop_assert_eq!(
            &region[region.len() - 64..],
            &spec_trailer(source.len() as u32, metadata.len() as u32, sha)[..]
        );

        let file = [&executable[..], &region[..]].concat();
        let layout = read_layout(&file).unwrap();
        let at = |r: &std::ops::Range<u64>| &file[r.start as usize..r.end as usize];
        prop_assert_eq!(at(&layout.executable), &executable[..]);
        prop_assert_eq!(at(&layout.source), &source[..]);
        prop_assert_eq!(at(&layout.metadata), &metadata[..]);
        prop_assert_eq!(layout.trailer.binary_sha256, sha);
        prop_assert!(check_digest(&layout, sha).is_ok());
        prop_assert_eq!(check_digest(&layout, other).is_ok(), other == sha);
        if other != sha {
            prop_assert_eq!(
                check_digest(&layout, other),
                Err(BundleError::HashMismatch { expected: sha, actual: other })
            );
        }
    }

    /// Without an executable in front, the same region is refused (spec: the executable MUST
    /// be non-empty), and so is any prefix of a bundle that cuts into its trailer.
    #[test]
    fn no_executable_or_a_cut_trailer_is_refused(
        source in vec(any::<u8>(), 0..100),
        metadata in vec(any::<u8>(), 0..100),
        sha in digest(),
        cut in 1usize..64,
    ) {
        let region = trailer_region(&source, &metadata, sha).unwrap();
        let is_bad_lengths = matches!(read_layout(&region), Err(BundleError::BadLengths { .. }));
        prop_assert!(is_bad_lengths);
        let file = [b"\x7fELF".as_slice(), &region].concat();
        let cut_file = &file[..file.len() - cut];
        prop_assert!(read_layout(cut_file).is_err());
    }

    /// Changing any one byte of the trailer's magic, version or reserved bytes makes the file
    /// unreadable; changing a length byte never panics and never yields regions outside the
    /// file.
    #[test]
    fn single_byte_trailer_damage_is_caught(
        executable in vec(any::<u8>(), 1..100),
        source in vec(any::<u8>(), 0..50),
        metadata in vec(any::<u8>(), 0..50),
        at in 0usize..64,
        flip in 1u8..=255,
    ) {
        let mut file = executable.clone();
        file.extend(trailer_region(&source, &metadata, [9; 32]).unwrap());
        let index = file.len() - 64 + at;
        file[index] ^= flip;
        let result = read_layout(&file);
        match at {
            8..=11 | 44..=63 => prop_assert!(result.is_err(), "byte {at} damaged: {result:?}"),
            12..=43 => {
                let layout = result.unwrap();
                prop_assert!(check_digest(&layout, [9; 32]).is_err());
            }
            _ => {
                if let Ok(layout) = result {
                    prop_assert!(layout.executable.end > 0);
                    prop_assert_eq!(layout.metadata.end, file.len() as u64 - 64);
                }
            }
        }
    }
}
