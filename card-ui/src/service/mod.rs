//! Between the pages and spoke-client: each intent a page sends (deposit, send, redeem, cash out…) runs here as
//! a [`Task`] whose every step is dispatched to the reducer, so the person always sees what the card is waiting
//! for. No protocol rule lives here: the client and its validator decide what is signed.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    sync::Arc,
    time::Duration,
};

use alloy_primitives::{Address, B256, U256};
use spoke_client::{Client, ClientConfig, ClientEvent, Error, ExitStep, KeyValue, KvStore, Wallet};
use yew::UseReducerDispatcher;

mod settings;

use crate::{
    activity::Kind,
    amount,
    state::{Action, Card, OnChain, Phase, Status, Task},
    web,
};

/// The name the card's wallet is kept under in `localStorage`.
const WALLET: &str = "spoke-card";
/// Where a node URL other than the page's own origin is kept.
const NODE_URL_KEY: &str = "spoke-card/node-url";
/// How long a deposit may wait for the node to see it confirmed.
const DEPOSIT_WAIT: Duration = Duration::from_secs(600);
/// How long a payment or a redeem may wait for collateral and the recipient.
const PAYMENT_WAIT: Duration = Duration::from_secs(180);
/// How long Send keeps trying while the node collateralizes the recipient's channel.
const COLLATERAL_WAIT: Duration = Duration::from_secs(120);

/// "0x1234…abcd"
pub fn short(address: &Address) -> String {
    let full = address.to_string();
    format!("{}…{}", &full[..6], &full[full.len() - 4..])
}

#[derive(Clone)]
struct Connected {
    client: Client,
    wallet: Wallet,
    dai: Address,
}

/// The card's link to its wallet, node and chain. One per page; pages reach it through the context.
pub struct Service {
    dispatch: UseReducerDispatcher<Card>,
    kv: Arc<dyn KeyValue>,
    node_url: String,
    connected: RefCell<Option<Connected>>,
    next_task: Cell<u32>,
    /// The deposit waiting for its `DepositSent` event, to show it mined.
    deposit_task: Cell<Option<u32>>,
    /// The force exit in progress, whose steps arrive as events.
    exit_task: Cell<Option<u32>>,
    polling: Cell<bool>,
}

/// A shared [`Service`], for Yew's context (which compares by identity).
#[derive(Clone)]
pub struct Handle(pub Rc<Service>);

impl PartialEq for Handle {
    fn eq(&self, other: &Handle) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl std::ops::Deref for Handle {
    type Target = Service;
    fn deref(&self) -> &Service {
        &self.0
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("node_url", &self.node_url)
            .finish_non_exhaustive()
    }
}

/// A failure as the person reads it: the client's message, or a plainer one for the common cases.
fn explain(e: &Error) -> String {
    match e.code() {
        "UNREACHABLE" => {
            "The node cannot be reached. Check your connection; nothing was sent.".into()
        }
        "TIMEOUT" => format!("{e}. Nothing is lost: the card picks it up when it reconnects."),
        // The chain's own words ("insufficient funds for gas * price + value") do not say what to do.
        "CHAIN" if e.to_string().to_ascii_lowercase().contains("insufficient funds") => {
            "Your address has too little ETH to pay for gas: send a little ETH to it (Deposit shows \
             the address) and try again. Nothing was sent."
                .into()
        }
        _ => e.to_string(),
    }
}

impl Service {
    pub fn open(dispatch: UseReducerDispatcher<Card>) -> Result<Handle, String> {
        let kv = web::storage()?;
        let node_url = kv
            .get(NODE_URL_KEY)
            .ok()
            .flatten()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(web::origin);
        Ok(Handle(Rc::new(Service {
            dispatch,
            kv,
            node_url,
            connected: RefCell::new(None),
            next_task: Cell::new(1),
            deposit_task: Cell::new(None),
            exit_task: Cell::new(None),
            polling: Cell::new(false),
        })))
    }

    pub fn node_url(&self) -> &str {
        &self.node_url
    }

    fn connected(&self) -> Option<Connected> {
        self.connected.borrow().clone()
    }

