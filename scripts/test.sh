#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, all Rust tests (unit, integration,
# property, crash and doc tests), a bounded fuzzing run of every decoder of untrusted
# bytes, and the binding tests in Python and Kotlin against a real server, after generating
# the Kotlin, Swift and Python bindings, and the demo app's UI test.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --workspace
echo "== fuzz: every target, bounded (see fuzz/README.md)"
cargo run --locked -p keukentafel-fuzz -- run --all --seconds 90
# The binding tests start the real server binary.
cargo build --locked -p keukentafel-server

echo "== benchmark against automerge-repo and samod (quick)"
bash scripts/bench.sh --quick

echo "== bindings: generate Kotlin, Swift and Python"
target_dir="${CARGO_TARGET_DIR:-target}"
export KEUKENTAFEL_SERVER="$target_dir/debug/keukentafel-server"
export KEUKENTAFEL_PYTHON_BINDINGS="$target_dir/bindings/python"
bash scripts/bindgen.sh
for f in swift/Keukentafel.swift swift/keukentafelFFI.h swift/keukentafelFFI.modulemap \
  kotlin/nl/keukentafel/keukentafel.kt python/keukentafel.py; do
  [[ -s "$target_dir/bindings/$f" ]] || { echo "bindings: $target_dir/bindings/$f was not generated" >&2; exit 1; }
done
echo "== bindings: Python (pytest)"
.tools/venv/bin/python -m pytest -q tests/bindings/python
echo "== bindings: Kotlin (JVM, JNA)"
bash tests/bindings/kotlin/run.sh
echo "== mobile-demo: UI test under Xvfb"
bash mobile-demo/test.sh
