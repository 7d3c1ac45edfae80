package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Handler runs one attempt of a job. It returns the job's result (JSON, may
// be nil) or an error; wrap the error with Permanent to stop retries. It must
// return soon after ctx is done (timeout, cancellation, drain).
type Handler func(ctx context.Context, job Job) (json.RawMessage, error)

// ErrUnknownType means no handler is registered for a job's type.
var ErrUnknownType = errors.New("jobs: unknown job type")

// ErrDuplicateHandler is returned by Register for a type registered before.
var ErrDuplicateHandler = errors.New("jobs: handler already registered")

// Registry maps job types to handlers. Register at start-up; Lookup is safe
// from many goroutines.
type Registry struct {
	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{handlers: make(map[string]Handler)}
}

// Register adds the handler of typ. It refuses an invalid type name, a nil
// handler and a type registered before (ErrDuplicateHandler).
func (r *Registry) Register(typ string, h Handler) error {
	if typ == "" {
		return fmt.Errorf("register handler: the type is empty: name it")
	}
	if err := checkName("type", typ, DefaultLimits().MaxNameLen); err != nil {
		return fmt.Errorf("register handler: %w", err)
	}
	if h == nil {
		return fmt.Errorf("register handler %q: the handler is nil", typ)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.handlers[typ]; ok {
		return fmt.Errorf("%w: %q: register each type once", ErrDuplicateHandler, typ)
	}
	r.handlers[typ] = h
	return nil
}

// Lookup returns the handler of typ.
func (r *Registry) Lookup(typ string) (Handler, bool) {
	r.mu.RLock()
	h, ok := r.handlers[typ]
	r.mu.RUnlock()
	return h, ok
}

// Types returns the registered types, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	out := make([]string, 0, len(r.handlers))
	for t := range r.handlers {
		out = append(out, t)
	}
	r.mu.RUnlock()
	sort.Strings(out)
	return out
}

// RegisterFunc registers a typed handler: the payload is decoded from JSON
// into In (an empty or null payload gives In's zero value; a payload that
// does not decode is a permanent failure, since retrying cannot fix it), and
// fn's Out is encoded as the job's JSON result.
func RegisterFunc[In, Out any](r *Registry, typ string, fn func(ctx context.Context, in In) (Out, error)) error {
	if fn == nil {
		return fmt.Errorf("register handler %q: the function is nil", typ)
	}
	return r.Register(typ, func(ctx context.Context, job Job) (json.RawMessage, error) {
		var in In
		if p := bytes.TrimSpace(job.Payload); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
			if err := json.Unmarshal(p, &in); err != nil {
				return nil, Permanent(fmt.Errorf("decode the %s payload: %w: fix the submitted payload", typ, err))
			}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		res, err := json.Marshal(out)
		if err != nil {
			return nil, Permanent(fmt.Errorf("encode the %s result: %w", typ, err))
		}
		return res, nil
	})
}

// permanentError marks an error that must not be retried.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the job is dead at once instead of being
// retried. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	if IsPermanent(err) {
		return err
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