    fn begin(&self, title: String, step: &str) -> u32 {
        let id = self.next_task.get();
        self.next_task.set(id + 1);
        self.step(id, &title, Status::Working(step.into()), None);
        id
    }

    fn step(&self, id: u32, title: &str, status: Status, link: Option<String>) {
        self.dispatch.dispatch(Action::Task(Task {
            id,
            title: title.into(),
            status,
            link,
        }));
    }

    /// Opens the wallet (made on first use), logs in to the node and starts following the channel.
    pub fn start(handle: &Handle, password: Option<String>) {
        let service = handle.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(why) = service.connect(password).await {
                service.dispatch.dispatch(Action::Phase(why));
            }
        });
    }

    async fn connect(&self, password: Option<String>) -> Result<(), Phase> {
        let failed = |e: Error| Phase::Failed(explain(&e));
        let wallet = match Wallet::open(self.kv.as_ref(), WALLET, password.as_deref()) {
            Ok(Some(wallet)) => wallet,
            Ok(None) => Wallet::create(self.kv.as_ref(), WALLET).map_err(failed)?,
            Err(Error::Locked) => return Err(Phase::Locked { error: None }),
            Err(Error::WrongPassword) => {
                return Err(Phase::Locked {
                    error: Some("That password does not open this card.".into()),
                })
            }
            Err(e) => return Err(failed(e)),
        };
        self.open_channel(wallet).await
    }

    /// Logs `wallet` in to the node and opens its channel there (the current epoch's).
    // The page has one thread; the client's API takes its store as an `Arc` for the native build's sake.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    async fn open_channel(&self, wallet: Wallet) -> Result<(), Phase> {
        let failed = |e: Error| Phase::Failed(explain(&e));
        let encrypted = Wallet::is_encrypted(self.kv.as_ref(), WALLET)
            .ok()
            .flatten()
            .unwrap_or(false);
        self.dispatch
            .dispatch(Action::Phase(Phase::Starting(format!(
                "Logging in to {}",
                self.node_url
            ))));
        let store = Arc::new(KvStore::new(
            self.kv.clone(),
            KvStore::key_for(wallet.address(), &self.node_url),
        ));
        let config = ClientConfig {
            eth_url: Some(format!("{}/rpc", self.node_url)),
            ..ClientConfig::new(self.node_url.clone())
        };
        let client = Client::connect(config, wallet.secret(), store)
            .await
            .map_err(failed)?;
        let dai = client
            .node_config()
            .tokens
            .first()
            .copied()
            .ok_or_else(|| Phase::Failed("This node moves no token the card knows.".into()))?;
        // A development node describes its faucet; any other node has no such route.
        let dev = web::fetch("GET", &format!("{}/dev/faucet", self.node_url), None)
            .await
            .is_ok_and(|a| a.status == 200);
        *self.connected.borrow_mut() = Some(Connected {
            client: client.clone(),
            wallet: wallet.clone(),
            dai,
        });
        self.dispatch.dispatch(Action::Connected {
            address: wallet.address(),
            dai,
            dev,
            encrypted,
        });
        self.dispatch
            .dispatch(Action::ChainLog(crate::activity::load(
                self.kv.as_ref(),
                wallet.address(),
            )));
        Ok(())
    }

    /// Follows the client's events for as long as the page lives; and refreshes what the card shows.
    pub fn follow(handle: &Handle) {
        let service = handle.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let Some(connected) = service.connected() else {
                return;
            };
            service.refresh().await;
            let mut events = connected.client.events();
            loop {
                match events.recv().await {
                    Ok(event) => service.on_event(event, &connected).await,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        service.refresh().await
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        // The chain's balances change without an event (a transfer to the card's address): look now and then.
        // One such loop per page, however often the card reconnects.
        if handle.polling.replace(true) {
            return;
        }
        let service = handle.clone();
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                web::sleep(Duration::from_secs(5)).await;
                service.refresh_on_chain().await;
            }
        });
    }

    async fn on_event(&self, event: ClientEvent, connected: &Connected) {
        match event {
            ClientEvent::StateChanged { .. } => self.refresh().await,
            ClientEvent::PaymentReceived {
                from,
                asset,
                amount: received,
                ..
            } => {
                let unit = if asset == connected.dai { "Dai" } else { "ETH" };
                self.dispatch.dispatch(Action::Notice(Some(format!(
                    "Received {} {unit} from {}",
                    amount::format(received, 4),
                    short(&from)
                ))));
                self.refresh().await;
            }
            ClientEvent::DepositSent { tx, .. } => {
                if let Some(id) = self.deposit_task.get() {
                    self.step(
                        id,
                        "Deposit",
                        Status::Working(
                            "Mined. The node counts it once the chain confirms it…".into(),
                        ),
                        Some(tx.to_string()),
                    );
                }
            }
            ClientEvent::DepositConfirming {
                tx,
                confirmations,
                needed,
            } => {
                if let Some(id) = self.deposit_task.get() {
                    let step = if confirmations < needed {
                        format!("Mined; {confirmations} of {needed} confirmations…")
                    } else {
                        "Confirmed; the node is counting it…".to_string()
                    };
                    self.step(id, "Deposit", Status::Working(step), Some(tx.to_string()));
                }
            }
            ClientEvent::Exit(step) => {
                if let Some(id) = self.exit_task.get() {
                    self.step(id, "Force exit", Status::Working(exit_step(&step)), None);
                }
            }
            ClientEvent::Refused { reason } => {
                self.dispatch.dispatch(Action::Notice(Some(format!(
                    "The card refused to sign something the node asked: {reason}"
                ))));
            }
            ClientEvent::PaymentStatus { .. } => {}
        }
    }

    /// Reads the channel, the wallet's on-chain balances and the history again.
    pub async fn refresh(&self) {
        let Some(connected) = self.connected() else {
            return;
        };
        self.dispatch
            .dispatch(Action::Channel(connected.client.channel().await));
        if let Ok(history) = connected.client.history(50).await {
            self.dispatch.dispatch(Action::History(history));
        }
        self.refresh_on_chain().await;
    }

    async fn refresh_on_chain(&self) {
        let Some(connected) = self.connected() else {
            return;
        };
        let Some(chain) = connected.client.chain() else {
            return;
        };
        let me = connected.client.address();
        if let (Ok(eth), Ok(dai)) = (
            chain.balance(me, Address::ZERO).await,
            chain.balance(me, connected.dai).await,
        ) {
            self.dispatch
                .dispatch(Action::OnChain(OnChain { eth, dai }));
        }
    }

    /// Runs `work` as a task titled `title`, starting at `first` step; its result is the task's end.
    fn run<F>(handle: &Handle, title: String, first: &str, work: F)
    where
        F: FnOnce(
                Handle,
                Connected,
                u32,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<(String, Option<String>), String>>>,
            > + 'static,
    {
        let Some(connected) = handle.connected() else {
            return;
        };
        let id = handle.begin(title.clone(), first);
        let service = handle.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let end = work(service.clone(), connected, id).await;
            match end {
                Ok((done, link)) => service.step(id, &title, Status::Done(done), link),
                Err(why) => service.step(id, &title, Status::Failed(why), None),
            }
            service.refresh().await;
        });
    }
}

