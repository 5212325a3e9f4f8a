//! `SpokeClient`: a connected channel, for a dapp.

use std::{cell::RefCell, collections::HashMap, rc::Rc, sync::Arc, time::Duration};

use js_sys::Function;
use serde::Serialize;
use spoke_protocol::{wire::PaymentStatus, Address, B256};
use tokio::sync::broadcast::error::RecvError;
use wasm_bindgen::{prelude::wasm_bindgen, JsValue};

use super::{
    convert::{
        address, amount, amounts_by_asset, b256, bad, bool_field, field, required_string, to_js,
        u64_field, JsResult, OrJs,
    },
    provider::JsProvider,
    storage::JsStorage,
    wallet,
};
use crate::{
    Client, ClientConfig, ClientEvent, ExitStep, KeyValue, KvStore, Snapshot, SpendingCaps,
};

const EVENT_TYPES: [&str; 7] = [
    "stateChange",
    "paymentReceived",
    "paymentStatus",
    "depositSent",
    "depositConfirming",
    "refused",
    "exit",
];

type Listeners = Rc<RefCell<HashMap<&'static str, Vec<Function>>>>;

/// A channel with a Spoke node, signed for by the page's wallet.
#[wasm_bindgen(js_name = SpokeClient)]
#[derive(Debug)]
pub struct JsClient {
    client: Client,
    listeners: Listeners,
    login_domain: String,
}

fn hex(value: impl std::fmt::LowerHex) -> String {
    format!("{value:#x}")
}

fn checksum(a: Address) -> String {
    a.to_checksum(None)
}

