// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ChannelState, WithdrawCommitment, Lock, Channel, Ledger} from "../types/ChannelTypes.sol";

/// @title IChannelManager
/// @notice Two-party payment channels (user, node) with cumulative deposits and withdrawals, a secret registry for
///         hashlocked payments, and unilateral exit through a dispute. Exact hashing: `docs/PROTOCOL.md`.
interface IChannelManager {
    // ------------------------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------------------------

    /// @notice The challenge window given to the constructor is 0, above 30 days, or below 24 hours off chain 31337.
    error BadChallengeWindow(uint256 window);
    /// @notice An allowlisted token is `address(0)` (ETH needs no listing).
    error ZeroToken();
    /// @notice `user == node`, or one of them is `address(0)`.
    error InvalidParticipants(address user, address node);
    /// @notice A side is neither 0 (user) nor 1 (node).
    error InvalidSide(uint8 side);
    /// @notice A deposit of 0.
    error ZeroAmount();
    /// @notice A cumulative deposit, a commitment's cumulative amount, an amount of a disputed state or a lock
    ///         amount above 2^128 - 1; or a disputed state whose balance - counted for a side does not fit int128.
    error AmountTooLarge(uint256 amount);
    /// @notice The asset is neither ETH (`address(0)`) nor on the deployment's allowlist.
    error AssetNotAllowed(address asset);
    /// @notice An ETH deposit whose `msg.value` differs from `amount`.
    error EthAmountMismatch(uint256 value, uint256 amount);
    /// @notice ETH sent along with an ERC-20 deposit.
    error UnexpectedEth(uint256 value);
    /// @notice A signature does not recover to the expected signer (`recovered` is 0 for malformed signatures:
    ///         wrong length, high s, v not 27/28, or an unrecoverable point).
    error InvalidSignature(address expected, address recovered);
    /// @notice The caller is neither the channel's user nor its node.
    error NotParticipant(address caller);
    /// @notice The message names another channel than the one addressed.
    error WrongChannel(bytes32 expected, bytes32 actual);
    /// @notice The epoch is in the future for this pair.
    error InvalidEpoch(uint64 epoch, uint64 currentEpoch);
    /// @notice The channel's status does not allow the call (0 Open, 1 Dispute, 2 Concluded).
    error WrongStatus(bytes32 channelId, uint8 status);
    /// @notice A dispute with a nonce below the channel's minimum dispute nonce (raised by executed withdrawals).
    error NonceBelowMinimum(uint64 nonce, uint64 minDisputeNonce);
    /// @notice A response whose nonce is not strictly above the disputed state's nonce.
    error NonceNotNewer(uint64 nonce, uint64 disputeNonce);
    /// @notice More than `MAX_ASSETS` asset entries.
    error TooManyAssets(uint256 count);
    /// @notice Asset entries not strictly ascending by address (so also a duplicate) at `index`.
    error AssetsNotSorted(uint256 index);
    /// @notice A state counts more deposits for a side than were made on chain.
    error CountedExceedsDeposit(address asset, uint8 side, uint256 counted, uint256 deposited);
    /// @notice A state breaks conservation: counted != balances + locked + withdrawn.
    error NotConserved(address asset);
    /// @notice The consensus window has closed (`block.timestamp >= consensusEnd`).
    error ConsensusWindowClosed(uint256 consensusEnd);
    /// @notice The consensus window is still open (`block.timestamp < consensusEnd`).
    error ConsensusWindowOpen(uint256 consensusEnd);
    /// @notice The state given does not hash to the disputed state.
    error StateMismatch(bytes32 expected, bytes32 actual);
    /// @notice The commitment's cumulative amount is not above what was already executed.
    error NothingToWithdraw(uint256 cumulative, uint256 executed);
    /// @notice A payment larger than what the channel still holds of the asset.
    error InsufficientChannelFunds(uint256 held, uint256 amount);
    /// @notice After a dispute, a commitment from a state newer than the final one.
    error CommitmentAfterFinalState(uint64 stateNonce, uint64 finalNonce);
    /// @notice A withdrawal to `address(0)`.
    error ZeroRecipient();
    /// @notice The side is owed nothing (or the channel holds nothing) of the asset.
    error NothingToClaim();
    /// @notice The Merkle proof does not connect the lock's leaf to the disputed `locksRoot`.
    error InvalidLockProof(bytes32 leaf);
    /// @notice The lock was settled already in this channel.
    error LockAlreadySettled(bytes32 leaf);
    /// @notice The lock's preimage was not revealed in time, but the lock has not expired yet.
    error LockNotExpired(uint64 expiry);
    /// @notice An ETH transfer was refused by its recipient.
    error EthTransferFailed(address to, uint256 amount);

