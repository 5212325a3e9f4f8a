use alloy_primitives::{Address, Signature, B256, U256};
use serde::{Deserialize, Serialize};

use crate::types::Side;

/// A getter and a mutable getter choosing between a user field and a node field by [`Side`].
macro_rules! side_fields {
    ($get:ident, $get_mut:ident, $user:ident, $node:ident) => {
        #[doc = concat!("`", stringify!($user), "` or `", stringify!($node), "`.")]
        pub fn $get(&self, side: Side) -> U256 {
            match side {
                Side::User => self.$user,
                Side::Node => self.$node,
            }
        }

        #[doc = concat!("`", stringify!($user), "` or `", stringify!($node), "`, to change.")]
        pub fn $get_mut(&mut self, side: Side) -> &mut U256 {
            match side {
                Side::User => &mut self.$user,
                Side::Node => &mut self.$node,
            }
        }
    };
}

/// One asset's accounting inside a channel state. Field order and meaning match `AssetState` in docs/PROTOCOL.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssetState {
    pub asset: Address,
    pub balance_user: U256,
    pub balance_node: U256,
    pub counted_user: U256,
    pub counted_node: U256,
    pub withdrawn_user: U256,
    pub withdrawn_node: U256,
    pub locked_user: U256,
    pub locked_node: U256,
}

crate::json_struct!(
    AssetState,
    strict {
        asset: "asset",
        balance_user: "balanceUser",
        balance_node: "balanceNode",
        counted_user: "countedUser",
        counted_node: "countedNode",
        withdrawn_user: "withdrawnUser",
        withdrawn_node: "withdrawnNode",
        locked_user: "lockedUser",
        locked_node: "lockedNode",
    }
);

impl AssetState {
    /// An entry with every amount zero.
    pub fn empty(asset: Address) -> Self {
        AssetState {
            asset,
            balance_user: U256::ZERO,
            balance_node: U256::ZERO,
            counted_user: U256::ZERO,
            counted_node: U256::ZERO,
            withdrawn_user: U256::ZERO,
            withdrawn_node: U256::ZERO,
            locked_user: U256::ZERO,
            locked_node: U256::ZERO,
        }
    }

    side_fields!(balance, balance_mut, balance_user, balance_node);
    side_fields!(counted, counted_mut, counted_user, counted_node);
    side_fields!(withdrawn, withdrawn_mut, withdrawn_user, withdrawn_node);
    side_fields!(locked, locked_mut, locked_user, locked_node);
}

/// A hashlocked conditional payment inside a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lock {
    pub id: B256,
    pub asset: Address,
    pub amount: U256,
    /// The side that pays the lock; the other side receives it.
    pub sender: Side,
    /// `sha256(preimage)` of a 32-byte preimage.
    pub hashlock: B256,
    /// Unix seconds; on chain the receiver is paid only if the preimage was revealed before this time.
    pub expiry: u64,
}

crate::json_struct!(
    Lock,
    strict {
        id: "id",
        asset: "asset",
        amount: "amount",
        sender: "sender",
        hashlock: "hashlock",
        expiry: "expiry",
    }
);

impl Lock {
    pub fn receiver(&self) -> Side {
        self.sender.other()
    }
}

/// The state both sides sign. `locks` are the active locks, ascending by id; what is signed is their Merkle
/// root (see [`crate::locks_root`]), computed from them so the two can never disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelState {
    pub channel_id: B256,
    pub nonce: u64,
    /// Ascending by address, unique, at most [`crate::MAX_ASSETS`].
    pub assets: Vec<AssetState>,
    pub locks: Vec<Lock>,
}

crate::json_struct!(
    ChannelState,
    strict {
        channel_id: "channelId",
        nonce: "nonce",
        assets: "assets",
        locks: "locks",
    }
);

impl ChannelState {
    /// The implicit opening state (nonce 0): nothing counted, nothing locked.
    pub fn initial(channel_id: B256) -> Self {
        ChannelState {
            channel_id,
            nonce: 0,
            assets: Vec::new(),
            locks: Vec::new(),
        }
    }

    /// The entry for `asset`, if the channel has one.
    pub fn asset(&self, asset: Address) -> Option<&AssetState> {
        self.assets
            .binary_search_by(|a| a.asset.cmp(&asset))
            .ok()
            .map(|i| &self.assets[i])
    }

    /// The active lock with `id`, if any.
    pub fn lock(&self, id: B256) -> Option<&Lock> {
        self.locks
            .binary_search_by(|l| l.id.cmp(&id))
            .ok()
            .map(|i| &self.locks[i])
    }
}

