//! Reading the wire's JSON without serde's derived deserializers, for the browser's .wasm.
//!
//! serde's derive is the specification of every message: the node reads and writes with it, and the client writes
//! with it. A derived `Deserialize` compiles, per type, a visitor for objects and another for arrays, field
//! identifiers and serde's error machinery (float formatting included); over `serde_json::Value` that came to
//! about 80 KB of the client's .wasm. [`FromJson`] reads the same JSON from a parsed `Value` with a few lines per
//! type. [`conformance`] holds each impl to its derive (in `tests/json.rs` and beside the client's own types): same
//! values out, and the same inputs refused, field by field.
//!
//! The rules are serde's: a missing `Option` field is `None`, as is `null`; other missing fields are errors; types
//! with `deny_unknown_fields` refuse keys they do not know, the others ignore them.

use alloy_primitives::{hex, Address, Bytes, FixedBytes, Signature, U256};
pub use serde_json::{Map, Value};

/// What is wrong with a JSON value, and where: `proposal.update.lock.expiry: expected an unsigned integer`.
///
/// Boxed, so that every reader's `Result` stays small: errors are rare, results are moved on every field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}", if self.0.path.is_empty() { String::new() } else { format!("{}: ", self.0.path) }, self.0.message)]
pub struct JsonError(Box<Where>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Where {
    path: String,
    message: String,
}

impl JsonError {
    #[cold]
    pub fn new(message: impl Into<String>) -> JsonError {
        JsonError(Box::new(Where {
            path: String::new(),
            message: message.into(),
        }))
    }

    /// The same error one level further out: `name` is the field or index it was found under.
    #[cold]
    #[inline(never)]
    pub fn at(mut self, name: &str) -> JsonError {
        let inner = &mut *self.0;
        inner.path = if inner.path.is_empty() {
            name.to_string()
        } else if inner.path.starts_with('[') {
            format!("{name}{}", inner.path)
        } else {
            format!("{name}.{}", inner.path)
        };
        self
    }

    /// The field path, empty for the top level.
    pub fn path(&self) -> &str {
        &self.0.path
    }
}

/// A type read from a parsed JSON value.
pub trait FromJson: Sized {
    fn from_json(value: &Value) -> Result<Self, JsonError>;

    /// The value of an absent field, if the type has one: `None` for an `Option`, as in serde.
    fn absent() -> Option<Self> {
        None
    }
}

/// `T` from JSON text. The text is parsed once into a `Value` ([`parse`]), then read.
pub fn from_slice<T: FromJson>(bytes: &[u8]) -> Result<T, JsonError> {
    T::from_json(&parse(bytes)?)
}

/// JSON text as a `Value`. serde_json compiles its parser once per kind of input (`from_slice`, `from_str`,
/// `from_reader`): in a .wasm, every text goes through this one.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    serde_json::from_slice(bytes).map_err(|e| JsonError::new(format!("not JSON: {e}")))
}

#[cold]
#[inline(never)]
fn expected(what: &str) -> JsonError {
    JsonError::new(format!("expected {what}"))
}

#[cold]
#[inline(never)]
fn missing(name: &str) -> JsonError {
    JsonError::new(format!("missing field `{name}`"))
}

/// The fields of one JSON object.
#[derive(Debug)]
pub struct Object<'a>(&'a Map<String, Value>);

impl<'a> Object<'a> {
    pub fn new(value: &'a Value) -> Result<Object<'a>, JsonError> {
        value
            .as_object()
            .map(Object)
            .ok_or_else(|| expected("an object"))
    }

    /// Like [`Object::new`], refusing any key not in `known` (serde's `deny_unknown_fields`).
    pub fn strict(value: &'a Value, known: &[&str]) -> Result<Object<'a>, JsonError> {
        let object = Object::new(value)?;
        object.only(known)?;
        Ok(object)
    }

    /// Refuses any key not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), JsonError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => Err(JsonError::new(format!("unknown field `{key}`"))),
            None => Ok(()),
        }
    }

    pub fn field<T: FromJson>(&self, name: &str) -> Result<T, JsonError> {
        match self.0.get(name) {
            Some(value) => T::from_json(value).map_err(|e| e.at(name)),
            None => T::absent().ok_or_else(|| missing(name)),
        }
    }

    /// A field that, when absent, is `T`'s default (serde's `#[serde(default)]`).
    pub fn field_or_default<T: FromJson + Default>(&self, name: &str) -> Result<T, JsonError> {
        match self.0.get(name) {
            Some(value) => T::from_json(value).map_err(|e| e.at(name)),
            None => Ok(T::default()),
        }
    }
}

