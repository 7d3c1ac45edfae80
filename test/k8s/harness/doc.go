// Package harness runs a real Kubernetes control plane for shoal's tests:
// etcd, kube-apiserver (RBAC on) and kube-controller-manager (without the
// node lifecycle controller), on one loopback address, torn down at the end.
// No container runtime, scheduler or kubelet runs: helpers bind Pods to a
// Node and report their status the way a kubelet would, which is enough for
// the EndpointSlice controller to publish them.
//
// The binaries are built once by scripts/k8s/build-binaries.sh into a cache
// outside the repository. FindBinaries looks there (or in SHOAL_K8S_BIN);
// Require skips a test when they are absent, unless SHOAL_K8S_TESTS=1, where
// their absence fails it.
//
// Addresses: a control plane uses one IP (etcd on 2379/2380, kube-apiserver
// on 6443, kube-controller-manager on 10257), from the block the kubernetes
// harness owns, 127.0.50.x - 127.0.59.x (docs/TEAM-NOTES.md). Pods need
// addresses that are not loopback, because EndpointSlices refuse 127.0.0.0/8:
// RunInNetNS re-executes the test binary in a private network namespace
// (`unshare -rn`, no privilege needed) where PodNetwork (10.251.0.0/16) is
// local; the control plane runs in there too, so nothing collides with the
// host or with other packages' tests.
package harness