/// A state with both signatures: what either side may take to the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedState {
    pub state: ChannelState,
    #[serde(with = "crate::signing::signature_hex")]
    pub user_signature: Signature,
    #[serde(with = "crate::signing::signature_hex")]
    pub node_signature: Signature,
}

crate::json_struct!(
    SignedState,
    strict {
        state: "state",
        user_signature: "userSignature",
        node_signature: "nodeSignature",
    }
);

/// Authorises the contract to pay `side`'s withdrawals up to `cumulative` in total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WithdrawCommitment {
    pub channel_id: B256,
    /// The nonce of the state that moved the amount into `withdrawn`.
    pub state_nonce: u64,
    pub asset: Address,
    pub side: Side,
    pub recipient: Address,
    pub cumulative: U256,
}

crate::json_struct!(
    WithdrawCommitment,
    strict {
        channel_id: "channelId",
        state_nonce: "stateNonce",
        asset: "asset",
        side: "side",
        recipient: "recipient",
        cumulative: "cumulative",
    }
);

/// A commitment with both signatures, ready for `ChannelManager.withdraw`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedCommitment {
    pub commitment: WithdrawCommitment,
    #[serde(with = "crate::signing::signature_hex")]
    pub user_signature: Signature,
    #[serde(with = "crate::signing::signature_hex")]
    pub node_signature: Signature,
}

crate::json_struct!(
    SignedCommitment,
    strict {
        commitment: "commitment",
        user_signature: "userSignature",
        node_signature: "nodeSignature",
    }
);

/// A firm offer by the node: the user gives `sell_amount` of `sell_asset` and receives `buy_amount` of
/// `buy_asset`, until `expiry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExchangeQuote {
    pub channel_id: B256,
    /// Chosen by the node so it can refuse a quote used twice.
    pub id: B256,
    pub sell_asset: Address,
    pub sell_amount: U256,
    pub buy_asset: Address,
    pub buy_amount: U256,
    pub expiry: u64,
}

crate::json_struct!(
    ExchangeQuote,
    strict {
        channel_id: "channelId",
        id: "id",
        sell_asset: "sellAsset",
        sell_amount: "sellAmount",
        buy_asset: "buyAsset",
        buy_amount: "buyAmount",
        expiry: "expiry",
    }
);

/// A change to a channel state. Every update raises the nonce by one (see "Updates" in docs/PROTOCOL.md).
///
/// On the wire an update is one object tagged by `kind`. It is read through [`UpdateFields`] rather than serde's
/// internally tagged enums, which buffer the object and lose the path of a bad value: this way an error names the
/// field (`update.asset: invalid string length`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Update {
    /// Counts `amount` more of `side`'s on-chain deposits into its balance.
    CountDeposit {
        asset: Address,
        side: Side,
        amount: U256,
    },
    /// Moves `lock.amount` from the sender's balance into a lock.
    CreateLock { lock: Lock },
    /// Pays a lock to its receiver against its preimage.
    ResolveLock { id: B256, preimage: B256 },
    /// Returns a lock to its sender.
    CancelLock { id: B256 },
    /// Moves `amount` of `side`'s balance into its cumulative withdrawn amount, for `recipient`.
    Withdraw {
        asset: Address,
        side: Side,
        amount: U256,
        recipient: Address,
    },
    /// Trades at a quote the node signed.
    Exchange {
        quote: ExchangeQuote,
        #[serde(with = "crate::signing::signature_hex")]
        node_signature: Signature,
    },
}

/// The kinds of [`Update`], as the wire spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
enum UpdateKind {
    CountDeposit,
    CreateLock,
    ResolveLock,
    CancelLock,
    Withdraw,
    Exchange,
}

/// Every field any update has: what an update object is read into before its kind says which belong to it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateFields {
    kind: UpdateKind,
    asset: Option<Address>,
    side: Option<Side>,
    amount: Option<U256>,
    lock: Option<Lock>,
    id: Option<B256>,
    preimage: Option<B256>,
    recipient: Option<Address>,
    quote: Option<ExchangeQuote>,
    #[serde(default, with = "crate::signing::signature_hex_option")]
    node_signature: Option<Signature>,
}

crate::json_enum!(UpdateKind {
    CountDeposit: "countDeposit",
    CreateLock: "createLock",
    ResolveLock: "resolveLock",
    CancelLock: "cancelLock",
    Withdraw: "withdraw",
    Exchange: "exchange",
});

