// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @notice ETH receiver with a configurable misbehaviour. Tests `vm.etch` its runtime code onto a participant's
///         address (whose key still signs), so the contract's payouts to that side hit this code.
/// @dev Mode 0 accepts, 1 rejects, 2 re-enters with preset calldata (recording the result), 3 returns 64 KiB of
///      return data (a "return bomb" the payer must not copy). State lives in the etched address's storage.
contract HostileReceiver {
    uint8 public mode;
    address public target;
    bytes public reentryCall;
    bool public reentered;
    bool public reentrySucceeded;
    bytes4 public reentryError;

    function configure(uint8 mode_, address target_, bytes calldata call_) external {
        mode = mode_;
        target = target_;
        reentryCall = call_;
    }

    receive() external payable {
        _onPayment();
    }

    fallback() external payable {
        _onPayment();
    }

    function _onPayment() private {
        uint8 m = mode;
        if (m == 1) revert("no ETH please");
        if (m == 2 && !reentered) {
            reentered = true;
            (bool ok, bytes memory ret) = target.call(reentryCall);
            reentrySucceeded = ok;
            reentryError = ret.length >= 4 ? bytes4(ret) : bytes4(0);
        }
        if (m == 3) {
            assembly {
                return(0, 65536)
            }
        }
    }
}
