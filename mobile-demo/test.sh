#!/usr/bin/env bash
# The demo's UI test under Xvfb: builds it, runs two app windows against a real server,
# writes screenshots of every screen to target/mobile-demo/screenshots.
# Expects scripts/bindgen.sh and the server build to have run (scripts/test.sh does both).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
cp=$(bash mobile-demo/build.sh --test)
export KEUKENTAFEL_SERVER="$target_dir/debug/keukentafel-server"
export DEMO_SCREENSHOTS="$target_dir/mobile-demo/screenshots"
rm -rf "$DEMO_SCREENSHOTS"
# Bounded: a hung event thread must not hang CI.
timeout 600 xvfb-run -a -s "-screen 0 1280x900x24" \
  java -Djna.library.path="$target_dir/debug" -cp "$cp" DemoTestKt
