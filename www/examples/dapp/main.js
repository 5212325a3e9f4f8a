// A small dapp on spoke-client and ethers v6, no framework: an in-page wallet (made on first use, kept in
// localStorage), a channel with a Spoke node, deposit, pay, and balances in the channel and on chain.
import { SpokeClient, SpokeWallet } from "spoke-client";
import { ethers } from "ethers";

const $ = (id) => document.getElementById(id);
const ERC20 = [
  "function symbol() view returns (string)",
  "function decimals() view returns (uint8)",
  "function balanceOf(address) view returns (uint256)",
  "function mint(address to, uint256 amount)",
];
const DEV_CHAIN_ID = 31337;

/** What the page holds once connected. */
const app = { wallet: null, client: null, provider: null, token: null, symbol: "DAI", decimals: 18 };
globalThis.spokeExample = app; // for the console

// ------------------------------------------------------------------ status and log

function stamp() {
  return new Date().toLocaleTimeString();
}

function log(text, kind = "") {
  const line = document.createElement("div");
  line.textContent = `${stamp()}  ${text}`;
  if (kind) line.className = kind;
  $("log").prepend(line);
}

/** Shows what the page is waiting for; `null` clears it. */
function waiting(text) {
  $("status").textContent = text ?? "";
  $("status").className = text ? "busy" : "";
  if (text) log(text, "busy");
}

/** An error as "CODE: message" — spoke-client's errors carry a string code, ethers' and EIP-1193's their own. */
function describe(error) {
  const code = error?.code ?? error?.error?.code ?? error?.name ?? "ERROR";
  const message = error?.shortMessage ?? error?.error?.message ?? error?.message ?? String(error);
  return `${code}: ${message}`;
}

function failed(what, error) {
  console.error(error);
  $("status").textContent = `${what} failed — ${describe(error)}`;
  $("status").className = "error";
  log(`${what} failed — ${describe(error)}`, "error");
}