crate::json_struct!(
    UpdateFields,
    strict {
        kind: "kind",
        asset: "asset",
        side: "side",
        amount: "amount",
        lock: "lock",
        id: "id",
        preimage: "preimage",
        recipient: "recipient",
        quote: "quote",
        node_signature: "nodeSignature",
    }
);

impl UpdateFields {
    /// The update its kind names, from the fields it has: serde's `Deserialize` and [`crate::json::FromJson`]
    /// both end here, so they refuse the same objects with the same messages.
    fn into_update(self) -> Result<Update, String> {
        let f = self;
        let name = match f.kind {
            UpdateKind::CountDeposit => "countDeposit",
            UpdateKind::CreateLock => "createLock",
            UpdateKind::ResolveLock => "resolveLock",
            UpdateKind::CancelLock => "cancelLock",
            UpdateKind::Withdraw => "withdraw",
            UpdateKind::Exchange => "exchange",
        };
        let given = [
            ("asset", f.asset.is_some()),
            ("side", f.side.is_some()),
            ("amount", f.amount.is_some()),
            ("lock", f.lock.is_some()),
            ("id", f.id.is_some()),
            ("preimage", f.preimage.is_some()),
            ("recipient", f.recipient.is_some()),
            ("quote", f.quote.is_some()),
            ("nodeSignature", f.node_signature.is_some()),
        ];
        let fields: &[&str] = match f.kind {
            UpdateKind::CountDeposit => &["asset", "side", "amount"],
            UpdateKind::CreateLock => &["lock"],
            UpdateKind::ResolveLock => &["id", "preimage"],
            UpdateKind::CancelLock => &["id"],
            UpdateKind::Withdraw => &["asset", "side", "amount", "recipient"],
            UpdateKind::Exchange => &["quote", "nodeSignature"],
        };
        if let Some((field, _)) = given.iter().find(|(f, set)| *set && !fields.contains(f)) {
            return Err(format!(
                "unknown field `{field}` in a {name} update, expected one of {fields:?}"
            ));
        }
        let missing = |field: &str| format!("missing field `{field}` in a {name} update");
        Ok(match f.kind {
            UpdateKind::CountDeposit => Update::CountDeposit {
                asset: f.asset.ok_or_else(|| missing("asset"))?,
                side: f.side.ok_or_else(|| missing("side"))?,
                amount: f.amount.ok_or_else(|| missing("amount"))?,
            },
            UpdateKind::CreateLock => Update::CreateLock {
                lock: f.lock.ok_or_else(|| missing("lock"))?,
            },
            UpdateKind::ResolveLock => Update::ResolveLock {
                id: f.id.ok_or_else(|| missing("id"))?,
                preimage: f.preimage.ok_or_else(|| missing("preimage"))?,
            },
            UpdateKind::CancelLock => Update::CancelLock {
                id: f.id.ok_or_else(|| missing("id"))?,
            },
            UpdateKind::Withdraw => Update::Withdraw {
                asset: f.asset.ok_or_else(|| missing("asset"))?,
                side: f.side.ok_or_else(|| missing("side"))?,
                amount: f.amount.ok_or_else(|| missing("amount"))?,
                recipient: f.recipient.ok_or_else(|| missing("recipient"))?,
            },
            UpdateKind::Exchange => Update::Exchange {
                quote: f.quote.ok_or_else(|| missing("quote"))?,
                node_signature: f.node_signature.ok_or_else(|| missing("nodeSignature"))?,
            },
        })
    }
}

impl<'de> Deserialize<'de> for Update {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        UpdateFields::deserialize(deserializer)?
            .into_update()
            .map_err(serde::de::Error::custom)
    }
}

impl crate::json::FromJson for Update {
    fn from_json(value: &crate::json::Value) -> Result<Self, crate::json::JsonError> {
        UpdateFields::from_json(value)?
            .into_update()
            .map_err(crate::json::JsonError::new)
    }
}

impl Update {
    /// The withdrawal commitment both sides sign together with the state this update produced, if it is a
    /// withdrawal.
    pub fn commitment(&self, new_state: &ChannelState) -> Option<WithdrawCommitment> {
        let Update::Withdraw {
            asset,
            side,
            recipient,
            ..
        } = self
        else {
            return None;
        };
        let entry = new_state.asset(*asset)?;
        Some(WithdrawCommitment {
            channel_id: new_state.channel_id,
            state_nonce: new_state.nonce,
            asset: *asset,
            side: *side,
            recipient: *recipient,
            cumulative: entry.withdrawn(*side),
        })
    }
}
