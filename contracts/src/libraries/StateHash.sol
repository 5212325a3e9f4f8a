// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AssetState, ChannelState, WithdrawCommitment, Lock} from "../types/ChannelTypes.sol";

/// @title StateHash
/// @notice EIP-712 struct hashes of the Spoke messages, exactly as `docs/PROTOCOL.md` specifies them.
/// @dev Type hashes are the keccak256 of the type strings below; the Rust crate `spoke-protocol` computes the
///      same bytes (checked by `contract_parity`). Nothing here touches storage.
library StateHash {
    /// @dev keccak256("AssetState(address asset,uint256 balanceUser,uint256 balanceNode,uint256 countedUser,
    ///      uint256 countedNode,uint256 withdrawnUser,uint256 withdrawnNode,uint256 lockedUser,uint256 lockedNode)")
    bytes32 internal constant ASSET_STATE_TYPEHASH = keccak256(
        "AssetState(address asset,uint256 balanceUser,uint256 balanceNode,uint256 countedUser,uint256 countedNode,uint256 withdrawnUser,uint256 withdrawnNode,uint256 lockedUser,uint256 lockedNode)"
    );

    /// @dev The primary type followed by the referenced `AssetState` type, as EIP-712 requires.
    bytes32 internal constant CHANNEL_STATE_TYPEHASH = keccak256(
        "ChannelState(bytes32 channelId,uint64 nonce,AssetState[] assets,bytes32 locksRoot)AssetState(address asset,uint256 balanceUser,uint256 balanceNode,uint256 countedUser,uint256 countedNode,uint256 withdrawnUser,uint256 withdrawnNode,uint256 lockedUser,uint256 lockedNode)"
    );

    bytes32 internal constant WITHDRAW_COMMITMENT_TYPEHASH = keccak256(
        "WithdrawCommitment(bytes32 channelId,uint64 stateNonce,address asset,uint8 side,address recipient,uint256 cumulative)"
    );

    bytes32 internal constant LOCK_LEAF_TYPEHASH = keccak256(
        "LockLeaf(bytes32 channelId,bytes32 id,address asset,uint256 amount,uint8 sender,bytes32 hashlock,uint64 expiry)"
    );

    /// @dev Size of one ABI-encoded `AssetState` (nine static words).
    uint256 private constant ASSET_STATE_SIZE = 0x120;

    /// @notice hashStruct(ChannelState) = keccak256(abi.encode(CHANNEL_STATE_TYPEHASH, channelId, nonce,
    ///         keccak256(abi.encodePacked(hashStruct(assets[0]), ...)), locksRoot)).
    function hashState(ChannelState calldata state) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(CHANNEL_STATE_TYPEHASH, state.channelId, state.nonce, hashAssets(state.assets), state.locksRoot)
        );
    }

    /// @notice keccak256 of the concatenated struct hashes of `assets` (keccak256("") for none).
    /// @dev Each `AssetState` is nine static words in calldata; its struct hash is keccak256 of the type hash
    ///      followed by those words. The address word is masked so the hash is canonical even for dirty input
    ///      (the contract's own checks read the field through the ABI decoder, which rejects dirty bits).
    function hashAssets(AssetState[] calldata assets) internal pure returns (bytes32 result) {
        bytes32 typeHash = ASSET_STATE_TYPEHASH;
        assembly ("memory-safe") {
            let n := assets.length
            let hashes := mload(0x40)
            let scratch := add(hashes, shl(5, n))
            mstore(scratch, typeHash)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let src := add(assets.offset, mul(i, ASSET_STATE_SIZE))
                mstore(add(scratch, 0x20), and(calldataload(src), 0xffffffffffffffffffffffffffffffffffffffff))
                calldatacopy(add(scratch, 0x40), add(src, 0x20), 0x100)
                mstore(add(hashes, shl(5, i)), keccak256(scratch, 0x140))
            }
            result := keccak256(hashes, shl(5, n))
        }
    }

    /// @notice hashStruct(WithdrawCommitment).
    function hashCommitment(WithdrawCommitment calldata c) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(WITHDRAW_COMMITMENT_TYPEHASH, c.channelId, c.stateNonce, c.asset, c.side, c.recipient, c.cumulative)
        );
    }

    /// @notice hashStruct of the implicit nonce-0 state `{channelId, 0, [], 0}`.
    function hashEmptyState(bytes32 channelId) internal pure returns (bytes32) {
        return keccak256(abi.encode(CHANNEL_STATE_TYPEHASH, channelId, uint64(0), keccak256(""), bytes32(0)));
    }

    /// @notice A lock's Merkle leaf: keccak256(abi.encode(hashStruct(LockLeaf))), hashed twice so that no leaf is
    ///         ever a valid inner node of the tree.
    function lockLeaf(bytes32 channelId, Lock calldata lock) internal pure returns (bytes32) {
        bytes32 inner = keccak256(
            abi.encode(
                LOCK_LEAF_TYPEHASH, channelId, lock.id, lock.asset, lock.amount, lock.sender, lock.hashlock, lock.expiry
            )
        );
        return keccak256(abi.encode(inner));
    }
}
