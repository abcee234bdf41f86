//! Compact JSON with every object's keys sorted, written straight from `Serialize`: the bytes
//! `serde_json::to_vec(&serde_json::to_value(x)?)` gives (a `Value` keeps objects in a
//! `BTreeMap`), without building and dropping the `Value` tree — for the audit chain's canonical
//! encoding, which hashes every record and must never change. The tests hold it byte for byte
//! against the `Value` route.
//!
//! Everything is written in place as it comes. An object whose keys came in any order but sorted
//! is rewritten when it ends, sorted by key bytes, a later duplicate key replacing an earlier one
//! as `BTreeMap::insert` does.
//! Scalars go through `serde_json` itself, so numbers and string escapes are its own.

use std::borrow::Cow;
use std::ops::Range;

use serde::Serialize;
use serde::ser;
use serde_json::Error;

/// `x` as compact JSON with sorted keys; an error wherever `serde_json::to_value` has one.
pub fn to_vec<T: Serialize + ?Sized>(x: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(256);
    x.serialize(Ser { out: &mut out })?;
    Ok(out)
}

fn scalar<T: Serialize + ?Sized>(out: &mut Vec<u8>, x: &T) -> Result<(), Error> {
    serde_json::to_writer(out, x)
}

fn out_of_range() -> Error {
    ser::Error::custom("number out of range")
}

struct Ser<'a> {
    out: &'a mut Vec<u8>,
}

