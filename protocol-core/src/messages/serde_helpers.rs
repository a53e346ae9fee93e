//! Small serde adapters for the field rules of the protocol.

use serde::{Deserialize, Deserializer};

/// Reads nil as the type's default (an empty list, for example).
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Reads a required-but-nullable key. Using it with `deserialize_with` (and no `default`)
/// makes a missing key an error, as it is for the supervisor, while nil stays `None`.
pub(crate) fn required<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

/// Durations as the supervisor reads them: written as a number of seconds; read from a
/// number of seconds or an ISO 8601 duration such as `PT90S` or `P1DT2H3M4.5S`.
pub(crate) mod duration_secs {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) if d.subsec_nanos() == 0 => s.serialize_u64(d.as_secs()),
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        d.deserialize_any(DurationVisitor)
    }

    struct DurationVisitor;

    impl<'de> Visitor<'de> for DurationVisitor {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("nil, a number of seconds or an ISO 8601 duration")
        }

        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Duration::from_secs(v)))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map(|v| Some(Duration::from_secs(v)))
                .map_err(|_| E::custom(format_args!("negative duration {v} s")))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            from_secs_f64(v)
                .map(Some)
                .ok_or_else(|| E::custom(format_args!("invalid duration {v} s")))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            parse_iso8601(v)
                .map(Some)
                .ok_or_else(|| E::custom(format_args!("invalid ISO 8601 duration {v:?}")))
        }
    }

    /// Parses `P[nW][nD][T[nH][nM][n[.f]S]]` (no years or months, which have no fixed length).
    pub(crate) fn parse_iso8601(text: &str) -> Option<Duration> {
        let rest = text.strip_prefix('P')?;
        let (date, time) = match rest.split_once('T') {
            Some((date, time)) if !time.is_empty() => (date, Some(time)),
            Some(_) => return None,
            None => (rest, None),
        };
        let mut total = 0f64;
        let mut any = false;
        for (part, units) in [
            (date, &[('W', 604_800.0), ('D', 86_400.0)][..]),
            (
                time.unwrap_or(""),
                &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..],
            ),
        ] {
            let mut rest = part;
            for &(unit, secs) in units {
                if let Some(idx) = rest.find(unit) {
                    let number: f64 = rest[..idx].parse().ok().filter(|n: &f64| *n >= 0.0)?;
                    total += number * secs;
                    rest = &rest[idx + 1..];
                    any = true;
                }
            }
            if !rest.is_empty() {
                return None;
            }
        }
        if !any {
            return None;
        }
        from_secs_f64(total)
    }

    /// A number of seconds as the supervisor reads it: pydantic turns it into a `timedelta`,
    /// rounded to the nearest microsecond. (Kept at nanoseconds, the float's noise would
    /// show: 146184155.674550 s would read as 146184155.674549997 s.)
    fn from_secs_f64(secs: f64) -> Option<Duration> {
        let exact = Duration::try_from_secs_f64(secs).ok()?;
        let micros = (exact.subsec_nanos() + 500) / 1000;
        Duration::from_secs(exact.as_secs()).checked_add(Duration::from_micros(u64::from(micros)))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn iso8601_forms() {
            assert_eq!(parse_iso8601("PT90S"), Some(Duration::from_secs(90)));
            assert_eq!(
                parse_iso8601("P1DT2H3M4.5S"),
                Some(Duration::from_secs_f64(93_784.5))
            );
            assert_eq!(parse_iso8601("P2W"), Some(Duration::from_secs(1_209_600)));
            for bad in ["", "P", "PT", "90S", "PT-1S", "P1Y", "PTxS"] {
                assert_eq!(parse_iso8601(bad), None, "{bad}");
            }
        }

        // Found by the round-trip property (tests/prop_roundtrip.rs): a duration sent as
        // float seconds came back with the float's nanosecond noise.
        #[test]
        fn seconds_are_read_to_the_microsecond_as_pydantic_reads_them() {
            let sent = Duration::new(146_184_155, 674_550_000);
            assert_eq!(from_secs_f64(sent.as_secs_f64()), Some(sent));
            assert_eq!(
                parse_iso8601("PT146184155.67455S"),
                Some(sent),
                "ISO 8601 text too"
            );
            // pydantic rounds half a microsecond up (2.5e-06 s reads as 3 µs).
            assert_eq!(from_secs_f64(2.5e-6), Some(Duration::from_micros(3)));
            assert_eq!(from_secs_f64(2.5e-7), Some(Duration::ZERO));
            assert_eq!(
                from_secs_f64(0.999_999_6),
                Some(Duration::from_secs(1)),
                "rounding carries into the seconds"
            );
            assert_eq!(from_secs_f64(-1.0), None);
        }
    }
}
