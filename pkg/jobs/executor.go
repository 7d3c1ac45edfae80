package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// ExecutorConfig configures an Executor.
type ExecutorConfig struct {
	// Concurrency is how many handlers run at once. Default 100: handlers
	// are mostly I/O bound (HTTP calls, sleeps); lower it for CPU-bound work.
	Concurrency int
	// DefaultTimeout bounds an attempt of a job whose Timeout is zero.
	// Default 5 minutes.
	DefaultTimeout time.Duration
}

// DefaultExecutorConfig returns the defaults described on ExecutorConfig.
func DefaultExecutorConfig() ExecutorConfig {
	return ExecutorConfig{Concurrency: 100, DefaultTimeout: 5 * time.Minute}
}

// Validate reports a configuration that cannot be used.
func (c ExecutorConfig) Validate() error {
	var errs []error
	if c.Concurrency < 1 || c.Concurrency > 1_000_000 {
		errs = append(errs, fmt.Errorf("executor concurrency is %d: use 1 to 1000000 (100 is the default)", c.Concurrency))
	}
	if c.DefaultTimeout <= 0 {
		errs = append(errs, fmt.Errorf("executor default timeout is %s: use a positive duration (5m is the default)", c.DefaultTimeout))
	}
	return errors.Join(errs...)
}

// Outcome is how one attempt ended.
type Outcome struct {
	// Result is the handler's output when Err is nil.
	Result json.RawMessage
	// Err is the attempt's error; nil means success.
	Err error
	// Permanent: Err must not be retried (see Permanent).
	Permanent bool
	// Panicked: the handler panicked; Err holds the value and a short stack.
	Panicked bool
	// TimedOut: the attempt's own timeout fired before the handler returned.
	TimedOut bool
	// Cancelled: the attempt was cancelled by Executor.Cancel or Stop before
	// the handler returned.
	Cancelled bool
	// Duration is how long the handler ran.
	Duration time.Duration
}

var (
	errCancelled = errors.New("jobs: attempt cancelled")
	errStopped   = errors.New("jobs: executor stopped")
	errTimedOut  = errors.New("jobs: attempt timed out")
)

// Executor runs handlers on goroutines, at most Concurrency at once. It
// decides nothing about job state: the caller turns each Outcome into a
// transition (Shard.Complete).
type Executor struct {
	cfg ExecutorConfig
	reg *Registry
	log zerolog.Logger

	mu      sync.Mutex
	running map[string]*execRun
	stopped bool
	wg      sync.WaitGroup
}

type execRun struct {
	cancel context.CancelCauseFunc
}

// NewExecutor returns an executor for the handlers of reg.
func NewExecutor(cfg ExecutorConfig, reg *Registry, log zerolog.Logger) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new executor: %w", err)
	}
	if reg == nil {
		return nil, errors.New("new executor: the registry is nil")
	}
	return &Executor{cfg: cfg, reg: reg, log: log, running: make(map[string]*execRun)}, nil
}

