//! Writing message bodies: a serde `Serializer` straight into the frame buffer.
//!
//! It writes exactly the bytes rmp-serde's `Serializer::new(out).with_struct_map()` writes
//! (optionally `.with_human_readable()`): structs as maps keyed by field name, the smallest
//! encoding of every integer and length, enums as rmp-serde writes them, extensions through
//! rmp-serde itself. It returns rmp-serde's error type, so error texts do not change either.
//! It is faster because each value is appended to the `Vec` directly, without
//! `std::io::Write` and rmp's marker plumbing. The tests check the output byte for byte
//! against rmp-serde's.

use rmp_serde::encode::Error;
use serde::ser::{self, Serialize};

use super::{GetVariable, SucceedTask, ToSupervisor};

/// Appends `value` to `out` as msgpack, structs as maps. With `human_readable`, types that
/// ask (timestamps) write their text form.
pub(crate) fn write<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
    human_readable: bool,
) -> Result<(), Error> {
    value.serialize(&mut Serializer {
        out,
        human_readable,
    })
}

/// Appends a request body as [`write`] appends it human-readable. The requests a task sends
/// most are written by hand: `SucceedTask`, which ends every successful task, and
/// `GetVariable`. Their map header, `type` and keys are then a few constant bytes, without
/// serde's machinery for internally tagged enums; their values are written as serde writes
/// them. The tests check the bytes against serde's.
pub(crate) fn write_request(out: &mut Vec<u8>, body: &ToSupervisor) -> Result<(), Error> {
    match body {
        ToSupervisor::SucceedTask(task) => write_succeed_task(out, task),
        ToSupervisor::GetVariable(GetVariable { key }) => {
            // {"type": "GetVariable", "key": …}
            out.extend_from_slice(b"\x82\xa4type\xabGetVariable\xa3key");
            Serializer {
                out,
                human_readable: true,
            }
            .str(key);
            Ok(())
        }
        other => write(out, other, true),
    }
}

fn write_succeed_task(out: &mut Vec<u8>, task: &SucceedTask) -> Result<(), Error> {
    // Taken apart, so that a field added to the struct cannot be left out here.
    let SucceedTask {
        end_date,
        task_outlets,
        outlet_events,
        rendered_map_index,
    } = task;
    // The usual one, with no outlets, events or label: one template copy, then the digits
    // of the timestamp written into it.
    if task_outlets.is_empty() && outlet_events.is_empty() && rendered_map_index.is_none() {
        let template = if end_date.rfc3339_len() == 27 {
            SUCCEED_TASK_MICROS
        } else {
            SUCCEED_TASK_NANOS
        };
        let start = out.len();
        out.extend_from_slice(template);
        let at = start + SUCCEED_TASK_END_DATE_AT;
        let text: &mut [u8; 30] = (&mut out[at..at + 30]).try_into().expect("30 bytes");
        end_date.fill_rfc3339(text);
        return Ok(());
    }
    // {"type": "SucceedTask", "end_date": …, "task_outlets": […], "outlet_events": […]
    // (, "rendered_map_index": …)}
    out.push(0x84 + u8::from(rendered_map_index.is_some()));
    out.extend_from_slice(b"\xa4type\xabSucceedTask\xa8end_date");
    // The text of a timestamp is always shorter than 32 bytes: a fixstr.
    out.push(0xa0 | end_date.rfc3339_len() as u8);
    end_date.append_rfc3339(out);
    let mut ser = Serializer {
        out,
        human_readable: true,
    };
    ser.out.extend_from_slice(b"\xactask_outlets");
    ser.seq(task_outlets)?;
    ser.out.extend_from_slice(b"\xadoutlet_events");
    ser.seq(outlet_events)?;
    if let Some(label) = rendered_map_index {
        ser.out.extend_from_slice(b"\xb2rendered_map_index");
        ser.str(label);
    }
    Ok(())
}

/// `{"type": "SucceedTask", "end_date": <27-byte text>, "task_outlets": [], "outlet_events":
/// []}`, the digits of the date left to fill.
const SUCCEED_TASK_MICROS: &[u8] = b"\x84\xa4type\xabSucceedTask\xa8end_date\
    \xbb0000-00-00T00:00:00.000000Z\xactask_outlets\x90\xadoutlet_events\x90";
