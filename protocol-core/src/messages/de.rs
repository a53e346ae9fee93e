//! Reading message bodies: a serde `Deserializer` straight over the msgpack bytes of a frame.
//!
//! It presents every value to serde exactly as `rmp_serde::from_slice` does: the same visitor
//! calls for each marker, the same handling of options, extensions, enums and `bin`, the same
//! depth limit (1024 nested containers), the same errors (it returns rmp-serde's own error
//! type, built the same way). So every `Deserialize` impl of this crate reads what it read
//! before. It is faster because it reads from the slice directly instead of through
//! `std::io::Read`, and because of two shortcuts that no type of this crate can observe:
//!
//! * map keys and enum variant names are offered to identifier visitors as bytes, without a
//!   UTF-8 check. The visitors serde derives match bytes exactly as they match text, and
//!   rmp-serde itself falls back to bytes for a key that is not UTF-8;
//! * ignored values (unknown keys) are skipped by the wire reader in one pass instead of
//!   being visited value by value. Where that pass refuses a value (nesting deeper than the
//!   reader's own limit, truncation), the value is visited as rmp-serde would, for the same
//!   outcome.

use std::io;

use rmp::Marker;
use rmp_serde::decode::Error;
use serde::de::{self, DeserializeSeed, IgnoredAny, Unexpected, Visitor};
use serde::forward_to_deserialize_any;

use crate::wire::{self, Reader};

/// Reads a `T` from the start of `input`, as `rmp_serde::from_slice` does (trailing bytes are
/// not looked at).
pub(crate) fn from_slice<'de, T: de::Deserialize<'de>>(input: &'de [u8]) -> Result<T, Error> {
    T::deserialize(&mut Deserializer::new(input))
}

/// rmp-serde's nesting budget: the 1024th nested container is refused.
const MAX_DEPTH: u16 = 1024;

/// The deserializer over one msgpack buffer; `&mut Deserializer` is the serde `Deserializer`.
pub(crate) struct Deserializer<'de> {
    input: &'de [u8],
    pos: usize,
    depth: u16,
}

impl<'de> Deserializer<'de> {
    /// A deserializer reading from the start of `input`, as `from_slice` does.
    pub(crate) fn new(input: &'de [u8]) -> Self {
        Self {
            input,
            pos: 0,
            depth: MAX_DEPTH,
        }
    }
}

/// The head of a msgpack value: scalars whole, containers and extensions by length.
enum Head<'de> {
    Nil,
    Bool(bool),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Str(&'de [u8]),
    Bin(&'de [u8]),
    Array(u32),
    Map(u32),
    Ext(u32),
}

// The errors rmp-serde reports when its reader runs dry: `read_exact` for markers and
// fixed-width data, `ErrorKind::UnexpectedEof` for string, binary and extension payloads.
#[cold]
fn eof_marker() -> Error {
    Error::InvalidMarkerRead(read_exact_eof())
}

#[cold]
fn eof_data() -> Error {
    Error::InvalidDataRead(read_exact_eof())
}

#[cold]
fn eof_slice() -> Error {
    Error::InvalidDataRead(io::ErrorKind::UnexpectedEof.into())
}

fn read_exact_eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "failed to fill whole buffer")
}

#[cold]
fn mismatch(marker: u8) -> Error {
    Error::TypeMismatch(Marker::from_u8(marker))
}

impl<'de> Deserializer<'de> {
    #[inline]
    fn peek_marker(&self) -> Result<u8, Error> {
        self.input.get(self.pos).copied().ok_or_else(eof_marker)
    }

    #[inline]
    fn marker(&mut self) -> Result<u8, Error> {
        let marker = self.peek_marker()?;
        self.pos += 1;
        Ok(marker)
    }

