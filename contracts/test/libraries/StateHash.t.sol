// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {vm} from "../utils/Vm.sol";
import {StateHash} from "../../src/libraries/StateHash.sol";
import {AssetState, ChannelState, WithdrawCommitment, Lock} from "../../src/types/ChannelTypes.sol";

/// @notice Hash parity: constants and known answers computed independently (JavaScript, js-sha3, from the type
///         strings of docs/PROTOCOL.md), and the assembly implementation against a plain abi.encode one.
contract StateHashTest is Fixture {
    address internal constant DAI_MAINNET = 0x6B175474E89094C44Da98b954EedeAC495271d0F;

    function test_typeHashes_matchProtocolStrings() public pure {
        assertEq(StateHash.ASSET_STATE_TYPEHASH, 0x99a9aae5666bc51afa6f4c190d2950e1875b661b7bb61da7c762d4f22dfd28e4, "asset");
        assertEq(StateHash.CHANNEL_STATE_TYPEHASH, 0x62e05a1b580574d61befae9c59142a08c8ee9e1acba059cd7f4baa2335517c37, "state");
        assertEq(
            StateHash.WITHDRAW_COMMITMENT_TYPEHASH,
            0x33c12a10e647ddc35356e64ead217e53cb7578ff8d2199c64258725abd6a58c1,
            "commitment"
        );
        assertEq(StateHash.LOCK_LEAF_TYPEHASH, 0xc763a026e7378565aefcb965a55c244b87999e8533fcc7847ddc3390203c580a, "leaf");
    }

    function _vectorState() internal pure returns (ChannelState memory s) {
        AssetState[] memory assets = new AssetState[](2);
        assets[0] = AssetState(address(0), 1, 2, 3, 4, 5, 6, 7, 8);
        assets[1] = AssetState(DAI_MAINNET, 1e18, type(uint128).max, 0, 0, 0, 0, 0, 0);
        s = ChannelState(bytes32(uint256(0x11) * (type(uint256).max / 0xff)), 5, assets, bytes32(uint256(0x22) * (type(uint256).max / 0xff)));
    }

    function test_hashState_knownAnswer() public view {
        assertEq(cm.hashState(_vectorState()), 0x52ed3e889619e039b1850b2c869d3dee5781c8556c2a8248ddd86feef14f70af, "state");
    }

    function test_hashState_emptyStateKnownAnswer() public view {
        bytes32 id = bytes32(uint256(0x33) * (type(uint256).max / 0xff));
        bytes32 expected = 0x3808071e152377fa96090e2329c6e6cb333eb4227a361afaa0da14b8f8d9482e;
        assertEq(cm.hashState(_emptyState(id)), expected, "external");
        assertEq(StateHash.hashEmptyState(id), expected, "library shortcut");
    }

    function test_commitmentHash_knownAnswer() public view {
        WithdrawCommitment memory c = WithdrawCommitment(
            bytes32(uint256(0x11) * (type(uint256).max / 0xff)), 7, DAI_MAINNET, 1, address(0xBEEF), 12345
        );
        bytes32 structHash = 0xc4fb009263e6c332ee11030262e5e1e82e57ff277f41e67cff2d43aabc13b46c;
        bytes32 digest = keccak256(abi.encodePacked(hex"1901", cm.domainSeparator(), structHash));
        assertEq(cm.commitmentDigest(c), digest, "digest");
    }

    function test_lockLeaf_knownAnswer() public view {
        Lock memory l = Lock(
            bytes32(uint256(0x44) * (type(uint256).max / 0xff)),
            address(0),
            999,
            0,
            bytes32(uint256(0x55) * (type(uint256).max / 0xff)),
            1_700_000_000
        );
        bytes32 id = bytes32(uint256(0x11) * (type(uint256).max / 0xff));
        assertEq(cm.lockLeaf(id, l), 0x37a9b1c8ceece3d326048e6e5f394ed13b0f2c472ac7d3f599d6e89259d867a0, "leaf");
    }

    function test_stateDigest_isEip712() public view {
        ChannelState memory s = _vectorState();
        bytes32 digest = keccak256(abi.encodePacked(hex"1901", cm.domainSeparator(), cm.hashState(s)));
        assertEq(cm.stateDigest(s), digest, "digest");
    }

    // ---------------------------------------------------------------------------------------------------------
    // Reference implementation and fuzzing
    // ---------------------------------------------------------------------------------------------------------

    function _reference(ChannelState memory s) internal pure returns (bytes32) {
        bytes memory packed;
        for (uint256 i; i < s.assets.length; ++i) {
            packed = abi.encodePacked(packed, keccak256(abi.encode(StateHash.ASSET_STATE_TYPEHASH, s.assets[i])));
        }
        return keccak256(abi.encode(StateHash.CHANNEL_STATE_TYPEHASH, s.channelId, s.nonce, keccak256(packed), s.locksRoot));
    }

    function _fuzzState(uint256 seed, uint256 n) internal pure returns (ChannelState memory s) {
        s.channelId = keccak256(abi.encode(seed, "id"));
        s.nonce = uint64(seed);
        s.locksRoot = keccak256(abi.encode(seed, "root"));
        s.assets = new AssetState[](n);
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            s.assets[i] = AssetState(
                address(uint160(r)),
                r >> 1,
                r >> 2,
                r >> 3,
                r >> 4,
                r >> 5,
                r >> 6,
                r >> 7,
                r >> 8
            );
        }
    }

    function testFuzz_hashState_matchesReference(uint256 seed, uint8 count) public view {
        ChannelState memory s = _fuzzState(seed, bound(count, 0, 8));
        assertEq(cm.hashState(s), _reference(s), "assembly == abi.encode");
    }

    /// @dev A2: moving value between adjacent fields, or one asset's entry into another, changes the hash.
    function testFuzz_hashState_injectiveUnderAdjacentMoves(uint256 seed, uint8 count, uint8 field, uint128 delta)
        public
        view
    {
        uint256 n = bound(count, 1, 8);
        vm.assume(delta != 0);
        ChannelState memory s = _fuzzState(seed, n);
        bytes32 original = cm.hashState(s);
        AssetState memory a = s.assets[seed % n];
        uint256 f = bound(field, 0, 6);
        // Move `delta` from field f+1 to field f (wrapping is fine: only the encoding is under test).
        unchecked {
            if (f == 0) {
                a.balanceUser += delta;
                a.balanceNode -= delta;
            } else if (f == 1) {
                a.balanceNode += delta;
                a.countedUser -= delta;
            } else if (f == 2) {
                a.countedUser += delta;
                a.countedNode -= delta;
            } else if (f == 3) {
                a.countedNode += delta;
                a.withdrawnUser -= delta;
            } else if (f == 4) {
                a.withdrawnUser += delta;
                a.withdrawnNode -= delta;
            } else if (f == 5) {
                a.withdrawnNode += delta;
                a.lockedUser -= delta;
            } else {
                a.lockedUser += delta;
                a.lockedNode -= delta;
            }
        }
        assertNotEq(cm.hashState(s), original, "moved value changes the hash");
    }

    function testFuzz_hashState_assetBoundariesMatter(uint256 seed) public view {
        // [a, b] vs [b] with a's words folded elsewhere: dropping or reordering entries changes the hash.
        ChannelState memory two = _fuzzState(seed, 2);
        ChannelState memory swapped = _fuzzState(seed, 2);
        (swapped.assets[0], swapped.assets[1]) = (two.assets[1], two.assets[0]);
        ChannelState memory one = _fuzzState(seed, 1);
        assertNotEq(cm.hashState(two), cm.hashState(swapped), "order");
        assertNotEq(cm.hashState(two), cm.hashState(one), "length");
    }
}
