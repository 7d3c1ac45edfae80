#!/usr/bin/env bash
# Checks that the package graph stays a DAG of the intended shape:
#   pkg/jobs, pkg/cluster/placement, pkg/discovery/... import nothing of ours;
#   pkg/client imports only pkg/jobs; cmd/submit imports only client and jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
fail=0
check() { # package, allowed-internal-regex
  local pkg=$1 allowed=$2 bad
  bad=$(go list -deps "./$pkg" | grep "^$mod/" | grep -v "^$mod/$pkg\$" | grep -Ev "^$mod/($allowed)\$" || true)
  if [ -n "$bad" ]; then
    echo "check-deps: $pkg must not import:"; echo "$bad" | sed 's/^/  /'; fail=1
  fi
}
check pkg/jobs '^$'
check pkg/cluster/placement '^$'
check pkg/discovery '^$'
check pkg/discovery/kubernetes 'pkg/discovery'
check pkg/client 'pkg/jobs'
check pkg/builtin 'pkg/jobs'
check cmd/submit 'pkg/client|pkg/jobs'
[ $fail -eq 0 ] && echo "check-deps: package graph OK"
exit $fail
