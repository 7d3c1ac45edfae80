package kubernetes

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

var (
	// ErrForbidden matches (errors.Is) an *APIError for a 403: the identity
	// lacks a verb on the resource. Fix the Role (deploy/rbac.yaml).
	ErrForbidden = errors.New("kubernetes discovery: forbidden")
	// ErrUnauthorized matches an *APIError for a 401: the credentials (token,
	// kubeconfig) were rejected.
	ErrUnauthorized = errors.New("kubernetes discovery: unauthorized")
	// ErrAPI matches every *APIError, whatever the cause (network, 5xx, 403).
	ErrAPI = errors.New("kubernetes discovery: API call failed")
	// ErrNotSynced is returned by Lookup until the informer has completed
	// its first list. It wraps the API error that prevents it, if any.
	ErrNotSynced = errors.New("kubernetes discovery: no complete list of peers yet")
	// ErrStopped is returned by Lookup after Stop.
	ErrStopped = errors.New("kubernetes discovery: stopped")
)

// APIError is a failed list or watch call, described for the user.
type APIError struct {
	// Verb is the call that failed: "list" or "watch".
	Verb string
	// Resource is the plural resource name ("endpointslices", "pods").
	Resource string
	// Group is the API group ("discovery.k8s.io"; "" for the core group).
	Group string
	// Namespace is where the call was made.
	Namespace string
	// Identity is who made it, as the API server named it in a 403
	// ("system:serviceaccount:NS:NAME"), else "".
	Identity string
	// Hint is the file to fix for a 403 (Config.RBACHint).
	Hint string
	// Err is the error client-go returned.
	Err error
}

// GroupResource is "endpointslices.discovery.k8s.io" or "pods".
func (e *APIError) GroupResource() string {
	if e.Group == "" {
		return e.Resource
	}
	return e.Resource + "." + e.Group
}

func (e *APIError) Error() string {
	switch {
	case apierrors.IsForbidden(e.Err):
		return fmt.Sprintf("kubernetes discovery: the Role for %s lacks '%s' on %s in namespace %s: see %s (the API server said: %s)",
			describeIdentity(e.Identity), e.Verb, e.GroupResource(), e.Namespace, e.Hint, apiMessage(e.Err))
	case apierrors.IsUnauthorized(e.Err):
		return fmt.Sprintf("kubernetes discovery: the API server rejected the credentials when trying to %s %s in namespace %s (401): check the pod's service-account token (automountServiceAccountToken) or SHOAL_K8S_KUBECONFIG; keeping the last known peers: %v",
			e.Verb, e.GroupResource(), e.Namespace, e.Err)
	default:
		return fmt.Sprintf("kubernetes discovery: %s %s in namespace %s failed, keeping the last known peers until the API server answers: %v",
			e.Verb, e.GroupResource(), e.Namespace, e.Err)
	}
}

// Unwrap gives the client-go error.
func (e *APIError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrAPI), ErrForbidden and ErrUnauthorized work.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrAPI:
		return true
	case ErrForbidden:
		return apierrors.IsForbidden(e.Err)
	case ErrUnauthorized:
		return apierrors.IsUnauthorized(e.Err)
	}
	return false
}

// newAPIError describes err, a failed verb on the resource.
func newAPIError(verb, resource, group, namespace, hint string, err error) *APIError {
	return &APIError{
		Verb:      verb,
		Resource:  resource,
		Group:     group,
		Namespace: namespace,
		Identity:  identityFrom(err),
		Hint:      hint,
		Err:       err,
	}
}

var userInMessage = regexp.MustCompile(`User "([^"]+)"`)

// identityFrom finds the user a 403 names: `User "system:serviceaccount:ns:sa" cannot ...`.
func identityFrom(err error) string {
	if !apierrors.IsForbidden(err) {
		return ""
	}
	if m := userInMessage.FindStringSubmatch(apiMessage(err)); m != nil {
		return m[1]
	}
	return ""
}

func describeIdentity(id string) string {
	const sa = "system:serviceaccount:"
	switch {
	case strings.HasPrefix(id, sa):
		rest := strings.TrimPrefix(id, sa)
		if ns, name, ok := strings.Cut(rest, ":"); ok {
			return fmt.Sprintf("service account %s/%s", ns, name)
		}
		return "service account " + rest
	case id == "":
		return "this worker's identity"
	default:
		return "user " + id
	}
}

func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return err.Error()
}
