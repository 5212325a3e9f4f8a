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
    ChannelManagerHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        DevDai[2] memory tokens = [deployDai(), deployDai()];
        if (address(tokens[1]) < address(tokens[0])) (tokens[0], tokens[1]) = (tokens[1], tokens[0]);
        address[] memory allowlist = new address[](2);
        (allowlist[0], allowlist[1]) = (address(tokens[0]), address(tokens[1]));
        cm = deployManager(1 days, allowlist);
        handler = new ChannelManagerHandler(cm, tokens);
    }

    function _held(address asset) internal view returns (uint256) {
        return asset == address(0) ? address(cm).balance : DevDai(asset).balanceOf(address(cm));
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev What the contract holds equals everything deposited minus every executed withdrawal and payout.
    function invariant_balanceEqualsGhostSums() public view {
        for (uint256 a; a < handler.assetCount(); ++a) {
            address asset = handler.assetAt(a);
            assertEq(_held(asset), handler.ghostIn(asset) - handler.ghostOut(asset), "held == in - out, per asset");
        }
    }

    /// @dev No channel ever pays out more than it received, and `held` tracks the ghosts exactly.
    function invariant_noChannelPaysMoreThanItReceived() public view {
        uint256 n = handler.channelCount();
        uint256 assets = handler.assetCount();
        uint256[] memory totals = new uint256[](assets);
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.channelIds(i);
            for (uint256 a; a < assets; ++a) {
                address asset = handler.assetAt(a);
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
                totals[a] += cm.held(id, asset);
            }
        }
        for (uint256 a; a < assets; ++a) {
            assertEq(_held(handler.assetAt(a)), totals[a], "held by the contract == held by its channels");
        }
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
