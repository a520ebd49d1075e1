#!/usr/bin/env bash
# The field worker's demo: a local server with a seeded demo workspace (team lead Fatima,
# practitioners Sanne and Daan, four fictional households), and two phone windows logged
# in as Sanne and Daan. Switch one to "Vliegtuigmodus", edit the shared case 2026-0412 in
# both, switch back, and watch the merge (and the conflict, if both changed the same field).
# Needs a display (a desktop session, or xvfb-run). Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${DISPLAY:-}" ]]; then
  echo "demo: no display; run it from a desktop session (or under xvfb-run)" >&2
  exit 1
fi
bash scripts/setup.sh
cargo build --locked -p keukentafel-server
bash scripts/bindgen.sh >/dev/null
cp=$(bash mobile-demo/build.sh)
target_dir="${CARGO_TARGET_DIR:-target}"
export KEUKENTAFEL_SERVER="$target_dir/debug/keukentafel-server"

dir=data/demo
rm -rf "$dir" && mkdir -p "$dir"
# The server on a free loopback port; its output goes to a log, read here for the codes.
log="$dir/server.log"
bash tests/bindings/team-server.sh "$dir" 127.0.0.1:0 >"$log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
url=""
for _ in $(seq 1 600); do
  url=$(grep -o 'listening on http://[0-9.:]*' "$log" | head -1 | cut -d' ' -f3) || true
  [[ -n "$url" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "demo: the server did not start; see $log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$url" ]] || { echo "demo: the server did not start within a minute; see $log" >&2; exit 1; }
code() { awk -v n="$1" '$1 == "code" && $2 == n { print $3 }' "$log"; }

java_run() { java -Djna.library.path="$target_dir/debug" -cp "$cp" nl.keukentafel.demo.MainKt "$@"; }
java_run seed "$url" "$(code fatima)" "$dir"
echo "demo: server $url (log $log); close both windows to stop"
java_run app "$url" "$dir/phones" Sanne "$(code sanne)" Daan "$(code daan)"
