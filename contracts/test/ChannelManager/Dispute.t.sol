// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {vm} from "../utils/Vm.sol";
import {IChannelManager} from "../../src/interfaces/IChannelManager.sol";
import {AssetState, ChannelState, Channel} from "../../src/types/ChannelTypes.sol";
import {StateHash} from "../../src/libraries/StateHash.sol";

/// @notice dispute, disputeWithoutState and respond.
contract DisputeTest is Fixture {
    function setUp() public override {
        super.setUp();
        _depositEth(USER, 10 ether);
        _depositEth(NODE, 10 ether);
    }

    function _sigsAndDispute(ChannelState memory s, address by) internal {
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(by);
        cm.dispute(user, node, s, us, ns);
    }

    // ---------------------------------------------------------------------------------------------------------
    // dispute
    // ---------------------------------------------------------------------------------------------------------

    function test_dispute_recordsState() public {
        ChannelState memory s = _ethState(5, 12 ether, 8 ether, 10 ether, 10 ether);
        s.locksRoot = keccak256("root");
        vm.expectEmit(address(cm));
        emit IChannelManager.Disputed(_id(), 5, uint64(T0 + WINDOW), node);
        _sigsAndDispute(s, node);
        Channel memory ch = cm.channel(_id());
        assertEq(ch.status, 1, "status");
        assertEq(ch.disputeNonce, 5, "nonce");
        assertEq(ch.consensusEnd, T0 + WINDOW, "end");
        assertEq(cm.stateHash(_id()), cm.hashState(s), "struct hash stored");
        assertEq(cm.locksRoot(_id()), s.locksRoot, "root");
    }

    function test_dispute_revertsNonParticipant() public {
        ChannelState memory s = _ethState(1, 10 ether, 10 ether, 10 ether, 10 ether);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NotParticipant.selector, stranger));
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_revertsWhenAlreadyInDispute() public {
        ChannelState memory s = _ethState(1, 10 ether, 10 ether, 10 ether, 10 ether);
        _dispute(s);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        bytes memory expected = abi.encodeWithSelector(IChannelManager.WrongStatus.selector, _id(), uint8(1));
        vm.prank(node);
        vm.expectRevert(expected);
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_revertsBelowMinDisputeNonce() public {
        _withdraw(_commitment(0, 7, ETH, USER, user, 1 ether), 0);
        ChannelState memory s = _ethState(6, 10 ether, 10 ether, 10 ether, 10 ether);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NonceBelowMinimum.selector, 6, 7));
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_atMinDisputeNonceAccepted() public {
        _withdraw(_commitment(0, 7, ETH, USER, user, 1 ether), 0);
        ChannelState memory s = _ethState(7, 9 ether, 10 ether, 10 ether, 10 ether);
        s.assets[0].withdrawnUser = 1 ether;
        _dispute(s);
        assertEq(cm.channel(_id()).disputeNonce, 7, "accepted");
    }

    function test_dispute_revertsWrongChannel() public {
        ChannelState memory s = _ethState(1, 10 ether, 10 ether, 10 ether, 10 ether);
        s.channelId = _id(1);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        bytes memory expected = abi.encodeWithSelector(IChannelManager.WrongChannel.selector, _id(0), _id(1));
        vm.prank(user);
        vm.expectRevert(expected);
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_revertsInvalidParticipants() public {
        ChannelState memory s = _ethState(1, 10 ether, 10 ether, 10 ether, 10 ether);
        vm.prank(user);
        vm.expectPartialRevert(IChannelManager.InvalidParticipants.selector);
        cm.dispute(user, user, s, "", "");
    }

    function test_dispute_revertsTooManyAssets() public {
        AssetState[] memory assets = new AssetState[](9);
        for (uint256 i; i < 9; ++i) {
            assets[i].asset = address(uint160(i));
        }
        ChannelState memory s = _state(_id(), 1, assets, 0);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.TooManyAssets.selector, 9));
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_revertsDuplicateAsset() public {
        ChannelState memory s = _state(_id(), 1, _two(_asset(ETH, 0, 0, 0, 0), _asset(ETH, 0, 0, 0, 0)), 0);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.AssetsNotSorted.selector, 1));
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_revertsDescendingAssets() public {
        ChannelState memory s =
            _state(_id(), 1, _two(_asset(address(dai), 0, 0, 0, 0), _asset(ETH, 0, 0, 0, 0)), 0);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.AssetsNotSorted.selector, 1));
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_revertsAssetNotAllowed() public {
        address bogus = address(0xDEAD);
        ChannelState memory s = _state(_id(), 1, _one(_asset(bogus, 0, 0, 0, 0)), 0);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.AssetNotAllowed.selector, bogus));
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_revertsAmountAbove128Bits() public {
        uint256 big = uint256(type(uint128).max) + 1;
        ChannelState memory s = _ethState(1, 10 ether, 10 ether, 10 ether, 10 ether);
        s.assets[0].lockedNode = big;
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.AmountTooLarge.selector, big));
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_revertsNotConserved() public {
        ChannelState memory s = _ethState(1, 11 ether, 10 ether, 10 ether, 10 ether);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NotConserved.selector, ETH));
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_revertsCountedUserAboveDeposit() public {
        ChannelState memory s = _ethState(1, 11 ether, 10 ether, 11 ether, 10 ether);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        vm.expectRevert(
            abi.encodeWithSelector(IChannelManager.CountedExceedsDeposit.selector, ETH, 0, 11 ether, 10 ether)
        );
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_revertsCountedNodeAboveDeposit() public {
        ChannelState memory s = _ethState(1, 10 ether, 12 ether, 10 ether, 12 ether);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        vm.expectRevert(
            abi.encodeWithSelector(IChannelManager.CountedExceedsDeposit.selector, ETH, 1, 12 ether, 10 ether)
        );
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_revertsExitBeyondInt128() public {
        // Conserving and within 128 bits, but balanceUser - countedUser does not fit int128.
        uint256 big = uint256(uint128(type(int128).max)) + 1;
        _depositDai(NODE, big);
        ChannelState memory s = _state(_id(), 1, _one(_asset(address(dai), big, 0, 0, big)), 0);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        vm.expectPartialRevert(IChannelManager.AmountTooLarge.selector);
        cm.dispute(user, node, s, us, ns);
    }

    function test_dispute_revertsUnsignedByNode() public {
        ChannelState memory s = _ethState(1, 10 ether, 10 ether, 10 ether, 10 ether);
        bytes32 digest = cm.stateDigest(s);
        bytes memory us = _sig(USER_KEY, digest);
        bytes memory fake = _sig(0xBAD, digest);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidSignature.selector, node, vm.addr(0xBAD)));
        cm.dispute(user, node, s, us, fake);
    }

    function test_dispute_twoAssetsAndEmptyStateHashes() public {
        _depositDai(USER, 5e18);
        ChannelState memory s = _state(
            _id(), 2, _two(_asset(ETH, 10 ether, 10 ether, 10 ether, 10 ether), _asset(address(dai), 5e18, 0, 5e18, 0)), 0
        );
        _dispute(s);
        assertEq(cm.stateHash(_id()), cm.hashState(s), "two assets");
        assertEq(cm.locksRoot(_id()), bytes32(0), "no root written");
    }

    // ---------------------------------------------------------------------------------------------------------
    // disputeWithoutState
    // ---------------------------------------------------------------------------------------------------------

    function test_disputeWithoutState_storesEmptyState() public {
        vm.prank(node);
        cm.disputeWithoutState(user, node);
        Channel memory ch = cm.channel(_id());
        assertEq(ch.status, 1, "dispute");
        assertEq(ch.disputeNonce, 0, "nonce 0");
        assertEq(cm.stateHash(_id()), cm.hashState(_emptyState(_id())), "empty state");
        assertEq(cm.stateHash(_id()), StateHash.hashEmptyState(_id()), "library agrees");
    }

    function test_disputeWithoutState_refundsEveryDeposit() public {
        vm.prank(user);
        cm.disputeWithoutState(user, node);
        _warpToEnd();
        cm.conclude(user, node, _emptyState(_id()));
        uint256 u = user.balance;
        uint256 n = node.balance;
        cm.claim(user, node, 0, ETH, USER);
        cm.claim(user, node, 0, ETH, NODE);
        assertEq(user.balance - u, 10 ether, "user refund");
        assertEq(node.balance - n, 10 ether, "node refund");
    }

    function test_disputeWithoutState_revertsNonParticipant() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NotParticipant.selector, stranger));
        cm.disputeWithoutState(user, node);
    }

    function test_disputeWithoutState_revertsAfterWithdrawal() public {
        _withdraw(_commitment(0, 1, ETH, USER, user, 1 ether), 0);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NonceBelowMinimum.selector, 0, 1));
        cm.disputeWithoutState(user, node);
    }

    function test_disputeWithoutState_revertsInDispute() public {
        vm.prank(user);
        cm.disputeWithoutState(user, node);
        bytes memory expected = abi.encodeWithSelector(IChannelManager.WrongStatus.selector, _id(), uint8(1));
        vm.prank(node);
        vm.expectRevert(expected);
        cm.disputeWithoutState(user, node);
    }

    // ---------------------------------------------------------------------------------------------------------
    // respond
    // ---------------------------------------------------------------------------------------------------------

    function test_respond_byAnyoneReplacesState() public {
        _dispute(_ethState(1, 10 ether, 10 ether, 10 ether, 10 ether));
        ChannelState memory newer = _ethState(4, 6 ether, 14 ether, 10 ether, 10 ether);
        newer.locksRoot = keccak256("r");
        vm.expectEmit(address(cm));
        emit IChannelManager.Responded(_id(), 4, stranger);
        _respond(newer);
        Channel memory ch = cm.channel(_id());
        assertEq(ch.disputeNonce, 4, "nonce");
        assertEq(ch.consensusEnd, T0 + WINDOW, "window not extended");
        assertEq(cm.stateHash(_id()), cm.hashState(newer), "hash");
        assertEq(cm.locksRoot(_id()), newer.locksRoot, "root");
    }

    function test_respond_clearsLocksRoot() public {
        ChannelState memory s = _ethState(1, 10 ether, 10 ether, 10 ether, 10 ether);
        s.locksRoot = keccak256("r");
        _dispute(s);
        _respond(_ethState(2, 10 ether, 10 ether, 10 ether, 10 ether));
        assertEq(cm.locksRoot(_id()), bytes32(0), "cleared");
    }

    function test_respond_revertsSameNonce() public {
        ChannelState memory s = _ethState(3, 10 ether, 10 ether, 10 ether, 10 ether);
        _dispute(s);
        ChannelState memory other = _ethState(3, 9 ether, 11 ether, 10 ether, 10 ether);
        (bytes memory us, bytes memory ns) = _signState(cm, other);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NonceNotNewer.selector, 3, 3));
        cm.respond(user, node, other, us, ns);
    }

    function test_respond_revertsOlderNonce() public {
        _dispute(_ethState(3, 10 ether, 10 ether, 10 ether, 10 ether));
        ChannelState memory old = _ethState(2, 9 ether, 11 ether, 10 ether, 10 ether);
        (bytes memory us, bytes memory ns) = _signState(cm, old);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NonceNotNewer.selector, 2, 3));
        cm.respond(user, node, old, us, ns);
    }

    function test_respond_atConsensusEndMinusOneAccepted() public {
        _dispute(_ethState(1, 10 ether, 10 ether, 10 ether, 10 ether));
        vm.warp(T0 + WINDOW - 1);
        _respond(_ethState(2, 9 ether, 11 ether, 10 ether, 10 ether));
        assertEq(cm.channel(_id()).disputeNonce, 2, "accepted at end - 1");
    }

    function test_respond_atConsensusEndReverts() public {
        _dispute(_ethState(1, 10 ether, 10 ether, 10 ether, 10 ether));
        vm.warp(T0 + WINDOW);
        ChannelState memory s = _ethState(2, 9 ether, 11 ether, 10 ether, 10 ether);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.ConsensusWindowClosed.selector, T0 + WINDOW));
        cm.respond(user, node, s, us, ns);
    }

    function test_respond_revertsWhenOpen() public {
        ChannelState memory s = _ethState(2, 9 ether, 11 ether, 10 ether, 10 ether);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.WrongStatus.selector, _id(), uint8(0)));
        cm.respond(user, node, s, us, ns);
    }

    function test_respond_revertsInvalidState() public {
        _dispute(_ethState(1, 10 ether, 10 ether, 10 ether, 10 ether));
        ChannelState memory s = _ethState(2, 10 ether, 11 ether, 10 ether, 11 ether); // counts 11 of 10
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.expectPartialRevert(IChannelManager.CountedExceedsDeposit.selector);
        cm.respond(user, node, s, us, ns);
    }

    function test_respond_revertsBadSignature() public {
        _dispute(_ethState(1, 10 ether, 10 ether, 10 ether, 10 ether));
        ChannelState memory s = _ethState(2, 9 ether, 11 ether, 10 ether, 10 ether);
        (bytes memory us,) = _signState(cm, s);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidSignature.selector, node, user));
        cm.respond(user, node, s, us, us);
    }

    function test_respond_afterDisputeWithoutState() public {
        vm.prank(user);
        cm.disputeWithoutState(user, node);
        _respond(_ethState(1, 10 ether, 10 ether, 10 ether, 10 ether));
        assertEq(cm.channel(_id()).disputeNonce, 1, "replaced the implicit state");
    }
}
