// The built npm package (client-wasm/pkg) in Node.js, against a real `spoke-node dev` (node + anvil):
// payments between two fresh wallets, every signed state checked by an independent EIP-712 implementation
// (ethers), the EIP-1193 provider as ethers uses it, errors, the wallet's encryption, and reloads.
//
//   bash -c 'source scripts/lib.sh; node --experimental-websocket --test client-wasm/js-tests/'

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { ethers } from "ethers";

import { SpokeClient, SpokeWallet } from "../pkg/index.js";
import {
  daiBalanceOf,
  fund,
  nextEvent,
  recordingStorage,
  rejection,
  startDev,
} from "./harness.mjs";

const DAI = (n) => ethers.parseUnits(String(n), 18);
const ETH_ADDRESS = ethers.ZeroAddress;
const sameAddress = (a, b) => typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();

// ---------------------------------------------------------------------------------------------------------------
// EIP-712, written from docs/PROTOCOL.md (not from the Rust code): the domain, the structs and the lock tree.

const DOCUMENTED_TYPE_HASHES = {
  ChannelState: "0x62e05a1b580574d61befae9c59142a08c8ee9e1acba059cd7f4baa2335517c37",
  AssetState: "0x99a9aae5666bc51afa6f4c190d2950e1875b661b7bb61da7c762d4f22dfd28e4",
  WithdrawCommitment: "0x33c12a10e647ddc35356e64ead217e53cb7578ff8d2199c64258725abd6a58c1",
  LockLeaf: "0xc763a026e7378565aefcb965a55c244b87999e8533fcc7847ddc3390203c580a",
};

const ASSET_STATE = [
  { name: "asset", type: "address" },
  { name: "balanceUser", type: "uint256" },
  { name: "balanceNode", type: "uint256" },
  { name: "countedUser", type: "uint256" },
  { name: "countedNode", type: "uint256" },
  { name: "withdrawnUser", type: "uint256" },
  { name: "withdrawnNode", type: "uint256" },
  { name: "lockedUser", type: "uint256" },
  { name: "lockedNode", type: "uint256" },
];
const STATE_TYPES = {
  ChannelState: [
    { name: "channelId", type: "bytes32" },
    { name: "nonce", type: "uint64" },
    { name: "assets", type: "AssetState[]" },
    { name: "locksRoot", type: "bytes32" },
  ],
  AssetState: ASSET_STATE,
};
const COMMITMENT_TYPES = {
  WithdrawCommitment: [
    { name: "channelId", type: "bytes32" },
    { name: "stateNonce", type: "uint64" },
    { name: "asset", type: "address" },
    { name: "side", type: "uint8" },
    { name: "recipient", type: "address" },
    { name: "cumulative", type: "uint256" },
  ],
};
const LOCK_LEAF_TYPES = {
  LockLeaf: [
    { name: "channelId", type: "bytes32" },
    { name: "id", type: "bytes32" },
    { name: "asset", type: "address" },
    { name: "amount", type: "uint256" },
    { name: "sender", type: "uint8" },
    { name: "hashlock", type: "bytes32" },
    { name: "expiry", type: "uint64" },
  ],
};

const spokeDomain = (info) => ({
  name: "Spoke",
  version: "1",
  chainId: info.chainId,
  verifyingContract: info.channelManager,
});

/** A side as its documented `uint8`: 0 user, 1 node. The JSON carries "user" / "node". */
function sideNumber(side) {
  if (side === "user" || side === 0) return 0;
  if (side === "node" || side === 1) return 1;
  throw new Error(`unknown side ${JSON.stringify(side)}`);
}

/** `keccak256(abi.encode(uint256 chainId, address channelManager, address user, address node, uint64 epoch))`. */
function channelIdOf(params) {
  return ethers.keccak256(
    ethers.AbiCoder.defaultAbiCoder().encode(
      ["uint256", "address", "address", "address", "uint64"],
      [params.chainId, params.contract, params.user, params.node, params.epoch],
    ),
  );
}

/** The leaf of a lock: `keccak256(abi.encode(hashStruct(LockLeaf)))`. */
function lockLeaf(channelId, lock) {
  const hash = ethers.TypedDataEncoder.hashStruct("LockLeaf", LOCK_LEAF_TYPES, {
    channelId,
    id: lock.id,
    asset: lock.asset,
    amount: lock.amount,
    sender: sideNumber(lock.sender),
    hashlock: lock.hashlock,
    expiry: lock.expiry,
  });
  return ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(["bytes32"], [hash]));
}

/** Leaves sorted ascending; neighbours paired with the commutative keccak256(min ‖ max); an odd last node carried
 *  up; one leaf is its own root; none is bytes32(0). */
function locksRoot(channelId, locks) {
  let level = locks.map((l) => lockLeaf(channelId, l)).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  if (level.length === 0) return ethers.ZeroHash;
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i < level.length; i += 2) {
      if (i + 1 === level.length) {
        next.push(level[i]);
      } else {
        const [lo, hi] = BigInt(level[i]) <= BigInt(level[i + 1]) ? [level[i], level[i + 1]] : [level[i + 1], level[i]];
        next.push(ethers.keccak256(ethers.concat([lo, hi])));
      }
    }
    level = next;
  }
  return level[0];
}

