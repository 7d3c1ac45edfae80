// Package kubernetes is the "kubernetes" discovery strategy: it finds a
// worker's peers through the Kubernetes API with client-go.
//
// Two sources are supported, both in one namespace (by default the pod's own,
// from POD_NAMESPACE or the service-account namespace file):
//
//   - ModeEndpointSlices (the default): the EndpointSlices of a Service, found
//     by the label kubernetes.io/service-name. The Service should be headless
//     with publishNotReadyAddresses: true (deploy/ ships one) so that pods
//     that are still forming are listed.
//   - ModePods: the Pods matching a label selector.
//
// The strategy watches, it does not poll: a shared informer keeps a cache of
// the objects, Lookup reads that cache, and the strategy implements
// discovery.Notifier so that the Watcher looks up again as soon as the peer
// set changes.
//
// What counts as a peer:
//
//   - Endpoints (or pods) that are not ready yet are peers with Ready=false:
//     during formation a pod only becomes ready after it joined, so readiness
//     cannot be a condition of being found. For EndpointSlices, Ready is taken
//     from the endpoint's "serving" condition, because a Service with
//     publishNotReadyAddresses reports every endpoint as "ready".
//   - Terminating endpoints (and pods with a deletion timestamp, or that
//     succeeded or failed) are not peers: a draining worker is leaving and
//     must not be joined again (libcluster's issue 114).
//   - Endpoints of one pod listed twice (several slices, dual stack, or the
//     mirroring controller's copy) give one peer.
//
// Errors: an API error never empties the set. The informer keeps its cache
// while list or watch calls fail; Lookup then returns the cached (last known)
// peers together with the error, and discovery.Watcher keeps its last set. A
// 403 is reported as an *APIError naming the missing verb, resource (with its
// API group), namespace and identity, with a pointer to deploy/rbac.yaml; it
// matches ErrForbidden with errors.Is. Before the first complete list, Lookup
// returns ErrNotSynced (wrapping the API error if there is one); a Lookup made
// then first waits up to Config.FirstSyncWait for that list.
//
// Lifecycle: New starts the informer, bound to the context it is given, and
// returns at once; Stop (safe to call twice) or cancelling that context ends
// it. WaitForSync waits for the first complete list. cmd/worker wires it so:
//
//	cfg := kubernetes.DefaultConfig()
//	cfg.Service = os.Getenv("SHOAL_K8S_SERVICE")      // if set
//	cfg.Selector = os.Getenv("SHOAL_K8S_SELECTOR")    // if set: cfg.Mode = kubernetes.ModePods
//	cfg.Namespace = os.Getenv("SHOAL_K8S_NAMESPACE")  // empty: the pod's own
//	cfg.Kubeconfig = os.Getenv("SHOAL_K8S_KUBECONFIG") // empty: in-cluster
//	strategy, err := kubernetes.New(ctx, cfg, log)
//	if err != nil { ... }                             // bad config or no credentials
//	defer strategy.Stop()
//	// pass strategy to the Watcher as a discovery.Strategy; it is also a
//	// discovery.Notifier.
//
// client-go logs through klog; cmd/worker may route klog into zerolog, the
// strategy logs its own clear lines (an error state entered or left) itself.
//
// Permissions: get, list and watch on endpointslices in group
// discovery.k8s.io (ModeEndpointSlices), or on pods in the core group
// (ModePods), in the namespace. deploy/rbac.yaml grants the former.
package kubernetes
