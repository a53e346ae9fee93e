//! UTC timestamps as the protocol carries them.
//!
//! The supervisor sends datetimes as msgpack timestamp extensions (type −1) in all three
//! widths; older schema downgrades and other peers send RFC 3339 strings. [`Timestamp`]
//! reads both. It writes an ext −1 value to compact (non human-readable) serializers, the
//! way the supervisor does, and an RFC 3339 string with a `Z` offset to human-readable ones
//! (JSON, and the request encoder, see [`crate::frame`]). A naive datetime can never be
//! produced, because the type has no time zone to forget.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// The msgpack extension type of timestamps.
pub const MSGPACK_TIMESTAMP_EXT: i8 = -1;

/// A point in time in UTC with nanosecond precision.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text is not an RFC 3339 date-time with an offset.
    InvalidRfc3339(String),
    /// The text has no `Z` or `±hh:mm` offset, so the instant is ambiguous.
    MissingOffset(String),
    /// A msgpack timestamp extension of a length other than 4, 8 or 12 bytes.
    InvalidExtLength(usize),
    /// A nanosecond field of 1,000,000,000 or more.
    InvalidNanos(u32),
    /// The instant is outside the years 0001 to 9999 (Python's `datetime` range: the
    /// supervisor refuses year 0000).
    OutOfRange,
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidRfc3339(s) => write!(f, "not an RFC 3339 date-time: {s:?}"),
            Self::MissingOffset(s) => {
                write!(f, "date-time {s:?} has no UTC offset (add `Z` or `+00:00`)")
            }
            Self::InvalidExtLength(n) => write!(
                f,
                "msgpack timestamp extension has {n} bytes, expected 4, 8 or 12"
            ),
            Self::InvalidNanos(n) => write!(f, "timestamp nanoseconds {n} are out of range"),
            Self::OutOfRange => f.write_str("timestamp is outside the years 0001 to 9999"),
        }
    }
}

impl std::error::Error for TimestampError {}

