// Package agent stands in for the kubelet in shoal's Kubernetes tests, where
// no container runtime exists: it watches the Pods of one namespace, binds
// the unscheduled ones to its Node (as the scheduler would), and for each Pod
// starts a real worker process (the program in SHOAL_WORKER_BIN) on an IP of
// its own (Config.IPPrefix: 127.0.51.x by default; but EndpointSlices refuse
// loopback addresses, so with deploy/'s EndpointSlices discovery use
// harness.PodNetwork inside the harness's network namespace), with the
// environment the Pod's
// container would get: plain values, $(VAR) references, the downward API
// (fieldRef, resourceFieldRef), secretKeyRef, configMapKeyRef and envFrom.
// When the Pod's ServiceAccount token would be mounted, the process gets a
// kubeconfig with a token from the TokenRequest API, bound to the Pod, in
// SHOAL_K8S_KUBECONFIG (a process cannot use the in-cluster configuration).
//
// It reports the Pod Running with that IP, probes the readiness probe's HTTP
// endpoint and reports Ready as a kubelet would; a process that exits is
// restarted with a growing back-off (restartCount counts). When a Pod is
// deleted it sends SIGTERM, waits up to the Pod's grace period, then
// SIGKILLs, and confirms the deletion, as a kubelet does.
//
// The decisions (bind, start, stop, finalize) are a pure function (decide);
// the environment is computed by containerEnv; the rest is I/O.
package agent
