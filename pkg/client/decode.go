package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// Limits checked by JobSpec.Validate and the decoders. They bound what a
// hostile or mistaken client can make a worker store or compute.
const (
	// MaxNameLen bounds Type and Queue, in bytes.
	MaxNameLen = 128
	// MaxUniqueKeyLen bounds UniqueKey, in bytes.
	MaxUniqueKeyLen = 512
	// MaxPriority bounds Priority in both directions (a 32-bit range, so
	// priorities compare and add safely on every platform).
	MaxPriority = math.MaxInt32
	// MaxAttemptsLimit bounds MaxAttempts.
	MaxAttemptsLimit = 1000
	// MaxDuration bounds Delay, Timeout and UniqueTTL, so that now+d never
	// overflows.
	MaxDuration = 100 * 365 * 24 * time.Hour
)

// Validate checks what can be checked without a server: a type that is a
// name of ASCII letters, digits and . _ - : / (as the workers require), a
// queue of the same kind (or empty), bounded
// priority and attempts, non-negative durations, a payload that is valid JSON,
// a unique TTL only with a unique key, and not both RunAt and Delay. It
// returns an *Error with code bad_request (errors.Is(err, ErrBadRequest)).
// Whether the type has a handler, or the payload fits the limit, only the
// cluster knows.
func (s JobSpec) Validate() error {
	if s.Type == "" {
		return badRequest("job type is empty: name the handler that should run the job")
	}
	if err := checkName("job type", s.Type); err != nil {
		return err
	}
	if s.Queue != "" {
		if err := checkName("queue", s.Queue); err != nil {
			return err
		}
	}
	if s.Priority > MaxPriority || s.Priority < -MaxPriority {
		return badRequest("priority %d is out of range [-%d, %d]", s.Priority, MaxPriority, MaxPriority)
	}
	if s.MaxAttempts < 0 {
		return badRequest("max_attempts %d is negative: use 0 for the cluster's default", s.MaxAttempts)
	}
	if s.MaxAttempts > MaxAttemptsLimit {
		return badRequest("max_attempts %d is over the limit of %d", s.MaxAttempts, MaxAttemptsLimit)
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"delay", s.Delay}, {"timeout", s.Timeout}, {"unique_ttl", s.UniqueTTL}} {
		if d.v < 0 {
			return badRequest("%s %s is negative", d.name, d.v)
		}
		if d.v.Std() > MaxDuration {
			return badRequest("%s %s is over the limit of %s", d.name, d.v, MaxDuration)
		}
	}
	if !s.RunAt.IsZero() {
		if y := s.RunAt.Year(); y < 1 || y > 9999 {
			return badRequest("run_at is out of range (years 1 to 9999)")
		}
		if s.Delay != 0 {
			return badRequest("run_at and delay are both set: give one of them")
		}
	}
	if len(s.Payload) > 0 && !json.Valid(s.Payload) {
		return badRequest("payload is not valid JSON")
	}
	if len(s.UniqueKey) > MaxUniqueKeyLen {
		return badRequest("unique_key is %d bytes, over the limit of %d", len(s.UniqueKey), MaxUniqueKeyLen)
	}
	if strings.IndexByte(s.UniqueKey, 0) >= 0 {
		return badRequest("unique_key contains a NUL byte: remove it")
	}
	if s.UniqueTTL != 0 && s.UniqueKey == "" {
		return badRequest("unique_ttl is set without unique_key")
	}
	return nil
}

// checkName accepts 1..MaxNameLen bytes of ASCII letters, digits and
// . _ - : / (the workers' rule).
func checkName(what, v string) error {
	if len(v) > MaxNameLen {
		return badRequest("%s is %d bytes, over the limit of %d: use a shorter name", what, len(v), MaxNameLen)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == '-' || c == ':' || c == '/':
		default:
			return badRequest("%s %q may hold only letters, digits and . _ - : /", what, truncate(v, 64))
		}
	}
	return nil
}

// ValidID reports whether id looks like a job ID: 32 lowercase hex characters.
func ValidID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// NormalizeID trims spaces and lowercases id, so that IDs pasted from logs or
// typed in upper case work; the result may still be invalid.
func NormalizeID(id string) string { return strings.ToLower(strings.TrimSpace(id)) }

func checkID(id string) error {
	if id == "" {
		return badRequest("job ID is empty")
	}
	if !ValidID(id) {
		if len(id) > 64 {
			id = id[:64] + "..."
		}
		return badRequest("job ID %q is not 32 lowercase hex characters", id)
	}
	return nil
}

