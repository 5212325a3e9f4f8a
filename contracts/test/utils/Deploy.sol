// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {vm} from "./Vm.sol";
import {ChannelManager} from "../../src/ChannelManager.sol";
import {DevDai} from "../../src/DevDai.sol";

/// @dev The artifact the Rust crates bind to and that gets deployed: `src/` is compiled via IR (default profile),
///      while the tests themselves compile without IR (`compilation_restrictions` in foundry.toml) to keep builds
///      fast. Deploying from the artifact makes every test, fuzz run, invariant and gas figure exercise exactly
///      that bytecode rather than the tests' own non-IR copy of the source.
string constant CHANNEL_MANAGER_ARTIFACT = "out/ChannelManager.sol/ChannelManager.json";

function deployManager(uint256 window, address[] memory tokens) returns (ChannelManager) {
    return ChannelManager(payable(vm.deployCode(CHANNEL_MANAGER_ARTIFACT, abi.encode(window, tokens))));
}

/// @dev The development token, also from its artifact (so token costs in gas figures match a deployment).
function deployDai() returns (DevDai) {
    return DevDai(vm.deployCode("out/DevDai.sol/DevDai.json", ""));
}
