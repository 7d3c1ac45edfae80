package k8s_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/shoal-dev/shoal/pkg/discovery"
	k8sdisc "github.com/shoal-dev/shoal/pkg/discovery/kubernetes"
	"github.com/shoal-dev/shoal/test/k8s/harness"
)

func ptr[T any](v T) *T { return &v }

// writeSlice writes an EndpointSlice of the Service by hand (the test plays
// the EndpointSlice controller; no Pod is needed for the RBAC question).
func writeSlice(t *testing.T, c *harness.Cluster, ns, service, name string, eps ...discoveryv1.Endpoint) {
	t.Helper()
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			discoveryv1.LabelServiceName: service,
			discoveryv1.LabelManagedBy:   "shoal-test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)}},
		Endpoints:   eps,
	}
	if _, err := c.Admin.DiscoveryV1().EndpointSlices(ns).Create(t.Context(), es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func setRoleVerbs(t *testing.T, c *harness.Cluster, ns string, verbs ...string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r, err := c.Admin.RbacV1().Roles(ns).Get(t.Context(), "shoal-worker-discovery", metav1.GetOptions{})
		if err != nil {
			return err
		}
		r.Rules = []rbacv1.PolicyRule{{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: verbs}}
		_, err = c.Admin.RbacV1().Roles(ns).Update(t.Context(), r, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The strategy runs as deploy/'s ServiceAccount, with deploy/'s Role, from a
// kubeconfig holding a TokenRequest token. That Role is enough. Then the Role
// loses "watch" and the API server restarts (its watches end, as they do on
// any API server rollout): while it is down, and then while the Role forbids
// the watch, Lookup keeps the last peers and says exactly what is missing.
func TestServiceAccountRoleIsEnoughAndA403IsExplained(t *testing.T) {
	c := needCluster(t)
	ctx := t.Context()
	const ns = "rbac"
	newNamespace(t, c, ns, nil)
	applyDeploy(t, c, ns)
	writeSlice(t, c, ns, "shoal-cluster", "shoal-cluster-by-hand",
		discoveryv1.Endpoint{Addresses: []string{"10.250.1.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false)}},
		discoveryv1.Endpoint{Addresses: []string{"10.250.1.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(false), Terminating: ptr(false)}},
	)
	want := []discovery.Peer{{Host: "10.250.1.1", Port: 8080, Ready: true}, {Host: "10.250.1.2", Port: 8080, Ready: false}}

	kubeconfig := filepath.Join(t.TempDir(), "shoal-worker.kubeconfig")
	if err := c.WriteServiceAccountKubeconfig(ctx, kubeconfig, ns, "shoal-worker"); err != nil {
		t.Fatal(err)
	}
	cfg := k8sdisc.DefaultConfig() // Service "shoal-cluster", as deploy/ names it
	cfg.Kubeconfig = kubeconfig
	t.Setenv("POD_NAMESPACE", ns) // what the downward API gives the pod
	s, err := k8sdisc.New(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.WaitForSync(syncCtx); err != nil {
		t.Fatalf("as deploy/'s ServiceAccount: %v", err)
	}
	eventually(t, 10*time.Second, "peers as the ServiceAccount", func() (bool, string) {
		got, err := s.Lookup(ctx)
		return err == nil && reflect.DeepEqual(got, want), fmt.Sprintf("%+v, %v", got, err)
	})

	// Take "watch" away and restart the API server.
	setRoleVerbs(t, c, ns, "list")
	if err := c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the outage seen, the last peers kept", func() (bool, string) {
		got, err := s.Lookup(ctx)
		return errors.Is(err, k8sdisc.ErrAPI) && reflect.DeepEqual(got, want), fmt.Sprintf("%+v, %v", got, err)
	})
	_, err = s.Lookup(ctx)
	t.Logf("API server down: %v", err)
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	msg := "the Role for service account rbac/shoal-worker lacks 'watch' on endpointslices.discovery.k8s.io in namespace rbac: see deploy/rbac.yaml"
	took := eventually(t, 90*time.Second, "the 403 explained, the last peers kept", func() (bool, string) {
		got, err := s.Lookup(ctx)
		ok := errors.Is(err, k8sdisc.ErrForbidden) && strings.Contains(fmt.Sprint(err), msg) && reflect.DeepEqual(got, want)
		return ok, fmt.Sprintf("%+v, %v", got, err)
	})
	_, err = s.Lookup(ctx)
	t.Logf("after %v: %v", took.Round(time.Millisecond), err)

	// Give "watch" back: the error clears by itself (client-go's backoff).
	setRoleVerbs(t, c, ns, "list", "watch")
	took = eventually(t, 90*time.Second, "recovered once the Role is fixed", func() (bool, string) {
		got, err := s.Lookup(ctx)
		return err == nil && reflect.DeepEqual(got, want), fmt.Sprintf("%+v, %v", got, err)
	})
	t.Logf("recovered %v after the Role was fixed", took.Round(time.Millisecond))

	// A worker that starts with a useless Role never sees peers and says why.
	setRoleVerbs(t, c, ns, "get")
	s2, err := k8sdisc.New(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	eventually(t, 30*time.Second, "a cold start without 'list' explained", func() (bool, string) {
		got, err := s2.Lookup(ctx)
		ok := got == nil && errors.Is(err, k8sdisc.ErrNotSynced) && errors.Is(err, k8sdisc.ErrForbidden) &&
			strings.Contains(fmt.Sprint(err), "lacks 'list' on endpointslices.discovery.k8s.io in namespace rbac: see deploy/rbac.yaml")
		return ok, fmt.Sprintf("%+v, %v", got, err)
	})
	_, err = s2.Lookup(ctx)
	t.Logf("cold start without list: %v", err)
}
