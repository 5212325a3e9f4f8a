//! A lower bound for the size of Spoke's browser builds.
//!
//! Each export below calls one thing a browser client cannot do without, through the crates spoke-client uses
//! for it, so that the linker keeps the code. There is no flow around the calls: no login round trip, no payment,
//! no retries, no error reporting beyond a string. Whatever the real .wasm weighs beyond this build is the
//! client's own work. The numbers are in the README (`./scripts/size-floor` measures them again).

use std::sync::Arc;

use aes_gcm::{aead::Aead, Aes256Gcm, KeyInit};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{hex, keccak256, Address, TxKind, B256, U256};
use alloy_sol_types::{sol, SolCall};
use spoke_protocol::{
    accept_proposal, decrypt_preimage, encrypt_preimage, json, propose, verify_login,
    ChannelParams, ChannelState, Context, PreimageContext, Proposal, Side, Signature, Signer,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

sol! {
    function deposit(address asset, uint256 amount) external payable;
    function ledger(bytes32 channelId, address asset) external view returns (uint256 deposited, uint256 withdrawn, uint64 nonce, bool open);
}

fn fail(error: impl std::fmt::Display) -> JsError {
    JsError::new(&error.to_string())
}

/// The validator both ways: take the node's proposal, then propose the same update as the user, signed.
#[wasm_bindgen(js_name = channelStep)]
pub fn channel_step(
    params: &str,
    state: &str,
    proposal: &str,
    secret: &[u8],
    now: u64,
) -> Result<String, JsError> {
    let params: ChannelParams = json::from_slice(params.as_bytes()).map_err(fail)?;
    let state: ChannelState = json::from_slice(state.as_bytes()).map_err(fail)?;
    let proposal: Proposal = json::from_slice(proposal.as_bytes()).map_err(fail)?;
    let from_node = Context {
        now,
        proposer: Side::Node,
        params: &params,
        proposer_key: None,
    };
    let accepted = accept_proposal(&state, &proposal, &from_node).map_err(fail)?;
    let signer = Signer::from_bytes(&B256::try_from(secret).map_err(fail)?).map_err(fail)?;
    let countersigned = signer.sign_digest(&accepted.digest).map_err(fail)?;
    let from_user = Context {
        now,
        proposer: Side::User,
        params: &params,
        proposer_key: None,
    };
    let (next, ours) =
        propose(&accepted.state, proposal.update, &from_user, &signer).map_err(fail)?;
    serde_json::to_string(&(next, ours, countersigned)).map_err(fail)
}

/// The node's login as the node checks it, and a link payment's preimage sealed to a key and opened again.
#[wasm_bindgen]
pub fn login(text: &str, signature: &str, secret: &[u8], now: u64) -> Result<String, JsError> {
    let signature: Signature = signature.parse().map_err(fail)?;
    let login = verify_login(text, &signature, "localhost", 1, now).map_err(fail)?;
    let secret = B256::try_from(secret).map_err(fail)?;
    let signer = Signer::from_bytes(&secret).map_err(fail)?;
    let context = PreimageContext {
        hashlock: keccak256(text),
        asset: login.address,
        amount: U256::from(now),
        expiry: now,
    };
    let sealed = encrypt_preimage(
        &signer.public_key().to_compressed(),
        B256::ZERO,
        &context,
        &secret,
    )
    .map_err(fail)?;
    let opened = decrypt_preimage(&secret, &sealed, &context).map_err(fail)?;
    serde_json::to_string(&(login.address, sealed, opened)).map_err(fail)
}

/// The wallet at rest: the password's key (PBKDF2-SHA256) seals the phrase with AES-GCM; the phrase's seed is
/// PBKDF2-HMAC-SHA512, as BIP-39 has it.
#[wasm_bindgen]
pub fn seal(password: &[u8], salt: &[u8], phrase: &[u8]) -> Result<Vec<u8>, JsError> {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, 600_000, &mut key);
    let mut seed = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(phrase, b"mnemonic", 2048, &mut seed);
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(fail)?;
    let mut nonce = [0u8; 12];
    getrandom::getrandom(&mut nonce).map_err(fail)?;
    let mut sealed = cipher.encrypt((&nonce).into(), phrase).map_err(fail)?;
    let opened = cipher
        .decrypt((&nonce).into(), sealed.as_slice())
        .map_err(fail)?;
    sealed.extend(opened);
    sealed.extend(seed);
    Ok(sealed)
}

