//! `TxSender` against a real anvil chain: node-side deposits, preimage reveals, concurrent sends, refused
//! transactions that leave the nonce usable, and co-signed withdrawals.

use std::{sync::Arc, time::Duration};

use alloy::{
    consensus::Transaction as _,
    network::TransactionBuilder,
    node_bindings::{Anvil, AnvilInstance},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use spoke_contracts::{
    bindings::{ChannelManager, DevDai},
    deploy, http_provider, Deployment,
};
use spoke_node::{tx::TxSender, Error};
use spoke_protocol::{
    apply, commitment_digest, sha256, Address, ChannelParams, ChannelState, Context, Side,
    SignedCommitment, Signer, Timing, Update, B256, U256,
};

const WAIT: Duration = Duration::from_secs(30);

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

/// A chain with the contracts, a sender on anvil's account 0 (the node) and a reader. Anvil stops on drop.
struct World {
    anvil: AnvilInstance,
    deployment: Deployment,
    tx: Arc<TxSender>,
    reader: DynProvider,
}

impl World {
    async fn new() -> World {
        let anvil = Anvil::at(spoke_contracts::anvil_binary()).spawn();
        // Another account deploys, so the node's nonce starts at zero and is all the sender's.
        let reader = http_provider(
            anvil.endpoint().as_str(),
            PrivateKeySigner::from(anvil.keys()[9].clone()),
        )
        .expect("provider");
        let deployment = deploy(&reader, 3600).await.expect("deploy");
        let tx = TxSender::new(
            anvil.endpoint().as_str(),
            secret(&anvil, 0),
            anvil.chain_id(),
            deployment.channel_manager,
        )
        .expect("sender");
        World {
            anvil,
            deployment,
            tx: Arc::new(tx),
            reader,
        }
    }

    fn user(&self) -> Address {
        self.anvil.addresses()[1]
    }

    fn manager(&self) -> ChannelManager::ChannelManagerInstance<DynProvider> {
        ChannelManager::new(self.deployment.channel_manager, self.reader.clone())
    }

    async fn ledger(&self, asset: Address) -> ChannelManager::Ledger {
        let m = self.manager();
        let id = m
            .channelId(self.user(), self.tx.address(), 0)
            .call()
            .await
            .expect("channel id");
        m.ledger(id, asset).call().await.expect("ledger")
    }

    async fn mint_to_node(&self, amount: U256) {
        let call = DevDai::mintCall {
            to: self.tx.address(),
            amount,
        };
        let hash = self
            .tx
            .send(
                TransactionRequest::default()
                    .with_to(self.deployment.dai)
                    .with_input(call.abi_encode()),
                "mint",
            )
            .await
            .expect("mint sent");
        self.tx.wait(hash, 1, WAIT).await.expect("mint mined");
    }

    async fn nonce_of(&self, hash: B256) -> u64 {
        self.reader
            .get_transaction_by_hash(hash)
            .await
            .expect("transaction")
            .expect("known")
            .nonce()
    }

    async fn chain_nonce(&self) -> u64 {
        self.reader
            .get_transaction_count(self.tx.address())
            .await
            .expect("nonce")
    }
}

fn secret(anvil: &AnvilInstance, index: usize) -> B256 {
    B256::from_slice(&anvil.keys()[index].to_bytes())
}

fn transfer(to: Address, wei: u64) -> TransactionRequest {
    TransactionRequest::default()
        .with_to(to)
        .with_value(U256::from(wei))
}

#[tokio::test]
async fn node_deposits_of_eth_and_dai_are_on_the_ledger() {
    let w = World::new().await;
    let dai = w.deployment.dai;
    w.mint_to_node(eth(1000)).await;
    assert_eq!(w.tx.balance(dai).await.expect("balance"), eth(1000));
    let eth_before = w.tx.balance(Address::ZERO).await.expect("balance");

    let hash =
        w.tx.deposit(w.user(), Address::ZERO, eth(2))
            .await
            .expect("eth deposit");
    w.tx.wait(hash, 1, WAIT).await.expect("mined");
    let hash =
        w.tx.deposit(w.user(), dai, eth(300))
            .await
            .expect("dai deposit");
    w.tx.wait(hash, 1, WAIT).await.expect("mined");
    // The second token deposit finds the allowance and does not approve again.
    let nonce_before = w.chain_nonce().await;
    let hash =
        w.tx.deposit(w.user(), dai, eth(200))
            .await
            .expect("dai deposit");
    w.tx.wait(hash, 1, WAIT).await.expect("mined");
    assert_eq!(w.chain_nonce().await, nonce_before + 1);

    let ledger = w.ledger(Address::ZERO).await;
    assert_eq!(U256::from(ledger.depositNode), eth(2));
    assert_eq!(U256::from(ledger.depositUser), U256::ZERO);
    let ledger = w.ledger(dai).await;
    assert_eq!(U256::from(ledger.depositNode), eth(500));
    assert_eq!(w.tx.balance(dai).await.expect("balance"), eth(500));
    let eth_after = w.tx.balance(Address::ZERO).await.expect("balance");
    assert!(
        eth_after < eth_before - eth(2),
        "2 ETH and gas left the wallet"
    );
    let allowance = DevDai::new(dai, w.reader.clone())
        .allowance(w.tx.address(), w.deployment.channel_manager)
        .call()
        .await
        .expect("allowance");
    assert_eq!(allowance, U256::MAX);
}

#[tokio::test]
async fn revealed_preimages_are_registered() {
    let w = World::new().await;
    let preimages = [B256::repeat_byte(1), B256::repeat_byte(2)];
    let hash = w.tx.reveal_many(&preimages).await.expect("reveal");
    let receipt = w.tx.wait(hash, 1, WAIT).await.expect("mined");
    assert!(receipt.status());
    let m = w.manager();
    for p in preimages {
        let at = m.revealedAt(sha256(p)).call().await.expect("revealedAt");
        assert!(at > U256::ZERO, "{p} is revealed");
    }
    let other = m
        .revealedAt(sha256(B256::repeat_byte(3)))
        .call()
        .await
        .expect("revealedAt");
    assert_eq!(other, U256::ZERO);
}

#[tokio::test]
async fn concurrent_sends_all_land_with_distinct_nonces() {
    let w = World::new().await;
    let start = w.chain_nonce().await;
    let to = Address::repeat_byte(0x42);
    let tasks: Vec<_> = (0..10u64)
        .map(|i| {
            let tx = w.tx.clone();
            tokio::spawn(async move { tx.send(transfer(to, 1 + i), "transfer").await })
        })
        .collect();
    let mut hashes = Vec::new();
    for task in tasks {
        hashes.push(task.await.expect("task").expect("sent"));
    }
    let mut nonces = Vec::new();
    for hash in &hashes {
        w.tx.wait(*hash, 1, WAIT).await.expect("mined");
        nonces.push(w.nonce_of(*hash).await);
    }
    nonces.sort_unstable();
    assert_eq!(nonces, (start..start + 10).collect::<Vec<_>>());
    let received = w.reader.get_balance(to).await.expect("balance");
    assert_eq!(received, U256::from((1..=10u64).sum::<u64>()));
}

#[tokio::test]
async fn a_refused_transaction_names_its_cause_and_burns_no_nonce() {
    let w = World::new().await;
    let before = w.chain_nonce().await;

    // Zero is refused by the contract at the gas estimate, before a nonce is taken.
    let err =
        w.tx.deposit(w.user(), Address::ZERO, U256::ZERO)
            .await
            .expect_err("zero deposit");
    let text = err.to_string();
    assert!(matches!(err, Error::TxRefused { .. }), "{err:?}");
    assert!(text.contains("node deposit"), "{text}");
    assert!(text.contains("ZeroAmount"), "{text}");

    let hash =
        w.tx.send(transfer(Address::repeat_byte(7), 1), "transfer")
            .await
            .expect("the next send works");
    w.tx.wait(hash, 1, WAIT).await.expect("mined, no nonce gap");
    assert_eq!(w.nonce_of(hash).await, before);

    // A token that is not on the allowlist: approved (that is a real transaction), then refused by name.
    let other = DevDai::deploy(w.reader.clone())
        .await
        .expect("another token");
    let call = DevDai::mintCall {
        to: w.tx.address(),
        amount: eth(10),
    };
    let hash =
        w.tx.send(
            TransactionRequest::default()
                .with_to(*other.address())
                .with_input(call.abi_encode()),
            "mint",
        )
        .await
        .expect("mint");
    w.tx.wait(hash, 1, WAIT).await.expect("mined");
    let err =
        w.tx.deposit(w.user(), *other.address(), eth(1))
            .await
            .expect_err("not allowed");
    let text = err.to_string();
    assert!(text.contains("AssetNotAllowed"), "{text}");
    assert!(
        text.to_lowercase()
            .contains(&other.address().to_string().to_lowercase()),
        "{text}"
    );

    let hash =
        w.tx.send(transfer(Address::repeat_byte(7), 1), "transfer")
            .await
            .expect("still works");
    w.tx.wait(hash, 1, WAIT).await.expect("mined");
    // Mint, approve, transfer after the first refusal's transfer: no nonce was skipped.
    assert_eq!(w.nonce_of(hash).await, before + 3);
    assert_eq!(w.chain_nonce().await, before + 4);
}

#[tokio::test]
async fn a_reverted_receipt_is_an_error_naming_the_action() {
    let w = World::new().await;
    // With the gas given, nothing is estimated, so the doomed deposit is mined and reverts on chain.
    let call = ChannelManager::depositCall {
        user: w.user(),
        node: w.tx.address(),
        asset: Address::ZERO,
        side: 1,
        amount: U256::ZERO,
    };
    let tx = TransactionRequest::default()
        .with_to(w.deployment.channel_manager)
        .with_input(call.abi_encode())
        .with_gas_limit(200_000);
    let hash = w.tx.send(tx, "doomed deposit").await.expect("sent");
    let err = w.tx.wait(hash, 1, WAIT).await.expect_err("reverted");
    assert!(
        matches!(err, Error::TxReverted { what: "doomed deposit", hash: h } if h == hash),
        "{err:?}"
    );
    assert!(err.to_string().contains("doomed deposit"), "{err}");

    // An unknown hash times out with a clear error instead of waiting forever.
    let err =
        w.tx.wait(B256::repeat_byte(9), 1, Duration::from_millis(300))
            .await
            .expect_err("never mined");
    assert!(matches!(err, Error::TxTimeout { .. }), "{err:?}");
}

/// The channel of anvil's account 1 with the node at epoch 0.
fn params(w: &World) -> ChannelParams {
    ChannelParams {
        chain_id: w.anvil.chain_id(),
        contract: w.deployment.channel_manager,
        user: w.user(),
        node: w.tx.address(),
        epoch: 0,
        allowed_assets: vec![w.deployment.dai],
        timing: Timing::default(),
        max_locks: 8,
    }
}

#[tokio::test]
async fn a_co_signed_withdrawal_pays_out_and_a_tampered_one_is_refused() {
    let w = World::new().await;
    let hash =
        w.tx.deposit(w.user(), Address::ZERO, eth(2))
            .await
            .expect("deposit");
    w.tx.wait(hash, 1, WAIT).await.expect("mined");

    let params = params(&w);
    let user = Signer::from_bytes(&secret(&w.anvil, 1)).expect("user key");
    let node = Signer::from_bytes(&secret(&w.anvil, 0)).expect("node key");
    let recipient = Address::repeat_byte(0x5e);
    let ctx = Context {
        now: 1_700_000_000,
        proposer: Side::Node,
        params: &params,
        proposer_key: None,
    };
    let counted = apply(
        &ChannelState::initial(params.channel_id()),
        &Update::CountDeposit {
            asset: Address::ZERO,
            side: Side::Node,
            amount: eth(2),
        },
        &ctx,
    )
    .expect("count");
    let withdraw = Update::Withdraw {
        asset: Address::ZERO,
        side: Side::Node,
        amount: eth(1),
        recipient,
    };
    let after = apply(&counted, &withdraw, &ctx).expect("withdraw");
    let commitment = withdraw.commitment(&after).expect("commitment");
    let digest = commitment_digest(&params.domain(), &commitment);
    let signed = SignedCommitment {
        commitment: commitment.clone(),
        user_signature: user.sign_digest(&digest).expect("sign"),
        node_signature: node.sign_digest(&digest).expect("sign"),
    };

    // Tampered: a larger amount than both signed.
    let mut tampered = signed.clone();
    tampered.commitment.cumulative = eth(2);
    let err =
        w.tx.withdraw(w.user(), 0, &tampered)
            .await
            .expect_err("tampered");
    let text = err.to_string();
    assert!(text.contains("withdrawal"), "{text}");
    assert!(text.contains("InvalidSignature"), "{text}");

    let hash = w.tx.withdraw(w.user(), 0, &signed).await.expect("withdraw");
    w.tx.wait(hash, 1, WAIT).await.expect("mined");
    assert_eq!(
        w.reader.get_balance(recipient).await.expect("balance"),
        eth(1)
    );
    let ledger = w.ledger(Address::ZERO).await;
    assert_eq!(U256::from(ledger.withdrawnNode), eth(1));

    // The same commitment again pays nothing: refused by name.
    let err =
        w.tx.withdraw(w.user(), 0, &signed)
            .await
            .expect_err("replayed");
    assert!(err.to_string().contains("NothingToWithdraw"), "{err}");
}

#[tokio::test]
async fn a_nonce_taken_behind_the_senders_back_is_read_again() {
    let w = World::new().await;
    let first =
        w.tx.send(transfer(Address::repeat_byte(1), 1), "transfer")
            .await
            .expect("sent");
    w.tx.wait(first, 1, WAIT).await.expect("mined");
    // Another client of the same key takes the nonce the sender holds next.
    let other = http_provider(
        w.anvil.endpoint().as_str(),
        PrivateKeySigner::from(w.anvil.keys()[0].clone()),
    )
    .expect("provider");
    other
        .send_transaction(transfer(Address::repeat_byte(2), 1))
        .await
        .expect("sent")
        .get_receipt()
        .await
        .expect("mined");
    let hash =
        w.tx.send(transfer(Address::repeat_byte(3), 1), "transfer")
            .await
            .expect("sent after reading the nonce again");
    w.tx.wait(hash, 1, WAIT).await.expect("mined");
    assert_eq!(w.nonce_of(hash).await, w.nonce_of(first).await + 2);
}

#[tokio::test]
async fn a_lost_answer_to_an_accepted_send_is_not_sent_twice() {
    let w = World::new().await;
    let proxy = lossy::Proxy::start(w.anvil.port()).await;
    let tx = TxSender::new(
        &proxy.url(),
        secret(&w.anvil, 0),
        w.anvil.chain_id(),
        w.deployment.channel_manager,
    )
    .expect("sender");
    let to = Address::repeat_byte(0x77);
    let hash = tx.send(transfer(to, 5), "transfer").await.expect("sent");
    assert!(proxy.dropped(), "the proxy lost the first answer");
    tx.wait(hash, 1, WAIT).await.expect("mined");
    // One transfer of 5 wei, whatever the retries.
    assert_eq!(
        w.reader.get_balance(to).await.expect("balance"),
        U256::from(5)
    );
    assert_eq!(w.chain_nonce().await, 1);
}

/// A JSON-RPC proxy that forwards everything to anvil but drops the answer to the first
/// `eth_sendRawTransaction`, as a network failure after the node accepted the transaction would.
mod lossy {
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    };

    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpListener, TcpStream},
        task::JoinHandle,
    };

    pub struct Proxy {
        port: u16,
        dropped: Arc<AtomicBool>,
        task: JoinHandle<()>,
    }

    impl Drop for Proxy {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl Proxy {
        pub async fn start(upstream: u16) -> Proxy {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let dropped = Arc::new(AtomicBool::new(false));
            let flag = dropped.clone();
            let task = tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(serve(client, upstream, flag.clone()));
                }
            });
            Proxy {
                port,
                dropped,
                task,
            }
        }

        pub fn url(&self) -> String {
            format!("http://127.0.0.1:{}", self.port)
        }

        pub fn dropped(&self) -> bool {
            self.dropped.load(Ordering::SeqCst)
        }
    }

    async fn serve(mut client: TcpStream, upstream: u16, dropped: Arc<AtomicBool>) {
        while let Some(request) = read_message(&mut client).await {
            let mut anvil = TcpStream::connect(("127.0.0.1", upstream))
                .await
                .expect("anvil");
            anvil.write_all(&request).await.expect("forward");
            let Some(response) = read_message(&mut anvil).await else {
                return;
            };
            let is_send = String::from_utf8_lossy(&request).contains("eth_sendRawTransaction");
            if is_send && !dropped.swap(true, Ordering::SeqCst) {
                return; // closes the client's connection without an answer
            }
            if client.write_all(&response).await.is_err() {
                return;
            }
        }
    }

    /// One HTTP/1.1 message with a Content-Length body, or `None` at the end of the stream.
    async fn read_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let header_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().expect("length"))
            .unwrap_or(0);
        while buf.len() < header_end + length {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Some(buf)
    }
}
