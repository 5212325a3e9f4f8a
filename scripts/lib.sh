# Shared by the scripts in this folder: where things are, and the installs every script may need.
# Source it; it defines functions and variables only.

SPOKE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FOUNDRY_BIN_DIRS="$SPOKE_ROOT/node_modules/@foundry-rs/anvil-linux-amd64/bin:$SPOKE_ROOT/node_modules/@foundry-rs/forge-linux-amd64/bin:$SPOKE_ROOT/node_modules/@foundry-rs/cast-linux-amd64/bin"
export PATH="$FOUNDRY_BIN_DIRS:$PATH"
export SPOKE_ANVIL="$SPOKE_ROOT/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The npm packages in package.json: anvil, forge, cast (Foundry's own npm builds), solc-js, OpenZeppelin.
# Reinstalled only when package-lock.json changed since the last install.
ensure_node_tools() {
  command -v node >/dev/null || die "node is not installed (Node.js 20+ with npm is needed for the contract toolchain)"
  local stamp="$SPOKE_ROOT/node_modules/.spoke-lock-sha"
  local want
  want="$(sha256sum "$SPOKE_ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$SPOKE_ANVIL" ]; then
    say "installing the contract toolchain from npm (anvil, forge, solc-js, OpenZeppelin)"
    (cd "$SPOKE_ROOT" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
    echo "$want" > "$stamp"
  fi
}

ensure_wasm_target() {
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
    || rustup target add wasm32-unknown-unknown
}

ensure_rust_components() {
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
}

# PostgreSQL for the node's store tests: Debian's server package, whose binaries live in /usr/lib/postgresql/*/bin.
ensure_postgres() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${SPOKE_PG_BIN:-}" ]; then
    say "installing PostgreSQL from Debian's packages"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
      || die "could not install PostgreSQL (apt-get install postgresql)"
  fi
}

# wasm-bindgen's CLI must be the exact version of the wasm-bindgen crate the client pins.
WASM_BINDGEN_VERSION=0.2.130
# The published .wasm files (npm package, card) name source files in their panic messages. Without remapping those
# are this machine's paths (/root/.cargo/registry/src/…, the checkout's directory): a build would differ from
# machine to machine and tell where it was made. Cargo applies RUSTFLAGS to the target's crates only when a
# --target is given, so build scripts and proc macros keep their cache.
wasm_rustflags() {
  local cargo_home="${CARGO_HOME:-$HOME/.cargo}"
  printf '%s' "--remap-path-prefix=$cargo_home/registry/src=crates --remap-path-prefix=$cargo_home/git/checkouts=git --remap-path-prefix=$SPOKE_ROOT=spoke"
}

ensure_wasm_bindgen() {
  ensure_wasm_target
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes, once)"
    # Not --locked: its lockfile names a crate version the registry no longer has.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --quiet || die "could not install wasm-bindgen-cli"
  fi
}

# Debian's Chromium and its ChromeDriver, for the browser tests.
ensure_chromium() {
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    say "installing Chromium and ChromeDriver from Debian's packages"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
      || die "could not install chromium and chromium-driver"
  fi
}

# wasm-opt -Oz from the npm binaryen package, with the features rustc's wasm32 target emits; drops the debug and
# producers sections. In place.
wasm_opt_z() {
  "$SPOKE_ROOT/node_modules/.bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --strip-debug --strip-producers "$1" -o "$1.opt"
  mv "$1.opt" "$1"
}
