// The package's entry: loads the WebAssembly module once (fetched beside this file in a browser, read from disk
// in Node.js), then exports the API. Importing it is enough; there is no init call.
import init, { SpokeClient, SpokeWallet, Eip1193Provider } from "./spoke_client.js";

const wasm = new URL("./spoke_client_bg.wasm", import.meta.url);
const inNode = typeof process === "object" && process.versions != null && process.versions.node != null
  && typeof window === "undefined";
if (inNode) {
  const { readFile } = await import(/* @vite-ignore */ "node:fs/promises");
  await init({ module_or_path: await readFile(wasm) });
} else {
  await init({ module_or_path: wasm });
}

export { SpokeClient, SpokeWallet, Eip1193Provider };
