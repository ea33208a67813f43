# Sourced by the project's scripts after setup.sh: puts the chosen toolchain on PATH.
# `wasm_cargo ARGS…` runs cargo for the wasm32 target with whatever that toolchain needs.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if [ "$(cat "$root/.tools/toolchain" 2>/dev/null)" = debian ]; then
  export PATH="$root/.tools/debian-rust/bin:$PATH"
  # Debian's rustc ships no prebuilt std for wasm32; cargo builds it from
  # rust-web-src, which needs the (otherwise unstable) build-std flag.
  export RUSTC_BOOTSTRAP=1
  wasm_build_std=std,panic_abort
else
  wasm_build_std=
fi

with_wasm_env() {
  if [ -n "$wasm_build_std" ]; then
    CARGO_UNSTABLE_BUILD_STD=$wasm_build_std "$@"
  else
    "$@"
  fi
}

wasm_cargo() {
  with_wasm_env cargo "$@" --target wasm32-unknown-unknown
}

export CHROMEDRIVER=/usr/bin/chromedriver