fn exit_step(step: &ExitStep) -> String {
    match step {
        ExitStep::Frozen => "The card signs nothing more in this channel.".into(),
        ExitStep::Disputed { consensus_end, .. } => {
            format!(
                "Disputed on chain; the challenge window closes at {} (by the chain's clock).",
                web::local_time(*consensus_end)
            )
        }
        ExitStep::Answered { nonce, .. } => {
            format!("An older state was answered with nonce {nonce}.")
        }
        ExitStep::Revealed { count, .. } => format!("{count} secret(s) published on chain."),
        ExitStep::Waiting { until } => {
            format!(
                "Waiting for the challenge window to close at {}…",
                web::local_time(*until)
            )
        }
        ExitStep::LockSettled { .. } => "A payment in flight was settled on chain.".into(),
        ExitStep::Concluded { nonce, .. } => format!("Concluded at nonce {nonce}."),
        ExitStep::Claimed { asset, amount, .. } => {
            let unit = if asset.is_zero() { "ETH" } else { "Dai" };
            format!("Paid out {} {unit} on chain.", amount::format(*amount, 4))
        }
        other => format!("{other:?}"),
    }
}

/// The operations the pages start.
impl Service {
    /// Moves `amount` Dai from the card's address on chain into its channel.
    pub fn deposit(handle: &Handle, amount: U256) {
        let title = format!("Deposit {} Dai", amount::format(amount, 4));
        Service::run(
            handle,
            title,
            "Sending the deposit to the chain…",
            move |service, c, id| {
                Box::pin(async move {
                    service.deposit_task.set(Some(id));
                    let done = c.client.deposit(c.dai, amount, DEPOSIT_WAIT).await;
                    service.deposit_task.set(None);
                    let tx = done.map_err(|e| explain(&e))?;
                    service.log_chain(&c, Kind::Deposit, amount, "from your address".into(), tx);
                    Ok(("In your card.".into(), None))
                })
            },
        );
    }

