#!/usr/bin/env bash
# A real sync server for the binding tests and the demo: team Wijkteam Noord with two
# practitioners (Sanne and Daan, mandate EUR 2,500 huishoudelijke hulp) and a team lead
# (Fatima, EUR 10,000), one enrolment code each, then the server itself on LISTEN (default:
# a free loopback port). Prints
#   code sanne XXXX-XXXX-XXXX   (and daan, fatima)
#   keukentafel-server listening on http://127.0.0.1:PORT ...
# and keeps serving until the caller stops it (SIGTERM). Usage: team-server.sh DIR [LISTEN]
set -euo pipefail
dir="$1"
server="${KEUKENTAFEL_SERVER:-$(dirname "$0")/../../target/debug/keukentafel-server}"
db="$dir/server.db"
run() { "$server" --db "$db" "$@"; }
ws=$(run workspace create --name "Wijkteam Noord" --area Noord | awk '/^workspace /{print $2}')
sanne=$(run member add --workspace "$ws" --name Sanne --role practitioner \
  --mandate huishoudelijke_hulp=2500 | awk '/^member /{print $2}')
daan=$(run member add --workspace "$ws" --name Daan --role practitioner \
  --mandate huishoudelijke_hulp=2500 | awk '/^member /{print $2}')
fatima=$(run member add --workspace "$ws" --name Fatima --role team-lead \
  --mandate huishoudelijke_hulp=10000 | awk '/^member /{print $2}')
echo "code sanne $(run device invite --workspace "$ws" --member "$sanne" 2>/dev/null)"
echo "code daan $(run device invite --workspace "$ws" --member "$daan" 2>/dev/null)"
echo "code fatima $(run device invite --workspace "$ws" --member "$fatima" 2>/dev/null)"
exec "$server" --db "$db" serve --listen "${2:-127.0.0.1:0}"
