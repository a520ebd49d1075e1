#!/usr/bin/env bash
# Starts the product on its defaults: the sync server on http://127.0.0.1:7878 with its
# database in ./data, printing the admin's next steps. Ctrl-C stops it cleanly.
# The offline home visit on a device store: cargo run -p keukentafel-core --example home_visit
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p data
exec cargo run --locked -q -p keukentafel-server -- --db "${KEUKENTAFEL_DB:-data/keukentafel-server.db}" serve "$@"