// TryRun starts job on a goroutine if a slot is free and returns true; done
// is then called exactly once, from that goroutine, after the handler
// returned and the slot was freed (so done may call TryRun for the next
// job). It returns false without blocking when every slot is busy, when a
// job with the same ID is already running here, or after Stop.
func (e *Executor) TryRun(job Job, done func(Job, Outcome)) bool {
	e.mu.Lock()
	if e.stopped || len(e.running) >= e.cfg.Concurrency {
		e.mu.Unlock()
		return false
	}
	if _, dup := e.running[job.ID]; dup {
		e.mu.Unlock()
		return false
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &execRun{cancel: cancel}
	e.running[job.ID] = r
	e.wg.Add(1)
	e.mu.Unlock()

	go e.run(ctx, r, job, done)
	return true
}

func (e *Executor) run(ctx context.Context, r *execRun, job Job, done func(Job, Outcome)) {
	defer e.wg.Done()
	timeout := job.Timeout
	if timeout <= 0 {
		timeout = e.cfg.DefaultTimeout
	}
	tctx, tcancel := context.WithTimeoutCause(ctx, timeout, errTimedOut)

	start := time.Now()
	out := e.call(tctx, job)
	out.Duration = time.Since(start)

	// Read the flags before releasing anything: a cancellation that comes
	// after the handler returned does not count.
	switch cause := context.Cause(tctx); {
	case errors.Is(cause, errCancelled) || errors.Is(cause, errStopped):
		out.Cancelled = true
	case errors.Is(cause, errTimedOut):
		out.TimedOut = true
		if out.Err != nil {
			out.Err = fmt.Errorf("timed out after %s: %w", timeout, out.Err)
		}
	}
	tcancel()
	r.cancel(nil)

	e.mu.Lock()
	if e.running[job.ID] == r {
		delete(e.running, job.ID)
	}
	e.mu.Unlock()

	if done != nil {
		done(job, out)
	}
}

// call runs the handler and turns a panic into a failed attempt.
func (e *Executor) call(ctx context.Context, job Job) (out Outcome) {
	h, ok := e.reg.Lookup(job.Type)
	if !ok {
		// Not permanent: during a rolling update another version of the
		// worker may know the type by the next attempt.
		out.Err = fmt.Errorf("%w %q: register a handler for it on every worker, or cancel the job", ErrUnknownType, job.Type)
		return out
	}
	defer func() {
		if v := recover(); v != nil {
			stack := shortStack(debug.Stack())
			out = Outcome{
				Err:      fmt.Errorf("panic: %v\n%s", v, stack),
				Panicked: true,
			}
			e.log.Error().Str("job", job.ID).Str("type", job.Type).Int("attempt", job.Attempt).
				Str("panic", fmt.Sprint(v)).Str("stack", stack).Msg("handler panicked; the attempt counts as failed")
		}
	}()
	res, err := h(ctx, job)
	if err != nil {
		return Outcome{Err: err, Permanent: IsPermanent(err)}
	}
	return Outcome{Result: res}
}

// shortStack keeps the frames from the panicking function on, at most 8
// frames, dropping the runtime's own.
func shortStack(stack []byte) string {
	lines := bytes.Split(bytes.TrimSpace(stack), []byte("\n"))
	// Skip to the frame after "panic(...)".
	start := 1
	for i, l := range lines {
		if bytes.HasPrefix(l, []byte("panic(")) {
			start = i + 2
			break
		}
	}
	if start > len(lines) {
		start = len(lines)
	}
	lines = lines[start:]
	if len(lines) > 16 {
		lines = lines[:16]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Cancel cancels the context of the running job id and reports whether it
// was running here. The job's done callback still follows, with
// Outcome.Cancelled set if the handler had not returned yet.
func (e *Executor) Cancel(id string) bool {
	e.mu.Lock()
	r, ok := e.running[id]
	e.mu.Unlock()
	if ok {
		r.cancel(errCancelled)
	}
	return ok
}

// Free returns how many more jobs TryRun would accept now (0 after Stop).
func (e *Executor) Free() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return 0
	}
	return e.cfg.Concurrency - len(e.running)
}

// Running returns how many handlers are running.
func (e *Executor) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.running)
}

// RunningIDs returns the IDs of the running jobs, sorted.
func (e *Executor) RunningIDs() []string {
	e.mu.Lock()
	ids := make([]string, 0, len(e.running))
	for id := range e.running {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	sort.Strings(ids)
	return ids
}

// Stop refuses new jobs and waits for the running ones to finish. When ctx
// ends first, it cancels every running job (Outcome.Cancelled) and waits for
// their handlers to return: a handler that ignores its context keeps Stop
// waiting. Stop is safe to call twice and from several goroutines.
func (e *Executor) Stop(ctx context.Context) {
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()

	finished := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return
	case <-ctx.Done():
	}
	e.mu.Lock()
	n := len(e.running)
	for _, r := range e.running {
		r.cancel(errStopped)
	}
	e.mu.Unlock()
	if n > 0 {
		e.log.Warn().Int("jobs", n).Msg("executor stop deadline reached; cancelled the running jobs, waiting for their handlers to return")
	}
	<-finished
}
