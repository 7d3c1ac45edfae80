package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidJob is matched (errors.Is) by every error of Normalize: the job
// was refused and nothing changed.
var ErrInvalidJob = errors.New("jobs: invalid job")

// ErrPayloadTooLarge is matched by the error of Normalize for a payload above
// Limits.MaxPayload (which also matches ErrInvalidJob).
var ErrPayloadTooLarge = errors.New("jobs: payload too large")

// invalidError is a refusal of Normalize; its message says what to change.
type invalidError struct {
	kind error // ErrInvalidJob or a more precise sentinel
	msg  string
}

func (e *invalidError) Error() string { return "invalid job: " + e.msg }

func (e *invalidError) Is(target error) bool { return target == ErrInvalidJob || target == e.kind }

func invalid(format string, args ...any) error {
	return &invalidError{kind: ErrInvalidJob, msg: fmt.Sprintf(format, args...)}
}

// Limits bound what a submitter may ask for. The zero value of a field means
// its default (see DefaultLimits).
type Limits struct {
	// MaxPayload is the largest payload in bytes. Default 1 MiB: jobs carry
	// references to large data, not the data.
	MaxPayload int
	// MaxAttempts caps a job's MaxAttempts. Default 100.
	MaxAttempts int
	// DefaultMaxAttempts is a job's MaxAttempts when it asks for none.
	// Default DefaultMaxAttempts (25).
	DefaultMaxAttempts int
	// MaxTimeout caps a job's Timeout. Default 24 h.
	MaxTimeout time.Duration
	// MaxDelay caps how far in the future RunAt may be. Default 366 days.
	MaxDelay time.Duration
	// DefaultUniqueTTL is UniqueTTL when a job has a UniqueKey and no TTL.
	// Default 1 h.
	DefaultUniqueTTL time.Duration
	// MaxUniqueTTL caps UniqueTTL. Default 30 days.
	MaxUniqueTTL time.Duration
	// MaxNameLen caps the length of Type and Queue. Default 128.
	MaxNameLen int
	// MaxUniqueKeyLen caps the length of UniqueKey. Default 512.
	MaxUniqueKeyLen int
}

// DefaultLimits returns the limits described on each field of Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxPayload:         1 << 20,
		MaxAttempts:        100,
		DefaultMaxAttempts: DefaultMaxAttempts,
		MaxTimeout:         24 * time.Hour,
		MaxDelay:           366 * 24 * time.Hour,
		DefaultUniqueTTL:   time.Hour,
		MaxUniqueTTL:       30 * 24 * time.Hour,
		MaxNameLen:         128,
		MaxUniqueKeyLen:    512,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxPayload == 0 {
		l.MaxPayload = d.MaxPayload
	}
	if l.MaxAttempts == 0 {
		l.MaxAttempts = d.MaxAttempts
	}
	if l.DefaultMaxAttempts == 0 {
		l.DefaultMaxAttempts = d.DefaultMaxAttempts
	}
	if l.MaxTimeout == 0 {
		l.MaxTimeout = d.MaxTimeout
	}
	if l.MaxDelay == 0 {
		l.MaxDelay = d.MaxDelay
	}
	if l.DefaultUniqueTTL == 0 {
		l.DefaultUniqueTTL = d.DefaultUniqueTTL
	}
	if l.MaxUniqueTTL == 0 {
		l.MaxUniqueTTL = d.MaxUniqueTTL
	}
	if l.MaxNameLen == 0 {
		l.MaxNameLen = d.MaxNameLen
	}
	if l.MaxUniqueKeyLen == 0 {
		l.MaxUniqueKeyLen = d.MaxUniqueKeyLen
	}
	return l
}

// Validate reports limits that cannot be used (negative values, a default
// above its cap).
func (l Limits) Validate() error {
	l = l.withDefaults()
	var errs []error
	if l.MaxPayload < 0 || l.MaxAttempts < 0 || l.DefaultMaxAttempts < 0 || l.MaxTimeout < 0 ||
		l.MaxDelay < 0 || l.DefaultUniqueTTL < 0 || l.MaxUniqueTTL < 0 || l.MaxNameLen < 0 || l.MaxUniqueKeyLen < 0 {
		errs = append(errs, errors.New("job limits must not be negative"))
	}
	if l.DefaultMaxAttempts > l.MaxAttempts {
		errs = append(errs, fmt.Errorf("default max attempts %d is above the cap %d: lower it or raise the cap", l.DefaultMaxAttempts, l.MaxAttempts))
	}
	if l.DefaultUniqueTTL > l.MaxUniqueTTL {
		errs = append(errs, fmt.Errorf("default unique TTL %s is above the cap %s: lower it or raise the cap", l.DefaultUniqueTTL, l.MaxUniqueTTL))
	}
	return errors.Join(errs...)
}

// DefaultQueue is the queue of a job submitted without one.
const DefaultQueue = "default"

