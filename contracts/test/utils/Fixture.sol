// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "./Test.sol";
import {vm} from "./Vm.sol";
import {deployManager, deployDai} from "./Deploy.sol";
import {ChannelManager} from "../../src/ChannelManager.sol";
import {DevDai} from "../../src/DevDai.sol";
import {AssetState, ChannelState, WithdrawCommitment, Lock} from "../../src/types/ChannelTypes.sol";

/// @notice Shared fixture: one deployment allowing ETH and DevDai, a user and a node with known keys, and
///         builders for states, commitments, locks, signatures and Merkle trees.
abstract contract Fixture is Test {
    uint256 internal constant USER_KEY = 0xA11CE;
    uint256 internal constant NODE_KEY = 0xB0B;
    uint256 internal constant WINDOW = 1 days;
    uint256 internal constant T0 = 1_700_000_000;
    address internal constant ETH = address(0);
    uint8 internal constant USER = 0;
    uint8 internal constant NODE = 1;
    /// @dev secp256k1 group order.
    uint256 internal constant N =
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    ChannelManager internal cm;
    DevDai internal dai;
    address internal user;
    address internal node;
    address internal stranger = address(0x5742);

    function setUp() public virtual {
        vm.warp(T0);
        user = vm.addr(USER_KEY);
        node = vm.addr(NODE_KEY);
        vm.label(user, "user");
        vm.label(node, "node");
        dai = deployDai();
        cm = deployManager(WINDOW, _list(address(dai)));
        vm.deal(user, 1_000_000 ether);
        vm.deal(node, 1_000_000 ether);
        vm.deal(stranger, 1_000_000 ether);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Addresses and ids
    // ---------------------------------------------------------------------------------------------------------

    function _list(address a) internal pure returns (address[] memory l) {
        l = new address[](1);
        l[0] = a;
    }

    function _who(uint8 side) internal view returns (address) {
        return side == USER ? user : node;
    }

    function _id() internal view returns (bytes32) {
        return cm.channelId(user, node, cm.currentEpoch(user, node));
    }

    function _id(uint64 epoch) internal view returns (bytes32) {
        return cm.channelId(user, node, epoch);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Deposits
    // ---------------------------------------------------------------------------------------------------------

    function _depositEth(uint8 side, uint256 amount) internal {
        vm.prank(_who(side));
        cm.deposit{value: amount}(user, node, ETH, side, amount);
    }

    function _depositDai(uint8 side, uint256 amount) internal {
        address who = _who(side);
        dai.mint(who, amount);
        vm.prank(who);
        dai.approve(address(cm), type(uint256).max);
        vm.prank(who);
        cm.deposit(user, node, address(dai), side, amount);
    }

    // ---------------------------------------------------------------------------------------------------------
    // States
    // ---------------------------------------------------------------------------------------------------------

    /// @dev An asset entry with nothing withdrawn or locked.
    function _asset(address asset, uint256 balanceUser, uint256 balanceNode, uint256 countedUser, uint256 countedNode)
        internal
        pure
        returns (AssetState memory a)
    {
        a.asset = asset;
        a.balanceUser = balanceUser;
        a.balanceNode = balanceNode;
        a.countedUser = countedUser;
        a.countedNode = countedNode;
    }

    function _one(AssetState memory a) internal pure returns (AssetState[] memory l) {
        l = new AssetState[](1);
        l[0] = a;
    }

    function _two(AssetState memory a, AssetState memory b) internal pure returns (AssetState[] memory l) {
        l = new AssetState[](2);
        l[0] = a;
        l[1] = b;
    }

    function _state(bytes32 id, uint64 nonce, AssetState[] memory assets, bytes32 root)
        internal
        pure
        returns (ChannelState memory s)
    {
        s.channelId = id;
        s.nonce = nonce;
        s.assets = assets;
        s.locksRoot = root;
    }

    /// @dev The implicit nonce-0 state `{id, 0, [], 0}`.
    function _emptyState(bytes32 id) internal pure returns (ChannelState memory s) {
        s.channelId = id;
    }

    /// @dev A state of the current channel with one ETH entry.
    function _ethState(uint64 nonce, uint256 balanceUser, uint256 balanceNode, uint256 countedUser, uint256 countedNode)
        internal
        view
        returns (ChannelState memory)
    {
        return _state(_id(), nonce, _one(_asset(ETH, balanceUser, balanceNode, countedUser, countedNode)), 0);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Signatures
    // ---------------------------------------------------------------------------------------------------------

    function _sig(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _signState(ChannelManager m, ChannelState memory s)
        internal
        view
        returns (bytes memory userSig, bytes memory nodeSig)
    {
        bytes32 digest = m.stateDigest(s);
        return (_sig(USER_KEY, digest), _sig(NODE_KEY, digest));
    }

    function _signCommitment(ChannelManager m, WithdrawCommitment memory c)
        internal
        view
        returns (bytes memory userSig, bytes memory nodeSig)
    {
        bytes32 digest = m.commitmentDigest(c);
        return (_sig(USER_KEY, digest), _sig(NODE_KEY, digest));
    }

    function _commitment(uint64 epoch, uint64 stateNonce, address asset, uint8 side, address recipient, uint256 cum)
        internal
        view
        returns (WithdrawCommitment memory c)
    {
        c = WithdrawCommitment({
            channelId: _id(epoch),
            stateNonce: stateNonce,
            asset: asset,
            side: side,
            recipient: recipient,
            cumulative: cum
        });
    }

    /// @dev Signs and executes a commitment (sent by a stranger: anyone may submit it).
    function _withdraw(WithdrawCommitment memory c, uint64 epoch) internal {
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.prank(stranger);
        cm.withdraw(user, node, epoch, c, us, ns);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Disputes
    // ---------------------------------------------------------------------------------------------------------

    function _dispute(ChannelState memory s) internal {
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        cm.dispute(user, node, s, us, ns);
    }

    function _respond(ChannelState memory s) internal {
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(stranger);
        cm.respond(user, node, s, us, ns);
    }

    /// @dev Waits out the consensus window of the current dispute.
    function _warpToEnd() internal {
        vm.warp(cm.channel(_id()).consensusEnd);
    }

    function _disputeAndConclude(ChannelState memory s) internal {
        _dispute(s);
        _warpToEnd();
        cm.conclude(user, node, s);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Locks and Merkle trees (docs/PROTOCOL.md: sorted leaves, commutative keccak pairs, odd node carried up)
    // ---------------------------------------------------------------------------------------------------------

    function _lock(bytes32 id, address asset, uint256 amount, uint8 sender, bytes32 preimage, uint64 expiry)
        internal
        pure
        returns (Lock memory l)
    {
        l = Lock({
            id: id,
            asset: asset,
            amount: amount,
            sender: sender,
            hashlock: sha256(abi.encodePacked(preimage)),
            expiry: expiry
        });
    }

    function _hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }

    function _sorted(bytes32[] memory leaves) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](leaves.length);
        for (uint256 i; i < leaves.length; ++i) {
            out[i] = leaves[i];
        }
        for (uint256 i = 1; i < out.length; ++i) {
            bytes32 x = out[i];
            uint256 j = i;
            while (j > 0 && out[j - 1] > x) {
                out[j] = out[j - 1];
                --j;
            }
            out[j] = x;
        }
    }

    function _root(bytes32[] memory leaves) internal pure returns (bytes32) {
        if (leaves.length == 0) return bytes32(0);
        bytes32[] memory level = _sorted(leaves);
        while (level.length > 1) {
            level = _up(level);
        }
        return level[0];
    }

    /// @dev Proof for `leaf` (which must be among `leaves`).
    function _proof(bytes32[] memory leaves, bytes32 leaf) internal pure returns (bytes32[] memory proof) {
        bytes32[] memory level = _sorted(leaves);
        uint256 index = type(uint256).max;
        for (uint256 i; i < level.length; ++i) {
            if (level[i] == leaf) index = i;
        }
        require(index != type(uint256).max, "leaf not in tree");
        bytes32[] memory buffer = new bytes32[](64);
        uint256 n;
        while (level.length > 1) {
            uint256 sibling = index ^ 1;
            if (sibling < level.length) buffer[n++] = level[sibling];
            level = _up(level);
            index >>= 1;
        }
        proof = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            proof[i] = buffer[i];
        }
    }

    function _up(bytes32[] memory level) private pure returns (bytes32[] memory next) {
        next = new bytes32[]((level.length + 1) / 2);
        for (uint256 i; i < next.length; ++i) {
            uint256 l = 2 * i;
            next[i] = l + 1 < level.length ? _hashPair(level[l], level[l + 1]) : level[l];
        }
    }
}
