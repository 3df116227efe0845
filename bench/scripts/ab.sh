#!/usr/bin/env bash
# One load-generator run against one peer, server and generator pinned to different cores.
#
#   bench/scripts/ab.sh PEER [VAR=value ...] -- [loadgen args]
#   e.g. bench/scripts/ab.sh rust -- --rooms 1 --conns 64 --in-flight 4 --duration 5
#        bench/scripts/ab.sh js   -- --rooms 1 --conns 64 --in-flight 4 --duration 5
#
# PEER is `rust` (this worker), `js` (the JS twin, bench/peers/js-room) or `fastapi` (the
# original design: two uvicorn instances + redis-server, bench/peers/fastapi-redis; needs
# `make fastapi-peer`). Prints the Markdown row; with --json FILE the full report. Stops
# exactly the server it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
peer=$1; shift
vars=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do vars+=("$1"); shift; done
[ $# -gt 0 ] && shift
out=$(mktemp)
if [ "$peer" = fastapi ]; then
  taskset -c 0 env "${vars[@]}" bench/scripts/serve_fastapi.sh > "$out" 2>&1 &
  names=(--server-name uvicorn --server-name redis-server)
else
  taskset -c 0 node bench/scripts/serve.mjs --peer "$peer" "${vars[@]}" > "$out" 2>&1 &
  names=(--server-name workerd)
fi
server=$!
stop() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$out"; }
trap stop EXIT
for _ in $(seq 100); do grep -q '"pid"' "$out" && break; sleep 0.1; done
urls=()
for u in $(grep -o 'ws[s]*://[^"]*\|http://[^"]*' "$out"); do urls+=(--url "$u"); done
status=0
taskset -c 1 ./target/release/loadgen "${urls[@]}" --secret test-secret --server-of "$server" \
  "${names[@]}" --no-progress --label "$peer" "$@" | tail -1 || status=$?
stop
trap - EXIT
exit "$status"
