// Loads the card's WebAssembly; its `start` function renders the card into <body>. Kept out of index.html
// because the card's Content-Security-Policy forbids inline scripts.
import init from "./spoke_card.js";

init({ module_or_path: new URL("./spoke_card_bg.wasm", import.meta.url) }).catch((error) => {
  const p = document.createElement("p");
  p.className = "status failed";
  p.id = "failed";
  p.textContent = `The card could not start: ${error && error.message ? error.message : error}`;
  document.body.replaceChildren(p);
});