/// The chain without alloy's provider: a call encoded and its answer decoded, a transaction signed and encoded.
#[wasm_bindgen]
pub fn chain(request: &str, secret: &[u8]) -> Result<String, JsError> {
    let request: serde_json::Value = serde_json::from_str(request).map_err(fail)?;
    let amount: U256 = request["amount"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(fail)?;
    let asset: Address = request["asset"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(fail)?;
    let answer = hex::decode(request["answer"].as_str().unwrap_or_default()).map_err(fail)?;
    let ledger = ledgerCall::abi_decode_returns(&answer).map_err(fail)?;
    let tx = TxEip1559 {
        chain_id: 1,
        to: TxKind::Call(asset),
        value: amount,
        input: depositCall { asset, amount }.abi_encode().into(),
        ..Default::default()
    };
    let signer = Signer::from_bytes(&B256::try_from(secret).map_err(fail)?).map_err(fail)?;
    let signature = signer.sign_digest(&tx.signature_hash()).map_err(fail)?;
    let envelope: TxEnvelope = tx.into_signed(signature).into();
    Ok(serde_json::json!({ "deposited": ledger.deposited.to_string(), "raw": hex::encode_prefixed(envelope.encoded_2718()) })
        .to_string())
}

/// The transports: fetch, a WebSocket feeding a channel, localStorage, a timer and the client's one mutex.
#[wasm_bindgen]
pub struct Connection {
    socket: web_sys::WebSocket,
    pushed: Arc<tokio::sync::Mutex<Vec<String>>>,
}

#[wasm_bindgen]
impl Connection {
    #[wasm_bindgen(constructor)]
    pub fn new(url: &str) -> Result<Connection, JsValue> {
        let socket = web_sys::WebSocket::new(url)?;
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<String>();
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                if let Some(text) = event.data().as_string() {
                    let _ = sender.send(text);
                }
            },
        );
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        let pushed = Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let into = pushed.clone();
        wasm_bindgen_futures::spawn_local(async move {
            while let Some(text) = receiver.recv().await {
                into.lock().await.push(text);
            }
        });
        Ok(Connection { socket, pushed })
    }

    pub async fn post(&self, url: String, body: String) -> Result<String, JsValue> {
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&JsValue::from_str(&body));
        let request = web_sys::Request::new_with_str_and_init(&url, &init)?;
        request.headers().set("content-type", "application/json")?;
        let window = web_sys::window().ok_or("no window")?;
        let response: web_sys::Response =
            wasm_bindgen_futures::JsFuture::from(window.fetch_with_request(&request))
                .await?
                .dyn_into()?;
        let text = wasm_bindgen_futures::JsFuture::from(response.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        gloo_timers::future::TimeoutFuture::new(10).await;
        let storage = window.local_storage()?.ok_or("no localStorage")?;
        storage.set_item("spoke", &text)?;
        self.socket.send_with_str(&text)?;
        self.pushed.lock().await.push(text.clone());
        Ok(text)
    }
}

#[cfg(feature = "card")]
mod card {
    use std::rc::Rc;

    use yew::prelude::*;

    #[derive(Default, PartialEq)]
    struct State {
        page: u8,
        amount: String,
        activity: Vec<String>,
    }

    enum Action {
        Open(u8),
        Amount(String),
        Sent(String),
    }

    impl Reducible for State {
        type Action = Action;
        fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
            let mut next = State {
                page: self.page,
                amount: self.amount.clone(),
                activity: self.activity.clone(),
            };
            match action {
                Action::Open(page) => next.page = page,
                Action::Amount(amount) => next.amount = amount,
                Action::Sent(line) => next.activity.push(line),
            }
            Rc::new(next)
        }
    }

    #[function_component(App)]
    fn app() -> Html {
        let state = use_reducer(State::default);
        let open = |page: u8| {
            let state = state.clone();
            Callback::from(move |_: MouseEvent| state.dispatch(Action::Open(page)))
        };
        let oninput = {
            let state = state.clone();
            Callback::from(move |event: InputEvent| {
                let input: web_sys::HtmlInputElement = event.target_unchecked_into();
                state.dispatch(Action::Amount(input.value()))
            })
        };
        let send = {
            let state = state.clone();
            Callback::from(move |_: MouseEvent| {
                let state = state.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    gloo_timers::future::TimeoutFuture::new(10).await;
                    state.dispatch(Action::Sent(format!("sent {}", state.amount)))
                })
            })
        };
        html! {
            <main>
                <nav><button onclick={open(0)}>{ "Home" }</button><button onclick={open(1)}>{ "Send" }</button></nav>
                if state.page == 0 {
                    <h1>{ format!("{} DAI", state.amount) }</h1>
                } else {
                    <section><input value={state.amount.clone()} {oninput} /><button onclick={send}>{ "Send" }</button></section>
                }
                <ul>{ for state.activity.iter().map(|line| html! { <li key={line.clone()}>{ line }</li> }) }</ul>
            </main>
        }
    }

    #[wasm_bindgen::prelude::wasm_bindgen(start)]
    pub fn start() {
        yew::Renderer::<App>::new().render();
    }
}
