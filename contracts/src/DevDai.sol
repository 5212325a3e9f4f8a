// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title DevDai
/// @notice Development stand-in for Dai: an 18-decimal ERC-20 anyone can mint. Never deploy it to a real network.
contract DevDai is ERC20 {
    constructor() ERC20("Dai Stablecoin (dev)", "DAI") {}

    /// @notice Mint `amount` to `to`; open to anyone (development and tests only).
    /// @param to The receiver.
    /// @param amount The amount in base units (18 decimals).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
