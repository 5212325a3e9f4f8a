// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {vm} from "../utils/Vm.sol";
import {ChannelManager} from "../../src/ChannelManager.sol";
import {deployManager} from "../utils/Deploy.sol";
import {IChannelManager} from "../../src/interfaces/IChannelManager.sol";
import {ChannelState, WithdrawCommitment} from "../../src/types/ChannelTypes.sol";

/// @notice Malformed and misplaced signatures, and replay across deployments, chains and epochs.
contract SignaturesTest is Fixture {
    ChannelState internal template;
    bytes32 internal digest;
    bytes internal userSig;
    bytes internal nodeSig;

    function setUp() public override {
        super.setUp();
        _depositEth(USER, 10 ether);
        _depositEth(NODE, 10 ether);
        digest = cm.stateDigest(_good());
        userSig = _sig(USER_KEY, digest);
        nodeSig = _sig(NODE_KEY, digest);
    }

    function _good() internal view returns (ChannelState memory) {
        return _ethState(3, 8 ether, 12 ether, 10 ether, 10 ether);
    }

    function _expectNodeSigRejected(bytes memory badNodeSig, address recovered) internal {
        ChannelState memory s = _good();
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidSignature.selector, node, recovered));
        cm.dispute(user, node, s, userSig, badNodeSig);
        assertEq(cm.channel(_id()).status, 0, "still open");
    }

    function _split(bytes memory sig) internal pure returns (bytes32 r, bytes32 s, uint8 v) {
        assembly {
            r := mload(add(sig, 0x20))
            s := mload(add(sig, 0x40))
            v := byte(0, mload(add(sig, 0x60)))
        }
    }

    function test_dispute_acceptsWellFormedSignatures() public {
        ChannelState memory s = _good();
        vm.prank(user);
        cm.dispute(user, node, s, userSig, nodeSig);
        assertEq(cm.channel(_id()).status, 1, "disputed");
    }

    function test_dispute_rejectsHighS() public {
        (bytes32 r, bytes32 s, uint8 v) = _split(nodeSig);
        // The same point with s' = n - s and the other parity recovers the same key in ecrecover, but is malleable.
        bytes memory flipped = abi.encodePacked(r, bytes32(N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        assertEq(ecrecover(digest, v == 27 ? 28 : 27, r, bytes32(N - uint256(s))), node, "ecrecover accepts it");
        _expectNodeSigRejected(flipped, address(0));
    }

    function test_dispute_rejectsVNot27Or28() public {
        (bytes32 r, bytes32 s, uint8 v) = _split(nodeSig);
        _expectNodeSigRejected(abi.encodePacked(r, s, v - 27), address(0)); // 0 / 1
        _expectNodeSigRejected(abi.encodePacked(r, s, uint8(29)), address(0));
        _expectNodeSigRejected(abi.encodePacked(r, s, uint8(v + 8)), address(0)); // EIP-155 style
    }

    function test_dispute_rejects64ByteCompactSignature() public {
        (bytes32 r, bytes32 s, uint8 v) = _split(nodeSig);
        bytes32 vs = bytes32(uint256(s) | (uint256(v - 27) << 255));
        _expectNodeSigRejected(abi.encodePacked(r, vs), address(0));
    }

    function test_dispute_rejectsWrongLengths() public {
        _expectNodeSigRejected("", address(0));
        _expectNodeSigRejected(abi.encodePacked(nodeSig, uint8(0)), address(0)); // 66 bytes
        _expectNodeSigRejected(abi.encodePacked(bytes32(0), bytes32(0)), address(0));
    }

    function test_dispute_rejectsAllZeroSignature() public {
        _expectNodeSigRejected(new bytes(65), address(0));
    }

    function test_dispute_rejectsGarbage() public {
        bytes memory garbage = abi.encodePacked(keccak256("r"), keccak256("s"), uint8(27));
        // Either unrecoverable (0) or some unrelated address: both refused.
        (address recovered,) = _tryRecover(digest, garbage);
        _expectNodeSigRejected(garbage, recovered);
    }

    function test_dispute_rejectsSwappedSignatures() public {
        ChannelState memory s = _good();
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidSignature.selector, user, node));
        cm.dispute(user, node, s, nodeSig, userSig);
    }

    function test_dispute_rejectsBothFromOneKey() public {
        ChannelState memory s = _good();
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.InvalidSignature.selector, node, user));
        cm.dispute(user, node, s, userSig, userSig);
    }

    function test_dispute_rejectsCommitmentSignatureForState() public {
        // A withdrawal commitment's signature never passes for a state (distinct type hashes).
        WithdrawCommitment memory c = _commitment(0, 3, ETH, USER, user, 1 ether);
        (bytes memory cu, bytes memory cn) = _signCommitment(cm, c);
        ChannelState memory s = _good();
        vm.prank(user);
        vm.expectPartialRevert(IChannelManager.InvalidSignature.selector);
        cm.dispute(user, node, s, cu, cn);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Replay
    // ---------------------------------------------------------------------------------------------------------

    function test_dispute_replayOnSecondDeploymentRefused() public {
        ChannelManager other = deployManager(WINDOW, _list(address(dai)));
        vm.prank(user);
        other.deposit{value: 10 ether}(user, node, ETH, USER, 10 ether);
        vm.prank(node);
        other.deposit{value: 10 ether}(user, node, ETH, NODE, 10 ether);
        ChannelState memory s = _good();
        bytes32 otherId = other.channelId(user, node, 0);
        bytes memory expected = abi.encodeWithSelector(IChannelManager.WrongChannel.selector, otherId, _id());
        // As signed: it names the first deployment's channel.
        vm.prank(user);
        vm.expectRevert(expected);
        other.dispute(user, node, s, userSig, nodeSig);
        // With the id rewritten, the signatures (over the first deployment's domain) no longer match.
        s.channelId = otherId;
        vm.prank(user);
        vm.expectPartialRevert(IChannelManager.InvalidSignature.selector);
        other.dispute(user, node, s, userSig, nodeSig);
        assertEq(other.channel(otherId).status, 0, "second deployment untouched");
        assertEq(other.stateHash(otherId), bytes32(0), "no state stored");
    }

    function test_dispute_replayOnOtherChainRefused() public {
        ChannelState memory s = _good();
        bytes32 id1 = _id();
        vm.chainId(2);
        bytes32 id2 = _id();
        assertNotEq(id1, id2, "chain id is in the channel id");
        _depositEth(USER, 10 ether);
        _depositEth(NODE, 10 ether);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.WrongChannel.selector, id2, id1));
        cm.dispute(user, node, s, userSig, nodeSig);
        s.channelId = id2;
        vm.prank(user);
        vm.expectPartialRevert(IChannelManager.InvalidSignature.selector);
        cm.dispute(user, node, s, userSig, nodeSig);
    }

    function test_dispute_epochReplayAfterConclusionRefused() public {
        ChannelState memory s = _good();
        _disputeAndConclude(s);
        _depositEth(USER, 10 ether);
        _depositEth(NODE, 10 ether);
        bytes memory expected = abi.encodeWithSelector(IChannelManager.WrongChannel.selector, _id(1), _id(0));
        vm.prank(user);
        vm.expectRevert(expected);
        cm.dispute(user, node, s, userSig, nodeSig);
    }

    function test_withdraw_replayOnSecondDeploymentRefused() public {
        ChannelManager other = deployManager(WINDOW, _list(address(dai)));
        vm.prank(user);
        other.deposit{value: 10 ether}(user, node, ETH, USER, 10 ether);
        WithdrawCommitment memory c = _commitment(0, 1, ETH, USER, user, 1 ether);
        (bytes memory us, bytes memory ns) = _signCommitment(cm, c);
        vm.expectPartialRevert(IChannelManager.WrongChannel.selector);
        other.withdraw(user, node, 0, c, us, ns);
        c.channelId = other.channelId(user, node, 0);
        vm.expectPartialRevert(IChannelManager.InvalidSignature.selector);
        other.withdraw(user, node, 0, c, us, ns);
    }

    function _tryRecover(bytes32 h, bytes memory sig) internal pure returns (address, bool) {
        (bytes32 r, bytes32 s, uint8 v) = _split(sig);
        if (uint256(s) > N / 2) return (address(0), false);
        return (ecrecover(h, v, r, s), true);
    }
}
