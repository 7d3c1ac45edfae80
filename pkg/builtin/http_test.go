package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// newTestServer starts an httptest server (loopback, port 0) with routes
// for the http handler tests.
func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "want POST", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		body, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Header.Get("Content-Type")+"|"+r.Header.Get("X-Token")+"|"+string(body))
	})
	mux.HandleFunc("/status/", func(w http.ResponseWriter, r *http.Request) {
		code := map[string]int{"404": 404, "400": 400, "429": 429, "408": 408, "500": 500, "503": 503, "204": 204}[strings.TrimPrefix(r.URL.Path, "/status/")]
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "status body")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 5000))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // until the client gives up
	})
	mux.HandleFunc("/redirect-localhost", func(w http.ResponseWriter, r *http.Request) {
		// Same server, reached by another name.
		to := strings.Replace("http://"+r.Host+"/echo", "127.0.0.1", "localhost", 1)
		http.Redirect(w, r, to, http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/redirect-self", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/echo", http.StatusPermanentRedirect)
	})
	mux.HandleFunc("/redirect-loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/redirect-loop", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/redirect-ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://example.com/x", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTP(t *testing.T) {
	srv := newTestServer(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close() // connections to it are refused

	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	noRedirects := func(c *Config) { c.HTTPMaxRedirects = 0 }

	tests := []struct {
		name     string
		cfg      func(*Config)
		payload  string
		want     errKind
		sentinel error
		status   int
		body     string
		errHas   string
	}{
		{
			name:    "post json with headers",
			payload: enc(map[string]any{"url": srv.URL + "/echo", "body": map[string]int{"n": 1}, "headers": map[string]string{"X-Token": "t1"}}),
			status:  200, body: `application/json|t1|{"n":1}`,
		},
		{
			name:    "no body",
			payload: enc(map[string]any{"url": srv.URL + "/echo"}),
			status:  200, body: `||`,
		},
		{
			name:    "content type overridden",
			payload: enc(map[string]any{"url": srv.URL + "/echo", "body": "x", "headers": map[string]string{"Content-Type": "application/x-test"}}),
			status:  200, body: `application/x-test||"x"`,
		},
		{name: "204", payload: enc(map[string]any{"url": srv.URL + "/status/204"}), status: 204, body: ""},
		{name: "body cut to 1 KiB", payload: enc(map[string]any{"url": srv.URL + "/big"}), status: 200, body: strings.Repeat("x", 1024)},
		{name: "404 permanent", payload: enc(map[string]any{"url": srv.URL + "/status/404"}), want: permanent, sentinel: ErrHTTPStatus, errHas: "answered 404: status body"},
		{name: "400 permanent", payload: enc(map[string]any{"url": srv.URL + "/status/400"}), want: permanent, sentinel: ErrHTTPStatus},
		{name: "429 retryable", payload: enc(map[string]any{"url": srv.URL + "/status/429"}), want: retryable, sentinel: ErrHTTPStatus},
		{name: "408 retryable", payload: enc(map[string]any{"url": srv.URL + "/status/408"}), want: retryable, sentinel: ErrHTTPStatus},
		{name: "500 retryable", payload: enc(map[string]any{"url": srv.URL + "/status/500"}), want: retryable, sentinel: ErrHTTPStatus, errHas: "answered 500"},
		{name: "503 retryable", payload: enc(map[string]any{"url": srv.URL + "/status/503"}), want: retryable, sentinel: ErrHTTPStatus},
		{name: "connection refused retryable", payload: enc(map[string]any{"url": closedURL + "/x"}), want: retryable},
		{name: "timeout_ms retryable", payload: enc(map[string]any{"url": srv.URL + "/slow", "timeout_ms": 50}), want: retryable, errHas: "within 50ms"},
		{name: "timeout_ms zero", payload: enc(map[string]any{"url": srv.URL + "/echo", "timeout_ms": 0}), want: permanent, sentinel: ErrInvalidPayload},
		{name: "timeout_ms above max", payload: enc(map[string]any{"url": srv.URL + "/echo", "timeout_ms": 3_600_000}), want: permanent, sentinel: ErrInvalidPayload, errHas: "timeout_ms"},
		{name: "missing url", payload: `{"body": {}}`, want: permanent, sentinel: ErrInvalidPayload, errHas: "url is missing"},
		{name: "ftp scheme", payload: enc(map[string]any{"url": "ftp://example.com/x"}), want: permanent, sentinel: ErrInvalidPayload, errHas: "only http and https"},
		{name: "file scheme", payload: enc(map[string]any{"url": "file:///etc/passwd"}), want: permanent, sentinel: ErrInvalidPayload},
		{name: "no host", payload: enc(map[string]any{"url": "http:///x"}), want: permanent, sentinel: ErrInvalidPayload},
		{name: "bad header name", payload: enc(map[string]any{"url": srv.URL + "/echo", "headers": map[string]string{"Bad Header": "x"}}), want: permanent, sentinel: ErrInvalidPayload},
		{name: "header value with newline", payload: enc(map[string]any{"url": srv.URL + "/echo", "headers": map[string]string{"X-A": "a\r\nX-B: b"}}), want: permanent, sentinel: ErrInvalidPayload},
		{name: "unknown field", payload: enc(map[string]any{"url": srv.URL + "/echo", "method": "GET"}), want: permanent, sentinel: ErrInvalidPayload},
		{
			name:    "allow-list permits",
			cfg:     func(c *Config) { c.HTTPAllowHosts = []string{"127.0.0.1"} },
			payload: enc(map[string]any{"url": srv.URL + "/echo", "body": 1}),
			status:  200, body: "application/json||1",
		},
		{
			name:    "allow-list refuses",
			cfg:     func(c *Config) { c.HTTPAllowHosts = []string{"api.example.com", "*.example.org"} },
			payload: enc(map[string]any{"url": srv.URL + "/echo"}), want: permanent, sentinel: ErrHostNotAllowed, errHas: `"127.0.0.1"`,
		},
		{
			name:    "allow-list checks redirect targets",
			cfg:     func(c *Config) { c.HTTPAllowHosts = []string{"127.0.0.1"} },
			payload: enc(map[string]any{"url": srv.URL + "/redirect-localhost"}), want: permanent, sentinel: ErrHostNotAllowed, errHas: `"localhost"`,
		},
		{name: "redirect followed with body", payload: enc(map[string]any{"url": srv.URL + "/redirect-self", "body": 7}), status: 200, body: "application/json||7"},
		{name: "redirect to ftp refused", payload: enc(map[string]any{"url": srv.URL + "/redirect-ftp"}), want: permanent, sentinel: ErrInvalidPayload},
		{name: "redirect loop", payload: enc(map[string]any{"url": srv.URL + "/redirect-loop"}), want: permanent, errHas: "HTTPMaxRedirects"},
		{name: "redirects off: 3xx is the result", cfg: noRedirects, payload: enc(map[string]any{"url": srv.URL + "/redirect-self"}), status: 308, body: ""},
		{
			name:    "private addresses blocked",
			cfg:     func(c *Config) { c.HTTPBlockPrivate = true },
			payload: enc(map[string]any{"url": srv.URL + "/echo"}), want: permanent, sentinel: ErrHostNotAllowed, errHas: "HTTPBlockPrivate",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			h := handlerFor(t, cfg, TypeHTTP)
			res, err := h(context.Background(), jobs.Job{Type: TypeHTTP, Payload: json.RawMessage(tt.payload)})
			checkOutcome(t, err, tt.want, tt.sentinel, tt.errHas)
			if tt.want != ok {
				return
			}
			var got httpResult
			if err := json.Unmarshal(res, &got); err != nil {
				t.Fatalf("result %s: %v", res, err)
			}
			if got.Status != tt.status || got.Body != tt.body {
				t.Fatalf("result %+v, want status %d body %q", got, tt.status, tt.body)
			}
		})
	}
}

func TestHTTPHonoursCancellation(t *testing.T) {
	srv := newTestServer(t)
	h := handlerFor(t, DefaultConfig(), TypeHTTP)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h(ctx, jobs.Job{Type: TypeHTTP, Payload: json.RawMessage(`{"url": "` + srv.URL + `/slow"}`)})
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || jobs.IsPermanent(err) {
			t.Fatalf("err = %v, want context.Canceled, not permanent", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("http did not return within 5s of cancellation")
	}
}

func TestHostAllowed(t *testing.T) {
	allow := []string{"api.example.com", "*.example.org", "::1", "[fe80::1]", "Upper.Example.NET"}
	tests := []struct {
		host string
		want bool
	}{
		{"api.example.com", true},
		{"other.example.com", false},
		{"a.example.org", true},
		{"a.b.example.org", true},
		{"example.org", false},
		{"evilexample.org", false},
		{"::1", true},
		{"fe80::1", true},
		{"upper.example.net", true},
	}
	for _, tt := range tests {
		if got := hostAllowed(allow, normalizeHost(tt.host)); got != tt.want {
			t.Errorf("hostAllowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if !hostAllowed(nil, "anything.example") {
		t.Error("an empty allow-list must allow every host")
	}
}
