#!/usr/bin/env bash
# Keukentafel side by side with automerge-repo and samod (issue 7): installs the Node
# runner's packages (when missing or stale), builds the samod runner and the harness
# (release; debug for --quick), then runs every scenario on every system. The table goes to stdout and to
# target/bench/results.md and results.json.
#
#   scripts/bench.sh           full run: N = 1,000 and 5,000, 200 devices for 30 s, 3 repetitions
#   scripts/bench.sh --quick   CI: N = 50, 20 devices for 3 s, one repetition
#
# Further arguments go to `keukentafel-bench compare` (e.g. --systems ours,samod --reps 5).
# Exits non-zero when our side fails; a reference that fails shows as failed in the table.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
export CARGO_TARGET_DIR="$target_dir"

node_dir=bench/automerge-repo
if [[ -f "$node_dir/package-lock.json" ]]; then
  # npm ci leaves node_modules/.package-lock.json; an older one means the lock changed.
  if [[ ! -f "$node_dir/node_modules/.package-lock.json" \
    || "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]]; then
    echo "== npm ci ($node_dir)"
    (cd "$node_dir" && npm ci --no-audit --no-fund)
  fi
else
  echo "== $node_dir is not there yet: automerge-repo shows as not available"
fi

# The quick run only keeps the harness and the runners working (its figures mean
# nothing), so it uses the debug builds the tests already made instead of a release
# build of everything.
profile=release
for arg in "$@"; do
  if [[ "$arg" == "--quick" ]]; then profile=debug; fi
done
profile_flag=()
if [[ "$profile" == release ]]; then profile_flag=(--release); fi

echo "== build the samod runner ($profile)"
cargo build "${profile_flag[@]}" --locked --manifest-path bench/samod/Cargo.toml

echo "== build the harness and our server ($profile)"
cargo build "${profile_flag[@]}" --locked -p keukentafel-bench -p keukentafel-server

echo "== compare"
"$target_dir/$profile/keukentafel-bench" compare \
  --out "$target_dir/bench" \
  --node-runner "$node_dir/runner.mjs" \
  --samod-runner "$target_dir/$profile/keukentafel-bench-samod" \
  "$@"
