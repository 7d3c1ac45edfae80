package k8s_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-dev/shoal/pkg/discovery"
	"github.com/shoal-dev/shoal/test/k8s/agent"
	"github.com/shoal-dev/shoal/test/k8s/harness"
)

// buildFakeWorker compiles test/k8s/fakeworker, the worker stand-in that runs
// the real discovery strategy with the environment deploy/ gives it.
func buildFakeWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fakeworker")
	cmd := exec.Command("go", "build", "-o", bin, "./test/k8s/fakeworker")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake worker: %v\n%s", err, out)
	}
	return bin
}

// `kubectl scale` of deploy/'s Deployment, 3 -> 5 -> 2, with the stand-in
// kubelet running one process per Pod on its own address
// (harness.PodNetwork, in the tests' private network namespace). Every process reads its
// peers with the kubernetes strategy, as deploy/'s ServiceAccount, and is
// ready only once it sees itself listed: so this also proves that pods that
// are not ready yet are published (publishNotReadyAddresses) and that every
// worker converges on the same set after each scale.
//
// The worker here is test/k8s/fakeworker; the end-to-end test with the real
// worker (and jobs under load) builds on the same agent.
func TestKubectlScaleWithStandInKubelet(t *testing.T) {
	c := needPods(t)
	ctx := t.Context()
	const ns = "scale"
	newNamespace(t, c, ns, nil)
	bin := buildFakeWorker(t)
	applyDeploy(t, c, ns)

	cfg := agent.DefaultConfig()
	cfg.Namespace, cfg.Node, cfg.WorkerBin = ns, "stand-in-scale", bin
	cfg.Dir = filepath.Join(c.Dir(), "agent-"+ns)
	cfg.APIServer, cfg.CAData = c.URL, c.CAPEM()
	cfg.IPPrefix = harness.PodNetwork
	cfg.ProbePeriod = 300 * time.Millisecond
	a, err := agent.New(cfg, c.Admin, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	converge := func(n int) {
		t.Helper()
		t0 := time.Now()
		eventually(t, 120*time.Second, fmt.Sprintf("%d workers, ready, each seeing all %d", n, n), func() (bool, string) {
			d, err := c.Admin.AppsV1().Deployments(ns).Get(ctx, "shoal-worker", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if d.Status.ReadyReplicas != int32(n) || d.Status.Replicas != int32(n) {
				return false, fmt.Sprintf("deployment: %d replicas, %d ready", d.Status.Replicas, d.Status.ReadyReplicas)
			}
			procs := a.Processes()
			if len(procs) != n {
				return false, fmt.Sprintf("%d processes", len(procs))
			}
			var want []discovery.Peer
			for _, p := range procs {
				want = append(want, discovery.Peer{Host: p.IP, Port: 8080, Ready: true})
			}
			sort.Slice(want, func(i, j int) bool { return want[i].Host < want[j].Host })
			for _, p := range procs {
				got, err := fetchPeers(ctx, p.IP)
				if err != nil || !reflect.DeepEqual(got, want) {
					return false, fmt.Sprintf("worker %s (%s) sees %+v, %v; want %+v", p.Pod, p.IP, got, err, want)
				}
			}
			pods, err := c.Admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil || len(pods.Items) != n {
				return false, fmt.Sprintf("%d pods (terminating ones not yet finalized?), %v", len(pods.Items), err)
			}
			return true, ""
		})
		t.Logf("%d workers converged in %v: %+v", n, time.Since(t0).Round(time.Millisecond), a.Processes())
	}
	scale := func(n int) {
		t.Helper()
		if _, _, err := c.Kubectl(ctx, "scale", "-n", ns, "deployment/shoal-worker", "--replicas="+strconv.Itoa(n)); err != nil {
			t.Fatal(err)
		}
	}

	converge(3) // deploy/'s replicas
	scale(5)
	converge(5)
	scale(2)
	converge(2)
	for _, p := range a.Processes() {
		if p.Restarts != 0 {
			t.Errorf("%s restarted %d times", p.Pod, p.Restarts)
		}
	}
}

func fetchPeers(ctx context.Context, ip string) ([]discovery.Peer, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ip+":8080/peers", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s", resp.Status)
	}
	var ps []discovery.Peer
	return ps, json.NewDecoder(resp.Body).Decode(&ps)
}
