// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @notice One asset's entry in a channel state (see docs/PROTOCOL.md, "The state, field by field").
/// @dev Field order is part of the EIP-712 type string and therefore of every signature.
struct AssetState {
    address asset;
    uint256 balanceUser;
    uint256 balanceNode;
    uint256 countedUser;
    uint256 countedNode;
    uint256 withdrawnUser;
    uint256 withdrawnNode;
    uint256 lockedUser;
    uint256 lockedNode;
}

/// @notice A channel state as both parties sign it.
/// @dev `assets` is strictly ascending by address and holds at most `MAX_ASSETS` entries.
struct ChannelState {
    bytes32 channelId;
    uint64 nonce;
    AssetState[] assets;
    bytes32 locksRoot;
}

/// @notice A cooperative withdrawal both parties sign; `cumulative` is the side's total withdrawn amount
///         of `asset` in the state with nonce `stateNonce`.
struct WithdrawCommitment {
    bytes32 channelId;
    uint64 stateNonce;
    address asset;
    uint8 side;
    address recipient;
    uint256 cumulative;
}

/// @notice A hashlocked conditional payment; `sender` (a side) pays, the other side receives.
struct Lock {
    bytes32 id;
    address asset;
    uint256 amount;
    uint8 sender;
    bytes32 hashlock;
    uint64 expiry;
}

/// @notice Per-channel dispute record, one storage slot (64 + 64 + 40 + 8 bits).
/// @dev `status`: 0 Open, 1 Dispute, 2 Concluded.
struct Channel {
    uint64 minDisputeNonce;
    uint64 disputeNonce;
    uint40 consensusEnd;
    uint8 status;
}

/// @notice Per-(channel, asset) accounting as returned by `ledger()`.
/// @dev `held = depositUser + depositNode - withdrawnUser - withdrawnNode - paidOut`; a side is owed
///      `deposit + exit` once the channel concluded. `exitUser`/`exitNode` accumulate from the end of the consensus
///      window: balance - counted (at conclusion) + settled lock credits. Until conclusion the deposits are the
///      cumulative deposits of each side; a claim pays out of the claiming side's deposit first (lowering it) and
///      only the rest out of its exit (lowering the exit and raising `paidOut`).
struct Ledger {
    uint128 depositUser;
    uint128 depositNode;
    uint128 withdrawnUser;
    uint128 withdrawnNode;
    int128 exitUser;
    int128 exitNode;
    uint128 paidOut;
}

/// @dev Channel status values.
uint8 constant STATUS_OPEN = 0;
uint8 constant STATUS_DISPUTE = 1;
uint8 constant STATUS_CONCLUDED = 2;

/// @dev Sides.
uint8 constant SIDE_USER = 0;
uint8 constant SIDE_NODE = 1;
