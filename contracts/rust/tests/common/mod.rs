//! One anvil chain per test with the contracts deployed, a user and a node whose keys sign through
//! `spoke-protocol`, and a third account that plays watchtower. The chain is stopped when the `World` drops,
//! whether the test passed or not.
#![allow(dead_code)]

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, Bytes, FixedBytes, B256, U256},
    providers::{ext::AnvilApi, DynProvider, Provider},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
};
use spoke_contracts::{
    bindings::{ChannelManager, DevDai},
    deploy, http_provider, sol_state, Deployment,
};
use spoke_protocol::{
    apply, commitment_digest, state_digest, ChannelParams, ChannelState, Context, Side, Signature,
    SignedState, Signer, Timing, Update, WithdrawCommitment,
};

/// Sends `$call`, waits for its receipt and asserts it did not revert.
#[macro_export]
macro_rules! send {
    ($call:expr) => {
        $crate::common::mined(
            $call
                .send()
                .await
                .expect("transaction sent")
                .get_receipt()
                .await
                .expect("receipt"),
        )
    };
}

/// Asserts that sending `$call` reverts with the custom error `$error`.
#[macro_export]
macro_rules! assert_reverts {
    ($call:expr, $error:ty) => {{
        match $call.send().await {
            Ok(pending) => panic!(
                "expected {} but the transaction was sent: {:?}",
                stringify!($error),
                pending.tx_hash()
            ),
            Err(err) => assert_eq!(
                $crate::common::revert_selector(&err),
                <$error as alloy::sol_types::SolError>::SELECTOR,
                "expected {}, got {err}",
                stringify!($error)
            ),
        }
    }};
}

pub const WINDOW: u64 = 3600;

pub struct Party {
    pub signer: Signer,
    pub provider: DynProvider,
    pub manager: ChannelManager::ChannelManagerInstance<DynProvider>,
}

pub struct World {
    // Dropping the instance kills the anvil process.
    pub anvil: AnvilInstance,
    pub deployment: Deployment,
    pub user: Party,
    pub node: Party,
    pub watchtower: Party,
    pub params: ChannelParams,
}

fn party(anvil: &AnvilInstance, index: usize, manager: Address) -> Party {
    let key = anvil.keys()[index].clone();
    let secret = B256::from_slice(&key.to_bytes());
    let signer = Signer::from_bytes(&secret).expect("anvil key");
    let provider =
        http_provider(anvil.endpoint().as_str(), PrivateKeySigner::from(key)).expect("provider");
    let manager = ChannelManager::new(manager, provider.clone());
    Party {
        signer,
        provider,
        manager,
    }
}

impl World {
    pub async fn new() -> World {
        let anvil = Anvil::at(spoke_contracts::anvil_binary()).spawn();
        let deployer = http_provider(
            anvil.endpoint().as_str(),
            PrivateKeySigner::from(anvil.keys()[0].clone()),
        )
        .expect("provider");
        let deployment = deploy(&deployer, WINDOW).await.expect("deploy");
        let node = party(&anvil, 0, deployment.channel_manager);
        let user = party(&anvil, 1, deployment.channel_manager);
        let watchtower = party(&anvil, 2, deployment.channel_manager);
        let params = ChannelParams {
            chain_id: anvil.chain_id(),
            contract: deployment.channel_manager,
            user: user.signer.address(),
            node: node.signer.address(),
            epoch: 0,
            allowed_assets: vec![deployment.dai],
            timing: Timing::default(),
            max_locks: 16,
        };
        World {
            anvil,
            deployment,
            user,
            node,
            watchtower,
            params,
        }
    }

    pub fn party(&self, side: Side) -> &Party {
        match side {
            Side::User => &self.user,
            Side::Node => &self.node,
        }
    }

    /// The chain's clock: the latest block's timestamp.
    pub async fn now(&self) -> u64 {
        let block = self
            .node
            .provider
            .get_block_number()
            .await
            .expect("block number");
        let block = self
            .node
            .provider
            .get_block_by_number(block.into())
            .await
            .expect("block")
            .expect("exists");
        block.header.timestamp
    }

    /// Moves the chain's clock forward and mines a block.
    pub async fn warp(&self, seconds: u64) {
        self.node
            .provider
            .anvil_increase_time(seconds)
            .await
            .expect("increase time");
        self.node
            .provider
            .anvil_mine(Some(1), None)
            .await
            .expect("mine");
    }

    pub async fn deposit_eth(&self, side: Side, amount: U256) {
        let call = self.party(side).manager.deposit(
            self.params.user,
            self.params.node,
            Address::ZERO,
            side as u8,
            amount,
        );
        send!(call.value(amount));
    }

    pub async fn deposit_dai(&self, side: Side, amount: U256) {
        let party = self.party(side);
        let dai = DevDai::new(self.deployment.dai, party.provider.clone());
        let me = party.signer.address();
        send!(dai.mint(me, amount));
        let approve = dai.approve(self.deployment.channel_manager, amount);
        send!(approve);
        let call = party.manager.deposit(
            self.params.user,
            self.params.node,
            self.deployment.dai,
            side as u8,
            amount,
        );
        send!(call);
    }

    /// Applies `update` as `proposer` at the chain's current time.
    pub async fn step(&self, state: &ChannelState, update: Update, proposer: Side) -> ChannelState {
        let now = self.now().await;
        apply(
            state,
            &update,
            &Context {
                now,
                proposer,
                params: &self.params,
                proposer_key: None,
            },
        )
        .expect("valid update")
    }

    pub fn sign(&self, state: &ChannelState) -> SignedState {
        let digest = state_digest(&self.params.domain(), state);
        SignedState {
            state: state.clone(),
            user_signature: self.user.signer.sign_digest(&digest).expect("sign"),
            node_signature: self.node.signer.sign_digest(&digest).expect("sign"),
        }
    }

    pub fn sign_commitment(&self, c: &WithdrawCommitment) -> (Bytes, Bytes) {
        let digest = commitment_digest(&self.params.domain(), c);
        (
            sig_bytes(&self.user.signer.sign_digest(&digest).expect("sign")),
            sig_bytes(&self.node.signer.sign_digest(&digest).expect("sign")),
        )
    }

    pub async fn eth_balance(&self, who: Address) -> U256 {
        self.node.provider.get_balance(who).await.expect("balance")
    }

    pub async fn dai_balance(&self, who: Address) -> U256 {
        DevDai::new(self.deployment.dai, self.node.provider.clone())
            .balanceOf(who)
            .call()
            .await
            .expect("balance")
    }
}

pub fn sig_bytes(signature: &Signature) -> Bytes {
    Bytes::from(signature.as_bytes().to_vec())
}

/// The arguments `dispute` and `respond` take after the two addresses.
pub fn dispute_args(signed: &SignedState) -> (ChannelManager::ChannelState, Bytes, Bytes) {
    (
        sol_state(&signed.state),
        sig_bytes(&signed.user_signature),
        sig_bytes(&signed.node_signature),
    )
}

pub fn mined(receipt: TransactionReceipt) -> TransactionReceipt {
    assert!(
        receipt.status(),
        "transaction {} reverted",
        receipt.transaction_hash
    );
    receipt
}

/// The custom error a failed call reverted with, by selector.
pub fn revert_selector(err: &alloy::contract::Error) -> FixedBytes<4> {
    let data = err
        .as_revert_data()
        .unwrap_or_else(|| panic!("not a revert: {err}"));
    assert!(data.len() >= 4, "revert without a selector: {err}");
    FixedBytes::from_slice(&data[..4])
}
