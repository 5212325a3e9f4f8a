// Shared by the browser end-to-end tests (`node --test www/e2e/`): a real `spoke-node dev` serving a www folder,
// Debian's Chromium driven by playwright-core, screenshots, and a record of each page's console errors, uncaught
// errors and Content-Security-Policy violations.
//
// The dev system is the one the npm package's tests start (client-wasm/js-tests/harness.mjs): its own process
// group, stopped by PID by `stop()`, and killed on any exit of this process (an uncaught error, SIGINT, SIGTERM),
// so no node or anvil outlives a test run. Browsers launched here are closed by `stop` callers, and otherwise by
// playwright-core itself, which kills the browsers it launched when this process exits or is signalled.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

import { NODE_BIN, ROOT, freePorts, startDev as startDevSystem } from "../../client-wasm/js-tests/harness.mjs";

export { ROOT, NODE_BIN, freePorts };

export const HERE = dirname(fileURLToPath(import.meta.url));
/** What ./scripts/build-card writes: the card, and the admin dashboard copied to dist/admin/. */
export const WWW_DIST = join(ROOT, "www/dist");
export const SCREENSHOTS = join(HERE, "screenshots");
export const CHROMIUM = process.env.SPOKE_CHROMIUM ?? "/usr/bin/chromium";

// No sandbox (tests run as root in CI containers), and nothing that reaches out to Google's services from a
// machine that has no route to them.
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/**
 * Starts `spoke-node dev` on free 127.0.0.1 ports, serving `www` as its static files. Resolves with the fields of
 * its `SPOKE_DEV {json}` line (`nodeUrl`, `cardUrl`, `dashboardUrl`, `adminToken`, `node`, `dai`, `accounts`, …),
 * plus `stop()`, `output()` (what it printed, for failures), and the helpers of the npm package's harness
 * (`provider`, `funder`, `daiContract`, `usableAccounts`).
 */
export async function startDev({ www = WWW_DIST, accounts = 3, readyTimeoutMs = 180_000 } = {}) {
  if (!existsSync(NODE_BIN)) {
    throw new Error(`${NODE_BIN} is missing: run cargo build -p spoke-node (or set SPOKE_NODE_BIN)`);
  }
  if (!existsSync(www) || !statSync(www).isDirectory()) {
    const hint = www === WWW_DIST ? "run ./scripts/build-card, which writes it" : "pass an existing folder";
    throw new Error(`the www folder ${www} is missing: ${hint}`);
  }
  return startDevSystem({ accounts, readyTimeoutMs, www, needsPackage: false });
}

/** A headless Chromium (Debian's, never a downloaded one). Close it when done: `after(() => browser.close())`. */
export async function launchBrowser({ args = [] } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (./scripts/setup does), or set SPOKE_CHROMIUM`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
  });
}

/** Saves a full-page screenshot as www/e2e/screenshots/<name>.png; resolves with its path. */
export async function screenshot(page, name) {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`bad screenshot name ${JSON.stringify(name)}`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Records what goes wrong in `page` from now on: console errors (which include the resources that failed to load
 * and Chromium's "Refused to …" policy messages), uncaught errors, and every `securitypolicyviolation` event.
 * Call it before the first `goto`. Returns `{ all, csp, assertNone }`:
 * - `all()`: every record, `{ kind: "console" | "pageerror" | "csp", text }`;
 * - `csp()`: the policy violations alone;
 * - `assertNone({ allow })`: fails, listing them, unless every record matches one of the `allow` RegExps (an
 *   expected 401, say); a policy violation is never allowed.
 */
export async function watchPage(page) {
  const records = [];
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    const where = message.location()?.url;
    const kind = /Content[ -]Security[ -]Policy/i.test(text) ? "csp" : "console";
    records.push({ kind, text: where ? `${text} (${where})` : text });
  });
  page.on("pageerror", (error) => records.push({ kind: "pageerror", text: error.stack || String(error) }));
  // The event is the one sure report of a violation (not every one logs to the console). The listener goes in
  // through the DevTools protocol, which the page's policy does not govern, so it watches without being one.
  await page.exposeBinding("__spokeE2eCspViolation", (_source, v) =>
    records.push({
      kind: "csp",
      text: `${v.directive} refused ${v.blocked || "(inline)"} at ${v.source || "?"}:${v.line} ${v.sample || ""}`.trim(),
    }),
  );
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__spokeE2eCspViolation({
        directive: e.effectiveDirective,
        blocked: e.blockedURI,
        source: e.sourceFile,
        line: e.lineNumber,
        sample: e.sample,
      });
    });
  });
  return {
    all: () => [...records],
    csp: () => records.filter((r) => r.kind === "csp"),
    assertNone({ allow = [] } = {}) {
      const unexpected = records.filter((r) => r.kind === "csp" || !allow.some((pattern) => pattern.test(r.text)));
      assert.deepEqual(
        unexpected,
        [],
        `the page reported ${unexpected.length} problem(s):\n${unexpected.map((r) => `  [${r.kind}] ${r.text}`).join("\n")}`,
      );
    },
  };
}