    /// `N` bytes of fixed-width data (a number or a length).
    #[inline]
    fn data<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let end = self.pos + N;
        match self.input.get(self.pos..end) {
            Some(bytes) => {
                self.pos = end;
                Ok(bytes.try_into().expect("N bytes"))
            }
            None => {
                // `read_exact` on a slice consumes what is left before failing.
                self.pos = self.input.len();
                Err(eof_data())
            }
        }
    }

    #[inline]
    fn data_u8(&mut self) -> Result<u8, Error> {
        Ok(self.data::<1>()?[0])
    }

    #[inline]
    fn data_u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.data()?))
    }

    #[inline]
    fn data_u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.data()?))
    }

    /// A string, binary or extension payload, borrowed from the input.
    #[inline]
    fn slice(&mut self, len: usize) -> Result<&'de [u8], Error> {
        if len > self.input.len() - self.pos {
            return Err(eof_slice());
        }
        let bytes = &self.input[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    /// The length of a string whose marker was read, or `None` if it is not a string.
    #[inline]
    fn str_len(&mut self, marker: u8) -> Result<Option<usize>, Error> {
        Ok(Some(match marker {
            0xa0..=0xbf => usize::from(marker & 0x1f),
            0xd9 => usize::from(self.data_u8()?),
            0xda => usize::from(self.data_u16()?),
            0xdb => self.data_u32()? as usize,
            _ => return Ok(None),
        }))
    }

    fn ext_len(&mut self, marker: u8) -> Result<u32, Error> {
        Ok(match marker {
            0xd4 => 1,
            0xd5 => 2,
            0xd6 => 4,
            0xd7 => 8,
            0xd8 => 16,
            0xc7 => u32::from(self.data_u8()?),
            0xc8 => u32::from(self.data_u16()?),
            0xc9 => self.data_u32()?,
            other => return Err(mismatch(other)),
        })
    }

    /// Reads the head of the next value: its marker and what follows up to its contents
    /// (lengths, numbers, string and binary payloads). Not generic, so that its code exists
    /// once, not once per visitor: what serde's visitors then do with the head stays small.
    fn head(&mut self) -> Result<Head<'de>, Error> {
        let marker = self.marker()?;
        if let Some(len) = self.str_len(marker)? {
            return Ok(Head::Str(self.slice(len)?));
        }
        Ok(match marker {
            0x00..=0x7f => Head::U8(marker),
            0xe0..=0xff => Head::I8(marker as i8),
            0xc0 => Head::Nil,
            0xc2 => Head::Bool(false),
            0xc3 => Head::Bool(true),
            0x90..=0x9f => Head::Array(u32::from(marker & 0x0f)),
            0xdc => Head::Array(u32::from(self.data_u16()?)),
            0xdd => Head::Array(self.data_u32()?),
            0x80..=0x8f => Head::Map(u32::from(marker & 0x0f)),
            0xde => Head::Map(u32::from(self.data_u16()?)),
            0xdf => Head::Map(self.data_u32()?),
            0xc4..=0xc6 => {
                let len = match marker {
                    0xc4 => usize::from(self.data_u8()?),
                    0xc5 => usize::from(self.data_u16()?),
                    _ => self.data_u32()? as usize,
                };
                Head::Bin(self.slice(len)?)
            }
            0xc7..=0xc9 | 0xd4..=0xd8 => Head::Ext(self.ext_len(marker)?),
            0xcc => Head::U8(self.data_u8()?),
            0xcd => Head::U16(self.data_u16()?),
            0xce => Head::U32(self.data_u32()?),
            0xcf => Head::U64(u64::from_be_bytes(self.data()?)),
            0xd0 => Head::I8(self.data_u8()? as i8),
            0xd1 => Head::I16(i16::from_be_bytes(self.data()?)),
            0xd2 => Head::I32(i32::from_be_bytes(self.data()?)),
            0xd3 => Head::I64(i64::from_be_bytes(self.data()?)),
            0xca => Head::F32(f32::from_be_bytes(self.data()?)),
            0xcb => Head::F64(f64::from_be_bytes(self.data()?)),
            other => return Err(mismatch(other)),
        })
    }

    /// What rmp-serde does for every marker (`any_inner`); `allow_bytes` is false when serde
    /// asked for a sequence, a tuple or a struct, and `bin` is then visited as a sequence.
    fn any<V: Visitor<'de>>(&mut self, visitor: V, allow_bytes: bool) -> Result<V::Value, Error> {
        match self.head()? {
            Head::Str(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => visitor.visit_borrowed_str(text),
                // rmp-serde offers text that is not UTF-8 as bytes, and reports the UTF-8
                // error if the visitor does not take bytes.
                Err(error) => visitor
                    .visit_borrowed_bytes::<Error>(bytes)
                    .map_err(|_| Error::Utf8Error(error)),
            },
            Head::Map(len) => self.map(len, visitor),
            Head::Array(len) => self.seq(len, visitor),
            Head::Nil => visitor.visit_unit(),
            Head::Bool(v) => visitor.visit_bool(v),
            Head::U8(v) => visitor.visit_u8(v),
            Head::U16(v) => visitor.visit_u16(v),
            Head::U32(v) => visitor.visit_u32(v),
            Head::U64(v) => visitor.visit_u64(v),
            Head::I8(v) => visitor.visit_i8(v),
            Head::I16(v) => visitor.visit_i16(v),
            Head::I32(v) => visitor.visit_i32(v),
            Head::I64(v) => visitor.visit_i64(v),
            Head::F32(v) => visitor.visit_f32(v),
            Head::F64(v) => visitor.visit_f64(v),
            Head::Bin(bytes) if allow_bytes => visitor.visit_borrowed_bytes(bytes),
            Head::Bin(bytes) => visitor.visit_seq(de::value::SeqDeserializer::<_, Error>::new(
                bytes.iter().copied(),
            )),
            Head::Ext(len) => {
                self.nested(|de| visitor.visit_newtype_struct(ExtDeserializer::new(de, len)))
            }
        }
    }

    /// What rmp-serde does when serde asks for a number or a boolean (`any_num`): nil,
    /// booleans and numbers are visited as they are, anything else is a type mismatch.
    #[inline]
    fn number<V: Visitor<'de>>(&mut self, marker: u8, visitor: V) -> Result<V::Value, Error> {
        match marker {
            0x00..=0x7f => visitor.visit_u8(marker),
            0xe0..=0xff => visitor.visit_i8(marker as i8),
            0xc0 => visitor.visit_unit(),
            0xc2 => visitor.visit_bool(false),
            0xc3 => visitor.visit_bool(true),
            0xcc => visitor.visit_u8(self.data_u8()?),
            0xcd => visitor.visit_u16(self.data_u16()?),
            0xce => visitor.visit_u32(self.data_u32()?),
            0xcf => visitor.visit_u64(u64::from_be_bytes(self.data()?)),
            0xd0 => visitor.visit_i8(self.data_u8()? as i8),
            0xd1 => visitor.visit_i16(i16::from_be_bytes(self.data()?)),
            0xd2 => visitor.visit_i32(i32::from_be_bytes(self.data()?)),
            0xd3 => visitor.visit_i64(i64::from_be_bytes(self.data()?)),
            0xca => visitor.visit_f32(f32::from_be_bytes(self.data()?)),
            0xcb => visitor.visit_f64(f64::from_be_bytes(self.data()?)),
            other => Err(mismatch(other)),
        }
    }

    /// Runs `f` one container deeper, refusing the 1024th level as rmp-serde does.
    #[inline]
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        self.depth -= 1;
        if self.depth == 0 {
            return Err(Error::DepthLimitExceeded);
        }
        let result = f(self)?;
        self.depth += 1;
        Ok(result)
    }

    fn seq<V: Visitor<'de>>(&mut self, len: u32, visitor: V) -> Result<V::Value, Error> {
        self.nested(|de| {
            let mut access = Access { de, left: len };
            let value = visitor.visit_seq(&mut access)?;
            match access.left {
                0 => Ok(value),
                left => Err(Error::LengthMismatch(len - left)),
            }
        })
    }

    fn map<V: Visitor<'de>>(&mut self, len: u32, visitor: V) -> Result<V::Value, Error> {
        self.nested(|de| {
            let mut access = Access { de, left: len };
            let value = visitor.visit_map(&mut access)?;
            match access.left {
                0 => Ok(value),
                left => Err(Error::LengthMismatch(len - left)),
            }
        })
    }

    /// Skips a value nobody reads. The wire reader does it in one pass; if it refuses the
    /// value, the value is visited as rmp-serde would visit it, for the same outcome.
    fn skip_ignored(&mut self) -> Result<(), Error> {
        // The reader refuses values nested deeper than `wire::MAX_DEPTH`; with at least twice
        // that budget left, any value it accepts is one rmp-serde accepts too.
        if usize::from(self.depth) > 2 * wire::MAX_DEPTH {
            let mut reader = Reader::at(self.input, self.pos);
            if reader.skip_within(wire::MAX_DEPTH).is_ok() {
                self.pos = reader.position();
                return Ok(());
            }
        }
        self.any(IgnoredAny, true).map(|_| ())
    }

    fn i128(&mut self) -> Result<i128, Error> {
        let marker = self.marker()?;
        Ok(match marker {
            0x00..=0x7f => i128::from(marker),
            0xe0..=0xff => i128::from(marker as i8),
            0xcc => i128::from(self.data_u8()?),
            0xcd => i128::from(self.data_u16()?),
            0xce => i128::from(self.data_u32()?),
            0xcf => i128::from(u64::from_be_bytes(self.data()?)),
            0xd0 => i128::from(self.data_u8()? as i8),
            0xd1 => i128::from(i16::from_be_bytes(self.data()?)),
            0xd2 => i128::from(i32::from_be_bytes(self.data()?)),
            0xd3 => i128::from(i64::from_be_bytes(self.data()?)),
            0xc4 | 0x90..=0x9f => {
                let len = if marker == 0xc4 {
                    self.data_u8()?
                } else {
                    marker & 0x0f
                };
                if len != 16 {
                    return Err(Error::LengthMismatch(16));
                }
                let bytes = self.slice(16)?;
                i128::from_be_bytes(bytes.try_into().expect("16 bytes"))
            }
            other => return Err(mismatch(other)),
        })
    }
}

