//! From `spoke-protocol`'s types to the contract's ABI types. `spoke-protocol` already maps its types to `sol!`
//! structs that mirror the contract field for field; the bindings generated from the contract's ABI are other Rust
//! types with the same ABI encoding, so they are converted by encoding one and decoding the other rather than by a
//! second field-by-field copy. `contract_parity` checks the result against the deployed contract.

use alloy::sol_types::{SolType, SolValue};
use spoke_protocol::{sol_types, ChannelState, Lock, WithdrawCommitment};

use crate::bindings::ChannelManager;

/// Re-types a value between two Rust types of one ABI type.
fn recode<A, B>(value: &A) -> B
where
    A: SolValue,
    B: SolValue + From<<B::SolType as SolType>::RustType>,
{
    B::abi_decode(&value.abi_encode()).expect("both types are generated from the same ABI type")
}

/// The state as `dispute`, `respond` and `conclude` take it.
pub fn sol_state(state: &ChannelState) -> ChannelManager::ChannelState {
    recode(&sol_types::ChannelState::from(state))
}

/// The commitment as `withdraw` takes it.
pub fn sol_commitment(c: &WithdrawCommitment) -> ChannelManager::WithdrawCommitment {
    recode(&sol_types::WithdrawCommitment::from(c))
}

/// The lock as `settleLock` and `lockLeaf` take it (the contract's `Lock` has no channel id: it comes from the
/// channel the lock is settled in).
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
