//! From `spoke-protocol`'s types to the contract's ABI types. The field-for-field copy is the only place the two
//! meet, and `contract_parity` checks it against the deployed contract.

use spoke_protocol::{locks_root, ChannelState, Lock, WithdrawCommitment};

use crate::bindings::ChannelManager;

/// The state as `dispute`, `respond` and `conclude` take it.
pub fn sol_state(state: &ChannelState) -> ChannelManager::ChannelState {
    ChannelManager::ChannelState {
        channelId: state.channel_id,
        nonce: state.nonce,
        assets: state
            .assets
            .iter()
            .map(|a| ChannelManager::AssetState {
                asset: a.asset,
                balanceUser: a.balance_user,
                balanceNode: a.balance_node,
                countedUser: a.counted_user,
                countedNode: a.counted_node,
                withdrawnUser: a.withdrawn_user,
                withdrawnNode: a.withdrawn_node,
                lockedUser: a.locked_user,
                lockedNode: a.locked_node,
            })
            .collect(),
        locksRoot: locks_root(state.channel_id, &state.locks),
    }
}

/// The commitment as `withdraw` takes it.
pub fn sol_commitment(c: &WithdrawCommitment) -> ChannelManager::WithdrawCommitment {
    ChannelManager::WithdrawCommitment {
        channelId: c.channel_id,
        stateNonce: c.state_nonce,
        asset: c.asset,
        side: c.side as u8,
        recipient: c.recipient,
        cumulative: c.cumulative,
    }
}

/// The lock as `settleLock` and `lockLeaf` take it.
pub fn sol_lock(lock: &Lock) -> ChannelManager::Lock {
    ChannelManager::Lock {
        id: lock.id,
        asset: lock.asset,
        amount: lock.amount,
        sender: lock.sender as u8,
        hashlock: lock.hashlock,
        expiry: lock.expiry,
    }
}