    // ------------------------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------------------------

    /// @notice `amount` of `asset` was deposited for `side`; `cumulative` is that side's total deposit.
    event Deposited(bytes32 indexed channelId, address indexed asset, uint8 side, uint256 amount, uint256 cumulative);
    /// @notice `preimage` of `hashlock = sha256(preimage)` was revealed for the first time.
    event Revealed(bytes32 indexed hashlock, bytes32 preimage);
    /// @notice A withdrawal commitment executed: `amount` paid to `recipient`, `cumulative` is now executed.
    event Withdrawn(
        bytes32 indexed channelId,
        address indexed asset,
        uint8 side,
        address recipient,
        uint256 amount,
        uint256 cumulative
    );
    /// @notice A dispute started with the state of nonce `nonce`; the consensus window closes at `consensusEnd`.
    event Disputed(bytes32 indexed channelId, uint64 nonce, uint64 consensusEnd, address by);
    /// @notice The disputed state was replaced by the newer state `nonce`.
    event Responded(bytes32 indexed channelId, uint64 nonce, address by);
    /// @notice A lock settled on chain: `amount` of `asset` credited to `toSide`.
    event LockSettled(bytes32 indexed channelId, bytes32 indexed lockId, address asset, uint8 toSide, uint256 amount);
    /// @notice The dispute concluded on the state `nonce`; the pair's deposits now go to epoch `nextEpoch`.
    event Concluded(bytes32 indexed channelId, uint64 nonce, uint64 nextEpoch);
    /// @notice `amount` of `asset` paid to `side`'s own address `to` after the dispute.
    event Claimed(bytes32 indexed channelId, address indexed asset, uint8 side, address to, uint256 amount);

    // ------------------------------------------------------------------------------------------------------------
    // Mutating functions
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Deposit `amount` of `asset` for `side` into the pair's current channel. Anyone may deposit for
    ///         either side; deposits are cumulative per side and belong to that side until a state counts them.
    /// @dev ETH: `msg.value == amount`. ERC-20: allowlisted, no ETH attached, pulled with `transferFrom`.
    /// @param user The channel's user.
    /// @param node The channel's node.
    /// @param asset `address(0)` for ETH, else an allowlisted token.
    /// @param side 0 user, 1 node.
    /// @param amount The amount, > 0; the side's cumulative deposit must stay within `uint128`.
    function deposit(address user, address node, address asset, uint8 side, uint256 amount) external payable;

    /// @notice Record `sha256(preimage)` as revealed now, unless it was revealed before.
    /// @param preimage The 32-byte preimage.
    function reveal(bytes32 preimage) external;

    /// @notice `reveal` for several preimages in one transaction.
    /// @param preimages The preimages.
    function revealMany(bytes32[] calldata preimages) external;

    /// @notice Execute a co-signed withdrawal commitment: pay `cumulative - executed` of the side to `recipient`.
    /// @dev Not during a dispute; after a dispute only for commitments with `stateNonce <= disputeNonce`. While
    ///      the channel is open, raises its minimum dispute nonce to `stateNonce`.
    /// @param user The channel's user.
    /// @param node The channel's node.
    /// @param epoch The channel's epoch (not above the pair's current epoch).
    /// @param c The commitment; `c.channelId` must be `channelId(user, node, epoch)`.
    /// @param userSig The user's 65-byte signature on `commitmentDigest(c)`.
    /// @param nodeSig The node's 65-byte signature on `commitmentDigest(c)`.
    function withdraw(
        address user,
        address node,
        uint64 epoch,
        WithdrawCommitment calldata c,
        bytes calldata userSig,
        bytes calldata nodeSig
    ) external;

    /// @notice Start a dispute of the pair's current channel with a co-signed state. Only the user or the node.
    /// @param user The channel's user.
    /// @param node The channel's node.
    /// @param state A state of the current channel with `nonce >= minDisputeNonce`.
    /// @param userSig The user's signature on `stateDigest(state)`.
    /// @param nodeSig The node's signature on `stateDigest(state)`.
    function dispute(
        address user,
        address node,
        ChannelState calldata state,
        bytes calldata userSig,
        bytes calldata nodeSig
    ) external;

    /// @notice Start a dispute with the implicit nonce-0 state `{channelId, 0, [], 0}` (every deposit uncounted).
    ///         Only the user or the node, and only if no withdrawal has raised the minimum dispute nonce.
    /// @param user The channel's user.
    /// @param node The channel's node.
    function disputeWithoutState(address user, address node) external;

