// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {vm} from "../utils/Vm.sol";
import {IChannelManager} from "../../src/interfaces/IChannelManager.sol";
import {ChannelState, WithdrawCommitment, Lock} from "../../src/types/ChannelTypes.sol";

/// @notice Adversarial scenarios: one party holding both keys, replays of withdrawals through disputes, locks.
contract AttacksTest is Fixture {
    uint256 internal constant MALLORY_U_KEY = 0x111;
    uint256 internal constant MALLORY_N_KEY = 0x222;
    address internal mu;
    address internal mn;

    function setUp() public override {
        super.setUp();
        mu = vm.addr(MALLORY_U_KEY);
        mn = vm.addr(MALLORY_N_KEY);
        vm.deal(mu, 100 ether);
        // The honest channel holds 50 ETH and 500 DAI.
        _depositEth(USER, 25 ether);
        _depositEth(NODE, 25 ether);
        _depositDai(USER, 500e18);
        // Mallory's channel holds 1 ETH.
        vm.prank(mu);
        cm.deposit{value: 1 ether}(mu, mn, ETH, USER, 1 ether);
    }

    function _msign(bytes32 digest) internal pure returns (bytes memory a, bytes memory b) {
        return (_sig(MALLORY_U_KEY, digest), _sig(MALLORY_N_KEY, digest));
    }

    function test_attack_bothKeysFabricatedLockCannotDrainOtherChannels() public {
        bytes32 mid = cm.channelId(mu, mn, 0);
        // A fabricated lock of 1000 ETH to Mallory's user side, committed in a state both of her keys sign.
        Lock memory big = _lock(keccak256("x"), ETH, 1000 ether, NODE, keccak256("p"), uint64(T0 + 1 hours));
        bytes32 leaf = cm.lockLeaf(mid, big);
        ChannelState memory s = _state(mid, 1, _one(_asset(ETH, 1 ether, 0, 1 ether, 0)), leaf);
        (bytes memory a, bytes memory b) = _msign(cm.stateDigest(s));
        vm.prank(mu);
        cm.dispute(mu, mn, s, a, b);
        cm.reveal(keccak256("p"));
        vm.warp(T0 + WINDOW);
        cm.settleLock(mu, mn, 0, big, new bytes32[](0));
        cm.conclude(mu, mn, s);
        assertEq(cm.ledger(mid, ETH).exitUser, 1000 ether, "credited on paper");
        uint256 before = mu.balance;
        cm.claim(mu, mn, 0, ETH, USER);
        assertEq(mu.balance - before, 1 ether, "capped at what the channel held");
        vm.expectRevert(IChannelManager.NothingToClaim.selector);
        cm.claim(mu, mn, 0, ETH, USER);
        // The honest channel still exits in full.
        _disputeAndConclude(_state(_id(), 1, _two(_asset(ETH, 25 ether, 25 ether, 25 ether, 25 ether),
            _asset(address(dai), 500e18, 0, 500e18, 0)), 0));
        uint256 u = user.balance;
        cm.claim(user, node, 0, ETH, USER);
        cm.claim(user, node, 0, ETH, NODE);
        cm.claim(user, node, 0, address(dai), USER);
        assertEq(user.balance - u, 25 ether, "user whole");
        assertEq(dai.balanceOf(user), 500e18, "dai whole");
        assertEq(address(cm).balance, 0, "nothing left, nothing missing");
    }

    function test_attack_hugeLockCreditsSaturateAndStayCapped() public {
        bytes32 mid = cm.channelId(mu, mn, 0);
        uint256 max = type(uint128).max;
        Lock memory a = _lock(keccak256("a"), ETH, max, NODE, keccak256("pa"), uint64(T0 + 1 hours));
        Lock memory b = _lock(keccak256("b"), ETH, max, NODE, keccak256("pb"), uint64(T0 + 1 hours));
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = cm.lockLeaf(mid, a);
        leaves[1] = cm.lockLeaf(mid, b);
        // The user's balance also rises by the 1 ETH she deposited: exit would exceed int128 after conclusion.
        ChannelState memory s = _state(mid, 1, _one(_asset(ETH, 1 ether, 0, 1 ether, 0)), _root(leaves));
        (bytes memory sa, bytes memory sb) = _msign(cm.stateDigest(s));
        vm.prank(mu);
        cm.dispute(mu, mn, s, sa, sb);
        cm.reveal(keccak256("pa"));
        cm.reveal(keccak256("pb"));
        vm.warp(T0 + WINDOW);
        cm.settleLock(mu, mn, 0, a, _proof(leaves, leaves[0]));
        cm.settleLock(mu, mn, 0, b, _proof(leaves, leaves[1]));
        assertEq(cm.ledger(mid, ETH).exitUser, type(int128).max, "saturated, not reverted");
        cm.conclude(mu, mn, s);
        uint256 before = mu.balance;
        cm.claim(mu, mn, 0, ETH, USER);
        assertEq(mu.balance - before, 1 ether, "still only what the channel held");
        assertEq(address(cm).balance, 50 ether, "the honest channel's ETH is untouched");
    }

    function test_attack_bothKeysFabricatedCommitmentCapped() public {
        bytes32 mid = cm.channelId(mu, mn, 0);
        WithdrawCommitment memory c = WithdrawCommitment(mid, 1, ETH, USER, mu, 50 ether);
        (bytes memory a, bytes memory b) = _msign(cm.commitmentDigest(c));
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InsufficientChannelFunds.selector, 1 ether, 50 ether));
        cm.withdraw(mu, mn, 0, c, a, b);
    }

    function test_attack_bothKeysCannotCountOthersDeposits() public {
        bytes32 mid = cm.channelId(mu, mn, 0);
        ChannelState memory s = _state(mid, 1, _one(_asset(ETH, 50 ether, 0, 50 ether, 0)), 0);
        (bytes memory a, bytes memory b) = _msign(cm.stateDigest(s));
        vm.prank(mu);
        vm.expectRevert(
            abi.encodeWithSelector(IChannelManager.CountedExceedsDeposit.selector, ETH, 0, 50 ether, 1 ether)
        );
        cm.dispute(mu, mn, s, a, b);
    }

    function test_attack_withdrawalNotPaidAgainThroughOlderState() public {
        // State 2 moved 4 ETH of the user's balance into its withdrawal; the commitment executed.
        _withdraw(_commitment(0, 2, ETH, USER, user, 4 ether), 0);
        // The user disputes with state 1, from before the withdrawal: refused.
        ChannelState memory older = _ethState(1, 25 ether, 25 ether, 25 ether, 25 ether);
        (bytes memory us, bytes memory ns) = _signState(cm, older);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NonceBelowMinimum.selector, 1, 2));
        cm.dispute(user, node, older, us, ns);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NonceBelowMinimum.selector, 0, 2));
        cm.disputeWithoutState(user, node);
    }

    function test_attack_withdrawalNotPaidAgainThroughNewerState() public {
        uint256 start = user.balance;
        _withdraw(_commitment(0, 2, ETH, USER, user, 4 ether), 0);
        ChannelState memory s = _ethState(2, 21 ether, 25 ether, 25 ether, 25 ether);
        s.assets[0].withdrawnUser = 4 ether;
        _disputeAndConclude(s);
        cm.claim(user, node, 0, ETH, USER);
        // Executing the same commitment again after conclusion pays nothing.
        WithdrawCommitment memory c = _commitment(0, 2, ETH, USER, user, 4 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NothingToWithdraw.selector, 4 ether, 4 ether));
        cm.withdraw(user, node, 0, c, us, ns);
        assertEq(user.balance - start, 25 ether, "4 withdrawn + 21 claimed, never 29");
    }

    function test_attack_staleDisputeAnsweredByNode() public {
        // The user disputes with a state from before paying the node 10 ETH; the node answers in time.
        ChannelState memory stale = _ethState(3, 25 ether, 25 ether, 25 ether, 25 ether);
        ChannelState memory latest = _ethState(4, 15 ether, 35 ether, 25 ether, 25 ether);
        _dispute(stale);
        vm.warp(T0 + WINDOW - 1);
        _respond(latest);
        vm.warp(T0 + WINDOW);
        vm.expectPartialRevert(IChannelManager.StateMismatch.selector);
        cm.conclude(user, node, stale);
        cm.conclude(user, node, latest);
        uint256 n = node.balance;
        cm.claim(user, node, 0, ETH, NODE);
        assertEq(node.balance - n, 35 ether, "latest state pays");
    }

    function test_attack_lockSettlesOncePerChannelOnly() public {
        bytes32 id = _id();
        Lock memory l = _lock(keccak256("l"), ETH, 5 ether, USER, keccak256("pre"), uint64(T0 + 3 days));
        bytes32 leaf = cm.lockLeaf(id, l);
        ChannelState memory s = _state(id, 2, _one(_asset(ETH, 20 ether, 25 ether, 25 ether, 25 ether)), leaf);
        s.assets[0].lockedUser = 5 ether;
        _dispute(s);
        cm.reveal(keccak256("pre"));
        _warpToEnd();
        cm.settleLock(user, node, 0, l, new bytes32[](0));
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.LockAlreadySettled.selector, leaf));
        cm.settleLock(user, node, 0, l, new bytes32[](0));
        // The same lock fields in another channel form another leaf.
        assertNotEq(cm.lockLeaf(cm.channelId(mu, mn, 0), l), leaf, "leaf binds the channel");
    }

    function test_attack_preimageRevealedAfterExpiryPaysSender() public {
        bytes32 id = _id();
        uint64 expiry = uint64(T0 + 2 days);
        Lock memory l = _lock(keccak256("l"), ETH, 5 ether, NODE, keccak256("late"), expiry);
        bytes32 leaf = cm.lockLeaf(id, l);
        ChannelState memory s = _state(id, 2, _one(_asset(ETH, 25 ether, 20 ether, 25 ether, 25 ether)), leaf);
        s.assets[0].lockedNode = 5 ether;
        _dispute(s);
        vm.warp(expiry + 1);
        cm.reveal(keccak256("late")); // the receiver (user) reveals too late
        cm.settleLock(user, node, 0, l, new bytes32[](0));
        cm.conclude(user, node, s);
        uint256 n = node.balance;
        cm.claim(user, node, 0, ETH, NODE);
        assertEq(node.balance - n, 25 ether, "lock returned to its sender");
    }

    function test_attack_outsiderCannotStartDisputeWithStolenState() public {
        ChannelState memory s = _ethState(1, 25 ether, 25 ether, 25 ether, 25 ether);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NotParticipant.selector, stranger));
        cm.dispute(user, node, s, us, ns);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NotParticipant.selector, stranger));
        cm.disputeWithoutState(user, node);
    }
}
