// The admin dashboard (www/admin/) in headless Chromium against a real `spoke-node dev`: the token prompt, a
// wrong token's 401, the sections drawn from the admin API with exact amounts, auto-refresh, an unreachable node,
// a narrow screen, and not one console error or policy violation on the way.
//
// The node serves a temporary folder holding only a copy of www/admin/, so this test needs no card build.

import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { ethers } from "ethers";

import { ROOT, launchBrowser, screenshot, startDev, watchPage } from "./harness.mjs";

const WRONG_TOKEN = "0123456789abcdef0123456789abcdef";
const DAI = 10n ** 18n;
// What `spoke-node dev` mints to the node, and the collateral floor a user may ask the node to deposit.
const NODE_DAI = 1_000_000n * DAI;
const COLLATERAL_FLOOR = 10n * DAI;

let dev;
let browser;
let www;

/** A JSON call to the node; throws with the node's answer on any non-2xx status. */
async function call(path, { body, token } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${dev.nodeUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Logs a development account in (Sign-In with Ethereum) and sets its channel up; resolves with its session. */
async function openChannel(account) {
  const wallet = new ethers.Wallet(account.privateKey);
  const { message } = await call("/auth/challenge", { body: { address: wallet.address } });
  const signature = await wallet.signMessage(message);
  const { token } = await call("/auth/login", { body: { message, signature } });
  await call("/channel/setup", { body: {}, token });
  return { address: wallet.address, token };
}

async function waitFor(what, check, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((ok) => setTimeout(ok, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();

/** A dashboard page in `context`, signed in with the node's admin token; `issues` records what goes wrong. */
async function signedIn(context) {
  const page = await context.newPage();
  const issues = await watchPage(page);
  await page.goto(dev.dashboardUrl);
  await page.fill("#token", dev.adminToken);
  await page.click("#login button[type=submit]");
  return { page, issues };
}

before(async () => {
  www = mkdtempSync(join(tmpdir(), "spoke-e2e-www-"));
  cpSync(join(ROOT, "www/admin"), join(www, "admin"), { recursive: true });
  dev = await startDev({ www });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await dev?.stop();
  if (www) rmSync(www, { recursive: true, force: true });
});

test("spoke-node dev prints an admin token and the dashboard's address", () => {
  assert.match(dev.adminToken, /^[0-9a-f]{64}$/);
  assert.equal(dev.dashboardUrl, `${dev.nodeUrl}/admin/`);
});

test("without a token the dashboard asks for one; a wrong one gets the 401 error and is not kept", async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const issues = await watchPage(page);
    await page.goto(dev.dashboardUrl);
    await page.locator("#login").waitFor({ state: "visible" });
    assert.equal(await page.locator("#dashboard").isVisible(), false);
    assert.equal(await page.locator("#controls").isVisible(), false);

    await page.fill("#token", WRONG_TOKEN);
    await page.click("#login button[type=submit]");
    const error = page.locator("#error");
    await error.waitFor({ state: "visible" });
    assert.match(
      await error.textContent(),
      /refused this admin token \(401 UNAUTHORIZED: that is not the admin token\)/,
    );
    assert.equal(await page.locator("#login").isVisible(), true);
    assert.equal(await page.locator("#dashboard").isVisible(), false);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused token is not stored");
    assert.equal(page.url(), dev.dashboardUrl, "the token never goes into the URL");
    // The only errors are the browser's own notes of the refused requests.
    issues.assertNone({ allow: [/status of 401 \(Unauthorized\)/] });
  } finally {
    await context.close();
  }
});

test("with the admin token it shows the summary, the node wallet and the channels, and keeps itself current", async () => {
  // A channel the node has collateralized: a node proposal counting its deposit, awaiting the user's signature.
  const [first, second] = dev.usableAccounts;
  const alice = await openChannel(first);
  await call("/collateral/request", { body: { asset: dev.dai }, token: alice.token });
  await waitFor("the node's collateral to be counted in alice's channel", async () => {
    const channels = await call("/admin/channels", { token: dev.adminToken });
    const dai = channels[0]?.balances.find((b) => same(b.asset, dev.dai));
    return dai && BigInt(dai.balanceNode) === COLLATERAL_FLOOR;
  });
  const wallet = await call("/admin/wallet", { token: dev.adminToken });
  const nodeDai = BigInt(wallet.balances.find((b) => same(b.asset, dev.dai)).balance);
  assert.equal(nodeDai, NODE_DAI - COLLATERAL_FLOOR);

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const { page, issues } = await signedIn(context);
    await page.locator("#dashboard").waitFor({ state: "visible" });
    await page.locator("#wallet-rows tr", { hasText: "DAI" }).waitFor();
    assert.equal(await page.locator("#error").isVisible(), false, await page.locator("#error").textContent());

    // Summary.
    assert.equal(await page.textContent("#stat-channels"), "1");
    assert.match(await page.textContent("#summary"), /Users online/);

    // Node wallet: its address, and its Dai to the last base unit (18 decimals, grouped).
    assert.ok(same(await page.textContent("#wallet-address"), dev.node));
    const daiRow = page.locator("#wallet-rows tr", { hasText: "DAI" });
    assert.equal(await daiRow.locator("td.num").textContent(), "999,990");
    assert.equal(await daiRow.locator("td.num").getAttribute("title"), `${nodeDai} base units`);
    const ethRow = page.locator("#wallet-rows tr", { hasText: "ETH" });
    assert.match(await ethRow.locator("td.num").textContent(), /^9,99\d\.\d+$/, "10000 ETH less the gas spent");

    // Channels: alice's, the node's 10 Dai in it, awaiting her signature.
    const channelRow = page.locator("#channel-rows tr", { hasText: "DAI" });
    assert.equal(await channelRow.count(), 1);
    const cells = await channelRow.locator("td").allTextContents();
    assert.ok(same(cells[0], alice.address), cells.join(" | "));
    assert.deepEqual(cells.slice(4), ["DAI", "0", "10", "0", "0", "0", "awaiting user"]);

    // Collateral held, payments and disputes (none yet).
    assert.deepEqual(await page.locator("#held-rows tr").first().locator("td").allTextContents(), [
      "DAI",
      "10",
      "0",
      "1",
    ]);
    assert.equal(await page.textContent("#payment-rows"), "No payments yet.");
    assert.equal(await page.textContent("#dispute-rows"), "No disputes.");

    // Amounts go through BigInt alone: exact far beyond 2^53 base units.
    const formatted = await page.evaluate(async () => {
      const { formatUnits, parseAmount } = await import("/admin/admin.js");
      const max = (1n << 256n) - 1n;
      let refused = "";
      try {
        parseAmount("1.5");
      } catch (e) {
        refused = e.message;
      }
      return {
        max: formatUnits(`0x${max.toString(16)}`, 18),
        tiny: formatUnits("0x1", 18),
        decimal: formatUnits("123456789012345678901", 18),
        six: formatUnits(1234567n, 6),
        refused,
      };
    });
    assert.deepEqual(formatted, {
      max: "115,792,089,237,316,195,423,570,985,008,687,907,853,269,984,665,640,564,039,457.584007913129639935",
      tiny: "0.000000000000000001",
      decimal: "123.456789012345678901",
      six: "1.234567",
      refused: 'not an amount: "1.5"',
    });

    // Auto-refresh: a second channel appears without a click.
    await openChannel(second);
    await page.waitForFunction(() => document.getElementById("stat-channels")?.textContent === "2", null, {
      timeout: 20_000,
    });
    await page.locator("#channel-rows tr", { hasText: "no deposits yet" }).waitFor();

    // The token lives in the tab's sessionStorage, never in the URL: a reload goes straight to the data.
    await page.reload();
    await page.locator("#dashboard").waitFor({ state: "visible" });
    assert.equal(await page.locator("#login").isVisible(), false);
    assert.equal(page.url(), dev.dashboardUrl);
    await page.locator("#wallet-rows tr", { hasText: "DAI" }).waitFor();

    await screenshot(page, "dashboard");
    issues.assertNone();

    // The node out of reach: a clear error, the last data kept, and recovery once it answers again.
    await page.route(/\/admin\/(summary|channels|collateral|wallet|payments|disputes)$/, (route) =>
      route.abort("connectionrefused"),
    );
    await page.click("#refresh");
    await page.locator("#error", { hasText: "cannot reach the node" }).waitFor();
    assert.match(await page.textContent("#error"), /Showing data from .*retrying every 5 s/);
    assert.equal(await page.textContent("#stat-channels"), "2");
    assert.equal(await page.textContent("#status"), "Node unreachable");
    await page.unrouteAll();
    await page.click("#refresh");
    await page.locator("#error").waitFor({ state: "hidden" });
    assert.match(await page.textContent("#status"), /^Updated /);
    issues.assertNone({ allow: [/net::ERR_CONNECTION_REFUSED/] });
  } finally {
    await context.close();
  }
});

test("on a phone-sized screen the page does not scroll sideways: the tables do, inside their cards", async () => {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
  try {
    const { page, issues } = await signedIn(context);
    await page.locator("#channel-rows tr", { hasText: "DAI" }).waitFor();
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      viewport: window.innerWidth,
      channelTable: document.querySelector("#channels table").scrollWidth,
      channelWrap: document.querySelector("#channels .table-wrap").clientWidth,
    }));
    assert.ok(widths.page <= widths.viewport, JSON.stringify(widths));
    assert.ok(widths.channelTable > widths.channelWrap, `the channel table scrolls: ${JSON.stringify(widths)}`);
    await screenshot(page, "dashboard-mobile");

    // Forgetting the token empties the page and asks again.
    await page.click("#forget");
    await page.locator("#login").waitFor({ state: "visible" });
    assert.equal(await page.locator("#dashboard").isVisible(), false);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.equal(await page.locator("#channel-rows tr").count(), 0);
    issues.assertNone();
  } finally {
    await context.close();
  }
});
