// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {vm} from "../utils/Vm.sol";
import {ChannelManager} from "../../src/ChannelManager.sol";
import {deployManager} from "../utils/Deploy.sol";
import {IChannelManager} from "../../src/interfaces/IChannelManager.sol";
import {ChannelState, WithdrawCommitment} from "../../src/types/ChannelTypes.sol";
import {NoReturnToken, FalseToken, RevertingToken, ReentrantToken, ReturnBombToken} from "../mocks/MockTokens.sol";
import {HostileReceiver} from "../mocks/HostileReceiver.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @notice Non-standard tokens and hostile ETH receivers.
contract WeirdTokensTest is Fixture {
    bytes4 internal constant REENTRANT = bytes4(keccak256("ReentrancyGuardReentrantCall()"));

    NoReturnToken internal usdt;
    FalseToken internal falsy;
    RevertingToken internal blocky;
    ReentrantToken internal evil;
    ReturnBombToken internal bomb;

    function setUp() public override {
        super.setUp();
        usdt = new NoReturnToken();
        falsy = new FalseToken();
        blocky = new RevertingToken();
        evil = new ReentrantToken();
        bomb = new ReturnBombToken();
        address[] memory tokens = new address[](6);
        tokens[0] = address(dai);
        tokens[1] = address(usdt);
        tokens[2] = address(falsy);
        tokens[3] = address(blocky);
        tokens[4] = address(evil);
        tokens[5] = address(bomb);
        cm = deployManager(WINDOW, tokens);
    }

    /// @dev Mints, approves and deposits `amount` of a mock token for `side`.
    function _fund(address token, uint8 side, uint256 amount) internal {
        address who = _who(side);
        NoReturnToken(token).mint(who, amount);
        vm.prank(who);
        NoReturnToken(token).approve(address(cm), type(uint256).max);
        vm.prank(who);
        cm.deposit(user, node, token, side, amount);
    }

    /// @dev Disputes and concludes a one-asset state where the user paid the node `paid`.
    function _settle(address token, uint256 userDeposit, uint256 nodeDeposit, uint256 paid) internal {
        ChannelState memory s = _state(
            _id(), 1, _one(_asset(token, userDeposit - paid, nodeDeposit + paid, userDeposit, nodeDeposit)), 0
        );
        _disputeAndConclude(s);
    }

    // ---------------------------------------------------------------------------------------------------------
    // No return value (USDT)
    // ---------------------------------------------------------------------------------------------------------

    function test_noReturnToken_depositWithdrawClaimWork() public {
        _fund(address(usdt), USER, 100);
        _fund(address(usdt), NODE, 50);
        _withdraw(_commitment(0, 1, address(usdt), NODE, node, 10), 0);
        assertEq(usdt.balanceOf(node), 10, "withdrawn");
        ChannelState memory s = _state(_id(), 2, _one(_asset(address(usdt), 70, 70, 100, 50)), 0);
        s.assets[0].withdrawnNode = 10;
        _disputeAndConclude(s);
        cm.claim(user, node, 0, address(usdt), USER);
        cm.claim(user, node, 0, address(usdt), NODE);
        assertEq(usdt.balanceOf(user), 70, "user");
        assertEq(usdt.balanceOf(node), 80, "node");
        assertEq(usdt.balanceOf(address(cm)), 0, "empty");
    }

    // ---------------------------------------------------------------------------------------------------------
    // Oversized return data
    // ---------------------------------------------------------------------------------------------------------

    function test_returnBombToken_depositAndClaimCostNoExtraGas() public {
        _fund(address(bomb), USER, 100);
        _settle(address(bomb), 100, 0, 30);
        uint256 g = gasleft();
        cm.claim(user, node, 0, address(bomb), USER);
        assertLt(g - gasleft(), 150_000, "only one word of return data is read");
        assertEq(bomb.balanceOf(user), 70, "paid");
    }

    // ---------------------------------------------------------------------------------------------------------
    // Returns false
    // ---------------------------------------------------------------------------------------------------------

    function test_falseToken_claimRevertsOtherSideStillClaims() public {
        _fund(address(falsy), USER, 100);
        _settle(address(falsy), 100, 0, 30);
        falsy.setBlocked(user, true);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(falsy)));
        cm.claim(user, node, 0, address(falsy), USER);
        cm.claim(user, node, 0, address(falsy), NODE);
        assertEq(falsy.balanceOf(node), 30, "node paid");
        // The user's share stayed owed and is claimable once the token lets it through.
        falsy.setBlocked(user, false);
        cm.claim(user, node, 0, address(falsy), USER);
        assertEq(falsy.balanceOf(user), 70, "user paid later");
    }

    function test_falseToken_withdrawRevertsAndRecordsNothing() public {
        _fund(address(falsy), USER, 100);
        falsy.setBlocked(user, true);
        WithdrawCommitment memory c = _commitment(0, 1, address(falsy), USER, user, 10);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(falsy)));
        cm.withdraw(user, node, 0, c, us, ns);
        assertEq(cm.ledger(_id(), address(falsy)).withdrawnUser, 0, "not executed");
        assertEq(cm.channel(_id()).minDisputeNonce, 0, "min nonce not raised");
    }

    function test_falseToken_depositRevertsWhenPullFails() public {
        falsy.mint(user, 10);
        vm.prank(user);
        falsy.approve(address(cm), 10);
        falsy.setBlocked(user, true);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(falsy)));
        cm.deposit(user, node, address(falsy), USER, 10);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Reverting (blocklist)
    // ---------------------------------------------------------------------------------------------------------

    function test_revertingToken_claimRevertsOtherSideStillClaims() public {
        _fund(address(blocky), USER, 100);
        _fund(address(blocky), NODE, 100);
        _settle(address(blocky), 100, 100, 40);
        blocky.setBlocked(node, true);
        vm.expectRevert(abi.encodeWithSelector(RevertingToken.Blocked.selector, node));
        cm.claim(user, node, 0, address(blocky), NODE);
        cm.claim(user, node, 0, address(blocky), USER);
        assertEq(blocky.balanceOf(user), 60, "user paid");
        assertEq(cm.held(_id(0), address(blocky)), 140, "node's share still held");
    }

    function test_revertingToken_otherAssetsUnaffected() public {
        _fund(address(blocky), USER, 100);
        _depositEth(USER, 1 ether);
        ChannelState memory s = _state(
            _id(), 1, _two(_asset(ETH, 1 ether, 0, 1 ether, 0), _asset(address(blocky), 100, 0, 100, 0)), 0
        );
        _disputeAndConclude(s);
        blocky.setBlocked(user, true);
        vm.expectPartialRevert(RevertingToken.Blocked.selector);
        cm.claim(user, node, 0, address(blocky), USER);
        uint256 before = user.balance;
        cm.claim(user, node, 0, ETH, USER);
        assertEq(user.balance - before, 1 ether, "eth claimed");
    }

    // ---------------------------------------------------------------------------------------------------------
    // Reentrancy through a token
    // ---------------------------------------------------------------------------------------------------------

    function test_reentrantToken_depositReentryBlocked() public {
        evil.mint(user, 100);
        vm.prank(user);
        evil.approve(address(cm), type(uint256).max);
        evil.arm(address(cm), abi.encodeCall(cm.deposit, (user, node, address(evil), USER, 1)));
        vm.prank(user);
        cm.deposit(user, node, address(evil), USER, 50);
        assertEq(evil.attempts(), 1, "tried");
        assertFalse(evil.lastReentrySucceeded(), "blocked");
        assertEq(evil.lastReentryError(), REENTRANT, "by the guard");
        assertEq(cm.ledger(_id(), address(evil)).depositUser, 50, "one deposit");
    }

    function test_reentrantToken_withdrawReentryBlocked() public {
        _fund(address(evil), USER, 100);
        WithdrawCommitment memory c1 = _commitment(0, 1, address(evil), USER, user, 10);
        (bytes memory u1, bytes memory n1) = _signCommitment(cm, c1);
        WithdrawCommitment memory c2 = _commitment(0, 2, address(evil), USER, user, 20);
        (bytes memory u2, bytes memory n2) = _signCommitment(cm, c2);
        evil.arm(address(cm), abi.encodeCall(cm.withdraw, (user, node, 0, c2, u2, n2)));
        cm.withdraw(user, node, 0, c1, u1, n1);
        assertEq(evil.lastReentryError(), REENTRANT, "blocked by the guard");
        assertEq(evil.balanceOf(user), 10, "paid once");
        assertEq(cm.ledger(_id(), address(evil)).withdrawnUser, 10, "executed once");
    }

    function test_reentrantToken_claimReentryBlocked() public {
        _fund(address(evil), USER, 100);
        _settle(address(evil), 100, 0, 30);
        evil.arm(address(cm), abi.encodeCall(cm.claim, (user, node, 0, address(evil), USER)));
        cm.claim(user, node, 0, address(evil), USER);
        assertEq(evil.lastReentryError(), REENTRANT, "blocked by the guard");
        assertEq(evil.balanceOf(user), 70, "paid once");
        cm.claim(user, node, 0, address(evil), NODE);
        assertEq(evil.balanceOf(address(cm)), 0, "exactly emptied");
    }

    // ---------------------------------------------------------------------------------------------------------
    // Hostile ETH receivers (code etched onto the participant's address; its key still signs)
    // ---------------------------------------------------------------------------------------------------------

    function _hostileUser(uint8 mode, bytes memory reentry) internal {
        vm.etch(user, address(new HostileReceiver()).code);
        HostileReceiver(payable(user)).configure(mode, address(cm), reentry);
    }

    function test_hostileReceiver_rejectingUserDoesNotBlockNode() public {
        _depositEth(USER, 10 ether);
        _settle(ETH, 10 ether, 0, 4 ether);
        _hostileUser(1, "");
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.EthTransferFailed.selector, user, 6 ether));
        cm.claim(user, node, 0, ETH, USER);
        uint256 n = node.balance;
        cm.claim(user, node, 0, ETH, NODE);
        assertEq(node.balance - n, 4 ether, "node paid");
        HostileReceiver(payable(user)).configure(0, address(0), "");
        cm.claim(user, node, 0, ETH, USER);
        assertEq(cm.held(_id(0), ETH), 0, "user paid once it accepts");
    }

    function test_hostileReceiver_reentrantClaimBlocked() public {
        _depositEth(USER, 10 ether);
        _settle(ETH, 10 ether, 0, 4 ether);
        _hostileUser(2, abi.encodeCall(cm.claim, (user, node, 0, ETH, NODE)));
        uint256 u = user.balance;
        cm.claim(user, node, 0, ETH, USER);
        HostileReceiver h = HostileReceiver(payable(user));
        assertTrue(h.reentered(), "tried");
        assertFalse(h.reentrySucceeded(), "blocked");
        assertEq(h.reentryError(), REENTRANT, "by the guard");
        assertEq(user.balance - u, 6 ether, "own share only");
    }

    function test_hostileReceiver_returnBombHarmless() public {
        _depositEth(USER, 10 ether);
        _settle(ETH, 10 ether, 0, 4 ether);
        _hostileUser(3, "");
        uint256 g = gasleft();
        cm.claim(user, node, 0, ETH, USER);
        assertLt(g - gasleft(), 150_000, "no return data copied");
    }
}
