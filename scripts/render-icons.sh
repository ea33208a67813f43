#!/usr/bin/env bash
# Renders the app's PNG icons from their SVG sources with headless Chromium.
# The PNGs are committed; run this only after changing an SVG.
set -euo pipefail
assets="$(cd "$(dirname "${BASH_SOURCE[0]}")/../app/assets" && pwd)"
page=$(mktemp --suffix=.html)
trap 'rm -f "$page"' EXIT

render() { # svg size png
  printf '<body style="margin:0"><img src="file://%s" width="%s" height="%s" style="display:block">' \
    "$assets/$1" "$2" "$2" >"$page"
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
    --default-background-color=00000000 --window-size="$2,$2" \
    --screenshot="$assets/icons/$3" "file://$page" 2>/dev/null
}

render icons/icon.svg 192 icon-192.png
render icons/icon.svg 512 icon-512.png
render icon-maskable.svg 512 icon-maskable-512.png
