//! The timing rule a node keeps when it forwards a payment (docs/PROTOCOL.md, "Payments through the node").
//! The payee must have time to reveal on chain before its lock expires, and the node must have Δ after that to
//! claim the payer's lock with the same preimage.

use alloy_primitives::{keccak256, B256};

use crate::{state::Lock, types::Timing, Error, Result};

/// A payment's id: `keccak256(payer channel id ‖ payer lock id)`. The node names the payment by it, and its lock
/// to the payee carries it as its id, so the payer and the node agree on it without asking.
pub fn payment_id(payer_channel: B256, payer_lock_id: B256) -> B256 {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(payer_channel.as_slice());
    bytes[32..].copy_from_slice(payer_lock_id.as_slice());
    keccak256(bytes)
}

/// Checks that the node may lock `payee_lock` to the payee on the strength of `payer_lock`, at `now`.
pub fn check_forward(
    payer_lock: &Lock,
    payee_lock: &Lock,
    now: u64,
    timing: &Timing,
) -> Result<()> {
    if payee_lock.hashlock != payer_lock.hashlock {
        return Err(Error::RouteMismatch(
            "the two locks have different hashlocks",
        ));
    }
    if payee_lock.asset != payer_lock.asset || payee_lock.amount > payer_lock.amount {
        return Err(Error::RouteMismatch(
            "the payee's lock must be of the payer's asset and at most its amount",
        ));
    }
    let earliest_payee = now
        .saturating_add(timing.reveal_time)
        .saturating_add(timing.safety_margin);
    if payee_lock.expiry < earliest_payee {
        return Err(Error::LockExpiryTooClose {
            expiry: payee_lock.expiry,
            earliest: earliest_payee,
        });
    }
    let earliest_payer = payee_lock.expiry.saturating_add(timing.expiry_delta);
    if payer_lock.expiry < earliest_payer {
        return Err(Error::LockExpiryTooClose {
            expiry: payer_lock.expiry,
            earliest: earliest_payer,
        });
    }
    Ok(())
}

/// The latest time at which a payee whose resolve the node has not countersigned must have revealed its
/// preimage on chain: `expiry − R`.
pub fn reveal_deadline(lock: &Lock, timing: &Timing) -> u64 {
    lock.expiry.saturating_sub(timing.reveal_time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Side;
    use alloy_primitives::{Address, B256, U256};

    fn lock(expiry: u64, amount: u64) -> Lock {
        Lock {
            id: B256::repeat_byte(1),
            asset: Address::ZERO,
            amount: U256::from(amount),
            sender: Side::User,
            hashlock: B256::repeat_byte(9),
            expiry,
        }
    }

    #[test]
    fn forwarding_needs_r_plus_g_for_the_payee_and_delta_between_the_legs() {
        let t = Timing::default();
        let now = 1_000_000;
        let payee = now + t.reveal_time + t.safety_margin;
        check_forward(&lock(payee + t.expiry_delta, 10), &lock(payee, 10), now, &t)
            .expect("exactly enough");
        assert_eq!(
            check_forward(
                &lock(payee + t.expiry_delta - 1, 10),
                &lock(payee, 10),
                now,
                &t
            ),
            Err(Error::LockExpiryTooClose {
                expiry: payee + t.expiry_delta - 1,
                earliest: payee + t.expiry_delta
            })
        );
        assert_eq!(
            check_forward(
                &lock(payee + t.expiry_delta, 10),
                &lock(payee - 1, 10),
                now,
                &t
            ),
            Err(Error::LockExpiryTooClose {
                expiry: payee - 1,
                earliest: payee
            })
        );
    }

    #[test]
    fn the_legs_must_share_hashlock_and_asset_and_the_payee_gets_no_more() {
        let t = Timing::default();
        let payer = lock(10_000_000, 10);
        let mut payee = lock(5_000_000, 11);
        assert!(matches!(
            check_forward(&payer, &payee, 0, &t),
            Err(Error::RouteMismatch(_))
        ));
        payee.amount = U256::from(10);
        payee.hashlock = B256::repeat_byte(8);
        assert!(matches!(
            check_forward(&payer, &payee, 0, &t),
            Err(Error::RouteMismatch(_))
        ));
    }

    #[test]
    fn the_reveal_deadline_is_r_before_expiry() {
        let t = Timing::default();
        assert_eq!(
            reveal_deadline(&lock(100_000, 1), &t),
            100_000 - t.reveal_time
        );
    }
}
