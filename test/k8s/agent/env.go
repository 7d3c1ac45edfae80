package agent

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// sources are where env values come from besides the Pod itself.
type sources struct {
	// secret returns a Secret's data (nil, nil when it does not exist).
	secret func(name string) (map[string]string, error)
	// configMap returns a ConfigMap's data (nil, nil when it does not exist).
	configMap func(name string) (map[string]string, error)
}

// containerEnv computes the environment of container c of pod p, running with
// pod IP ip, as KEY=VALUE strings in the kubelet's order (envFrom first, then
// env, later entries overriding earlier ones).
func containerEnv(p *corev1.Pod, c *corev1.Container, ip string, src sources) ([]string, error) {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, ef := range c.EnvFrom {
		var (
			data     map[string]string
			err      error
			what     string
			optional bool
		)
		switch {
		case ef.SecretRef != nil:
			what, optional = "secret "+ef.SecretRef.Name, ef.SecretRef.Optional != nil && *ef.SecretRef.Optional
			data, err = src.secret(ef.SecretRef.Name)
		case ef.ConfigMapRef != nil:
			what, optional = "configmap "+ef.ConfigMapRef.Name, ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional
			data, err = src.configMap(ef.ConfigMapRef.Name)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		if data == nil && !optional {
			return nil, fmt.Errorf("envFrom: %s not found", what)
		}
		for k, v := range data {
			set(ef.Prefix+k, v)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, vals))
			continue
		}
		v, ok, err := valueFrom(p, c, ip, e.ValueFrom, src)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

var varRef = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// expand replaces $(VAR) with earlier variables' values, keeps unknown
// references as they are and turns $$ into $, as the kubelet does.
func expand(s string, vals map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		if v, ok := vals[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

func valueFrom(p *corev1.Pod, c *corev1.Container, ip string, vf *corev1.EnvVarSource, src sources) (string, bool, error) {
	switch {
	case vf.FieldRef != nil:
		v, err := fieldValue(p, ip, vf.FieldRef.FieldPath)
		return v, err == nil, err
	case vf.ResourceFieldRef != nil:
		v, err := resourceValue(c, vf.ResourceFieldRef)
		return v, err == nil, err
	case vf.SecretKeyRef != nil:
		return keyRef(src.secret, "secret", vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, vf.SecretKeyRef.Optional)
	case vf.ConfigMapKeyRef != nil:
		return keyRef(src.configMap, "configmap", vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, vf.ConfigMapKeyRef.Optional)
	}
	return "", false, fmt.Errorf("unsupported valueFrom %+v", vf)
}

func keyRef(get func(string) (map[string]string, error), kind, name, key string, optional *bool) (string, bool, error) {
	data, err := get(name)
	if err != nil {
		return "", false, err
	}
	v, ok := data[key]
	if !ok {
		if optional != nil && *optional {
			return "", false, nil
		}
		if data == nil {
			return "", false, fmt.Errorf("%s %s not found", kind, name)
		}
		return "", false, fmt.Errorf("%s %s has no key %q", kind, name, key)
	}
	return v, true, nil
}

var labelPath = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']+)'\]$`)

func fieldValue(p *corev1.Pod, ip, path string) (string, error) {
	switch path {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return string(p.UID), nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs":
		return ip, nil
	}
	if m := labelPath.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return p.Labels[m[2]], nil
		}
		return p.Annotations[m[2]], nil
	}
	return "", fmt.Errorf("fieldRef %q is not supported by the stand-in kubelet", path)
}

func resourceValue(c *corev1.Container, r *corev1.ResourceFieldSelector) (string, error) {
	kind, name, ok := strings.Cut(r.Resource, ".")
	if !ok {
		return "", fmt.Errorf("resourceFieldRef %q", r.Resource)
	}
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		// The kubelet gives the node's allocatable; a stand-in has none.
		return "", fmt.Errorf("resourceFieldRef %q: the container sets no %s", r.Resource, r.Resource)
	}
	div := r.Divisor
	if div.IsZero() {
		if name == "cpu" {
			return strconv.FormatInt(int64(math.Ceil(q.AsApproximateFloat64())), 10), nil
		}
		return strconv.FormatInt(q.Value(), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(q.AsApproximateFloat64()/div.AsApproximateFloat64())), 10), nil
}
