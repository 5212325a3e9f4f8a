// Shared by the Node.js tests of the built npm package (client-wasm/pkg): a whole `spoke-node dev` system on free
// 127.0.0.1 ports (anvil, the contracts, the node), storages that remember every value written to them, and
// funding of fresh wallets with ETH and Dai from a development account.
//
// The dev system runs in its own process group. It is stopped by its PID when the tests end (SIGINT, so it stops
// its anvil itself; SIGKILL to the whole group after a timeout), and also when this process exits, whatever the
// reason (an uncaught error, SIGINT, SIGTERM), so no anvil is left behind.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { ethers } from "ethers";

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, "../..");
export const PKG = join(ROOT, "client-wasm/pkg");
export const NODE_BIN = process.env.SPOKE_NODE_BIN ?? join(ROOT, "target/debug/spoke-node");
const ANVIL = join(ROOT, "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");

export const DAI_ABI = [
  "function mint(address to, uint256 amount)",
  "function balanceOf(address owner) view returns (uint256)",
  "function transfer(address to, uint256 amount) returns (bool)",
];

/** Throws a clear error when the package or the node binary is not built. */
export function checkBuilt({ node = true, pkg = true } = {}) {
  if (pkg && (!existsSync(join(PKG, "index.js")) || !existsSync(join(PKG, "spoke_client_bg.wasm")))) {
    throw new Error(`the npm package is not built (${PKG}): run ./scripts/build-npm`);
  }
  if (node && !existsSync(NODE_BIN)) {
    throw new Error(`${NODE_BIN} is missing: run cargo build -p spoke-node (or set SPOKE_NODE_BIN)`);
  }
}

/** Two (or `n`) distinct free ports on 127.0.0.1: each bound to port 0 at the same time, then released. */
export async function freePorts(n = 2) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = createServer();
      await new Promise((ok, fail) => {
        server.once("error", fail);
        server.listen(0, "127.0.0.1", ok);
      });
      servers.push(server);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  }
}

// Every dev system this process started and has not stopped yet: killed on exit, however the process exits.
const running = new Set();

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

process.on("exit", () => {
  for (const dev of running) {
    killGroup(dev.child, "SIGKILL");
    try {
      rmSync(dev.dataDir, { recursive: true, force: true });
    } catch {
      // Best effort.
    }
  }
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    // The `exit` handler above kills what is left.
    process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 })[signal]);
  });
}

/**
 * Starts `spoke-node dev` on free ports and waits for its `SPOKE_DEV {json}` line. Resolves with the parsed
 * line's fields plus `provider` (an ethers JsonRpcProvider), `funder` (a development account's signer),
 * `dai` (the token's address), `daiContract`, `stop()` and `output()` (what the node printed, for failures).
 * `www` is the folder the node serves as static files (none by default); the browser tests (www/e2e/), which do not
 * load the npm package, pass `needsPackage: false`.
 */
