//! Test support for the node's tests: a throwaway PostgreSQL server and channel fixtures.
#![allow(dead_code)]

pub mod postgres;

use spoke_protocol::{
    apply, domain, state_digest, Address, ChannelParams, ChannelState, Context, Side, Signature,
    Signer, Timing, Update, B256, U256,
};

pub const NOW: u64 = 1_700_000_000;

pub struct Channel {
    pub user: Signer,
    pub node: Signer,
    pub params: ChannelParams,
}

impl Channel {
    /// A channel of user key `user_byte` (repeated into 32 bytes) at `epoch`.
    pub fn new(user_byte: u8, epoch: u64) -> Channel {
        let user = Signer::from_bytes(&B256::repeat_byte(user_byte)).expect("user key");
        let node = Signer::from_bytes(&B256::repeat_byte(0xee)).expect("node key");
        let params = ChannelParams {
            chain_id: 31337,
            contract: Address::repeat_byte(0xcc),
            user: user.address(),
            node: node.address(),
            epoch,
            allowed_assets: vec![],
            timing: Timing::default(),
            max_locks: 8,
        };
        Channel { user, node, params }
    }

    pub fn initial(&self) -> ChannelState {
        ChannelState::initial(self.params.channel_id())
    }

    /// The state after counting `amount` more of the user's ETH deposit.
    pub fn deposit(&self, state: &ChannelState, amount: u64) -> (Update, ChannelState) {
        let update = Update::CountDeposit {
            asset: Address::ZERO,
            side: Side::User,
            amount: U256::from(amount),
        };
        let ctx = Context {
            now: NOW,
            proposer: Side::User,
            params: &self.params,
        };
        let next = apply(state, &update, &ctx).expect("valid deposit");
        (update, next)
    }

    pub fn sign(&self, side: Side, state: &ChannelState) -> Signature {
        let digest = state_digest(&domain(self.params.chain_id, self.params.contract), state);
        match side {
            Side::User => self.user.sign_digest(&digest),
            Side::Node => self.node.sign_digest(&digest),
        }
        .expect("sign")
    }
}