    /// @notice Replace the disputed state with a strictly newer co-signed one before the consensus window closes.
    ///         Anyone may respond (a watchtower); the window is not extended.
    /// @param user The channel's user.
    /// @param node The channel's node.
    /// @param state The newer state.
    /// @param userSig The user's signature on `stateDigest(state)`.
    /// @param nodeSig The node's signature on `stateDigest(state)`.
    function respond(
        address user,
        address node,
        ChannelState calldata state,
        bytes calldata userSig,
        bytes calldata nodeSig
    ) external;

    /// @notice Settle one lock of the disputed state's `locksRoot` once the consensus window has closed. The
    ///         receiver is credited iff the preimage was revealed before `expiry`; otherwise the sender, but only
    ///         from `expiry` on. Each lock settles at most once per channel. Anyone may call.
    /// @param user The channel's user.
    /// @param node The channel's node.
    /// @param epoch The channel's epoch.
    /// @param lock The lock.
    /// @param proof Merkle proof of the lock's leaf (`lockLeaf`) against the disputed `locksRoot`.
    function settleLock(address user, address node, uint64 epoch, Lock calldata lock, bytes32[] calldata proof)
        external;

    /// @notice Conclude the dispute after the consensus window: credit each side's balance minus its counted
    ///         deposits, and move the pair to the next epoch. Anyone may call.
    /// @param user The channel's user.
    /// @param node The channel's node.
    /// @param state The disputed state (must hash to the stored one).
    function conclude(address user, address node, ChannelState calldata state) external;

    /// @notice Pay a side what a concluded channel owes it in `asset` (its deposits plus its exit), capped by what
    ///         the channel holds, to the side's own address. Anyone may call; each side claims separately, so a
    ///         transfer that fails for one side reverts only that claim, and the amount stays owed.
    /// @dev The payout is booked against the side's (final) deposit first and against its exit for the rest,
    ///      which alone is added to `paidOut`; `deposit + exit` and `held` both drop by exactly the amount paid.
    /// @param user The channel's user.
    /// @param node The channel's node.
    /// @param epoch The concluded channel's epoch.
    /// @param asset The asset.
    /// @param side 0 user, 1 node.
    function claim(address user, address node, uint64 epoch, address asset, uint8 side) external;

    // ------------------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------------------

    /// @notice `keccak256(abi.encode(block.chainid, address(this), user, node, epoch))`.
    function channelId(address user, address node, uint64 epoch) external view returns (bytes32);

    /// @notice The pair's current epoch (number of concluded disputes).
    function currentEpoch(address user, address node) external view returns (uint64);

    /// @notice The dispute record of a channel.
    function channel(bytes32 id) external view returns (Channel memory);

    /// @notice The accounting of a channel in one asset. The deposits are cumulative until the channel is
    ///         claimed from; see `Ledger` and `claim`.
    function ledger(bytes32 id, address asset) external view returns (Ledger memory);

    /// @notice What the channel still holds of `asset`: deposits - executed withdrawals - payouts.
    function held(bytes32 id, address asset) external view returns (uint256);

    /// @notice EIP-712 struct hash of a state (this is what `stateHash` stores during a dispute).
    function hashState(ChannelState calldata state) external pure returns (bytes32);

    /// @notice EIP-712 digest of a state under this contract's domain (what both parties sign).
    function stateDigest(ChannelState calldata state) external view returns (bytes32);

    /// @notice EIP-712 digest of a withdrawal commitment under this contract's domain.
    function commitmentDigest(WithdrawCommitment calldata c) external view returns (bytes32);

    /// @notice Merkle leaf of a lock in a channel.
    function lockLeaf(bytes32 id, Lock calldata lock) external pure returns (bytes32);

    /// @notice Whether `asset` may be used: ETH (`address(0)`) or an allowlisted token.
    function isAllowed(address asset) external view returns (bool);

    /// @notice The consensus window of every dispute, in seconds.
    function challengeWindow() external view returns (uint256);

    /// @notice The EIP-712 domain separator (name "Spoke", version "1", chain id, this contract).
    function domainSeparator() external view returns (bytes32);

    /// @notice First time `hashlock` was revealed (0 if never).
    function revealedAt(bytes32 hashlock) external view returns (uint256);

    /// @notice Struct hash of the disputed state (0 when there is no dispute or after conclusion).
    function stateHash(bytes32 id) external view returns (bytes32);

    /// @notice The disputed state's `locksRoot` (kept after conclusion for lock settlement).
    function locksRoot(bytes32 id) external view returns (bytes32);

    /// @notice Whether the lock leaf `leaf` has settled (leaves commit to their channel id).
    function lockSettled(bytes32 leaf) external view returns (bool);
}