/** The stored state (JSON) as the documented `ChannelState` message: `locks` become `locksRoot`. */
function stateMessage(state) {
  return {
    channelId: state.channelId,
    nonce: state.nonce,
    assets: state.assets.map((a) => Object.fromEntries(ASSET_STATE.map(({ name }) => [name, a[name]]))),
    locksRoot: locksRoot(state.channelId, state.locks ?? []),
  };
}

function commitmentMessage(c) {
  return {
    channelId: c.channelId,
    stateNonce: c.stateNonce,
    asset: c.asset,
    side: sideNumber(c.side),
    recipient: c.recipient,
    cumulative: c.cumulative,
  };
}

const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/** 65 bytes r ‖ s ‖ v, v ∈ {27, 28}, low s: what PROTOCOL.md requires of every signature. */
function checkSignatureShape(signature, what) {
  assert.match(signature, /^0x[0-9a-fA-F]{130}$/, `${what}: not 65 bytes of hex`);
  const v = parseInt(signature.slice(130), 16);
  assert.ok(v === 27 || v === 28, `${what}: v is ${v}`);
  const s = BigInt("0x" + signature.slice(66, 130));
  assert.ok(s <= SECP256K1_HALF_N, `${what}: high s`);
}

/**
 * Checks every channel snapshot written to `stores` (the recorded setItem values under `spoke:channel:`): the
 * params name this node, chain and contract; the channel id is the documented hash of them; `latest.state`
 * recovers to the user with `userSignature` and to the node with `nodeSignature`; each state conserves every
 * asset; every withdrawal commitment recovers to both. Returns what it counted; throws with every failure listed.
 */
function verifySnapshots(stores, info) {
  const domain = spokeDomain(info);
  const failures = [];
  const seen = new Set();
  let snapshots = 0;
  let states = 0;
  let commitments = 0;
  let locked = 0;
  for (const store of stores) {
    for (const text of store.written("spoke:channel:")) {
      snapshots++;
      const snapshot = JSON.parse(text);
      const { params } = snapshot;
      const where = `${store.label}`;
      if (params.chainId !== info.chainId) failures.push(`${where}: params.chainId ${params.chainId}`);
      if (!sameAddress(params.contract, info.channelManager)) failures.push(`${where}: params.contract ${params.contract}`);
      if (!sameAddress(params.node, info.node)) failures.push(`${where}: params.node ${params.node}`);
      const channelId = channelIdOf(params);
      const latest = snapshot.latest;
      if (latest) {
        const key = `${where} state ${latest.state.nonce} ${latest.userSignature}`;
        if (!seen.has(key)) {
          seen.add(key);
          states++;
          if (latest.state.locks?.length) locked++;
          const message = stateMessage(latest.state);
          const label = `${where}: state nonce ${latest.state.nonce}`;
          if (latest.state.channelId !== channelId) {
            failures.push(`${label}: channelId ${latest.state.channelId}, documented hash of the params ${channelId}`);
          }
          for (const [sig, who, expected] of [
            [latest.userSignature, "user", params.user],
            [latest.nodeSignature, "node", info.node],
          ]) {
            try {
              checkSignatureShape(sig, `${label} ${who} signature`);
              const recovered = ethers.verifyTypedData(domain, STATE_TYPES, message, sig);
              if (!sameAddress(recovered, expected)) {
                failures.push(`${label}: ${who}Signature recovers to ${recovered}, not the ${who} ${expected}` +
                  ` (digest ${ethers.TypedDataEncoder.hash(domain, STATE_TYPES, message)})`);
              }
            } catch (e) {
              failures.push(`${label}: ${who}Signature: ${e.message}`);
            }
          }
          for (const a of latest.state.assets) {
            const n = (k) => BigInt(a[k]);
            const counted = n("countedUser") + n("countedNode");
            const held = n("balanceUser") + n("balanceNode") + n("lockedUser") + n("lockedNode") +
              n("withdrawnUser") + n("withdrawnNode");
            if (counted !== held) failures.push(`${label}: ${a.asset} does not conserve (${counted} ≠ ${held})`);
          }
        }
      }
      for (const signed of snapshot.commitments ?? []) {
        const c = signed.commitment;
        const key = `${where} commitment ${c.stateNonce} ${c.side} ${signed.userSignature}`;
        if (seen.has(key)) continue;
        seen.add(key);
        commitments++;
        const label = `${where}: commitment at state nonce ${c.stateNonce} (${c.side}, cumulative ${BigInt(c.cumulative)})`;
        if (c.channelId !== channelId) failures.push(`${label}: channelId ${c.channelId} ≠ ${channelId}`);
        for (const [sig, who, expected] of [
          [signed.userSignature, "user", params.user],
          [signed.nodeSignature, "node", info.node],
        ]) {
          try {
            checkSignatureShape(sig, `${label} ${who} signature`);
            const recovered = ethers.verifyTypedData(domain, COMMITMENT_TYPES, commitmentMessage(c), sig);
            if (!sameAddress(recovered, expected)) {
              failures.push(`${label}: ${who}Signature recovers to ${recovered}, not the ${who} ${expected}`);
            }
          } catch (e) {
            failures.push(`${label}: ${who}Signature: ${e.message}`);
          }
        }
      }
    }
  }
  assert.deepEqual(failures, [], `signatures that do not verify:\n${failures.join("\n")}`);
  return { snapshots, states, commitments, locked };
}

