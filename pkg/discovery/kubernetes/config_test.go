package kubernetes

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string // "" = valid
	}{
		{"pods mode with a selector", func(c *Config) { c.Mode = ModePods; c.Selector = "app.kubernetes.io/name=shoal-worker" }, ""},
		{"explicit namespace", func(c *Config) { c.Namespace = "jobs" }, ""},
		{"unknown mode", func(c *Config) { c.Mode = "endpoints" }, `mode "endpoints"`},
		{"no service", func(c *Config) { c.Service = "" }, "SHOAL_K8S_SERVICE"},
		{"bad service name", func(c *Config) { c.Service = "Shoal_Cluster" }, `service name "Shoal_Cluster"`},
		{"pods mode without selector", func(c *Config) { c.Mode = ModePods }, "SHOAL_K8S_SELECTOR"},
		{"pods mode, bad selector", func(c *Config) { c.Mode = ModePods; c.Selector = "app in (" }, "label selector"},
		{"pods mode, selector selects everything", func(c *Config) { c.Mode = ModePods; c.Selector = " " }, "SHOAL_K8S_SELECTOR"},
		{"bad namespace", func(c *Config) { c.Namespace = "Not/A/Namespace" }, "namespace"},
		{"no RBAC hint", func(c *Config) { c.RBACHint = "" }, "RBACHint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalidConfig mentioning %q", err, tt.want)
			}
		})
	}
}

func TestResolveNamespace(t *testing.T) {
	file := func(content string, err error) func(string) ([]byte, error) {
		return func(string) ([]byte, error) { return []byte(content), err }
	}
	tests := []struct {
		name, explicit, env string
		read                func(string) ([]byte, error)
		want                string
	}{
		{"explicit wins", "a", "b", file("c", nil), "a"},
		{"POD_NAMESPACE next", "", "b\n", file("c", nil), "b"},
		{"service-account file last", "", "", file("c\n", nil), "c"},
	}
	for _, tt := range tests {
		got, err := resolveNamespace(tt.explicit, tt.env, "ns-file", tt.read)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	_, err := resolveNamespace("", "", "ns-file", file("", fs.ErrNotExist))
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "POD_NAMESPACE") {
		t.Fatalf("no namespace anywhere: got %v", err)
	}
}
