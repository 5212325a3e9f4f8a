//! `localStorage`, or any object with `getItem`, `setItem` and `removeItem`, as the crate's [`KeyValue`].

use wasm_bindgen::{prelude::wasm_bindgen, JsCast, JsValue};

use crate::{Error, KeyValue, Result};

#[wasm_bindgen]
extern "C" {
    /// The Web Storage interface, or an object that quacks like it.
    #[wasm_bindgen(typescript_type = "KeyValueStorage")]
    pub type JsKeyValue;

    #[wasm_bindgen(method, catch, js_name = getItem)]
    fn get_item(this: &JsKeyValue, key: &str) -> std::result::Result<Option<String>, JsValue>;
    #[wasm_bindgen(method, catch, js_name = setItem)]
    fn set_item(this: &JsKeyValue, key: &str, value: &str) -> std::result::Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = removeItem)]
    fn remove_item(this: &JsKeyValue, key: &str) -> std::result::Result<(), JsValue>;
}

/// A Web Storage object (`localStorage` by default) as a [`KeyValue`] store, for Rust programs in the browser
/// (the card) as much as for the npm package.
pub struct JsStorage(JsKeyValue);

impl std::fmt::Debug for JsStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsStorage")
    }
}

fn failed(what: &str, e: JsValue) -> Error {
    let why = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| "it threw".into());
    Error::Store(format!("{what}: {why}"))
}

impl JsStorage {
    /// The page's `localStorage`.
    pub fn local() -> Result<JsStorage> {
        JsStorage::new(None)
    }

    /// `storage` when given, else the global `localStorage`.
    pub(crate) fn new(storage: Option<JsValue>) -> Result<JsStorage> {
        let storage = match storage {
            Some(s) => s,
            None => js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("localStorage"))
                .ok()
                .filter(|s| !s.is_undefined() && !s.is_null())
                .ok_or_else(|| {
                    Error::Config(
                        "there is no localStorage here: pass `storage` (an object with getItem, setItem and removeItem)"
                            .into(),
                    )
                })?,
        };
        for method in ["getItem", "setItem", "removeItem"] {
            let f = js_sys::Reflect::get(&storage, &JsValue::from_str(method))
                .unwrap_or(JsValue::UNDEFINED);
            if !f.is_function() {
                return Err(Error::Config(format!("storage has no {method} method")));
            }
        }
        Ok(JsStorage(storage.unchecked_into()))
    }
}

impl KeyValue for JsStorage {
    fn get(&self, key: &str) -> Result<Option<String>> {
        self.0
            .get_item(key)
            .map_err(|e| failed("reading storage", e))
    }

    fn set(&self, key: &str, value: &str) -> Result<()> {
        self.0
            .set_item(key, value)
            .map_err(|e| failed("writing storage (is it full?)", e))
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.0
            .remove_item(key)
            .map_err(|e| failed("removing from storage", e))
    }
}
