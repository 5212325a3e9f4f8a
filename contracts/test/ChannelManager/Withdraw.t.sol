// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {vm} from "../utils/Vm.sol";
import {IChannelManager} from "../../src/interfaces/IChannelManager.sol";
import {WithdrawCommitment, ChannelState, Channel} from "../../src/types/ChannelTypes.sol";
import {HostileReceiver} from "../mocks/HostileReceiver.sol";

contract WithdrawTest is Fixture {
    address internal recipient = address(0xBEEF);

    function setUp() public override {
        super.setUp();
        _depositEth(USER, 10 ether);
        _depositEth(NODE, 10 ether);
    }

    function test_withdraw_paysCumulativeMinusExecuted() public {
        _withdraw(_commitment(0, 3, ETH, USER, recipient, 4 ether), 0);
        assertEq(recipient.balance, 4 ether, "first");
        _withdraw(_commitment(0, 5, ETH, USER, recipient, 7 ether), 0);
        assertEq(recipient.balance, 7 ether, "second pays the difference");
        assertEq(cm.ledger(_id(), ETH).withdrawnUser, 7 ether, "executed");
        assertEq(cm.held(_id(), ETH), 13 ether, "held");
    }

    function test_withdraw_repeatedEqualAmountsWork() public {
        _withdraw(_commitment(0, 1, ETH, NODE, recipient, 2 ether), 0);
        _withdraw(_commitment(0, 2, ETH, NODE, recipient, 4 ether), 0);
        _withdraw(_commitment(0, 3, ETH, NODE, recipient, 6 ether), 0);
        assertEq(recipient.balance, 6 ether, "three equal withdrawals");
    }

    function test_withdraw_tokenToRecipient() public {
        _depositDai(USER, 50e18);
        _withdraw(_commitment(0, 1, address(dai), USER, recipient, 20e18), 0);
        assertEq(dai.balanceOf(recipient), 20e18, "dai paid");
        assertEq(cm.held(_id(), address(dai)), 30e18, "dai held");
    }

    function test_withdraw_emitsWithdrawn() public {
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, recipient, 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectEmit(address(cm));
        emit IChannelManager.Withdrawn(_id(), ETH, USER, recipient, 1 ether, 1 ether);
        cm.withdraw(user, node, 0, c, us, ns);
    }

    function test_withdraw_sameCommitmentTwiceReverts() public {
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, recipient, 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        cm.withdraw(user, node, 0, c, us, ns);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NothingToWithdraw.selector, 1 ether, 1 ether));
        cm.withdraw(user, node, 0, c, us, ns);
        assertEq(recipient.balance, 1 ether, "paid once");
    }

    function test_withdraw_olderCommitmentReverts() public {
        _withdraw(_commitment(0, 4, ETH, USER, recipient, 3 ether), 0);
        WithdrawCommitment memory old = _commitment(0, 2, ETH, USER, recipient, 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, old);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.NothingToWithdraw.selector, 1 ether, 3 ether));
        cm.withdraw(user, node, 0, old, us, ns);
    }

    function test_withdraw_raisesMinDisputeNonceNeverLowers() public {
        _withdraw(_commitment(0, 6, ETH, USER, recipient, 1 ether), 0);
        assertEq(cm.channel(_id()).minDisputeNonce, 6, "raised");
        // A commitment of an older state for the other side still executes but does not lower the minimum.
        _withdraw(_commitment(0, 4, ETH, NODE, recipient, 1 ether), 0);
        assertEq(cm.channel(_id()).minDisputeNonce, 6, "kept");
    }

    function test_withdraw_revertsWrongChannel() public {
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, recipient, 1 ether);
        c.channelId = keccak256("other");
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.WrongChannel.selector, _id(0), c.channelId));
        cm.withdraw(user, node, 0, c, us, ns);
    }

    function test_withdraw_revertsFutureEpoch() public {
        WithdrawCommitment memory c = _commitment(1, 1, ETH, USER, recipient, 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidEpoch.selector, uint64(1), uint64(0)));
        cm.withdraw(user, node, 1, c, us, ns);
    }

    function test_withdraw_revertsInvalidSide() public {
        WithdrawCommitment memory c = _commitment(0, 1, ETH, 2, recipient, 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidSide.selector, uint8(2)));
        cm.withdraw(user, node, 0, c, us, ns);
    }

    function test_withdraw_revertsZeroRecipient() public {
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, address(0), 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectRevert(IChannelManager.ZeroRecipient.selector);
        cm.withdraw(user, node, 0, c, us, ns);
    }

    function test_withdraw_revertsAmountTooLarge() public {
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, recipient, uint256(type(uint128).max) + 1);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectPartialRevert(IChannelManager.AmountTooLarge.selector);
        cm.withdraw(user, node, 0, c, us, ns);
    }

    function test_withdraw_revertsInsufficientChannelFunds() public {
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, recipient, 21 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectRevert(
            abi.encodeWithSelector(IChannelManager.InsufficientChannelFunds.selector, 20 ether, 21 ether)
        );
        cm.withdraw(user, node, 0, c, us, ns);
    }

    function test_withdraw_revertsDuringDispute() public {
        _dispute(_ethState(1, 10 ether, 10 ether, 10 ether, 10 ether));
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, recipient, 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.WrongStatus.selector, _id(0), uint8(1)));
        cm.withdraw(user, node, 0, c, us, ns);
    }

    function test_withdraw_afterConclusionAtOrBelowFinalNonce() public {
        // State 3 deducts a 4 ETH withdrawal of the user that was never executed before the dispute.
        ChannelState memory s = _ethState(3, 6 ether, 10 ether, 10 ether, 10 ether);
        s.assets[0].withdrawnUser = 4 ether;
        _disputeAndConclude(s);
        _withdraw(_commitment(0, 3, ETH, USER, recipient, 4 ether), 0);
        assertEq(recipient.balance, 4 ether, "commitment of the final state executes");
        assertEq(cm.channel(_id(0)).minDisputeNonce, 0, "min nonce untouched after conclusion");
        cm.claim(user, node, 0, ETH, USER);
        cm.claim(user, node, 0, ETH, NODE);
        assertEq(cm.held(_id(0), ETH), 0, "channel emptied exactly");
    }

    function test_withdraw_afterConclusionAboveFinalNonceReverts() public {
        _disputeAndConclude(_ethState(3, 10 ether, 10 ether, 10 ether, 10 ether));
        WithdrawCommitment memory c = _commitment(0, 4, ETH, USER, recipient, 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.CommitmentAfterFinalState.selector, 4, 3));
        cm.withdraw(user, node, 0, c, us, ns);
    }

    function test_withdraw_otherAssetThanSignedReverts() public {
        _depositDai(USER, 10e18);
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, recipient, 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        c.asset = address(dai);
        vm.expectPartialRevert(IChannelManager.InvalidSignature.selector);
        cm.withdraw(user, node, 0, c, us, ns);
    }

    function test_withdraw_otherRecipientThanSignedReverts() public {
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, recipient, 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        c.recipient = stranger;
        vm.expectPartialRevert(IChannelManager.InvalidSignature.selector);
        cm.withdraw(user, node, 0, c, us, ns);
    }

    function test_withdraw_revertsOnlyUserSigned() public {
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, recipient, 1 ether);
        bytes32 digest = cm.commitmentDigest(c);
        bytes memory us = _sig(USER_KEY, digest);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidSignature.selector, node, user));
        cm.withdraw(user, node, 0, c, us, us);
    }

    function test_withdraw_revertsSwappedSignatures() public {
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, recipient, 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidSignature.selector, user, node));
        cm.withdraw(user, node, 0, c, ns, us);
    }

    function test_withdraw_revertsWhenEthRecipientRejects() public {
        HostileReceiver r = new HostileReceiver();
        r.configure(1, address(0), "");
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, address(r), 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.EthTransferFailed.selector, address(r), 1 ether));
        cm.withdraw(user, node, 0, c, us, ns);
        assertEq(cm.ledger(_id(), ETH).withdrawnUser, 0, "nothing recorded");
    }

    function test_withdraw_reentrantRecipientBlocked() public {
        HostileReceiver r = new HostileReceiver();
        // On receipt, try to execute the same commitment again.
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, address(r), 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        WithdrawCommitment memory c2 = _commitment(0, 2, ETH, USER, address(r), 2 ether);
        (bytes memory us2, bytes memory ns2) = _signCommitment(cm, c2);
        r.configure(2, address(cm), abi.encodeCall(cm.withdraw, (user, node, 0, c2, us2, ns2)));
        cm.withdraw(user, node, 0, c, us, ns);
        assertTrue(r.reentered(), "tried");
        assertFalse(r.reentrySucceeded(), "blocked");
        assertEq(r.reentryError(), bytes4(keccak256("ReentrancyGuardReentrantCall()")), "by the guard");
        assertEq(address(r).balance, 1 ether, "paid once");
    }

    function test_withdraw_returnBombRecipientCostsNoExtraGas() public {
        HostileReceiver r = new HostileReceiver();
        r.configure(3, address(0), "");
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, address(r), 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        uint256 g = gasleft();
        cm.withdraw(user, node, 0, c, us, ns);
        assertLt(g - gasleft(), 200_000, "64 KiB of return data is not copied");
        assertEq(address(r).balance, 1 ether, "paid");
    }

    function test_withdraw_oldEpochCommitmentAfterConclusionPaysOnce() public {
        ChannelState memory s = _ethState(2, 8 ether, 10 ether, 10 ether, 10 ether);
        s.assets[0].withdrawnUser = 2 ether;
        _disputeAndConclude(s);
        _depositEth(USER, 5 ether); // epoch 1
        WithdrawCommitment memory c = _commitment(0, 2, ETH, USER, recipient, 2 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        // Replayed against the new epoch: another channel id.
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.WrongChannel.selector, _id(1), _id(0)));
        cm.withdraw(user, node, 1, c, us, ns);
        cm.withdraw(user, node, 0, c, us, ns);
        vm.expectPartialRevert(IChannelManager.NothingToWithdraw.selector);
        cm.withdraw(user, node, 0, c, us, ns);
        assertEq(recipient.balance, 2 ether, "once");
        assertEq(cm.held(_id(1), ETH), 5 ether, "new epoch untouched");
    }

    function test_withdraw_channelStatusFieldsAfterWithdrawal() public {
        _withdraw(_commitment(0, 9, ETH, USER, recipient, 1 ether), 0);
        Channel memory ch = cm.channel(_id());
        assertEq(ch.status, 0, "open");
        assertEq(ch.disputeNonce, 0, "no dispute");
        assertEq(ch.minDisputeNonce, 9, "min");
    }
}