    /// Asks the development node's faucet for gas and test Dai.
    pub fn faucet(handle: &Handle) {
        Service::run(
            handle,
            "Test Dai from the faucet".into(),
            "Asking the faucet…",
            |service, c, _| {
                Box::pin(async move {
                    let body = format!("{{\"address\":\"{}\"}}", c.client.address());
                    let answer = web::fetch(
                        "POST",
                        &format!("{}/dev/faucet", service.node_url),
                        Some(&body),
                    )
                    .await?;
                    if answer.status != 200 {
                        return Err(node_message(&answer.body, answer.status));
                    }
                    Ok((
                        "Test ETH and Dai are at your address: deposit them into the card.".into(),
                        None,
                    ))
                })
            },
        );
    }

    /// Pays `amount` Dai to `to` through the node, waiting for collateral and for the recipient.
    pub fn send(handle: &Handle, to: Address, amount: U256) {
        let title = format!("Send {} Dai to {}", amount::format(amount, 4), short(&to));
        Service::run(
            handle,
            title.clone(),
            "Checking the recipient's channel…",
            move |service, c, id| {
                Box::pin(async move {
                    let working =
                        |step: &str| service.step(id, &title, Status::Working(step.into()), None);
                    let needs_collateral = c
                        .client
                        .recipient_needs_collateral(to, c.dai, amount)
                        .await
                        .map_err(|e| explain(&e))?;
                    if needs_collateral {
                        // The node deposits it when the payment comes, and holds the payment a few blocks
                        // for it; beyond that it answers INSUFFICIENT_COLLATERAL and the payment is tried again.
                        working("The recipient's channel needs collateral: the node deposits it first (a block or two)…");
                    } else {
                        working("Signing the payment…");
                    }
                    let deadline = web::now() + COLLATERAL_WAIT;
                    let payment = loop {
                        match c.client.pay(to, c.dai, amount).await {
                            Ok(payment) => break payment,
                            Err(e)
                                if e.code() == "INSUFFICIENT_COLLATERAL"
                                    && web::now() < deadline =>
                            {
                                working("The node is still adding collateral to the recipient's channel (it counts once their card is online); trying again in 5 s…");
                                web::sleep(Duration::from_secs(5)).await;
                            }
                            Err(e) if e.code() == "INSUFFICIENT_COLLATERAL" => {
                                return Err("The recipient's channel still has no collateral: their card has to be online for the node to add it. Nothing was paid; try again later.".into());
                            }
                            Err(e) => return Err(explain(&e)),
                        }
                    };
                    working("Sent; waiting for the recipient to take it…");
                    c.client
                        .wait_payment(payment, PAYMENT_WAIT)
                        .await
                        .map_err(|e| explain(&e))?;
                    Ok(("Paid.".into(), None))
                })
            },
        );
    }

