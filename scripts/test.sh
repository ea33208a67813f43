#!/usr/bin/env bash
# Runs every test layer and exits non-zero on the first failure:
#   1. native: the engine and the relay (cargo test, doctests included)
#   2. the engine compiled to wasm32, in headless Chromium (wasm-bindgen-test)
#   3. the app built for release and driven end to end in Chromium (playwright-core)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
source "$root/scripts/env.sh"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "native tests: openprod-core and openprod-relay"
cargo test -p openprod-core -p openprod-relay

step "engine tests in headless Chromium"
wasm_cargo test -p openprod-core --test browser

step "app tests in headless Chromium"
wasm_cargo test -p openprod-app

step "release build of the app"
with_wasm_env trunk build --release

step "fixtures for the end-to-end tests"
cargo run -q -p openprod-core --example workspace_fixture -- 5000 "$root/target/fixtures/w5k.openprod"

step "end-to-end tests in Chromium"
(cd tests && node --test --test-concurrency=1 --test-reporter=spec e2e/)
