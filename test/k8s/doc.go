// Package k8s holds shoal's tests against a real Kubernetes control plane
// (test/k8s/harness: etcd, kube-apiserver with RBAC, kube-controller-manager):
//
//   - deploy/ applied server-side (kubectl apply --server-side -k) into a
//     namespace enforcing the "restricted" Pod Security Standard, with the
//     Deployment's Pods admitted; the pods-discovery component dry-run;
//   - the kubernetes discovery strategy acting as deploy/'s ServiceAccount
//     (TokenRequest token): the Role is enough; an API server outage and then
//     a Role without "watch" keep the last peers, and the 403 names the
//     missing verb, resource and namespace;
//   - the strategy following the EndpointSlices the real EndpointSlice
//     controller publishes as Pods (bound and reported by the test) appear,
//     become ready, terminate and go;
//   - kubectl scale 3 -> 5 -> 2 of deploy/'s Deployment with the stand-in
//     kubelet (test/k8s/agent) running test/k8s/fakeworker per Pod;
//   - the end-to-end test: the same scale with the real worker binary per
//     Pod (built by the test) under a load of sleep jobs: members follow on
//     every worker's /v1/members with all 256 shards held, rebalance lines
//     in every worker's log, the removed Pods drain (exit 0 on SIGTERM
//     within the grace period), and every acknowledged job ends (none lost;
//     jobs run more than once are counted). It logs its figures ("e2e:"
//     lines): convergence times, RSS and Go heap per worker idle and under
//     load, submit errors, duplicates, and the workers' warnings by message.
//     SHOAL_K8S_E2E_MEMORY=128Mi applies deploy/ with that memory request and
//     limit (and so GOMEMLIMIT), to measure whether a limit fits.
//
// Run (scripts/k8s/ci.sh does all of it: host tools, binaries, tests):
//
//	scripts/k8s/build-binaries.sh
//	SHOAL_K8S_TESTS=1 go test -race -count=1 ./pkg/discovery/kubernetes/... ./test/k8s/...
//
// Without the binaries the tests skip, unless SHOAL_K8S_TESTS=1. The test
// binary re-runs itself in a private network namespace (harness.RunInNetNS);
// SHOAL_K8S_NETNS=off prevents that (the scale test then skips, or fails with
// SHOAL_K8S_TESTS=1). Optional: SHOAL_K8S_BIN (binary directory),
// SHOAL_K8S_IP (control-plane IP, default 127.0.50.1), SHOAL_K8S_KEEP=1 (keep
// the data directory and the components' and workers' logs).
package k8s
