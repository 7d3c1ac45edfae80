package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// errTooManyRedirects: an http job hit HTTPMaxRedirects. Permanent.
var errTooManyRedirects = errors.New("too many redirects")

type httpPayload struct {
	URL       string            `json:"url"`
	Body      json.RawMessage   `json:"body"`
	Headers   map[string]string `json:"headers"`
	TimeoutMS *int64            `json:"timeout_ms"`
}

type httpResult struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// newHTTPClient returns the client shared by http jobs: its own transport
// (so HTTPBlockPrivate can check dialled addresses) and a redirect policy
// that applies the scheme rule and HTTPAllowHosts to every hop.
func newHTTPClient(cfg Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if cfg.HTTPBlockPrivate {
		dialer.Control = refusePrivate
	}
	tr.DialContext = dialer.DialContext
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if cfg.HTTPMaxRedirects == 0 {
				return http.ErrUseLastResponse
			}
			if len(via) > cfg.HTTPMaxRedirects {
				return fmt.Errorf("%w: stopped after %d (HTTPMaxRedirects); call the final URL directly", errTooManyRedirects, cfg.HTTPMaxRedirects)
			}
			return checkURL(cfg, req.URL)
		},
	}
}

// refusePrivate is a net.Dialer Control function refusing addresses that
// HTTPBlockPrivate covers. It sees the address actually dialled, after name
// resolution.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dialled address %q", ErrHostNotAllowed, address)
	}
	a := ap.Addr().Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return fmt.Errorf("%w: %s is a loopback, private, link-local or multicast address and this worker blocks those (HTTPBlockPrivate)", ErrHostNotAllowed, a)
	}
	return nil
}

// checkURL applies the scheme rule and HTTPAllowHosts to u.
func checkURL(cfg Config, u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: url scheme %q; only http and https URLs are allowed", ErrInvalidPayload, u.Scheme)
	}
	host := normalizeHost(u.Hostname())
	if host == "" {
		return fmt.Errorf("%w: url %q has no host", ErrInvalidPayload, u.Redacted())
	}
	if !hostAllowed(cfg.HTTPAllowHosts, host) {
		return fmt.Errorf("%w: %q is not in this worker's allowed hosts %v; use an allowed host or add it to the worker's http allow-list",
			ErrHostNotAllowed, host, cfg.HTTPAllowHosts)
	}
	return nil
}

// hostAllowed reports whether host (normalised) matches allow; an empty
// allow-list allows every host.
func hostAllowed(allow []string, host string) bool {
	if len(allow) == 0 {
		return true
	}
	for _, pat := range allow {
		if suffix, wild := strings.CutPrefix(pat, "*."); wild {
			if strings.HasSuffix(host, "."+normalizeHost(suffix)) {
				return true
			}
		} else if host == normalizeHost(pat) {
			return true
		}
	}
	return false
}

// httpPost POSTs payload.body to payload.url.
func (h handlers) httpPost(ctx context.Context, job jobs.Job) (json.RawMessage, error) {
	var p httpPayload
	if err := decodePayload(job, &p); err != nil {
		return nil, err
	}
	if p.URL == "" {
		return nil, invalid(job.Type, `want {"url": "https://...", "body": {...}}; url is missing`)
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return nil, invalid(job.Type, "url: %v", err)
	}
	if err := checkURL(h.cfg, u); err != nil {
		return nil, jobs.Permanent(fmt.Errorf("%s: %w", job.Type, err))
	}
	timeout := h.cfg.HTTPTimeout
	if p.TimeoutMS != nil {
		ms := *p.TimeoutMS
		if ms <= 0 || ms > h.cfg.HTTPMaxTimeout.Milliseconds() {
			return nil, invalid(job.Type, "timeout_ms is %d; it must be between 1 and %d (%v)",
				ms, h.cfg.HTTPMaxTimeout.Milliseconds(), h.cfg.HTTPMaxTimeout)
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	for k, v := range p.Headers {
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n\x00") {
			return nil, invalid(job.Type, "header %q: invalid name or value", k)
		}
	}

	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if len(p.Body) > 0 {
		body = bytes.NewReader(p.Body)
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, u.String(), body)
	if err != nil {
		return nil, invalid(job.Type, "%v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "shoal-worker")
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}

	resp, err := h.http.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, ErrHostNotAllowed) || errors.Is(err, ErrInvalidPayload) || errors.Is(err, errTooManyRedirects):
			return nil, jobs.Permanent(fmt.Errorf("http: %w", err))
		case rctx.Err() != nil:
			return nil, fmt.Errorf("http: no response from %s within %v (timeout_ms): %w", u.Redacted(), timeout, err)
		}
		// Network error (refused, reset, DNS, TLS, ...): retryable.
		return nil, fmt.Errorf("http: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, httpBodyLimit+4))
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// A read error after the status line still leaves a usable excerpt.
	got := excerpt(raw, httpBodyLimit)

	if resp.StatusCode >= 400 {
		err := fmt.Errorf("http: %w: %s answered %d: %s", ErrHTTPStatus, u.Redacted(), resp.StatusCode, excerpt(raw, errExcerpt))
		if resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
			return nil, jobs.Permanent(err)
		}
		return nil, err
	}
	return json.Marshal(httpResult{Status: resp.StatusCode, Body: got})
}

// validHeaderName reports whether s is an HTTP token (RFC 9110, 5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}