// Seconds from 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z to the Unix epoch: the range of
// Python's `datetime`, outside which the supervisor cannot read a date.
const MIN_SECS: i64 = -62_135_596_800;
const MAX_SECS: i64 = 253_402_300_799;

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp { secs: 0, nanos: 0 };

    /// A timestamp from seconds and nanoseconds since the Unix epoch.
    pub fn from_unix(secs: i64, nanos: u32) -> Result<Self, TimestampError> {
        if nanos >= 1_000_000_000 {
            return Err(TimestampError::InvalidNanos(nanos));
        }
        if !(MIN_SECS..=MAX_SECS).contains(&secs) {
            return Err(TimestampError::OutOfRange);
        }
        Ok(Self { secs, nanos })
    }

    /// Whole seconds since the Unix epoch (negative before 1970).
    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }

    /// The sub-second part, in nanoseconds.
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// Converts a [`SystemTime`], for example a wall-clock reading taken by an adapter.
    pub fn from_system_time(time: SystemTime) -> Result<Self, TimestampError> {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Self::from_unix(
                i64::try_from(after.as_secs()).map_err(|_| TimestampError::OutOfRange)?,
                after.subsec_nanos(),
            ),
            Err(before) => {
                let before = before.duration();
                let secs =
                    i64::try_from(before.as_secs()).map_err(|_| TimestampError::OutOfRange)?;
                if before.subsec_nanos() == 0 {
                    Self::from_unix(-secs, 0)
                } else {
                    Self::from_unix(-secs - 1, 1_000_000_000 - before.subsec_nanos())
                }
            }
        }
    }

    /// Converts to a [`SystemTime`].
    pub fn to_system_time(&self) -> SystemTime {
        if self.secs >= 0 {
            UNIX_EPOCH + Duration::new(self.secs as u64, self.nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(self.secs.unsigned_abs())
                + Duration::from_nanos(u64::from(self.nanos))
        }
    }

    /// This timestamp moved by `duration`, or `None` outside the years 0001 to 9999.
    pub fn checked_add(&self, duration: Duration) -> Option<Self> {
        let nanos = u64::from(self.nanos) + u64::from(duration.subsec_nanos());
        let secs = self
            .secs
            .checked_add(i64::try_from(duration.as_secs()).ok()?)?
            .checked_add((nanos / 1_000_000_000) as i64)?;
        Self::from_unix(secs, (nanos % 1_000_000_000) as u32).ok()
    }

    /// Parses an RFC 3339 date-time. An offset (`Z` or `±hh:mm`) is required; a space may stand
    /// for the `T`; any number of fractional digits is accepted and truncated to nanoseconds.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        let invalid = || TimestampError::InvalidRfc3339(text.to_owned());
        let b = text.as_bytes();
        if b.len() < 19 {
            return Err(invalid());
        }
        let digits = |range: std::ops::Range<usize>| -> Result<i64, TimestampError> {
            let mut value = 0i64;
            for &c in &b[range] {
                if !c.is_ascii_digit() {
                    return Err(invalid());
                }
                value = value * 10 + i64::from(c - b'0');
            }
            Ok(value)
        };
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return Err(invalid());
        }
        if b[13] != b':' || b[16] != b':' {
            return Err(invalid());
        }
        let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(invalid());
        }
        let mut pos = 19;
        let mut nanos = 0u32;
        if pos < b.len() && b[pos] == b'.' {
            pos += 1;
            let start = pos;
            while pos < b.len() && b[pos].is_ascii_digit() {
                if pos - start < 9 {
                    nanos = nanos * 10 + u32::from(b[pos] - b'0');
                }
                pos += 1;
            }
            if pos == start {
                return Err(invalid());
            }
            for _ in (pos - start)..9 {
                nanos *= 10;
            }
        }
        let offset_secs = match &b[pos..] {
            [] => return Err(TimestampError::MissingOffset(text.to_owned())),
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let hh = two_digits(*h1, *h2).ok_or_else(invalid)?;
                let mm = two_digits(*m1, *m2).ok_or_else(invalid)?;
                if hh > 23 || mm > 59 {
                    return Err(invalid());
                }
                let offset = hh * 3600 + mm * 60;
                if *sign == b'-' {
                    -offset
                } else {
                    offset
                }
            }
            _ => return Err(invalid()),
        };
        // A leap second (:60) is folded into the next second, as most libraries do.
        let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
            - offset_secs;
        Self::from_unix(secs, nanos)
    }

    /// Writes RFC 3339 in UTC with a `Z`: microseconds when the nanoseconds are whole
    /// microseconds (Airflow's own precision), nanoseconds otherwise.
    pub fn write_rfc3339(&self, out: &mut impl fmt::Write) -> fmt::Result {
        out.write_str(self.rfc3339_text().as_str())
    }

    /// The RFC 3339 text of [`Timestamp::write_rfc3339`].
    pub fn to_rfc3339(&self) -> String {
        self.rfc3339_text().as_str().to_owned()
    }

    /// The RFC 3339 text, built two digits at a time in a fixed buffer: no formatter, no
    /// allocation. Every timestamp is within the years 0000 to 9999, so the year has four
    /// digits.
    pub(crate) fn rfc3339_text(&self) -> Rfc3339Text {
        let mut text = Rfc3339Text {
            buf: RFC3339_TEMPLATE,
            len: 0,
        };
        let digits: &mut [u8; 30] = (&mut text.buf[..30]).try_into().expect("30 bytes");
        text.len = self.fill_rfc3339(digits);
        text
    }

    /// The length of the RFC 3339 text: 27 bytes with microseconds, 30 with nanoseconds.
    pub(crate) fn rfc3339_len(&self) -> usize {
        if self.whole_micros() {
            27
        } else {
            30
        }
    }

    /// Whether the nanoseconds are whole microseconds: the text then has six fractional
    /// digits, else nine.
    fn whole_micros(&self) -> bool {
        self.nanos % 1000 == 0
    }

    /// Appends the RFC 3339 text to `out`, written in place: a text built apart and then
    /// copied is read back right after its two-byte stores, which the CPU cannot forward
    /// to the wider loads of the copy.
    pub(crate) fn append_rfc3339(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&RFC3339_TEMPLATE[..30]);
        let digits: &mut [u8; 30] = (&mut out[start..]).try_into().expect("30 bytes");
        let len = self.fill_rfc3339(digits);
        out.truncate(start + len);
    }

    /// Writes the digits into `buf`, which holds the text of [`RFC3339_TEMPLATE`]; returns the length
    /// of the text. Only the digits are written, so with six fractional digits the last
    /// three bytes of `buf` are left as they are.
    #[inline(always)]
    pub(crate) fn fill_rfc3339(&self, buf: &mut [u8; 30]) -> usize {
        let days = self.secs.div_euclid(86_400);
        let secs_of_day = self.secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        put_pair(buf, 0, year / 100);
        put_pair(buf, 2, year % 100);
        put_pair(buf, 5, month);
        put_pair(buf, 8, day);
        put_pair(buf, 11, secs_of_day / 3600);
        put_pair(buf, 14, secs_of_day / 60 % 60);
        put_pair(buf, 17, secs_of_day % 60);
        let nanos = self.nanos;
        if self.whole_micros() {
            let micros = nanos / 1000;
            put_pair(buf, 20, micros / 10_000);
            put_pair(buf, 22, micros / 100 % 100);
            put_pair(buf, 24, micros % 100);
            buf[26] = b'Z';
            27
        } else {
            put_pair(buf, 20, nanos / 10_000_000);
            put_pair(buf, 22, nanos / 100_000 % 100);
            put_pair(buf, 24, nanos / 1000 % 100);
            put_pair(buf, 26, nanos / 10 % 100);
            buf[28] = b'0' + (nanos % 10) as u8;
            30
        }
    }

    /// Reads the payload of a msgpack timestamp extension (type −1): 4, 8 or 12 bytes.
    pub fn from_msgpack_ext(data: &[u8]) -> Result<Self, TimestampError> {
        match data.len() {
            4 => Self::from_unix(
                i64::from(u32::from_be_bytes(data.try_into().expect("length checked"))),
                0,
            ),
            8 => {
                let raw = u64::from_be_bytes(data.try_into().expect("length checked"));
                Self::from_unix((raw & 0x3_ffff_ffff) as i64, (raw >> 34) as u32)
            }
            12 => {
                let nanos = u32::from_be_bytes(data[..4].try_into().expect("length checked"));
                let secs = i64::from_be_bytes(data[4..].try_into().expect("length checked"));
                Self::from_unix(secs, nanos)
            }
            n => Err(TimestampError::InvalidExtLength(n)),
        }
    }

    /// The shortest msgpack timestamp extension payload for this instant (4, 8 or 12 bytes).
    pub fn to_msgpack_ext(&self) -> ([u8; 12], usize) {
        let mut out = [0u8; 12];
        if self.secs >> 34 == 0 {
            if self.nanos == 0 && self.secs <= i64::from(u32::MAX) {
                out[..4].copy_from_slice(&(self.secs as u32).to_be_bytes());
                return (out, 4);
            }
            let raw = (u64::from(self.nanos) << 34) | self.secs as u64;
            out[..8].copy_from_slice(&raw.to_be_bytes());
            return (out, 8);
        }
        out[..4].copy_from_slice(&self.nanos.to_be_bytes());
        out[4..].copy_from_slice(&self.secs.to_be_bytes());
        (out, 12)
    }
}

