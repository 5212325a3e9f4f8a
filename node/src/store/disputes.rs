//! What the node records of the transactions it sends to follow its channels' disputes (`api::dispute`).

use spoke_protocol::{Address, B256};

/// What a dispute transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeAction {
    /// `respond` with the node's state at this nonce.
    Answer {
        nonce: u64,
    },
    /// `revealMany` of the preimages of locks paid to the node.
    Reveal,
    Conclude,
    /// `settleLock` of the lock with this id.
    Settle {
        lock_id: B256,
    },
    /// `claim` of the node's side in this asset.
    Claim {
        asset: Address,
    },
}

impl std::fmt::Display for DisputeAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DisputeAction::Answer { nonce } => write!(f, "answer:{nonce}"),
            DisputeAction::Reveal => f.write_str("reveal"),
            DisputeAction::Conclude => f.write_str("conclude"),
            DisputeAction::Settle { lock_id } => write!(f, "settle:{lock_id:#x}"),
            DisputeAction::Claim { asset } => write!(f, "claim:{asset:#x}"),
        }
    }
}

impl std::str::FromStr for DisputeAction {
    type Err = String;

    fn from_str(text: &str) -> Result<DisputeAction, String> {
        let bad = |e: &dyn std::fmt::Display| format!("{text:?}: {e}");
        Ok(match text.split_once(':') {
            None if text == "reveal" => DisputeAction::Reveal,
            None if text == "conclude" => DisputeAction::Conclude,
            Some(("answer", nonce)) => DisputeAction::Answer {
                nonce: nonce.parse().map_err(|e| bad(&e))?,
            },
            Some(("settle", id)) => DisputeAction::Settle {
                lock_id: id.parse().map_err(|e| bad(&e))?,
            },
            Some(("claim", asset)) => DisputeAction::Claim {
                asset: asset.parse().map_err(|e| bad(&e))?,
            },
            _ => return Err(format!("{text:?} is not a dispute action")),
        })
    }
}

/// Where a dispute transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeTxStatus {
    /// The RPC accepted it; no receipt yet. While one is `Sent`, the node sends nothing else for the channel.
    Sent,
    Mined,
    Reverted,
    /// No receipt long after it was sent (dropped from the mempool): what it was for is decided afresh.
    Lost,
}

impl DisputeTxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeTxStatus::Sent => "sent",
            DisputeTxStatus::Mined => "mined",
            DisputeTxStatus::Reverted => "reverted",
            DisputeTxStatus::Lost => "lost",
        }
    }

    pub fn parse(text: &str) -> Option<DisputeTxStatus> {
        Some(match text {
            "sent" => DisputeTxStatus::Sent,
            "mined" => DisputeTxStatus::Mined,
            "reverted" => DisputeTxStatus::Reverted,
            "lost" => DisputeTxStatus::Lost,
            _ => return None,
        })
    }
}

/// One transaction the node sent in a dispute of one of its channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeTx {
    pub channel_id: B256,
    pub tx_hash: B256,
    pub action: DisputeAction,
    pub status: DisputeTxStatus,
    /// Local Unix seconds.
    pub sent_at: u64,
}

/// A dispute transaction seen in the mempool that froze one of the node's channels before it was mined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDisputeTx {
    pub channel_id: B256,
    pub tx_hash: B256,
    /// The nonce of the state it carries (0 for `disputeWithoutState`).
    pub nonce: u64,
    /// Local Unix seconds.
    pub seen_at: u64,
}
