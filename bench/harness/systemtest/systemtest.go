// Package systemtest is the conformance suite every harness.System passes:
// the in-memory fake in its unit tests, asynq and River when their servers
// run (see the bench README), shoal when its runner is built in.
package systemtest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/bench/harness"
)

// sink counts handled and completed jobs and keeps the stamps it saw.
type sink struct {
	handled   atomic.Int64
	completed atomic.Int64
	mu        sync.Mutex
	stamps    []time.Time
}

func (s *sink) Handle(_ context.Context, t time.Time) error {
	s.handled.Add(1)
	s.mu.Lock()
	s.stamps = append(s.stamps, t)
	s.mu.Unlock()
	return nil
}

func (s *sink) Completed() { s.completed.Add(1) }

func waitFor(t *testing.T, what string, deadline time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", deadline, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Run checks the System contract: Setup once; Reset empties; Enqueue'd
// jobs each run once and complete once; EnqueueOne carries its stamp;
// Stop is safe twice and without Start; Start after Stop works again.
func Run(t *testing.T, s harness.System) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if s.Name() == "" || s.Config() == "" {
		t.Fatalf("Name %q and Config %q must not be empty", s.Name(), s.Config())
	}
	if err := s.Setup(ctx); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { _ = s.Teardown(context.Background()) })
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop without Start: %v", err)
	}

	t.Run("burn-down runs every job once", func(t *testing.T) {
		if err := s.Reset(ctx); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		const n = 500
		if err := s.Enqueue(ctx, n); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		k := &sink{}
		if err := s.Start(ctx, k); err != nil {
			t.Fatalf("Start: %v", err)
		}
		waitFor(t, "all jobs completed", time.Minute, func() bool { return k.completed.Load() >= n })
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
		if got := k.completed.Load(); got != n {
			t.Errorf("completed %d jobs, want %d", got, n)
		}
		if got := k.handled.Load(); got != n {
			t.Errorf("handled %d jobs, want %d", got, n)
		}
	})

	t.Run("reset empties the queue", func(t *testing.T) {
		if err := s.Enqueue(ctx, 50); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		if err := s.Reset(ctx); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		if err := s.EnqueueOne(ctx, time.Now()); err != nil {
			t.Fatalf("EnqueueOne: %v", err)
		}
		k := &sink{}
		if err := s.Start(ctx, k); err != nil {
			t.Fatalf("Start: %v", err)
		}
		waitFor(t, "the one job", time.Minute, func() bool { return k.completed.Load() >= 1 })
		// Give jobs that Reset failed to remove a chance to show up.
		settle := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(settle) {
			if k.completed.Load() > 1 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		_ = s.Stop(ctx)
		if got := k.completed.Load(); got != 1 {
			t.Errorf("completed %d jobs after Reset and one EnqueueOne, want 1", got)
		}
	})

	t.Run("EnqueueOne carries its stamp", func(t *testing.T) {
		if err := s.Reset(ctx); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		k := &sink{}
		if err := s.Start(ctx, k); err != nil {
			t.Fatalf("Start: %v", err)
		}
		stamp := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
		if err := s.EnqueueOne(ctx, stamp); err != nil {
			t.Fatalf("EnqueueOne: %v", err)
		}
		waitFor(t, "the stamped job", time.Minute, func() bool { return k.completed.Load() >= 1 })
		_ = s.Stop(ctx)
		k.mu.Lock()
		defer k.mu.Unlock()
		if len(k.stamps) != 1 || !k.stamps[0].Equal(stamp) {
			t.Errorf("stamps seen %v, want [%v]", k.stamps, stamp)
		}
	})
}
