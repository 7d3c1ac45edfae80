package harness

import (
	"context"
	"errors"
	"time"
)

// ErrNotApplicable marks a scenario that does not apply to a system (a
// one-node cluster has nowhere to fail over to); it is reported as a note.
var ErrNotApplicable = errors.New("not applicable")

// ErrUnavailable marks a System that cannot run here (a server not reachable,
// a part not built in). The harness skips such a system and says why.
var ErrUnavailable = errors.New("system unavailable")

// Sink receives what the workers of a System do. The harness provides it; a
// System calls it from its job handler and its completion signal.
type Sink interface {
	// Handle is the body of every benchmark job. enqueued is the time the job
	// was enqueued as stamped into its payload (zero if unstamped). It returns
	// when the job should complete; its error fails the attempt.
	Handle(ctx context.Context, enqueued time.Time) error
	// Completed is called once per job after the system recorded the job as
	// done, or as close to that as the system lets a client observe.
	Completed()
}

// System is one job queue under test.
type System interface {
	// Name is short and unique: "asynq", "river", "shoal-3".
	Name() string
	// Config says in one line how the system is configured; it is printed
	// with the results.
	Config() string
	// Setup connects and prepares storage (schema migrations). Called once.
	Setup(ctx context.Context) error
	// Reset empties every queue and table of jobs so that runs start equal.
	// Workers are stopped when it is called.
	Reset(ctx context.Context) error
	// Enqueue inserts n no-op jobs the fastest way the system documents
	// (batch inserts where it has them), each stamped with its enqueue time.
	Enqueue(ctx context.Context, n int) error
	// EnqueueOne inserts one job stamped with stamp; it is called from many
	// goroutines at once.
	EnqueueOne(ctx context.Context, stamp time.Time) error
	// Start starts the workers; they run jobs through sink until Stop.
	Start(ctx context.Context, sink Sink) error
	// Stop stops the workers. Safe to call twice and without Start.
	Stop(ctx context.Context) error
	// Teardown releases connections. Called once, last.
	Teardown(ctx context.Context) error
}

// FailoverEstimate is what a system's documented default settings imply for
// the time from a worker's death to its running job starting again.
type FailoverEstimate struct {
	// Min, Typical and Max bound the wait.
	Min, Typical, Max time.Duration
	// How names the settings and the arithmetic.
	How string
	// Cheap says a measurement takes seconds, not minutes: the harness then
	// measures even in quick mode.
	Cheap bool
}

// FailoverSystem is a System that can say, and possibly measure, how long
// a killed worker's job waits before it runs again.
type FailoverSystem interface {
	System
	// FailoverDefaults computes the wait from the documented defaults.
	FailoverDefaults() FailoverEstimate
	// MeasureFailover resets the system, kills (SIGKILL) a worker that is
	// running a job and returns the time until that job starts on a surviving worker. env
	// starts child workers of the same system. It gives up after timeout.
	MeasureFailover(ctx context.Context, env ChildEnv, timeout time.Duration) (time.Duration, error)
}

// ChildEnv starts a worker of a system in a child process: the bench binary
// run again in worker mode. The child's jobs block, so a job it picks stays
// running until the child is killed.
type ChildEnv interface {
	// StartChild starts the child and returns once its workers run.
	StartChild(ctx context.Context, system string) (Child, error)
}

// Child is a running child worker process.
type Child interface {
	// Started is closed when the child has started its first job.
	Started() <-chan struct{}
	// Kill sends SIGKILL and reaps the process; it returns the kill time.
	Kill() time.Time
}

// Unpausable is a System whose workers cannot be held back while jobs are
// enqueued (its nodes are its workers). Its burn-down is then timed from
// the first enqueue, not from Start, so that it is not flattered.
type Unpausable interface {
	RunsWhileEnqueueing() bool
}

// MemorySystem is a System whose nodes are processes the bench starts, so
// that their resident memory can be read.
type MemorySystem interface {
	System
	// MeasureRSS starts a fresh cluster of nodes nodes, reads each node's
	// resident set size once it is idle, submits queued jobs that stay
	// queued (the nodes' job slots are held by long jobs), reads it again
	// and stops the cluster.
	MeasureRSS(ctx context.Context, nodes, queued int) (RSSResult, error)
}