/// The same with nine fractional digits (a 30-byte text).
const SUCCEED_TASK_NANOS: &[u8] = b"\x84\xa4type\xabSucceedTask\xa8end_date\
    \xbe0000-00-00T00:00:00.000000000Z\xactask_outlets\x90\xadoutlet_events\x90";
/// Where the date text starts in both.
const SUCCEED_TASK_END_DATE_AT: usize = 28;

pub(crate) struct Serializer<'a> {
    out: &'a mut Vec<u8>,
    human_readable: bool,
}

impl Serializer<'_> {
    #[inline]
    fn byte(&mut self, byte: u8) {
        self.out.push(byte);
    }

    #[inline]
    fn marker_and(&mut self, marker: u8, data: &[u8]) {
        self.out.push(marker);
        self.out.extend_from_slice(data);
    }

    #[inline]
    fn uint(&mut self, v: u64) {
        if v < 128 {
            self.byte(v as u8);
        } else if v < 256 {
            self.marker_and(0xcc, &[v as u8]);
        } else if v < 65_536 {
            self.marker_and(0xcd, &(v as u16).to_be_bytes());
        } else if v < 4_294_967_296 {
            self.marker_and(0xce, &(v as u32).to_be_bytes());
        } else {
            self.marker_and(0xcf, &v.to_be_bytes());
        }
    }

    #[inline]
    fn sint(&mut self, v: i64) {
        match v {
            0.. => self.uint(v as u64),
            -32..=-1 => self.byte(v as u8),
            -128..=-33 => self.marker_and(0xd0, &[v as u8]),
            -32_768..=-129 => self.marker_and(0xd1, &(v as i16).to_be_bytes()),
            -2_147_483_648..=-32_769 => self.marker_and(0xd2, &(v as i32).to_be_bytes()),
            _ => self.marker_and(0xd3, &v.to_be_bytes()),
        }
    }

    /// A length header in its 8-bit (if `m8` is not 0), 16-bit or 32-bit form; `m16` and
    /// `m32` follow `m8`'s marker.
    #[inline]
    fn wide_len(&mut self, len: u32, m8: u8, m16: u8, m32: u8) {
        if len < 256 && m8 != 0 {
            self.marker_and(m8, &[len as u8]);
        } else if len < 65_536 {
            self.marker_and(m16, &(len as u16).to_be_bytes());
        } else {
            self.marker_and(m32, &len.to_be_bytes());
        }
    }

    #[inline]
    fn str_header(&mut self, len: usize) {
        let len = len as u32;
        if len < 32 {
            self.byte(0xa0 | len as u8);
        } else {
            self.wide_len(len, 0xd9, 0xda, 0xdb);
        }
    }

    #[inline]
    fn array_header(&mut self, len: usize) {
        let len = len as u32;
        if len < 16 {
            self.byte(0x90 | len as u8);
        } else {
            self.wide_len(len, 0, 0xdc, 0xdd);
        }
    }

    #[inline]
    fn map_header(&mut self, len: usize) {
        let len = len as u32;
        if len < 16 {
            self.byte(0x80 | len as u8);
        } else {
            self.wide_len(len, 0, 0xde, 0xdf);
        }
    }

    #[inline]
    fn str(&mut self, v: &str) {
        self.out.reserve(5 + v.len());
        self.str_header(v.len());
        self.out.extend_from_slice(v.as_bytes());
    }

    /// A list, as serde writes it; an empty one is a single byte.
    #[inline]
    fn seq<T: Serialize>(&mut self, items: &[T]) -> Result<(), Error> {
        if items.is_empty() {
            self.array_header(0);
            return Ok(());
        }
        items.serialize(self)
    }
}

