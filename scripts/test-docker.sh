#!/usr/bin/env bash
# Runs the container suite (test/docker: the image, docker compose, four
# scenarios with the lost/duplicate checker) against the local Docker
# engine. A failed suite is run once more and reported as FLAKY if it then
# passes: on a loaded 2-core host a worker can miss the suite's
# availability deadlines (joining Olric, holding every shard in time).
#
# Losing an acknowledged job is never retried away: a verdict with lost or
# unfinished jobs fails at once.
#
# SHOAL_DOCKER_GATE=loss (CI's setting, see .ci/run): a suite that fails
# twice WITHOUT losing an acknowledged job is reported on a line starting
# with "docker: NOT GATING" instead of failing; a loss still fails it.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# The checker's verdict line (assertNothingLost) and its LOST error.
lossPattern='unfinished [1-9][0-9]*, lost [0-9]+|lost [1-9][0-9]*, duplicates|acknowledged jobs LOST|acknowledged jobs never reached an end state'

if ! docker info >/dev/null 2>&1; then
  echo "docker: the Docker engine does not answer (docker info failed): start it (the container suite needs it)"
  exit 1
fi

run() {
  SHOAL_DOCKER_TESTS=1 go test -count=1 -timeout 20m -v ./test/docker/ 2>&1 | tee "$out"
  return "${PIPESTATUS[0]}"
}

lost() {
  if grep -qE "$lossPattern" "$out"; then
    grep -oE ".{0,60}($lossPattern).{0,40}" "$out" | head -5
    return 0
  fi
  return 1
}

run && exit 0
if lost; then
  echo "docker: a scenario LOST acknowledged jobs; not rerun"
  exit 1
fi
failed=$(grep -oE -- '--- FAIL: [A-Za-z0-9_/]+' "$out" | awk '{print $3}' | sort -u | paste -sd' ')
echo "docker: rerunning the suite once (failed: ${failed:-outside a scenario})"
SHOAL_DOCKER_SKIP_BUILD=1 run && { echo "docker: FLAKY: ${failed:-the suite} failed once and passed on the rerun"; exit 0; }
if lost; then
  echo "docker: a scenario LOST acknowledged jobs on the rerun"
  exit 1
fi
again=$(grep -oE -- '--- FAIL: [A-Za-z0-9_/]+' "$out" | awk '{print $3}' | sort -u | paste -sd' ')
if [ "${SHOAL_DOCKER_GATE:-}" = loss ] && [ -n "$again" ]; then
  echo "docker: NOT GATING: $again failed twice without losing an acknowledged job (see the output above)"
  exit 0
fi
exit 1
