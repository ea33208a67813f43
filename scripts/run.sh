#!/usr/bin/env bash
# Builds the app for release and starts the relay serving it on the LAN.
# Extra arguments go to the relay (see `target/release/openprod-relay --help`),
# e.g. `scripts/run.sh --port 9000`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
source "$root/scripts/env.sh"
cd "$root"

with_wasm_env trunk build --release
cargo build --release -p openprod-relay
exec target/release/openprod-relay --dist "$root/dist" "$@"