    /// Locks `amount` Dai into a link anyone holding it can redeem.
    pub fn send_link(handle: &Handle, amount: U256) {
        let title = format!("Link for {} Dai", amount::format(amount, 4));
        Service::run(
            handle,
            title,
            "Signing the link…",
            move |service, c, _| {
                Box::pin(async move {
                    let (secret, _payment) = c
                        .client
                        .create_link(c.dai, amount)
                        .await
                        .map_err(|e| explain(&e))?;
                    let link = format!(
                        "{}{}",
                        service.node_url,
                        crate::route::Route::Redeem {
                            secret: secret.to_string()
                        }
                        .href()
                    );
                    Ok((
                        "Share this link: whoever opens it first gets the Dai.".into(),
                        Some(link),
                    ))
                })
            },
        );
    }

    /// Redeems the link with `secret` into this card; the task that shows how it ends.
    pub fn redeem(handle: &Handle, secret: &str) -> u32 {
        let parsed: Result<B256, _> = secret.trim().parse();
        let id = handle.begin("Redeem a link".into(), "Redeeming…");
        let Ok(secret) = parsed else {
            handle.step(
                id,
                "Redeem a link",
                Status::Failed(
                    "This link's secret is malformed: check that the whole link was copied.".into(),
                ),
                None,
            );
            return id;
        };
        let Some(c) = handle.connected() else {
            handle.step(
                id,
                "Redeem a link",
                Status::Failed("The card is not connected to its node.".into()),
                None,
            );
            return id;
        };
        let service = handle.clone();
        wasm_bindgen_futures::spawn_local(async move {
            service.step(
                id,
                "Redeem a link",
                Status::Working(
                    "Redeeming; if your channel needs collateral, the node deposits it first…"
                        .into(),
                ),
                None,
            );
            let status = match c.client.redeem_link(secret, PAYMENT_WAIT).await {
                Ok(done) => {
                    Status::Done(format!("Redeemed {} Dai.", amount::format(done.amount, 4)))
                }
                Err(e) if e.code() == "UNKNOWN_LINK" => {
                    Status::Failed("No link has this secret: it was mistyped or never made.".into())
                }
                Err(e) if e.code() == "LINK_REDEEMED" => {
                    Status::Failed("This link was already redeemed.".into())
                }
                Err(e) if e.code() == "LINK_EXPIRED" => {
                    Status::Failed("This link expired; its Dai goes back to its sender.".into())
                }
                Err(e) => Status::Failed(explain(&e)),
            };
            service.step(id, "Redeem a link", status, None);
            service.refresh().await;
        });
        id
    }

    /// Withdraws `amount` Dai to `to`; with `as_eth`, sells it to the node for ETH first at its quote.
    pub fn cash_out(handle: &Handle, to: Address, amount: U256, as_eth: bool) {
        let title = format!(
            "Cash out {} Dai to {}",
            amount::format(amount, 4),
            short(&to)
        );
        Service::run(
            handle,
            title.clone(),
            "Signing the withdrawal…",
            move |service, c, id| {
                Box::pin(async move {
                    let working =
                        |step: String| service.step(id, &title, Status::Working(step), None);
                    let (asset, out, unit) = if as_eth {
                        working("Asking the node for its rate…".into());
                        let quote = c
                            .client
                            .quote(c.dai, amount, Address::ZERO)
                            .await
                            .map_err(|e| explain(&e))?;
                        let buy = quote.quote.buy_amount;
                        working(format!("Selling for {} ETH…", amount::format(buy, 6)));
                        c.client
                            .execute_quote(quote, (c.dai, amount, Address::ZERO), buy)
                            .await
                            .map_err(|e| explain(&e))?;
                        (Address::ZERO, buy, "ETH")
                    } else {
                        (c.dai, amount, "Dai")
                    };
                    working("Signing the withdrawal…".into());
                    let withdrawal = c
                        .client
                        .withdraw(asset, out, to, true)
                        .await
                        .map_err(|e| explain(&e))?;
                    let chain = c.client.chain().ok_or("the card has no chain connection")?;
                    let tx = match withdrawal.tx {
                        Some(tx) => tx,
                        None => {
                            let params = c.client.params().await;
                            chain
                                .withdraw(&params, &withdrawal.commitment)
                                .await
                                .map_err(|e| explain(&e))?
                        }
                    };
                    service.step(
                        id,
                        &title,
                        Status::Working(
                            "On its way to the chain: waiting for it to be mined…".into(),
                        ),
                        Some(tx.to_string()),
                    );
                    let receipt = chain.wait_receipt(tx).await.map_err(|e| explain(&e))?;
                    if !receipt.status {
                        return Err("The withdrawal was mined but failed; its commitment is kept and can be sent again.".into());
                    }
                    let detail = if as_eth {
                        format!("as {} ETH to {}", amount::format(out, 6), short(&to))
                    } else {
                        format!("to {}", short(&to))
                    };
                    service.log_chain(&c, Kind::CashOut, amount, detail, tx);
                    Ok((
                        format!("{} {unit} sent to {}.", amount::format(out, 6), short(&to)),
                        Some(tx.to_string()),
                    ))
                })
            },
        );
    }