/** The code of a provider error, however ethers wrapped it. */
function rpcCode(e) {
  return e?.error?.code ?? e?.info?.error?.code ?? e?.code;
}

// ---------------------------------------------------------------------------------------------------------------

describe("spoke-client (built package) against spoke-node dev", { timeout: 600_000 }, () => {
  let dev;
  let info;
  /** Every recording storage a channel was kept in: all are verified at the end. */
  const stores = [];
  const clients = new Set();
  const store = (label) => {
    const s = recordingStorage(label);
    stores.push(s);
    return s;
  };
  const connect = async (options) => {
    const client = await SpokeClient.connect({ nodeUrl: dev.nodeUrl, ethUrl: dev.rpcUrl, ...options });
    clients.add(client);
    return client;
  };
  const drop = (client) => {
    if (clients.delete(client)) client.free();
  };

  let storeA, storeB, walletA, walletB, alice, bob;

  before(async () => {
    dev = await startDev();
    storeA = store("A");
    storeB = store("B");
    walletA = await SpokeWallet.open({ storage: storeA.storage });
    walletB = await SpokeWallet.open({ storage: storeB.storage });
    assert.notEqual(walletA.address, walletB.address);
    await fund(dev, walletA.address, { eth: "1", dai: "100" });
    await fund(dev, walletB.address, { eth: "1", dai: "0" });
    alice = await connect({ wallet: walletA, storage: storeA.storage });
    bob = await connect({ wallet: walletB, storage: storeB.storage });
    info = alice.nodeInfo;
  });

  after(async () => {
    for (const client of clients) client.free();
    clients.clear();
    const exited = await dev?.stop();
    if (exited && exited.code !== 0) {
      console.error(`spoke-node dev did not stop cleanly on SIGINT: ${JSON.stringify(exited)}\n${dev.output().slice(-4000)}`);
    }
  });

  test("the node's info is the dev system's", () => {
    assert.equal(info.chainId, dev.chainId);
    assert.ok(sameAddress(info.channelManager, dev.channelManager));
    assert.ok(sameAddress(info.node, dev.node));
    assert.ok(info.tokens.some((t) => sameAddress(t, dev.dai)));
    assert.equal(alice.address, walletA.address);
  });

  test("deposit, pay, paymentReceived, history, withdraw (node submits and wallet submits)", async () => {
    // Deposit.
    const deposited = nextEvent(alice, "depositSent");
    const confirmed = nextEvent(alice, "depositConfirming", (e) => e.confirmations === e.needed);
    const deposit = await alice.deposit(dev.dai, DAI(50), undefined);
    assert.match(deposit.tx, /^0x[0-9a-f]{64}$/);
    assert.equal((await dev.provider.getTransactionReceipt(deposit.tx)).status, 1);
    const sent = await deposited;
    assert.equal(sent.amount, DAI(50).toString());
    assert.ok(sameAddress(sent.asset, dev.dai));
    const last = await confirmed;
    assert.equal(last.tx, deposit.tx);
    assert.ok(last.needed >= 1, "the dev node waits for a confirmation");
    const daiA = deposit.channel.balances.find((b) => sameAddress(b.asset, dev.dai));
    assert.equal(daiA.user, DAI(50).toString());
    assert.equal(await daiBalanceOf(dev, walletA.address), DAI(50));

    // Pay.
    const received = nextEvent(bob, "paymentReceived");
    const id = await alice.pay(walletB.address, dev.dai, DAI(5), { timeoutSeconds: 90 });
    assert.match(id, /^0x[0-9a-f]{64}$/);
    const event = await received;
    assert.equal(event.type, "paymentReceived");
    assert.equal(event.id, id);
    assert.ok(sameAddress(event.from, walletA.address));
    assert.ok(sameAddress(event.asset, dev.dai));
    assert.equal(event.amount, DAI(5).toString());
    const bobDai = (await bob.getChannel()).balances.find((b) => sameAddress(b.asset, dev.dai));
    assert.equal(bobDai.user, DAI(5).toString());
    const aliceDai = (await alice.getChannel()).balances.find((b) => sameAddress(b.asset, dev.dai));
    assert.equal(aliceDai.user, DAI(45).toString());
    assert.equal(aliceDai.locked, "0");

    // History.
    const history = await alice.getHistory();
    const record = history.find((r) => r.id === id);
    assert.ok(record, `the payment ${id} is not in the history: ${JSON.stringify(history)}`);
    assert.ok(sameAddress(record.payer, walletA.address));
    assert.ok(sameAddress(record.payee, walletB.address));
    assert.equal(record.amount, DAI(5).toString());
    assert.ok(["resolved", "completed"].includes(record.status), record.status);
    assert.ok((await bob.getHistory(10)).some((r) => r.id === id));

    // Withdraw, the node sending the transaction.
    const before1 = await daiBalanceOf(dev, walletB.address);
    const ethBefore1 = await dev.provider.getBalance(walletB.address);
    const w1 = await bob.withdraw(dev.dai, DAI(2), undefined);
    assert.equal(w1.amount, DAI(2).toString());
    assert.equal(await daiBalanceOf(dev, walletB.address), before1 + DAI(2));
    const r1 = await dev.provider.getTransactionReceipt(w1.tx);
    assert.equal(r1.status, 1);
    assert.ok(sameAddress(r1.from, dev.node), `the node sent ${w1.tx}, not ${r1.from}`);
    assert.equal(await dev.provider.getBalance(walletB.address), ethBefore1, "the node paid the gas");

    // Withdraw, the wallet sending it (and paying its gas).
    const before2 = await daiBalanceOf(dev, walletB.address);
    const ethBefore2 = await dev.provider.getBalance(walletB.address);
    const w2 = await bob.withdraw(dev.dai, DAI(1), { nodeSubmits: false });
    assert.equal(await daiBalanceOf(dev, walletB.address), before2 + DAI(1));
    const r2 = await dev.provider.getTransactionReceipt(w2.tx);
    assert.equal(r2.status, 1);
    assert.ok(sameAddress(r2.from, walletB.address), `the wallet sent ${w2.tx}, not ${r2.from}`);
    // The wallet paid for its own transaction(s) — exactly their gas, whatever anvil's (falling) base fee is.
    const gas = r2.gasUsed * r2.gasPrice;
    assert.ok((await dev.provider.getBalance(walletB.address)) <= ethBefore2 - gas, "the wallet paid the gas");

    const bobAfter = (await bob.getChannel()).balances.find((b) => sameAddress(b.asset, dev.dai));
    assert.equal(bobAfter.user, DAI(2).toString());
  });

  test("our EIP-712 types hash to the type hashes in docs/PROTOCOL.md", () => {
    const typeHash = (types, name) =>
      ethers.keccak256(ethers.toUtf8Bytes(ethers.TypedDataEncoder.from(types).encodeType(name)));
    assert.equal(typeHash(STATE_TYPES, "ChannelState"), DOCUMENTED_TYPE_HASHES.ChannelState);
    assert.equal(typeHash({ AssetState: ASSET_STATE }, "AssetState"), DOCUMENTED_TYPE_HASHES.AssetState);
    assert.equal(typeHash(COMMITMENT_TYPES, "WithdrawCommitment"), DOCUMENTED_TYPE_HASHES.WithdrawCommitment);
    assert.equal(typeHash(LOCK_LEAF_TYPES, "LockLeaf"), DOCUMENTED_TYPE_HASHES.LockLeaf);
  });

  test("every state and commitment the wallets signed verifies with ethers.verifyTypedData", (t) => {
    const counted = verifySnapshots(stores, info);
    t.diagnostic(`verified ${JSON.stringify(counted)}`);
    // A: deposit, lock, resolve; B: collateral, lock, resolve, two withdrawals.
    assert.ok(counted.states >= 6, JSON.stringify(counted));
    assert.ok(counted.locked >= 1, `no state with an active lock was stored: ${JSON.stringify(counted)}`);
    assert.ok(counted.commitments >= 2, `B's two withdrawal commitments: ${JSON.stringify(counted)}`);
  });

  test("the checker is not vacuous: a tampered amount, lock or commitment fails it", () => {
    const lockedSnapshot = stores
      .flatMap((s) => s.written("spoke:channel:").map((text) => ({ s, snapshot: JSON.parse(text) })))
      .find(({ snapshot }) => snapshot.latest?.state.locks.length > 0);
    assert.ok(lockedSnapshot, "a stored state with an active lock");
    const withCommitment = storeB.written("spoke:channel:").map((t) => JSON.parse(t)).findLast((x) => x.commitments?.length);
    assert.ok(withCommitment, "a stored withdrawal commitment");
    const fake = (snapshot) => ({ label: "tampered", written: () => [JSON.stringify(snapshot)] });
    const mutations = {
      amount: (x) => { x.latest.state.assets[0].balanceUser = ethers.toQuantity(BigInt(x.latest.state.assets[0].balanceUser) + 1n); },
      "lock expiry": (x) => { x.latest.state.locks[0].expiry += 1; },
      "lock sender": (x) => { x.latest.state.locks[0].sender = x.latest.state.locks[0].sender === "user" ? "node" : "user"; },
      nonce: (x) => { x.latest.state.nonce += 1; },
    };
    for (const [what, mutate] of Object.entries(mutations)) {
      const copy = structuredClone(lockedSnapshot.snapshot);
      mutate(copy);
      assert.throws(() => verifySnapshots([fake(copy)], info), /recovers to/, what);
    }
    const copy = structuredClone(withCommitment);
    copy.latest = null;
    copy.commitments[0].commitment.cumulative = ethers.toQuantity(BigInt(copy.commitments[0].commitment.cumulative) + 1n);
    assert.throws(() => verifySnapshots([fake(copy)], info), /commitment.*recovers to/);
    // Another chain id in the domain: nothing verifies.
    assert.throws(() => verifySnapshots([fake(lockedSnapshot.snapshot)], { ...info, chainId: info.chainId + 1 }));
  });

  test("the EIP-1193 provider, used the way ethers uses it", async (t) => {
    const eip1193 = alice.provider();
    const provider = new ethers.BrowserProvider(eip1193);
    try {
      const signer = await provider.getSigner();
      assert.equal(await signer.getAddress(), walletA.address);
      assert.equal((await provider.getNetwork()).chainId, BigInt(dev.chainId));
      // EIP-1193 allows any case; this provider answers lowercase while `wallet.address` is checksummed.
      const accounts = await eip1193.request({ method: "eth_accounts" });
      assert.equal(accounts.length, 1);
      assert.ok(sameAddress(accounts[0], walletA.address), String(accounts));
      assert.equal(await eip1193.request({ method: "eth_chainId" }), ethers.toQuantity(dev.chainId));

      // A plain ETH transfer.
      const to = ethers.Wallet.createRandom().address;
      const tx = await signer.sendTransaction({ to, value: ethers.parseEther("0.01") });
      const receipt = await tx.wait();
      assert.equal(receipt.status, 1);
      assert.ok(sameAddress(receipt.from, walletA.address));
      assert.equal(await dev.provider.getBalance(to), ethers.parseEther("0.01"));

      // Ordinary typed data (EIP-712's own example).
      const domain = { name: "Ether Mail", version: "1", chainId: dev.chainId, verifyingContract: ethers.Wallet.createRandom().address };
      const types = {
        Person: [{ name: "name", type: "string" }, { name: "wallet", type: "address" }],
        Mail: [{ name: "from", type: "Person" }, { name: "to", type: "Person" }, { name: "contents", type: "string" }],
      };
      const mail = {
        from: { name: "Cow", wallet: "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826" },
        to: { name: "Bob", wallet: "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB" },
        contents: "Hello, Bob!",
      };
      const typed = await signer.signTypedData(domain, types, mail);
      assert.equal(ethers.verifyTypedData(domain, types, mail, typed), walletA.address);

      // A personal message, text and bytes.
      const text = "hello from a spoke test";
      assert.equal(ethers.verifyMessage(text, await signer.signMessage(text)), walletA.address);
      const bytes = ethers.randomBytes(40);
      assert.equal(ethers.verifyMessage(bytes, await signer.signMessage(bytes)), walletA.address);

      // Typed data for the ChannelManager: refused (states are signed only through the validator), however the
      // contract's address is spelled.
      const state = {
        channelId: ethers.ZeroHash,
        nonce: 99,
        assets: [],
        locksRoot: ethers.ZeroHash,
      };
      for (const verifyingContract of [info.channelManager, info.channelManager.toLowerCase()]) {
        const refused = await rejection(
          signer.signTypedData({ ...spokeDomain(info), verifyingContract }, STATE_TYPES, state),
        );
        assert.equal(rpcCode(refused), 4100, `${verifyingContract}: ${refused.message}`);
      }
      const raw = await rejection(
        eip1193.request({
          method: "eth_signTypedData_v4",
          params: [walletA.address, JSON.stringify(ethers.TypedDataEncoder.getPayload(spokeDomain(info), COMMITMENT_TYPES, {
            channelId: ethers.ZeroHash, stateNonce: 1, asset: dev.dai, side: 0, recipient: walletA.address, cumulative: 1,
          }))],
        }),
      );
      assert.equal(raw.code, 4100, raw.message);
      assert.ok(raw instanceof Error);

      // eth_sign: refused, through ethers' raw send and directly.
      const ethSign = await rejection(eip1193.request({ method: "eth_sign", params: [walletA.address, ethers.id("x")] }));
      assert.ok([4100, 4200].includes(ethSign.code), `eth_sign: code ${ethSign.code}: ${ethSign.message}`);
      t.diagnostic(`eth_sign: ${ethSign.code}: ${ethSign.message}`);
      t.diagnostic(`ChannelManager typed data: ${raw.code}: ${raw.message}`);
      const viaEthers = await rejection(provider.send("eth_sign", [walletA.address, ethers.id("x")]));
      assert.ok([4100, 4200].includes(rpcCode(viaEthers)), viaEthers.message);

      // A sign-in message for another site: refused.
      const siwe = [
        "evil.example wants you to sign in with your Ethereum account:",
        walletA.address,
        "",
        "Sign in.",
        "",
        "URI: https://evil.example",
        "Version: 1",
        `Chain ID: ${dev.chainId}`,
        "Nonce: abcdefgh12345678",
        `Issued At: ${new Date().toISOString()}`,
      ].join("\n");
      const phishing = await rejection(signer.signMessage(siwe));
      assert.ok([4100, 4200].includes(rpcCode(phishing)), phishing.message);
      t.diagnostic(`SIWE for another site: ${rpcCode(phishing)}: ${phishing.error?.message ?? phishing.message}`);
    } finally {
      provider.destroy();
      eip1193.free();
    }
  });

  test("bad amounts reject with CONFIG and change nothing", async () => {
    const channel = await alice.getChannel();
    const writes = storeA.writes.length;
    const onChain = await daiBalanceOf(dev, walletA.address);
    for (const amount of ["1.5", -1, "abc", 1.5, "", "1e18", "0x10", " 1", null, {}]) {
      for (const [what, call] of [
        ["pay", () => alice.pay(walletB.address, dev.dai, amount, undefined)],
        ["deposit", () => alice.deposit(dev.dai, amount, undefined)],
        ["withdraw", () => alice.withdraw(dev.dai, amount, undefined)],
        ["createLink", () => alice.createLink(dev.dai, amount)],
      ]) {
        const e = await rejection(call());
        assert.ok(e instanceof Error, `${what}(${JSON.stringify(amount)}) rejected with a non-Error ${e}`);
        assert.equal(e.code, "CONFIG", `${what}(${JSON.stringify(amount)}): ${e.code} ${e.message}`);
        if (typeof amount === "number") assert.ok(e.message.includes(`amount: ${amount} is not`), e.message);
      }
    }
    const badAddress = await rejection(alice.pay("0x1234", dev.dai, "1", undefined));
    assert.equal(badAddress.code, "CONFIG");
    // A checksummed address with one character mistyped: refused, as ethers' getAddress refuses it, rather than
    // naming someone else. The same address in one case carries no checksum and is taken.
    const checksummed = ethers.getAddress(walletB.address);
    const at = [...checksummed].findIndex((c, i) => i > 1 && /[a-f]/i.test(c));
    const typo = checksummed.slice(0, at) + (checksummed[at] === "a" || checksummed[at] === "A" ? "b" : "a") +
      checksummed.slice(at + 1);
    assert.throws(() => ethers.getAddress(typo), "ethers refuses the typo too");
    for (const [what, call] of [
      ["pay", () => alice.pay(typo, dev.dai, "1", undefined)],
      ["withdraw", () => alice.withdraw(dev.dai, "1", { recipient: typo })],
    ]) {
      const e = await rejection(call());
      assert.equal(e.code, "CONFIG", `${what}: ${e.code} ${e.message}`);
      assert.ok(e.message.includes("EIP-55"), `${what}: ${e.message}`);
    }
    assert.deepEqual(await alice.getChannel(), channel);
    assert.equal(storeA.writes.length, writes, "nothing was stored");
    assert.equal(await daiBalanceOf(dev, walletA.address), onChain);
  });

  test("paying more than the balance rejects with a validator or node code and changes nothing", async (t) => {
    const channel = await alice.getChannel();
    const balance = BigInt(channel.balances.find((b) => sameAddress(b.asset, dev.dai)).user);
    const e = await rejection(alice.pay(walletB.address, dev.dai, balance + 1n, undefined));
    assert.ok(e instanceof Error);
    assert.ok(
      ["INVALID", "INVALID_UPDATE", "INSUFFICIENT_BALANCE", "REFUSED"].includes(e.code),
      `${e.code}: ${e.message}`,
    );
    t.diagnostic(`over the balance: ${e.code}: ${e.message}`);
    assert.deepEqual(await alice.getChannel(), channel);
    // ETH, which the channel does not hold at all.
    const eth = await rejection(alice.pay(walletB.address, ETH_ADDRESS, 1n, undefined));
    assert.ok(["INVALID", "INVALID_UPDATE", "INSUFFICIENT_BALANCE", "REFUSED"].includes(eth.code), `${eth.code}: ${eth.message}`);
    t.diagnostic(`ETH, not in the channel: ${eth.code}: ${eth.message}`);
    assert.deepEqual(await alice.getChannel(), channel);
  });

  test("autosign caps: above perPayment or perHour the wallet refuses with CAP_EXCEEDED", async () => {
    const storeC = store("C");
    const walletC = await SpokeWallet.open({ storage: storeC.storage });
    await fund(dev, walletC.address, { eth: "1", dai: "20" });
    const carol = await connect({
      wallet: walletC,
      storage: storeC.storage,
      autosign: { perPayment: { [dev.dai]: DAI(2) }, perHour: { [dev.dai]: DAI(3).toString() } },
    });
    try {
      await carol.deposit(dev.dai, DAI(10), undefined);
      const channel = await carol.getChannel();
      const over = await rejection(carol.pay(walletB.address, dev.dai, DAI(2) + 1n, undefined));
      assert.equal(over.code, "CAP_EXCEEDED", over.message);
      assert.deepEqual(await carol.getChannel(), channel);
      const link = await rejection(carol.createLink(dev.dai, DAI(3)));
      assert.equal(link.code, "CAP_EXCEEDED", link.message);

      await carol.pay(walletB.address, dev.dai, DAI(2), { timeoutSeconds: 90 });
      await carol.pay(walletB.address, dev.dai, DAI("0.5"), { timeoutSeconds: 90 });
      const hourly = await rejection(carol.pay(walletB.address, dev.dai, DAI(1), undefined));
      assert.equal(hourly.code, "CAP_EXCEEDED", `perHour: ${hourly.message}`);
      const after = (await carol.getChannel()).balances.find((b) => sameAddress(b.asset, dev.dai));
      assert.equal(after.user, DAI("7.5").toString());
    } finally {
      drop(carol);
    }
  });

  test("dispute(): a forced exit pays the wallet its channel balance on chain, step by step", async () => {
    const storeD = store("D");
    const walletD = await SpokeWallet.open({ storage: storeD.storage });
    await fund(dev, walletD.address, { eth: "1", dai: "10" });
    const dave = await connect({ wallet: walletD, storage: storeD.storage });
    try {
      await dave.deposit(dev.dai, DAI(6), { timeoutSeconds: 90 });
      await dave.pay(walletB.address, dev.dai, DAI(1), { timeoutSeconds: 90 });
      const before = await daiBalanceOf(dev, walletD.address);
      const steps = [];
      const listener = (event) => {
        steps.push(event.step);
        // The development chain's challenge window, passed at once.
        if (event.step === "waiting") {
          dev.provider.send("evm_increaseTime", [dev.challengeWindow + 1]).then(() => dev.provider.send("evm_mine", []));
        }
      };
      dave.on("exit", listener);
      const report = await dave.dispute();
      dave.off("exit", listener);
      assert.equal(report.done, true, JSON.stringify(report));
      assert.deepEqual(report.waitingLocks, []);
      assert.equal(steps[0], "frozen");
      for (const step of ["disputed", "waiting", "concluded", "claimed"]) assert.ok(steps.includes(step), `${step} in ${steps}`);
      assert.equal(await daiBalanceOf(dev, walletD.address) - before, DAI(5), "the deposit less the payment");
      const after = await rejection(dave.pay(walletB.address, dev.dai, DAI(1), undefined));
      assert.equal(after.code, "REFUSED", after.message);
    } finally {
      drop(dave);
    }
  });

  test("state survives a reload, and exportState / importState restore it on a fresh storage", async (t) => {
    const channel = await alice.getChannel();
    assert.ok(channel.nonce > 0);
    drop(alice);

    // The same wallet and storage: the channel comes back from storage.
    const again = await connect({ wallet: walletA, storage: storeA.storage });
    assert.deepEqual(await again.getChannel(), channel);
    const backup = await again.exportState();
    const parsed = JSON.parse(backup);
    assert.equal(parsed.latest.state.nonce, channel.nonce);
    drop(again);

    // A fresh storage: importState adopts the backup.
    const storeA2 = store("A fresh");
    const fresh = await connect({ wallet: walletA, storage: storeA2.storage });
    const freshBefore = await fresh.getChannel();
    assert.ok(freshBefore.nonce <= channel.nonce);

    // A tampered backup (a newer nonce and more money, with the old signatures) is refused and changes nothing.
    const tampered = structuredClone(parsed);
    tampered.latest.state.nonce += 5;
    tampered.latest.state.assets[0].balanceUser = ethers.toQuantity(BigInt(tampered.latest.state.assets[0].balanceUser) + DAI(1000));
    tampered.latest.state.assets[0].countedUser = ethers.toQuantity(BigInt(tampered.latest.state.assets[0].countedUser) + DAI(1000));
    const refused = await rejection(fresh.importState(JSON.stringify(tampered)));
    assert.ok(refused instanceof Error && typeof refused.code === "string", String(refused));
    assert.notEqual(refused.code, "CONFIG");
    t.diagnostic(`fresh storage before importState: nonce ${freshBefore.nonce} (backup: ${channel.nonce})`);
    t.diagnostic(`tampered backup: ${refused.code}: ${refused.message}`);
    assert.deepEqual(await fresh.getChannel(), freshBefore);
    const garbage = await rejection(fresh.importState("{not json"));
    assert.equal(garbage.code, "CONFIG", garbage.message);
    t.diagnostic(`garbage backup: ${garbage.code}: ${garbage.message}`);

    const nonce = await fresh.importState(backup);
    assert.equal(nonce, channel.nonce);
    assert.deepEqual(await fresh.getChannel(), channel);
    // And it still works: one more payment from the restored channel.
    const received = nextEvent(bob, "paymentReceived");
    const id = await fresh.pay(walletB.address, dev.dai, DAI(1), { timeoutSeconds: 90 });
    assert.equal((await received).id, id);
    alice = fresh;
  });

  test("every state and commitment written during the whole run verifies with ethers", (t) => {
    const counted = verifySnapshots(stores, info);
    t.diagnostic(`verified ${JSON.stringify(counted)}`);
    assert.ok(counted.states >= 10, JSON.stringify(counted));
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("SpokeWallet", () => {
  /** Every run of two or more consecutive words of `phrase`, and the phrase's key and entropy in hex. */
  function secretsOf(phrase) {
    const words = phrase.split(" ");
    const runs = [];
    for (let i = 0; i + 1 < words.length; i++) runs.push(`${words[i]} ${words[i + 1]}`);
    const mnemonic = ethers.Mnemonic.fromPhrase(phrase);
    const key = ethers.HDNodeWallet.fromMnemonic(mnemonic, "m/44'/60'/0'/0/0").privateKey;
    return {
      runs,
      hex: [key.slice(2), mnemonic.entropy.slice(2)],
      words,
      key,
    };
  }

  function assertNoSecret(values, phrase, what) {
    const { runs, hex, words } = secretsOf(phrase);
    for (const value of values) {
      const lower = value.toLowerCase();
      for (const run of runs) assert.ok(!lower.includes(run), `${what}: a stored value holds the words "${run}"`);
      // Words joined by anything but letters (JSON arrays, commas, newlines).
      const letters = lower.split(/[^a-z]+/).filter(Boolean);
      for (let i = 0; i + 1 < letters.length; i++) {
        const at = words.indexOf(letters[i]);
        assert.ok(!(at >= 0 && words[at + 1] === letters[i + 1]), `${what}: a stored value holds "${letters[i]} ${letters[i + 1]}"`);
      }
      for (const h of hex) assert.ok(!lower.includes(h.toLowerCase()), `${what}: a stored value holds the key or entropy`);
    }
  }

  test("setPassword: storage holds no phrase; LOCKED, WRONG_PASSWORD, the right password; export and import", async (t) => {
    const s = recordingStorage("wallet");
    const wallet = await SpokeWallet.open({ storage: s.storage });
    assert.equal(SpokeWallet.exists({ storage: s.storage }), true);
    assert.equal(SpokeWallet.isEncrypted({ storage: s.storage }), false);
    const phrase = await wallet.exportPhrase();
    assert.ok([12, 15, 18, 21, 24].includes(phrase.split(" ").length), phrase.split(" ").length);
    // The documented derivation, checked with ethers: the key at m/44'/60'/0'/0/0.
    assert.equal(new ethers.Wallet(secretsOf(phrase).key).address, wallet.address);

    const writesBefore = s.writes.length;
    await wallet.setPassword("correct horse battery staple");
    assert.ok(s.writes.length > writesBefore, "setPassword stored something");
    assert.equal(SpokeWallet.isEncrypted({ storage: s.storage }), true);
    // What storage holds now, and everything written since: no phrase, key or entropy.
    assertNoSecret([...s.map.values()], phrase, "after setPassword");
    assertNoSecret(s.writes.slice(writesBefore).map((w) => w.value ?? ""), phrase, "written by setPassword");
    assert.equal(SpokeWallet.storedAddress({ storage: s.storage }), wallet.address);

    const locked = await rejection(SpokeWallet.open({ storage: s.storage }));
    assert.equal(locked.code, "LOCKED", locked.message);
    assert.ok(locked instanceof Error);
    const wrong = await rejection(SpokeWallet.open({ storage: s.storage, password: "wrong horse" }));
    assert.equal(wrong.code, "WRONG_PASSWORD", wrong.message);
    const reopened = await SpokeWallet.open({ storage: s.storage, password: "correct horse battery staple" });
    assert.equal(reopened.address, wallet.address);

    assert.equal((await rejection(reopened.exportPhrase())).code, "LOCKED");
    assert.equal((await rejection(reopened.exportPhrase("wrong horse"))).code, "WRONG_PASSWORD");
    assert.equal(await reopened.exportPhrase("correct horse battery staple"), phrase);

    const fresh = recordingStorage("imported");
    const imported = await SpokeWallet.import(phrase, { storage: fresh.storage });
    assert.equal(imported.address, wallet.address);
    // Importing over a stored wallet is refused without `replace`.
    const other = ethers.Wallet.createRandom().mnemonic.phrase;
    const over = await rejection(SpokeWallet.import(other, { storage: fresh.storage }));
    assert.ok(typeof over.code === "string", String(over));
    t.diagnostic(`import over a stored wallet: ${over.code}: ${over.message}`);
    assert.equal(SpokeWallet.storedAddress({ storage: fresh.storage }), wallet.address);
    const replaced = await SpokeWallet.import(other, { storage: fresh.storage, replace: true });
    assert.equal(replaced.address, ethers.Wallet.fromPhrase(other).address);
    const bad = await rejection(SpokeWallet.import("not a phrase at all", { storage: recordingStorage().storage }));
    assert.ok(typeof bad.code === "string", String(bad));
    t.diagnostic(`import of a bad phrase: ${bad.code}: ${bad.message}`);

    reopened.forget();
    assert.equal(SpokeWallet.exists({ storage: s.storage }), false);
    for (const w of [wallet, imported, replaced]) w.free();
  });

  test("a wallet opened with a password never stores its phrase, not even once", async () => {
    const s = recordingStorage("encrypted from the start");
    const wallet = await SpokeWallet.open({ storage: s.storage, password: "pw 1" });
    assert.equal(SpokeWallet.isEncrypted({ storage: s.storage }), true);
    const phrase = await wallet.exportPhrase("pw 1");
    assertNoSecret(s.allValues(), phrase, "open with a password");
    // A new password re-encrypts; the old one no longer opens it.
    await wallet.setPassword("pw 2");
    assertNoSecret(s.allValues(), phrase, "after a new password");
    assert.equal((await rejection(SpokeWallet.open({ storage: s.storage, password: "pw 1" }))).code, "WRONG_PASSWORD");
    assert.equal((await SpokeWallet.open({ storage: s.storage, password: "pw 2" })).address, wallet.address);
    wallet.free();
  });

  test("two named wallets share one storage", async () => {
    const s = recordingStorage("named");
    const a = await SpokeWallet.open({ storage: s.storage, name: "a" });
    const b = await SpokeWallet.open({ storage: s.storage, name: "b" });
    assert.notEqual(a.address, b.address);
    assert.equal(a.name, "a");
    assert.equal((await SpokeWallet.open({ storage: s.storage, name: "a" })).address, a.address);
  });
});
