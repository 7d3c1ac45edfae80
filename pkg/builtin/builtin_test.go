package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// handlerFor registers the built-ins with cfg on a fresh registry and
// returns the handler of typ.
func handlerFor(t *testing.T, cfg Config, typ string) jobs.Handler {
	t.Helper()
	r := jobs.NewRegistry()
	if err := Register(r, cfg); err != nil {
		t.Fatalf("Register: %v", err)
	}
	h, ok := r.Lookup(typ)
	if !ok {
		t.Fatalf("no handler for %q", typ)
	}
	return h
}

// errKind says what kind of outcome a test expects.
type errKind int

const (
	ok        errKind = iota // success
	retryable                // error, not permanent
	permanent                // error marked with jobs.Permanent
)

func (k errKind) String() string {
	return [...]string{"success", "retryable error", "permanent error"}[k]
}

// checkOutcome fails t unless err is of kind want, wraps sentinel (if not
// nil) and contains every string of contains.
func checkOutcome(t *testing.T, err error, want errKind, sentinel error, contains ...string) {
	t.Helper()
	got := ok
	if err != nil {
		got = retryable
		if jobs.IsPermanent(err) {
			got = permanent
		}
	}
	if got != want {
		t.Fatalf("got %v (%v), want %v", got, err, want)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("error %q does not wrap %q", err, sentinel)
	}
	for _, s := range contains {
		if s == "" {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not contain %q", err, s)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"zero value", func(c *Config) { *c = Config{} }, "SleepMax"},
		{"negative sleep max", func(c *Config) { c.SleepMax = -time.Second }, "SleepMax"},
		{"zero http timeout", func(c *Config) { c.HTTPTimeout = 0 }, "HTTPTimeout"},
		{"max timeout below timeout", func(c *Config) { c.HTTPMaxTimeout = time.Second }, "HTTPMaxTimeout"},
		{"negative redirects", func(c *Config) { c.HTTPMaxRedirects = -1 }, "HTTPMaxRedirects"},
		{"host with scheme", func(c *Config) { c.HTTPAllowHosts = []string{"https://example.com"} }, "HTTPAllowHosts"},
		{"host with port", func(c *Config) { c.HTTPAllowHosts = []string{"example.com:443"} }, "HTTPAllowHosts"},
		{"empty host", func(c *Config) { c.HTTPAllowHosts = []string{""} }, "HTTPAllowHosts"},
		{"wildcard ip", func(c *Config) { c.HTTPAllowHosts = []string{"*.10.0.0.1"} }, "HTTPAllowHosts"},
		{"relative exec path", func(c *Config) { c.ExecAllow = map[string]string{"echo": "echo"} }, "absolute"},
		{"exec name with slash", func(c *Config) { c.ExecAllow = map[string]string{"bin/echo": "/bin/echo"} }, "ExecAllow name"},
		{"bad env", func(c *Config) { c.ExecEnv = []string{"NOEQUALS"} }, "ExecEnv"},
		{"zero kill grace", func(c *Config) { c.ExecKillGrace = 0 }, "ExecKillGrace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig mentioning %q", err, tt.want)
			}
		})
	}
	good := DefaultConfig()
	good.HTTPAllowHosts = []string{"api.example.com", "*.example.org", "127.0.0.1", "[::1]", "::1"}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid allow-list refused: %v", err)
	}
}

func TestRegister(t *testing.T) {
	r := jobs.NewRegistry()
	if err := Register(r, DefaultConfig()); err != nil {
		t.Fatalf("Register: %v", err)
	}
	want := []string{TypeEcho, TypeExec, TypeFail, TypeHTTP, TypeSleep}
	if got := r.Types(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("types = %v, want %v", got, want)
	}
	if err := Register(r, DefaultConfig()); !errors.Is(err, jobs.ErrDuplicateHandler) {
		t.Fatalf("second Register = %v, want ErrDuplicateHandler", err)
	}

	bad := DefaultConfig()
	bad.SleepMax = 0
	if err := Register(jobs.NewRegistry(), bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Register(invalid config) = %v, want ErrInvalidConfig", err)
	}
	missing := DefaultConfig()
	missing.ExecAllow = map[string]string{"nope": "/nonexistent/shoal-test-binary"}
	if err := Register(jobs.NewRegistry(), missing); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), ExecAllowFlag) {
		t.Fatalf("Register(missing executable) = %v, want ErrInvalidConfig naming %s", err, ExecAllowFlag)
	}
	notExec := DefaultConfig()
	notExec.ExecAllow = map[string]string{"dir": t.TempDir()}
	if err := Register(jobs.NewRegistry(), notExec); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Register(directory as executable) = %v, want ErrInvalidConfig", err)
	}
}

