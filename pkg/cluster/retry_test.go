package cluster

import (
	"errors"
	"testing"
	"time"
)

func TestRetryFor(t *testing.T) {
	errOlric := errors.New("olric: operation timeout")
	for _, tc := range []struct {
		name      string
		failures  int   // op fails this many times, then succeeds
		failWith  error // what it fails with
		stopAfter int   // wait returns false on this wait (0: never)
		bound     time.Duration
		attempts  int
		err       error
		waits     []time.Duration
	}{
		{name: "first try succeeds", failures: 0, bound: time.Minute, attempts: 1},
		{name: "two timeouts then success", failures: 2, failWith: errOlric, bound: time.Minute, attempts: 3,
			waits: []time.Duration{time.Second, 2 * time.Second}},
		{name: "backoff is capped", failures: 5, failWith: errOlric, bound: time.Hour, attempts: 6,
			waits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
		{name: "gives up once the bound has passed", failures: 100, failWith: errOlric, bound: 10 * time.Second, attempts: 5, err: errOlric,
			// tries at 0, 1, 3, 7 and 12 s: the fifth is the first after the bound
			waits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}},
		{name: "stopped node: no retry", failures: 100, failWith: ErrStopped, bound: time.Hour, attempts: 1, err: ErrStopped},
		{name: "stopping while waiting", failures: 100, failWith: errOlric, bound: time.Hour, stopAfter: 2, attempts: 2, err: ErrStopped,
			waits: []time.Duration{time.Second, 2 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := time.Unix(1000, 0)
			now := func() time.Time { return clock }
			var waits []time.Duration
			wait := func(d time.Duration) bool {
				waits = append(waits, d)
				clock = clock.Add(d)
				return tc.stopAfter == 0 || len(waits) < tc.stopAfter
			}
			calls := 0
			op := func() error {
				calls++
				if calls <= tc.failures {
					return tc.failWith
				}
				return nil
			}
			attempts, err := retryFor(tc.bound, time.Second, 5*time.Second, now, wait, op)
			if attempts != tc.attempts || (tc.err == nil) != (err == nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("retryFor = (%d, %v), want (%d, %v)", attempts, err, tc.attempts, tc.err)
			}
			if len(waits) != len(tc.waits) {
				t.Fatalf("waited %v, want %v", waits, tc.waits)
			}
			for i := range waits {
				if waits[i] != tc.waits[i] {
					t.Fatalf("waited %v, want %v", waits, tc.waits)
				}
			}
		})
	}
}
