package kubernetes

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestAPIErrorForbiddenNamesWhatIsMissing(t *testing.T) {
	cause := apierrors.NewForbidden(schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}, "",
		errors.New(`User "system:serviceaccount:jobs:shoal-worker" cannot watch resource "endpointslices" in API group "discovery.k8s.io" in the namespace "jobs"`))
	err := error(newAPIError("watch", "endpointslices", "discovery.k8s.io", "jobs", "deploy/rbac.yaml", fmt.Errorf("wrapped: %w", cause)))
	want := "the Role for service account jobs/shoal-worker lacks 'watch' on endpointslices.discovery.k8s.io in namespace jobs: see deploy/rbac.yaml"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("message:\n%s\nwant it to contain:\n%s", err, want)
	}
	if !errors.Is(err, ErrForbidden) || !errors.Is(err, ErrAPI) || errors.Is(err, ErrUnauthorized) {
		t.Fatalf("errors.Is: forbidden %v api %v unauthorized %v", errors.Is(err, ErrForbidden), errors.Is(err, ErrAPI), errors.Is(err, ErrUnauthorized))
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Identity != "system:serviceaccount:jobs:shoal-worker" {
		t.Fatalf("identity: %+v", ae)
	}
}

func TestAPIErrorOtherCauses(t *testing.T) {
	pods := newAPIError("list", "pods", "", "jobs", "deploy/rbac.yaml",
		apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no RBAC policy matched")))
	if want := "the Role for this worker's identity lacks 'list' on pods in namespace jobs"; !strings.Contains(pods.Error(), want) {
		t.Fatalf("core group: %s", pods)
	}
	unauth := newAPIError("list", "pods", "", "jobs", "deploy/rbac.yaml", apierrors.NewUnauthorized("token expired"))
	if !errors.Is(unauth, ErrUnauthorized) || !strings.Contains(unauth.Error(), "credentials") {
		t.Fatalf("401: %s", unauth)
	}
	down := newAPIError("watch", "endpointslices", "discovery.k8s.io", "jobs", "deploy/rbac.yaml", errors.New("connection refused"))
	if errors.Is(down, ErrForbidden) || !strings.Contains(down.Error(), "keeping the last known peers") {
		t.Fatalf("network: %s", down)
	}
}
