// The node operator's dashboard: reads the admin API (node/src/api/admin.rs) with the admin token as a bearer
// token, and draws it. The page runs under the node's static-file policy (no inline script or style, same-origin
// fetches only), so every element is built here with textContent — nothing the node returns is parsed as HTML.
//
// Amounts arrive as U256 strings (0x hex, as the API writes them; decimal also accepted) and are formatted with
// BigInt only: a Number would round anything above 2^53 base units, which is 0.009 of an 18-decimal token.

const TOKEN_KEY = "spoke.admin.token";
const REFRESH_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";
const DEFAULT_DECIMALS = 18;

/** An answer of the node other than 2xx, with the API's `{code, message}` when it sent one. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** The node could not be reached at all (down, restarting, no network, or no answer in time). */
export class NetworkError extends Error {
  constructor(message) {
    super(message);
    this.name = "NetworkError";
  }
}

/** A U256 as the API writes it (`0x…` hex, or decimal digits), as a BigInt; throws on anything else. */
export function parseAmount(text) {
  if (typeof text !== "string" || !/^(0x[0-9a-fA-F]{1,64}|[0-9]{1,78})$/.test(text)) {
    throw new Error(`not an amount: ${JSON.stringify(text)}`);
  }
  return BigInt(text);
}

/** "1234567" → "1,234,567". */
export function groupThousands(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** `value` base units as a decimal with `decimals` places, trailing zeros dropped: (1500000000000000000n, 18) → "1.5". */
export function formatUnits(value, decimals = DEFAULT_DECIMALS) {
  const amount = typeof value === "bigint" ? value : parseAmount(value);
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 77) {
    throw new Error(`bad decimals: ${decimals}`);
  }
  const negative = amount < 0n;
  const magnitude = negative ? -amount : amount;
  const base = 10n ** BigInt(decimals);
  const whole = groupThousands((magnitude / base).toString());
  const fraction = decimals === 0 ? "" : (magnitude % base).toString().padStart(decimals, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

// ---- The node's API ----

let token = null;

async function request(path, { method = "GET", body, auth = true, bearer = token } = {}) {
  const headers = { Accept: "application/json" };
  if (auth) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (e) {
    const reason = e?.name === "TimeoutError" ? `no answer in ${REQUEST_TIMEOUT_MS / 1000} s` : e?.message || e;
    throw new NetworkError(`cannot reach the node at ${location.origin} (${reason})`);
  }
  const text = await response.text().catch(() => "");
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: reported below with the status.
  }
  if (!response.ok) {
    const code = json?.code ?? `HTTP_${response.status}`;
    const message = json?.message ?? (text.slice(0, 200) || response.statusText);
    throw new ApiError(response.status, code, message);
  }
  if (json === null) throw new ApiError(response.status, "BAD_ANSWER", `${path} did not answer with JSON`);
  return json;
}

const admin = (name, bearer) => request(`/admin/${name}`, { bearer });

// ---- Assets: names and decimals ----

// What is known of each asset, by lower-case address: what the chain answered, or a stand-in when the node said
// no (a node without its chain proxy answers 404, and would every time). A look-up the network cut short is tried
// again at the next refresh, so a passing hiccup does not leave a token unnamed for the life of the tab.
const assets = new Map([[ZERO_ADDRESS, { symbol: "ETH", decimals: 18, known: true }]]);

const standIn = (address) => ({ symbol: shortHex(address), decimals: DEFAULT_DECIMALS, known: false });

function decodeHex(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** An ERC-20 `symbol()` answer: an ABI string, or the bytes32 some old tokens return. */
function decodeSymbol(result) {
  const hex = result.slice(2);
  let bytes;
  if (hex.length === 64) {
    bytes = decodeHex(hex).filter((b) => b !== 0);
  } else {
    const length = Number(BigInt(`0x${hex.slice(64, 128)}`));
    if (length > 64 || hex.length < 128 + length * 2) throw new Error("bad symbol");
    bytes = decodeHex(hex.slice(128, 128 + length * 2));
  }
  const symbol = new TextDecoder().decode(bytes).trim();
  if (!symbol) throw new Error("empty symbol");
  return symbol.slice(0, 16);
}

async function ethCall(to, data) {
  const answer = await request("/rpc", {
    method: "POST",
    auth: false,
    body: { jsonrpc: "2.0", id: 1, method: "eth_call", params: [{ to, data }, "latest"] },
  });
  if (typeof answer.result !== "string" || !/^0x([0-9a-fA-F]{2})+$/.test(answer.result)) {
    throw new Error(answer.error?.message ?? "no result");
  }
  return answer.result;
}

/** Reads each token's symbol and decimals through the node's chain proxy (`POST /rpc`, same origin). */
async function learnAssets(addresses) {
  const unknown = [...new Set(addresses.map((a) => String(a).toLowerCase()))].filter((a) => !assets.has(a));
  await Promise.all(
    unknown.map(async (address) => {
      try {
        const [symbol, decimals] = await Promise.all([
          ethCall(address, "0x95d89b41").then(decodeSymbol),
          ethCall(address, "0x313ce567").then((r) => Number(BigInt(r))),
        ]);
        if (!Number.isInteger(decimals) || decimals > 77) throw new Error("bad decimals");
        assets.set(address, { symbol, decimals, known: true });
      } catch (e) {
        if (!(e instanceof NetworkError)) assets.set(address, standIn(address));
      }
    }),
  );
}

function assetInfo(address) {
  return assets.get(String(address).toLowerCase()) ?? standIn(address);
}

// ---- Drawing ----

const $ = (id) => document.getElementById(id);

function el(tag, { className, title, colSpan } = {}, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (title) node.title = title;
  if (colSpan) node.colSpan = colSpan;
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function shortHex(hex) {
  const text = String(hex);
  return text.length > 14 ? `${text.slice(0, 8)}…${text.slice(-4)}` : text;
}

/** A hash or address: the full text (so it copies whole), cut short on screen by the stylesheet. */
function hexCell(hex) {
  if (hex === null || hex === undefined) return el("td", { className: "muted" }, "—");
  return el("td", {}, el("code", { className: "hex", title: String(hex) }, String(hex)));
}

function assetCell(address) {
  const info = assetInfo(address);
  const title = info.known ? String(address) : `${address} (name unknown; ${DEFAULT_DECIMALS} decimals assumed)`;
  return el("td", { title }, info.symbol);
}

function amountCell(asset, raw) {
  const info = assetInfo(asset);
  try {
    const value = parseAmount(raw);
    return el("td", { className: "num", title: `${value} base units` }, formatUnits(value, info.decimals));
  } catch (e) {
    return el("td", { className: "num bad", title: e.message }, "?");
  }
}

function timeCell(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return el("td", { className: "muted" }, "—");
  const date = new Date(seconds * 1000);
  return el("td", { className: "nowrap", title: date.toISOString() }, date.toLocaleString());
}

function badge(text, kind = text) {
  return el("span", { className: `badge badge-${String(kind).replace(/[^a-z0-9-]/gi, "")}` }, text);
}

function fill(tbody, rows, columns, empty) {
  tbody.replaceChildren(
    ...(rows.length ? rows : [el("tr", {}, el("td", { className: "empty", colSpan: columns }, empty))]),
  );
}

const PAYMENT_LIFE = ["accepted", "forwarded", "resolved", "completed", "refunding", "failed"];
const lifeOrder = (status) => (PAYMENT_LIFE.includes(status) ? PAYMENT_LIFE.indexOf(status) : PAYMENT_LIFE.length);

function renderSummary(summary) {
  const stat = (label, value, id) => {
    const dd = el("dd", {}, String(value ?? "—"));
    if (id) dd.id = id;
    return el("div", { className: "stat" }, el("dt", {}, label), dd);
  };
  // In a payment's order of life rather than the API's alphabetical one; a status added later goes last.
  const payments = Object.entries(summary.payments ?? {}).sort(
    ([a], [b]) => lifeOrder(a) - lifeOrder(b) || a.localeCompare(b),
  );
  $("summary-stats").replaceChildren(
    stat("Channels", summary.channels, "stat-channels"),
    stat("Users online", summary.onlineUsers),
    stat("Collateral deposits in flight", summary.collateralInFlight),
    ...payments.map(([status, count]) => stat(`Payments ${status}`, count, `stat-payments-${status}`)),
  );
}

function renderWallet(wallet) {
  $("wallet-address").textContent = wallet.address;
  $("wallet-address").title = "the node's on-chain address";
  const rows = (wallet.balances ?? []).map((b) => el("tr", {}, assetCell(b.asset), amountCell(b.asset, b.balance)));
  fill($("wallet-rows"), rows, 2, "No balances.");
}

function renderChannels(channels) {
  $("channels-count").textContent = channels.length ? `(${channels.length})` : "";
  const rows = [];
  for (const c of channels) {
    const state = c.awaitingUser ? badge("awaiting user", "waiting") : badge("signed by both", "ok");
    const head = [
      hexCell(c.user),
      hexCell(c.channelId),
      el("td", { className: "num" }, c.epoch),
      el("td", { className: "num" }, c.latestNonce),
    ];
    const tail = [el("td", { className: "num" }, c.locks), el("td", {}, state)];
    const balances = c.balances ?? [];
    if (!balances.length) {
      rows.push(el("tr", {}, ...head, el("td", { className: "muted", colSpan: 5 }, "no deposits yet"), ...tail));
    }
    for (const b of balances) {
      rows.push(
        el(
          "tr",
          {},
          ...head.map((td) => td.cloneNode(true)),
          assetCell(b.asset),
          amountCell(b.asset, b.balanceUser),
          amountCell(b.asset, b.balanceNode),
          amountCell(b.asset, b.lockedUser),
          amountCell(b.asset, b.lockedNode),
          ...tail.map((td) => td.cloneNode(true)),
        ),
      );
    }
  }
  fill($("channel-rows"), rows, 11, "No channels yet.");
}

function renderCollateral(collateral) {
  const held = (collateral.held ?? []).map((h) =>
    el(
      "tr",
      {},
      assetCell(h.asset),
      amountCell(h.asset, h.balance),
      amountCell(h.asset, h.locked),
      el("td", { className: "num" }, h.channels),
    ),
  );
  fill($("held-rows"), held, 4, "The node holds nothing in its channels.");
  const inFlight = (collateral.inFlight ?? []).map((d) =>
    el(
      "tr",
      {},
      hexCell(d.channelId),
      assetCell(d.asset),
      amountCell(d.asset, d.amount),
      el("td", {}, badge(d.status)),
      hexCell(d.txHash),
      timeCell(d.createdAt),
    ),
  );
  fill($("in-flight-rows"), inFlight, 6, "No deposits in flight.");
}

function renderPayments(payments) {
  const rows = payments.map((p) =>
    el(
      "tr",
      {},
      hexCell(p.id),
      hexCell(p.payer),
      hexCell(p.payee),
      assetCell(p.asset),
      amountCell(p.asset, p.amount),
      el("td", {}, badge(p.status)),
      timeCell(p.createdAt),
      timeCell(p.updatedAt),
    ),
  );
  fill($("payment-rows"), rows, 8, "No payments yet.");
}

function renderDisputes(disputes) {
  const rows = [];
  for (const d of disputes) {
    const head = () => [hexCell(d.channelId), hexCell(d.user), el("td", { className: "num" }, d.epoch)];
    const txs = d.transactions ?? [];
    if (!txs.length) {
      rows.push(el("tr", {}, ...head(), el("td", { className: "muted", colSpan: 4 }, "no transaction sent yet")));
    }
    for (const t of txs) {
      rows.push(
        el(
          "tr",
          {},
          ...head(),
          el("td", {}, t.action),
          hexCell(t.txHash),
          el("td", {}, badge(t.status)),
          timeCell(t.sentAt),
        ),
      );
    }
  }
  fill($("dispute-rows"), rows, 7, "No disputes.");
}

// ---- State and refresh ----

let timer = null;
let loading = false;
let lastUpdate = null;

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function setStatus(text, stale = false) {
  $("status").textContent = text;
  $("status").classList.toggle("stale", stale);
}

function showLogin(message = "") {
  token = null;
  clearTimeout(timer);
  $("dashboard").hidden = true;
  $("controls").hidden = true;
  $("login").hidden = false;
  showError(message);
  $("token").focus();
}

function showDashboard() {
  $("login").hidden = true;
  $("dashboard").hidden = false;
  $("controls").hidden = false;
}

// Whatever holds data from the node, emptied when the token is forgotten.
const DATA_ELEMENTS = [
  "summary-stats",
  "wallet-rows",
  "channel-rows",
  "held-rows",
  "in-flight-rows",
  "payment-rows",
  "dispute-rows",
];

function forget(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  lastUpdate = null;
  for (const id of DATA_ELEMENTS) $(id).replaceChildren();
  $("wallet-address").textContent = "…";
  showLogin(message);
}

function schedule() {
  clearTimeout(timer);
  if (token && $("auto").checked) timer = setTimeout(refresh, REFRESH_MS);
}

const SECTIONS = ["summary", "wallet", "channels", "collateral", "payments", "disputes"];

/**
 * Loads every section with `candidate` (the stored token, or one just pasted). A pasted token is stored only once
 * the node has accepted it, so a wrong one never outlives the error it caused.
 */
async function refresh(candidate = token) {
  if (!candidate || loading) return;
  loading = true;
  clearTimeout(timer);
  // Only before the first answer: every 5 s it would make the header flicker.
  if (!lastUpdate) setStatus("Loading…");
  try {
    const results = await Promise.allSettled(SECTIONS.map((name) => admin(name, candidate)));
    const failures = results.map((r, i) => [SECTIONS[i], r.reason]).filter(([, reason]) => reason);
    const refused = failures.find(([, e]) => e instanceof ApiError && e.status === 401);
    if (refused) {
      forget(
        `The node refused this admin token (401 ${refused[1].code}: ${refused[1].message}). Paste the admin token again.`,
      );
      setStatus("");
      return;
    }
    const disabled = failures.find(([, e]) => e instanceof ApiError && e.code === "ADMIN_DISABLED");
    if (disabled) {
      forget(`The admin API is off on this node (${disabled[1].message}).`);
      return;
    }
    if (failures.length === SECTIONS.length && failures.every(([, e]) => e instanceof NetworkError)) {
      if (candidate !== token) {
        // A pasted token not yet checked: the form stays, so it can be sent again.
        showError(`${failures[0][1].message}. Check that the node is running, then open again.`);
        return;
      }
      const since = lastUpdate ? `Showing data from ${lastUpdate.toLocaleTimeString()}; ` : "";
      showError(`${failures[0][1].message}. ${since}retrying every ${REFRESH_MS / 1000} s while auto-refresh is on.`);
      setStatus("Node unreachable", true);
      showDashboard();
      return;
    }

    token = candidate;
    sessionStorage.setItem(TOKEN_KEY, candidate);
    showDashboard();
    const [summary, wallet, channels, collateral, payments, disputes] = results.map((r) => r.value);
    const withAssets = [
      ...(wallet?.balances ?? []),
      ...(channels ?? []).flatMap((c) => c.balances ?? []),
      ...(collateral?.held ?? []),
      ...(collateral?.inFlight ?? []),
      ...(payments ?? []),
    ];
    await learnAssets(withAssets.map((x) => x.asset));
    if (summary) renderSummary(summary);
    if (wallet) renderWallet(wallet);
    $("wallet-error").hidden = !!wallet;
    if (!wallet) $("wallet-error").textContent = describe(results[1].reason);
    if (channels) renderChannels(channels);
    if (collateral) renderCollateral(collateral);
    if (payments) renderPayments(payments);
    if (disputes) renderDisputes(disputes);

    const others = failures.filter(([name]) => name !== "wallet");
    showError(others.map(([name, e]) => `${name}: ${describe(e)}`).join(" · "));
    lastUpdate = new Date();
    setStatus(`Updated ${lastUpdate.toLocaleTimeString()}`, failures.length > 0);
  } finally {
    loading = false;
    schedule();
  }
}

function describe(error) {
  if (error instanceof ApiError) return `${error.status} ${error.code}: ${error.message}`;
  return error?.message ?? String(error);
}

function start() {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const pasted = $("token").value.trim();
    if (!pasted) return;
    $("token").value = "";
    showError("");
    refresh(pasted);
  });
  $("refresh").addEventListener("click", () => refresh());
  $("auto").addEventListener("change", schedule);
  $("forget").addEventListener("click", () => forget());
  // A hidden tab stops polling; it catches up as soon as it is seen again.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) clearTimeout(timer);
    else if (token) refresh();
  });

  token = sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    refresh();
  } else {
    showLogin();
  }
}

if (typeof document !== "undefined") start();