macro_rules! numbers {
    ($($method:ident)*) => {
        $(
            #[inline]
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                let marker = self.marker()?;
                self.number(marker, visitor)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn is_human_readable(&self) -> bool {
        false
    }

    #[inline]
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.any(visitor, true)
    }

    numbers! {
        deserialize_bool deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_f32 deserialize_f64
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_i128(self.i128()?)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u128(self.i128()? as u128)
    }

    #[inline]
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek_marker()? == 0xc0 {
            self.pos += 1;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        // rmp-serde writes unit structs as `[]`, and reads `[]` or nil back as one.
        match self.peek_marker()? {
            0xc0 | 0x90 => {
                self.pos += 1;
                visitor.visit_unit()
            }
            _ => self.any(visitor, true),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == rmp_serde::MSGPACK_EXT_STRUCT_NAME {
            let marker = self.marker()?;
            let len = self.ext_len(marker)?;
            return visitor.visit_newtype_struct(ExtDeserializer::new(self, len));
        }
        visitor.visit_newtype_struct(self)
    }

    #[inline]
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.any(visitor, false)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.any(visitor, false)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.any(visitor, false)
    }

    #[inline]
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.any(visitor, false)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // A single-entry map `{variant: data}`, or anything else read as a unit variant.
        let marker = self.peek_marker()?;
        let len = match marker {
            0x80..=0x8f => {
                self.pos += 1;
                u32::from(marker & 0x0f)
            }
            0xde => {
                self.pos += 1;
                u32::from(self.data_u16()?)
            }
            0xdf => {
                self.pos += 1;
                self.data_u32()?
            }
            _ => return visitor.visit_enum(UnitVariant { de: self }),
        };
        match len {
            1 => visitor.visit_enum(MapVariant { de: self }),
            n => Err(Error::LengthMismatch(n)),
        }
    }

    /// Keys of structs and names of enum variants: text is offered as bytes, unchecked (see
    /// the module docs); any other value as rmp-serde offers it.
    #[inline]
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        let marker = self.marker()?;
        match self.str_len(marker)? {
            Some(len) => {
                let bytes = self.slice(len)?;
                visitor
                    .visit_borrowed_bytes::<Error>(bytes)
                    .map_err(|error| match std::str::from_utf8(bytes) {
                        Ok(_) => error,
                        Err(utf8) => Error::Utf8Error(utf8),
                    })
            }
            None => {
                self.pos = start;
                self.any(visitor, true)
            }
        }
    }

    #[inline]
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.skip_ignored()?;
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        char str string bytes byte_buf unit map
    }
}

