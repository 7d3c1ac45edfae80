#!/usr/bin/env bash
# Runs the shoal benchmark end to end: starts Redis and Postgres on loopback
# (installing them from Debian's packages if missing), builds shoal's worker
# and the bench tool, runs it, and stops the servers again, also on failure or
# Ctrl-C.
#
#   scripts/bench.sh [quick|full] [bench flags...]
#
# Results: the table on stdout; out/bench-<mode>.png, .json and .txt.
# BENCH_OUT changes the output directory; BENCH_SHOAL=0 leaves shoal out.
set -euo pipefail

cd "$(dirname "$0")/.."
mode="${1:-quick}"
[[ $# -gt 0 ]] && shift
case "$mode" in
quick | full) ;;
*)
	echo "usage: $0 [quick|full] [bench flags...]" >&2
	exit 2
	;;
esac
out="${BENCH_OUT:-out}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# The shoal worker is built from this repository; BENCH_SHOAL=0 leaves shoal
# out (the peers only), e.g. while shoal's own packages do not build.
systems=()
if [[ "${BENCH_SHOAL:-1}" != 0 ]]; then
	if ! (cd .. && go build -trimpath -o "$out/shoal-worker" ./cmd/worker) >"$out/shoal-build.log" 2>&1; then
		cat "$out/shoal-build.log" >&2
		echo "bench.sh: shoal's worker does not build (above); BENCH_SHOAL=0 runs the peers alone" >&2
		exit 1
	fi
	export SHOAL_WORKER_BIN="$out/shoal-worker"
else
	systems=(-systems asynq,river)
fi
go build -trimpath -o "$out/bench" ./cmd/bench

./scripts/services.sh start
trap './scripts/services.sh stop' EXIT
eval "$(./scripts/services.sh env | sed 's/^/export /')"

"$out/bench" -mode "$mode" -chart "$out/bench-$mode.png" -json "$out/bench-$mode.json" \
	-shoal-logs "$out" "${systems[@]}" "$@" | tee "$out/bench-$mode.txt"
