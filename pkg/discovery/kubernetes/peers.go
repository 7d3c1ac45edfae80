package kubernetes

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/shoal-dev/shoal/pkg/discovery"
)

// PeersFromEndpointSlices turns EndpointSlices into peers: one per endpoint
// (the first address, the one consumers are told to use), skipping
// terminating endpoints, with Ready from the "serving" condition (falling
// back to "ready"; an absent condition means ready, as the API defines).
// Port is the slice's port named httpPort, if any. An endpoint listed more
// than once (same pod in several slices, or the same address) gives one peer,
// ready if any copy is. IPv4 slices are preferred over IPv6 ones for a pod
// listed in both. The result is sorted by Host.
func PeersFromEndpointSlices(slices []*discoveryv1.EndpointSlice, httpPort string) []discovery.Peer {
	ordered := make([]*discoveryv1.EndpointSlice, 0, len(slices))
	for _, s := range slices {
		if s != nil {
			ordered = append(ordered, s)
		}
	}
	rank := func(t discoveryv1.AddressType) int {
		switch t {
		case discoveryv1.AddressTypeIPv4:
			return 0
		case discoveryv1.AddressTypeIPv6:
			return 1
		default:
			return 2
		}
	}
	sort.SliceStable(ordered, func(i, j int) bool {
		if ri, rj := rank(ordered[i].AddressType), rank(ordered[j].AddressType); ri != rj {
			return ri < rj
		}
		return ordered[i].Name < ordered[j].Name
	})

	acc := newPeerSet()
	for _, s := range ordered {
		port := 0
		for _, p := range s.Ports {
			if p.Name != nil && *p.Name == httpPort && p.Port != nil {
				port = int(*p.Port)
				break
			}
		}
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 || ep.Addresses[0] == "" {
				continue
			}
			c := ep.Conditions
			if c.Terminating != nil && *c.Terminating {
				continue
			}
			ready := true
			switch {
			case c.Serving != nil:
				ready = *c.Serving
			case c.Ready != nil:
				ready = *c.Ready
			}
			owner := ""
			if ep.TargetRef != nil && ep.TargetRef.Name != "" {
				owner = ep.TargetRef.Kind + "/" + ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
			}
			acc.add(owner, discovery.Peer{Host: ep.Addresses[0], Port: port, Ready: ready})
		}
	}
	return acc.sorted()
}

// PeersFromPods turns Pods into peers: one per pod that has an IP, is not
// being deleted and has not ended (phase Succeeded or Failed). Ready is the
// pod's Ready condition. Port is the container port named httpPort, if any.
// The result is sorted by Host.
func PeersFromPods(pods []*corev1.Pod, httpPort string) []discovery.Peer {
	acc := newPeerSet()
	for _, p := range pods {
		if p == nil || p.DeletionTimestamp != nil || p.Status.PodIP == "" {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				ready = c.Status == corev1.ConditionTrue
			}
		}
		port := 0
	containers:
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == httpPort {
					port = int(cp.ContainerPort)
					break containers
				}
			}
		}
		acc.add("Pod/"+p.Namespace+"/"+p.Name, discovery.Peer{Host: p.Status.PodIP, Port: port, Ready: ready})
	}
	return acc.sorted()
}

// peerSet merges duplicates: by owner (the pod) when known, else by host.
type peerSet struct {
	byHost  map[string]int
	byOwner map[string]int
	peers   []discovery.Peer
}

func newPeerSet() *peerSet {
	return &peerSet{byHost: map[string]int{}, byOwner: map[string]int{}}
}

func (s *peerSet) add(owner string, p discovery.Peer) {
	i, ok := s.byHost[p.Host]
	if !ok && owner != "" {
		i, ok = s.byOwner[owner]
	}
	if ok {
		s.peers[i].Ready = s.peers[i].Ready || p.Ready
		if s.peers[i].Port == 0 {
			s.peers[i].Port = p.Port
		}
		if owner != "" {
			s.byOwner[owner] = i
		}
		return
	}
	s.peers = append(s.peers, p)
	s.byHost[p.Host] = len(s.peers) - 1
	if owner != "" {
		s.byOwner[owner] = len(s.peers) - 1
	}
}

func (s *peerSet) sorted() []discovery.Peer {
	out := s.peers
	if out == nil {
		out = []discovery.Peer{}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

func samePeers(a, b []discovery.Peer) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
