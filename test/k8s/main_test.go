package k8s_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-dev/shoal/test/k8s/harness"
)

// repoRoot is the repository root, seen from this package's directory.
var repoRoot = func() string {
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return abs
}()

var (
	cluster    *harness.Cluster
	setupErr   error
	skipReason string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bins, err := harness.FindBinaries(repoRoot)
	if err != nil {
		if harness.Required() {
			fmt.Fprintf(os.Stderr, "SHOAL_K8S_TESTS=1 but %v\n", err)
			return 1
		}
		skipReason = err.Error()
		return m.Run()
	}
	// Pods need addresses EndpointSlices accept: run in a private network
	// namespace where harness.PodNetwork is local (see harness/netns.go).
	if code, reexeced, err := harness.RunInNetNS(); reexeced || err != nil {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return code
	}
	dir, err := os.MkdirTemp("", "shoal-k8s-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ip := os.Getenv("SHOAL_K8S_IP")
	if ip == "" {
		ip = "127.0.50.1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t0 := time.Now()
	cluster, setupErr = harness.Start(ctx, harness.Options{IP: ip, Dir: dir, Bin: bins, Log: os.Stderr})
	cancel()
	if setupErr == nil {
		fmt.Fprintf(os.Stderr, "control plane on %s up in %v (files in %s)\n", ip, time.Since(t0).Round(time.Millisecond), dir)
	}
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	if code == 0 && os.Getenv("SHOAL_K8S_KEEP") == "" {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "control-plane files and logs kept in %s\n", dir)
	}
	return code
}

// needCluster returns the shared control plane, or skips or fails the test.
func needCluster(t *testing.T) *harness.Cluster {
	t.Helper()
	if skipReason != "" {
		t.Skipf("skipping the Kubernetes tests (set SHOAL_K8S_TESTS=1 to make this a failure): %s", skipReason)
	}
	if setupErr != nil {
		t.Fatalf("control plane did not start: %v", setupErr)
	}
	return cluster
}

// needPods is needCluster for tests that run pods: they need the private
// network namespace (EndpointSlices refuse loopback addresses).
func needPods(t *testing.T) *harness.Cluster {
	t.Helper()
	c := needCluster(t)
	if !harness.InNetNS() {
		if harness.Required() {
			t.Fatal(harness.ErrNoNetNS)
		}
		t.Skip(harness.ErrNoNetNS)
	}
	return c
}

// eventually polls cond until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	t0 := time.Now()
	for {
		ok, why := cond()
		if ok {
			return time.Since(t0)
		}
		if time.Since(t0) > within {
			t.Fatalf("%s: not within %v: %s", what, within, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newNamespace creates a namespace (with the labels given) whose "default"
// ServiceAccount exists, and deletes it at the end of the test.
func newNamespace(t *testing.T, c *harness.Cluster, name string, labels map[string]string) {
	t.Helper()
	ctx := t.Context()
	_, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Admin.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	eventually(t, 60*time.Second, "default ServiceAccount of "+name, func() (bool, string) {
		_, err := c.Admin.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
}

// applyDeploy applies deploy/ server-side into namespace and returns kubectl's
// output.
func applyDeploy(t *testing.T, c *harness.Cluster, namespace string) string {
	t.Helper()
	out, stderr, err := c.Kubectl(t.Context(), "apply", "--server-side", "--field-manager=shoal-test",
		"-n", namespace, "-k", filepath.Join(repoRoot, "deploy"))
	if err != nil {
		t.Fatalf("deploy/ rejected: %v", err)
	}
	// Warnings (deprecated fields, Pod Security "warn" violations) count.
	if strings.Contains(stderr, "Warning") {
		t.Errorf("kubectl apply -k deploy/ warned:\n%s", stderr)
	}
	return out
}