func TestEcho(t *testing.T) {
	h := handlerFor(t, DefaultConfig(), TypeEcho)
	for _, payload := range []string{`{"a":1,"b":[true,null]}`, `"text"`, `42`, `null`, ``} {
		t.Run(payload, func(t *testing.T) {
			res, err := h(context.Background(), jobs.Job{Type: TypeEcho, Payload: json.RawMessage(payload)})
			checkOutcome(t, err, ok, nil)
			if string(res) != payload {
				t.Fatalf("result %q, want %q", res, payload)
			}
		})
	}
}

func TestSleep(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SleepMax = 2 * time.Second
	h := handlerFor(t, cfg, TypeSleep)
	tests := []struct {
		payload string
		want    errKind
		result  string
		errHas  string
	}{
		{`{"ms": 0}`, ok, `{"slept_ms":0}`, ""},
		{`{"ms": 5}`, ok, `{"slept_ms":5}`, ""},
		{`{}`, permanent, "", `{"ms": N}`},
		{``, permanent, "", `{"ms": N}`},
		{`{"ms": -1}`, permanent, "", "negative"},
		{`{"ms": 2001}`, permanent, "", "limit of 2000"},
		{`{"ms": 1e30}`, permanent, "", "invalid payload"},
		{`{"ms": "5"}`, permanent, "", "invalid payload"},
		{`{"msec": 5}`, permanent, "", "unknown field"},
		{`{"ms": 5} {}`, permanent, "", "after the JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			res, err := h(context.Background(), jobs.Job{Type: TypeSleep, Payload: json.RawMessage(tt.payload)})
			var sentinel error
			if tt.want == permanent {
				sentinel = ErrInvalidPayload
			}
			checkOutcome(t, err, tt.want, sentinel, tt.errHas)
			if string(res) != tt.result {
				t.Fatalf("result %s, want %s", res, tt.result)
			}
		})
	}
}

func TestSleepHonoursCancellation(t *testing.T) {
	h := handlerFor(t, DefaultConfig(), TypeSleep)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h(ctx, jobs.Job{Type: TypeSleep, Payload: json.RawMessage(`{"ms": 3600000}`)})
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || jobs.IsPermanent(err) {
			t.Fatalf("err = %v, want context.Canceled, not permanent", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sleep did not return within 5s of cancellation")
	}
}

func TestFail(t *testing.T) {
	h := handlerFor(t, DefaultConfig(), TypeFail)
	tests := []struct {
		payload string
		attempt int
		want    errKind
		result  string
		errHas  string
	}{
		{``, 3, retryable, "", "fail: attempt 3 failed on purpose"},
		{`{}`, 1, retryable, "", "attempt 1 failed on purpose"},
		{`{"times": 2}`, 1, retryable, "", "attempt 1 failed on purpose"},
		{`{"times": 2}`, 2, retryable, "", "fails its first 2"},
		{`{"times": 2}`, 3, ok, `{"attempt":3}`, ""},
		{`{"times": 0}`, 1, ok, `{"attempt":1}`, ""},
		{`{"times": -1}`, 1, permanent, "", "negative"},
		{`{"time": 1}`, 1, permanent, "", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/attempt%d", tt.payload, tt.attempt), func(t *testing.T) {
			res, err := h(context.Background(), jobs.Job{Type: TypeFail, Attempt: tt.attempt, Payload: json.RawMessage(tt.payload)})
			var sentinel error
			switch tt.want {
			case retryable:
				sentinel = ErrFailedOnPurpose
			case permanent:
				sentinel = ErrInvalidPayload
			}
			checkOutcome(t, err, tt.want, sentinel, tt.errHas)
			if string(res) != tt.result {
				t.Fatalf("result %s, want %s", res, tt.result)
			}
		})
	}
}

func TestExcerpt(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel"},
		{"aé", 2, "a"},                  // é is 2 bytes: do not split it
		{"a€b", 3, "a"},                 // € is 3 bytes
		{"a€b", 4, "a€"},                // boundary falls after €
		{"\xff\xfe\xfd", 2, "\xff\xfe"}, // not UTF-8: cut at n
	}
	for _, tt := range tests {
		if got := excerpt([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("excerpt(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
