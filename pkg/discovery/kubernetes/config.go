package kubernetes

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Mode selects where peers come from.
type Mode string

const (
	// ModeEndpointSlices reads the EndpointSlices of Config.Service.
	ModeEndpointSlices Mode = "endpointslices"
	// ModePods reads the Pods matching Config.Selector.
	ModePods Mode = "pods"
)

// ServiceAccountNamespaceFile is where Kubernetes mounts the pod's namespace
// next to its service-account token.
const ServiceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("kubernetes discovery: invalid configuration")

// Config configures the kubernetes strategy. Start from DefaultConfig.
type Config struct {
	// Mode selects the source of peers: ModeEndpointSlices (default) or
	// ModePods.
	Mode Mode
	// Service is the name of the Service whose EndpointSlices list the peers
	// (ModeEndpointSlices). It should be headless with
	// publishNotReadyAddresses: true. Default "shoal-cluster", the headless
	// Service of deploy/.
	Service string
	// Selector is the label selector of the peer Pods (ModePods), for example
	// "app.kubernetes.io/name=shoal-worker". Required in ModePods.
	Selector string
	// Namespace to look in. Empty: the pod's own, from the POD_NAMESPACE
	// environment variable, else from NamespaceFile.
	Namespace string
	// NamespaceFile is read when Namespace and POD_NAMESPACE are empty.
	// Default ServiceAccountNamespaceFile.
	NamespaceFile string
	// Kubeconfig is the path of a kubeconfig file, for running outside a
	// cluster. Empty: the in-cluster configuration (the pod's service-account
	// token and the KUBERNETES_SERVICE_HOST/PORT variables).
	Kubeconfig string
	// HTTPPortName is the name of the port (in the EndpointSlice, which takes
	// the Service port's name; or the container port in ModePods) whose number
	// becomes Peer.Port. No port of that name: Peer.Port is 0. Default "http".
	HTTPPortName string
	// RBACHint is the file a 403 error points the user to. Default
	// "deploy/rbac.yaml".
	RBACHint string
	// FirstSyncWait bounds how long a Lookup made before the first complete
	// list waits for it (less if the Lookup's context ends first, none once
	// an API error is known). It spares the Watcher a "not synced" error
	// right after start. Default 5s; 0 does not wait.
	FirstSyncWait time.Duration
}

// DefaultConfig returns the configuration that matches deploy/.
func DefaultConfig() Config {
	return Config{
		Mode:          ModeEndpointSlices,
		Service:       "shoal-cluster",
		NamespaceFile: ServiceAccountNamespaceFile,
		HTTPPortName:  "http",
		RBACHint:      "deploy/rbac.yaml",
		FirstSyncWait: 5 * time.Second,
	}
}

// Validate reports the first problem of the configuration, wrapping
// ErrInvalidConfig. An empty Namespace is valid (it is resolved at New).
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch c.Mode {
	case ModeEndpointSlices:
		if c.Service == "" {
			return bad("mode %q needs the Service name (SHOAL_K8S_SERVICE), for example the headless Service of deploy/", c.Mode)
		}
		if errs := validation.IsDNS1035Label(c.Service); len(errs) > 0 {
			return bad("service name %q: %s", c.Service, strings.Join(errs, "; "))
		}
	case ModePods:
		if strings.TrimSpace(c.Selector) == "" {
			return bad("mode %q needs a label selector (SHOAL_K8S_SELECTOR), for example app.kubernetes.io/name=shoal-worker", c.Mode)
		}
		sel, err := labels.Parse(c.Selector)
		if err != nil {
			return bad("label selector %q: %v", c.Selector, err)
		}
		if sel.Empty() {
			return bad("label selector %q selects every pod of the namespace: name the worker pods' labels", c.Selector)
		}
	default:
		return bad("mode %q: use %q or %q", c.Mode, ModeEndpointSlices, ModePods)
	}
	if c.Namespace != "" {
		if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
			return bad("namespace %q: %s", c.Namespace, strings.Join(errs, "; "))
		}
	}
	if c.FirstSyncWait < 0 {
		return bad("FirstSyncWait %v is negative", c.FirstSyncWait)
	}
	if c.RBACHint == "" {
		return bad("RBACHint is empty: keep DefaultConfig's %q unless the Role lives elsewhere", DefaultConfig().RBACHint)
	}
	return nil
}

// resolveNamespace picks the namespace: explicit, else the POD_NAMESPACE
// value, else the content of the namespace file.
func resolveNamespace(explicit, podNamespace, file string, readFile func(string) ([]byte, error)) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if ns := strings.TrimSpace(podNamespace); ns != "" {
		return ns, nil
	}
	if file != "" {
		b, err := readFile(file)
		if err == nil && strings.TrimSpace(string(b)) != "" {
			return strings.TrimSpace(string(b)), nil
		}
	}
	return "", fmt.Errorf("%w: no namespace: set SHOAL_K8S_NAMESPACE, or POD_NAMESPACE from the downward API (deploy/deployment.yaml does), or run in a pod with a service-account token mounted", ErrInvalidConfig)
}
