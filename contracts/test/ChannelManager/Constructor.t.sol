// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {vm} from "../utils/Vm.sol";
import {ChannelManager} from "../../src/ChannelManager.sol";
import {IChannelManager} from "../../src/interfaces/IChannelManager.sol";

/// @notice Constructor bounds and the simple views.
contract ConstructorTest is Fixture {
    function test_constructor_revertsZeroWindow() public {
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.BadChallengeWindow.selector, 0));
        new ChannelManager(0, new address[](0));
    }

    function test_constructor_revertsAboveThirtyDays() public {
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.BadChallengeWindow.selector, 30 days + 1));
        new ChannelManager(30 days + 1, new address[](0));
    }

    function test_constructor_acceptsThirtyDays() public {
        assertEq(new ChannelManager(30 days, new address[](0)).challengeWindow(), 30 days, "max");
    }

    function test_constructor_shortWindowOnlyOnDevChain() public {
        assertEq(block.chainid, 31337, "forge default chain");
        assertEq(new ChannelManager(1, new address[](0)).challengeWindow(), 1, "dev chain");
        vm.chainId(1);
        vm.expectRevert(abi.encodeWithSelector(IChannelManager.BadChallengeWindow.selector, 24 hours - 1));
        new ChannelManager(24 hours - 1, new address[](0));
        assertEq(new ChannelManager(24 hours, new address[](0)).challengeWindow(), 24 hours, "production minimum");
    }

    function test_constructor_revertsZeroToken() public {
        address[] memory tokens = new address[](2);
        tokens[0] = address(dai);
        vm.expectRevert(IChannelManager.ZeroToken.selector);
        new ChannelManager(WINDOW, tokens);
    }

    function test_isAllowed_ethAndListedTokensOnly() public view {
        assertTrue(cm.isAllowed(ETH), "eth");
        assertTrue(cm.isAllowed(address(dai)), "dai");
        assertFalse(cm.isAllowed(address(0xDEAD)), "other");
    }

    function test_domainSeparator_matchesEip712() public view {
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Spoke"),
                keccak256("1"),
                block.chainid,
                address(cm)
            )
        );
        assertEq(cm.domainSeparator(), expected, "domain");
    }

    function test_domainSeparator_followsChainId() public {
        bytes32 before = cm.domainSeparator();
        vm.chainId(5);
        assertNotEq(cm.domainSeparator(), before, "recomputed on another chain");
    }

    function test_channelId_matchesSpec() public view {
        bytes32 expected = keccak256(abi.encode(block.chainid, address(cm), user, node, uint64(3)));
        assertEq(cm.channelId(user, node, 3), expected, "channel id");
        assertEq(cm.currentEpoch(user, node), 0, "epoch 0");
        assertEq(cm.MAX_ASSETS(), 8, "max assets");
    }

    function test_currentEpoch_revertsInvalidPair() public {
        vm.expectPartialRevert(IChannelManager.InvalidParticipants.selector);
        cm.currentEpoch(user, user);
    }
}