fn two_digits(a: u8, b: u8) -> Option<i64> {
    (a.is_ascii_digit() && b.is_ascii_digit())
        .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day counted from 1970-01-01, for the days of the years 0000 to 9999, by the
/// algorithm of C. Neri and L. Schneider ("Euclidean affine functions and their application
/// to calendar algorithms", 2022): multiplications and shifts, no division.
fn civil_from_days(days: i64) -> (u32, u32, u32) {
    // 82 whole 400-year cycles added keep every count positive; `K` counts from 0000-03-01.
    const CYCLES: u32 = 82;
    const K: u32 = 719_468 + 146_097 * CYCLES;
    const L: u32 = 400 * CYCLES;
    let n = (days as u32).wrapping_add(K);
    // The century, and the day in it.
    let n1 = 4 * n + 3;
    let century = n1 / 146_097;
    let day_of_century = n1 % 146_097 / 4;
    // The year (from March), and the day in it.
    let p2 = 2_939_745 * u64::from(4 * day_of_century + 3);
    let year_of_century = (p2 >> 32) as u32;
    let day_of_year = (p2 as u32) / 2_939_745 / 4;
    // The month (from March) and the day.
    let n3 = 2141 * day_of_year + 197_913;
    let month = n3 >> 16;
    let day = (n3 & 0xffff) / 2141 + 1;
    // January and February belong to the next year.
    let january_or_later = day_of_year >= 306;
    let year = 100 * century + year_of_century - L + u32::from(january_or_later);
    let month = if january_or_later { month - 12 } else { month };
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_rfc3339(f)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_rfc3339(s)
    }
}