/// An object being written: each entry goes out in place as it comes, key and value, and is noted
/// with its key. Fields that come in key order (most structs' do) are then already as they must
/// be; an object whose keys came in any other order is rewritten, sorted, when it ends.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    /// Where the object's entries start in `out` (after its opening brace).
    start: usize,
    /// Each entry's key and where its value lies, counted from `start`.
    entries: Vec<(Cow<'static, str>, Range<usize>)>,
    /// Whether each key so far came after the one before it (then no key repeats, either).
    in_order: bool,
    /// The key of the map entry whose value comes next.
    key: Option<String>,
    /// Whether the object is an enum variant's, written as `{"variant": …}`.
    variant: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>, variant: Option<&'static str>, len: usize) -> Result<Self, Error> {
        if let Some(v) = variant {
            out.push(b'{');
            scalar(out, v)?;
            out.push(b':');
        }
        out.push(b'{');
        let start = out.len();
        let entries = Vec::with_capacity(len);
        Ok(Self { out, start, entries, in_order: true, key: None, variant: variant.is_some() })
    }

    fn entry<T: Serialize + ?Sized>(&mut self, key: Cow<'static, str>, value: &T) -> Result<(), Error> {
        if let Some((last, _)) = self.entries.last() {
            self.in_order &= key > *last;
            self.out.push(b',');
        }
        scalar(self.out, key.as_ref())?;
        self.out.push(b':');
        let from = self.out.len() - self.start;
        value.serialize(Ser { out: &mut *self.out })?;
        self.entries.push((key, from..self.out.len() - self.start));
        Ok(())
    }

    fn finish(mut self) -> Result<(), Error> {
        if !self.in_order {
            // Stable: among equal keys the last one written stays last, and is the one kept.
            self.entries.sort_by(|a, b| a.0.cmp(&b.0));
            let written = self.out.split_off(self.start);
            let out = &mut *self.out;
            let mut first = true;
            for (i, (key, value)) in self.entries.iter().enumerate() {
                if self.entries.get(i + 1).is_some_and(|next| next.0 == *key) {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                scalar(out, key.as_ref())?;
                out.push(b':');
                out.extend_from_slice(&written[value.clone()]);
            }
        }
        self.out.push(b'}');
        if self.variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// An array being written in place.
struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    /// For tuple variants written as `{"variant": […]}`.
    variant: bool,
}

impl<'a> Array<'a> {
    fn open(out: &'a mut Vec<u8>, variant: Option<&'static str>) -> Result<Self, Error> {
        if let Some(v) = variant {
            out.push(b'{');
            scalar(out, v)?;
            out.push(b':');
        }
        out.push(b'[');
        Ok(Self { out, first: true, variant: variant.is_some() })
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(Ser { out: self.out })
    }

    fn close(self) -> Result<(), Error> {
        self.out.push(b']');
        if self.variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// A map key as `serde_json::to_value` makes it: a string, or what its key serialiser turns into
/// one (numbers, booleans, characters, unit variants, newtypes of those).
fn key_string<T: Serialize + ?Sized>(key: &T) -> Result<String, Error> {
    match serde_json::to_value(key)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        _ => Err(ser::Error::custom("key must be a string")),
    }
}

impl<'a> ser::Serializer for Ser<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        // As a `Value`: a number only if it fits 64 bits.
        match (u64::try_from(v), i64::try_from(v)) {
            (Ok(u), _) => scalar(self.out, &u),
            (_, Ok(i)) => scalar(self.out, &i),
            _ => Err(out_of_range()),
        }
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        scalar(self.out, &u64::try_from(v).map_err(|_| out_of_range())?)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        // A `Value` holds an `f32` widened to `f64` (and a non-finite one as `null`).
        scalar(self.out, &f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        scalar(self.out, &v)
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        scalar(self.out, v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // A `Value` holds bytes as an array of numbers.
        let mut a = Array::open(self.out, None)?;
        for b in v {
            a.element(b)?;
        }
        a.close()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        scalar(self.out, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        scalar(self.out, variant)?;
        self.out.push(b':');
        value.serialize(Ser { out: self.out })?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>, Error> {
        Array::open(self.out, None)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Array<'a>, Error> {
        Array::open(self.out, None)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Array<'a>, Error> {
        Array::open(self.out, None)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'a>, Error> {
        Array::open(self.out, Some(variant))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Object<'a>, Error> {
        Object::open(self.out, None, len.unwrap_or(0))
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Object<'a>, Error> {
        Object::open(self.out, None, len)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Object<'a>, Error> {
        Object::open(self.out, Some(variant), len)
    }
}

/// The array-like parts of serde's data model all write elements in place.
macro_rules! array_like {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Array<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )*};
}
array_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(key_string(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().ok_or_else(|| ser::Error::custom("map value without a key"))?;
        self.entry(Cow::Owned(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// Structs and struct variants gather their fields like a map's entries.
macro_rules! struct_like {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Object<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
                self.entry(Cow::Borrowed(key), value)
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}
struct_like!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::Value;

    use super::to_vec;

    /// The reference: what the audit chain hashed before this module existed.
    fn via_value<T: Serialize>(x: &T) -> Option<Vec<u8>> {
        serde_json::to_value(x).ok().map(|v| serde_json::to_vec(&v).unwrap())
    }

    fn same<T: Serialize>(x: &T) {
        assert!(via_value(x).is_some(), "the reference must encode it");
        assert_eq!(
            to_vec(x).ok().map(|b| String::from_utf8(b).unwrap()),
            via_value(x).map(|b| String::from_utf8(b).unwrap())
        );
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Newtype(u32);

    #[derive(Serialize)]
    struct Pair(i8, &'static str);

    #[derive(Serialize)]
    enum Plain {
        Unit,
        Newtype(Vec<u8>),
        Tuple(u8, Option<bool>),
        Struct { zebra: u8, apple: &'static str },
    }

    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Tagged {
        Nothing,
        Some { zulu: Option<String>, alpha: f32, mid: char },
        Wrapped(Inner),
    }

    #[derive(Serialize)]
    #[serde(tag = "t", content = "c")]
    enum Adjacent {
        A(u64),
        B { y: i64, x: i64 },
    }

    #[derive(Serialize)]
    struct Inner {
        z: u128,
        a: i128,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        bytes: serde_bytes_like::Bytes,
    }

    /// `serialize_bytes` without a dependency: a slice serialised as bytes.
    mod serde_bytes_like {
        pub struct Bytes(pub Vec<u8>);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
    }

    #[derive(Serialize)]
    struct Flattened {
        b: u8,
        #[serde(flatten)]
        rest: BTreeMap<String, u8>,
    }

    #[derive(Serialize)]
    struct Everything {
        unit: Unit,
        newtype: Newtype,
        pair: Pair,
        plain: Vec<Plain>,
        tagged: Vec<Tagged>,
        adjacent: Vec<Adjacent>,
        int_keys: BTreeMap<i32, &'static str>,
        hash: HashMap<String, Vec<f64>>,
        floats: (f32, f64, f64, f64),
        strings: Vec<&'static str>,
        flattened: Flattened,
        nothing: (),
    }

    #[test]
    fn every_shape_of_the_data_model_matches_the_value_route() {
        let mut hash = HashMap::new();
        hash.insert("é\u{1F600}".into(), vec![1.5, -0.0, 1e300]);
        hash.insert("\"quoted\"\n".into(), vec![]);
        hash.insert("a".into(), vec![0.1]);
        let mut rest = BTreeMap::new();
        rest.insert("a".into(), 1);
        rest.insert("b".into(), 2); // the same key as the field: the later one wins
        let x = Everything {
            unit: Unit,
            newtype: Newtype(7),
            pair: Pair(-3, "x"),
            plain: vec![
                Plain::Unit,
                Plain::Newtype(vec![1, 2]),
                Plain::Tuple(9, None),
                Plain::Struct { zebra: 1, apple: "a" },
            ],
            tagged: vec![
                Tagged::Nothing,
                Tagged::Some { zulu: Some("z".into()), alpha: 0.1, mid: 'ß' },
                Tagged::Wrapped(Inner {
                    z: u128::from(u64::MAX),
                    a: -5,
                    skipped: None,
                    bytes: serde_bytes_like::Bytes(vec![0, 255]),
                }),
            ],
            adjacent: vec![Adjacent::A(1), Adjacent::B { y: -1, x: 2 }],
            int_keys: [(10, "ten"), (-2, "minus two"), (3, "three")].into_iter().collect(),
            hash,
            floats: (0.1, f64::NAN, f64::INFINITY, 123.456),
            strings: vec!["", "\u{0}\u{1f}\\/", "<script>"],
            flattened: Flattened { b: 9, rest },
            nothing: (),
        };
        same(&x);
    }

    #[test]
    fn what_the_value_route_refuses_is_refused() {
        assert!(to_vec(&u128::MAX).is_err() && via_value(&u128::MAX).is_none());
        assert!(to_vec(&i128::MIN).is_err() && via_value(&i128::MIN).is_none());
        let mut m = BTreeMap::new();
        m.insert(vec![1u8], 1);
        assert!(to_vec(&m).is_err() && via_value(&m).is_none(), "keys must be strings");
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_json_document_matches_the_value_route(v in any_value()) {
            prop_assert_eq!(to_vec(&v).unwrap(), serde_json::to_vec(&v).unwrap());
        }
    }
}
