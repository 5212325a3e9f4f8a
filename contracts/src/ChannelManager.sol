// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IChannelManager} from "./interfaces/IChannelManager.sol";
import {StateHash} from "./libraries/StateHash.sol";
import {
    AssetState,
    ChannelState,
    WithdrawCommitment,
    Lock,
    Channel,
    Ledger,
    STATUS_OPEN,
    STATUS_DISPUTE,
    STATUS_CONCLUDED
} from "./types/ChannelTypes.sol";

/// @title ChannelManager
/// @notice Holds every Spoke channel of one deployment, with its secret registry. See `IChannelManager` and
///         `docs/PROTOCOL.md`.
/// @dev Accounting per (channel, asset), four storage slots:
///      - slot 0: user's cumulative deposit (128) | user's cumulative executed withdrawals (128)
///      - slot 1: node's cumulative deposit (128) | node's cumulative executed withdrawals (128)
///      - slot 2: exit of the user (int128) | exit of the node (int128), written from the consensus window's end
///      - slot 3: paidOut (128), written only after conclusion
///      A side's deposit and withdrawn counters share a slot so that a side withdrawing from its own deposit
///      rewrites a slot it already made nonzero. `held = deposits - executed withdrawals - paidOut` bounds every
///      payment of the channel, so no state, however it was signed, reaches another channel's money.
///      A side is owed `deposit + exit`. After conclusion a claim is paid out of the side's (then final) deposit
///      first and out of its exit for the rest; only that rest is added to `paidOut`. Both `owed` and `held`
///      fall by exactly the amount paid either way, and no counter can leave its range (a claim never pushes an
///      exit below zero or below its former value), whatever the deposits' size.
///      Limit: exits are int128. A state whose `balance - counted` for a side falls outside int128 is refused
///      (AmountTooLarge) at dispute/respond time, so a disputed state can always conclude; credits above int128's
///      maximum (over 1.7e38 base units owed to one side) saturate rather than revert.
///      `stateHash` stores the EIP-712 struct hash (`hashState`), not the digest.
///      Deposits credit the `amount` argument: allowlisted tokens must move exactly that amount (no fee-on-transfer
///      or rebasing tokens on the allowlist).
contract ChannelManager is IChannelManager, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Most asset entries a state may carry (bounds the gas of a dispute).
    uint256 public constant MAX_ASSETS = 8;

    /// @dev Bounds of the challenge window; below `MIN_CHALLENGE_WINDOW` only on the development chain.
    uint256 private constant MIN_CHALLENGE_WINDOW = 24 hours;
    uint256 private constant MAX_CHALLENGE_WINDOW = 30 days;
    uint256 private constant DEV_CHAIN_ID = 31337;

    uint256 private constant MAX_AMOUNT = type(uint128).max;

    /// @dev One side's cumulative amounts (one slot).
    struct SideBook {
        uint128 deposit;
        uint128 withdrawn;
    }

    /// @dev Accounting of one (channel, asset); see the contract's dev comment for the layout.
    struct Book {
        SideBook[2] sides;
        int128[2] exit;
        uint128 paidOut;
    }

    /// @inheritdoc IChannelManager
    uint256 public immutable challengeWindow;

    mapping(address token => bool) private _allowed;
    mapping(bytes32 pairKey => uint64) private _epoch;
    mapping(bytes32 channelId => Channel) private _channels;
    mapping(bytes32 channelId => mapping(address asset => Book)) private _books;

    /// @inheritdoc IChannelManager
    mapping(bytes32 channelId => bytes32) public stateHash;
    /// @inheritdoc IChannelManager
    mapping(bytes32 channelId => bytes32) public locksRoot;
    /// @inheritdoc IChannelManager
    mapping(bytes32 leaf => bool) public lockSettled;
    /// @inheritdoc IChannelManager
    mapping(bytes32 hashlock => uint256) public revealedAt;

    /// @param window The consensus window of every dispute, in seconds: > 0 and <= 30 days, and >= 24 hours
    ///        unless deployed on the development chain (31337).
    /// @param tokens The ERC-20 tokens channels may hold besides ETH (fixed for the deployment's lifetime).
    constructor(uint256 window, address[] memory tokens) EIP712("Spoke", "1") {
        if (window == 0 || window > MAX_CHALLENGE_WINDOW || (window < MIN_CHALLENGE_WINDOW && block.chainid != DEV_CHAIN_ID))
        {
            revert BadChallengeWindow(window);
        }
        challengeWindow = window;
        for (uint256 i; i < tokens.length; ++i) {
            if (tokens[i] == address(0)) revert ZeroToken();
            _allowed[tokens[i]] = true;
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Deposits
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelManager
    function deposit(address user, address node, address asset, uint8 side, uint256 amount)
        external
        payable
        nonReentrant
    {
        if (amount == 0) revert ZeroAmount();
        if (side > 1) revert InvalidSide(side);
        (bytes32 id,,) = _currentChannel(user, node);
        if (asset == address(0)) {
            if (msg.value != amount) revert EthAmountMismatch(msg.value, amount);
        } else {
            if (!_allowed[asset]) revert AssetNotAllowed(asset);
            if (msg.value != 0) revert UnexpectedEth(msg.value);
        }
        SideBook storage book = _books[id][asset].sides[side];
        uint256 before = book.deposit;
        if (amount > MAX_AMOUNT - before) revert AmountTooLarge(amount);
        uint256 cumulative = before + amount;
        // Fits: amount <= MAX_AMOUNT - before.
        // forge-lint: disable-next-line(unsafe-typecast)
        book.deposit = uint128(cumulative);
        if (asset != address(0)) IERC20(asset).safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(id, asset, side, amount, cumulative);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Secret registry
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelManager
    function reveal(bytes32 preimage) external {
        _reveal(preimage);
    }

    /// @inheritdoc IChannelManager
    function revealMany(bytes32[] calldata preimages) external {
        for (uint256 i; i < preimages.length; ++i) {
            _reveal(preimages[i]);
        }
    }

    function _reveal(bytes32 preimage) private {
        bytes32 hashlock = sha256(abi.encodePacked(preimage));
        if (revealedAt[hashlock] == 0) {
            revealedAt[hashlock] = block.timestamp;
            emit Revealed(hashlock, preimage);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Cooperative withdrawal
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelManager
    function withdraw(
        address user,
        address node,
        uint64 epoch,
        WithdrawCommitment calldata c,
        bytes calldata userSig,
        bytes calldata nodeSig
    ) external nonReentrant {
        _checkPair(user, node);
        bytes32 id = _channelId(user, node, epoch);
        (bool concluded, uint64 minDisputeNonce) = _checkCommitment(id, c);
        _verifyBoth(_hashTypedDataV4(StateHash.hashCommitment(c)), user, node, userSig, nodeSig);
        uint256 amount = _executeCommitment(id, c, concluded, user, node, epoch);
        uint64 stateNonce = c.stateNonce;
        if (!concluded && stateNonce > minDisputeNonce) _channels[id].minDisputeNonce = stateNonce;
        _pay(c.asset, c.recipient, amount);
        emit Withdrawn(id, c.asset, c.side, c.recipient, amount, c.cumulative);
    }

    /// @dev Checks a commitment's fields against the channel and its status; returns whether the channel has
    ///      concluded and its minimum dispute nonce.
    function _checkCommitment(bytes32 id, WithdrawCommitment calldata c)
        private
        view
        returns (bool concluded, uint64 minDisputeNonce)
    {
        if (c.channelId != id) revert WrongChannel(id, c.channelId);
        if (c.side > 1) revert InvalidSide(c.side);
        if (c.recipient == address(0)) revert ZeroRecipient();
        if (c.cumulative > MAX_AMOUNT) revert AmountTooLarge(c.cumulative);
        Channel memory ch = _channels[id];
        if (ch.status == STATUS_DISPUTE) revert WrongStatus(id, ch.status);
        concluded = ch.status == STATUS_CONCLUDED;
        if (concluded && c.stateNonce > ch.disputeNonce) {
            revert CommitmentAfterFinalState(c.stateNonce, ch.disputeNonce);
        }
        minDisputeNonce = ch.minDisputeNonce;
    }

    /// @dev Marks `c.cumulative` as executed for its side and returns the amount to pay.
    function _executeCommitment(
        bytes32 id,
        WithdrawCommitment calldata c,
        bool concluded,
        address user,
        address node,
        uint64 epoch
    ) private returns (uint256 amount) {
        Book storage book = _books[id][c.asset];
        SideBook storage own = book.sides[c.side];
        uint256 cumulative = c.cumulative;
        uint256 executed = own.withdrawn;
        if (cumulative <= executed) revert NothingToWithdraw(cumulative, executed);
        amount = cumulative - executed;
        uint256 available = _held(book, concluded);
        if (available < amount) {
            // A channel of a future epoch holds nothing, so this is the only place that can be reached with one.
            uint64 current = _epoch[_pairKey(user, node)];
            if (epoch > current) revert InvalidEpoch(epoch, current);
            revert InsufficientChannelFunds(available, amount);
        }
        // Fits: cumulative <= MAX_AMOUNT was checked in _checkCommitment.
        // forge-lint: disable-next-line(unsafe-typecast)
        own.withdrawn = uint128(cumulative);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Disputes
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelManager
    function dispute(
        address user,
        address node,
        ChannelState calldata state,
        bytes calldata userSig,
        bytes calldata nodeSig
    ) external {
        if (msg.sender != user && msg.sender != node) revert NotParticipant(msg.sender);
        (bytes32 id,,) = _currentChannel(user, node);
        Channel memory ch = _channels[id];
        if (ch.status != STATUS_OPEN) revert WrongStatus(id, ch.status);
        uint64 nonce = state.nonce;
        if (nonce < ch.minDisputeNonce) revert NonceBelowMinimum(nonce, ch.minDisputeNonce);
        bytes32 structHash = _checkSignedState(id, user, node, state, userSig, nodeSig);

        // Fits until the year 36812 (challengeWindow <= 30 days).
        // forge-lint: disable-next-line(unsafe-typecast)
        uint40 consensusEnd = uint40(block.timestamp + challengeWindow);
        _channels[id] = Channel({
            minDisputeNonce: ch.minDisputeNonce,
            disputeNonce: nonce,
            consensusEnd: consensusEnd,
            status: STATUS_DISPUTE
        });
        stateHash[id] = structHash;
        bytes32 root = state.locksRoot;
        if (root != bytes32(0)) locksRoot[id] = root;
        emit Disputed(id, nonce, consensusEnd, msg.sender);
    }

    /// @inheritdoc IChannelManager
    function disputeWithoutState(address user, address node) external {
        if (msg.sender != user && msg.sender != node) revert NotParticipant(msg.sender);
        (bytes32 id,,) = _currentChannel(user, node);
        Channel memory ch = _channels[id];
        if (ch.status != STATUS_OPEN) revert WrongStatus(id, ch.status);
        if (ch.minDisputeNonce != 0) revert NonceBelowMinimum(0, ch.minDisputeNonce);

        // Fits until the year 36812 (challengeWindow <= 30 days).
        // forge-lint: disable-next-line(unsafe-typecast)
        uint40 consensusEnd = uint40(block.timestamp + challengeWindow);
        _channels[id] = Channel({minDisputeNonce: 0, disputeNonce: 0, consensusEnd: consensusEnd, status: STATUS_DISPUTE});
        stateHash[id] = StateHash.hashEmptyState(id);
        emit Disputed(id, 0, consensusEnd, msg.sender);
    }

    /// @inheritdoc IChannelManager
    function respond(
        address user,
        address node,
        ChannelState calldata state,
        bytes calldata userSig,
        bytes calldata nodeSig
    ) external {
        (bytes32 id,,) = _currentChannel(user, node);
        Channel memory ch = _channels[id];
        if (ch.status != STATUS_DISPUTE) revert WrongStatus(id, ch.status);
        if (block.timestamp >= ch.consensusEnd) revert ConsensusWindowClosed(ch.consensusEnd);
        uint64 nonce = state.nonce;
        if (nonce <= ch.disputeNonce) revert NonceNotNewer(nonce, ch.disputeNonce);
        bytes32 structHash = _checkSignedState(id, user, node, state, userSig, nodeSig);

        _channels[id].disputeNonce = nonce;
        stateHash[id] = structHash;
        bytes32 root = state.locksRoot;
        if (root != locksRoot[id]) locksRoot[id] = root;
        emit Responded(id, nonce, msg.sender);
    }

    /// @inheritdoc IChannelManager
    function settleLock(address user, address node, uint64 epoch, Lock calldata lock, bytes32[] calldata proof)
        external
    {
        _checkPair(user, node);
        bytes32 id = _channelId(user, node, epoch);
        Channel memory ch = _channels[id];
        if (ch.status == STATUS_DISPUTE) {
            if (block.timestamp < ch.consensusEnd) revert ConsensusWindowOpen(ch.consensusEnd);
        } else if (ch.status != STATUS_CONCLUDED) {
            revert WrongStatus(id, ch.status);
        }
        uint8 sender = lock.sender;
        if (sender > 1) revert InvalidSide(sender);
        uint256 amount = lock.amount;
        if (amount > MAX_AMOUNT) revert AmountTooLarge(amount);
        address asset = lock.asset;
        if (!_isAllowed(asset)) revert AssetNotAllowed(asset);

        bytes32 leaf = StateHash.lockLeaf(id, lock);
        if (lockSettled[leaf]) revert LockAlreadySettled(leaf);
        bytes32 root = locksRoot[id];
        if (root == bytes32(0) || !MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidLockProof(leaf);

        uint256 revealed = revealedAt[lock.hashlock];
        uint64 expiry = lock.expiry;
        uint8 toSide;
        if (revealed != 0 && revealed < expiry) {
            toSide = 1 - sender;
        } else {
            // Until expiry the preimage may still be revealed in time: only then does the lock return.
            if (block.timestamp < expiry) revert LockNotExpired(expiry);
            toSide = sender;
        }
        lockSettled[leaf] = true;
        Book storage book = _books[id][asset];
        // amount <= MAX_AMOUNT < 2^255.
        // forge-lint: disable-next-line(unsafe-typecast)
        book.exit[toSide] = _credit(book.exit[toSide], int256(amount));
        emit LockSettled(id, lock.id, asset, toSide, amount);
    }

    /// @inheritdoc IChannelManager
    function conclude(address user, address node, ChannelState calldata state) external {
        (bytes32 id, bytes32 pairKey, uint64 epoch) = _currentChannel(user, node);
        Channel memory ch = _channels[id];
        if (ch.status != STATUS_DISPUTE) revert WrongStatus(id, ch.status);
        if (block.timestamp < ch.consensusEnd) revert ConsensusWindowOpen(ch.consensusEnd);
        bytes32 stored = stateHash[id];
        bytes32 given = StateHash.hashState(state);
        if (given != stored) revert StateMismatch(stored, given);

        // The state passed every check when it was disputed: each amount fits in 128 bits (so the int256 casts
        // are exact) and each balance - counted fits in int128. The exits hold only lock credits (>= 0) so far,
        // so adding can only overflow upwards, where _credit saturates: a conclusion never reverts.
        AssetState[] calldata assets = state.assets;
        for (uint256 i; i < assets.length; ++i) {
            AssetState calldata a = assets[i];
            // forge-lint: disable-next-line(unsafe-typecast)
            int256 deltaUser = int256(a.balanceUser) - int256(a.countedUser);
            // forge-lint: disable-next-line(unsafe-typecast)
            int256 deltaNode = int256(a.balanceNode) - int256(a.countedNode);
            if (deltaUser != 0 || deltaNode != 0) {
                Book storage book = _books[id][a.asset];
                int128[2] memory exit = book.exit;
                exit[0] = _credit(exit[0], deltaUser);
                exit[1] = _credit(exit[1], deltaNode);
                book.exit = exit;
            }
        }

        _channels[id].status = STATUS_CONCLUDED;
        uint64 nextEpoch = epoch + 1;
        _epoch[pairKey] = nextEpoch;
        delete stateHash[id];
        emit Concluded(id, state.nonce, nextEpoch);
    }

    /// @inheritdoc IChannelManager
    function claim(address user, address node, uint64 epoch, address asset, uint8 side) external nonReentrant {
        if (side > 1) revert InvalidSide(side);
        _checkPair(user, node);
        bytes32 id = _channelId(user, node, epoch);
        uint8 status = _channels[id].status;
        if (status != STATUS_CONCLUDED) revert WrongStatus(id, status);

        Book storage book = _books[id][asset];
        SideBook storage own = book.sides[side];
        uint256 deposited = own.deposit;
        int256 exit = book.exit[side];
        // deposited < 2^128, |exit| < 2^127: no truncation, and owed > 0 before it is read as unsigned.
        // forge-lint: disable-next-line(unsafe-typecast)
        int256 owed = int256(deposited) + exit;
        if (owed <= 0) revert NothingToClaim();
        uint256 available = _held(book, true);
        // forge-lint: disable-next-line(unsafe-typecast)
        uint256 amount = uint256(owed) < available ? uint256(owed) : available;
        if (amount == 0) revert NothingToClaim();

        // The side's deposit is final once the channel concluded, so the payout is taken from it first and only
        // the rest from the exit (recorded in paidOut). Either way deposit + exit (owed) and
        // deposits - withdrawals - paidOut (held) both drop by exactly `amount`, and neither counter can leave
        // its range: the deposit stays >= 0 and the exit stays between 0 and its former value.
        if (amount <= deposited) {
            // forge-lint: disable-next-line(unsafe-typecast)
            own.deposit = uint128(deposited - amount);
        } else {
            // fromExit <= exit <= int128 max, so paidOut (the sum of both sides' such parts) stays below 2^128.
            uint256 fromExit = amount - deposited;
            if (deposited != 0) own.deposit = 0;
            // forge-lint: disable-next-line(unsafe-typecast)
            book.exit[side] = _toInt128(exit - int256(fromExit));
            // forge-lint: disable-next-line(unsafe-typecast)
            book.paidOut += uint128(fromExit);
        }
        address to = side == 0 ? user : node;
        _pay(asset, to, amount);
        emit Claimed(id, asset, side, to, amount);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelManager
    function channelId(address user, address node, uint64 epoch) external view returns (bytes32) {
        return _channelId(user, node, epoch);
    }

    /// @inheritdoc IChannelManager
    function currentEpoch(address user, address node) external view returns (uint64) {
        return _epoch[_pairKey(user, node)];
    }

    /// @inheritdoc IChannelManager
    function channel(bytes32 id) external view returns (Channel memory) {
        return _channels[id];
    }

    /// @inheritdoc IChannelManager
    function ledger(bytes32 id, address asset) external view returns (Ledger memory l) {
        Book storage book = _books[id][asset];
        l.depositUser = book.sides[0].deposit;
        l.withdrawnUser = book.sides[0].withdrawn;
        l.depositNode = book.sides[1].deposit;
        l.withdrawnNode = book.sides[1].withdrawn;
        l.exitUser = book.exit[0];
        l.exitNode = book.exit[1];
        l.paidOut = book.paidOut;
    }

    /// @inheritdoc IChannelManager
    function held(bytes32 id, address asset) external view returns (uint256) {
        return _held(_books[id][asset], true);
    }

    /// @inheritdoc IChannelManager
    function hashState(ChannelState calldata state) external pure returns (bytes32) {
        return StateHash.hashState(state);
    }

    /// @inheritdoc IChannelManager
    function stateDigest(ChannelState calldata state) external view returns (bytes32) {
        return _hashTypedDataV4(StateHash.hashState(state));
    }

    /// @inheritdoc IChannelManager
    function commitmentDigest(WithdrawCommitment calldata c) external view returns (bytes32) {
        return _hashTypedDataV4(StateHash.hashCommitment(c));
    }

    /// @inheritdoc IChannelManager
    function lockLeaf(bytes32 id, Lock calldata lock) external pure returns (bytes32) {
        return StateHash.lockLeaf(id, lock);
    }

    /// @inheritdoc IChannelManager
    function isAllowed(address asset) external view returns (bool) {
        return _isAllowed(asset);
    }

    /// @inheritdoc IChannelManager
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------------------

    /// @dev Validates the state's contents against the channel and both signatures; returns its struct hash.
    function _checkSignedState(
        bytes32 id,
        address user,
        address node,
        ChannelState calldata state,
        bytes calldata userSig,
        bytes calldata nodeSig
    ) private view returns (bytes32 structHash) {
        _checkContents(id, state);
        structHash = StateHash.hashState(state);
        _verifyBoth(_hashTypedDataV4(structHash), user, node, userSig, nodeSig);
    }

    /// @dev Channel id, number and order of assets, allowlist, amounts and counted deposits of a state.
    function _checkContents(bytes32 id, ChannelState calldata state) private view {
        if (state.channelId != id) revert WrongChannel(id, state.channelId);
        AssetState[] calldata assets = state.assets;
        uint256 n = assets.length;
        if (n > MAX_ASSETS) revert TooManyAssets(n);
        address previous;
        for (uint256 i; i < n; ++i) {
            AssetState calldata a = assets[i];
            address asset = a.asset;
            if (i != 0 && asset <= previous) revert AssetsNotSorted(i);
            previous = asset;
            if (!_isAllowed(asset)) revert AssetNotAllowed(asset);
            _checkAmounts(a);
            _checkCounted(id, a);
        }
    }

    /// @dev counted <= deposited on chain, per side (storage is only read for a side with something counted).
    function _checkCounted(bytes32 id, AssetState calldata a) private view {
        uint256 countedUser = a.countedUser;
        uint256 countedNode = a.countedNode;
        if (countedUser == 0 && countedNode == 0) return;
        SideBook[2] storage sides = _books[id][a.asset].sides;
        if (countedUser != 0) {
            uint256 deposited = sides[0].deposit;
            if (countedUser > deposited) revert CountedExceedsDeposit(a.asset, 0, countedUser, deposited);
        }
        if (countedNode != 0) {
            uint256 deposited = sides[1].deposit;
            if (countedNode > deposited) revert CountedExceedsDeposit(a.asset, 1, countedNode, deposited);
        }
    }

    /// @dev Every amount within 128 bits, conservation, and each side's balance - counted within int128 (so the
    ///      state can always be concluded).
    function _checkAmounts(AssetState calldata a) private pure {
        uint256 bu = a.balanceUser;
        uint256 bn = a.balanceNode;
        uint256 cu = a.countedUser;
        uint256 cn = a.countedNode;
        uint256 wu = a.withdrawnUser;
        uint256 wn = a.withdrawnNode;
        uint256 lu = a.lockedUser;
        uint256 ln = a.lockedNode;
        if ((bu | bn | cu | cn | wu | wn | lu | ln) > MAX_AMOUNT) {
            revert AmountTooLarge(_max(_max(_max(bu, bn), _max(cu, cn)), _max(_max(wu, wn), _max(lu, ln))));
        }
        // No overflow: eight values below 2^128.
        if (cu + cn != bu + bn + lu + ln + wu + wn) revert NotConserved(a.asset);
        // Each value is below 2^128, so the int256 casts are exact; _toInt128 range-checks the difference.
        // forge-lint: disable-next-line(unsafe-typecast)
        _toInt128(int256(bu) - int256(cu));
        // forge-lint: disable-next-line(unsafe-typecast)
        _toInt128(int256(bn) - int256(cn));
    }

    function _verifyBoth(bytes32 digest, address user, address node, bytes calldata userSig, bytes calldata nodeSig)
        private
        pure
    {
        _verify(digest, user, userSig);
        _verify(digest, node, nodeSig);
    }

    function _verify(bytes32 digest, address expected, bytes calldata signature) private pure {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err != ECDSA.RecoverError.NoError || recovered != expected) {
            revert InvalidSignature(expected, recovered);
        }
    }

    /// @dev Pays from the contract; ETH without copying return data (a huge return cannot cost the payer gas).
    function _pay(address asset, address to, uint256 amount) private {
        if (asset == address(0)) {
            bool ok;
            assembly ("memory-safe") {
                ok := call(gas(), to, amount, 0, 0, 0, 0)
            }
            if (!ok) revert EthTransferFailed(to, amount);
        } else {
            IERC20(asset).safeTransfer(to, amount);
        }
    }

    /// @dev deposits - executed withdrawals - payouts. `paidOut` is only ever written after conclusion, so a
    ///      channel that has not concluded skips its slot.
    function _held(Book storage book, bool concluded) private view returns (uint256 h) {
        SideBook memory u = book.sides[0];
        SideBook memory n = book.sides[1];
        h = uint256(u.deposit) + n.deposit - u.withdrawn - n.withdrawn;
        if (concluded) h -= book.paidOut;
    }

    function _isAllowed(address asset) private view returns (bool) {
        return asset == address(0) || _allowed[asset];
    }

    /// @dev The current channel of a valid pair: its id, the pair key and the epoch.
    function _currentChannel(address user, address node)
        private
        view
        returns (bytes32 id, bytes32 pairKey, uint64 epoch)
    {
        pairKey = _pairKey(user, node);
        epoch = _epoch[pairKey];
        id = _channelId(user, node, epoch);
    }

    /// @dev keccak256(abi.encode(user, node)); reverts for an invalid pair.
    function _pairKey(address user, address node) private pure returns (bytes32) {
        _checkPair(user, node);
        return keccak256(abi.encode(user, node));
    }

    function _checkPair(address user, address node) private pure {
        if (user == node || user == address(0) || node == address(0)) revert InvalidParticipants(user, node);
    }

    function _channelId(address user, address node, uint64 epoch) private view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), user, node, epoch));
    }

    /// @dev exit + delta, saturating at int128's maximum. Only reachable with more than 2^127 - 1 base units owed to
    ///      one side, which no real token supply allows; saturating (never paying more) keeps `conclude` and
    ///      `settleLock` from reverting forever on such a channel. Below int128's minimum it reverts (callers make
    ///      that impossible: exits only go negative through `delta` checked at dispute time).
    function _credit(int128 exit, int256 delta) private pure returns (int128) {
        int256 sum = int256(exit) + delta;
        if (sum > type(int128).max) return type(int128).max;
        return _toInt128(sum);
    }

    /// @dev Checked int256 -> int128; the error carries the magnitude.
    function _toInt128(int256 x) private pure returns (int128) {
        if (x > type(int128).max || x < type(int128).min) {
            // x is within (-2^255, 2^255) here (sums of values below 2^129), so -x cannot overflow.
            // forge-lint: disable-next-line(unsafe-typecast)
            revert AmountTooLarge(x < 0 ? uint256(-x) : uint256(x));
        }
        // forge-lint: disable-next-line(unsafe-typecast)
        return int128(x);
    }

    function _max(uint256 a, uint256 b) private pure returns (uint256) {
        return a > b ? a : b;
    }
}