// Normalize checks a newly submitted job and fills its defaults, in place:
//
//   - ID: a new one if empty (UniqueID when UniqueKey is set, NewID
//     otherwise); a given ID must be valid and, with a UniqueKey, must come
//     from UniqueID for that key (so the key's shard decides).
//   - Type: required; Queue: "default" if empty. Both letters, digits and
//     . _ - : / only, at most MaxNameLen bytes.
//   - Payload: valid JSON (empty is allowed and means none), at most
//     MaxPayload bytes.
//   - MaxAttempts: DefaultMaxAttempts if zero, at most the cap; Timeout and
//     UniqueTTL non-negative and capped; UniqueTTL defaults with a UniqueKey.
//   - RunAt: a time after now makes the job scheduled (at most MaxDelay
//     ahead); a time at or before now is cleared and the job is queued.
//   - The fields the server owns are reset: State, Attempt, Runner, Result,
//     LastError, StartedAt, FinishedAt; CreatedAt and UpdatedAt are now.
//
// Every error matches ErrInvalidJob and says what to change; the job may be
// partly modified when an error is returned.
func (j *Job) Normalize(now time.Time, limits Limits) error {
	l := limits.withDefaults()
	now = stamp(now)

	if j.Type == "" {
		return invalid("type is empty: name the handler that runs the job")
	}
	if err := checkName("type", j.Type, l.MaxNameLen); err != nil {
		return err
	}
	if j.Queue == "" {
		j.Queue = DefaultQueue
	}
	if err := checkName("queue", j.Queue, l.MaxNameLen); err != nil {
		return err
	}

	if n := len(j.Payload); n > l.MaxPayload {
		return &invalidError{kind: ErrPayloadTooLarge, msg: fmt.Sprintf(
			"payload is %s, the limit is %s: store large inputs elsewhere and pass a reference, or raise --max-payload",
			formatBytes(n), formatBytes(l.MaxPayload))}
	}
	if len(j.Payload) > 0 && !json.Valid(j.Payload) {
		return invalid("payload is not valid JSON: send a JSON value (an object, array, string, number, true, false or null)")
	}
	if len(j.Payload) == 0 {
		j.Payload = nil
	}

	switch {
	case j.MaxAttempts == 0:
		j.MaxAttempts = l.DefaultMaxAttempts
	case j.MaxAttempts < 0:
		return invalid("max_attempts is %d: use a positive number, or 0 for the default (%d)", j.MaxAttempts, l.DefaultMaxAttempts)
	case j.MaxAttempts > l.MaxAttempts:
		return invalid("max_attempts is %d, the limit is %d: lower it, or raise --max-attempts", j.MaxAttempts, l.MaxAttempts)
	}
	if j.Timeout < 0 {
		return invalid("timeout is %s: use a positive duration, or 0 for the worker's default", j.Timeout)
	}
	if j.Timeout > l.MaxTimeout {
		return invalid("timeout is %s, the limit is %s: split the work into shorter jobs, or raise --max-timeout", j.Timeout, l.MaxTimeout)
	}

	if j.UniqueKey == "" {
		if j.UniqueTTL != 0 {
			return invalid("unique_ttl is set without a unique_key: set a unique_key or drop the TTL")
		}
	} else {
		if len(j.UniqueKey) > l.MaxUniqueKeyLen {
			return invalid("unique_key is %d bytes, the limit is %d: use a shorter key (a hash of the long one)", len(j.UniqueKey), l.MaxUniqueKeyLen)
		}
		if strings.IndexByte(j.UniqueKey, 0) >= 0 {
			return invalid("unique_key contains a NUL byte: remove it")
		}
		switch {
		case j.UniqueTTL == 0:
			j.UniqueTTL = l.DefaultUniqueTTL
		case j.UniqueTTL < 0:
			return invalid("unique_ttl is %s: use a positive duration, or 0 for the default (%s)", j.UniqueTTL, l.DefaultUniqueTTL)
		case j.UniqueTTL > l.MaxUniqueTTL:
			return invalid("unique_ttl is %s, the limit is %s: lower it", j.UniqueTTL, l.MaxUniqueTTL)
		}
	}

	switch {
	case j.ID == "":
		if j.UniqueKey != "" {
			j.ID = UniqueID(j.Queue, j.Type, j.UniqueKey)
		} else {
			j.ID = NewID()
		}
	case !ValidID(j.ID):
		return invalid("id %q is not 32 lowercase hex characters: leave it empty and the server picks one", j.ID)
	case j.UniqueKey != "" && j.ID[:shardPrefixLen] != uniquePrefix(j.Queue, j.Type, j.UniqueKey):
		return invalid("id %s was not made for its unique_key: leave the id empty, or build it with UniqueID(queue, type, key)", j.ID)
	}

	j.State = StateQueued
	if !j.RunAt.IsZero() {
		if j.RunAt.After(now) {
			if j.RunAt.Sub(now) > l.MaxDelay {
				return invalid("run_at %s is more than %s ahead: schedule it later, closer to its time", j.RunAt.Format(time.RFC3339), l.MaxDelay)
			}
			j.State = StateScheduled
			j.RunAt = stamp(j.RunAt)
		} else {
			j.RunAt = time.Time{}
		}
	}

	j.Attempt = 0
	j.Runner = ""
	j.Result = nil
	j.LastError = ""
	j.CreatedAt = now
	j.UpdatedAt = now
	j.StartedAt = time.Time{}
	j.FinishedAt = time.Time{}
	return nil
}

// checkName accepts letters, digits and . _ - : / (no spaces or control
// characters, so names are safe in logs, metrics labels and NATS subjects'
// payloads).
func checkName(field, s string, maxLen int) error {
	if len(s) > maxLen {
		return invalid("%s is %d bytes, the limit is %d: use a shorter name", field, len(s), maxLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == '-' || c == ':' || c == '/':
		default:
			return invalid("%s %q has the character %q: use letters, digits and . _ - : / only", field, s, c)
		}
	}
	return nil
}

// formatBytes renders a size for people: "900 B", "512 KiB", "2.1 MiB".
func formatBytes(n int) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<10))) + " KiB"
	default:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<20))) + " MiB"
	}
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }
