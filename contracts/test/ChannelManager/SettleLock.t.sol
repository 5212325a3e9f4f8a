// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {vm} from "../utils/Vm.sol";
import {IChannelManager} from "../../src/interfaces/IChannelManager.sol";
import {ChannelState, Lock} from "../../src/types/ChannelTypes.sol";

/// @notice reveal / revealMany and settleLock.
contract SettleLockTest is Fixture {
    bytes32 internal constant P1 = keccak256("preimage 1");
    bytes32 internal constant P2 = keccak256("preimage 2");
    bytes32 internal constant P3 = keccak256("preimage 3");
    uint64 internal expiry;

    Lock internal toNode; // user pays node 2 ETH
    Lock internal toUser; // node pays user 1 ETH
    Lock internal third; // user pays node 0.5 ETH
    bytes32[] internal leaves;

    function setUp() public override {
        super.setUp();
        _depositEth(USER, 10 ether);
        _depositEth(NODE, 10 ether);
        expiry = uint64(T0 + 2 days);
        bytes32 id = _id();
        toNode = _lock(keccak256("l1"), ETH, 2 ether, USER, P1, expiry);
        toUser = _lock(keccak256("l2"), ETH, 1 ether, NODE, P2, expiry);
        third = _lock(keccak256("l3"), ETH, 0.5 ether, USER, P3, expiry + 1 days);
        leaves.push(cm.lockLeaf(id, toNode));
        leaves.push(cm.lockLeaf(id, toUser));
        leaves.push(cm.lockLeaf(id, third));
        _dispute(_s());
    }

    /// @dev The disputed state: three active locks.
    function _s() internal view returns (ChannelState memory st) {
        st = _state(_id(0), 4, _one(_asset(ETH, 7.5 ether, 9 ether, 10 ether, 10 ether)), _root(leaves));
        st.assets[0].lockedUser = 2.5 ether;
        st.assets[0].lockedNode = 1 ether;
    }

    function _settle(Lock memory l) internal {
        cm.settleLock(user, node, 0, l, _proof(leaves, cm.lockLeaf(_id(0), l)));
    }

    // ---------------------------------------------------------------------------------------------------------
    // Secret registry
    // ---------------------------------------------------------------------------------------------------------

    function test_reveal_recordsFirstTimeOnly() public {
        bytes32 h = sha256(abi.encodePacked(P1));
        vm.expectEmit(address(cm));
        emit IChannelManager.Revealed(h, P1);
        cm.reveal(P1);
        assertEq(cm.revealedAt(h), T0, "recorded");
        vm.warp(T0 + 100);
        vm.recordLogs();
        cm.reveal(P1);
        assertEq(vm.getRecordedLogs().length, 0, "no second event");
        assertEq(cm.revealedAt(h), T0, "first time kept");
    }

    function test_revealMany_recordsEach() public {
        bytes32[] memory ps = new bytes32[](3);
        ps[0] = P1;
        ps[1] = P2;
        ps[2] = P1;
        cm.revealMany(ps);
        assertEq(cm.revealedAt(sha256(abi.encodePacked(P1))), T0, "p1");
        assertEq(cm.revealedAt(sha256(abi.encodePacked(P2))), T0, "p2");
        assertEq(cm.revealedAt(sha256(abi.encodePacked(P3))), 0, "p3 not");
    }

    function test_reveal_usesSha256() public {
        cm.reveal(P1);
        assertEq(cm.revealedAt(keccak256(abi.encodePacked(P1))), 0, "not keccak");
        assertEq(cm.revealedAt(toNode.hashlock), T0, "the lock's hashlock");
    }

    // ---------------------------------------------------------------------------------------------------------
    // settleLock
    // ---------------------------------------------------------------------------------------------------------

    function test_settleLock_revealBeforeExpiryPaysReceiver() public {
        vm.warp(expiry - 1);
        cm.reveal(P1);
        _warpToEnd();
        vm.expectEmit(address(cm));
        emit IChannelManager.LockSettled(_id(0), toNode.id, ETH, NODE, 2 ether);
        _settle(toNode);
        assertEq(cm.ledger(_id(0), ETH).exitNode, 2 ether, "node credited");
    }

    function test_settleLock_revealAtExpiryPaysSender() public {
        vm.warp(expiry);
        cm.reveal(P1);
        _settle(toNode);
        assertEq(cm.ledger(_id(0), ETH).exitUser, 2 ether, "back to the sender");
        assertEq(cm.ledger(_id(0), ETH).exitNode, 0, "receiver nothing");
    }

    function test_settleLock_revealAfterExpiryPaysSender() public {
        vm.warp(expiry + 1 hours);
        cm.reveal(P1);
        _settle(toNode);
        assertEq(cm.ledger(_id(0), ETH).exitUser, 2 ether, "late reveal does not count");
    }

    function test_settleLock_senderBeforeExpiryReverts() public {
        _warpToEnd(); // T0 + 1 day < expiry
        bytes32[] memory proof = _proof(leaves, cm.lockLeaf(_id(0), toNode));
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.LockNotExpired.selector, expiry));
        cm.settleLock(user, node, 0, toNode, proof);
    }

    function test_settleLock_beforeConsensusEndReverts() public {
        vm.warp(T0 + WINDOW - 1);
        cm.reveal(P1);
        bytes32[] memory proof = _proof(leaves, cm.lockLeaf(_id(0), toNode));
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.ConsensusWindowOpen.selector, T0 + WINDOW));
        cm.settleLock(user, node, 0, toNode, proof);
    }

    function test_settleLock_onOpenChannelReverts() public {
        bytes32[] memory proof = new bytes32[](0);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.WrongStatus.selector, _id(1), uint8(0)));
        cm.settleLock(user, node, 1, toNode, proof);
    }

    function test_settleLock_twiceReverts() public {
        cm.reveal(P2);
        _warpToEnd();
        _settle(toUser);
        bytes32 leaf = cm.lockLeaf(_id(0), toUser);
        bytes32[] memory proof = _proof(leaves, leaf);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.LockAlreadySettled.selector, leaf));
        cm.settleLock(user, node, 0, toUser, proof);
        assertEq(cm.ledger(_id(0), ETH).exitUser, 1 ether, "credited once");
        assertTrue(cm.lockSettled(leaf), "marked");
    }

    function test_settleLock_twiceAfterConclusionReverts() public {
        cm.reveal(P2);
        _warpToEnd();
        _settle(toUser);
        cm.conclude(user, node, _s());
        bytes32 leaf = cm.lockLeaf(_id(0), toUser);
        bytes32[] memory proof = _proof(leaves, leaf);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.LockAlreadySettled.selector, leaf));
        cm.settleLock(user, node, 0, toUser, proof);
    }

    function test_settleLock_invalidProofReverts() public {
        cm.reveal(P1);
        _warpToEnd();
        Lock memory forged = toNode;
        forged.amount = 9 ether;
        bytes32 leaf = cm.lockLeaf(_id(0), forged);
        bytes32[] memory proof = _proof(leaves, cm.lockLeaf(_id(0), toNode));
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidLockProof.selector, leaf));
        cm.settleLock(user, node, 0, forged, proof);
    }

    function test_settleLock_innerNodeIsNoLeaf() public {
        // The sorted pair's parent is an inner node; no Lock hashes to it, and a proof from one level up fails.
        _warpToEnd();
        bytes32[] memory proof = new bytes32[](0);
        vm.expectPartialRevert(IChannelManager.InvalidLockProof.selector);
        cm.settleLock(user, node, 0, toNode, proof);
    }

    function test_settleLock_withoutLocksRootReverts() public {
        ChannelState memory none = _s();
        none.nonce = 5;
        none.locksRoot = bytes32(0);
        none.assets[0].balanceUser = 10 ether;
        none.assets[0].balanceNode = 10 ether;
        none.assets[0].lockedUser = 0;
        none.assets[0].lockedNode = 0;
        _respond(none);
        assertEq(cm.locksRoot(_id(0)), bytes32(0), "root cleared");
        cm.reveal(P1);
        _warpToEnd();
        bytes32 leaf = cm.lockLeaf(_id(0), toNode);
        bytes32[] memory proof = _proof(leaves, leaf);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidLockProof.selector, leaf));
        cm.settleLock(user, node, 0, toNode, proof);
    }

    function test_settleLock_allLocksThenClaimsConserve() public {
        vm.warp(T0 + 1 hours);
        cm.reveal(P1); // user -> node lock resolves to the node
        vm.warp(expiry + 1 days); // every lock expired; P2, P3 never revealed
        _settle(toNode);
        _settle(toUser);
        _settle(third);
        cm.conclude(user, node, _s());
        uint256 u = user.balance;
        uint256 n = node.balance;
        cm.claim(user, node, 0, ETH, USER);
        cm.claim(user, node, 0, ETH, NODE);
        // user: 7.5 + 0.5 (own lock back); node: 9 + 1 (own lock back) + 2 (resolved)
        assertEq(user.balance - u, 8 ether, "user");
        assertEq(node.balance - n, 12 ether, "node");
        assertEq(cm.held(_id(0), ETH), 0, "conserved");
    }

    function test_settleLock_revertsInvalidSender() public {
        _warpToEnd();
        Lock memory l = toNode;
        l.sender = 2;
        bytes32[] memory proof = new bytes32[](0);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidSide.selector, uint8(2)));
        cm.settleLock(user, node, 0, l, proof);
    }

    function test_settleLock_revertsAmountTooLarge() public {
        _warpToEnd();
        Lock memory l = toNode;
        l.amount = uint256(type(uint128).max) + 1;
        bytes32[] memory proof = new bytes32[](0);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.AmountTooLarge.selector, l.amount));
        cm.settleLock(user, node, 0, l, proof);
    }

    function test_settleLock_revertsAssetNotAllowed() public {
        _warpToEnd();
        Lock memory l = toNode;
        l.asset = address(0xDEAD);
        bytes32[] memory proof = new bytes32[](0);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.AssetNotAllowed.selector, address(0xDEAD)));
        cm.settleLock(user, node, 0, l, proof);
    }
}
