#!/usr/bin/env bash
# Openprod against Yjs and Automerge on this machine, in one run (issue 7):
# the same workloads (tests/bench/compare/workloads.mjs) for Openprod
# compiled to wasm, Yjs and Automerge in headless Chromium, and for Openprod
# natively against Yjs and Automerge in Node (the npm versions pinned in
# tests/package-lock.json). Prints one table and writes it, with every
# run's figures, to target/bench/compare.json. About 8 minutes on the
# 2-core machine.
#
#   scripts/bench-compare.sh [runs] [engines]
#
# 5 runs by default (fewer runs, never smaller workloads); engines is a
# comma-separated list, all three by default (`3 openprod`: a quick
# before/after of Openprod alone, without ratios).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-5}"
engines="${2:-openprod,yjs,automerge}"
bash "$root/scripts/setup.sh"
source "$root/scripts/env.sh"
cd "$root"

# The bench profile: the release profile is tuned for the app's download size.
cargo build --quiet --profile bench -p openprod-compare --bin openprod-compare
wasm_cargo build --quiet --profile bench -p openprod-compare --lib
target="${CARGO_TARGET_DIR:-$root/target}"
pkg="$root/target/bench/compare-wasm"
wasm-bindgen --target web --out-dir "$pkg" "$target/wasm32-unknown-unknown/release/openprod_compare.wasm"

node tests/bench/compare/run.mjs --runs "$runs" --native "$target/release/openprod-compare" --pkg "$pkg" --engines "$engines" \
  --out "$root/target/bench/compare.json"
