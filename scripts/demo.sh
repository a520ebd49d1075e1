#!/usr/bin/env bash
# The field worker's demo: a local server with a seeded demo workspace (team lead Fatima,
# practitioners Sanne and Daan, four fictional households), and two phone windows logged
# in as Sanne and Daan. Switch one to "Vliegtuigmodus", edit the shared case 2026-0412 in
# both, switch back, and watch the merge (and the conflict, if both changed the same field).
# Needs a display. Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --locked -p keukentafel-server
bash scripts/bindgen.sh >/dev/null
cp=$(bash mobile-demo/build.sh)
target_dir="${CARGO_TARGET_DIR:-target}"
export KEUKENTAFEL_SERVER="$target_dir/debug/keukentafel-server"

dir=data/demo
rm -rf "$dir" && mkdir -p "$dir"
coproc SERVER { exec bash tests/bindings/team-server.sh "$dir" 127.0.0.1:7879 2>/dev/null; }
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
declare -A code
while read -r line <&"${SERVER[0]}"; do
  if [[ "$line" == code\ * ]]; then
    read -r _ name value <<<"$line"
    code[$name]=$value
  fi
  [[ "$line" == *"listening on"* ]] && break
done
url=http://127.0.0.1:7879
cat <&"${SERVER[0]}" >/dev/null &
java_run() { java -Djna.library.path="$target_dir/debug" -cp "$cp" nl.keukentafel.demo.MainKt "$@"; }
java_run seed "$url" "${code[fatima]}" "$dir"
if [[ -z "${DISPLAY:-}" ]]; then
  echo "demo: no display; run it from a desktop session (or under xvfb-run)" >&2
  exit 1
fi
echo "demo: server $url, data in $dir; close both windows to stop"
java_run app "$url" "$dir/phones" Sanne "${code[sanne]}" Daan "${code[daan]}"
