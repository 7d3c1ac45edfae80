#!/usr/bin/env bash
# ci.sh: run shoal's Kubernetes tests (test/k8s, pkg/discovery/kubernetes)
# against a real control plane, from a fresh machine or a warm one.
#
#   1. makes sure the host tools exist (Debian/Ubuntu, as root: installs
#      iproute2, util-linux and gcc with apt-get when missing; does nothing
#      when they are there);
#   2. checks that `unshare -rn` works (the tests run the control plane and
#      the pods in a private network namespace);
#   3. builds etcd, kube-apiserver, kube-controller-manager and kubectl with
#      scripts/k8s/build-binaries.sh (cached outside the repository: instant
#      when built; cold, about 14 min on 2 idle cores and 23 min on busy ones);
#   4. runs the tests with SHOAL_K8S_TESTS=1, so that anything missing is a
#      failure rather than a skip.
# Each step prints how long it took.
#
# Usage:
#   scripts/k8s/ci.sh [go test flags]   steps 1-4 (e.g. -run TestKubectlScale -v)
#   scripts/k8s/ci.sh --prepare         steps 1-3 only: for a CI whose `go test
#                                       ./...` runs the tests (SHOAL_K8S_TESTS=1
#                                       make test), so they do not run twice
#
# Environment (optional): the build script's (SHOAL_K8S_VERSION,
# SHOAL_ETCD_VERSION, SHOAL_K8S_CACHE, SHOAL_K8S_BUILD_JOBS); SHOAL_K8S_KEEP=1
# keeps the control plane's and the workers' logs; SHOAL_K8S_TEST_TIMEOUT
# (default 25m) bounds the go test run.
set -euo pipefail
cd "$(dirname "$0")/../.."

t_all=$(date +%s)
step() { printf '%s ci-k8s: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
took() { echo "$(( $(date +%s) - $1 ))s"; }

# --- 1. host tools ------------------------------------------------------------
t0=$(date +%s)
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev) # go test -race needs cgo
if ((${#missing[@]})); then
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		step "missing ${missing[*]}: install them (Debian/Ubuntu: apt-get install ${missing[*]}) and run again"
		exit 1
	fi
	step "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null 2>&1 || { step "go is not on PATH"; exit 1; }
step "host tools ready ($(took "$t0")): $(go version | cut -d' ' -f3), $(nproc) cores"

# --- 2. network namespace -----------------------------------------------------
# As root this needs no sysctl; unprivileged it needs user namespaces
# (user.max_user_namespaces > 0; on Ubuntu 24.04+ AppArmor's
# kernel.apparmor_restrict_unprivileged_userns=0). A container needs
# CAP_SYS_ADMIN or a seccomp profile that allows unshare(CLONE_NEWUSER).
if ! err=$(unshare -rn ip link set lo up 2>&1); then
	step "\`unshare -rn\` does not work here: ${err}"
	step "the tests need a private network namespace (pods get 10.251.0.x, which EndpointSlices accept); see the comment above"
	exit 1
fi

# --- 3. control-plane binaries ------------------------------------------------
t0=$(date +%s)
bin="$(scripts/k8s/build-binaries.sh)"
step "control-plane binaries in ${bin} ($(took "$t0"))"
if [[ "${1:-}" == "--prepare" ]]; then
	step "prepared in $(took "$t_all"); run the tests with SHOAL_K8S_TESTS=1"
	exit 0
fi

# --- 4. the tests -------------------------------------------------------------
t0=$(date +%s)
export SHOAL_K8S_TESTS=1 SHOAL_K8S_BIN="${bin}" CGO_ENABLED=1
step "go test -race ./pkg/discovery/kubernetes/... ./test/k8s/..."
set +e
go test -race -count=1 -timeout "${SHOAL_K8S_TEST_TIMEOUT:-25m}" "$@" ./pkg/discovery/kubernetes/... ./test/k8s/...
rc=$?
set -e
step "tests $([[ $rc -eq 0 ]] && echo passed || echo "FAILED (exit $rc)") in $(took "$t0"); total $(took "$t_all")"
exit "$rc"