/// `FromJson` for a struct whose fields are read by name, in the order given: `deny_unknown_fields` structs with
/// `strict`, the others with `lenient`. Names are the wire's (camelCase).
#[macro_export]
macro_rules! json_struct {
    ($ty:ty, strict { $($field:ident: $name:literal),* $(,)? }) => {
        impl $crate::json::FromJson for $ty {
            fn from_json(value: &$crate::json::Value) -> Result<Self, $crate::json::JsonError> {
                let o = $crate::json::Object::strict(value, &[$($name),*])?;
                Ok(Self { $($field: o.field($name)?,)* })
            }
        }
    };
    ($ty:ty, lenient { $($field:ident: $name:literal),* $(,)? }) => {
        impl $crate::json::FromJson for $ty {
            fn from_json(value: &$crate::json::Value) -> Result<Self, $crate::json::JsonError> {
                let o = $crate::json::Object::new(value)?;
                Ok(Self { $($field: o.field($name)?,)* })
            }
        }
    };
}

/// `FromJson` for a fieldless enum spelled as strings.
#[macro_export]
macro_rules! json_enum {
    ($ty:ty { $($variant:ident: $name:literal),* $(,)? }) => {
        impl $crate::json::FromJson for $ty {
            fn from_json(value: &$crate::json::Value) -> Result<Self, $crate::json::JsonError> {
                match value.as_str() {
                    $(Some($name) => Ok(<$ty>::$variant),)*
                    Some(other) => Err($crate::json::JsonError::new(format!(
                        "unknown variant `{other}`, expected one of {:?}", [$($name),*]
                    ))),
                    None => Err($crate::json::JsonError::new("expected a string")),
                }
            }
        }
    };
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        if value.is_null() {
            Ok(None)
        } else {
            T::from_json(value).map(Some)
        }
    }

    fn absent() -> Option<Self> {
        Some(None)
    }
}

impl<T: FromJson> FromJson for Box<T> {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        T::from_json(value).map(Box::new)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        let items = value.as_array().ok_or_else(|| expected("an array"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| T::from_json(item).map_err(|e| e.at(&format!("[{i}]"))))
            .collect()
    }
}

impl<A: FromJson, B: FromJson> FromJson for (A, B) {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        match value.as_array().map(Vec::as_slice) {
            Some([a, b]) => Ok((
                A::from_json(a).map_err(|e| e.at("[0]"))?,
                B::from_json(b).map_err(|e| e.at("[1]"))?,
            )),
            _ => Err(expected("an array of two")),
        }
    }
}

impl FromJson for Value {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        Ok(value.clone())
    }
}

impl FromJson for bool {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        value.as_bool().ok_or_else(|| expected("a boolean"))
    }
}

impl FromJson for String {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| expected("a string"))
    }
}

impl FromJson for u64 {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        value
            .as_u64()
            .ok_or_else(|| expected("an unsigned integer"))
    }
}

impl FromJson for i64 {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        value.as_i64().ok_or_else(|| expected("an integer"))
    }
}

impl FromJson for u32 {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        u64::from_json(value)?
            .try_into()
            .map_err(|_| expected("an integer below 2^32"))
    }
}

impl FromJson for usize {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        u64::from_json(value)?
            .try_into()
            .map_err(|_| expected("a smaller integer"))
    }
}

/// As ruint's serde: an unsigned JSON integer, or a string in decimal or with a `0x`, `0o` or `0b` prefix.
impl FromJson for U256 {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        if let Some(n) = value.as_u64() {
            return Ok(U256::from(n));
        }
        value
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| expected("a 256-bit unsigned integer or its string"))
    }
}

/// An array of byte values, which alloy's serde takes for bytes as well as hex.
fn byte_array(value: &Value) -> Option<Result<Vec<u8>, JsonError>> {
    let items = value.as_array()?;
    Some(
        items
            .iter()
            .map(|item| {
                item.as_u64()
                    .and_then(|b| u8::try_from(b).ok())
                    .ok_or_else(|| expected("a byte"))
            })
            .collect(),
    )
}

/// As alloy's serde: hex of exactly `N` bytes (`0x` optional), or an array of `N` byte values.
impl<const N: usize> FromJson for FixedBytes<N> {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        if let Some(bytes) = byte_array(value) {
            return FixedBytes::try_from(bytes?.as_slice())
                .map_err(|_| expected(&format!("{N} bytes")));
        }
        let text = value.as_str().ok_or_else(|| expected("a hex string"))?;
        <FixedBytes<N> as hex::FromHex>::from_hex(text)
            .map_err(|e| JsonError::new(format!("{e} in a {N}-byte hex string")))
    }
}

impl FromJson for Address {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        FixedBytes::<20>::from_json(value).map(Address::from)
    }
}

impl FromJson for Bytes {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        if let Some(bytes) = byte_array(value) {
            return bytes.map(Bytes::from);
        }
        let text = value.as_str().ok_or_else(|| expected("a hex string"))?;
        hex::decode(text)
            .map(Bytes::from)
            .map_err(|e| JsonError::new(format!("{e} in a hex string")))
    }
}

/// The wire's signature: `0x` and 65 bytes, `v` 27 or 28 ([`crate::signature_hex`]).
impl FromJson for Signature {
    fn from_json(value: &Value) -> Result<Self, JsonError> {
        let text = value.as_str().ok_or_else(|| expected("a hex string"))?;
        crate::signing::signature_hex::parse(text).map_err(JsonError::new)
    }
}

