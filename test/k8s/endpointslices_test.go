package k8s_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-dev/shoal/pkg/discovery"
	k8sdisc "github.com/shoal-dev/shoal/pkg/discovery/kubernetes"
	"github.com/shoal-dev/shoal/test/k8s/harness"
)

func workerPod(name string) *corev1.Pod {
	port := func(n string, p int32, proto corev1.Protocol) corev1.ContainerPort {
		return corev1.ContainerPort{Name: n, ContainerPort: p, Protocol: proto}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": "shoal-worker"}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr(false),
			Containers: []corev1.Container{{
				Name: "worker", Image: "shoal:local",
				Ports: []corev1.ContainerPort{
					port("memberlist", 3322, corev1.ProtocolTCP), port("memberlist-udp", 3322, corev1.ProtocolUDP),
					port("olric", 3320, corev1.ProtocolTCP), port("nats", 4222, corev1.ProtocolTCP),
					port("nats-cluster", 6222, corev1.ProtocolTCP), port("http", 8080, corev1.ProtocolTCP),
				},
			}},
		},
	}
}

// Pods come and go behind deploy/'s headless Service; the real EndpointSlice
// controller publishes them (the test plays scheduler and kubelet: bind, then
// report Running with an IP and Ready), and the strategy follows: a pod that
// is running but not ready is a peer with Ready=false (formation), a ready one
// Ready=true, a terminating one (deleted, still running) is gone at once, and
// so is a deleted one.
func TestFollowsEndpointSlicesAsPodsComeAndGo(t *testing.T) {
	c := needCluster(t)
	ctx := t.Context()
	const ns = "follow"
	newNamespace(t, c, ns, nil)
	if _, _, err := c.Kubectl(ctx, "apply", "--server-side", "-n", ns, "-f", filepath.Join(repoRoot, "deploy", "service.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := harness.EnsureNode(ctx, c.Admin, "stand-in-1"); err != nil {
		t.Fatal(err)
	}

	cfg := k8sdisc.DefaultConfig()
	cfg.Kubeconfig = c.AdminKubeconfig
	cfg.Namespace = ns
	s, err := k8sdisc.New(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.WaitForSync(syncCtx); err != nil {
		t.Fatal(err)
	}

	// expect waits for the peer set, checking that a change was notified.
	expect := func(step string, want ...discovery.Peer) {
		t.Helper()
		if want == nil {
			want = []discovery.Peer{}
		}
		notified := false
		took := eventually(t, 60*time.Second, step, func() (bool, string) {
			select {
			case <-s.Changes():
				notified = true
			default:
			}
			got, err := s.Lookup(ctx)
			return err == nil && reflect.DeepEqual(got, want), fmt.Sprintf("%+v, %v", got, err)
		})
		t.Logf("%-45s %v (change notified: %v)", step, took.Round(time.Millisecond), notified)
	}
	pods := c.Admin.CoreV1().Pods(ns)
	expect("no pods: no peers")

	for _, name := range []string{"w-1", "w-2"} {
		if _, err := pods.Create(ctx, workerPod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Pending pods have no IP: nothing to publish yet.
	if got, err := s.Lookup(ctx); err != nil || len(got) != 0 {
		t.Fatalf("pending pods: %+v, %v", got, err)
	}

	mustBindRun := func(name, ip string, ready bool) {
		t.Helper()
		if err := harness.BindPod(ctx, c.Admin, ns, name, "stand-in-1"); err != nil {
			t.Fatal(err)
		}
		if err := harness.SetPodRunning(ctx, c.Admin, ns, name, ip, ready); err != nil {
			t.Fatal(err)
		}
	}
	mustBindRun("w-1", "10.250.0.1", false)
	expect("w-1 running, not ready: a forming peer",
		discovery.Peer{Host: "10.250.0.1", Port: 8080, Ready: false})

	if err := harness.SetPodRunning(ctx, c.Admin, ns, "w-1", "10.250.0.1", true); err != nil {
		t.Fatal(err)
	}
	expect("w-1 ready",
		discovery.Peer{Host: "10.250.0.1", Port: 8080, Ready: true})

	mustBindRun("w-2", "10.250.0.2", false)
	expect("w-2 appears, not ready",
		discovery.Peer{Host: "10.250.0.1", Port: 8080, Ready: true}, discovery.Peer{Host: "10.250.0.2", Port: 8080, Ready: false})
	if err := harness.SetPodRunning(ctx, c.Admin, ns, "w-2", "10.250.0.2", true); err != nil {
		t.Fatal(err)
	}
	expect("w-2 ready",
		discovery.Peer{Host: "10.250.0.1", Port: 8080, Ready: true}, discovery.Peer{Host: "10.250.0.2", Port: 8080, Ready: true})

	// Graceful deletion: the pod is bound, so it stays (terminating) until a
	// kubelet would confirm; the strategy drops it at once.
	if err := pods.Delete(ctx, "w-1", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(30))}); err != nil {
		t.Fatal(err)
	}
	expect("w-1 terminating (still running): not a peer",
		discovery.Peer{Host: "10.250.0.2", Port: 8080, Ready: true})
	if p, err := pods.Get(ctx, "w-1", metav1.GetOptions{}); err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("w-1 should still exist, terminating: %v", err)
	}

	for _, name := range []string{"w-1", "w-2"} {
		if err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
			t.Fatal(err)
		}
	}
	expect("all pods gone: no peers")
}
