// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test, console} from "../utils/Test.sol";
import {vm} from "../utils/Vm.sol";
import {ChannelManager} from "../../src/ChannelManager.sol";
import {deployManager, deployDai} from "../utils/Deploy.sol";
import {DevDai} from "../../src/DevDai.sol";
import {Ledger} from "../../src/types/ChannelTypes.sol";
import {ChannelManagerHandler} from "./ChannelManagerHandler.sol";

/// @notice A11: solvency and per-channel accounting under random sequences of every operation.
contract ChannelManagerInvariantTest is Test {
    ChannelManager internal cm;
    DevDai internal dai;
    ChannelManagerHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        dai = deployDai();
        address[] memory tokens = new address[](1);
        tokens[0] = address(dai);
        cm = deployManager(1 days, tokens);
        handler = new ChannelManagerHandler(cm, dai);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev What the contract holds equals everything deposited minus every executed withdrawal and payout.
    function invariant_ethBalanceEqualsGhostSums() public view {
        assertEq(address(cm).balance, handler.ghostIn(address(0)) - handler.ghostOut(address(0)), "eth");
    }

    function invariant_tokenBalanceEqualsGhostSums() public view {
        assertEq(dai.balanceOf(address(cm)), handler.ghostIn(address(dai)) - handler.ghostOut(address(dai)), "dai");
    }

    /// @dev No channel ever pays out more than it received, and `held` tracks the ghosts exactly.
    function invariant_noChannelPaysMoreThanItReceived() public view {
        uint256 n = handler.channelCount();
        uint256 totalEth;
        uint256 totalDai;
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.channelIds(i);
            for (uint256 a; a < 2; ++a) {
                address asset = a == 0 ? address(0) : address(dai);
                uint256 received = handler.chIn(id, asset);
                uint256 paid = handler.chOut(id, asset);
                assertLe(paid, received, "paid <= received");
                assertEq(cm.held(id, asset), received - paid, "held == in - out");
                Ledger memory l = cm.ledger(id, asset);
                assertLe(
                    uint256(l.withdrawnUser) + l.withdrawnNode + l.paidOut,
                    uint256(l.depositUser) + l.depositNode,
                    "ledger never negative"
                );
                if (a == 0) totalEth += cm.held(id, asset);
                else totalDai += cm.held(id, asset);
            }
        }
        assertEq(address(cm).balance, totalEth, "eth held by channels");
        assertEq(dai.balanceOf(address(cm)), totalDai, "dai held by channels");
    }

    /// @dev A dispute's nonce never goes back, and a dispute concludes on the newest state submitted.
    function invariant_disputeNonceNeverGoesBack() public view {
        assertFalse(handler.nonceWentBack(), "nonce went back");
        assertFalse(handler.concludedOnOlderState(), "concluded on an older state than submitted");
    }

    function afterInvariant() public view {
        string[13] memory names = [
            "deposit",
            "fabricateLock",
            "update",
            "withdrawSigned",
            "withdrawExecuted",
            "dispute",
            "disputeWithoutState",
            "respond",
            "reveal",
            "settleLock",
            "conclude",
            "claim",
            "warp"
        ];
        for (uint256 i; i < 13; ++i) {
            console.log(names[i], handler.calls(names[i]));
        }
    }
}