    /// Disputes the channel on chain without the node and pays out everything owed, step by step.
    pub fn force_exit(handle: &Handle) {
        Service::run(
            handle,
            "Force exit".into(),
            "Disputing the channel on chain…",
            |service, c, id| {
                Box::pin(async move {
                    service.exit_task.set(Some(id));
                    let report = c.client.exit().await;
                    service.exit_task.set(None);
                    let report = report.map_err(|e| explain(&e))?;
                    if report.is_done() {
                        service.step(
                            id,
                            "Force exit",
                            Status::Working("Paid out; opening a new, empty channel…".into()),
                            None,
                        );
                        Service::reopen(&service, &c).await?;
                        Ok((
                            "The channel is closed and everything owed was paid out.".into(),
                            None,
                        ))
                    } else {
                        Ok(("Paid out what was due now; payments in flight settle at their expiry: run the exit again then.".into(), None))
                    }
                })
            },
        );
    }
}

impl Service {
    /// After an exit concluded the channel, the user and the node are at the next epoch: a new channel, empty
    /// until a deposit. The card moves to it once the node has seen the conclusion (until then the node still
    /// answers with the concluded channel), so its balance is no longer the paid-out one.
    async fn reopen(handle: &Handle, old: &Connected) -> Result<(), String> {
        let concluded = old.client.channel().await.channel_id;
        old.client.close();
        for _ in 0..30 {
            handle
                .open_channel(old.wallet.clone())
                .await
                .map_err(|phase| match phase {
                    Phase::Failed(why) => why,
                    _ => "the card could not open its new channel".to_string(),
                })?;
            let Some(new) = handle.connected() else {
                return Err("the card could not open its new channel".into());
            };
            if new.client.channel().await.channel_id != concluded {
                Service::follow(handle);
                return Ok(());
            }
            new.client.close();
            web::sleep(Duration::from_secs(1)).await;
        }
        Err("The exit is done, but the node has not yet seen the channel concluded: reload the card later.".into())
    }
}

impl Service {
    /// Adds a deposit or cash out to the card's History.
    fn log_chain(&self, c: &Connected, kind: Kind, amount: U256, detail: String, tx: B256) {
        let entry = crate::activity::Entry {
            kind,
            amount,
            detail,
            tx,
            at: web::now().as_secs(),
        };
        let log = crate::activity::record(self.kv.as_ref(), c.wallet.address(), entry);
        self.dispatch.dispatch(Action::ChainLog(log));
    }
}

/// The node's error message from its JSON answer, or the status.
fn node_message(body: &str, status: u16) -> String {
    spoke_protocol::json::parse(body.as_bytes())
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
        .unwrap_or_else(|| format!("the node answered HTTP {status}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_without_gas_money_says_what_to_do() {
        let e = Error::Chain(
            "the dispute: eth_sendRawTransaction: Insufficient funds for gas * price + value"
                .into(),
        );
        assert!(explain(&e).starts_with("Your address has too little ETH"));
        let other = Error::Chain("the dispute: execution reverted".into());
        assert_eq!(explain(&other), other.to_string());
    }
}
