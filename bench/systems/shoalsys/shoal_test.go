package shoalsys_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/bench/systems/shoalsys"
)

// sink counts handled and completed jobs and keeps the latencies it saw.
type sink struct {
	handled, completed atomic.Int64
	mu                 sync.Mutex
	lat                []time.Duration
}

func (s *sink) Handle(_ context.Context, enqueued time.Time) error {
	s.handled.Add(1)
	s.mu.Lock()
	s.lat = append(s.lat, time.Since(enqueued))
	s.mu.Unlock()
	return nil
}

func (s *sink) Completed() { s.completed.Add(1) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunner needs a worker binary: build it with
// `go build -o /tmp/shoal-worker ./cmd/worker` in shoal's module and export
// BENCH_SHOAL_WORKER=/tmp/shoal-worker. It starts 2-node clusters on
// 127.0.70.61-62.
func TestRunner(t *testing.T) {
	bin := os.Getenv("BENCH_SHOAL_WORKER")
	if bin == "" {
		t.Skip("BENCH_SHOAL_WORKER not set: build shoal's worker and point it there")
	}
	s, err := shoalsys.New(shoalsys.DefaultConfig(bin, 2, 61))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := s.Setup(ctx); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { _ = s.Teardown(context.Background()) })

	t.Run("every job completes once", func(t *testing.T) {
		if err := s.Reset(ctx); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		const n = 1200
		if err := s.Enqueue(ctx, n); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		k := &sink{}
		if err := s.Start(ctx, k); err != nil {
			t.Fatalf("Start: %v", err)
		}
		waitFor(t, "all jobs completed", func() bool { return k.completed.Load() >= n })
		time.Sleep(300 * time.Millisecond) // room for a duplicate to show
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
		if got := k.completed.Load(); got != n {
			t.Errorf("completed %d, want %d (the probe job must not count)", got, n)
		}
		// Starts seen before Start had no sink to go to (shoal has no pause):
		// burn-down needs only the completions.
		if got := k.handled.Load(); got > n {
			t.Errorf("handled %d, more than the %d jobs", got, n)
		}
	})

	t.Run("enqueue-to-start latency", func(t *testing.T) {
		if err := s.Reset(ctx); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		k := &sink{}
		if err := s.Start(ctx, k); err != nil {
			t.Fatalf("Start: %v", err)
		}
		for range 20 {
			if err := s.EnqueueOne(ctx, time.Now()); err != nil {
				t.Fatalf("EnqueueOne: %v", err)
			}
		}
		waitFor(t, "20 jobs", func() bool { return k.completed.Load() >= 20 && k.handled.Load() >= 20 })
		_ = s.Stop(ctx)
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, d := range k.lat {
			if d <= 0 || d > 10*time.Second {
				t.Errorf("latency %s: want between 0 and 10s", d)
			}
		}
	})
}
