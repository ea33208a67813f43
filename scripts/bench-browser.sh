#!/usr/bin/env bash
# In-browser benchmarks of the app (DESIGN.md §10), printed as tables and
# written to target/bench/browser.json and target/bench/sync.json: import of
# a 100,000-op workspace, reopening it to the first table, local edit →
# durable latency; a new peer catching up on it over the data channel, and a
# live edit reaching the other peer.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
source "$root/scripts/env.sh"
cd "$root"

fixture="$root/target/bench/w100k.openprod"
mkdir -p "$root/target/bench"
if [[ ! -f "$fixture" ]]; then
  # The bench profile: the release profile is tuned for the app's size.
  cargo run --profile bench -p openprod-core --example workspace_fixture -- 100000 "$fixture"
fi
cargo build -p openprod-relay
with_wasm_env trunk build --release
(cd tests && node bench/browser.mjs "$fixture" && node bench/sync.mjs "$fixture")
