package harness

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// recorder is the Sink of one run: it counts completions, notes the time of
// the last one and, when asked, keeps enqueue-to-start latencies.
type recorder struct {
	clock       func() time.Time
	keepLatency bool

	done     atomic.Int64
	lastDone atomic.Int64 // unix nanoseconds

	mu      sync.Mutex
	target  int64 // 0: not yet known
	reached chan struct{}
	closed  bool
	lat     []time.Duration
}

func newRecorder(clock func() time.Time, target int, keepLatency bool) *recorder {
	return &recorder{clock: clock, keepLatency: keepLatency, target: int64(target), reached: make(chan struct{})}
}

// Handle records the latency of a stamped job and completes it at once.
func (r *recorder) Handle(_ context.Context, enqueued time.Time) error {
	if r.keepLatency && !enqueued.IsZero() {
		d := r.clock().Sub(enqueued)
		r.mu.Lock()
		r.lat = append(r.lat, d)
		r.mu.Unlock()
	}
	return nil
}

// Completed counts one finished job.
func (r *recorder) Completed() {
	r.lastDone.Store(r.clock().UnixNano())
	n := r.done.Add(1)
	r.mu.Lock()
	if r.target > 0 && n >= r.target && !r.closed {
		r.closed = true
		close(r.reached)
	}
	r.mu.Unlock()
}

// setTarget sets the completion count to wait for, when it is known only
// after the jobs were enqueued.
func (r *recorder) setTarget(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.target = int64(n)
	if r.done.Load() >= r.target && !r.closed {
		r.closed = true
		close(r.reached)
	}
}

// wait blocks until the target is reached or ctx ends.
func (r *recorder) wait(ctx context.Context) error {
	select {
	case <-r.reached:
		return nil
	case <-ctx.Done():
		r.mu.Lock()
		target := r.target
		r.mu.Unlock()
		return fmt.Errorf("only %d of %d jobs completed before the run's deadline: %w", r.done.Load(), target, ctx.Err())
	}
}

func (r *recorder) last() time.Time { return time.Unix(0, r.lastDone.Load()) }

// latencies returns the recorded latencies, sorted.
func (r *recorder) latencies() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := slices.Clone(r.lat)
	slices.Sort(s)
	return s
}