impl TryFrom<SystemTime> for Timestamp {
    type Error = TimestampError;

    fn try_from(time: SystemTime) -> Result<Self, Self::Error> {
        Self::from_system_time(time)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(self.rfc3339_text().as_str())
        } else {
            let (payload, len) = self.to_msgpack_ext();
            serializer.serialize_newtype_struct(
                rmp_serde::MSGPACK_EXT_STRUCT_NAME,
                &(MSGPACK_TIMESTAMP_EXT, serde_bytes_ref(&payload[..len])),
            )
        }
    }
}

/// What [`Timestamp::fill_rfc3339`] fills in: the text with every digit zero, nanoseconds
/// and the `Z` in place (30 bytes), padded to the 32 of an [`Rfc3339Text`].
const RFC3339_TEMPLATE: [u8; 32] = *b"0000-00-00T00:00:00.000000000Z\0\0";

/// The text of a timestamp: `YYYY-MM-DDTHH:MM:SS.ffffffZ` (27 bytes) or with nine
/// fractional digits (30 bytes), at the start of a word-aligned 32-byte buffer.
#[repr(C, align(8))]
pub(crate) struct Rfc3339Text {
    buf: [u8; 32],
    len: usize,
}

impl Rfc3339Text {
    fn as_str(&self) -> &str {
        // The UTF-8 check runs over the whole aligned buffer, two blocks of 16 bytes on its
        // word-at-a-time path, about a quarter of its cost on the 27 or 30 bytes of the text.
        let all = std::str::from_utf8(&self.buf).expect("only ASCII digits and separators");
        &all[..self.len]
    }
}

/// Writes `value`, below 100, as two decimal digits at `at`.
#[inline(always)]
fn put_pair(buf: &mut [u8; 30], at: usize, value: u32) {
    /// The two digits of every number below 100.
    static PAIRS: [[u8; 2]; 100] = {
        let mut pairs = [[0; 2]; 100];
        let mut n = 0;
        while n < 100 {
            pairs[n] = [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
            n += 1;
        }
        pairs
    };
    buf[at..at + 2].copy_from_slice(&PAIRS[value as usize]);
}

// Serializes a byte slice as msgpack `bin` (serde's default for `&[u8]` is a sequence).
fn serde_bytes_ref(bytes: &[u8]) -> BytesRef<'_> {
    BytesRef(bytes)
}

struct BytesRef<'a>(&'a [u8]);

impl Serialize for BytesRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TimestampVisitor)
    }
}

struct TimestampVisitor;

