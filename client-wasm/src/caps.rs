//! Spending caps on what the client signs away without asking anyone: the in-page wallet autosigns, so the dapp
//! bounds each payment and each hour's total, per asset. A cap is checked (and the amount counted) before the
//! client signs; an asset without a cap is not limited.

use std::{collections::HashMap, sync::Mutex};

use spoke_protocol::{Address, U256};

use crate::{platform, Error, Result};

/// How much may leave the channel without a person's say, per asset, in base units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpendingCaps {
    /// The most one payment, link, exchange or withdrawal may move.
    pub per_payment: HashMap<Address, U256>,
    /// The most all of them together may move in any 60 minutes.
    pub per_hour: HashMap<Address, U256>,
}

const HOUR_MS: u64 = 3_600_000;

/// The caps and what was spent against them in the last hour.
#[derive(Debug, Default)]
pub(crate) struct Spending {
    caps: SpendingCaps,
    spent: Mutex<Vec<(u64, Address, U256)>>,
}

impl Spending {
    pub fn new(caps: SpendingCaps) -> Spending {
        Spending {
            caps,
            spent: Mutex::new(Vec::new()),
        }
    }

    /// Counts `amount` of `asset` as spent now, or refuses with [`Error::CapExceeded`] and counts nothing.
    pub fn spend(&self, asset: Address, amount: U256) -> Result<()> {
        if let Some(cap) = self.caps.per_payment.get(&asset) {
            if amount > *cap {
                return Err(Error::CapExceeded(format!(
                    "{amount} of {asset} is above the per-payment cap of {cap}"
                )));
            }
        }
        let now = platform::now_ms();
        let mut spent = self
            .spent
            .lock()
            .map_err(|_| Error::Store("the spending log was poisoned by a panic".into()))?;
        spent.retain(|(at, _, _)| now.saturating_sub(*at) < HOUR_MS);
        if let Some(cap) = self.caps.per_hour.get(&asset) {
            let in_hour = spent
                .iter()
                .filter(|(_, a, _)| *a == asset)
                .fold(U256::ZERO, |sum, (_, _, amount)| {
                    sum.saturating_add(*amount)
                });
            if in_hour.saturating_add(amount) > *cap {
                return Err(Error::CapExceeded(format!(
                    "{amount} of {asset} would bring the last hour's spending to {} (cap {cap})",
                    in_hour.saturating_add(amount)
                )));
            }
        }
        spent.push((now, asset, amount));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_bound_each_payment_and_the_hour_and_a_refusal_counts_nothing() {
        let dai = Address::repeat_byte(7);
        let eth = Address::ZERO;
        let spending = Spending::new(SpendingCaps {
            per_payment: [(dai, U256::from(10))].into(),
            per_hour: [(dai, U256::from(25))].into(),
        });
        assert!(matches!(
            spending.spend(dai, U256::from(11)),
            Err(Error::CapExceeded(_))
        ));
        spending.spend(dai, U256::from(10)).expect("first");
        spending.spend(dai, U256::from(10)).expect("second");
        assert!(matches!(
            spending.spend(dai, U256::from(6)),
            Err(Error::CapExceeded(_))
        ));
        spending
            .spend(dai, U256::from(5))
            .expect("exactly up to the hour's cap");
        spending
            .spend(eth, U256::MAX)
            .expect("an asset without caps is not limited");
    }
}