/// The elements of an array, or the entries of a map.
struct Access<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: u32,
}

impl<'de> de::SeqAccess<'de> for Access<'_, 'de> {
    type Error = Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        usize::try_from(self.left).ok()
    }
}

impl<'de> de::MapAccess<'de> for Access<'_, 'de> {
    type Error = Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    #[inline]
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        usize::try_from(self.left).ok()
    }
}

/// A msgpack extension, shown to serde as the sequence `(type: i8, payload: bytes)` inside a
/// newtype struct, as rmp-serde shows it.
struct ExtDeserializer<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    len: u32,
    state: ExtState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ExtState {
    New,
    ReadTag,
    ReadPayload,
}

impl<'a, 'de> ExtDeserializer<'a, 'de> {
    fn new(de: &'a mut Deserializer<'de>, len: u32) -> Self {
        Self {
            de,
            len,
            state: ExtState::New,
        }
    }
}

impl<'de> de::Deserializer<'de> for ExtDeserializer<'_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(self)
    }

    forward_to_deserialize_any! {
        bool u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 char str string unit option
        seq bytes byte_buf map unit_struct newtype_struct
        struct identifier tuple enum ignored_any tuple_struct
    }
}

impl<'de> de::SeqAccess<'de> for ExtDeserializer<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.state {
            ExtState::New | ExtState::ReadTag => seed.deserialize(self).map(Some),
            ExtState::ReadPayload => Ok(None),
        }
    }
}