impl<'de> Visitor<'de> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a msgpack timestamp or an RFC 3339 date-time with an offset")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
        Timestamp::parse_rfc3339(v).map_err(E::custom)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Timestamp, D::Error> {
        let (tag, data) = d.deserialize_seq(ExtVisitor)?;
        if tag != MSGPACK_TIMESTAMP_EXT {
            return Err(de::Error::custom(format_args!(
                "msgpack extension type {tag} is not a timestamp (type -1)"
            )));
        }
        Timestamp::from_msgpack_ext(&data).map_err(de::Error::custom)
    }
}

/// Reads the `(type, payload)` pair that rmp-serde presents for a msgpack extension.
pub(crate) struct ExtVisitor;

impl<'de> Visitor<'de> for ExtVisitor {
    type Value = (i8, ExtPayload);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a msgpack extension")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let tag: i8 = seq
            .next_element()?
            .ok_or_else(|| de::Error::custom("extension without a type"))?;
        let data: ExtPayload = seq
            .next_element()?
            .ok_or_else(|| de::Error::custom("extension without a payload"))?;
        Ok((tag, data))
    }
}

/// The payload of a msgpack extension, kept inline: timestamps are at most 12 bytes, and
/// longer payloads are kept only by length for error messages.
pub(crate) struct ExtPayload {
    bytes: [u8; 12],
    len: usize,
}

impl std::ops::Deref for ExtPayload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len.min(12)]
    }
}

