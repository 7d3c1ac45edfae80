package builtin

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"
)

// Config configures the built-in handlers. Start from DefaultConfig; the zero
// value is not valid.
type Config struct {
	// SleepMax is the largest "ms" a sleep job may ask for; larger values are
	// refused with a permanent error. Default 1h. Must be positive.
	SleepMax time.Duration

	// HTTPAllowHosts restricts the hosts an http job may contact. Empty means
	// any host. An entry matches a URL's host name exactly (case-insensitive,
	// the port is not compared); an entry "*.example.com" matches every
	// subdomain of example.com but not example.com itself. Redirect targets are
	// checked too. The check is by name only: a permitted name that resolves
	// to an internal address is still contacted unless HTTPBlockPrivate is set.
	HTTPAllowHosts []string

	// HTTPBlockPrivate refuses connections to loopback, private (RFC 1918,
	// RFC 4193), link-local (including cloud metadata at 169.254.169.254),
	// unspecified and multicast addresses. It is checked on the address
	// actually dialled, so DNS answers cannot get around it. Default false, so
	// that workers can call services on their own network; turn it on when
	// job submitters are less trusted than the worker's network.
	HTTPBlockPrivate bool

	// HTTPTimeout bounds one http job's request (connect, send, response
	// headers and reading the excerpt of the body) when the payload has no
	// "timeout_ms". The job's own timeout still applies. Default 30s. Must be
	// positive.
	HTTPTimeout time.Duration

	// HTTPMaxTimeout is the largest "timeout_ms" an http payload may ask for;
	// larger values are refused with a permanent error. Default 10m. Must be
	// at least HTTPTimeout.
	HTTPMaxTimeout time.Duration

	// HTTPMaxRedirects is how many redirects an http job follows (each target
	// is checked against the scheme rule and HTTPAllowHosts) before it fails
	// permanently. 0 follows none: a 3xx response is then the job's result.
	// Default 5.
	HTTPMaxRedirects int

	// ExecAllow maps the command names an exec job may run to the absolute
	// path of the executable that runs for that name. Empty (the default)
	// disables exec: every exec job fails permanently, with a message that
	// names the --exec-allow flag. Names are plain (no "/"); paths must be
	// absolute, so no PATH lookup happens per job. ResolveExecAllow builds the
	// map from the worker's --exec-allow flag values.
	ExecAllow map[string]string

	// ExecEnv is the complete environment ("KEY=value" entries) of every exec
	// command. The worker's own environment is deliberately not inherited, as
	// it may hold credentials. Default empty.
	ExecEnv []string

	// ExecDir is the working directory of exec commands; empty means the
	// worker's working directory. Default empty.
	ExecDir string

	// ExecKillGrace is how long, after a cancelled exec job's process group
	// has been killed, the handler waits for the output pipes to close before
	// giving up on them (a descendant that left the group may hold them).
	// Default 2s. Must be positive.
	ExecKillGrace time.Duration
}

// DefaultConfig returns the defaults documented on each Config field.
func DefaultConfig() Config {
	return Config{
		SleepMax:         time.Hour,
		HTTPTimeout:      30 * time.Second,
		HTTPMaxTimeout:   10 * time.Minute,
		HTTPMaxRedirects: 5,
		ExecKillGrace:    2 * time.Second,
	}
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("builtin: invalid config")

// Validate reports the first problem with c, wrapping ErrInvalidConfig. It
// does not touch the file system; Register also checks that every ExecAllow
// path is an executable file.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	if c.SleepMax <= 0 {
		return bad("SleepMax is %v; it must be positive (default %v)", c.SleepMax, time.Hour)
	}
	if c.HTTPTimeout <= 0 {
		return bad("HTTPTimeout is %v; it must be positive (default 30s)", c.HTTPTimeout)
	}
	if c.HTTPMaxTimeout < c.HTTPTimeout {
		return bad("HTTPMaxTimeout %v is below HTTPTimeout %v; raise it", c.HTTPMaxTimeout, c.HTTPTimeout)
	}
	if c.HTTPMaxRedirects < 0 {
		return bad("HTTPMaxRedirects is %d; use 0 to follow no redirects", c.HTTPMaxRedirects)
	}
	for _, h := range c.HTTPAllowHosts {
		if err := validHostPattern(h); err != nil {
			return bad("HTTPAllowHosts entry %q: %v", h, err)
		}
	}
	for name, path := range c.ExecAllow {
		if name == "" || strings.ContainsAny(name, "/\\=") || strings.TrimSpace(name) != name {
			return bad("ExecAllow name %q: a command name must be non-empty, without spaces, '/', '\\' or '='", name)
		}
		if !filepath.IsAbs(path) {
			return bad("ExecAllow[%q] = %q: the path must be absolute (ResolveExecAllow resolves names)", name, path)
		}
	}
	for _, kv := range c.ExecEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return bad("ExecEnv entry %q: want KEY=value", kv)
		}
	}
	if c.ExecKillGrace <= 0 {
		return bad("ExecKillGrace is %v; it must be positive (default 2s)", c.ExecKillGrace)
	}
	return nil
}

func validHostPattern(h string) error {
	wild := strings.HasPrefix(h, "*.")
	rest := normalizeHost(strings.TrimPrefix(h, "*."))
	switch {
	case rest == "":
		return errors.New("empty host")
	case net.ParseIP(rest) != nil:
		if wild {
			return errors.New("a wildcard cannot precede an IP address")
		}
		return nil
	case strings.ContainsAny(rest, "*/:@[] "):
		return errors.New("want a host name such as api.example.com or *.example.com, without scheme, port or path")
	}
	return nil
}

// normalizeHost lower-cases h and strips the brackets of an IPv6 literal.
func normalizeHost(h string) string {
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