impl<'de> de::Deserializer<'de> for &mut ExtDeserializer<'_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.state {
            ExtState::New => {
                let tag = self.de.data_u8()? as i8;
                self.state = ExtState::ReadTag;
                visitor.visit_i8(tag)
            }
            ExtState::ReadTag => {
                let payload = self.de.slice(self.len as usize)?;
                self.state = ExtState::ReadPayload;
                visitor.visit_borrowed_bytes(payload)
            }
            ExtState::ReadPayload => Err(Error::TypeMismatch(Marker::Reserved)),
        }
    }

    forward_to_deserialize_any! {
        bool u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 char str string unit option
        seq bytes byte_buf map unit_struct newtype_struct
        tuple_struct struct identifier tuple enum ignored_any
    }
}

/// An enum written as a single-entry map `{variant: data}`.
struct MapVariant<'a, 'de> {
    de: &'a mut Deserializer<'de>,
}

impl<'de> de::EnumAccess<'de> for MapVariant<'_, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        Ok((seed.deserialize(&mut *self.de)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for MapVariant<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.de.marker()? {
            0xc0 => Ok(()),
            other => Err(mismatch(other)),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_tuple(self.de, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_tuple(self.de, fields.len(), visitor)
    }
}

/// An enum written as just its variant.
struct UnitVariant<'a, 'de> {
    de: &'a mut Deserializer<'de>,
}

impl<'de> de::EnumAccess<'de> for UnitVariant<'_, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        Ok((seed.deserialize(&mut *self.de)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"newtype variant",
        ))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"tuple variant",
        ))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"struct variant",
        ))
    }
}

#[cfg(test)]
mod tests {
    //! Differential tests: whatever rmp-serde makes of some bytes, this deserializer makes the
    //! same, value or error text.

    use std::collections::BTreeMap;
    use std::fmt::Debug;

    use serde::de::DeserializeOwned;
    use serde::Deserialize;

    use super::{from_slice, Error};
    use crate::json::JsonValue;
    use crate::messages::{golden, ToSupervisor, ToTask};

    fn outcome<T: Debug>(result: Result<T, Error>) -> String {
        match result {
            Ok(value) => format!("Ok({value:?})"),
            Err(error) => format!("Err({error})"),
        }
    }

    /// Decodes `bytes` as a `T` both ways and insists on the same outcome.
    fn same<T: DeserializeOwned + Debug>(bytes: &[u8]) {
        assert_eq!(
            outcome(from_slice::<T>(bytes)),
            outcome(rmp_serde::from_slice::<T>(bytes)),
            "{} bytes {bytes:02x?}",
            std::any::type_name::<T>()
        );
    }

    /// Decodes `body` as message `tag` of both directions, both ways.
    fn same_message(tag: &[u8], body: &[u8]) {
        let ours = ToTask::decode_known(tag, body).map(|(n, r)| (n, outcome(r)));
        let theirs = ToTask::decode_known_with_rmp_serde(tag, body).map(|(n, r)| (n, outcome(r)));
        assert_eq!(
            ours,
            theirs,
            "ToTask {:?} {body:02x?}",
            String::from_utf8_lossy(tag)
        );
        let ours = ToSupervisor::decode_known(tag, body).map(|(n, r)| (n, outcome(r)));
        let theirs =
            ToSupervisor::decode_known_with_rmp_serde(tag, body).map(|(n, r)| (n, outcome(r)));
        assert_eq!(
            ours,
            theirs,
            "ToSupervisor {:?} {body:02x?}",
            String::from_utf8_lossy(tag)
        );
    }

