#!/usr/bin/env bash
# Starts the product on its defaults. Until the sync server lands, that is the offline home
# visit: an encrypted device store, a case, a conversation, decisions and the case history.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo run --locked -q -p keukentafel-core --example home_visit -- "$@"
