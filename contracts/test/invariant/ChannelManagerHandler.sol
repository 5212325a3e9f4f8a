// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {vm} from "../utils/Vm.sol";
import {ChannelManager} from "../../src/ChannelManager.sol";
import {DevDai} from "../../src/DevDai.sol";
import {AssetState, ChannelState, WithdrawCommitment, Lock, Channel, Ledger} from "../../src/types/ChannelTypes.sol";

/// @notice Drives five channels (five users, one node) in ETH and two ERC-20 tokens through random deposits, off-chain updates
///         (counting, payments, one lock), cooperative withdrawals, disputes with the latest or a stale state,
///         responses, reveals, lock settlement, conclusions, claims and time, while keeping ghost sums of every
///         wei and token that entered or left the contract, per asset and per channel.
contract ChannelManagerHandler {
    uint256 internal constant NODE_KEY = 0xB0B;
    uint256 internal constant CHANNELS = 5;
    uint256 internal constant ASSETS = 3; // 0: ETH, then the two tokens in ascending address order

    struct AssetModel {
        uint256 bu;
        uint256 bn;
        uint256 cu;
        uint256 cn;
        uint256 wu;
        uint256 wn;
        uint256 lu;
        uint256 ln;
    }

    struct LockModel {
        bool active;
        bytes32 id;
        uint8 asset;
        uint256 amount;
        uint8 sender;
        bytes32 preimage;
        uint64 expiry;
    }

    struct StateModel {
        uint64 nonce;
        AssetModel[ASSETS] assets;
        LockModel lock;
    }

    struct Pending {
        bool exists;
        uint64 epoch;
        WithdrawCommitment c;
    }

    struct Chan {
        uint64 epoch;
        StateModel latest;
        StateModel prev;
        bool disputedPrev; // the state on chain is `prev` (else `latest`)
    }

    ChannelManager public immutable cm;
    DevDai[ASSETS - 1] internal tokens;
    address public immutable node;
    uint256[CHANNELS] internal userKeys;
    address[CHANNELS] public users;

    Chan[CHANNELS] internal chans;
    Pending[CHANNELS] internal pending;

    // Ghost sums.
    mapping(address asset => uint256) public ghostIn;
    mapping(address asset => uint256) public ghostOut;
    mapping(bytes32 id => mapping(address asset => uint256)) public chIn;
    mapping(bytes32 id => mapping(address asset => uint256)) public chOut;
    mapping(bytes32 id => uint64) public maxAccepted; // highest nonce accepted by dispute/respond
    mapping(bytes32 id => uint64) public lastSeenNonce;
    mapping(bytes32 id => bool) public seen;
    bytes32[] public channelIds; // every channel ever touched (all epochs)
    bool public nonceWentBack;
    bool public concludedOnOlderState;

    // Concluded channels that may still be claimed: (pair, epoch).
    uint256[] internal concludedPair;
    uint64[] internal concludedEpoch;

    mapping(string => uint256) public calls; // successful actions, for the summary

    /// @param tokens_ the manager's allowlist, in ascending address order (as a state lists its assets)
    constructor(ChannelManager cm_, DevDai[ASSETS - 1] memory tokens_) {
        cm = cm_;
        tokens = tokens_;
        node = vm.addr(NODE_KEY);
        for (uint256 p; p < CHANNELS; ++p) {
            userKeys[p] = 0xA11CE + p;
            users[p] = vm.addr(userKeys[p]);
            _track(_id(p, 0));
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Actions
    // ---------------------------------------------------------------------------------------------------------

    function deposit(uint256 p, uint256 assetIdx, bool nodeSide, uint256 amount) external {
        p %= CHANNELS;
        address asset = _asset(assetIdx);
        amount = _bound(amount, 1, 100 ether);
        uint8 side = nodeSide ? 1 : 0;
        address from = nodeSide ? node : users[p];
        bytes32 id = _id(p, chans[p].epoch);
        if (asset == address(0)) {
            vm.deal(from, amount);
            vm.prank(from);
            cm.deposit{value: amount}(users[p], node, asset, side, amount);
        } else {
            DevDai(asset).mint(from, amount);
            vm.prank(from);
            DevDai(asset).approve(address(cm), amount);
            vm.prank(from);
            cm.deposit(users[p], node, asset, side, amount);
        }
        ghostIn[asset] += amount;
        chIn[id][asset] += amount;
        _done("deposit");
    }

    /// @dev One off-chain update both sides sign (only while the channel is open on chain).
    function update(uint256 p, uint256 kind, uint256 assetIdx, bool fromNode, uint256 amount, uint256 extra) external {
        p %= CHANNELS;
        if (_status(p) != 0) return;
        Chan storage ch = chans[p];
        _copy(ch.prev, ch.latest);
        StateModel storage s = ch.latest;
        uint256 a = assetIdx % ASSETS;
        AssetModel storage m = s.assets[a];
        // Every update first counts the deposits made so far (as a client does before paying); deposits made
        // after the last update stay uncounted.
        (uint256 du, uint256 dn) = _deposits(p, a);
        m.bu += du - m.cu;
        m.bn += dn - m.cn;
        (m.cu, m.cn) = (du, dn);
        kind %= 4;
        if (kind == 0) {
            // Counting only.
        } else if (kind == 1) {
            // Pay from one side to the other.
            if (fromNode) {
                uint256 x = _bound(amount, 0, m.bn);
                (m.bn, m.bu) = (m.bn - x, m.bu + x);
            } else {
                uint256 x = _bound(amount, 0, m.bu);
                (m.bu, m.bn) = (m.bu - x, m.bn + x);
            }
        } else if (kind == 2 && !s.lock.active && (fromNode ? m.bn : m.bu) != 0) {
            // Lock a payment under a fresh preimage.
            uint256 x = _bound(amount, 1, fromNode ? m.bn : m.bu);
            if (fromNode) (m.bn, m.ln) = (m.bn - x, m.ln + x);
            else (m.bu, m.lu) = (m.bu - x, m.lu + x);
            s.lock = LockModel({
                active: true,
                id: keccak256(abi.encode(p, s.nonce, "lock")),
                asset: uint8(a),
                amount: x,
                sender: fromNode ? 1 : 0,
                preimage: keccak256(abi.encode(extra, s.nonce)),
                expiry: uint64(block.timestamp + _bound(extra, 1 hours, 4 days))
            });
        } else if (kind == 3 && s.lock.active) {
            // Resolve (to the receiver) or cancel (to the sender) the lock.
            LockModel storage l = s.lock;
            AssetModel storage lm = s.assets[l.asset];
            bool toSender = fromNode;
            uint256 locked = l.sender == 0 ? lm.lu : lm.ln;
            if (locked >= l.amount) {
                if (l.sender == 0) lm.lu -= l.amount;
                else lm.ln -= l.amount;
                if ((l.sender == 0) == toSender) lm.bu += l.amount;
                else lm.bn += l.amount;
            } // else: a fabricated lock nothing backs; it is simply dropped
            delete s.lock;
        }
        // (kind 0, or a lock action that does not apply: a counting-only update)
        s.nonce += 1;
        _done("update");
    }

    /// @dev A state no honest party signs (the handler holds both keys): a lock of an arbitrary amount that no
    ///      `locked` balance backs. On chain it can only ever move what the channel itself holds.
    function fabricateLock(uint256 p, uint256 assetIdx, bool fromNode, uint256 amount, uint256 extra) external {
        p %= CHANNELS;
        if (extra % 4 != 0 || _status(p) != 0) return; // rare next to honest updates
        Chan storage ch = chans[p];
        _copy(ch.prev, ch.latest);
        StateModel storage s = ch.latest;
        s.lock = LockModel({
            active: true,
            id: keccak256(abi.encode(p, s.nonce, "forged")),
            asset: uint8(assetIdx % ASSETS),
            amount: _bound(amount, 1, 1000 ether),
            sender: fromNode ? 1 : 0,
            preimage: keccak256(abi.encode(extra, s.nonce, "forged")),
            expiry: uint64(block.timestamp + _bound(extra, 1 hours, 4 days))
        });
        s.nonce += 1;
        _done("fabricateLock");
    }

    /// @dev A cooperative withdrawal: a new state moving `amount` to `withdrawn`, and its signed commitment,
    ///      executed now or kept for later.
    function withdraw(uint256 p, uint256 assetIdx, bool nodeSide, uint256 amount, bool executeNow) external {
        p %= CHANNELS;
        if (_status(p) != 0) return;
        Chan storage ch = chans[p];
        uint256 a = assetIdx % ASSETS;
        AssetModel storage m = ch.latest.assets[a];
        uint256 bal = nodeSide ? m.bn : m.bu;
        if (bal == 0) return;
        _copy(ch.prev, ch.latest);
        uint256 x = _bound(amount, 1, bal);
        uint256 cumulative;
        if (nodeSide) {
            (m.bn, m.wn) = (m.bn - x, m.wn + x);
            cumulative = m.wn;
        } else {
            (m.bu, m.wu) = (m.bu - x, m.wu + x);
            cumulative = m.wu;
        }
        ch.latest.nonce += 1;
        WithdrawCommitment memory c = WithdrawCommitment({
            channelId: _id(p, ch.epoch),
            stateNonce: ch.latest.nonce,
            asset: _asset(a),
            side: nodeSide ? 1 : 0,
            recipient: nodeSide ? node : users[p],
            cumulative: cumulative
        });
        pending[p] = Pending({exists: true, epoch: ch.epoch, c: c});
        _done("withdrawSigned");
        if (executeNow) _execute(p);
    }

    /// @dev Executes the channel's last signed commitment (open channel, or after conclusion).
    function executePending(uint256 p) external {
        p %= CHANNELS;
        if (!pending[p].exists) return;
        _execute(p);
    }

    function dispute(uint256 p, uint256 which, bool byNode) external {
        p %= CHANNELS;
        if (_status(p) != 0) return;
        Chan storage ch = chans[p];
        address by = byNode ? node : users[p];
        bytes32 id = _id(p, ch.epoch);
        which %= 6; // half of the calls do nothing, so channels live long enough to be used
        if (which >= 3) return;
        if (which == 2) {
            vm.prank(by);
            cm.disputeWithoutState(users[p], node);
            // The disputed state is the implicit empty one: model it as an empty `prev` (nonce 0 builds
            // `{id, 0, [], 0}`); `latest` stays available for a response.
            delete ch.prev;
            ch.disputedPrev = true;
            _accepted(id, 0);
            _done("disputeWithoutState");
            return;
        }
        bool usePrev = which == 1;
        StateModel storage s = usePrev ? ch.prev : ch.latest;
        ChannelState memory st = _build(p, s);
        (bytes memory us, bytes memory ns) = _sign(p, cm.stateDigest(st));
        vm.prank(by);
        cm.dispute(users[p], node, st, us, ns);
        ch.disputedPrev = usePrev;
        _accepted(id, s.nonce);
        _done("dispute");
    }

    function respond(uint256 p) external {
        p %= CHANNELS;
        if (_status(p) != 1) return;
        Chan storage ch = chans[p];
        Channel memory c = cm.channel(_id(p, ch.epoch));
        if (ch.latest.nonce <= c.disputeNonce || block.timestamp >= c.consensusEnd) return;
        ChannelState memory st = _build(p, ch.latest);
        (bytes memory us, bytes memory ns) = _sign(p, cm.stateDigest(st));
        cm.respond(users[p], node, st, us, ns);
        ch.disputedPrev = false;
        _accepted(_id(p, ch.epoch), ch.latest.nonce);
        _done("respond");
    }

    function reveal(uint256 p, bool usePrev) external {
        p %= CHANNELS;
        LockModel storage l = usePrev ? chans[p].prev.lock : chans[p].latest.lock;
        if (!l.active) return;
        cm.reveal(l.preimage);
        _done("reveal");
    }

    function settleLock(uint256 p) external {
        p %= CHANNELS;
        // The lock of the disputed state, once the consensus window closed (the conclusion also tries it).
        if (_status(p) != 1) return;
        Chan storage ch = chans[p];
        StateModel storage s = ch.disputedPrev ? ch.prev : ch.latest;
        if (!s.lock.active) return;
        cm.settleLock(users[p], node, ch.epoch, _lockOf(s.lock), new bytes32[](0));
        _done("settleLock");
    }

    function conclude(uint256 p) external {
        p %= CHANNELS;
        if (_status(p) != 1) return;
        Chan storage ch = chans[p];
        bytes32 id = _id(p, ch.epoch);
        StateModel storage s = ch.disputedPrev ? ch.prev : ch.latest;
        // Settle the disputed state's lock first when it can be (otherwise it is left unsettled).
        Channel memory c = cm.channel(id);
        if (block.timestamp < c.consensusEnd) return;
        if (s.lock.active) {
            try cm.settleLock(users[p], node, ch.epoch, _lockOf(s.lock), new bytes32[](0)) {} catch {}
        }
        cm.conclude(users[p], node, _build(p, s));
        if (cm.channel(id).disputeNonce != maxAccepted[id]) concludedOnOlderState = true;
        concludedPair.push(p);
        concludedEpoch.push(ch.epoch);
        // A new channel: everything starts uncounted. A pending commitment keeps its epoch.
        uint64 next = ch.epoch + 1;
        delete chans[p];
        chans[p].epoch = next;
        _track(_id(p, next));
        _done("conclude");
    }

    function claim(uint256 k, uint256 assetIdx, bool nodeSide) external {
        if (concludedPair.length == 0) return;
        k %= concludedPair.length;
        uint256 p = concludedPair[k];
        uint64 epoch = concludedEpoch[k];
        address asset = _asset(assetIdx);
        bytes32 id = _id(p, epoch);
        address to = nodeSide ? node : users[p];
        uint256 before = _balance(asset, to);
        cm.claim(users[p], node, epoch, asset, nodeSide ? 1 : 0);
        uint256 paid = _balance(asset, to) - before;
        ghostOut[asset] += paid;
        chOut[id][asset] += paid;
        _done("claim");
    }

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + _bound(secs, 1, 2 days));
        _done("warp");
    }

    // ---------------------------------------------------------------------------------------------------------
    // Views for the invariants
    // ---------------------------------------------------------------------------------------------------------

    function channelCount() external view returns (uint256) {
        return channelIds.length;
    }

    function assetCount() external pure returns (uint256) {
        return ASSETS;
    }

    function assetAt(uint256 a) external view returns (address) {
        return _asset(a);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------------

    function _execute(uint256 p) internal {
        Pending storage pd = pending[p];
        WithdrawCommitment memory c = pd.c;
        (bytes memory us, bytes memory ns) = _sign(p, cm.commitmentDigest(c));
        uint256 before = _balance(c.asset, c.recipient);
        cm.withdraw(users[p], node, pd.epoch, c, us, ns);
        uint256 paid = _balance(c.asset, c.recipient) - before;
        ghostOut[c.asset] += paid;
        chOut[c.channelId][c.asset] += paid;
        _done("withdrawExecuted");
    }

    function _done(string memory action) internal {
        calls[action] += 1;
        // Observe every channel's dispute nonce after each successful action: it may never decrease.
        for (uint256 i; i < channelIds.length; ++i) {
            bytes32 id = channelIds[i];
            uint64 n = cm.channel(id).disputeNonce;
            if (n < lastSeenNonce[id]) nonceWentBack = true;
            lastSeenNonce[id] = n;
        }
    }

    function _accepted(bytes32 id, uint64 nonce) internal {
        if (nonce > maxAccepted[id]) maxAccepted[id] = nonce;
    }

    function _track(bytes32 id) internal {
        if (seen[id]) return;
        seen[id] = true;
        channelIds.push(id);
    }

    function _status(uint256 p) internal view returns (uint8) {
        return cm.channel(_id(p, chans[p].epoch)).status;
    }

    function _id(uint256 p, uint64 epoch) internal view returns (bytes32) {
        return cm.channelId(users[p], node, epoch);
    }

    function _asset(uint256 assetIdx) internal view returns (address) {
        uint256 a = assetIdx % ASSETS;
        return a == 0 ? address(0) : address(tokens[a - 1]);
    }

    function _deposits(uint256 p, uint256 a) internal view returns (uint256, uint256) {
        Ledger memory l = cm.ledger(_id(p, chans[p].epoch), _asset(a));
        return (l.depositUser, l.depositNode);
    }

    function _balance(address asset, address who) internal view returns (uint256) {
        return asset == address(0) ? who.balance : DevDai(asset).balanceOf(who);
    }

    function _sign(uint256 p, bytes32 digest) internal view returns (bytes memory us, bytes memory ns) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(userKeys[p], digest);
        us = abi.encodePacked(r, s, v);
        (v, r, s) = vm.sign(NODE_KEY, digest);
        ns = abi.encodePacked(r, s, v);
    }

    function _lockOf(LockModel storage l) internal view returns (Lock memory) {
        return Lock({
            id: l.id,
            asset: _asset(l.asset),
            amount: l.amount,
            sender: l.sender,
            hashlock: sha256(abi.encodePacked(l.preimage)),
            expiry: l.expiry
        });
    }

    /// @dev The signed state of a model: nonce 0 is the implicit empty state; otherwise every asset, and the
    ///      single lock's leaf as the root (a one-leaf tree).
    function _build(uint256 p, StateModel storage m) internal view returns (ChannelState memory s) {
        s.channelId = _id(p, chans[p].epoch);
        s.nonce = m.nonce;
        if (m.nonce == 0) return s;
        s.assets = new AssetState[](ASSETS);
        for (uint256 a; a < ASSETS; ++a) {
            s.assets[a] = _entry(_asset(a), m.assets[a]);
        }
        if (m.lock.active) s.locksRoot = cm.lockLeaf(s.channelId, _lockOf(m.lock));
    }

    function _entry(address asset, AssetModel storage m) internal view returns (AssetState memory) {
        return AssetState(asset, m.bu, m.bn, m.cu, m.cn, m.wu, m.wn, m.lu, m.ln);
    }

    function _copy(StateModel storage to, StateModel storage from) internal {
        to.nonce = from.nonce;
        for (uint256 a; a < ASSETS; ++a) {
            to.assets[a] = from.assets[a];
        }
        to.lock = from.lock;
    }

    function _bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        if (hi <= lo) return lo;
        return lo + (x % (hi - lo + 1));
    }
}