    fn pack<T: serde::Serialize>(value: &T) -> Vec<u8> {
        rmp_serde::to_vec_named(value).unwrap()
    }

    #[test]
    fn golden_bodies_read_the_same_as_every_message_type() {
        let names: Vec<&str> = ToTask::TYPE_NAMES
            .iter()
            .chain(ToSupervisor::TYPE_NAMES)
            .copied()
            .collect();
        for (_, _, body) in golden::bodies() {
            for name in &names {
                same_message(name.as_bytes(), &body);
            }
        }
    }

    #[test]
    fn truncated_and_mutated_golden_bodies_fail_or_succeed_the_same() {
        // Markers of every kind, and lengths.
        const BYTES: [u8; 12] = [
            0x00, 0x7f, 0x81, 0x90, 0x91, 0xa3, 0xc0, 0xc1, 0xc3, 0xcb, 0xd7, 0xff,
        ];
        for (index, (file, _, body)) in golden::bodies().into_iter().enumerate() {
            let Some(tag) = crate::wire::find_type_tag(&body).unwrap() else {
                panic!("{file}: no type");
            };
            let tag = tag.to_vec();
            for len in 0..body.len() {
                same_message(&tag, &body[..len]);
            }
            // Every byte of a few bodies, every 7th byte (a different one each body) of the
            // rest, to keep the test quick unoptimised.
            let step = if index % 16 == 0 { 1 } else { 7 };
            let mut mutated = body.clone();
            for pos in (index % step..body.len()).step_by(step) {
                for byte in BYTES {
                    mutated[pos] = byte;
                    same_message(&tag, &mutated);
                }
                mutated[pos] = body[pos];
            }
        }
    }

    #[test]
    fn every_marker_reads_the_same_as_any_value() {
        let mut values: Vec<Vec<u8>> = Vec::new();
        for marker in 0..=255u8 {
            // Each marker followed by enough bytes for any fixed-width value, and by too few.
            for tail in [
                &[][..],
                &[0x01][..],
                &[0x00, 0x02, 0x61, 0x62, 0x63, 0x64][..],
            ] {
                let mut bytes = vec![marker];
                bytes.extend_from_slice(tail);
                bytes.extend(std::iter::repeat_n(0x05, 20));
                values.push(bytes.clone());
                bytes.truncate(1 + tail.len());
                values.push(bytes);
            }
        }
        // Text that is not UTF-8, as a value, as a key and as a variant name.
        values.push(vec![0xa2, 0xff, 0xfe]);
        values.push(vec![0x81, 0xa2, 0xff, 0xfe, 0x01]);
        values.push(vec![0x81, 0xa2, 0xc3, 0xa9, 0x01]);
        for bytes in &values {
            same::<JsonValue>(bytes);
            same::<Option<JsonValue>>(bytes);
            same::<String>(bytes);
            same::<Vec<u8>>(bytes);
            same::<(i8, Vec<u8>)>(bytes);
            same::<bool>(bytes);
            same::<u8>(bytes);
            same::<i64>(bytes);
            same::<u64>(bytes);
            same::<f32>(bytes);
            same::<f64>(bytes);
            same::<i128>(bytes);
            same::<u128>(bytes);
            same::<char>(bytes);
            same::<()>(bytes);
            same::<Unit>(bytes);
            same::<Newtype>(bytes);
            same::<Tuple>(bytes);
            same::<Fields>(bytes);
            same::<Variants>(bytes);
            same::<BTreeMap<String, u8>>(bytes);
            same::<crate::time::Timestamp>(bytes);
            same::<crate::uuid::Uuid>(bytes);
            same::<serde::de::IgnoredAny>(bytes);
        }
    }

    #[derive(Debug, Deserialize)]
    struct Unit;

