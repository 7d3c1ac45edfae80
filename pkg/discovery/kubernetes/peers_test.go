package kubernetes

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-dev/shoal/pkg/discovery"
)

func ptr[T any](v T) *T { return &v }

type ep struct {
	addr                        string
	ready, serving, terminating *bool
	pod                         string
}

func slice(name string, at discoveryv1.AddressType, httpPort int32, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "shoal-cluster"}},
		AddressType: at,
	}
	if httpPort != 0 {
		s.Ports = []discoveryv1.EndpointPort{{Name: ptr("memberlist"), Port: ptr(int32(3322))}, {Name: ptr("http"), Port: ptr(httpPort)}}
	}
	for _, e := range eps {
		x := discoveryv1.Endpoint{Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Serving: e.serving, Terminating: e.terminating}}
		if e.addr != "" {
			x.Addresses = []string{e.addr}
		}
		if e.pod != "" {
			x.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: e.pod}
		}
		s.Endpoints = append(s.Endpoints, x)
	}
	return s
}

func TestPeersFromEndpointSlices(t *testing.T) {
	yes, no := ptr(true), ptr(false)
	tests := []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		want   []discovery.Peer
	}{
		{"no slices: empty, not nil", nil, []discovery.Peer{}},
		{
			"forming pod of a publishNotReadyAddresses service: ready=true serving=false is not ready",
			[]*discoveryv1.EndpointSlice{slice("a", discoveryv1.AddressTypeIPv4, 8080,
				ep{addr: "10.0.0.2", ready: yes, serving: no, terminating: no},
				ep{addr: "10.0.0.1", ready: yes, serving: yes, terminating: no})},
			[]discovery.Peer{{Host: "10.0.0.1", Port: 8080, Ready: true}, {Host: "10.0.0.2", Port: 8080, Ready: false}},
		},
		{
			"terminating endpoints are not peers, whatever their readiness",
			[]*discoveryv1.EndpointSlice{slice("a", discoveryv1.AddressTypeIPv4, 8080,
				ep{addr: "10.0.0.1", ready: yes, serving: yes, terminating: yes},
				ep{addr: "10.0.0.3", ready: no, serving: no, terminating: yes},
				ep{addr: "10.0.0.2", ready: yes, serving: yes, terminating: no})},
			[]discovery.Peer{{Host: "10.0.0.2", Port: 8080, Ready: true}},
		},
		{
			"absent conditions mean ready; ready is used when serving is absent",
			[]*discoveryv1.EndpointSlice{slice("a", discoveryv1.AddressTypeIPv4, 0,
				ep{addr: "10.0.0.1"},
				ep{addr: "10.0.0.2", ready: no})},
			[]discovery.Peer{{Host: "10.0.0.1", Ready: true}, {Host: "10.0.0.2", Ready: false}},
		},
		{
			"an endpoint without an address is skipped",
			[]*discoveryv1.EndpointSlice{slice("a", discoveryv1.AddressTypeIPv4, 8080, ep{ready: yes})},
			[]discovery.Peer{},
		},
		{
			"same address in two slices (mirrored copy): one peer, ready if any copy is",
			[]*discoveryv1.EndpointSlice{
				slice("b", discoveryv1.AddressTypeIPv4, 8080, ep{addr: "10.0.0.1", serving: no}),
				slice("a", discoveryv1.AddressTypeIPv4, 0, ep{addr: "10.0.0.1", serving: yes}),
			},
			[]discovery.Peer{{Host: "10.0.0.1", Port: 8080, Ready: true}},
		},
		{
			"dual stack: one peer per pod, the IPv4 address",
			[]*discoveryv1.EndpointSlice{
				slice("v6", discoveryv1.AddressTypeIPv6, 8080, ep{addr: "fd00::1", serving: yes, pod: "w-1"}),
				slice("v4", discoveryv1.AddressTypeIPv4, 8080, ep{addr: "10.0.0.1", serving: yes, pod: "w-1"}),
			},
			[]discovery.Peer{{Host: "10.0.0.1", Port: 8080, Ready: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PeersFromEndpointSlices(tt.slices, "http")
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func pod(name, ip string, ready bool, mods ...func(*corev1.Pod)) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "shoal"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Ports: []corev1.ContainerPort{
			{Name: "memberlist", ContainerPort: 3322}, {Name: "http", ContainerPort: 8080}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func TestPeersFromPods(t *testing.T) {
	deleting := func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} }
	phase := func(ph corev1.PodPhase) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Status.Phase = ph } }
	got := PeersFromPods([]*corev1.Pod{
		pod("c", "10.0.0.3", false),
		pod("a", "10.0.0.1", true),
		pod("pending", "", false, phase(corev1.PodPending)),
		pod("leaving", "10.0.0.4", true, deleting),
		pod("done", "10.0.0.5", false, phase(corev1.PodSucceeded)),
		pod("failed", "10.0.0.6", false, phase(corev1.PodFailed)),
	}, "http")
	want := []discovery.Peer{{Host: "10.0.0.1", Port: 8080, Ready: true}, {Host: "10.0.0.3", Port: 8080, Ready: false}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got := PeersFromPods(nil, "http"); got == nil || len(got) != 0 {
		t.Fatalf("no pods: got %#v, want an empty slice", got)
	}
}
