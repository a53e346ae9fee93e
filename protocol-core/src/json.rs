//! JSON values inside messages.
//!
//! Outgoing values use [`JsonValue`] (`serde_json::Value`): it cannot hold msgpack `bin`,
//! extensions, non-finite floats or non-string map keys, which are exactly the values the
//! supervisor's `JsonValue` fields refuse (a refused request is never answered).
//!
//! Incoming values are read leniently: whatever the supervisor sends lands in a
//! [`JsonValue`]. A timestamp extension becomes its RFC 3339 text, `bin` becomes an array
//! of byte values, and integer map keys become their decimal text.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::time::{ExtVisitor, Timestamp, MSGPACK_TIMESTAMP_EXT};

/// A JSON value, as XCom values, `conf`, kwargs and state-store values are.
pub type JsonValue = serde_json::Value;

/// A JSON object with string keys, in insertion order.
pub type JsonMap = serde_json::Map<String, JsonValue>;

/// Deserializes any msgpack value into a [`JsonValue`] (see the module docs).
pub(crate) fn lenient_value<'de, D: Deserializer<'de>>(d: D) -> Result<JsonValue, D::Error> {
    d.deserialize_any(LenientVisitor)
}

/// Deserializes nil or a map into an optional [`JsonMap`].
pub(crate) fn lenient_option_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<JsonMap>, D::Error> {
    match d.deserialize_any(LenientVisitor)? {
        JsonValue::Null => Ok(None),
        JsonValue::Object(map) => Ok(Some(map)),
        other => Err(de::Error::invalid_type(unexpected(&other), &"a map or nil")),
    }
}

/// Deserializes a map into a [`JsonMap`].
pub(crate) fn lenient_map<'de, D: Deserializer<'de>>(d: D) -> Result<JsonMap, D::Error> {
    match d.deserialize_any(LenientVisitor)? {
        JsonValue::Object(map) => Ok(map),
        other => Err(de::Error::invalid_type(unexpected(&other), &"a map")),
    }
}

/// Deserializes an array of maps.
pub(crate) fn lenient_vec_of_maps<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<JsonMap>, D::Error> {
    match d.deserialize_any(LenientVisitor)? {
        JsonValue::Array(items) => items
            .into_iter()
            .map(|item| match item {
                JsonValue::Object(map) => Ok(map),
                other => Err(de::Error::invalid_type(unexpected(&other), &"a map")),
            })
            .collect(),
        other => Err(de::Error::invalid_type(
            unexpected(&other),
            &"an array of maps",
        )),
    }
}

/// Deserializes an array of arbitrary values.
pub(crate) fn lenient_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<JsonValue>, D::Error> {
    match d.deserialize_any(LenientVisitor)? {
        JsonValue::Array(items) => Ok(items),
        other => Err(de::Error::invalid_type(unexpected(&other), &"an array")),
    }
}

fn unexpected(value: &JsonValue) -> de::Unexpected<'_> {
    match value {
        JsonValue::Null => de::Unexpected::Unit,
        JsonValue::Bool(b) => de::Unexpected::Bool(*b),
        JsonValue::Number(_) => de::Unexpected::Other("a number"),
        JsonValue::String(s) => de::Unexpected::Str(s),
        JsonValue::Array(_) => de::Unexpected::Seq,
        JsonValue::Object(_) => de::Unexpected::Map,
    }
}

struct LenientVisitor;

impl<'de> Visitor<'de> for LenientVisitor {
    type Value = JsonValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any msgpack value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<JsonValue, E> {
        Ok(JsonValue::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<JsonValue, E> {
        Ok(JsonValue::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<JsonValue, E> {
        Ok(JsonValue::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<JsonValue, E> {
        // Non-finite floats have no JSON form; null is what Python's json module cannot
        // produce either way, and keeps the rest of the value.
        Ok(serde_json::Number::from_f64(v).map_or(JsonValue::Null, JsonValue::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<JsonValue, E> {
        Ok(JsonValue::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<JsonValue, E> {
        Ok(JsonValue::String(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<JsonValue, E> {
        Ok(JsonValue::Array(
            v.iter().map(|&b| JsonValue::from(b)).collect(),
        ))
    }

    fn visit_none<E>(self) -> Result<JsonValue, E> {
        Ok(JsonValue::Null)
    }

    fn visit_unit<E>(self) -> Result<JsonValue, E> {
        Ok(JsonValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<JsonValue, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<JsonValue, D::Error> {
        let (tag, payload) = d.deserialize_seq(ExtVisitor)?;
        if tag == MSGPACK_TIMESTAMP_EXT {
            let ts = Timestamp::from_msgpack_ext(&payload).map_err(de::Error::custom)?;
            return Ok(JsonValue::String(ts.to_rfc3339()));
        }
        Err(de::Error::custom(format_args!(
            "msgpack extension type {tag} ({} bytes) has no JSON form",
            payload.len()
        )))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonValue, A::Error> {
        // The hint comes from the peer: cap it so a lying length cannot reserve memory.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(LenientSeed)? {
            items.push(item);
        }
        Ok(JsonValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonValue, A::Error> {
        let mut out = JsonMap::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(LenientSeed)?;
            out.insert(key, value);
        }
        Ok(JsonValue::Object(out))
    }
}

struct LenientSeed;

impl<'de> DeserializeSeed<'de> for LenientSeed {
    type Value = JsonValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<JsonValue, D::Error> {
        d.deserialize_any(LenientVisitor)
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or integer map key")
            }
            fn visit_str<E>(self, v: &str) -> Result<String, E> {
                Ok(v.to_owned())
            }
            fn visit_string<E>(self, v: String) -> Result<String, E> {
                Ok(v)
            }
            fn visit_i64<E>(self, v: i64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_u64<E>(self, v: u64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_bool<E>(self, v: bool) -> Result<String, E> {
                Ok(if v { "true" } else { "false" }.to_owned())
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}
