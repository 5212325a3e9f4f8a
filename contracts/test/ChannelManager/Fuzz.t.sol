// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {vm} from "../utils/Vm.sol";
import {IChannelManager} from "../../src/interfaces/IChannelManager.sol";
import {ChannelState, WithdrawCommitment, Lock} from "../../src/types/ChannelTypes.sol";

/// @notice Property tests over amounts (near 2^128 and 2^256), cumulative withdrawals, nonces and lock timing.
contract FuzzTest is Fixture {
    uint256 internal constant MAX = type(uint128).max;

    function testFuzz_deposit_cumulativeWithin128Bits(uint256 first, uint256 second, bool nodeSide) public {
        first = bound(first, 1, MAX);
        vm.assume(second != 0);
        uint8 side = nodeSide ? NODE : USER;
        _depositDai(side, first);
        address who = _who(side);
        if (second > type(uint256).max - dai.totalSupply()) second = type(uint256).max - dai.totalSupply();
        vm.assume(second != 0);
        dai.mint(who, second);
        vm.prank(who);
        if (second > MAX - first) {
            vm.expectRevert(abi.encodeWithSelector(IChannelManager.AmountTooLarge.selector, second));
            cm.deposit(user, node, address(dai), side, second);
            assertEq(cm.held(_id(), address(dai)), first, "unchanged");
        } else {
            cm.deposit(user, node, address(dai), side, second);
            assertEq(cm.held(_id(), address(dai)), first + second, "summed");
        }
    }

    function testFuzz_deposit_ethBothSidesSum(uint96 a, uint96 b) public {
        vm.assume(a != 0 && b != 0);
        vm.deal(user, a);
        vm.deal(node, b);
        _depositEth(USER, a);
        _depositEth(NODE, b);
        assertEq(cm.held(_id(), ETH), uint256(a) + b, "held");
        assertEq(address(cm).balance, uint256(a) + b, "balance");
    }

    /// @dev Any sequence of commitments pays exactly the highest executed cumulative amount, never more.
    function testFuzz_withdraw_cumulativeNeverPaysTwice(uint64[8] memory cumulatives) public {
        _depositEth(USER, 1000 ether);
        address to = address(0xCAFE);
        uint256 executed;
        for (uint256 i; i < cumulatives.length; ++i) {
            uint256 cum = uint256(cumulatives[i]) * 1 gwei;
            WithdrawCommitment memory c = _commitment(0, uint64(i + 1), ETH, USER, to, cum);
            (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
            if (cum <= executed) {
                vm.expectRevert(abi.encodeWithSelector(IChannelManager.NothingToWithdraw.selector, cum, executed));
                cm.withdraw(user, node, 0, c, us, ns);
            } else if (cum > 1000 ether) {
                vm.expectPartialRevert(IChannelManager.InsufficientChannelFunds.selector);
                cm.withdraw(user, node, 0, c, us, ns);
            } else {
                cm.withdraw(user, node, 0, c, us, ns);
                executed = cum;
            }
            assertEq(to.balance, executed, "paid == highest executed cumulative");
        }
        assertEq(cm.held(_id(), ETH), 1000 ether - executed, "held");
    }

    function testFuzz_withdraw_amountsNear2to256(uint256 cumulative) public {
        _depositEth(USER, 1 ether);
        cumulative = bound(cumulative, MAX + 1, type(uint256).max);
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, user, cumulative);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.AmountTooLarge.selector, cumulative));
        cm.withdraw(user, node, 0, c, us, ns);
    }

    /// @dev A10: amounts near 2^128 are accepted exactly up to the bound; above it they revert, never wrap.
    function testFuzz_dispute_amountsNear2to128(uint256 amount, bool nodeSide) public {
        amount = bound(amount, MAX - 1000, type(uint256).max);
        uint8 side = nodeSide ? NODE : USER;
        if (amount <= MAX) _depositDai(side, amount);
        ChannelState memory s = _state(_id(), 1, _one(_asset(address(dai), 0, 0, 0, 0)), 0);
        if (nodeSide) (s.assets[0].countedNode, s.assets[0].balanceNode) = (amount, amount);
        else (s.assets[0].countedUser, s.assets[0].balanceUser) = (amount, amount);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        if (amount > MAX) {
            vm.expectRevert(abi.encodeWithSelector(IChannelManager.AmountTooLarge.selector, amount));
            cm.dispute(user, node, s, us, ns);
            return;
        }
        cm.dispute(user, node, s, us, ns);
        _warpToEnd();
        cm.conclude(user, node, s);
        cm.claim(user, node, 0, address(dai), side);
        assertEq(dai.balanceOf(_who(side)), amount, "paid in full");
    }

    /// @dev Exits are int128: a side's balance - counted may reach -2^127 (and 2^127 - 1), not beyond.
    function testFuzz_dispute_netMovementBound(uint256 net) public {
        net = bound(net, 2 ** 127 - 1000, MAX);
        _depositDai(USER, MAX);
        ChannelState memory s = _state(_id(), 1, _one(_asset(address(dai), MAX - net, 0, MAX, 0)), 0);
        s.assets[0].withdrawnUser = net;
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        if (net > 2 ** 127) {
            vm.expectRevert(abi.encodeWithSelector(IChannelManager.AmountTooLarge.selector, net));
            cm.dispute(user, node, s, us, ns);
            return;
        }
        cm.dispute(user, node, s, us, ns);
        _warpToEnd();
        cm.conclude(user, node, s);
        cm.claim(user, node, 0, address(dai), USER);
        assertEq(dai.balanceOf(user), MAX - net, "balance paid; the withdrawal stays executable");
        assertEq(cm.held(_id(0), address(dai)), net, "held for the commitment");
    }

    /// @dev Deposits up to the 128-bit bound can always be claimed back in full (no int128 overflow on claim).
    function testFuzz_claim_fullDepositNear2to128(uint256 du, uint256 dn) public {
        du = bound(du, 1, MAX);
        dn = bound(dn, 1, MAX);
        _depositDai(USER, du);
        _depositDai(NODE, dn);
        vm.prank(user);
        cm.disputeWithoutState(user, node);
        _warpToEnd();
        cm.conclude(user, node, _emptyState(_id()));
        cm.claim(user, node, 0, address(dai), USER);
        cm.claim(user, node, 0, address(dai), NODE);
        assertEq(dai.balanceOf(user), du, "user");
        assertEq(dai.balanceOf(node), dn, "node");
        assertEq(cm.held(_id(0), address(dai)), 0, "empty");
    }

    function testFuzz_dispute_unbalancedSumsRevert(uint128 a, uint128 b, uint128 c) public {
        vm.assume(uint256(a) + b != c);
        _depositDai(USER, MAX);
        ChannelState memory s = _state(_id(), 1, _one(_asset(address(dai), a, b, c, 0)), 0);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NotConserved.selector, address(dai)));
        cm.dispute(user, node, s, us, ns);
    }

    function testFuzz_dispute_respectsMinDisputeNonce(uint64 minNonce, uint64 nonce) public {
        minNonce = uint64(bound(minNonce, 1, type(uint64).max));
        _depositEth(USER, 10 ether);
        _withdraw(_commitment(0, minNonce, ETH, USER, user, 1 ether), 0);
        ChannelState memory s = _ethState(nonce, 9 ether, 0, 10 ether, 0);
        s.assets[0].withdrawnUser = 1 ether;
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        vm.prank(node);
        if (nonce < minNonce) {
            vm.expectRevert(abi.encodeWithSelector(IChannelManager.NonceBelowMinimum.selector, nonce, minNonce));
            cm.dispute(user, node, s, us, ns);
        } else {
            cm.dispute(user, node, s, us, ns);
            assertEq(cm.channel(_id()).disputeNonce, nonce, "accepted");
        }
    }

    function testFuzz_respond_nonceStrictlyIncreases(uint64 first, uint64 second, uint32 delay) public {
        _depositEth(USER, 10 ether);
        _dispute(_ethState(first, 10 ether, 0, 10 ether, 0));
        vm.warp(block.timestamp + bound(delay, 0, WINDOW - 1));
        ChannelState memory s = _ethState(second, 9 ether, 1 ether, 10 ether, 0);
        (bytes memory us, bytes memory ns) = _signState(cm, s);
        if (second <= first) {
            vm.expectRevert(abi.encodeWithSelector(IChannelManager.NonceNotNewer.selector, second, first));
            cm.respond(user, node, s, us, ns);
            assertEq(cm.channel(_id()).disputeNonce, first, "kept");
        } else {
            cm.respond(user, node, s, us, ns);
            assertEq(cm.channel(_id()).disputeNonce, second, "raised");
        }
        assertEq(cm.channel(_id()).consensusEnd, T0 + WINDOW, "window never extended");
    }

    /// @dev Whatever split a conserving state makes, the two claims pay out exactly what the channel holds and
    ///      each side gets balance + uncounted deposits.
    function testFuzz_claim_paysExactlyHeld(uint128 du, uint128 dn, uint128 cu, uint128 cn, uint128 toUser, uint64 late)
        public
    {
        du = uint128(bound(du, 1, MAX / 4));
        dn = uint128(bound(dn, 1, MAX / 4));
        cu = uint128(bound(cu, 0, du));
        cn = uint128(bound(cn, 0, dn));
        uint256 total = uint256(cu) + cn;
        uint256 bu = bound(toUser, 0, total);
        _depositDai(USER, du);
        _depositDai(NODE, dn);
        ChannelState memory s = _state(_id(), 3, _one(_asset(address(dai), bu, total - bu, cu, cn)), 0);
        _dispute(s);
        if (late != 0) _depositDai(NODE, late); // uncounted, during the dispute
        _warpToEnd();
        cm.conclude(user, node, s);
        uint256 heldBefore = cm.held(_id(0), address(dai));
        uint256 expectUser = bu + (du - cu);
        uint256 expectNode = (total - bu) + (dn - cn) + late;
        if (expectUser != 0) cm.claim(user, node, 0, address(dai), USER);
        if (expectNode != 0) cm.claim(user, node, 0, address(dai), NODE);
        assertEq(dai.balanceOf(user), expectUser, "user");
        assertEq(dai.balanceOf(node), expectNode, "node");
        assertEq(expectUser + expectNode, heldBefore, "exactly held");
        assertEq(cm.held(_id(0), address(dai)), 0, "empty");
    }

    /// @dev The lock goes to its receiver iff the preimage was revealed strictly before expiry.
    function testFuzz_settleLock_revealTiming(uint32 revealAt, uint32 settleAt) public {
        _depositEth(USER, 10 ether);
        uint64 expiry = uint64(T0 + 3 days);
        Lock memory l = _lock(keccak256("id"), ETH, 1 ether, USER, keccak256("pre"), expiry);
        bytes32 root = cm.lockLeaf(_id(), l);
        ChannelState memory s = _state(_id(), 1, _one(_asset(ETH, 9 ether, 0, 10 ether, 0)), root);
        s.assets[0].lockedUser = 1 ether;
        _dispute(s);
        uint256 t = T0 + bound(revealAt, 0, 6 days);
        vm.warp(t);
        cm.reveal(keccak256("pre"));
        uint256 settle = _max(_max(t, T0 + WINDOW), T0 + bound(settleAt, 0, 6 days));
        vm.warp(settle);
        bool toReceiver = t < expiry;
        if (!toReceiver && settle < expiry) {
            vm.expectRevert(abi.encodeWithSelector(IChannelManager.LockNotExpired.selector, expiry));
            cm.settleLock(user, node, 0, l, new bytes32[](0));
            return;
        }
        cm.settleLock(user, node, 0, l, new bytes32[](0));
        if (toReceiver) assertEq(cm.ledger(_id(0), ETH).exitNode, 1 ether, "receiver");
        else assertEq(cm.ledger(_id(0), ETH).exitUser, 1 ether, "sender");
    }

    function _max(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a : b;
    }
}
