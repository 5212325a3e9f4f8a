//! `Eip1193Provider`: the wallet as an EIP-1193 provider (`request` and events), so that
//! `new ethers.BrowserProvider(client.provider())` works. Its answers come from [`crate::Eip1193`].

use std::{cell::RefCell, collections::HashMap, rc::Rc};

use js_sys::{Function, Reflect};
use wasm_bindgen::{prelude::wasm_bindgen, JsValue};

use super::convert::{bad, coded_error, field, required_string, JsResult};
use crate::{Eip1193, EthChain};

/// An EIP-1193 provider backed by the page's wallet.
#[wasm_bindgen(js_name = Eip1193Provider)]
#[derive(Debug)]
pub struct JsProvider {
    inner: Rc<Eip1193>,
    listeners: RefCell<HashMap<String, Vec<Function>>>,
}

impl JsProvider {
    pub(crate) fn new(chain: EthChain, chain_id: u64, login_domain: String) -> JsProvider {
        JsProvider {
            inner: Rc::new(Eip1193::new(chain, chain_id, login_domain)),
            listeners: RefCell::default(),
        }
    }
}

/// An EIP-1193 `ProviderRpcError`: an `Error` with a numeric `code` and, when the RPC gave one, `data`.
fn provider_error(error: crate::ProviderError) -> JsValue {
    let value = coded_error(&error.message, &JsValue::from_f64(error.code as f64));
    if let Some(data) = error.data.and_then(|d| super::convert::to_js(&d).ok()) {
        let _ = Reflect::set(&value, &JsValue::from_str("data"), &data);
    }
    value
}

#[wasm_bindgen(js_class = Eip1193Provider)]
impl JsProvider {
    /// Answers `{ method, params }` as EIP-1193 says: signs in the page what the wallet may sign, refuses
    /// `eth_sign` and ChannelManager typed data (code 4100/4200), forwards the rest to the chain's RPC.
    #[wasm_bindgen(unchecked_return_type = "unknown")]
    pub async fn request(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RequestArguments")] args: JsValue,
    ) -> JsResult<JsValue> {
        let method = required_string(&args, "method")?;
        let params = match field(&args, "params")? {
            None => serde_json::Value::Null,
            Some(params) => super::convert::from_js(&params).ok_or_else(|| {
                provider_error(crate::ProviderError::new(
                    crate::ProviderError::INVALID_PARAMS,
                    "params do not convert to JSON",
                ))
            })?,
        };
        let answer = self
            .inner
            .request(&method, params)
            .await
            .map_err(provider_error)?;
        super::convert::to_js(&answer)
    }

    /// Registers `listener` for `event`. This provider's account and chain never change, so the listeners are
    /// kept and never called.
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ProviderEvent")] event: String,
        #[wasm_bindgen(unchecked_param_type = "(...args: unknown[]) => void")] listener: Function,
    ) -> JsResult<()> {
        if ![
            "connect",
            "disconnect",
            "chainChanged",
            "accountsChanged",
            "message",
        ]
        .contains(&event.as_str())
        {
            return Err(bad(&format!("unknown provider event {event:?}")));
        }
        self.listeners
            .borrow_mut()
            .entry(event)
            .or_default()
            .push(listener);
        Ok(())
    }

    #[wasm_bindgen(js_name = removeListener)]
    pub fn remove_listener(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ProviderEvent")] event: String,
        #[wasm_bindgen(unchecked_param_type = "(...args: unknown[]) => void")] listener: Function,
    ) {
        if let Some(list) = self.listeners.borrow_mut().get_mut(&event) {
            list.retain(|l| !JsValue::from(l.clone()).loose_eq(&listener));
        }
    }
}
