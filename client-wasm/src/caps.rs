//! Spending caps on what the client signs away without asking anyone: the in-page wallet autosigns, so the dapp
//! bounds each payment and each hour's total, per asset. A cap is checked (and the amount counted) before the
//! client signs; an asset without a cap is not limited. What was spent in the last hour is kept in the channel's
//! [`Snapshot`](crate::Snapshot), so a reload of the page does not give the app a fresh hour.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use spoke_protocol::{Address, U256};

use crate::{Error, Result};

/// How much may leave the channel without a person's say, per asset, in base units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpendingCaps {
    /// The most one payment, link, exchange or withdrawal may move.
    pub per_payment: HashMap<Address, U256>,
    /// The most all of them together may move in any 60 minutes.
    pub per_hour: HashMap<Address, U256>,
}

/// An amount the app moved out of the channel, counted against the hourly caps for an hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spent {
    /// When, in Unix milliseconds of the client's clock.
    pub at_ms: u64,
    pub asset: Address,
    pub amount: U256,
}

spoke_protocol::json_struct!(
    Spent,
    lenient {
        at_ms: "atMs",
        asset: "asset",
        amount: "amount",
    }
);

const HOUR_MS: u64 = 3_600_000;

impl SpendingCaps {
    /// Whether any hourly cap is set: only then is spending recorded.
    pub(crate) fn has_hourly(&self) -> bool {
        !self.per_hour.is_empty()
    }

    /// Counts `amount` of `asset` as spent at `now_ms` in `log` (dropping entries older than an hour), or refuses
    /// with [`Error::CapExceeded`] and leaves `log` as it was.
    pub(crate) fn spend(
        &self,
        log: &mut Vec<Spent>,
        asset: Address,
        amount: U256,
        now_ms: u64,
    ) -> Result<()> {
        if let Some(cap) = self.per_payment.get(&asset) {
            if amount > *cap {
                return Err(Error::CapExceeded(format!(
                    "{amount} of {asset} is above the per-payment cap of {cap}"
                )));
            }
        }
        let Some(cap) = self.per_hour.get(&asset) else {
            return Ok(());
        };
        // An entry from the future (the clock was set back) counts until an hour after it was made.
        let in_hour = |at_ms: u64| now_ms.saturating_sub(at_ms) < HOUR_MS;
        let total = log
            .iter()
            .filter(|s| s.asset == asset && in_hour(s.at_ms))
            .fold(amount, |sum, s| sum.saturating_add(s.amount));
        if total > *cap {
            return Err(Error::CapExceeded(format!(
                "{amount} of {asset} would bring the last hour's spending to {total} (cap {cap})"
            )));
        }
        log.retain(|s| in_hour(s.at_ms));
        log.push(Spent {
            at_ms: now_ms,
            asset,
            amount,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(dai: Address) -> SpendingCaps {
        SpendingCaps {
            per_payment: [(dai, U256::from(10))].into(),
            per_hour: [(dai, U256::from(25))].into(),
        }
    }

    #[test]
    fn caps_bound_each_payment_and_the_hour_and_a_refusal_counts_nothing() {
        let dai = Address::repeat_byte(7);
        let eth = Address::ZERO;
        let caps = caps(dai);
        let mut log = Vec::new();
        let now = 10 * HOUR_MS;
        assert!(matches!(
            caps.spend(&mut log, dai, U256::from(11), now),
            Err(Error::CapExceeded(_))
        ));
        assert!(log.is_empty());
        caps.spend(&mut log, dai, U256::from(10), now)
            .expect("first");
        caps.spend(&mut log, dai, U256::from(10), now + 1)
            .expect("second");
        let before = log.clone();
        assert!(matches!(
            caps.spend(&mut log, dai, U256::from(6), now + 2),
            Err(Error::CapExceeded(_))
        ));
        assert_eq!(log, before, "a refusal leaves the log alone");
        caps.spend(&mut log, dai, U256::from(5), now + 3)
            .expect("exactly up to the hour's cap");
        caps.spend(&mut log, eth, U256::MAX, now + 4)
            .expect("an asset without caps is not limited");
        assert_eq!(log.len(), 3, "only capped spending is recorded");
    }

    #[test]
    fn an_hour_later_the_cap_is_free_again_and_old_entries_are_dropped() {
        let dai = Address::repeat_byte(7);
        let caps = caps(dai);
        let mut log = Vec::new();
        let start = 10 * HOUR_MS;
        for i in 0..2 {
            caps.spend(&mut log, dai, U256::from(10), start + i)
                .expect("spent");
        }
        assert!(caps
            .spend(&mut log, dai, U256::from(10), start + HOUR_MS - 1)
            .is_err());
        caps.spend(&mut log, dai, U256::from(10), start + HOUR_MS + 1)
            .expect("the first two are an hour old");
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn the_log_survives_serialization_as_part_of_a_snapshot() {
        let spent = Spent {
            at_ms: 1_700_000_000_000,
            asset: Address::repeat_byte(7),
            amount: U256::from(12_345),
        };
        let json = serde_json::to_string(&spent).expect("encodes");
        assert!(json.contains("atMs"), "{json}");
        assert_eq!(
            spoke_protocol::json::from_slice::<Spent>(json.as_bytes()).expect("decodes"),
            spent
        );
    }
}
