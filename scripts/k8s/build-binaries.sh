#!/usr/bin/env bash
# build-binaries.sh: build pinned kube-apiserver, kube-controller-manager,
# kubectl and etcd from the Go module proxy, once, into a cache directory
# outside the repository. Later runs find the binaries and return at once.
#
# No container registry or release download is needed: k8s.io/kubernetes and
# go.etcd.io/etcd/server/v3 are built through small wrapper modules that pin
# the modules their go.mod files replace with relative paths (the k8s.io
# staging modules; etcd's api, client and pkg modules) to published versions.
#
# Usage:
#   scripts/k8s/build-binaries.sh            build if needed; print the bin dir
#   scripts/k8s/build-binaries.sh --print-dir print the bin dir, build nothing
#
# Environment (all optional):
#   SHOAL_K8S_VERSION   Kubernetes version to build   (default v1.37.2)
#   SHOAL_ETCD_VERSION  etcd version to build          (default v3.6.16)
#   SHOAL_K8S_CACHE     cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/shoal-k8s)
#   SHOAL_K8S_BUILD_JOBS  go build -p value (default: Go's default)
#
# The binaries land in $SHOAL_K8S_CACHE/k8s-<ver>-etcd-<ver>-<goversion>/bin.
# A cold build took 23 min on 2 cores shared with other builds (about 13 min
# on idle cores, per the field notes) and needs about
# 3 GB of memory; the Go build cache (several GB) is the usual GOCACHE.
set -euo pipefail

K8S_VERSION="${SHOAL_K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${SHOAL_ETCD_VERSION:-v3.6.16}"
CACHE_ROOT="${SHOAL_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shoal-k8s}"
export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0

GOVERSION="$(go env GOVERSION)"
KEY="k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}-${GOVERSION}"
DIR="${CACHE_ROOT}/${KEY}"
BIN="${DIR}/bin"
BINARIES=(kube-apiserver kube-controller-manager kubectl etcd)

if [[ "${1:-}" == "--print-dir" ]]; then
	echo "${BIN}"
	exit 0
fi

have_all() {
	local b
	for b in "${BINARIES[@]}"; do
		[[ -x "${BIN}/${b}" ]] || return 1
	done
	[[ -f "${DIR}/STAMP" ]]
}

if have_all; then
	echo "${BIN}"
	exit 0
fi

mkdir -p "${DIR}"
# One build at a time per cache key; a second caller waits and then reuses.
exec 9>"${DIR}/.lock"
flock 9
if have_all; then
	echo "${BIN}"
	exit 0
fi

log() { printf '%s build-binaries: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
start_all=$(date +%s)
mkdir -p "${BIN}" "${DIR}/src"
PFLAG=()
[[ -n "${SHOAL_K8S_BUILD_JOBS:-}" ]] && PFLAG=(-p "${SHOAL_K8S_BUILD_JOBS}")

# --- Kubernetes -------------------------------------------------------------
build_kubernetes() {
	local minor staging wrap gomod
	[[ "${K8S_VERSION}" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { log "SHOAL_K8S_VERSION must look like v1.37.2"; exit 2; }
	minor="${BASH_REMATCH[1]}"
	staging="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
	wrap="${DIR}/src/kubernetes"
	rm -rf "${wrap}" && mkdir -p "${wrap}"
	gomod="$(cd "${wrap}" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
	[[ -f "${gomod}" ]] || { log "cannot download k8s.io/kubernetes@${K8S_VERSION} from the module proxy"; exit 1; }
	{
		echo "module shoal.local/k8sbuild"
		echo
		echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "${gomod}")"
		echo
		echo "require k8s.io/kubernetes ${K8S_VERSION}"
		echo
		echo "replace ("
		# every "k8s.io/x => ./staging/src/k8s.io/x" becomes "k8s.io/x => k8s.io/x v0.N.M"
		sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*$#\t\1 => \1 '"${staging}"'#p' "${gomod}"
		echo ")"
	} >"${wrap}/go.mod"
	cat >"${wrap}/tools.go" <<GO
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
	log "kubernetes ${K8S_VERSION}: resolving modules (staging pinned to ${staging})"
	(cd "${wrap}" && go mod tidy)
	local ld=""
	local pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
		ld+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
	done
	local b t0
	for b in kube-apiserver kube-controller-manager kubectl; do
		t0=$(date +%s)
		log "building ${b}"
		(cd "${wrap}" && go build "${PFLAG[@]}" -trimpath -ldflags "-s -w${ld}" -o "${BIN}/${b}.tmp" "k8s.io/kubernetes/cmd/${b}")
		mv "${BIN}/${b}.tmp" "${BIN}/${b}"
		log "built ${b} in $(( $(date +%s) - t0 ))s"
	done
}

# --- etcd -------------------------------------------------------------------
build_etcd() {
	local wrap gomod t0
	wrap="${DIR}/src/etcd"
	rm -rf "${wrap}" && mkdir -p "${wrap}"
	gomod="$(cd "${wrap}" && go mod download -json "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
	[[ -f "${gomod}" ]] || { log "cannot download go.etcd.io/etcd/server/v3@${ETCD_VERSION} from the module proxy"; exit 1; }
	{
		echo "module shoal.local/etcdbuild"
		echo
		echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "${gomod}")"
		echo
		echo "require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}"
		echo
		echo "replace ("
		# every "go.etcd.io/etcd/x/v3 => ../x" becomes "go.etcd.io/etcd/x/v3 => go.etcd.io/etcd/x/v3 <ver>"
		sed -n 's#^[[:space:]]*\(go\.etcd\.io/etcd/[^[:space:]]*\) => \.\./.*$#\t\1 => \1 '"${ETCD_VERSION}"'#p' "${gomod}"
		echo ")"
	} >"${wrap}/go.mod"
	cat >"${wrap}/tools.go" <<GO
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
	log "etcd ${ETCD_VERSION}: resolving modules"
	(cd "${wrap}" && go mod tidy)
	t0=$(date +%s)
	log "building etcd"
	(cd "${wrap}" && go build "${PFLAG[@]}" -trimpath -ldflags "-s -w" -o "${BIN}/etcd.tmp" go.etcd.io/etcd/server/v3)
	mv "${BIN}/etcd.tmp" "${BIN}/etcd"
	log "built etcd in $(( $(date +%s) - t0 ))s"
}

[[ -x "${BIN}/etcd" ]] || build_etcd
if [[ ! -x "${BIN}/kube-apiserver" || ! -x "${BIN}/kube-controller-manager" || ! -x "${BIN}/kubectl" ]]; then
	build_kubernetes
fi

"${BIN}/kube-apiserver" --version >&2
"${BIN}/kubectl" version --client >&2
"${BIN}/etcd" --version >&2
took=$(( $(date +%s) - start_all ))
{
	echo "kubernetes=${K8S_VERSION}"
	echo "etcd=${ETCD_VERSION}"
	echo "go=${GOVERSION}"
	echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "seconds=${took}"
} >"${DIR}/STAMP"
log "done in ${took}s: ${BIN}"
echo "${BIN}"
