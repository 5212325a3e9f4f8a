// The built package's TypeScript face and its tarball: usage.ts type-checks under `tsc --strict`, the public
// declarations never say `any`, index.d.ts re-exports every public type, and `npm pack` ships the .wasm.
//
//   node --test client-wasm/js-tests/types.test.mjs

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";

import ts from "typescript";

import { checkBuilt, HERE, PKG, ROOT } from "./harness.mjs";

const run = promisify(execFile);
const TSC = join(ROOT, "node_modules/.bin/tsc");
const scratch = mkdtempSync(join(tmpdir(), "spoke-types-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs tsc; resolves with { code, output } whether it passes or not. */
async function tsc(args) {
  try {
    const { stdout, stderr } = await run(TSC, args, { cwd: ROOT, maxBuffer: 16 << 20 });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    if (typeof e.code !== "number") throw e;
    return { code: e.code, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

/** A tsconfig in the scratch folder extending js-tests/tsconfig.json, for `files` and these compiler options. */
function config(name, files, compilerOptions = {}) {
  const path = join(scratch, `${name}.json`);
  writeFileSync(path, JSON.stringify({ extends: join(HERE, "tsconfig.json"), compilerOptions, files }, null, 2));
  return path;
}

checkBuilt({ node: false });

describe("TypeScript declarations", () => {
  test("usage.ts type-checks with tsc --noEmit --strict (and its @ts-expect-error lines are errors)", async () => {
    const source = readFileSync(join(HERE, "usage.ts"), "utf8");
    assert.ok((source.match(/@ts-expect-error/g) ?? []).length >= 2);
    // An unused @ts-expect-error is itself an error, so a pass proves each marked line is rejected.
    const { code, output } = await tsc(["-p", join(HERE, "tsconfig.json"), "--noEmit", "--strict"]);
    assert.equal(code, 0, `tsc failed:\n${output}`);
  });

  test("a wrong call in usage.ts would be caught (tsc is really checking the package's types)", async () => {
    const bad = join(scratch, "bad.ts");
    writeFileSync(bad, [
      `import { SpokeClient } from ${JSON.stringify(join(PKG, "index.js"))};`,
      "export async function f(c: SpokeClient): Promise<number> { return c.getChannel(); }",
    ].join("\n"));
    const { code, output } = await tsc(["-p", config("bad", [bad])]);
    assert.notEqual(code, 0);
    assert.match(output, /ChannelInfo/);
  });

  test("the README's quick start, as written, type-checks", async () => {
    const { code, output } = await tsc(["-p", config("readme", [join(HERE, "usage-readme.ts")], {
      lib: ["es2022", "dom", "esnext.disposable"],
    })]);
    assert.equal(code, 0, output);
  });

  test("a browser project (lib es2022 + dom, no @types/node) can use the declarations without skipLibCheck", async () => {
    const file = join(scratch, "browser.ts");
    writeFileSync(file, [
      `import { SpokeWallet } from ${JSON.stringify(join(PKG, "index.js"))};`,
      "export const open = (): Promise<SpokeWallet> => SpokeWallet.open({ storage: localStorage });",
    ].join("\n"));
    const { code, output } = await tsc(["-p", config("browser", [file], { lib: ["es2022", "dom"], types: [] })]);
    assert.equal(code, 0, output);
  });

  // wasm-bindgen's loader: not part of the API index.d.ts re-exports.
  const INTERNAL = new Set(["InitInput", "InitOutput", "SyncInitInput", "initSync", "default"]);

  function exportedDeclarations(file) {
    const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    const out = [];
    for (const statement of source.statements) {
      const modifiers = ts.canHaveModifiers(statement) ? ts.getModifiers(statement) ?? [] : [];
      const exported = modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
      const isDefault = modifiers.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
      if (ts.isExportDeclaration(statement)) {
        out.push({ name: "(re-export)", node: statement, source });
      } else if (exported) {
        out.push({ name: isDefault ? "default" : statement.name?.getText(source) ?? "?", node: statement, source });
      }
    }
    return out;
  }

  function anys({ node, source }) {
    const found = [];
    const visit = (n) => {
      if (n.kind === ts.SyntaxKind.AnyKeyword) {
        const { line } = source.getLineAndCharacterOfPosition(n.getStart(source));
        found.push(`line ${line + 1}: ${n.parent.getText(source).replace(/\s+/g, " ").slice(0, 120)}`);
      }
      ts.forEachChild(n, visit);
    };
    visit(node);
    return found;
  }

  test("no `any` in the public API of index.d.ts and spoke_client.d.ts", (t) => {
    const problems = [];
    let internalAnys = 0;
    for (const file of [join(PKG, "index.d.ts"), join(PKG, "spoke_client.d.ts")]) {
      for (const declaration of exportedDeclarations(file)) {
        const found = anys(declaration);
        if (INTERNAL.has(declaration.name)) {
          internalAnys += found.length;
        } else {
          problems.push(...found.map((f) => `${file.slice(PKG.length + 1)} ${declaration.name}: ${f}`));
        }
      }
    }
    t.diagnostic(`wasm-bindgen internals (InitOutput etc., not re-exported by index.d.ts) hold ${internalAnys} \`any\``);
    assert.deepEqual(problems, []);
  });

  test("index.d.ts re-exports every public class and type, and index.js every class", async () => {
    const declared = exportedDeclarations(join(PKG, "spoke_client.d.ts"))
      .map((d) => d.name)
      .filter((name) => !INTERNAL.has(name) && name !== "(re-export)");
    const index = readFileSync(join(PKG, "index.d.ts"), "utf8");
    const reexported = new Set([...index.matchAll(/\b([A-Z][A-Za-z0-9]*)\b/g)].map((m) => m[1]));
    const missing = declared.filter((name) => !reexported.has(name));
    assert.deepEqual(missing, [], "declared in spoke_client.d.ts, not re-exported by index.d.ts");

    const classes = exportedDeclarations(join(PKG, "spoke_client.d.ts"))
      .filter((d) => ts.isClassDeclaration(d.node))
      .map((d) => d.name)
      .sort();
    const module = await import(join(PKG, "index.js"));
    assert.deepEqual(Object.keys(module).sort(), classes);
  });
});

describe("npm package", () => {
  test("npm pack --dry-run succeeds and ships the .wasm, the glue and the types", async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--loglevel=error"], {
      cwd: PKG,
      maxBuffer: 16 << 20,
    });
    const [packed] = JSON.parse(stdout);
    const files = packed.files.map((f) => f.path).sort();
    for (const needed of [
      "spoke_client_bg.wasm",
      "spoke_client.js",
      "spoke_client.d.ts",
      "index.js",
      "index.d.ts",
      "package.json",
      "README.md",
    ]) {
      assert.ok(files.includes(needed), `${needed} is not in the tarball: ${files.join(", ")}`);
    }
    const wasm = packed.files.find((f) => f.path === "spoke_client_bg.wasm");
    assert.ok(wasm.size > 100_000, `the .wasm is ${wasm.size} bytes`);
    assert.equal(packed.name, "spoke-client");
    const manifest = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8"));
    assert.equal(manifest.type, "module");
    assert.equal(manifest.exports["."].types, "./index.d.ts");
    assert.notEqual(manifest.version, "0.0.0");
  });
});
