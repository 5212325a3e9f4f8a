//! `SpokeWallet`: the in-page wallet. The phrase is made from the browser's CSPRNG on first use and kept in
//! storage, encrypted once the user sets a password.

use std::{cell::RefCell, collections::HashMap, rc::Rc, sync::Arc};

use wasm_bindgen::{prelude::wasm_bindgen, JsValue};

use super::{
    convert::{bool_field, field, string_field, JsResult, OrJs},
    storage::JsStorage,
};
use crate::{KeyValue, Wallet};

/// A wallet and where it is kept.
#[derive(Debug)]
pub(crate) struct Held {
    pub wallet: Wallet,
    pub kv: Arc<dyn KeyValue>,
}

thread_local! {
    /// Wallets by handle: `SpokeClient.connect({ wallet })` receives the JavaScript object and finds the Rust wallet
    /// behind it here, so the key never passes through JavaScript.
    static WALLETS: RefCell<HashMap<u32, Rc<Held>>> = RefCell::new(HashMap::new());
    static NEXT: RefCell<u32> = const { RefCell::new(1) };
}

/// The wallet behind a `SpokeWallet` object.
pub(crate) fn held(wallet: &JsValue) -> JsResult<Rc<Held>> {
    let handle = js_sys::Reflect::get(wallet, &JsValue::from_str("handle"))
        .ok()
        .and_then(|h| h.as_f64())
        .ok_or_else(|| super::convert::bad("wallet must be a SpokeWallet"))?;
    WALLETS
        .with(|w| w.borrow().get(&(handle as u32)).cloned())
        .ok_or_else(|| super::convert::bad("this SpokeWallet was freed or forgotten"))
}

/// The page's wallet: a BIP-39 phrase and the key at m/44'/60'/0'/0/0.
#[wasm_bindgen(js_name = SpokeWallet)]
#[derive(Debug)]
pub struct JsWallet {
    handle: u32,
    held: Rc<Held>,
    name: String,
}

fn storage_of(options: &JsValue) -> JsResult<(Arc<dyn KeyValue>, String)> {
    let kv: Arc<dyn KeyValue> = Arc::new(JsStorage::new(field(options, "storage")?).or_js()?);
    let name = string_field(options, "name")?.unwrap_or_else(|| "default".into());
    Ok((kv, name))
}

impl JsWallet {
    fn keep(wallet: Wallet, kv: Arc<dyn KeyValue>, name: String) -> JsWallet {
        let handle = NEXT.with(|n| {
            let mut n = n.borrow_mut();
            *n = n.wrapping_add(1).max(1);
            *n
        });
        let held = Rc::new(Held { wallet, kv });
        WALLETS.with(|w| w.borrow_mut().insert(handle, held.clone()));
        JsWallet { handle, held, name }
    }
}

impl Drop for JsWallet {
    fn drop(&mut self) {
        WALLETS.with(|w| w.borrow_mut().remove(&self.handle));
    }
}

#[wasm_bindgen(js_class = SpokeWallet)]
impl JsWallet {
    /// Opens the wallet kept in storage, making a new one on first use (encrypted at once when `password` is
    /// given). Fails with `LOCKED` when the stored wallet is encrypted and no password was given, and
    /// `WRONG_PASSWORD` when the password does not open it.
    #[wasm_bindgen(unchecked_return_type = "SpokeWallet")]
    pub async fn open(options: Option<super::convert::WalletOptionsJs>) -> JsResult<JsWallet> {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let (kv, name) = storage_of(&options)?;
        let password = string_field(&options, "password")?;
        let wallet = match Wallet::open(kv.as_ref(), &name, password.as_deref()).or_js()? {
            Some(wallet) => wallet,
            None => {
                Wallet::create_with_password(kv.as_ref(), &name, password.as_deref()).or_js()?
            }
        };
        Ok(JsWallet::keep(wallet, kv, name))
    }

    /// Restores a wallet from its phrase (twelve or more BIP-39 words). Refused over an existing wallet unless
    /// `replace` is set.
    #[wasm_bindgen(js_name = import, unchecked_return_type = "SpokeWallet")]
    pub async fn import_phrase(
        phrase: String,
        options: Option<super::convert::ImportOptionsJs>,
    ) -> JsResult<JsWallet> {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let (kv, name) = storage_of(&options)?;
        let password = string_field(&options, "password")?;
        let replace = bool_field(&options, "replace")?.unwrap_or(false);
        let wallet =
            Wallet::import(kv.as_ref(), &name, &phrase, password.as_deref(), replace).or_js()?;
        Ok(JsWallet::keep(wallet, kv, name))
    }

    /// Whether a wallet is stored, without opening it.
    pub fn exists(options: Option<super::convert::WalletOptionsJs>) -> JsResult<bool> {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let (kv, name) = storage_of(&options)?;
        Ok(Wallet::stored_address(kv.as_ref(), &name)
            .or_js()?
            .is_some())
    }

    /// Whether the stored wallet's phrase is encrypted (a password is needed to open it).
    #[wasm_bindgen(js_name = isEncrypted)]
    pub fn is_encrypted(options: Option<super::convert::WalletOptionsJs>) -> JsResult<bool> {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let (kv, name) = storage_of(&options)?;
        Ok(Wallet::is_encrypted(kv.as_ref(), &name)
            .or_js()?
            .unwrap_or(false))
    }

    /// The stored wallet's address, readable while it is locked.
    #[wasm_bindgen(js_name = storedAddress, unchecked_return_type = "Hex | undefined")]
    pub fn stored_address(options: Option<super::convert::WalletOptionsJs>) -> JsResult<JsValue> {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let (kv, name) = storage_of(&options)?;
        Ok(Wallet::stored_address(kv.as_ref(), &name)
            .or_js()?
            .map(|a| JsValue::from_str(&a.to_checksum(None)))
            .unwrap_or(JsValue::UNDEFINED))
    }

    /// The wallet's address (checksummed).
    #[wasm_bindgen(getter, unchecked_return_type = "Hex")]
    pub fn address(&self) -> String {
        self.held.wallet.address().to_checksum(None)
    }

    /// The name the wallet is kept under.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Identifies this wallet to `SpokeClient.connect`; not a secret.
    #[wasm_bindgen(getter)]
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// Encrypts the phrase at rest with `password` (or re-encrypts it with a new one): afterwards storage holds
    /// no phrase or key in the clear.
    #[wasm_bindgen(js_name = setPassword)]
    pub async fn set_password(&self, password: String) -> JsResult<()> {
        self.held
            .wallet
            .set_password(self.held.kv.as_ref(), &password)
            .or_js()
    }

    /// The backup phrase, only with the password when one is set (`WRONG_PASSWORD` otherwise).
    #[wasm_bindgen(js_name = exportPhrase)]
    pub async fn export_phrase(&self, password: Option<String>) -> JsResult<String> {
        if Wallet::is_encrypted(self.held.kv.as_ref(), &self.name)
            .or_js()?
            .unwrap_or(false)
        {
            let password =
                password.ok_or_else(|| super::convert::js_error(&crate::Error::Locked))?;
            self.held
                .wallet
                .check_password(self.held.kv.as_ref(), &password)
                .or_js()?;
        }
        Ok(self.held.wallet.phrase().to_string())
    }

    /// Removes the wallet from storage ("burn card"). Its channel stays stored until the app removes it.
    pub fn forget(&self) -> JsResult<()> {
        WALLETS.with(|w| w.borrow_mut().remove(&self.handle));
        Wallet::forget(self.held.kv.as_ref(), &self.name).or_js()
    }
}
