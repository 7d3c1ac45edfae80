package k8s_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// deploy/ is applied for real, server-side, into a namespace that enforces
// the "restricted" Pod Security Standard; every object must be accepted, and
// the Deployment's Pods must pass admission (the ReplicaSet creates them).
func TestDeployAppliesServerSide(t *testing.T) {
	c := needCluster(t)
	ctx := t.Context()
	const ns = "apply"
	newNamespace(t, c, ns, map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	})

	out := applyDeploy(t, c, ns)
	t.Logf("kubectl apply --server-side -k deploy/:\n%s", out)
	want := []string{
		"serviceaccount/shoal-worker", "role.rbac.authorization.k8s.io/shoal-worker-discovery",
		"rolebinding.rbac.authorization.k8s.io/shoal-worker-discovery", "secret/shoal-secret-",
		"service/shoal ", "service/shoal-cluster", "deployment.apps/shoal-worker",
		"poddisruptionbudget.policy/shoal-worker",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("kubectl output lacks %q", w)
		}
	}
	if n := strings.Count(out, "serverside-applied"); n != len(want) {
		t.Errorf("%d objects applied, want %d", n, len(want))
	}

	// Applying again changes nothing and conflicts with nothing.
	if again := applyDeploy(t, c, ns); strings.Count(again, "serverside-applied") != len(want) {
		t.Errorf("second apply:\n%s", again)
	}

	svc, err := c.Admin.CoreV1().Services(ns).Get(ctx, "shoal-cluster", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("shoal-cluster: clusterIP %q publishNotReadyAddresses %v, want headless and true", svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
	}
	role, err := c.Admin.RbacV1().Roles(ns).Get(ctx, "shoal-worker-discovery", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(role.Rules) != 1 || fmt.Sprint(role.Rules[0].Resources, role.Rules[0].APIGroups) != "[endpointslices] [discovery.k8s.io]" {
		t.Errorf("Role is not least-privilege: %+v", role.Rules)
	}

	// The ReplicaSet controller creates the Pods: they passed admission
	// (ServiceAccount, Pod Security "restricted"). They stay Pending: no
	// scheduler or kubelet runs here.
	took := eventually(t, 90*time.Second, "3 Pods created from deploy/", func() (bool, string) {
		pods, err := c.Admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=shoal-worker"})
		if err != nil {
			return false, err.Error()
		}
		if len(pods.Items) == 3 {
			return true, ""
		}
		why := fmt.Sprintf("%d pods", len(pods.Items))
		rss, _ := c.Admin.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		for _, rs := range rss.Items {
			for _, cond := range rs.Status.Conditions {
				why += fmt.Sprintf("; replicaset %s %s: %s", rs.Name, cond.Type, cond.Message)
			}
		}
		return false, why
	})
	t.Logf("the ReplicaSet created 3 Pods in %v", took.Round(time.Millisecond))

	pods, err := c.Admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=shoal-worker"})
	if err != nil {
		t.Fatal(err)
	}
	p := pods.Items[0]
	if p.Spec.ServiceAccountName != "shoal-worker" {
		t.Errorf("pod service account %q", p.Spec.ServiceAccountName)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range p.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	if env["SHOAL_K8S_SERVICE"].Value != svc.Name || env["SHOAL_DISCOVERY"].Value != "kubernetes" {
		t.Errorf("worker env does not point at the headless Service: %+v", env)
	}
	if ref := env["SHOAL_SECRET"].ValueFrom; ref == nil || ref.SecretKeyRef == nil || !strings.HasPrefix(ref.SecretKeyRef.Name, "shoal-secret-") {
		t.Errorf("SHOAL_SECRET does not come from the generated Secret: %+v", ref)
	}
}

// The pods-discovery component (Role on pods, SHOAL_K8S_SELECTOR) builds and
// is accepted by the API server (server-side dry run).
func TestPodsDiscoveryComponentIsAccepted(t *testing.T) {
	c := needCluster(t)
	const ns = "apply-pods"
	newNamespace(t, c, ns, nil)
	overlay := t.TempDir()
	base, err := filepath.Rel(overlay, filepath.Join(repoRoot, "deploy"))
	if err != nil {
		t.Fatal(err)
	}
	k := fmt.Sprintf("resources:\n  - %s\ncomponents:\n  - %s\n", base, filepath.Join(base, "components", "pods-discovery"))
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := c.Kubectl(t.Context(), "apply", "--server-side", "--dry-run=server", "-n", ns, "-k", overlay)
	if err != nil {
		t.Fatalf("pods-discovery component rejected: %v", err)
	}
	rendered, _, err := c.Kubectl(t.Context(), "kustomize", overlay)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"- pods", "SHOAL_K8S_SELECTOR"} {
		if !strings.Contains(rendered, w) {
			t.Errorf("rendered overlay lacks %q", w)
		}
	}
	if strings.Contains(rendered, "SHOAL_K8S_SERVICE") || strings.Contains(rendered, "- endpointslices") {
		t.Errorf("rendered overlay still uses the EndpointSlices mode")
	}
	t.Logf("%s", out)
}
