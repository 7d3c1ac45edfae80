#!/usr/bin/env bash
# Starts a local shoal cluster of N nodes on 127.0.0.1 .. 127.0.0.N (each
# with the default ports, like pods), submits demo work, shows the cluster,
# and keeps it running until Ctrl-C, which drains every node.
#   ./scripts/run-local.sh [N] (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3}
bin=${BIN:-bin}
logs=run
mkdir -p "$logs"
peers=$(seq -s, -f '127.0.0.%g' 1 "$n")
pids=()
stop() {
  echo; echo "draining the cluster (SIGTERM to every node)..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait || true
  echo "stopped. Logs are in $logs/."
}
trap stop INT TERM
for i in $(seq 1 "$n"); do
  ip=127.0.0.$i
  args=(--advertise-addr "$ip" --log-format json)
  [ "$n" -gt 1 ] && args+=(--peers "$peers")
  "$bin/worker" "${args[@]}" >"$logs/node-$i.log" 2>&1 &
  pids+=($!)
  echo "started worker $i on $ip (log: $logs/node-$i.log)"
done
for i in $(seq 1 "$n"); do
  until curl -fsS "http://127.0.0.$i:8080/readyz" >/dev/null 2>&1; do
    if ! kill -0 "${pids[$((i-1))]}" 2>/dev/null; then echo "worker $i exited; see $logs/node-$i.log"; tail -5 "$logs/node-$i.log"; exit 1; fi
    sleep 0.2
  done
done
echo "cluster ready."
echo
echo "\$ submit members"; "$bin/submit" members
echo
echo "\$ submit sleep '{\"ms\":20}' --count 500"
"$bin/submit" sleep '{"ms":20}' --count 500 >/dev/null && echo "500 jobs acknowledged"
echo "\$ submit fail '{\"times\":2}' --wait     # fails twice, succeeds on attempt 3"
"$bin/submit" fail '{"times":2}' --wait --timeout 60s || true
until [ "$("$bin/submit" stats -o json | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print(c.get("queued",0)+c.get("running",0)+c.get("scheduled",0))')" = 0 ]; do sleep 0.5; done
echo
echo "\$ submit stats"; "$bin/submit" stats
echo
cat <<MSG
The cluster keeps running. In another terminal:
  bin/submit sleep '{"ms":200}' --count 1000     # more work
  bin/submit watch                                 # live job events
  grep '"event":"rebalance"' $logs/node-*.log      # what moved, when
  kill -9 ${pids[$((n-1))]}                         # crash node $n: its shards move within seconds
  bin/worker --advertise-addr 127.0.0.$((n+1)) --peers $peers,127.0.0.$((n+1)) &   # add a node
Ctrl-C here drains and stops every node.
MSG
wait
