use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::{eip712, Error, Result};

/// Reads an address as a person types or pastes it: `0x` and 40 hex digits, in one case, or in the mixed case of
/// EIP-55. Mixed case must be the address's checksum, so a mistyped character in a checksummed address is refused
/// instead of naming someone else's: a withdrawal to it could not be undone. Surrounding spaces are ignored.
pub fn parse_address(text: &str) -> Result<Address> {
    let text = text.trim();
    let bad = |why: &'static str| Error::BadAddress {
        text: text.chars().take(64).collect(),
        why,
    };
    let malformed = || bad("an address is 0x and 40 hex digits");
    let digits = text
        .strip_prefix("0x")
        .filter(|d| d.len() == 40 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(malformed)?;
    let mixed = digits.bytes().any(|b| b.is_ascii_lowercase())
        && digits.bytes().any(|b| b.is_ascii_uppercase());
    if mixed {
        Address::parse_checksummed(text, None).map_err(|_| {
            bad("its mixed case is not the address's EIP-55 checksum: a character is wrong")
        })
    } else {
        text.parse().map_err(|_| malformed())
    }
}

/// One side of a channel. Its numeric value (`as u8`) is what the contract and the signed messages carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Side {
    User = 0,
    Node = 1,
}

crate::json_enum!(Side {
    User: "user",
    Node: "node"
});

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::User => Side::Node,
            Side::Node => Side::User,
        }
    }

    /// Decodes the on-chain `uint8`.
    pub fn from_u8(value: u8) -> Option<Side> {
        match value {
            0 => Some(Side::User),
            1 => Some(Side::Node),
            _ => None,
        }
    }
}

impl core::fmt::Display for Side {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Side::User => "user",
            Side::Node => "node",
        })
    }
}

/// Lock timing, in seconds (see "Timing" in docs/PROTOCOL.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timing {
    /// G: no lock is created closer than this to its expiry, and none is resolved off chain closer than this.
    pub safety_margin: u64,
    /// The longest a lock may run.
    pub max_lock_lifetime: u64,
    /// R: the worst-case time to get a preimage reveal final on chain.
    pub reveal_time: u64,
    /// Δ: the least gap between a payee's lock expiry and the payer's (at least detection time + R).
    pub expiry_delta: u64,
}

crate::json_struct!(
    Timing,
    strict {
        safety_margin: "safetyMargin",
        max_lock_lifetime: "maxLockLifetime",
        reveal_time: "revealTime",
        expiry_delta: "expiryDelta",
    }
);

impl Default for Timing {
    fn default() -> Self {
        Timing {
            safety_margin: 10 * 60,
            max_lock_lifetime: 7 * 24 * 60 * 60,
            reveal_time: 60 * 60,
            expiry_delta: 2 * 60 * 60,
        }
    }
}

/// Everything that identifies a channel and bounds its updates. Both sides hold the same parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelParams {
    pub chain_id: u64,
    /// The ChannelManager contract.
    pub contract: Address,
    pub user: Address,
    pub node: Address,
    pub epoch: u64,
    /// The deployment's ERC-20 allowlist; ETH (`Address::ZERO`) is always allowed.
    pub allowed_assets: Vec<Address>,
    pub timing: Timing,
    /// Most locks active at once in the channel.
    pub max_locks: usize,
}

crate::json_struct!(
    ChannelParams,
    strict {
        chain_id: "chainId",
        contract: "contract",
        user: "user",
        node: "node",
        epoch: "epoch",
        allowed_assets: "allowedAssets",
        timing: "timing",
        max_locks: "maxLocks",
    }
);

impl ChannelParams {
    /// Checks the parameters make a channel at all.
    pub fn check(&self) -> Result<()> {
        if self.user == Address::ZERO || self.node == Address::ZERO {
            return Err(Error::InvalidParams(
                "user and node must be non-zero addresses",
            ));
        }
        if self.user == self.node {
            return Err(Error::InvalidParams("user and node must differ"));
        }
        let t = self.timing;
        if t.safety_margin >= t.max_lock_lifetime {
            return Err(Error::InvalidParams(
                "the safety margin must be shorter than the maximum lock lifetime",
            ));
        }
        if t.expiry_delta < t.reveal_time {
            return Err(Error::InvalidParams(
                "the expiry delta must be at least the reveal time",
            ));
        }
        Ok(())
    }

    /// This channel's id (see "Channel id" in docs/PROTOCOL.md).
    pub fn channel_id(&self) -> B256 {
        eip712::channel_id(
            self.chain_id,
            self.contract,
            self.user,
            self.node,
            self.epoch,
        )
    }

    /// The EIP-712 domain every message of this channel is signed under.
    pub fn domain(&self) -> alloy_sol_types::Eip712Domain {
        eip712::domain(self.chain_id, self.contract)
    }

    /// The address that signs for `side`.
    pub fn signer(&self, side: Side) -> Address {
        match side {
            Side::User => self.user,
            Side::Node => self.node,
        }
    }

    /// Whether the deployment accepts `asset`.
    pub fn is_allowed(&self, asset: Address) -> bool {
        asset == Address::ZERO || self.allowed_assets.contains(&asset)
    }
}

#[cfg(test)]
mod address_tests {
    use super::*;

    // EIP-55's own example.
    const CHECKSUMMED: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

    #[test]
    fn an_address_in_one_case_or_with_its_checksum_is_read() {
        let expected: Address = CHECKSUMMED.to_lowercase().parse().expect("hex");
        for text in [
            CHECKSUMMED.to_string(),
            CHECKSUMMED.to_lowercase(),
            format!("0x{}", CHECKSUMMED[2..].to_uppercase()),
            format!("  {CHECKSUMMED}\n"),
        ] {
            assert_eq!(parse_address(&text).expect(&text), expected, "{text}");
        }
    }

    #[test]
    fn a_wrong_checksum_or_a_malformed_address_is_refused() {
        // One letter's case flipped, and one character changed (the case left as it was).
        let flipped = CHECKSUMMED.replacen("aA", "aa", 1);
        let changed = CHECKSUMMED.replacen("6053", "6054", 1);
        for text in [flipped.as_str(), changed.as_str()] {
            let e = parse_address(text).expect_err(text);
            assert!(e.to_string().contains("EIP-55"), "{text}: {e}");
        }
        for text in [
            &CHECKSUMMED[2..],
            &CHECKSUMMED[..41],
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedff",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",
            "",
        ] {
            let e = parse_address(text).expect_err(text);
            assert!(
                e.to_string().contains("0x and 40 hex digits"),
                "{text:?}: {e}"
            );
        }
    }
}
