/** A 0x-prefixed hex string: an address, a hash, a signature. */
export type Hex = `0x${string}`;

/** An amount in base units (wei, or the token's smallest unit): a bigint, or a decimal integer string. */
export type Amount = bigint | string;

/** Where the wallet and the channel are kept: `localStorage` by default; anything with these three methods. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface WalletOptions {
  /** Defaults to `globalThis.localStorage`. */
  storage?: KeyValueStorage;
  /** Several wallets can share one storage under different names. Defaults to `"default"`. */
  name?: string;
  /** Needed to open a wallet whose phrase is encrypted. */
  password?: string;
}

export interface ImportOptions extends WalletOptions {
  /** Replace a wallet already stored under this name. Without it, importing over one is refused. */
  replace?: boolean;
}

/** What the client may sign away on its own, per asset address, in base units. */
export interface AutosignCaps {
  /** The most one payment, link, exchange or withdrawal may move. */
  perPayment?: Record<string, Amount>;
  /** The most they may move together in any 60 minutes. */
  perHour?: Record<string, Amount>;
}

export interface ConnectOptions {
  /** The node's base URL, e.g. `https://node.example`. */
  nodeUrl: string;
  /** A JSON-RPC URL of the chain: deposits, withdrawals, the node's deposits checked, the EIP-1193 provider. */
  ethUrl: string;
  wallet: SpokeWallet;
  /** Where the channel is kept; defaults to the wallet's storage. */
  storage?: KeyValueStorage;
  /** Refuse a node that serves another chain, contract or key. */
  chainId?: number;
  channelManager?: Hex;
  nodeAddress?: Hex;
  /** How long a payee has to claim a payment, in seconds (default one day). */
  payeeLockSeconds?: number;
  autosign?: AutosignCaps;
}

export interface NodeInfo {
  chainId: number;
  channelManager: Hex;
  node: Hex;
  /** Tokens the channel may hold besides ETH (the zero address). */
  tokens: Hex[];
}

export interface AssetBalance {
  asset: Hex;
  /** This user's spendable balance, decimal base units. */
  user: string;
  /** The node's balance in this channel (what can be paid to this user without waiting). */
  node: string;
  /** This user's funds in locks it sent that have not settled yet. */
  locked: string;
}

export interface ChannelInfo {
  channelId: Hex;
  nonce: number;
  balances: AssetBalance[];
}

export type PaymentStatus = "accepted" | "forwarded" | "resolved" | "completed" | "refunding" | "failed";

export interface PaymentRecord {
  id: Hex;
  payer: Hex;
  payee: Hex | null;
  asset: Hex;
  amount: string;
  status: PaymentStatus;
  createdAt: number;
  updatedAt: number;
}

export interface TimeoutOptions {
  /** How long to wait, in seconds. */
  timeoutSeconds?: number;
}

export interface PayOptions {
  /** Wait until the payee has the money (default true); false returns once the payment is under way. */
  wait?: boolean;
  timeoutSeconds?: number;
}

export interface Link {
  /** Whoever holds this can redeem the link: put it in the URL you share. */
  secret: Hex;
  paymentId: Hex;
}

export interface Redeemed {
  paymentId: Hex;
  asset: Hex;
  amount: string;
}

export interface WithdrawOptions {
  /** Where the money goes; defaults to the user's own address. */
  recipient?: Hex;
  /** Let the node send the transaction and pay its gas (default true); else the wallet sends it. */
  nodeSubmits?: boolean;
}

export interface WithdrawResult {
  /** The transaction that paid the recipient, mined. */
  tx: Hex;
  amount: string;
}

export interface DepositResult {
  /** The deposit transaction, mined. */
  tx: Hex;
  channel: ChannelInfo;
}

export type SpokeEvent =
  | { type: "stateChange"; nonce: number }
  | { type: "paymentReceived"; id: Hex; from: Hex; asset: Hex; amount: string }
  | { type: "paymentStatus"; id: Hex; status: PaymentStatus }
  | { type: "depositSent"; asset: Hex; amount: string; tx: Hex }
  /** The mined deposit has `confirmations` of the `needed` blocks the node waits for before counting it. */
  | { type: "depositConfirming"; tx: Hex; confirmations: number; needed: number }
  | { type: "refused"; reason: string }
  | ({ type: "exit" } & ExitStep);

/** A step of a forced exit (`client.dispute()`), in order. Times are chain time, Unix seconds. */
export type ExitStep =
  | { step: "frozen" }
  | { step: "disputed"; nonce: number; consensusEnd: number; tx: Hex | null }
  | { step: "answered"; nonce: number; tx: Hex }
  | { step: "revealed"; count: number; tx: Hex }
  | { step: "waiting"; until: number }
  | { step: "lockSettled"; lockId: Hex; tx: Hex }
  | { step: "concluded"; nonce: number; tx: Hex }
  | { step: "claimed"; asset: Hex; amount: string; tx: Hex }
  | { step: "withdrawn"; asset: Hex; tx: Hex };

export interface ExitReport {
  /** The nonce the channel concluded with; null while the dispute is open. */
  finalNonce: number | null;
  /** Nothing is left to do. */
  done: boolean;
  /** This user's own payments whose locks go back only at their expiry: call `dispute()` again after it. */
  waitingLocks: { id: Hex; asset: Hex; amount: string; expiry: number }[];
}

export type SpokeEventType = SpokeEvent["type"];

export type SpokeEventOf<T extends SpokeEventType> = Extract<SpokeEvent, { type: T }>;

/** What an error thrown by spoke-client carries: `code` is stable for programs, `message` is for people. */
export interface SpokeError extends Error {
  code: string;
}

export interface RequestArguments {
  method: string;
  params?: readonly unknown[] | object;
}

/** An EIP-1193 provider error: 4001 rejected, 4100 unauthorized, 4200 unsupported, or the RPC's own code. */
export interface ProviderRpcError extends Error {
  code: number;
  data?: unknown;
}

export type ProviderEvent = "connect" | "disconnect" | "chainChanged" | "accountsChanged" | "message";

/** Event listeners, typed per event: `client.on("paymentReceived", (e) => e.amount)`. */
export interface SpokeClient {
  /** Calls `listener` with each event of `type`. */
  on<T extends SpokeEventType>(type: T, listener: (event: SpokeEventOf<T>) => void): void;
  /** Stops calling `listener`. */
  off<T extends SpokeEventType>(type: T, listener: (event: SpokeEventOf<T>) => void): void;
}
