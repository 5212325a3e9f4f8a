// Uses the public API of the built package with the types it declares. Type-checked (never run) by
// types.test.mjs with `tsc --noEmit --strict`; the `@ts-expect-error` lines prove wrong types are rejected.
import { ethers } from "ethers";

import { Eip1193Provider, SpokeClient, SpokeWallet } from "spoke-client";
import type {
  Amount,
  AssetBalance,
  ChannelInfo,
  ConnectOptions,
  DepositResult,
  Hex,
  KeyValueStorage,
  Link,
  NodeInfo,
  PaymentRecord,
  PaymentStatus,
  ProviderRpcError,
  Redeemed,
  SpokeError,
  SpokeEvent,
  SpokeEventOf,
  WithdrawResult,
} from "spoke-client";

const entries = new Map<string, string>();
const storage: KeyValueStorage = {
  getItem: (key) => entries.get(key) ?? null,
  setItem: (key, value) => {
    entries.set(key, value);
  },
  removeItem: (key) => {
    entries.delete(key);
  },
};

function isSpokeError(e: unknown): e is SpokeError {
  return e instanceof Error && typeof (e as Partial<SpokeError>).code === "string";
}

function isProviderError(e: unknown): e is ProviderRpcError {
  return e instanceof Error && typeof (e as Partial<ProviderRpcError>).code === "number";
}

export async function usage(dai: Hex, recipient: Hex): Promise<string> {
  // The wallet.
  const exists: boolean = SpokeWallet.exists({ storage });
  const encrypted: boolean = SpokeWallet.isEncrypted({ storage, name: "default" });
  const stored: Hex | undefined = SpokeWallet.storedAddress({ storage });
  const wallet: SpokeWallet = await SpokeWallet.open({ storage, password: "pw" });
  const address: Hex = wallet.address;
  const name: string = wallet.name;
  await wallet.setPassword("a better password");
  const phrase: string = await wallet.exportPhrase("a better password");
  const again: SpokeWallet = await SpokeWallet.import(phrase, { storage, replace: true });

  // The client.
  const options: ConnectOptions = {
    nodeUrl: "http://127.0.0.1:8080",
    ethUrl: "http://127.0.0.1:8545",
    wallet: again,
    storage,
    chainId: 31337,
    autosign: { perPayment: { [dai]: 10n ** 18n }, perHour: { [dai]: "5000000000000000000" } },
  };
  const client: SpokeClient = await SpokeClient.connect(options);
  const info: NodeInfo = client.nodeInfo;
  const chainId: number = info.chainId;
  const tokens: Hex[] = info.tokens;

  const onReceived = (event: SpokeEvent): void => {
    if (event.type === "paymentReceived") {
      const received: SpokeEventOf<"paymentReceived"> = event;
      const from: Hex = received.from;
      const amount: string = received.amount;
      console.log(from, amount);
    }
  };
  client.on("paymentReceived", onReceived);
  client.on("stateChange", (event) => console.log(event.type));
  client.off("paymentReceived", onReceived);

  const amount: Amount = 10n ** 18n;
  const deposit: DepositResult = await client.deposit(dai, amount, { timeoutSeconds: 60 });
  const tx: Hex = deposit.tx;
  const paymentId: Hex = await client.pay(recipient, dai, "500000000000000000", { wait: true, timeoutSeconds: 30 });
  const channel: ChannelInfo = await client.getChannel();
  const balances: AssetBalance[] = channel.balances;
  const nonce: number = channel.nonce;
  const history: PaymentRecord[] = await client.getHistory(10);
  const status: PaymentStatus | undefined = history[0]?.status;
  const link: Link = await client.createLink(dai, 1n);
  const redeemed: Redeemed = await client.redeemLink(link.secret, { timeoutSeconds: 30 });
  const bought: string = await client.exchange(dai, 1n, "0x0000000000000000000000000000000000000000", 0n);
  const withdrawn: WithdrawResult = await client.withdraw(dai, 1n, { recipient: address, nodeSubmits: false });
  const collateral: string = await client.requestCollateral(dai);
  const needs: boolean = await client.recipientNeedsCollateral(recipient, dai, 1n);
  const backup: string = await client.exportState();
  const restored: number = await client.importState(backup);
  const onChain: string = await client.onChainBalance(dai);

  // Errors carry a code.
  try {
    await client.pay(recipient, dai, "1.5", undefined);
  } catch (e) {
    if (isSpokeError(e) && e.code === "CONFIG") console.log(e.message);
  }

  // The EIP-1193 provider, with ethers.
  const eip1193: Eip1193Provider = client.provider();
  const chain: unknown = await eip1193.request({ method: "eth_chainId" });
  eip1193.on("accountsChanged", (...args: unknown[]) => console.log(args));
  const provider = new ethers.BrowserProvider(eip1193);
  const signer = await provider.getSigner();
  try {
    await signer.signMessage("hello");
  } catch (e) {
    if (isProviderError(e)) console.log(e.code);
  }

  // Wrong types are rejected.
  // @ts-expect-error an amount is a bigint or a decimal string, never a number
  await client.pay(recipient, dai, 1.5, undefined);
  // @ts-expect-error an address is a 0x-prefixed string
  await client.pay("alice", dai, 1n, undefined);
  // @ts-expect-error there is no such event
  client.on("paymentSent", () => {});
  // @ts-expect-error nodeUrl is required
  await SpokeClient.connect({ ethUrl: "http://127.0.0.1:8545", wallet });
  // @ts-expect-error a storage needs removeItem too
  await SpokeWallet.open({ storage: { getItem: () => null, setItem: () => {} } });
  // @ts-expect-error the balances are decimal strings, not bigints
  const wrong: bigint = channel.balances[0]!.user;

  client.free();
  wallet.free();
  return [exists, encrypted, stored, name, chainId, tokens, tx, paymentId, balances, nonce, status, redeemed, bought,
    withdrawn, collateral, needs, restored, onChain, chain, wrong].join();
}
