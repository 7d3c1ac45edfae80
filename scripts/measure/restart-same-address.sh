#!/usr/bin/env bash
# Restart at a crashed worker's address: 3 workers on PREFIX.1-3, 1000
# sleep jobs, kill -9 of worker 3, the same worker started again at the same
# address DELAY seconds later. Per run it prints how many fresh starts the
# restarted worker needed before Olric took it in, how long after its start
# Olric was up, and the checker's count: acknowledged, succeeded, lost.
#
#   scripts/measure/restart-same-address.sh [RUNS] [DELAY]   (default 3, 6)
#
# Env: PREFIX (default 127.0.39), LOGS (keep the workers' logs there).
# Needs bin/worker and bin/submit (make build) and jq.
set -uo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
delay=${2:-6}
prefix=${PREFIX:-127.0.39}
peers="$prefix.1,$prefix.2,$prefix.3"
srv="nats://$prefix.1:4222"
base=${LOGS:-$(mktemp -d)}
pids=()
stop() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; pids=(); }
trap stop EXIT
start() { # i log
  bin/worker --advertise-addr "$prefix.$1" --peers "$peers" --log-format json >"$2" 2>&1 &
  pids+=($!)
}
for r in $(seq "$runs"); do
  d="$base/run$r"; mkdir -p "$d"
  for i in 1 2 3; do start "$i" "$d/worker$i.log"; done
  for _ in $(seq 60); do
    [ "$(bin/submit --server "$srv" members 2>/dev/null | grep -c active)" = 3 ] && break
    sleep 1
  done
  bin/submit --server "$srv" sleep '{"ms":20}' --count 1000 >"$d/ids.txt" 2>"$d/submit.err"
  acked=$(grep -cE '^[0-9a-f]{32}$' "$d/ids.txt")
  kill -9 "${pids[2]}"
  sleep "$delay"
  start 3 "$d/worker3-restarted.log"
  since=$(date +%s)
  for _ in $(seq 120); do
    done_=$(bin/submit --server "$srv" stats -o json 2>/dev/null | jq -r '.counts.succeeded // 0')
    [ "${done_:-0}" -ge "$acked" ] && break
    sleep 1
  done
  bin/submit --server "$srv" list --state succeeded --limit 1000 -o json 2>/dev/null |
    jq -r '.jobs[].id' | sort >"$d/found.txt"
  lost=$(grep -E '^[0-9a-f]{32}$' "$d/ids.txt" | sort | comm -23 - "$d/found.txt" | wc -l)
  fresh=$(grep -c 'starting afresh' "$d/worker3-restarted.log")
  up=$(grep -m1 '"olric node started"' "$d/worker3-restarted.log" | jq -r .time)
  first=$(head -1 "$d/worker3-restarted.log" | jq -r .time)
  upAfter="never"
  [ -n "$up" ] && upAfter="$(( $(date -d "$up" +%s) - $(date -d "$first" +%s) ))s"
  echo "run $r: fresh starts $fresh, Olric up ${upAfter} after the restart; acknowledged $acked, succeeded ${done_:-?}, lost $lost (waited $(( $(date +%s) - since ))s; logs $d)"
  stop
done