fn seconds(options: &JsValue, default: u64) -> JsResult<Duration> {
    Ok(Duration::from_secs(
        u64_field(options, "timeoutSeconds")?.unwrap_or(default),
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeInfo {
    chain_id: u64,
    channel_manager: String,
    node: String,
    tokens: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssetBalance {
    asset: String,
    user: String,
    node: String,
    locked: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChannelInfo {
    channel_id: String,
    nonce: u64,
    balances: Vec<AssetBalance>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    id: String,
    payer: String,
    payee: Option<String>,
    asset: String,
    amount: String,
    status: PaymentStatus,
    created_at: u64,
    updated_at: u64,
}

/// An event as the dapp's listener receives it.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum Event {
    StateChange {
        nonce: u64,
    },
    PaymentReceived {
        id: String,
        from: String,
        asset: String,
        amount: String,
    },
    PaymentStatus {
        id: String,
        status: PaymentStatus,
    },
    DepositSent {
        asset: String,
        amount: String,
        tx: String,
    },
    DepositConfirming {
        tx: String,
        confirmations: u64,
        needed: u64,
    },
    Refused {
        reason: String,
    },
    Exit(ExitInfo),
}

/// A step of a forced exit, for `on("exit", …)`.
#[derive(Serialize)]
#[serde(tag = "step", rename_all = "camelCase")]
enum ExitInfo {
    Frozen,
    #[serde(rename_all = "camelCase")]
    Disputed {
        nonce: u64,
        consensus_end: u64,
        tx: Option<String>,
    },
    Answered {
        nonce: u64,
        tx: String,
    },
    Revealed {
        count: usize,
        tx: String,
    },
    Waiting {
        until: u64,
    },
    #[serde(rename_all = "camelCase")]
    LockSettled {
        lock_id: String,
        tx: String,
    },
    Concluded {
        nonce: u64,
        tx: String,
    },
    Claimed {
        asset: String,
        amount: String,
        tx: String,
    },
    Withdrawn {
        asset: String,
        tx: String,
    },
}

impl From<ExitStep> for ExitInfo {
    fn from(step: ExitStep) -> ExitInfo {
        match step {
            ExitStep::Frozen => ExitInfo::Frozen,
            ExitStep::Disputed {
                nonce,
                consensus_end,
                tx,
            } => ExitInfo::Disputed {
                nonce,
                consensus_end,
                tx: tx.map(hex),
            },
            ExitStep::Answered { nonce, tx } => ExitInfo::Answered { nonce, tx: hex(tx) },
            ExitStep::Revealed { count, tx } => ExitInfo::Revealed { count, tx: hex(tx) },
            ExitStep::Waiting { until } => ExitInfo::Waiting { until },
            ExitStep::LockSettled { lock_id, tx } => ExitInfo::LockSettled {
                lock_id: hex(lock_id),
                tx: hex(tx),
            },
            ExitStep::Concluded { nonce, tx } => ExitInfo::Concluded { nonce, tx: hex(tx) },
            ExitStep::Claimed { asset, amount, tx } => ExitInfo::Claimed {
                asset: checksum(asset),
                amount: amount.to_string(),
                tx: hex(tx),
            },
            ExitStep::Withdrawn { asset, tx } => ExitInfo::Withdrawn {
                asset: checksum(asset),
                tx: hex(tx),
            },
        }
    }
}

impl From<ClientEvent> for Event {
    fn from(event: ClientEvent) -> Event {
        match event {
            ClientEvent::StateChanged { nonce } => Event::StateChange { nonce },
            ClientEvent::PaymentReceived {
                id,
                from,
                asset,
                amount,
            } => Event::PaymentReceived {
                id: hex(id),
                from: checksum(from),
                asset: checksum(asset),
                amount: amount.to_string(),
            },
            ClientEvent::PaymentStatus { id, status } => Event::PaymentStatus {
                id: hex(id),
                status,
            },
            ClientEvent::DepositSent { asset, amount, tx } => Event::DepositSent {
                asset: checksum(asset),
                amount: amount.to_string(),
                tx: hex(tx),
            },
            ClientEvent::DepositConfirming {
                tx,
                confirmations,
                needed,
            } => Event::DepositConfirming {
                tx: hex(tx),
                confirmations,
                needed,
            },
            ClientEvent::Refused { reason } => Event::Refused { reason },
            ClientEvent::Exit(step) => Event::Exit(step.into()),
        }
    }
}

impl Event {
    fn kind(&self) -> &'static str {
        match self {
            Event::StateChange { .. } => "stateChange",
            Event::PaymentReceived { .. } => "paymentReceived",
            Event::PaymentStatus { .. } => "paymentStatus",
            Event::DepositSent { .. } => "depositSent",
            Event::DepositConfirming { .. } => "depositConfirming",
            Event::Refused { .. } => "refused",
            Event::Exit(_) => "exit",
        }
    }
}

/// Hands the client's events to the dapp's listeners for as long as both live. A listener that throws does not
/// stop the others.
fn pump(client: &Client, listeners: &Listeners) {
    let mut events = client.events();
    let listeners = Rc::downgrade(listeners);
    wasm_bindgen_futures::spawn_local(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => Event::from(event),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            let Some(listeners) = listeners.upgrade() else {
                return;
            };
            let Ok(value) = to_js(&event) else { continue };
            let targets: Vec<Function> = listeners
                .borrow()
                .get(event.kind())
                .cloned()
                .unwrap_or_default();
            for listener in targets {
                if let Err(e) = listener.call1(&JsValue::NULL, &value) {
                    web_sys_console_error(&e);
                }
            }
        }
    });
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn web_sys_console_error(value: &JsValue);
}

impl JsClient {
    fn channel_info(view: crate::ChannelView) -> ChannelInfo {
        ChannelInfo {
            channel_id: hex(view.channel_id),
            nonce: view.nonce,
            balances: view
                .balances
                .into_iter()
                .map(|b| AssetBalance {
                    asset: checksum(b.asset),
                    user: b.user.to_string(),
                    node: b.node.to_string(),
                    locked: b.locked.to_string(),
                })
                .collect(),
        }
    }

    fn chain(&self) -> JsResult<&crate::EthChain> {
        self.client
            .chain()
            .ok_or_else(|| bad("this client has no chain: connect with ethUrl"))
    }
}

#[wasm_bindgen(js_class = SpokeClient)]
impl JsClient {
    /// Logs in to the node with the wallet's key, sets up the channel, restores it from storage (or from the node,
    /// once the user's own signature on the node's copy checks out) and listens for payments.
    #[wasm_bindgen(unchecked_return_type = "SpokeClient")]
    // The page has one thread; the store is shared with the client's own tasks only.
    #[allow(clippy::arc_with_non_send_sync)]
    pub async fn connect(
        #[wasm_bindgen(unchecked_param_type = "ConnectOptions")] options: JsValue,
    ) -> JsResult<JsClient> {
        let node_url = required_string(&options, "nodeUrl")?;
        let eth_url = required_string(&options, "ethUrl")?;
        let held =
            wallet::held(&field(&options, "wallet")?.ok_or_else(|| bad("wallet is required"))?)?;
        let kv: Arc<dyn KeyValue> = match field(&options, "storage")? {
            Some(storage) => Arc::new(JsStorage::new(Some(storage)).or_js()?),
            None => held.kv.clone(),
        };
        let mut config = ClientConfig::new(node_url.clone());
        config.eth_url = Some(eth_url);
        config.chain_id = u64_field(&options, "chainId")?;
        config.channel_manager = field(&options, "channelManager")?
            .map(|v| address(&v, "channelManager"))
            .transpose()?;
        config.node = field(&options, "nodeAddress")?
            .map(|v| address(&v, "nodeAddress"))
            .transpose()?;
        if let Some(seconds) = u64_field(&options, "payeeLockSeconds")? {
            config.payee_lock_seconds = seconds;
        }
        if let Some(autosign) = field(&options, "autosign")? {
            config.caps = SpendingCaps {
                per_payment: amounts_by_asset(&autosign, "perPayment")?,
                per_hour: amounts_by_asset(&autosign, "perHour")?,
            };
        }
        let store = Arc::new(KvStore::new(
            kv,
            KvStore::key_for(held.wallet.address(), &node_url),
        ));
        let client = Client::connect(config, held.wallet.secret(), store)
            .await
            .or_js()?;
        let listeners: Listeners = Rc::default();
        pump(&client, &listeners);
        let login_domain = client.node_config().login_domain.clone();
        Ok(JsClient {
            client,
            listeners,
            login_domain,
        })
    }

    /// The user's address (checksummed).
    #[wasm_bindgen(getter, unchecked_return_type = "Hex")]
    pub fn address(&self) -> String {
        checksum(self.client.address())
    }

    /// The node's chain, contract, key and tokens.
    #[wasm_bindgen(getter, js_name = nodeInfo, unchecked_return_type = "NodeInfo")]
    pub fn node_info(&self) -> JsResult<JsValue> {
        let config = self.client.node_config();
        to_js(&NodeInfo {
            chain_id: config.chain_id,
            channel_manager: checksum(config.channel_manager),
            node: checksum(config.node),
            tokens: config.tokens.iter().copied().map(checksum).collect(),
        })
    }

    /// Deposits `amount` of `asset` (the zero address is ETH; a token is approved first) from the wallet's
    /// account and waits until the node counts it (`depositSent` fires once the transaction is mined).
    #[wasm_bindgen(unchecked_return_type = "DepositResult")]
    pub async fn deposit(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Hex")] asset: JsValue,
        #[wasm_bindgen(js_name = amount, unchecked_param_type = "Amount")] amount_: JsValue,
        options: Option<super::convert::TimeoutOptionsJs>,
    ) -> JsResult<JsValue> {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let asset = address(&asset, "asset")?;
        let amount = amount(&amount_, "amount")?;
        let tx = self
            .client
            .deposit(asset, amount, seconds(&options, 120)?)
            .await
            .or_js()?;
        #[derive(Serialize)]
        struct Deposited {
            tx: String,
            channel: ChannelInfo,
        }
        to_js(&Deposited {
            tx: hex(tx),
            channel: Self::channel_info(self.client.channel().await),
        })
    }

    /// Pays `amount` of `asset` to `recipient` through the node. Resolves with the payment id once the payee has
    /// it (or, with `wait: false`, once it is under way).
    #[wasm_bindgen(unchecked_return_type = "Hex")]
    pub async fn pay(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Hex")] recipient: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Hex")] asset: JsValue,
        #[wasm_bindgen(js_name = amount, unchecked_param_type = "Amount")] amount_: JsValue,
        options: Option<super::convert::PayOptionsJs>,
    ) -> JsResult<String> {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let recipient = address(&recipient, "recipient")?;
        let asset = address(&asset, "asset")?;
        let amount = amount(&amount_, "amount")?;
        let wait = bool_field(&options, "wait")?.unwrap_or(true);
        let timeout = seconds(&options, 60)?;
        let id = self.client.pay(recipient, asset, amount).await.or_js()?;
        if wait {
            self.client.wait_payment(id, timeout).await.or_js()?;
        }
        Ok(hex(id))
    }

    /// Puts `amount` of `asset` into a link that whoever holds its secret can redeem.
    #[wasm_bindgen(js_name = createLink, unchecked_return_type = "Link")]
    pub async fn create_link(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Hex")] asset: JsValue,
        #[wasm_bindgen(js_name = amount, unchecked_param_type = "Amount")] amount_: JsValue,
    ) -> JsResult<JsValue> {
        let asset = address(&asset, "asset")?;
        let amount = amount(&amount_, "amount")?;
        let (secret, payment_id) = self.client.create_link(asset, amount).await.or_js()?;
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Link {
            secret: String,
            payment_id: String,
        }
        to_js(&Link {
            secret: hex(secret),
            payment_id: hex(payment_id),
        })
    }

    /// Redeems a link's secret into this channel; resolves once the amount is in the balance.
    #[wasm_bindgen(js_name = redeemLink, unchecked_return_type = "Redeemed")]
    pub async fn redeem_link(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Hex")] secret: JsValue,
        options: Option<super::convert::TimeoutOptionsJs>,
    ) -> JsResult<JsValue> {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let secret: B256 = b256(&secret, "secret")?;
        let answer = self
            .client
            .redeem_link(secret, seconds(&options, 60)?)
            .await
            .or_js()?;
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Redeemed {
            payment_id: String,
            asset: String,
            amount: String,
        }
        to_js(&Redeemed {
            payment_id: hex(answer.payment_id),
            asset: checksum(answer.asset),
            amount: answer.amount.to_string(),
        })
    }

    /// Sells `sellAmount` of `sellAsset` to the node for at least `minBuy` of `buyAsset` at its signed quote.
    /// Resolves with the amount bought.
    pub async fn exchange(
        &self,
        #[wasm_bindgen(js_name = sellAsset, unchecked_param_type = "Hex")] sell_asset: JsValue,
        #[wasm_bindgen(js_name = sellAmount, unchecked_param_type = "Amount")] sell_amount: JsValue,
        #[wasm_bindgen(js_name = buyAsset, unchecked_param_type = "Hex")] buy_asset: JsValue,
        #[wasm_bindgen(js_name = minBuy, unchecked_param_type = "Amount")] min_buy: JsValue,
    ) -> JsResult<String> {
        let bought = self
            .client
            .exchange(
                address(&sell_asset, "sellAsset")?,
                amount(&sell_amount, "sellAmount")?,
                address(&buy_asset, "buyAsset")?,
                amount(&min_buy, "minBuy")?,
            )
            .await
            .or_js()?;
        Ok(bought.to_string())
    }

    /// Takes `amount` of `asset` out of the channel to `recipient` (default: the user) and resolves once the
    /// transaction that pays it is mined.
    #[wasm_bindgen(unchecked_return_type = "WithdrawResult")]
    pub async fn withdraw(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Hex")] asset: JsValue,
        #[wasm_bindgen(js_name = amount, unchecked_param_type = "Amount")] amount_: JsValue,
        options: Option<super::convert::WithdrawOptionsJs>,
    ) -> JsResult<JsValue> {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let asset = address(&asset, "asset")?;
        let amount = amount(&amount_, "amount")?;
        let recipient = field(&options, "recipient")?
            .map(|v| address(&v, "recipient"))
            .transpose()?
            .unwrap_or(self.client.address());
        let node_submits = bool_field(&options, "nodeSubmits")?.unwrap_or(true);
        let chain = self.chain()?;
        let withdrawal = self
            .client
            .withdraw(asset, amount, recipient, node_submits)
            .await
            .or_js()?;
        let tx = match withdrawal.tx {
            Some(tx) => {
                chain.wait_receipt(tx).await.or_js()?;
                tx
            }
            None => chain
                .withdraw(&self.client.params().await, &withdrawal.commitment)
                .await
                .or_js()?,
        };
        #[derive(Serialize)]
        struct Withdrawn {
            tx: String,
            amount: String,
        }
        to_js(&Withdrawn {
            tx: hex(tx),
            amount: amount.to_string(),
        })
    }

    /// Asks the node to put collateral in this channel for `asset`, so payments to the user need not wait.
    /// Resolves with the node's balance in the channel (decimal base units).
    #[wasm_bindgen(js_name = requestCollateral)]
    pub async fn request_collateral(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Hex")] asset: JsValue,
    ) -> JsResult<String> {
        let asset = address(&asset, "asset")?;
        Ok(self
            .client
            .request_collateral(asset)
            .await
            .or_js()?
            .to_string())
    }

    /// Whether paying `amount` of `asset` to `recipient` now would wait for the node to collateralize.
    #[wasm_bindgen(js_name = recipientNeedsCollateral)]
    pub async fn recipient_needs_collateral(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Hex")] recipient: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Hex")] asset: JsValue,
        #[wasm_bindgen(js_name = amount, unchecked_param_type = "Amount")] amount_: JsValue,
    ) -> JsResult<bool> {
        self.client
            .recipient_needs_collateral(
                address(&recipient, "recipient")?,
                address(&asset, "asset")?,
                amount(&amount_, "amount")?,
            )
            .await
            .or_js()
    }

    /// The latest double-signed state's balances.
    #[wasm_bindgen(js_name = getChannel, unchecked_return_type = "ChannelInfo")]
    pub async fn get_channel(&self) -> JsResult<JsValue> {
        to_js(&Self::channel_info(self.client.channel().await))
    }

    /// The user's payments, newest first (at most `limit`, default 50, at most 500).
    #[wasm_bindgen(js_name = getHistory, unchecked_return_type = "PaymentRecord[]")]
    pub async fn get_history(&self, limit: Option<u32>) -> JsResult<JsValue> {
        let records = self
            .client
            .history(limit.unwrap_or(50).min(500))
            .await
            .or_js()?;
        let records: Vec<Record> = records
            .into_iter()
            .map(|r| Record {
                id: hex(r.id),
                payer: checksum(r.payer),
                payee: r.payee.map(checksum),
                asset: checksum(r.asset),
                amount: r.amount.to_string(),
                status: r.status,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
            .collect();
        to_js(&records)
    }

    /// A backup of the channel (JSON): the latest state with both signatures, commitments and preimages.
    #[wasm_bindgen(js_name = exportState)]
    pub async fn export_state(&self) -> JsResult<String> {
        serde_json::to_string(&self.client.export_snapshot().await)
            .map_err(|e| bad(&format!("cannot write the backup: {e}")))
    }

    /// Restores a backup from `exportState`: its state is adopted only if it is this channel's, newer, and signed
    /// by both sides. Resolves with the channel's nonce afterwards.
    #[wasm_bindgen(js_name = importState)]
    pub async fn import_state(&self, backup: String) -> JsResult<u32> {
        let snapshot: Snapshot = spoke_protocol::json::from_slice(backup.as_bytes())
            .map_err(|e| bad(&format!("the backup does not decode: {e}")))?;
        let nonce = self.client.import_snapshot(snapshot).await.or_js()?;
        u32::try_from(nonce).map_err(|_| bad("the nonce is beyond what a number holds"))
    }

    /// Exits the channel on chain without the node: disputes with the latest double-signed state (or the opening
    /// state), reveals the preimages it holds, waits out the challenge window, settles the locks, concludes,
    /// claims and executes unpaid withdrawals, announcing each step as an `exit` event. From the first call the
    /// client signs nothing more in this channel. Resolves once done, or with the locks that can only settle at
    /// their expiry (call again after it).
    #[wasm_bindgen(unchecked_return_type = "ExitReport")]
    pub async fn dispute(&self) -> JsResult<JsValue> {
        exit_report(self.client.exit().await.or_js()?)
    }

    /// Finishes the exit of this user's earlier channel with the node (of `epoch`), kept aside when the pair moved
    /// to a new channel: settles its remaining locks, claims, executes unpaid withdrawals.
    #[wasm_bindgen(js_name = disputeArchived, unchecked_return_type = "ExitReport")]
    pub async fn dispute_archived(&self, epoch: u32) -> JsResult<JsValue> {
        exit_report(self.client.exit_archived(u64::from(epoch)).await.or_js()?)
    }

    /// Calls `listener` with each event of `type` (typed per event in `types.d.ts`).
    #[wasm_bindgen(skip_typescript)]
    pub fn on(
        &self,
        #[wasm_bindgen(js_name = type, unchecked_param_type = "SpokeEventType")] kind: String,
        #[wasm_bindgen(unchecked_param_type = "(event: SpokeEvent) => void")] listener: Function,
    ) -> JsResult<()> {
        let kind = EVENT_TYPES
            .into_iter()
            .find(|k| *k == kind)
            .ok_or_else(|| {
                bad(&format!(
                    "unknown event {kind:?}; events: {}",
                    EVENT_TYPES.join(", ")
                ))
            })?;
        self.listeners
            .borrow_mut()
            .entry(kind)
            .or_default()
            .push(listener);
        Ok(())
    }

    /// Stops calling `listener`.
    #[wasm_bindgen(skip_typescript)]
    pub fn off(
        &self,
        #[wasm_bindgen(js_name = type, unchecked_param_type = "SpokeEventType")] kind: String,
        #[wasm_bindgen(unchecked_param_type = "(event: SpokeEvent) => void")] listener: Function,
    ) {
        if let Some(list) = self.listeners.borrow_mut().get_mut(kind.as_str()) {
            list.retain(|l| !JsValue::from(l.clone()).loose_eq(&listener));
        }
    }

    /// Stops listening to the node and watching the chain now (`free()` does too). Calls in progress finish.
    pub fn close(&self) {
        self.client.close();
    }

    /// An EIP-1193 provider backed by the wallet, for ethers.js and friends (`new BrowserProvider(provider)`).
    /// It never signs channel states (those go through the validator) nor SIWE logins for another site.
    pub fn provider(&self) -> JsResult<JsProvider> {
        let chain = self.chain()?.clone();
        Ok(JsProvider::new(
            chain,
            self.client.node_config().chain_id,
            self.login_domain.clone(),
        ))
    }

    /// The wallet's own on-chain balance of `asset` (ETH or a token), to show next to the channel's.
    #[wasm_bindgen(js_name = onChainBalance)]
    pub async fn on_chain_balance(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Hex")] asset: JsValue,
    ) -> JsResult<String> {
        let asset = address(&asset, "asset")?;
        let owner = self.client.address();
        Ok(self
            .chain()?
            .balance(owner, asset)
            .await
            .or_js()?
            .to_string())
    }
}

/// An exit's report as `ExitReport`.
fn exit_report(report: crate::ExitReport) -> JsResult<JsValue> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct WaitingLock {
        id: String,
        asset: String,
        amount: String,
        expiry: u64,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Report {
        final_nonce: Option<u64>,
        done: bool,
        waiting_locks: Vec<WaitingLock>,
    }
    to_js(&Report {
        final_nonce: report.final_nonce,
        done: report.is_done(),
        waiting_locks: report
            .waiting_locks
            .iter()
            .map(|l| WaitingLock {
                id: hex(l.id),
                asset: checksum(l.asset),
                amount: l.amount.to_string(),
                expiry: l.expiry,
            })
            .collect(),
    })
}
