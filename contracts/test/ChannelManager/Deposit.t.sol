// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {vm} from "../utils/Vm.sol";
import {IChannelManager} from "../../src/interfaces/IChannelManager.sol";
import {Ledger} from "../../src/types/ChannelTypes.sol";
import {FeeToken} from "../mocks/MockTokens.sol";

contract DepositTest is Fixture {
    function test_deposit_ethCreditsSideCumulatively() public {
        _depositEth(USER, 1 ether);
        _depositEth(USER, 2 ether);
        _depositEth(NODE, 5 ether);
        Ledger memory l = cm.ledger(_id(), ETH);
        assertEq(l.depositUser, 3 ether, "user cumulative");
        assertEq(l.depositNode, 5 ether, "node cumulative");
        assertEq(cm.held(_id(), ETH), 8 ether, "held");
        assertEq(address(cm).balance, 8 ether, "contract balance");
    }

    function test_deposit_tokenPullsWithTransferFrom() public {
        _depositDai(NODE, 100e18);
        assertEq(dai.balanceOf(address(cm)), 100e18, "pulled");
        assertEq(dai.balanceOf(node), 0, "from node");
        assertEq(cm.ledger(_id(), address(dai)).depositNode, 100e18, "credited");
    }

    function test_deposit_anyoneForEitherSide() public {
        vm.prank(stranger);
        cm.deposit{value: 1 ether}(user, node, ETH, NODE, 1 ether);
        vm.prank(stranger);
        cm.deposit{value: 2 ether}(user, node, ETH, USER, 2 ether);
        Ledger memory l = cm.ledger(_id(), ETH);
        assertEq(l.depositNode, 1 ether, "node");
        assertEq(l.depositUser, 2 ether, "user");
    }

    function test_deposit_emitsDeposited() public {
        _depositEth(USER, 1 ether);
        vm.expectEmit(address(cm));
        emit IChannelManager.Deposited(_id(), ETH, USER, 2 ether, 3 ether);
        _depositEth(USER, 2 ether);
    }

    function test_deposit_revertsZeroAmount() public {
        vm.expectRevert(IChannelManager.ZeroAmount.selector);
        cm.deposit(user, node, ETH, USER, 0);
    }

    function test_deposit_revertsInvalidSide() public {
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidSide.selector, uint8(2)));
        cm.deposit{value: 1}(user, node, ETH, 2, 1);
    }

    function test_deposit_revertsSameParticipants() public {
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidParticipants.selector, user, user));
        cm.deposit{value: 1}(user, user, ETH, USER, 1);
    }

    function test_deposit_revertsZeroUser() public {
        vm.expectPartialRevert(IChannelManager.InvalidParticipants.selector);
        cm.deposit{value: 1}(address(0), node, ETH, USER, 1);
    }

    function test_deposit_revertsZeroNode() public {
        vm.expectPartialRevert(IChannelManager.InvalidParticipants.selector);
        cm.deposit{value: 1}(user, address(0), ETH, USER, 1);
    }

    function test_deposit_revertsEthAmountMismatch() public {
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.EthAmountMismatch.selector, 1, 2));
        cm.deposit{value: 1}(user, node, ETH, USER, 2);
    }

    function test_deposit_revertsEthWithToken() public {
        dai.mint(address(this), 10);
        dai.approve(address(cm), 10);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.UnexpectedEth.selector, 1));
        cm.deposit{value: 1}(user, node, address(dai), USER, 10);
    }

    function test_deposit_revertsAssetNotAllowed() public {
        FeeToken fee = new FeeToken();
        fee.mint(address(this), 100);
        fee.approve(address(cm), 100);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.AssetNotAllowed.selector, address(fee)));
        cm.deposit(user, node, address(fee), USER, 100);
    }

    function test_deposit_revertsWithoutAllowance() public {
        dai.mint(address(this), 10);
        vm.expectRevert(); // OZ ERC20InsufficientAllowance, bubbled by SafeERC20
        cm.deposit(user, node, address(dai), USER, 10);
    }

    function test_deposit_revertsCumulativeAboveUint128() public {
        uint256 max = type(uint128).max;
        _depositDai(USER, max);
        dai.mint(user, 1);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.AmountTooLarge.selector, 1));
        cm.deposit(user, node, address(dai), USER, 1);
        // The other side has its own 128-bit budget.
        _depositDai(NODE, max);
        assertEq(cm.held(_id(), address(dai)), 2 * max, "both sides full");
    }

    function test_deposit_revertsAmountAbove2to256Minus1Cumulative() public {
        _depositDai(USER, 1);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.AmountTooLarge.selector, type(uint256).max));
        cm.deposit(user, node, address(dai), USER, type(uint256).max);
    }

    function test_deposit_duringDisputeIsUncountedAndPaysToSide() public {
        _depositEth(USER, 10 ether);
        _dispute(_ethState(1, 10 ether, 0, 10 ether, 0));
        _depositEth(NODE, 3 ether); // arrives during the dispute: uncounted, belongs to the node
        _warpToEnd();
        cm.conclude(user, node, _ethState(1, 10 ether, 0, 10 ether, 0));
        uint256 before = node.balance;
        cm.claim(user, node, 0, ETH, NODE);
        assertEq(node.balance - before, 3 ether, "node gets its uncounted deposit");
    }

    function test_deposit_afterConcludeGoesToNextEpoch() public {
        _depositEth(USER, 1 ether);
        vm.prank(user);
        cm.disputeWithoutState(user, node);
        _warpToEnd();
        cm.conclude(user, node, _emptyState(_id()));
        assertEq(cm.currentEpoch(user, node), 1, "epoch");
        _depositEth(USER, 2 ether);
        assertEq(cm.ledger(_id(1), ETH).depositUser, 2 ether, "new channel");
        assertEq(cm.ledger(_id(0), ETH).depositUser, 1 ether, "old channel untouched");
    }
}

