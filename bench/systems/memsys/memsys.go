// Package memsys is an in-memory job queue that implements harness.System:
// the fake the harness is tested with, and a floor for the bench's own
// overhead (what the harness measures when the queue costs nothing).
package memsys

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/bench/harness"
)

// System is a FIFO in memory served by Workers goroutines.
type System struct {
	workers int

	mu     sync.Mutex
	queue  []time.Time
	wake   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ harness.System = (*System)(nil)

// New returns a queue served by workers goroutines.
func New(workers int) (*System, error) {
	if workers < 1 {
		return nil, errors.New("memsys: workers must be at least 1")
	}
	return &System{workers: workers, wake: make(chan struct{}, 1)}, nil
}

// Name implements harness.System.
func (s *System) Name() string { return "mem" }

// Config implements harness.System.
func (s *System) Config() string { return fmt.Sprintf("in-memory FIFO, %d workers", s.workers) }

// Setup implements harness.System.
func (s *System) Setup(context.Context) error { return nil }

// Reset implements harness.System.
func (s *System) Reset(context.Context) error {
	s.mu.Lock()
	s.queue = nil
	s.mu.Unlock()
	return nil
}

func (s *System) push(stamps ...time.Time) {
	s.mu.Lock()
	s.queue = append(s.queue, stamps...)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Enqueue implements harness.System.
func (s *System) Enqueue(_ context.Context, n int) error {
	now := time.Now()
	stamps := make([]time.Time, n)
	for i := range stamps {
		stamps[i] = now
	}
	s.push(stamps...)
	return nil
}

// EnqueueOne implements harness.System.
func (s *System) EnqueueOne(_ context.Context, stamp time.Time) error {
	s.push(stamp)
	return nil
}

func (s *System) pop() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return time.Time{}, false
	}
	t := s.queue[0]
	s.queue = s.queue[1:]
	return t, true
}

// Start implements harness.System.
func (s *System) Start(ctx context.Context, sink harness.Sink) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return errors.New("memsys: already started")
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	for range s.workers {
		s.wg.Go(func() {
			for {
				if t, ok := s.pop(); ok {
					if sink.Handle(ctx, t) == nil {
						sink.Completed()
					}
					continue
				}
				select {
				case <-ctx.Done():
					return
				case <-s.wake:
				case <-time.After(time.Millisecond): // other idle workers poll
				}
			}
		})
	}
	return nil
}

// Stop implements harness.System.
func (s *System) Stop(context.Context) error {
	s.mu.Lock()
	cancel := s.cancel
	s.cancel = nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		s.wg.Wait()
	}
	return nil
}

// Teardown implements harness.System.
func (s *System) Teardown(ctx context.Context) error { return s.Stop(ctx) }
