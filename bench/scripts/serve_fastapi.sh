#!/usr/bin/env bash
# Serves the original design (bench/peers/fastapi-redis): one redis-server and two uvicorn
# instances on free loopback ports, until stopped. Prints one JSON line with the two URLs.
# Needs `make fastapi-peer` (venv with the pinned requirements) and Debian's redis-server.
set -euo pipefail
cd "$(dirname "$0")/../peers/fastapi-redis"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rport=$(free_port); p1=$(free_port); p2=$(free_port)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
pids+=($!)
for p in "$p1" "$p2"; do
  AUTH_SECRET=${AUTH_SECRET:-test-secret} REDIS_URL="redis://127.0.0.1:$rport" \
    .venv/bin/uvicorn app:app --host 127.0.0.1 --port "$p" --log-level warning --no-access-log &
  pids+=($!)
done
for p in "$p1" "$p2"; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
done
echo "{\"urls\":[\"ws://127.0.0.1:$p1\",\"ws://127.0.0.1:$p2\"],\"pid\":$$}"
wait
