package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// The job types Register adds.
const (
	TypeEcho  = "echo"
	TypeSleep = "sleep"
	TypeFail  = "fail"
	TypeHTTP  = "http"
	TypeExec  = "exec"
)

// Sentinel errors wrapped by the handlers' errors; test with errors.Is.
var (
	// ErrInvalidPayload: the payload does not match the handler's schema or
	// its limits. Always permanent.
	ErrInvalidPayload = errors.New("invalid payload")
	// ErrFailedOnPurpose: a fail job failing as asked. Retryable.
	ErrFailedOnPurpose = errors.New("failed on purpose")
	// ErrHostNotAllowed: an http job's URL or redirect target is refused by
	// HTTPAllowHosts or HTTPBlockPrivate. Permanent.
	ErrHostNotAllowed = errors.New("host not allowed")
	// ErrHTTPStatus: the server answered with an error status. Permanent for
	// 4xx other than 408 and 429, retryable otherwise.
	ErrHTTPStatus = errors.New("error status")
	// ErrCommandNotAllowed: an exec job names a command missing from
	// ExecAllow. Permanent.
	ErrCommandNotAllowed = errors.New("command not allowed")
	// ErrCommandFailed: an exec command exited with a non-zero status or was
	// killed by a signal. Retryable.
	ErrCommandFailed = errors.New("command failed")
)

// Result excerpt sizes.
const (
	httpBodyLimit = 1 << 10 // bytes of an http response body kept in the result
	execOutLimit  = 4 << 10 // bytes of exec stdout and of stderr kept in the result
	errExcerpt    = 256     // bytes of stderr or of a response body quoted in an error
)

// Register validates cfg and registers the handlers echo, sleep, fail, http
// and exec on r. exec is always registered: with an empty cfg.ExecAllow every
// exec job fails permanently with a message naming --exec-allow, which tells
// the submitter more than a missing handler would.
func Register(r *jobs.Registry, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := checkExecutables(cfg.ExecAllow); err != nil {
		return err
	}
	hs := handlers{
		cfg:  cfg,
		http: newHTTPClient(cfg),
	}
	for _, e := range []struct {
		typ string
		h   jobs.Handler
	}{
		{TypeEcho, hs.echo},
		{TypeSleep, hs.sleep},
		{TypeFail, hs.fail},
		{TypeHTTP, hs.httpPost},
		{TypeExec, hs.exec},
	} {
		if err := r.Register(e.typ, e.h); err != nil {
			return fmt.Errorf("builtin: register %q: %w", e.typ, err)
		}
	}
	return nil
}

// handlers holds what the handlers share. Its methods have the jobs.Handler
// signature.
type handlers struct {
	cfg  Config
	http *http.Client
}

// echo returns the payload unchanged.
func (handlers) echo(_ context.Context, job jobs.Job) (json.RawMessage, error) {
	if len(job.Payload) == 0 {
		return nil, nil
	}
	return bytes.Clone(job.Payload), nil
}

// decodePayload decodes job.Payload strictly into v: unknown fields and
// trailing data are refused, so that a misspelt field fails the job instead
// of being ignored. An empty or null payload leaves v as it is, as with
// jobs.RegisterFunc. Errors are permanent.
func decodePayload(job jobs.Job, v any) error {
	if p := bytes.TrimSpace(job.Payload); len(p) == 0 || bytes.Equal(p, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(job.Payload))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("unexpected data after the JSON value")
		}
	}
	if err != nil {
		return invalid(job.Type, "%v", err)
	}
	return nil
}

// invalid returns a permanent ErrInvalidPayload error for job type typ.
func invalid(typ, format string, a ...any) error {
	return jobs.Permanent(fmt.Errorf("%s: %w: %s", typ, ErrInvalidPayload, fmt.Sprintf(format, a...)))
}

// excerpt returns at most n bytes of b as a string, cut back to a UTF-8
// boundary so that a multi-byte character is not split. Invalid UTF-8 in b
// becomes U+FFFD when the string is marshalled to JSON.
func excerpt(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	cut := n
	for cut > 0 && cut > n-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
		cut--
	}
	if !utf8.RuneStart(b[cut]) {
		cut = n // not UTF-8 text: cut at n
	}
	return string(b[:cut])
}

// capWriter keeps the first limit bytes written to it (use a limit a few
// bytes above the excerpt's size, so that excerpt can find a UTF-8 boundary) and discards the rest
// while reporting success, so that a child process never blocks on a full
// pipe.
type capWriter struct {
	limit int
	buf   bytes.Buffer
	total int64
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.total += int64(len(p))
	if room := w.limit - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
