#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 5s):
# a short run in CI, longer by hand (make fuzz FUZZTIME=2m).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-5s}
n=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
while IFS= read -r file; do
  dir=$(dirname "$file")
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
    echo "fuzz: $dir $target ($t)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$t" "./$dir" >"$log" 2>&1 || { cat "$log"; exit 1; }
    n=$((n+1))
  done
done < <(grep -rl --include='*_test.go' -E '^func Fuzz' pkg cmd 2>/dev/null | sort)
echo "fuzz: $n targets ran for $t each without a failure"
