// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @dev Shared balance bookkeeping of the misbehaving tokens below (no events, no checks beyond balances).
abstract contract MockTokenBase {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    uint256 public totalSupply;
    uint8 public constant decimals = 18;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        totalSupply += amount;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        return true;
    }

    function _move(address from, address to, uint256 amount) internal {
        require(balanceOf[from] >= amount, "balance");
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
    }

    function _spend(address owner, uint256 amount) internal {
        uint256 allowed = allowance[owner][msg.sender];
        require(allowed >= amount, "allowance");
        if (allowed != type(uint256).max) allowance[owner][msg.sender] = allowed - amount;
    }
}

/// @notice USDT-style token: `transfer` and `transferFrom` return nothing.
contract NoReturnToken is MockTokenBase {
    function transfer(address to, uint256 amount) external {
        _move(msg.sender, to, amount);
    }

    function transferFrom(address from, address to, uint256 amount) external {
        _spend(from, amount);
        _move(from, to, amount);
    }
}

/// @notice Returns `false` (without reverting or moving anything) for transfers to a blocked address.
contract FalseToken is MockTokenBase {
    mapping(address => bool) public blocked;

    function setBlocked(address who, bool value) external {
        blocked[who] = value;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        if (blocked[to]) return false;
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        if (blocked[to] || blocked[from]) return false;
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }
}

/// @notice Reverts transfers to a blocked address (a USDC-style blocklist).
contract RevertingToken is MockTokenBase {
    error Blocked(address who);

    mapping(address => bool) public blocked;

    function setBlocked(address who, bool value) external {
        blocked[who] = value;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        if (blocked[to]) revert Blocked(to);
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        if (blocked[to]) revert Blocked(to);
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }
}

/// @notice Returns `true` followed by 64 KiB of padding from every transfer (a "return bomb" for callers that
///         copy return data).
contract ReturnBombToken is MockTokenBase {
    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        _bomb();
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spend(from, amount);
        _move(from, to, amount);
        _bomb();
    }

    function _bomb() private pure {
        assembly {
            mstore(0, 1)
            return(0, 65536)
        }
    }
}

/// @notice Charges a 1% fee on every transfer (must never be allowlisted: the contract credits `amount`).
contract FeeToken is MockTokenBase {
    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        _burnFee(to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spend(from, amount);
        _move(from, to, amount);
        _burnFee(to, amount);
        return true;
    }

    function _burnFee(address to, uint256 amount) private {
        uint256 fee = amount / 100;
        balanceOf[to] -= fee;
        totalSupply -= fee;
    }
}

/// @notice On each transfer, calls `target` with preset calldata before moving funds, and records how that
///         reentrant call ended (the revert data's selector, or success).
contract ReentrantToken is MockTokenBase {
    address public target;
    bytes public reentryCall;
    bool public armed;
    uint256 public attempts;
    bool public lastReentrySucceeded;
    bytes4 public lastReentryError;

    function arm(address target_, bytes calldata call_) external {
        target = target_;
        reentryCall = call_;
        armed = true;
    }

    function disarm() external {
        armed = false;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _reenter();
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _reenter();
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }

    function _reenter() private {
        if (!armed) return;
        armed = false; // one attempt per arming
        attempts++;
        (bool ok, bytes memory ret) = target.call(reentryCall);
        lastReentrySucceeded = ok;
        lastReentryError = ret.length >= 4 ? bytes4(ret) : bytes4(0);
    }
}
