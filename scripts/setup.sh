#!/usr/bin/env bash
# Installs what building, running and testing Openprod needs, and only what is
# missing: safe to run again and again (a second run takes seconds).
#
#   wasm32 toolchain   rustup's target if it can be added; otherwise Debian's
#                      rustc-web + std sources, built with cargo's build-std
#   wasm-bindgen-cli   exactly the wasm-bindgen version in Cargo.lock
#   trunk              pinned below; never downloads tools at build time
#   chromium           Debian's, with chromedriver, for every browser test, and
#                      certutil (libnss3-tools) to make a test profile trust the
#                      relay's local CA
#   npm packages       tests/package-lock.json (playwright-core, no browser download; yjs and @automerge/automerge for scripts/bench-compare.sh)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"

readonly TRUNK_VERSION=0.21.14
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { echo "setup: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=no
apt_install() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  if [ "$apt_updated" = no ]; then
    as_root apt-get update -qq
    apt_updated=yes
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Writes .tools/toolchain: "rustup" or "debian". scripts/env.sh reads it.
# Once Debian's toolchain is chosen it stays chosen, even if rustup's target
# appears later: switching would mix two compilers' artifacts in target/.
setup_wasm_toolchain() {
  if [ "$(cat "$tools/toolchain" 2>/dev/null)" != debian ] && command -v rustup >/dev/null &&
    rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo rustup >"$tools/toolchain"
    return
  fi
  if [ "$(cat "$tools/toolchain" 2>/dev/null)" != debian ] && command -v rustup >/dev/null; then
    say "adding rustup's wasm32-unknown-unknown target"
    if timeout 120 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
      echo rustup >"$tools/toolchain"
      return
    fi
    say "rustup cannot add the target here; using Debian's rustc-web with build-std"
  fi
  apt_install rustc-web cargo-web rust-web-src lld-22
  # Debian's cargo, rustc and rustdoc must all come first on PATH for wasm
  # builds: rustup's proxies would otherwise mix two compiler versions.
  mkdir -p "$tools/debian-rust/bin"
  local tool
  for tool in cargo rustc rustdoc; do
    ln -sf "/usr/bin/$tool" "$tools/debian-rust/bin/$tool"
  done
  echo debian >"$tools/toolchain"
}

locked_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock"
}

cargo_install() { # crate version [extra cargo-install flags]
  local crate=$1 version=$2
  shift 2
  say "building $crate $version (several minutes, once per machine)"
  cargo install --quiet "$crate" --version "$version" --force "$@"
}

setup_wasm_bindgen() {
  local wanted
  wanted=$(locked_version wasm-bindgen)
  [ -n "$wanted" ] || { say "Cargo.lock names no wasm-bindgen version"; exit 1; }
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wanted" ] \
    || ! command -v wasm-bindgen-test-runner >/dev/null; then
    # Not --locked: the registry here lacks a version the CLI's own lockfile pins.
    cargo_install wasm-bindgen-cli "$wanted"
  fi
}

setup_trunk() {
  if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
    # --locked: newer lightningcss releases do not build with this trunk.
    cargo_install trunk "$TRUNK_VERSION" --locked
  fi
}

setup_browser() {
  apt_install chromium chromium-driver libnss3-tools
}

setup_npm() {
  local stamp="$root/tests/node_modules/.openprod-lock"
  local lock_sum
  lock_sum=$(sha256sum "$root/tests/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    say "installing the end-to-end test packages"
    (cd "$root/tests" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" >"$stamp"
  fi
}

setup_wasm_toolchain
setup_browser
setup_wasm_bindgen
setup_trunk
setup_npm
