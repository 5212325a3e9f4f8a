// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {vm} from "../utils/Vm.sol";
import {IChannelManager} from "../../src/interfaces/IChannelManager.sol";
import {ChannelState, Channel, Ledger} from "../../src/types/ChannelTypes.sol";

/// @notice conclude and claim.
contract ConcludeClaimTest is Fixture {
    function setUp() public override {
        super.setUp();
        _depositEth(USER, 10 ether);
        _depositEth(NODE, 10 ether);
        _depositDai(USER, 100e18);
    }

    /// @dev The user has paid the node 3 ETH and 40 DAI (epoch 0, nonce 7).
    function _s() internal view returns (ChannelState memory) {
        return _state(
            _id(0),
            7,
            _two(_asset(ETH, 7 ether, 13 ether, 10 ether, 10 ether), _asset(address(dai), 60e18, 40e18, 100e18, 0)),
            0
        );
    }

    // ---------------------------------------------------------------------------------------------------------
    // conclude
    // ---------------------------------------------------------------------------------------------------------

    function test_conclude_atConsensusEndMinusOneReverts() public {
        ChannelState memory s = _s();
        _dispute(s);
        vm.warp(T0 + WINDOW - 1);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.ConsensusWindowOpen.selector, T0 + WINDOW));
        cm.conclude(user, node, s);
    }

    function test_conclude_atConsensusEndSucceeds() public {
        ChannelState memory s = _s();
        bytes32 id = _id();
        _dispute(s);
        vm.warp(T0 + WINDOW);
        vm.expectEmit(address(cm));
        emit IChannelManager.Concluded(id, 7, 1);
        vm.prank(stranger);
        cm.conclude(user, node, s);
        Channel memory ch = cm.channel(id);
        assertEq(ch.status, 2, "concluded");
        assertEq(ch.disputeNonce, 7, "final nonce kept");
        assertEq(cm.currentEpoch(user, node), 1, "next epoch");
        assertEq(cm.stateHash(id), bytes32(0), "hash cleared");
        Ledger memory eth = cm.ledger(id, ETH);
        assertEq(eth.exitUser, -3 ether, "user exit");
        assertEq(eth.exitNode, 3 ether, "node exit");
        Ledger memory d = cm.ledger(id, address(dai));
        assertEq(d.exitUser, -40e18, "user dai exit");
        assertEq(d.exitNode, 40e18, "node dai exit");
    }

    function test_conclude_revertsStateMismatch() public {
        ChannelState memory s = _s();
        _dispute(s);
        _warpToEnd();
        ChannelState memory other = _s();
        other.assets[0].balanceUser += 1;
        bytes32 stored = cm.stateHash(_id());
        bytes32 given = cm.hashState(other);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.StateMismatch.selector, stored, given));
        cm.conclude(user, node, other);
    }

    function test_conclude_revertsOlderStateThanResponse() public {
        ChannelState memory s = _s();
        _dispute(s);
        ChannelState memory newer = _s();
        newer.nonce = 8;
        _respond(newer);
        _warpToEnd();
        vm.expectPartialRevert(IChannelManager.StateMismatch.selector);
        cm.conclude(user, node, s);
        cm.conclude(user, node, newer);
    }

    function test_conclude_revertsWhenOpen() public {
        ChannelState memory s = _s();
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.WrongStatus.selector, _id(), uint8(0)));
        cm.conclude(user, node, s);
    }

    function test_conclude_twiceHitsTheNextChannel() public {
        ChannelState memory s = _s();
        _disputeAndConclude(s);
        // The pair's current channel is now epoch 1, which is open.
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.WrongStatus.selector, _id(1), uint8(0)));
        cm.conclude(user, node, s);
    }

    function test_conclude_emptyStateAfterDisputeWithoutState() public {
        ChannelState memory s = _s();
        vm.prank(node);
        cm.disputeWithoutState(user, node);
        _warpToEnd();
        vm.expectPartialRevert(IChannelManager.StateMismatch.selector);
        cm.conclude(user, node, s);
        cm.conclude(user, node, _emptyState(_id()));
        assertEq(cm.channel(_id(0)).status, 2, "concluded");
    }

    // ---------------------------------------------------------------------------------------------------------
    // claim
    // ---------------------------------------------------------------------------------------------------------

    function test_claim_paysBalancesOfFinalState() public {
        ChannelState memory s = _s();
        _disputeAndConclude(s);
        uint256 u = user.balance;
        uint256 n = node.balance;
        vm.prank(stranger);
        cm.claim(user, node, 0, ETH, USER);
        cm.claim(user, node, 0, ETH, NODE);
        cm.claim(user, node, 0, address(dai), USER);
        cm.claim(user, node, 0, address(dai), NODE);
        assertEq(user.balance - u, 7 ether, "user eth");
        assertEq(node.balance - n, 13 ether, "node eth");
        assertEq(dai.balanceOf(user), 60e18, "user dai");
        assertEq(dai.balanceOf(node), 40e18, "node dai");
        assertEq(cm.held(_id(0), ETH), 0, "eth empty");
        assertEq(cm.held(_id(0), address(dai)), 0, "dai empty");
        assertEq(address(cm).balance, 0, "contract eth");
    }

    function test_claim_emitsClaimed() public {
        ChannelState memory s = _s();
        _disputeAndConclude(s);
        vm.expectEmit(address(cm));
        emit IChannelManager.Claimed(_id(0), ETH, NODE, node, 13 ether);
        cm.claim(user, node, 0, ETH, NODE);
    }

    function test_claim_includesUncountedDeposits() public {
        ChannelState memory s = _s();
        _dispute(s);
        _depositEth(USER, 1 ether); // during the dispute
        _warpToEnd();
        cm.conclude(user, node, s);
        uint256 u = user.balance;
        cm.claim(user, node, 0, ETH, USER);
        assertEq(user.balance - u, 8 ether, "balance + uncounted");
    }

    function test_claim_secondClaimRevertsNothingToClaim() public {
        ChannelState memory s = _s();
        _disputeAndConclude(s);
        cm.claim(user, node, 0, ETH, USER);
        vm.expectRevert(IChannelManager.NothingToClaim.selector);
        cm.claim(user, node, 0, ETH, USER);
    }

    function test_claim_revertsWhenNothingOwed() public {
        ChannelState memory all = _ethState(1, 0, 20 ether, 10 ether, 10 ether);
        _disputeAndConclude(all);
        vm.expectRevert(IChannelManager.NothingToClaim.selector);
        cm.claim(user, node, 0, ETH, USER);
    }

    function test_claim_revertsBeforeConclusion() public {
        ChannelState memory s = _s();
        _dispute(s);
        _warpToEnd();
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.WrongStatus.selector, _id(0), uint8(1)));
        cm.claim(user, node, 0, ETH, USER);
    }

    function test_claim_revertsInvalidSide() public {
        ChannelState memory s = _s();
        _disputeAndConclude(s);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidSide.selector, uint8(2)));
        cm.claim(user, node, 0, ETH, 2);
    }

    function test_claim_unexecutedWithdrawalStaysExecutable() public {
        ChannelState memory w = _ethState(9, 7 ether, 10 ether, 10 ether, 10 ether);
        w.assets[0].withdrawnNode = 3 ether;
        _disputeAndConclude(w);
        cm.claim(user, node, 0, ETH, USER);
        cm.claim(user, node, 0, ETH, NODE);
        assertEq(cm.held(_id(0), ETH), 3 ether, "the withdrawal's amount stays");
        _withdraw(_commitment(0, 9, ETH, NODE, address(0xFEE), 3 ether), 0);
        assertEq(address(0xFEE).balance, 3 ether, "executed after the claims");
        assertEq(cm.held(_id(0), ETH), 0, "empty");
    }

    function test_claim_cappedByHeld() public {
        // A state both keys signed that promises the user more than the channel holds; the user is capped,
        // then the node is owed what no longer exists.
        _depositDai(NODE, 1);
        ChannelState memory greedy = _state(_id(), 1, _one(_asset(address(dai), 100e18 + 1, 0, 100e18, 1)), 0);
        _disputeAndConclude(greedy);
        cm.claim(user, node, 0, address(dai), USER);
        assertEq(dai.balanceOf(user), 100e18 + 1, "everything held");
        vm.expectRevert(IChannelManager.NothingToClaim.selector);
        cm.claim(user, node, 0, address(dai), NODE);
    }
}
