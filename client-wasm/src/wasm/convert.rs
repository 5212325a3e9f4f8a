//! Values across the boundary: amounts, addresses and options read from JavaScript, results and errors written
//! back. Reading is strict: a value of the wrong type or out of range is an error that names the field.

use js_sys::{Object, Reflect};
use serde::Serialize;
use spoke_protocol::{Address, U256};
use wasm_bindgen::{JsCast, JsValue};

use crate::Error;

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    // Option objects by their TypeScript names (in types.d.ts), so an omitted one is `options?: T` in the
    // declarations; their fields are read one by one (see `field`).
    #[wasm_bindgen(typescript_type = "WalletOptions")]
    pub type WalletOptionsJs;
    #[wasm_bindgen(typescript_type = "ImportOptions")]
    pub type ImportOptionsJs;
    #[wasm_bindgen(typescript_type = "PayOptions")]
    pub type PayOptionsJs;
    #[wasm_bindgen(typescript_type = "WithdrawOptions")]
    pub type WithdrawOptionsJs;
    #[wasm_bindgen(typescript_type = "TimeoutOptions")]
    pub type TimeoutOptionsJs;
}

/// A rejected promise's value: an `Error` with the crate's stable `code`.
pub(crate) fn js_error(error: &Error) -> JsValue {
    coded_error(&error.to_string(), &JsValue::from_str(error.code()))
}

pub(crate) fn coded_error(message: &str, code: &JsValue) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("SpokeError");
    // Setting a property on a fresh Error cannot fail.
    let _ = Reflect::set(&error, &JsValue::from_str("code"), code);
    error.into()
}

pub(crate) type JsResult<T> = Result<T, JsValue>;

pub(crate) trait OrJs<T> {
    fn or_js(self) -> JsResult<T>;
}

impl<T> OrJs<T> for crate::Result<T> {
    fn or_js(self) -> JsResult<T> {
        self.map_err(|e| js_error(&e))
    }
}

pub(crate) fn bad(what: &str) -> JsValue {
    js_error(&Error::Config(what.to_string()))
}

/// An amount in base units: a bigint, a decimal integer string, or a safe integer number.
pub(crate) fn amount(value: &JsValue, what: &str) -> JsResult<U256> {
    let text = if let Some(big) = value.dyn_ref::<js_sys::BigInt>() {
        big.to_string(10)
            .map_err(|_| bad(&format!("{what}: not a base-10 bigint")))?
            .into()
    } else if let Some(text) = value.as_string() {
        text
    } else if let Some(number) = value.as_f64() {
        if number.fract() != 0.0 || !(0.0..=9_007_199_254_740_991.0).contains(&number) {
            // JavaScript spells the number: Rust's float formatting would add 14 KB to the .wasm for this message.
            let shown = js_sys::Number::from(number)
                .to_string_with_radix(10)
                .map(String::from)
                .unwrap_or_default();
            return Err(bad(&format!(
                "{what}: {shown} is not a whole number of base units a JavaScript number can hold exactly; pass a bigint or a decimal string"
            )));
        }
        // A whole number below 2^53: the integer prints it exactly (and without the float formatting code).
        (number as u64).to_string()
    } else {
        return Err(bad(&format!(
            "{what}: expected a bigint or a decimal string of base units"
        )));
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(&format!(
            "{what}: {text:?} is not a non-negative whole number of base units"
        )));
    }
    U256::from_str_radix(&text, 10)
        .map_err(|_| bad(&format!("{what}: {text} is more than 2^256 - 1")))
}

pub(crate) fn address(value: &JsValue, what: &str) -> JsResult<Address> {
    let text = value
        .as_string()
        .ok_or_else(|| bad(&format!("{what}: expected a 0x-prefixed address string")))?;
    // A mixed-case address must carry its EIP-55 checksum: a dapp passing on what a user typed gets a typo refused.
    spoke_protocol::parse_address(&text).map_err(|e| bad(&format!("{what}: {e}")))
}

pub(crate) fn b256(value: &JsValue, what: &str) -> JsResult<spoke_protocol::B256> {
    let text = value.as_string().ok_or_else(|| {
        bad(&format!(
            "{what}: expected a 0x-prefixed 32-byte hex string"
        ))
    })?;
    text.trim()
        .parse()
        .map_err(|_| bad(&format!("{what}: not a 0x-prefixed 32-byte hex string")))
}

/// A field of an options object; `undefined` and `null` are absent. A non-object where options are expected is
/// an error, not silently ignored.
pub(crate) fn field(options: &JsValue, name: &str) -> JsResult<Option<JsValue>> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(bad("options must be an object"));
    }
    let value = Reflect::get(options, &JsValue::from_str(name))
        .map_err(|_| bad(&format!("cannot read option {name}")))?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}

pub(crate) fn string_field(options: &JsValue, name: &str) -> JsResult<Option<String>> {
    field(options, name)?
        .map(|v| {
            v.as_string()
                .ok_or_else(|| bad(&format!("{name} must be a string")))
        })
        .transpose()
}

pub(crate) fn required_string(options: &JsValue, name: &str) -> JsResult<String> {
    string_field(options, name)?.ok_or_else(|| bad(&format!("{name} is required")))
}

pub(crate) fn u64_field(options: &JsValue, name: &str) -> JsResult<Option<u64>> {
    field(options, name)?
        .map(|v| match v.as_f64() {
            Some(n) if n.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&n) => {
                Ok(n as u64)
            }
            _ => Err(bad(&format!("{name} must be a non-negative whole number"))),
        })
        .transpose()
}

pub(crate) fn bool_field(options: &JsValue, name: &str) -> JsResult<Option<bool>> {
    field(options, name)?
        .map(|v| {
            v.as_bool()
                .ok_or_else(|| bad(&format!("{name} must be true or false")))
        })
        .transpose()
}

/// `{ [asset]: amount }` as a map.
pub(crate) fn amounts_by_asset(
    options: &JsValue,
    name: &str,
) -> JsResult<std::collections::HashMap<Address, U256>> {
    let mut out = std::collections::HashMap::new();
    if let Some(record) = field(options, name)? {
        let record: Object = record
            .dyn_into()
            .map_err(|_| bad(&format!("{name} must be an object of asset → amount")))?;
        for entry in Object::entries(&record).iter() {
            let pair: js_sys::Array = entry.unchecked_into();
            let asset = address(&pair.get(0), &format!("{name} key"))?;
            out.insert(asset, amount(&pair.get(1), &format!("{name}[{asset}]"))?);
        }
    }
    Ok(out)
}

/// A plain JavaScript object (not a `Map`) from a serializable value: its JSON, parsed by `JSON.parse`. One JSON
/// serializer for everything (the node's requests, the store, the results here) keeps one copy of each type's
/// serialization code in the .wasm instead of two.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> JsResult<JsValue> {
    serde_json::to_string(value)
        .ok()
        .and_then(|json| js_sys::JSON::parse(&json).ok())
        .ok_or_else(|| bad("cannot convert a result"))
}

/// A JavaScript value as JSON (`JSON.stringify`, then parsed): `None` when it has no JSON form (a `bigint`, a
/// cycle, a function).
pub(crate) fn from_js(value: &JsValue) -> Option<serde_json::Value> {
    let json = js_sys::JSON::stringify(value).ok()?.as_string()?;
    spoke_protocol::json::parse(json.as_bytes()).ok()
}