var states = map[jobs.State]bool{
	jobs.StateQueued: true, jobs.StateScheduled: true, jobs.StateRunning: true,
	jobs.StateSucceeded: true, jobs.StateDead: true, jobs.StateCancelled: true,
}

// ValidState reports whether s is one of the job states.
func ValidState(s jobs.State) bool { return states[s] }

// EndState reports whether s is an end state: succeeded, dead or cancelled.
func EndState(s jobs.State) bool {
	return s == jobs.StateSucceeded || s == jobs.StateDead || s == jobs.StateCancelled
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown fields
// and anything but whitespace after the value.
func decodeStrict(data []byte, v any, what string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return badRequest("%s: empty body: send a JSON object", what)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("%s: %s", what, describeJSONError(err, data))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("%s: unexpected data after the JSON object at offset %d", what, dec.InputOffset())
	}
	return nil
}

// describeJSONError turns a decoding error into a message with an offset.
func describeJSONError(err error, data []byte) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at offset %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return fmt.Sprintf("%s: expected %s, got %s at offset %d", field, te.Type, te.Value, te.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Sprintf("truncated JSON (%d bytes)", len(data))
	default:
		// Unknown fields, bad times and durations: the message names them.
		return strings.TrimPrefix(err.Error(), "json: ")
	}
}

// DecodeSubmitRequest decodes a SubmitRequest strictly: one JSON object, no
// unknown fields (in the request or in any job; the payload itself is free),
// nothing after it, 1 to maxJobs jobs (maxJobs <= 0 means MaxBatch). A
// malformed request is refused as a whole with an *Error of code bad_request
// (too_large for too many jobs). It does not call JobSpec.Validate: each job
// is accepted or refused on its own, so the caller validates each one and
// answers a per-job SubmitResult.
func DecodeSubmitRequest(data []byte, maxJobs int) (SubmitRequest, error) {
	if maxJobs <= 0 {
		maxJobs = MaxBatch
	}
	var req SubmitRequest
	if err := decodeStrict(data, &req, "submit request"); err != nil {
		return SubmitRequest{}, err
	}
	if len(req.Jobs) == 0 {
		return SubmitRequest{}, badRequest(`submit request: no jobs: send {"jobs":[{"type":"...","payload":{...}}]}`)
	}
	if len(req.Jobs) > maxJobs {
		return SubmitRequest{}, NewError(CodeTooLarge, "submit request: %d jobs, over the limit of %d per request: split it", len(req.Jobs), maxJobs)
	}
	return req, nil
}

// DecodeStatusRequest decodes a StatusRequest strictly and checks the ID.
func DecodeStatusRequest(data []byte) (StatusRequest, error) {
	var req StatusRequest
	if err := decodeStrict(data, &req, "status request"); err != nil {
		return StatusRequest{}, err
	}
	if err := checkID(req.ID); err != nil {
		return StatusRequest{}, err
	}
	return req, nil
}

// DecodeCancelRequest decodes a CancelRequest strictly and checks the ID.
func DecodeCancelRequest(data []byte) (CancelRequest, error) {
	var req CancelRequest
	if err := decodeStrict(data, &req, "cancel request"); err != nil {
		return CancelRequest{}, err
	}
	if err := checkID(req.ID); err != nil {
		return CancelRequest{}, err
	}
	return req, nil
}

// DecodeListRequest decodes a ListRequest strictly. An empty body means "no
// filter". State must be a job state; Limit 0 becomes DefaultListLimit; a
// negative Limit or one over MaxListLimit is refused.
func DecodeListRequest(data []byte) (ListRequest, error) {
	var req ListRequest
	if len(bytes.TrimSpace(data)) == 0 {
		req.Limit = DefaultListLimit
		return req, nil
	}
	if err := decodeStrict(data, &req, "list request"); err != nil {
		return ListRequest{}, err
	}
	return req, checkListRequest(&req)
}

func checkListRequest(req *ListRequest) error {
	if req.State != "" && !ValidState(req.State) {
		return badRequest("unknown state %q: use queued, scheduled, running, succeeded, dead or cancelled", truncate(string(req.State), 64))
	}
	if req.Queue != "" {
		if err := checkName("queue", req.Queue); err != nil {
			return err
		}
	}
	switch {
	case req.Limit < 0:
		return badRequest("limit %d is negative", req.Limit)
	case req.Limit == 0:
		req.Limit = DefaultListLimit
	case req.Limit > MaxListLimit:
		return badRequest("limit %d is over the maximum of %d", req.Limit, MaxListLimit)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
