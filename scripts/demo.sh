#!/usr/bin/env bash
# `make run`: the main job on the embedded simulator. Starts dcsim on an ephemeral loopback
# port, then validates, tests and imports with the shipped package, and shows the result.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-500}
work=target/demo
mkdir -p "$work"
rm -f "$work"/dcconn.db* "$work"/port
dcconn=target/release/dcconn
db="$work/dcconn.db"

# The demo password only ever travels in environment variables.
export DCSIM_PASSWORD=demo-only-secret
export DEMO_PASSWORD=$DCSIM_PASSWORD

target/release/dcsim --users "$USERS" --seed 1 --port-file "$work/port" > "$work/dcsim.log" &
simulator=$!
trap 'kill "$simulator" 2>/dev/null || true' EXIT

for _ in $(seq 100); do
    [ -s "$work/port" ] && break
    kill -0 "$simulator" 2>/dev/null || { cat "$work/dcsim.log"; exit 1; }
    sleep 0.05
done
[ -s "$work/port" ] || { echo "the simulator did not start" >&2; exit 1; }
endpoint="http://127.0.0.1:$(cat "$work/port")/dc/services"

connection=(-c packages/duckcreek.json --set "SOAP_ENDPOINT=$endpoint" --set USERNAME=dcadmin --set-env PASSWORD=DEMO_PASSWORD)

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step dcconn validate -c packages/duckcreek.json ...
"$dcconn" --db "$db" validate "${connection[@]}"
step dcconn test -c packages/duckcreek.json ...
"$dcconn" --db "$db" test "${connection[@]}"
step dcconn import -c packages/duckcreek.json ...
"$dcconn" --db "$db" import "${connection[@]}"
step "dcconn accounts | head -12"
"$dcconn" --db "$db" accounts | head -12
step dcconn entitlements --type Role
"$dcconn" --db "$db" entitlements --type Role
step dcconn runs
"$dcconn" --db "$db" runs
printf '\nThe store is %s; try: %s --db %s accounts --format json\n' "$db" "$dcconn" "$db"