    #[derive(Debug, Deserialize)]
    struct Newtype(#[allow(dead_code)] u16);

    #[derive(Debug, Deserialize)]
    struct Tuple(#[allow(dead_code)] u8, #[allow(dead_code)] Option<String>);

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    struct Fields {
        a: Option<u8>,
        #[serde(default)]
        b: Vec<Variants>,
    }

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    enum Variants {
        Unit,
        Newtype(u8),
        Tuple(u8, u8),
        Struct { x: u8 },
    }

    #[test]
    fn enums_structs_and_extensions_read_the_same() {
        use serde_json::json;
        let cases: Vec<Vec<u8>> = vec![
            pack(&json!("Unit")),
            pack(&json!({"Unit": null})),
            pack(&json!({"Unit": 1})),
            pack(&json!({"Newtype": 7})),
            pack(&json!({"Tuple": [1, 2]})),
            pack(&json!({"Tuple": [1, 2, 3]})),
            pack(&json!({"Struct": {"x": 1}})),
            pack(&json!({"Struct": [1]})),
            pack(&json!({"Nope": 1})),
            pack(&json!({"Unit": null, "Newtype": 1})),
            pack(&json!(3)),
            pack(&json!({"a": 1, "b": ["Unit", {"Newtype": 2}], "c": [[1, {"d": null}], "x"]})),
            pack(&json!({"a": 1, "a": 2})),
            pack(&json!([1, ["Unit"]])),
            pack(&json!([1, ["Unit"], 3])),
            pack(&json!([])),
            vec![0x82, 0xa1, b'a', 0x01, 0xa1, 0xff, 0x02],
            vec![0x81, 0x00, 0x05],
            vec![0x81, 0xc3, 0x05],
            vec![0xd6, 0xff, 0x67, 0x74, 0x85, 0x85],
            vec![0xd7, 0xff, 0x1d, 0x6f, 0x28, 0x00, 0x67, 0x74, 0x85, 0x85],
            vec![
                0xc7, 0x0c, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x67, 0x74, 0x85, 0x85,
            ],
            vec![0xc7, 0x0c, 0xff, 0, 0, 0],
            vec![0xd4, 0x05, 0x01],
            vec![0x92, 0xd4, 0x05, 0x01, 0xc0],
            vec![
                0xc4, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
            ],
            vec![0x90 | 15, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        ];
        for bytes in &cases {
            same::<Fields>(bytes);
            same::<Variants>(bytes);
            same::<Vec<Variants>>(bytes);
            same::<Tuple>(bytes);
            same::<JsonValue>(bytes);
            same::<crate::time::Timestamp>(bytes);
            same::<Option<crate::time::Timestamp>>(bytes);
            same::<crate::uuid::Uuid>(bytes);
            same::<i128>(bytes);
            same::<serde::de::IgnoredAny>(bytes);
        }
    }

    #[test]
    fn nesting_limits_are_the_same() {
        // Both deserializers recurse once per level; unoptimised, 1024 levels need more than
        // a test thread's stack.
        std::thread::Builder::new()
            .stack_size(512 << 20)
            .spawn(nesting_limits)
            .unwrap()
            .join()
            .unwrap();
    }

    fn nesting_limits() {
        for depth in [98, 99, 100, 101, 102, 199, 200, 201, 1022, 1023, 1024, 1025] {
            for (open, leaf) in [(0x91u8, 0xc0u8), (0x81, 0x01)] {
                let mut bytes = Vec::new();
                for _ in 0..depth {
                    bytes.push(open);
                    if open == 0x81 {
                        bytes.extend_from_slice(&[0xa1, b'k']);
                    }
                }
                bytes.push(leaf);
                same::<JsonValue>(&bytes);
                same::<serde::de::IgnoredAny>(&bytes);
                // As an ignored field of a struct, and inside a message body.
                let mut field = vec![0x82, 0xa1, b'a', 0x01, 0xa1, b'z'];
                field.extend_from_slice(&bytes);
                same::<Fields>(&field);
                let mut body = vec![0x83, 0xa4, b't', b'y', b'p', b'e', 0xa2, b'O', b'K'];
                body.extend_from_slice(&[0xa2, b'o', b'k', 0xc3, 0xa1, b'z']);
                body.extend_from_slice(&bytes);
                same_message(b"OKResponse", &body);
                same_message(b"XComResult", &body);
            }
        }
    }
}
