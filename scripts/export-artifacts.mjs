#!/usr/bin/env node
// Copies what the Rust crates bind to (ABI and bytecode) from forge's build output into contracts/artifacts/,
// which is committed so that `cargo build` never needs node or solc. With --check it writes nothing and fails
// when the committed files differ from a fresh build.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const contracts = ['ChannelManager', 'DevDai'];
const check = process.argv.includes('--check');
let stale = [];

for (const name of contracts) {
  const built = join(root, 'contracts', 'out', `${name}.sol`, `${name}.json`);
  if (!existsSync(built)) {
    console.error(`missing ${built}: run forge build in contracts/ first`);
    process.exit(1);
  }
  const forge = JSON.parse(readFileSync(built, 'utf8'));
  const artifact = {
    contractName: name,
    abi: forge.abi,
    bytecode: forge.bytecode.object,
    deployedBytecode: forge.deployedBytecode.object,
  };
  const text = JSON.stringify(artifact, null, 2) + '\n';
  const target = join(root, 'contracts', 'artifacts', `${name}.json`);
  if (check) {
    if (!existsSync(target) || readFileSync(target, 'utf8') !== text) stale.push(target);
  } else {
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, text);
    console.log(`wrote ${target}`);
  }
}
if (stale.length) {
  console.error(`stale contract artifacts (run: node scripts/export-artifacts.mjs):\n  ${stale.join('\n  ')}`);
  process.exit(1);
}