/// A sequence or map whose length is announced, or else buffered and counted as rmp-serde
/// does.
#[inline]
fn compound<'a, 'b>(
    ser: &'a mut Serializer<'b>,
    len: Option<usize>,
    is_map: bool,
) -> Compound<'a, 'b> {
    let buffered = match len {
        Some(len) => {
            if is_map {
                ser.map_header(len);
            } else {
                ser.array_header(len);
            }
            None
        }
        None => Some((Vec::with_capacity(128), 0u32)),
    };
    Compound {
        ser,
        buffered,
        is_map,
    }
}

impl<'a, 'b> ser::Serializer for &'a mut Serializer<'b> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Direct<'a, 'b>;
    type SerializeTupleStruct = Direct<'a, 'b>;
    type SerializeTupleVariant = Direct<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Direct<'a, 'b>;
    type SerializeStructVariant = Direct<'a, 'b>;

    fn is_human_readable(&self) -> bool {
        self.human_readable
    }

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.byte(if v { 0xc3 } else { 0xc2 });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.sint(i64::from(v));
        Ok(())
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.sint(i64::from(v));
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.sint(i64::from(v));
        Ok(())
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.sint(v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.serialize_bytes(&v.to_be_bytes())
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.uint(u64::from(v));
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.uint(u64::from(v));
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.uint(u64::from(v));
        Ok(())
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.uint(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.serialize_bytes(&v.to_be_bytes())
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.marker_and(0xca, &v.to_bits().to_be_bytes());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.marker_and(0xcb, &v.to_bits().to_be_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.str(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.str(v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.wide_len(v.len() as u32, 0xc4, 0xc5, 0xc6);
        self.out.extend_from_slice(v);
        Ok(())
    }

    #[inline]
    fn serialize_none(self) -> Result<(), Error> {
        self.byte(0xc0);
        Ok(())
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.byte(0xc0);
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.array_header(0);
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.str(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        if name == rmp_serde::MSGPACK_EXT_STRUCT_NAME {
            // Extensions (timestamps): rmp-serde's own code, into the same buffer.
            return ser::Serializer::serialize_newtype_struct(
                &mut rmp_serde::Serializer::new(&mut *self.out),
                name,
                value,
            );
        }
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.map_header(1);
        self.str(variant);
        value.serialize(self)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        Ok(compound(self, len, false))
    }

    fn serialize_tuple(self, len: usize) -> Result<Direct<'a, 'b>, Error> {
        self.array_header(len);
        Ok(Direct { ser: self })
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Direct<'a, 'b>, Error> {
        self.array_header(len);
        Ok(Direct { ser: self })
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Direct<'a, 'b>, Error> {
        self.map_header(1);
        self.str(variant);
        self.array_header(len);
        Ok(Direct { ser: self })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        Ok(compound(self, len, true))
    }

    #[inline]
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Direct<'a, 'b>, Error> {
        self.map_header(len);
        Ok(Direct { ser: self })
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Direct<'a, 'b>, Error> {
        self.map_header(1);
        self.str(variant);
        self.map_header(len);
        Ok(Direct { ser: self })
    }

    #[inline]
    fn collect_seq<I>(self, iter: I) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        // rmp-serde announces the length only when the iterator knows it exactly.
        let iter = iter.into_iter();
        let len = match iter.size_hint() {
            (low, Some(high)) if low == high && u32::try_from(low).is_ok() => Some(low),
            _ => None,
        };
        match len {
            Some(len) => {
                self.array_header(len);
                for item in iter {
                    item.serialize(&mut *self)?;
                }
                Ok(())
            }
            None => {
                let mut seq = compound(self, None, false);
                for item in iter {
                    ser::SerializeSeq::serialize_element(&mut seq, &item)?;
                }
                ser::SerializeSeq::end(seq)
            }
        }
    }
}

/// The elements of a tuple or the fields of a struct, written in place.
pub(crate) struct Direct<'a, 'b> {
    ser: &'a mut Serializer<'b>,
}

impl ser::SerializeTuple for Direct<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.ser)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Direct<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.ser)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Direct<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.ser)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeStruct for Direct<'_, '_> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.ser.str(key);
        value.serialize(&mut *self.ser)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Direct<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.ser.str(key);
        value.serialize(&mut *self.ser)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

/// The elements of a sequence or the entries of a map. When the length was not announced,
/// they are written to a side buffer and counted, and the header goes in front at the end.
pub(crate) struct Compound<'a, 'b> {
    ser: &'a mut Serializer<'b>,
    buffered: Option<(Vec<u8>, u32)>,
    is_map: bool,
}

impl Compound<'_, '_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        match &mut self.buffered {
            None => value.serialize(&mut *self.ser),
            Some((buffer, count)) => {
                value.serialize(&mut Serializer {
                    out: buffer,
                    human_readable: self.ser.human_readable,
                })?;
                *count += 1;
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<(), Error> {
        if let Some((buffer, count)) = self.buffered {
            if self.is_map {
                self.ser.map_header((count / 2) as usize);
            } else {
                self.ser.array_header(count as usize);
            }
            self.ser.out.extend_from_slice(&buffer);
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.item(value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.item(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.item(value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    //! Differential tests: this serializer writes exactly the bytes rmp-serde writes.

    use std::collections::BTreeMap;

    use serde::ser::{SerializeMap, SerializeSeq};
    use serde::{Serialize, Serializer as _};
    use serde_json::json;

    use super::write;
    use crate::frame::{self, ContextCarrier, Response};
    use crate::messages::{golden, Text, ToSupervisor, ToTask};
    use crate::time::Timestamp;

    fn rmp_serde_bytes<T: Serialize + ?Sized>(value: &T, human_readable: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ser = rmp_serde::Serializer::new(&mut out).with_struct_map();
        if human_readable {
            value
                .serialize(&mut ser.with_human_readable())
                .map(|_| ())
                .unwrap_or_else(|e| panic!("rmp-serde: {e}"));
        } else {
            value
                .serialize(&mut ser)
                .unwrap_or_else(|e| panic!("rmp-serde: {e}"));
        }
        out
    }

    /// Writes `value` both ways, in both modes, and insists on the same bytes.
    fn same<T: Serialize + ?Sized + std::fmt::Debug>(value: &T) {
        for human_readable in [false, true] {
            let mut ours = Vec::new();
            write(&mut ours, value, human_readable).unwrap();
            assert_eq!(
                ours,
                rmp_serde_bytes(value, human_readable),
                "{value:?} (human readable: {human_readable})"
            );
        }
    }

    #[test]
    fn golden_messages_are_written_the_same() {
        for (file, to_supervisor, body) in golden::bodies() {
            if to_supervisor {
                let message = ToSupervisor::decode(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
                same(&message);
            } else {
                let message = ToTask::decode(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
                same(&message);
            }
        }
    }

    #[test]
    fn numbers_strings_and_lengths_at_every_boundary_are_written_the_same() {
        for v in [
            0u64,
            1,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            same(&v);
            same(&(v as u8));
            same(&(v as u16));
            same(&(v as u32));
        }
        for v in [
            0i64,
            1,
            127,
            128,
            255,
            256,
            65_536,
            i64::MAX,
            -1,
            -32,
            -33,
            -128,
            -129,
            -32_768,
            -32_769,
            i32::MIN as i64,
            i32::MIN as i64 - 1,
            i64::MIN,
        ] {
            same(&v);
            same(&(v as i8));
            same(&(v as i16));
            same(&(v as i32));
        }
        same(&i128::MIN);
        same(&u128::MAX);
        for v in [0.0f64, -0.0, 1.5, f64::MAX, f64::NAN, f64::INFINITY] {
            same(&v);
            same(&(v as f32));
        }
        same(&true);
        same(&false);
        same(&'x');
        same(&'é');
        same(&());
        same(&None::<u8>);
        same(&Some(3u8));
        for len in [0usize, 1, 15, 16, 31, 32, 255, 256, 65_535, 65_536] {
            same(&"a".repeat(len));
            same(&vec![1u8; len]);
            same(&Bytes(vec![7u8; len]));
            let map: BTreeMap<String, u8> =
                (0..len.min(70_000)).map(|i| (i.to_string(), 1)).collect();
            same(&map);
        }
    }

    #[derive(Debug)]
    struct Bytes(Vec<u8>);

    impl Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    /// A sequence and a map of unknown length, as `#[serde(flatten)]` writes them.
    #[derive(Debug)]
    struct Unsized(u8);

    impl Serialize for Unsized {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(None)?;
            for i in 0..self.0 {
                map.serialize_entry(&i, &UnsizedSeq(i))?;
            }
            map.end()
        }
    }

    #[derive(Debug)]
    struct UnsizedSeq(u8);

    impl Serialize for UnsizedSeq {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(None)?;
            for i in 0..self.0 {
                seq.serialize_element(&format!("{i}"))?;
            }
            seq.end()
        }
    }

    #[derive(Debug, Serialize)]
    struct UnitStruct;

    #[derive(Debug, Serialize)]
    struct NewtypeStruct(u16);

    #[derive(Debug, Serialize)]
    struct TupleStruct(u8, String);

    #[derive(Debug, Serialize)]
    enum Variants {
        Unit,
        Newtype(u8),
        Tuple(u8, u8),
        Struct { x: u8, y: Option<Box<Variants>> },
    }

    #[derive(Debug, Serialize)]
    struct Fields {
        a: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        b: Option<u8>,
        #[serde(flatten)]
        rest: BTreeMap<String, u8>,
    }

    #[test]
    fn every_shape_serde_knows_is_written_the_same() {
        same(&UnitStruct);
        same(&NewtypeStruct(300));
        same(&TupleStruct(1, "x".into()));
        same(&(1u8, "two", 3.0f32, [4u8, 5]));
        same(&[0u8; 0]);
        same(&Variants::Unit);
        same(&Variants::Newtype(1));
        same(&Variants::Tuple(1, 2));
        same(&Variants::Struct {
            x: 1,
            y: Some(Box::new(Variants::Unit)),
        });
        same(&Fields {
            a: 1,
            b: None,
            rest: BTreeMap::from([("c".to_owned(), 3)]),
        });
        same(&Fields {
            a: 1,
            b: Some(2),
            rest: BTreeMap::new(),
        });
        for n in [0, 1, 3, 17] {
            same(&Unsized(n));
        }
        same(&json!({"a": [1, -1, 2.5, null, true, "s", {"b": {}}], "c": []}));
        let carrier: ContextCarrier = BTreeMap::from([("traceparent".into(), "00-ab".into())]);
        same(&carrier);
        for t in [
            Timestamp::from_unix(1_735_689_600, 0).unwrap(),
            Timestamp::from_unix(1_735_689_605, 123_456_000).unwrap(),
            Timestamp::from_unix(-1, 5).unwrap(),
        ] {
            same(&t);
            same(&Some(t));
        }
    }

    #[test]
    fn requests_written_by_hand_are_written_as_serde_writes_them() {
        use crate::messages::{AssetProfile, GetVariable, SucceedTask};
        let mut requests: Vec<ToSupervisor> = golden::bodies()
            .into_iter()
            .filter(|(_, to_supervisor, _)| *to_supervisor)
            .map(|(_, _, body)| ToSupervisor::decode(&body).unwrap())
            .collect();
        for key in [
            "",
            "x",
            "é",
            &"k".repeat(31),
            &"k".repeat(32),
            &"k".repeat(300),
        ] {
            requests.push(ToSupervisor::GetVariable(GetVariable { key: key.into() }));
        }
        let profile = AssetProfile {
            name: Some("asset".into()),
            uri: Some("s3://bucket/key".into()),
            profile_type: "Asset".into(),
        };
        let event = json!({"asset": {"name": "asset"}, "extra": {"n": 1}});
        for (secs, nanos) in [(1_735_689_605, 0), (-1, 123_456_000), (253_402_300_799, 1)] {
            for label in [None, Some(""), Some("label"), Some(&*"l".repeat(40))] {
                for (outlets, events) in [(0, 0), (1, 0), (2, 3)] {
                    requests.push(ToSupervisor::SucceedTask(SucceedTask {
                        end_date: Timestamp::from_unix(secs, nanos).unwrap(),
                        task_outlets: vec![profile.clone(); outlets],
                        outlet_events: vec![event.as_object().unwrap().clone(); events],
                        rendered_map_index: label.map(Text::from),
                    }));
                }
            }
        }
        for request in &requests {
            let mut ours = vec![1, 2, 3];
            super::write_request(&mut ours, request).unwrap();
            let mut theirs = vec![1, 2, 3];
            write(&mut theirs, request, true).unwrap();
            assert_eq!(ours, theirs, "{request:?}");
        }
    }

    #[test]
    fn frames_are_written_as_before() {
        let bodies: Vec<(bool, Vec<u8>)> = golden::bodies()
            .into_iter()
            .map(|(_, to_supervisor, body)| (to_supervisor, body))
            .collect();
        let carrier: ContextCarrier = BTreeMap::from([("traceparent".into(), "00-ab".into())]);
        for (to_supervisor, body) in &bodies {
            let mut ours = Vec::new();
            let mut reference = Vec::new();
            if *to_supervisor {
                let message = ToSupervisor::decode(body).unwrap();
                for (id, carrier) in [(0u64, None), (300, Some(&carrier))] {
                    frame::encode_request(&mut ours, id, &message, carrier, u32::MAX).unwrap();
                    reference_frame(&mut reference, |out| {
                        rmp::encode::write_array_len(out, 2 + u32::from(carrier.is_some()))?;
                        rmp::encode::write_uint(out, id)?;
                        let mut ser = rmp_serde::Serializer::new(&mut *out)
                            .with_struct_map()
                            .with_human_readable();
                        message.serialize(&mut ser).unwrap();
                        if let Some(carrier) = carrier {
                            carrier.serialize(&mut ser).unwrap();
                        }
                        Ok(())
                    });
                }
            } else {
                let message = ToTask::decode(body).unwrap();
                for id in [0i64, -1, 70_000] {
                    let response = match &message {
                        ToTask::ErrorResponse(error) => Response::Error(error),
                        other => Response::Body(other),
                    };
                    frame::encode_response(&mut ours, id, response, u32::MAX).unwrap();
                    frame::encode_response(&mut ours, id, Response::Empty, u32::MAX).unwrap();
                    reference_frame(&mut reference, |out| {
                        rmp::encode::write_array_len(out, 3)?;
                        rmp::encode::write_sint(out, id)?;
                        let mut ser = rmp_serde::Serializer::new(&mut *out).with_struct_map();
                        match response {
                            Response::Body(body) => {
                                body.serialize(&mut ser).unwrap();
                                rmp::encode::write_nil(ser.get_mut()).unwrap();
                            }
                            Response::Error(error) => {
                                rmp::encode::write_nil(ser.get_mut()).unwrap();
                                frame::TaggedError(error).serialize(&mut ser).unwrap();
                            }
                            Response::Empty => unreachable!(),
                        }
                        Ok(())
                    });
                    reference_frame(&mut reference, |out| {
                        rmp::encode::write_array_len(out, 3)?;
                        rmp::encode::write_sint(out, id)?;
                        rmp::encode::write_nil(out).unwrap();
                        rmp::encode::write_nil(out).unwrap();
                        Ok(())
                    });
                }
            }
            assert_eq!(ours, reference);
        }
    }

    /// A frame as the encoders wrote it before: prefix, then the payload rmp wrote.
    fn reference_frame(
        out: &mut Vec<u8>,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), rmp::encode::ValueWriteError>,
    ) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        payload(out).unwrap();
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    #[test]
    fn errors_read_as_rmp_serde_writes_them() {
        #[derive(Debug)]
        struct Fails;
        impl Serialize for Fails {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no way"))
            }
        }
        let ours = write(&mut Vec::new(), &Fails, true)
            .unwrap_err()
            .to_string();
        let theirs = Fails
            .serialize(&mut rmp_serde::Serializer::new(Vec::new()))
            .unwrap_err()
            .to_string();
        assert_eq!(ours, theirs);
        // A serializer that says it is one, for completeness of the trait surface.
        let mut out = Vec::new();
        let ser = &mut super::Serializer {
            out: &mut out,
            human_readable: true,
        };
        assert!(ser.is_human_readable());
    }
}
