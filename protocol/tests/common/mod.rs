//! Shared fixtures for the protocol's integration tests: one channel, its two keys, and helpers that drive it.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use spoke_protocol::{
    apply, state_digest, Address, ChannelParams, ChannelState, Context, Lock, Side, SignedState,
    Signer, Timing, Update, B256, U256,
};

pub const NOW: u64 = 1_700_000_000;
pub const CHAIN_ID: u64 = 31337;
pub const DAI: Address = Address::repeat_byte(0xda);
pub const ETH: Address = Address::ZERO;

pub struct Fixture {
    pub user: Signer,
    pub node: Signer,
    pub params: ChannelParams,
}

impl Fixture {
    pub fn new() -> Fixture {
        let user = Signer::from_bytes(&B256::repeat_byte(0x11)).expect("user key");
        let node = Signer::from_bytes(&B256::repeat_byte(0x22)).expect("node key");
        let params = ChannelParams {
            chain_id: CHAIN_ID,
            contract: Address::repeat_byte(0xcc),
            user: user.address(),
            node: node.address(),
            epoch: 0,
            allowed_assets: vec![DAI],
            timing: Timing::default(),
            max_locks: 4,
        };
        Fixture { user, node, params }
    }

    pub fn ctx(&self, proposer: Side) -> Context<'_> {
        Context {
            now: NOW,
            proposer,
            params: &self.params,
            proposer_key: None,
        }
    }

    pub fn ctx_at(&self, proposer: Side, now: u64) -> Context<'_> {
        Context {
            now,
            proposer,
            params: &self.params,
            proposer_key: None,
        }
    }

    pub fn initial(&self) -> ChannelState {
        ChannelState::initial(self.params.channel_id())
    }

    /// A channel where each side has counted 100 ETH-wei and 1000 Dai-wei.
    pub fn funded(&self) -> ChannelState {
        let mut state = self.initial();
        for asset in [ETH, DAI] {
            for side in [Side::User, Side::Node] {
                let amount = if asset == ETH { 100u64 } else { 1000 };
                let update = Update::CountDeposit {
                    asset,
                    side,
                    amount: U256::from(amount),
                };
                state = apply(&state, &update, &self.ctx(side)).expect("deposit counts");
            }
        }
        state
    }

    pub fn signer(&self, side: Side) -> &Signer {
        match side {
            Side::User => &self.user,
            Side::Node => &self.node,
        }
    }

    pub fn sign_state(&self, state: &ChannelState) -> SignedState {
        let digest = state_digest(&self.params.domain(), state);
        SignedState {
            state: state.clone(),
            user_signature: self.user.sign_digest(&digest).expect("sign"),
            node_signature: self.node.sign_digest(&digest).expect("sign"),
        }
    }
}

pub fn preimage(n: u8) -> B256 {
    B256::repeat_byte(n)
}

pub fn hashlock(preimage: B256) -> B256 {
    B256::from_slice(&Sha256::digest(preimage.as_slice()))
}

/// A lock of `amount` Dai from `sender`, expiring an hour from [`NOW`], whose preimage is `preimage(n)`.
pub fn lock(n: u8, sender: Side, amount: u64) -> Lock {
    Lock {
        id: B256::repeat_byte(n),
        asset: DAI,
        amount: U256::from(amount),
        sender,
        hashlock: hashlock(preimage(n)),
        expiry: NOW + 3600,
    }
}

pub fn u(n: u64) -> U256 {
    U256::from(n)
}