export async function startDev({ accounts = 5, readyTimeoutMs = 180_000, www = null, needsPackage = true } = {}) {
  checkBuilt({ pkg: needsPackage });
  const [port, chainPort] = await freePorts(2);
  const dataDir = mkdtempSync(join(tmpdir(), "spoke-js-tests-"));
  const env = { ...process.env };
  if (!env.SPOKE_ANVIL && existsSync(ANVIL)) env.SPOKE_ANVIL = ANVIL;
  env.PATH = `${dirname(ANVIL)}:${env.PATH}`;
  const child = spawn(
    NODE_BIN,
    [
      "dev",
      "--port", String(port),
      "--chain-port", String(chainPort),
      "--data-dir", dataDir,
      "--www-dir", www ?? join(dataDir, "none"),
      "--accounts", String(accounts),
    ],
    { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  const dev = { child, dataDir };
  running.add(dev);

  // Both streams are read to the end, so the node never blocks on a full pipe; the tail is kept for failures.
  let printed = "";
  const keep = (chunk) => {
    printed += chunk;
    if (printed.length > 200_000) printed = printed.slice(-100_000);
  };
  child.stderr.setEncoding("utf8").on("data", keep);
  let exited = null;
  const exit = new Promise((ok) => child.once("exit", (code, signal) => ok((exited = { code, signal }))));

  const ready = await new Promise((ok, fail) => {
    let buffer = "";
    const timer = setTimeout(
      () => fail(new Error(`spoke-node dev printed no SPOKE_DEV line in ${readyTimeoutMs} ms:\n${printed}`)),
      readyTimeoutMs,
    );
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      keep(chunk);
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.startsWith("SPOKE_DEV ")) {
          clearTimeout(timer);
          try {
            ok(JSON.parse(line.slice("SPOKE_DEV ".length)));
          } catch (e) {
            fail(new Error(`the SPOKE_DEV line is not JSON: ${e.message}\n${line}`));
          }
        }
      }
    });
    exit.then(({ code, signal }) => {
      clearTimeout(timer);
      fail(new Error(`spoke-node dev exited (code ${code}, signal ${signal}) before it was ready:\n${printed}`));
    });
  }).catch(async (e) => {
    await stop();
    throw e;
  });

  async function stop({ timeoutMs = 20_000 } = {}) {
    if (!running.has(dev)) return exited;
    if (!exited) {
      // SIGINT to the node alone: it stops the node, then its anvil.
      try {
        process.kill(child.pid, "SIGINT");
      } catch {
        // Already gone.
      }
      let timer;
      const late = await Promise.race([
        exit.then(() => false),
        new Promise((ok) => (timer = setTimeout(() => ok(true), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (late) {
        killGroup(child, "SIGKILL");
        await exit;
      }
    }
    // Anything left in the group (anvil, should the node have died first) goes too.
    killGroup(child, "SIGKILL");
    running.delete(dev);
    rmSync(dataDir, { recursive: true, force: true });
    return exited;
  }

  const provider = new ethers.JsonRpcProvider(ready.rpcUrl, ready.chainId, {
    staticNetwork: true,
    pollingInterval: 250,
    // ethers caches identical calls for 250 ms by default: a balance read right after a fast transaction would be
    // the one from before it.
    cacheTimeout: -1,
  });
  // The node's own key is never among the printed accounts, but make sure no test spends from it.
  const usable = ready.accounts.filter((a) => a.address.toLowerCase() !== ready.node.toLowerCase());
  const funder = new ethers.NonceManager(new ethers.Wallet(usable[0].privateKey, provider));
  const daiContract = new ethers.Contract(ready.dai, DAI_ABI, funder);

  return Object.assign(dev, ready, {
    port,
    chainPort,
    provider,
    funder,
    daiContract,
    usableAccounts: usable,
    output: () => printed,
    stop: async (options) => {
      provider.destroy();
      return stop(options);
    },
  });
}

// Funding is serialized: one funder, one nonce sequence.
let fundingQueue = Promise.resolve();

/** Sends `eth` ETH and mints `dai` Dai (decimal strings, in whole units) to `address`; resolves once both are mined. */
export function fund(dev, address, { eth = "1", dai = "100" } = {}) {
  const run = async () => {
    const sent = [];
    if (eth && eth !== "0") sent.push(await dev.funder.sendTransaction({ to: address, value: ethers.parseEther(eth) }));
    if (dai && dai !== "0") sent.push(await dev.daiContract.mint(address, ethers.parseUnits(dai, 18)));
    for (const tx of sent) {
      const receipt = await tx.wait();
      if (receipt.status !== 1) throw new Error(`funding ${address}: ${tx.hash} reverted`);
    }
  };
  const result = fundingQueue.then(run, run);
  fundingQueue = result.catch(() => {});
  return result;
}

export async function daiBalanceOf(dev, address) {
  return dev.daiContract.balanceOf(address);
}

/**
 * A `KeyValueStorage` backed by a Map that also records every write, in order: `writes` holds
 * `{ key, value }` for each `setItem` and `{ key, removed: true }` for each `removeItem`.
 */
export function recordingStorage(label = "storage") {
  const map = new Map();
  const writes = [];
  const storage = {
    getItem: (key) => (map.has(key) ? map.get(key) : null),
    setItem: (key, value) => {
      const text = String(value);
      writes.push({ key, value: text });
      map.set(key, text);
    },
    removeItem: (key) => {
      writes.push({ key, removed: true });
      map.delete(key);
    },
  };
  return {
    label,
    storage,
    map,
    writes,
    /** Every value written under a key starting with `prefix`, in order. */
    written: (prefix = "") => writes.filter((w) => !w.removed && w.key.startsWith(prefix)).map((w) => w.value),
    /** Every value ever written plus every value held now. */
    allValues: () => [...writes.filter((w) => !w.removed).map((w) => w.value), ...map.values()],
  };
}

/** Resolves with the first event of `type` that `match` accepts, or rejects after `timeoutMs`. */
export function nextEvent(client, type, match = () => true, timeoutMs = 60_000) {
  return new Promise((ok, fail) => {
    const listener = (event) => {
      if (!match(event)) return;
      clearTimeout(timer);
      client.off(type, listener);
      ok(event);
    };
    const timer = setTimeout(() => {
      client.off(type, listener);
      fail(new Error(`no ${type} event in ${timeoutMs} ms`));
    }, timeoutMs);
    client.on(type, listener);
  });
}

/** Awaits `promise`, which must reject; resolves with the rejection. */
export async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection, but it resolved");
}