/** Runs `task` with every button disabled, so one operation runs at a time. */
async function busy(what, task) {
  const buttons = [...document.querySelectorAll("button")];
  buttons.forEach((b) => (b.disabled = true));
  try {
    await task();
  } catch (error) {
    failed(what, error);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

// ------------------------------------------------------------------ amounts

/** "1.5" Dai → base units (a bigint), as spoke-client wants amounts. */
const units = (text) => {
  let value;
  try {
    value = ethers.parseUnits(text.trim(), app.decimals);
  } catch {
    throw Object.assign(new Error(`"${text}" is not an amount of ${app.symbol} (at most ${app.decimals} decimals)`), { code: "AMOUNT" });
  }
  if (value <= 0n) throw Object.assign(new Error("the amount must be more than zero"), { code: "AMOUNT" });
  return value;
};
const show = (value, decimals = app.decimals, symbol = app.symbol) => `${ethers.formatUnits(value, decimals)} ${symbol}`;

// ------------------------------------------------------------------ balances

async function refresh() {
  if (!app.client) return;
  try {
    const channel = await app.client.getChannel();
    const entry = channel.balances.find((b) => b.asset.toLowerCase() === app.token.target.toLowerCase());
    $("channel-balance").textContent = entry
      ? `${show(entry.user)} yours, ${show(entry.locked)} in payments on the way; the node's side ${show(entry.node)}`
      : `${show(0n)} (nothing deposited yet)`;
    $("channel-nonce").textContent = String(channel.nonce);
    const [eth, tokens] = await Promise.all([
      app.provider.getBalance(app.wallet.address),
      app.token.balanceOf(app.wallet.address),
    ]);
    $("chain-balance").textContent = `${show(eth, 18, "ETH")}, ${show(tokens)}`;
  } catch (error) {
    log(`could not read the balances — ${describe(error)}`, "error");
  }
}

// ------------------------------------------------------------------ connect

async function openWallet() {
  if (SpokeWallet.isEncrypted()) {
    const password = prompt("This wallet is locked. Password:");
    if (password === null) throw Object.assign(new Error("no password given"), { code: "LOCKED" });
    return SpokeWallet.open({ password });
  }
  const created = !SpokeWallet.exists();
  const wallet = await SpokeWallet.open();
  log(created ? `made a new wallet ${wallet.address} (kept in this browser's localStorage)` : `opened the wallet ${wallet.address}`);
  return wallet;
}

async function connect(event) {
  event.preventDefault();
  const nodeUrl = $("node-url").value.trim();
  const ethUrl = $("rpc-url").value.trim();
  await busy("Connecting", async () => {
    if (app.client) {
      app.client.free();
      app.client = null;
    }
    waiting("Opening the wallet…");
    app.wallet ??= await openWallet();
    $("address").textContent = app.wallet.address;

    waiting(`Signing in to ${nodeUrl} and restoring the channel…`);
    const client = await SpokeClient.connect({ nodeUrl, ethUrl, wallet: app.wallet });
    app.client = client;
    app.provider = new ethers.BrowserProvider(client.provider());
    const info = client.nodeInfo;
    if (info.tokens.length === 0) throw Object.assign(new Error("the node serves no token"), { code: "NO_TOKEN" });
    app.token = new ethers.Contract(info.tokens[0], ERC20, app.provider);
    [app.symbol, app.decimals] = await Promise.all([app.token.symbol(), app.token.decimals().then(Number)]);
    document.querySelectorAll(".symbol").forEach((s) => (s.textContent = app.symbol));
    $("faucet").hidden = info.chainId !== DEV_CHAIN_ID;

    client.on("stateChange", refresh);
    client.on("paymentReceived", (e) => {
      log(`received ${show(BigInt(e.amount))} from ${e.from} (payment ${e.id.slice(0, 10)}…)`);
      refresh();
    });
    client.on("paymentStatus", (e) => log(`payment ${e.id.slice(0, 10)}… is ${e.status}`));
    client.on("depositSent", (e) =>
      waiting(`Deposit transaction ${e.tx.slice(0, 10)}… is mined; waiting for the node to count it…`));
    client.on("refused", (e) => log(`the client refused to sign something the node sent: ${e.reason}`, "error"));

    $("account").hidden = false;
    waiting(null);
    log(`connected: chain ${info.chainId}, node ${info.node}, ${app.symbol} ${info.tokens[0]}`);
    await refresh();
  });
}

// ------------------------------------------------------------------ actions

async function faucet() {
  await busy("Getting test funds", async () => {
    const address = app.wallet.address;
    waiting("Setting this wallet's ETH on the development chain (anvil_setBalance)…");
    await app.provider.send("anvil_setBalance", [address, ethers.toQuantity(ethers.parseEther("10"))]);
    waiting(`Minting 100 ${app.symbol} (a transaction the wallet signs; waiting for it to be mined)…`);
    const signer = await app.provider.getSigner();
    const tx = await app.token.connect(signer).mint(address, ethers.parseUnits("100", app.decimals));
    await tx.wait();
    waiting(null);
    log(`got 10 ETH and 100 ${app.symbol} (tx ${tx.hash.slice(0, 10)}…)`);
    await refresh();
  });
}

async function deposit(event) {
  event.preventDefault();
  await busy("Deposit", async () => {
    const amount = units($("deposit-amount").value);
    waiting(`Depositing ${show(amount)}: approving the token and sending the deposit, then waiting for it to be mined…`);
    const result = await app.client.deposit(app.token.target, amount);
    waiting(null);
    log(`deposit counted in the channel (tx ${result.tx.slice(0, 10)}…, nonce ${result.channel.nonce})`);
    await refresh();
  });
}

async function pay(event) {
  event.preventDefault();
  await busy("Payment", async () => {
    const to = $("pay-to").value.trim();
    if (!ethers.isAddress(to)) throw Object.assign(new Error(`${to || "(empty)"} is not an address`), { code: "ADDRESS" });
    const amount = units($("pay-amount").value);
    const recipient = ethers.getAddress(to);
    if (await app.client.recipientNeedsCollateral(recipient, app.token.target, amount)) {
      waiting(`Paying ${show(amount)} to ${recipient}: the node may first have to add collateral to the recipient's channel…`);
    } else {
      waiting(`Paying ${show(amount)} to ${recipient}: waiting for the recipient to claim it…`);
    }
    const id = await app.client.pay(recipient, app.token.target, amount);
    waiting(null);
    log(`paid ${show(amount)} to ${recipient} (payment ${id.slice(0, 10)}…)`);
    await refresh();
  });
}

// ------------------------------------------------------------------ start

const params = new URLSearchParams(location.search);
$("node-url").value = params.get("node") ?? "http://127.0.0.1:8080";
$("rpc-url").value = params.get("rpc") ?? "http://127.0.0.1:8545";
$("connect-form").addEventListener("submit", connect);
$("deposit-form").addEventListener("submit", deposit);
$("pay-form").addEventListener("submit", pay);
$("faucet").addEventListener("click", faucet);
if (params.get("to")) $("pay-to").value = params.get("to");
if (params.has("autoconnect")) $("connect-form").requestSubmit();
log("ready: the WebAssembly client is loaded");