impl ExtPayload {
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl<'de> Deserialize<'de> for ExtPayload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PayloadVisitor;
        impl<'de> Visitor<'de> for PayloadVisitor {
            type Value = ExtPayload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("extension bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ExtPayload, E> {
                let mut bytes = [0u8; 12];
                let n = v.len().min(12);
                bytes[..n].copy_from_slice(&v[..n]);
                Ok(ExtPayload {
                    bytes,
                    len: v.len(),
                })
            }
        }
        d.deserialize_bytes(PayloadVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_and_offsets() {
        let t = Timestamp::parse_rfc3339("2025-01-01T00:00:05.123456Z").unwrap();
        assert_eq!(t.unix_seconds(), 1_735_689_605);
        assert_eq!(t.subsec_nanos(), 123_456_000);
        assert_eq!(t.to_rfc3339(), "2025-01-01T00:00:05.123456Z");
        let shifted = Timestamp::parse_rfc3339("2025-01-01T02:00:05.123456+02:00").unwrap();
        assert_eq!(shifted, t);
        let spaced = Timestamp::parse_rfc3339("2025-01-01 00:00:05.123456789Z").unwrap();
        assert_eq!(spaced.subsec_nanos(), 123_456_789);
        assert_eq!(spaced.to_rfc3339(), "2025-01-01T00:00:05.123456789Z");
        let long = Timestamp::parse_rfc3339("2025-01-01T00:00:05.1234567891234Z").unwrap();
        assert_eq!(long.subsec_nanos(), 123_456_789);
    }

    #[test]
    fn rfc3339_refusals_name_the_problem() {
        assert!(matches!(
            Timestamp::parse_rfc3339("2025-01-01T00:00:05"),
            Err(TimestampError::MissingOffset(_))
        ));
        for bad in [
            "2025-13-01T00:00:00Z",
            "2025-02-30T00:00:00Z",
            "2025-01-01X00:00:00Z",
            "",
            "2025-01-01T00:00:00.Z",
            "2025-01-01T00:00:00+2:00",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    /// The date of a day counted from 1970-01-01 by H. Hinnant's algorithm, which
    /// [`civil_from_days`] replaced, kept as the reference.
    fn reference_civil_from_days(days: i64) -> (i64, i64, i64) {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }

    #[test]
    fn every_day_of_the_range_has_the_reference_date() {
        for days in MIN_SECS.div_euclid(86_400)..=MAX_SECS.div_euclid(86_400) {
            let (year, month, day) = civil_from_days(days);
            let date = (i64::from(year), i64::from(month), i64::from(day));
            assert_eq!(date, reference_civil_from_days(days), "day {days}");
            assert_eq!(days_from_civil(date.0, date.1, date.2), days);
        }
    }

    /// The formatter the digit writer replaced, kept as the reference.
    fn reference_rfc3339(t: &Timestamp) -> String {
        let days = t.secs.div_euclid(86_400);
        let secs_of_day = t.secs.rem_euclid(86_400);
        let (year, month, day) = reference_civil_from_days(days);
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            year,
            month,
            day,
            secs_of_day / 3600,
            secs_of_day % 3600 / 60,
            secs_of_day % 60
        );
        if t.nanos % 1000 == 0 {
            out += &format!(".{:06}Z", t.nanos / 1000);
        } else {
            out += &format!(".{:09}Z", t.nanos);
        }
        out
    }

    #[test]
    fn digit_writer_matches_the_formatter() {
        let mut secs = vec![MIN_SECS, MIN_SECS + 1, -1, 0, 1, 1_735_689_605, MAX_SECS];
        // A spread over the whole range, and across days, months and leap years.
        let mut s = MIN_SECS;
        while s < MAX_SECS {
            secs.push(s);
            s += 86_400 * 97 + 3_607;
        }
        for secs in secs {
            for nanos in [
                0,
                1,
                999,
                1_000,
                123_456_000,
                123_456_789,
                999_999_000,
                999_999_999,
            ] {
                let t = Timestamp::from_unix(secs, nanos).unwrap();
                let text = t.to_rfc3339();
                assert_eq!(text, reference_rfc3339(&t));
                assert_eq!(Timestamp::parse_rfc3339(&text).unwrap(), t);
            }
        }
    }

    #[test]
    fn ext_widths() {
        let t32 = Timestamp::from_unix(1_735_689_600, 0).unwrap();
        assert_eq!(t32.to_msgpack_ext().1, 4);
        let t64 = Timestamp::from_unix(1_735_689_605, 123_456_000).unwrap();
        assert_eq!(t64.to_msgpack_ext().1, 8);
        let t96 = Timestamp::from_unix(-1, 5).unwrap();
        assert_eq!(t96.to_msgpack_ext().1, 12);
        for t in [
            t32,
            t64,
            t96,
            Timestamp::from_unix(MAX_SECS, 999_999_999).unwrap(),
        ] {
            let (buf, len) = t.to_msgpack_ext();
            assert_eq!(Timestamp::from_msgpack_ext(&buf[..len]).unwrap(), t);
        }
        assert_eq!(
            Timestamp::from_msgpack_ext(&[0; 5]),
            Err(TimestampError::InvalidExtLength(5))
        );
    }

    #[test]
    fn range_is_pythons_datetime_range() {
        let earliest = Timestamp::parse_rfc3339("0001-01-01T00:00:00Z").unwrap();
        assert_eq!(earliest.unix_seconds(), MIN_SECS);
        assert_eq!(
            Timestamp::parse_rfc3339("0000-12-31T23:59:59Z"),
            Err(TimestampError::OutOfRange)
        );
        assert_eq!(
            Timestamp::from_unix(MIN_SECS - 1, 0),
            Err(TimestampError::OutOfRange)
        );
        let latest = Timestamp::parse_rfc3339("9999-12-31T23:59:59.999999999Z").unwrap();
        assert_eq!(latest.unix_seconds(), MAX_SECS);
    }

    #[test]
    fn pre_epoch_text() {
        let t = Timestamp::parse_rfc3339("1969-12-31T23:59:59.5Z").unwrap();
        assert_eq!((t.unix_seconds(), t.subsec_nanos()), (-1, 500_000_000));
        assert_eq!(t.to_rfc3339(), "1969-12-31T23:59:59.500000Z");
        let sys = t.to_system_time();
        assert_eq!(Timestamp::from_system_time(sys).unwrap(), t);
    }
}
