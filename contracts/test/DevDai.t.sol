// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "./utils/Test.sol";
import {vm} from "./utils/Vm.sol";
import {DevDai} from "../src/DevDai.sol";
import {deployDai} from "./utils/Deploy.sol";

contract DevDaiTest is Test {
    DevDai internal dai;

    function setUp() public {
        dai = deployDai();
    }

    function test_metadata_isDai18Decimals() public view {
        assertEq(dai.decimals(), 18, "decimals");
        assertEq(keccak256(bytes(dai.symbol())), keccak256("DAI"), "symbol");
        assertEq(dai.totalSupply(), 0, "no premint");
    }

    function test_mint_openToAnyone() public {
        vm.prank(address(0x1234));
        dai.mint(address(0xBEEF), 5e18);
        assertEq(dai.balanceOf(address(0xBEEF)), 5e18, "minted");
        assertEq(dai.totalSupply(), 5e18, "supply");
    }

    function test_transfer_standardErc20() public {
        dai.mint(address(this), 10);
        assertTrue(dai.transfer(address(0xBEEF), 4), "returns true");
        assertEq(dai.balanceOf(address(0xBEEF)), 4, "moved");
    }
}