/// Holds a [`FromJson`] impl to the serde derive it shadows: for tests, here and in the crates that read their
/// own types with [`FromJson`].
pub mod conformance {
    use std::fmt::Debug;

    use serde::{de::DeserializeOwned, Serialize};
    use serde_json::{json, Value};

    use super::FromJson;

    /// Values of every JSON kind, for a field: one of them is always wrong, some may be right.
    fn junk() -> Vec<Value> {
        vec![
            Value::Null,
            json!(true),
            json!(0),
            json!(7),
            json!(-1),
            json!(1.5),
            json!(u64::MAX),
            json!(""),
            json!("x"),
            json!("0x"),
            json!("12"),
            json!(format!("0x{}", "ab".repeat(20))),
            json!(format!("0x{}", "ab".repeat(32))),
            json!("user"),
            json!("completed"),
            json!([]),
            json!([1]),
            json!({}),
        ]
    }

    /// Every variation of `value` one edit away, at every depth.
    fn variations(value: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        match value {
            Value::Object(map) => {
                let mut extra = map.clone();
                extra.insert("unknownField".into(), json!(1));
                out.push(Value::Object(extra));
                for (key, field) in map {
                    let mut removed = map.clone();
                    removed.remove(key);
                    out.push(Value::Object(removed));
                    for replacement in junk().into_iter().chain(variations(field)) {
                        let mut changed = map.clone();
                        changed.insert(key.clone(), replacement);
                        out.push(Value::Object(changed));
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let mut removed = items.clone();
                    removed.remove(i);
                    out.push(Value::Array(removed));
                    for replacement in junk().into_iter().chain(variations(item)) {
                        let mut changed = items.clone();
                        changed[i] = replacement;
                        out.push(Value::Array(changed));
                    }
                }
                let mut longer = items.clone();
                longer.extend(items.first().cloned());
                out.push(Value::Array(longer));
            }
            _ => {}
        }
        out
    }

    pub fn same_reading<T: FromJson + DeserializeOwned + PartialEq + Debug>(value: &Value) {
        match (T::deserialize(value), T::from_json(value)) {
            (Ok(theirs), Ok(ours)) => assert_eq!(theirs, ours, "read differently: {value}"),
            (Err(_), Err(_)) => {}
            (Ok(theirs), Err(e)) => {
                panic!("serde reads {theirs:?} where FromJson refuses ({e}): {value}")
            }
            (Err(e), Ok(ours)) => {
                panic!("FromJson reads {ours:?} where serde refuses ({e}): {value}")
            }
        }
    }

    /// Checks `sample` and every variation of its JSON; returns how many variations it checked.
    pub fn agrees<T: FromJson + DeserializeOwned + Serialize + PartialEq + Debug>(
        sample: &T,
    ) -> usize {
        let value = serde_json::to_value(sample).expect("serializes");
        assert_eq!(&T::from_json(&value).expect("reads its own JSON"), sample);
        let all = variations(&value);
        for variation in &all {
            same_reading::<T>(variation);
        }
        all.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_path() {
        let value: Value = serde_json::from_str(r#"{"a": [{"b": 1}, {"b": "x"}]}"#).expect("json");
        #[derive(Debug)]
        struct Inner {
            #[allow(dead_code)]
            b: u64,
        }
        json_struct!(Inner, strict { b: "b" });
        #[derive(Debug)]
        struct Outer {
            #[allow(dead_code)]
            a: Vec<Inner>,
        }
        json_struct!(Outer, strict { a: "a" });
        let e = Outer::from_json(&value).expect_err("refused");
        assert_eq!(e.path(), "a[1].b");
        assert_eq!(e.to_string(), "a[1].b: expected an unsigned integer");
        assert_eq!(
            Outer::from_json(&serde_json::json!({"a": [], "c": 1}))
                .expect_err("refused")
                .to_string(),
            "unknown field `c`"
        );
        assert_eq!(
            Outer::from_json(&serde_json::json!({}))
                .expect_err("refused")
                .to_string(),
            "missing field `a`"
        );
    }

    #[test]
    fn reads_what_the_node_writes() {
        assert_eq!(
            U256::from_json(&Value::from("0x10")).expect("hex"),
            U256::from(16)
        );
        assert_eq!(
            U256::from_json(&Value::from("16")).expect("decimal"),
            U256::from(16)
        );
        assert_eq!(
            U256::from_json(&Value::from(16)).expect("number"),
            U256::from(16)
        );
        assert!(U256::from_json(&Value::from(-1)).is_err());
        assert!(U256::from_json(&Value::from(1.5)).is_err());
        assert!(Address::from_json(&Value::from("0x12")).is_err());
        assert_eq!(
            Option::<u64>::from_json(&Value::Null).expect("null"),
            None::<u64>
        );
        assert_eq!(
            <(u64, bool)>::from_json(&serde_json::json!([1, true])).expect("pair"),
            (1, true)
        );
        assert!(<(u64, bool)>::from_json(&serde_json::json!([1])).is_err());
    }
}
