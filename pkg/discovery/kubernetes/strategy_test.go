package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/shoal-dev/shoal/pkg/discovery"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testConfig() Config {
	c := DefaultConfig()
	c.Namespace = "ns"
	return c
}

func start(t *testing.T, cfg Config, client *fake.Clientset) *Strategy {
	t.Helper()
	s, err := NewForClient(t.Context(), cfg, client, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func peersAre(s *Strategy, want []discovery.Peer) func() (bool, string) {
	return func() (bool, string) {
		got, err := s.Lookup(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return reflect.DeepEqual(got, want), fmt.Sprintf("peers %+v, want %+v", got, want)
	}
}

func TestFollowsEndpointSlicesThroughTheirLife(t *testing.T) {
	client := fake.NewClientset()
	s := start(t, testConfig(), client)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Lookup(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty service: got %v, %v", got, err)
	}
	api := client.DiscoveryV1().EndpointSlices("ns")
	yes, no := ptr(true), ptr(false)

	es := slice("shoal-cluster-abc", discoveryv1.AddressTypeIPv4, 8080, ep{addr: "10.0.0.1", ready: yes, serving: no, terminating: no})
	if _, err := api.Create(ctx, es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A slice of another Service is not ours.
	other := slice("other-xyz", discoveryv1.AddressTypeIPv4, 8080, ep{addr: "10.9.9.9"})
	other.Labels[discoveryv1.LabelServiceName] = "other"
	if _, err := api.Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Changes():
	case <-ctx.Done():
		t.Fatal("no change notified after an endpoint appeared")
	}
	eventually(t, 5*time.Second, peersAre(s, []discovery.Peer{{Host: "10.0.0.1", Port: 8080, Ready: false}}))

	es.Endpoints[0].Conditions.Serving = yes
	es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: yes, Serving: no}})
	if _, err := api.Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, peersAre(s, []discovery.Peer{{Host: "10.0.0.1", Port: 8080, Ready: true}, {Host: "10.0.0.2", Port: 8080, Ready: false}}))

	es.Endpoints[0].Conditions.Terminating = yes
	if _, err := api.Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, peersAre(s, []discovery.Peer{{Host: "10.0.0.2", Port: 8080, Ready: false}}))

	if err := api.Delete(ctx, es.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, peersAre(s, []discovery.Peer{}))
}

func forbidden(verb string) error {
	return apierrors.NewForbidden(schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}, "",
		fmt.Errorf(`User "system:serviceaccount:ns:shoal-worker" cannot %s resource "endpointslices" in API group "discovery.k8s.io" in the namespace "ns"`, verb))
}

func TestForbiddenWatchKeepsTheListedPeersAndSaysWhatIsMissing(t *testing.T) {
	client := fake.NewClientset(slice("shoal-cluster-abc", discoveryv1.AddressTypeIPv4, 8080, ep{addr: "10.0.0.1"}))
	var deny atomic.Bool
	deny.Store(true)
	client.PrependWatchReactor("endpointslices", func(k8stesting.Action) (bool, watch.Interface, error) {
		if deny.Load() {
			return true, nil, forbidden("watch")
		}
		return false, nil, nil
	})
	s := start(t, testConfig(), client)
	want := []discovery.Peer{{Host: "10.0.0.1", Port: 8080, Ready: true}}
	eventually(t, 5*time.Second, func() (bool, string) {
		got, err := s.Lookup(context.Background())
		if !errors.Is(err, ErrForbidden) {
			return false, fmt.Sprintf("err %v, want ErrForbidden", err)
		}
		if !reflect.DeepEqual(got, want) {
			return false, fmt.Sprintf("peers %+v with the error, want the listed %+v", got, want)
		}
		msg := "the Role for service account ns/shoal-worker lacks 'watch' on endpointslices.discovery.k8s.io in namespace ns: see deploy/rbac.yaml"
		return strings.Contains(err.Error(), msg), err.Error()
	})

	deny.Store(false) // the Role is fixed: the reflector retries with backoff
	eventually(t, 20*time.Second, peersAre(s, want))
}

func TestForbiddenListBeforeTheFirstSync(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, forbidden("list")
	})
	s := start(t, testConfig(), client)
	eventually(t, 5*time.Second, func() (bool, string) {
		got, err := s.Lookup(context.Background())
		if got != nil {
			return false, fmt.Sprintf("peers %v before any list", got)
		}
		ok := errors.Is(err, ErrNotSynced) && errors.Is(err, ErrForbidden) && strings.Contains(fmt.Sprint(err), "lacks 'list'")
		return ok, fmt.Sprint(err)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := s.WaitForSync(ctx); !errors.Is(err, ErrForbidden) {
		t.Fatalf("WaitForSync: %v, want ErrForbidden", err)
	}
}

func TestPodsMode(t *testing.T) {
	mine := pod("w-1", "10.0.0.1", true)
	theirs := pod("x-1", "10.0.0.9", true)
	theirs.Labels = map[string]string{"app": "other"}
	client := fake.NewClientset(mine, theirs)
	cfg := testConfig()
	cfg.Mode, cfg.Selector = ModePods, "app=shoal"
	s := start(t, cfg, client)
	eventually(t, 5*time.Second, peersAre(s, []discovery.Peer{{Host: "10.0.0.1", Port: 8080, Ready: true}}))

	leaving := mine.DeepCopy()
	leaving.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}
	if _, err := client.CoreV1().Pods("ns").Update(t.Context(), leaving, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, peersAre(s, []discovery.Peer{}))
}

func TestStopTwiceThenLookup(t *testing.T) {
	s := start(t, testConfig(), fake.NewClientset())
	s.Stop()
	s.Stop()
	if _, err := s.Lookup(context.Background()); !errors.Is(err, ErrStopped) {
		t.Fatalf("after Stop: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cfg := testConfig()
	cfg.Service = ""
	if _, err := NewForClient(t.Context(), cfg, fake.NewClientset(), zerolog.Nop()); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v", err)
	}
	cfg = testConfig()
	cfg.Kubeconfig = "does-not-exist.kubeconfig"
	if _, err := New(t.Context(), cfg, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "SHOAL_K8S_KUBECONFIG") {
		t.Fatalf("missing kubeconfig: %v", err)
	}
}

// A Lookup right after New waits for the first list instead of failing.
func TestFirstLookupWaitsForTheFirstList(t *testing.T) {
	client := fake.NewClientset(slice("shoal-cluster-abc", discoveryv1.AddressTypeIPv4, 8080, ep{addr: "10.0.0.1"}))
	s := start(t, testConfig(), client)
	got, err := s.Lookup(t.Context())
	if err != nil || !reflect.DeepEqual(got, []discovery.Peer{{Host: "10.0.0.1", Port: 8080, Ready: true}}) {
		t.Fatalf("first lookup: %+v, %v", got, err)
	}

	cfg := testConfig()
	cfg.FirstSyncWait = 0
	blocked := fake.NewClientset()
	release := make(chan struct{})
	blocked.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		<-release
		return false, nil, nil
	})
	defer close(release)
	s2 := start(t, cfg, blocked)
	if _, err := s2.Lookup(t.Context()); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("FirstSyncWait 0, list pending: %v, want ErrNotSynced", err)
	}
}
