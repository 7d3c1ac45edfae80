package agent

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDecide(t *testing.T) {
	deleted := &metav1.Time{}
	pod := func(node string, del *metav1.Time, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: del}, Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
	}
	tests := []struct {
		name              string
		p                 *corev1.Pod
		running, stopping bool
		want              action
	}{
		{"new pod: bind", pod("", nil, corev1.PodPending), false, false, actBind},
		{"bound here, nothing runs: start", pod("n", nil, corev1.PodPending), false, false, actStart},
		{"running: nothing to do", pod("n", nil, corev1.PodRunning), true, false, actNone},
		{"another node's pod", pod("other", nil, corev1.PodPending), false, false, actNone},
		{"deleted while running: stop", pod("n", deleted, corev1.PodRunning), true, false, actStop},
		{"deleted, stopping: wait", pod("n", deleted, corev1.PodRunning), true, true, actNone},
		{"deleted, stopped: finalize", pod("n", deleted, corev1.PodRunning), false, false, actFinalize},
		{"another node's deleted pod", pod("other", deleted, corev1.PodRunning), false, false, actNone},
		{"failed pod with a process: stop", pod("n", nil, corev1.PodFailed), true, false, actStop},
		{"failed pod: do not restart", pod("n", nil, corev1.PodFailed), false, false, actNone},
	}
	for _, tt := range tests {
		if got := decide(tt.p, "n", tt.running, tt.stopping); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestContainerEnv(t *testing.T) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "w-1", Namespace: "jobs", UID: "u-1", Labels: map[string]string{"app": "shoal"}},
		Spec:       corev1.PodSpec{NodeName: "n", ServiceAccountName: "shoal-worker"},
	}
	c := &corev1.Container{
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
		Env: []corev1.EnvVar{
			{Name: "SHOAL_DISCOVERY", Value: "kubernetes"},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "SHOAL_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "SHOAL_SECRET"}}},
			{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}},
			{Name: "ADDR", Value: "$(POD_IP):8080 $$(POD_IP) $(NOPE)"},
			{Name: "OPTIONAL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "missing", Optional: ptrTo(true)}}},
		},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}},
	}
	src := sources{
		secret:    func(string) (map[string]string, error) { return map[string]string{"SHOAL_SECRET": "s3cret"}, nil },
		configMap: func(string) (map[string]string, error) { return map[string]string{"X": "1"}, nil },
	}
	got, err := containerEnv(p, c, "127.0.51.7", src)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CM_X=1", "SHOAL_DISCOVERY=kubernetes", "POD_IP=127.0.51.7", "POD_NAME=w-1", "POD_NAMESPACE=jobs", "APP=shoal",
		"SHOAL_SECRET=s3cret", "GOMEMLIMIT=134217728", "ADDR=127.0.51.7:8080 $(POD_IP) $(NOPE)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}

	missing := sources{secret: func(string) (map[string]string, error) { return nil, nil }, configMap: src.configMap}
	if _, err := containerEnv(p, c, "127.0.51.7", missing); err == nil || !strings.Contains(err.Error(), "secret s not found") {
		t.Fatalf("missing secret: %v", err)
	}
}
