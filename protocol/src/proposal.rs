//! Proposing and accepting updates, and checking states that arrive whole (a restore, a dispute).

use alloy_primitives::{Address, Signature, B256, U256};
use serde::{Deserialize, Serialize};

use crate::{
    apply::{apply, check_entry, Context},
    eip712::{commitment_digest, state_digest},
    signing::{verify, verify_signer, Signer},
    state::{ChannelState, SignedCommitment, SignedState, Update},
    types::{ChannelParams, Side},
    Error, Result, MAX_ASSETS,
};

/// An update as it travels: the proposer's signature is over the digest of the state the update produces at
/// `nonce`, so the receiver signs only a state it computed itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Proposal {
    pub nonce: u64,
    pub update: Update,
    #[serde(with = "crate::signing::signature_hex")]
    pub signature: Signature,
}

crate::json_struct!(
    Proposal,
    strict {
        nonce: "nonce",
        update: "update",
        signature: "signature",
    }
);

/// Applies `update` as `ctx.proposer` and signs the result. The caller persists the new state before it sends
/// the proposal.
pub fn propose(
    state: &ChannelState,
    update: Update,
    ctx: &Context<'_>,
    signer: &Signer,
) -> Result<(ChannelState, Proposal)> {
    let expected = ctx.params.signer(ctx.proposer);
    if signer.address() != expected {
        return Err(Error::WrongSigner {
            side: ctx.proposer,
            expected,
            recovered: signer.address(),
        });
    }
    let next = apply(state, &update, ctx)?;
    let digest = state_digest(&ctx.params.domain(), &next);
    let signature = signer.sign_digest(&digest)?;
    let nonce = next.nonce;
    Ok((
        next,
        Proposal {
            nonce,
            update,
            signature,
        },
    ))
}

/// A proposal that passed [`accept_proposal`]: the state it produces and that state's digest, which the
/// receiver countersigns once the state is durable (so the digest is computed once, not again for signing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub state: ChannelState,
    pub digest: B256,
}

/// Checks a counterparty's proposal against our latest state: the nonce must be exactly the next one, the update
/// must pass [`apply`], and the proposer must have signed the very state that results. Returns that state and
/// its digest, for the caller to persist and countersign.
pub fn accept_proposal(
    state: &ChannelState,
    proposal: &Proposal,
    ctx: &Context<'_>,
) -> Result<Accepted> {
    if proposal.nonce <= state.nonce {
        return Err(Error::StaleNonce {
            current: state.nonce,
            got: proposal.nonce,
        });
    }
    let expected = state.nonce.checked_add(1).ok_or(Error::NonceExhausted)?;
    if proposal.nonce != expected {
        return Err(Error::NonceGap {
            expected,
            got: proposal.nonce,
        });
    }
    let next = apply(state, &proposal.update, ctx)?;
    let digest = state_digest(&ctx.params.domain(), &next);
    verify_signer(
        &digest,
        &proposal.signature,
        ctx.proposer,
        ctx.params.signer(ctx.proposer),
        ctx.proposer_key,
    )?;
    Ok(Accepted {
        state: next,
        digest,
    })
}

/// Checks a whole state: its channel, the order, number and allowance of its assets, every amount's bound,
/// conservation, and that its locks are sorted, unique, within the lock limit and add up to the locked amounts.
pub fn validate_state(state: &ChannelState, params: &ChannelParams) -> Result<()> {
    params.check()?;
    let expected = params.channel_id();
    if state.channel_id != expected {
        return Err(Error::WrongChannel {
            expected,
            got: state.channel_id,
        });
    }
    if state.assets.len() > MAX_ASSETS {
        return Err(Error::TooManyAssets {
            count: state.assets.len(),
            max: MAX_ASSETS,
        });
    }
    for pair in state.assets.windows(2) {
        if pair[0].asset >= pair[1].asset {
            return Err(Error::AssetsNotSorted {
                prev: pair[0].asset,
                next: pair[1].asset,
            });
        }
    }
    for entry in &state.assets {
        if !params.is_allowed(entry.asset) {
            return Err(Error::AssetNotAllowed(entry.asset));
        }
        check_entry(entry)?;
    }
    if state.locks.len() > params.max_locks {
        return Err(Error::TooManyLocks {
            max: params.max_locks,
        });
    }
    for pair in state.locks.windows(2) {
        if pair[0].id >= pair[1].id {
            return Err(Error::LocksNotSorted {
                prev: pair[0].id,
                next: pair[1].id,
            });
        }
    }
    for entry in &state.assets {
        for side in [Side::User, Side::Node] {
            let sum = locked_sum(state, entry.asset, side)?;
            if sum != entry.locked(side) {
                return Err(Error::LockedMismatch {
                    asset: entry.asset,
                    side,
                    locked: entry.locked(side),
                    sum,
                });
            }
        }
    }
    if let Some(lock) = state.locks.iter().find(|l| state.asset(l.asset).is_none()) {
        return Err(Error::UnknownAsset(lock.asset));
    }
    Ok(())
}

fn locked_sum(state: &ChannelState, asset: Address, side: Side) -> Result<U256> {
    state
        .locks
        .iter()
        .filter(|l| l.asset == asset && l.sender == side)
        .try_fold(U256::ZERO, |acc, l| acc.checked_add(l.amount))
        .ok_or(Error::Overflow {
            asset,
            what: "the sum of the locks",
        })
}

/// Checks a double-signed state: [`validate_state`], then the user's and the node's signatures, each in its own
/// slot.
pub fn check_signed_state(signed: &SignedState, params: &ChannelParams) -> Result<B256> {
    validate_state(&signed.state, params)?;
    let digest = state_digest(&params.domain(), &signed.state);
    verify(&digest, &signed.user_signature, Side::User, params.user)?;
    verify(&digest, &signed.node_signature, Side::Node, params.node)?;
    Ok(digest)
}

impl SignedCommitment {
    /// Checks that the commitment belongs to this channel and carries both parties' signatures.
    pub fn check(&self, params: &ChannelParams) -> Result<()> {
        let expected = params.channel_id();
        if self.commitment.channel_id != expected {
            return Err(Error::WrongChannel {
                expected,
                got: self.commitment.channel_id,
            });
        }
        let digest = commitment_digest(&params.domain(), &self.commitment);
        verify(&digest, &self.user_signature, Side::User, params.user)?;
        verify(&digest, &self.node_signature, Side::Node, params.node)?;
        Ok(())
    }
}
