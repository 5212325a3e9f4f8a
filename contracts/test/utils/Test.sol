// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {vm} from "./Vm.sol";

/// @notice console.log at forge's console address (decoded by forge in `-vv` output).
library console {
    address internal constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    function log(string memory label, uint256 value) internal view {
        _send(abi.encodeWithSignature("log(string,uint256)", label, value));
    }

    function log(string memory message) internal view {
        _send(abi.encodeWithSignature("log(string)", message));
    }

    function _send(bytes memory payload) private view {
        address target = CONSOLE;
        assembly ("memory-safe") {
            pop(staticcall(gas(), target, add(payload, 0x20), mload(payload), 0, 0))
        }
    }
}

/// @notice Minimal assertion base: every failed assertion reverts with a message naming both values.
abstract contract Test {
    error AssertionFailed(string message);

    function fail(string memory message) internal pure {
        revert AssertionFailed(message);
    }

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) fail(message);
    }

    function assertTrue(bool condition) internal pure {
        assertTrue(condition, "expected true");
    }

    function assertFalse(bool condition, string memory message) internal pure {
        if (condition) fail(message);
    }

    function assertFalse(bool condition) internal pure {
        assertFalse(condition, "expected false");
    }

    function assertEq(uint256 a, uint256 b, string memory message) internal pure {
        if (a != b) fail(string.concat(message, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(uint256 a, uint256 b) internal pure {
        assertEq(a, b, "uint");
    }

    function assertEq(int256 a, int256 b, string memory message) internal pure {
        if (a != b) fail(string.concat(message, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(int256 a, int256 b) internal pure {
        assertEq(a, b, "int");
    }

    function assertEq(address a, address b, string memory message) internal pure {
        if (a != b) fail(string.concat(message, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(address a, address b) internal pure {
        assertEq(a, b, "address");
    }

    function assertEq(bytes32 a, bytes32 b, string memory message) internal pure {
        if (a != b) fail(string.concat(message, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(bytes32 a, bytes32 b) internal pure {
        assertEq(a, b, "bytes32");
    }

    function assertEq(bool a, bool b, string memory message) internal pure {
        if (a != b) fail(string.concat(message, ": bool mismatch"));
    }

    function assertNotEq(bytes32 a, bytes32 b, string memory message) internal pure {
        if (a == b) fail(string.concat(message, ": both ", vm.toString(a)));
    }

    function assertLe(uint256 a, uint256 b, string memory message) internal pure {
        if (a > b) fail(string.concat(message, ": ", vm.toString(a), " > ", vm.toString(b)));
    }

    function assertGe(uint256 a, uint256 b, string memory message) internal pure {
        if (a < b) fail(string.concat(message, ": ", vm.toString(a), " < ", vm.toString(b)));
    }

    function assertLt(uint256 a, uint256 b, string memory message) internal pure {
        if (a >= b) fail(string.concat(message, ": ", vm.toString(a), " >= ", vm.toString(b)));
    }

    /// @dev Maps `x` into [lo, hi] without discarding fuzz inputs.
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: lo > hi");
        if (x >= lo && x <= hi) return x;
        uint256 size = hi - lo;
        if (size == type(uint256).max) return x;
        return lo + (x % (size + 1));
    }
}
