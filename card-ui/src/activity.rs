//! What the card did on chain — deposits and cash outs — for its History. The node's payment history has no
//! such entries, and a person looking for where their money went expects them. Kept per wallet in the browser's
//! storage; an entry holds amounts, an address and a transaction hash, never a secret.

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};
use spoke_client::KeyValue;

/// The most entries kept: older ones remain on chain, where the transaction hashes point.
pub const KEPT: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Deposit,
    CashOut,
}

// Read without serde's derive, as spoke-client reads its own records: it keeps a second JSON parser and the
// derive's visitors out of the card's .wasm.
spoke_protocol::json_enum!(Kind {
    Deposit: "deposit",
    CashOut: "cashOut"
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub kind: Kind,
    /// The Dai that came into or left the card.
    pub amount: U256,
    /// Where it went (a cash out) and in what, in words: "to 0xab…cd", "as 0.0049 ETH to 0xab…cd".
    pub detail: String,
    pub tx: B256,
    /// Unix seconds.
    pub at: u64,
}

spoke_protocol::json_struct!(
    Entry,
    lenient {
        kind: "kind",
        amount: "amount",
        detail: "detail",
        tx: "tx",
        at: "at",
    }
);

fn key(wallet: Address) -> String {
    format!("spoke-card/activity/{wallet:#x}")
}

/// `wallet`'s entries, newest first; a missing or unreadable record is an empty history, not an error: it is a
/// convenience copy of what the chain holds.
pub fn load(kv: &dyn KeyValue, wallet: Address) -> Vec<Entry> {
    kv.get(&key(wallet))
        .ok()
        .flatten()
        .and_then(|text| spoke_protocol::json::from_slice(text.as_bytes()).ok())
        .unwrap_or_default()
}

/// Adds `entry` in front of `wallet`'s entries and returns them all.
pub fn record(kv: &dyn KeyValue, wallet: Address, entry: Entry) -> Vec<Entry> {
    let mut entries = load(kv, wallet);
    entries.insert(0, entry);
    entries.truncate(KEPT);
    if let Ok(text) = serde_json::to_string(&entries) {
        // A full storage loses the newest line of History, never money: nothing else is affected.
        let _ = kv.set(&key(wallet), &text);
    }
    entries
}

#[cfg(test)]
mod tests {
    use spoke_client::MemoryKv;

    use super::*;

    fn entry(n: u8) -> Entry {
        Entry {
            kind: if n.is_multiple_of(2) {
                Kind::Deposit
            } else {
                Kind::CashOut
            },
            amount: U256::from(n),
            detail: format!("to {n}"),
            tx: B256::repeat_byte(n),
            at: u64::from(n),
        }
    }

    #[test]
    fn entries_come_back_newest_first_per_wallet_and_at_most_kept() {
        let kv = MemoryKv::new();
        let (alice, bob) = (Address::repeat_byte(1), Address::repeat_byte(2));
        assert!(load(&kv, alice).is_empty());
        record(&kv, alice, entry(1));
        let entries = record(&kv, alice, entry(2));
        assert_eq!(entries, vec![entry(2), entry(1)]);
        assert_eq!(load(&kv, alice), entries);
        assert!(
            load(&kv, bob).is_empty(),
            "another wallet's history is its own"
        );
        for n in 0..=KEPT as u8 {
            record(&kv, alice, entry(n));
        }
        assert_eq!(load(&kv, alice).len(), KEPT);
        assert_eq!(load(&kv, alice)[0], entry(KEPT as u8));
    }

    #[test]
    fn entries_read_as_serde_reads_them() {
        spoke_protocol::json::conformance::agrees(&vec![entry(1), entry(2)]);
    }

    #[test]
    fn an_unreadable_record_is_an_empty_history() {
        let kv = MemoryKv::new();
        let wallet = Address::repeat_byte(3);
        kv.set(&key(wallet), "not json").expect("set");
        assert!(load(&kv, wallet).is_empty());
        assert_eq!(record(&kv, wallet, entry(4)), vec![entry(4)]);
    }
}
