package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// outcomes collects done callbacks.
type outcomes struct {
	mu    sync.Mutex
	byID  map[string]Outcome
	calls map[string]int
}

func newOutcomes() *outcomes {
	return &outcomes{byID: map[string]Outcome{}, calls: map[string]int{}}
}

func (o *outcomes) done(j Job, out Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.byID[j.ID] = out
	o.calls[j.ID]++
}

func (o *outcomes) get(id string) (Outcome, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out, ok := o.byID[id]
	return out, ok
}

func (o *outcomes) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.byID)
}

func testExecutor(t *testing.T, concurrency int, timeout time.Duration) (*Executor, *Registry) {
	t.Helper()
	reg := NewRegistry()
	e, err := NewExecutor(ExecutorConfig{Concurrency: concurrency, DefaultTimeout: timeout}, reg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Stop(ctx)
	})
	return e, reg
}

func mustRegister(t *testing.T, r *Registry, typ string, h Handler) {
	t.Helper()
	if err := r.Register(typ, h); err != nil {
		t.Fatal(err)
	}
}

func idN(n int) string { return fmt.Sprintf("%032x", n) }

func TestExecutorConfig(t *testing.T) {
	if err := DefaultExecutorConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewExecutor(ExecutorConfig{}, NewRegistry(), zerolog.Nop()); err == nil {
		t.Fatal("zero config accepted")
	}
	if _, err := NewExecutor(DefaultExecutorConfig(), nil, zerolog.Nop()); err == nil {
		t.Fatal("nil registry accepted")
	}
}

func TestExecutorConcurrencyLimit(t *testing.T) {
	e, reg := testExecutor(t, 3, time.Minute)
	release := make(chan struct{})
	var inFlight, peak atomic.Int32
	mustRegister(t, reg, "block", func(ctx context.Context, j Job) (json.RawMessage, error) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		return json.RawMessage(`"ok"`), nil
	})
	o := newOutcomes()
	for i := 0; i < 3; i++ {
		if !e.TryRun(Job{ID: idN(i), Type: "block"}, o.done) {
			t.Fatalf("TryRun %d refused with free slots", i)
		}
	}
	if e.TryRun(Job{ID: idN(9), Type: "block"}, o.done) {
		t.Fatal("TryRun accepted a 4th job with concurrency 3")
	}
	if e.TryRun(Job{ID: idN(0), Type: "block"}, o.done) {
		t.Fatal("TryRun accepted a job already running")
	}
	if e.Free() != 0 || e.Running() != 3 {
		t.Fatalf("Free %d Running %d", e.Free(), e.Running())
	}
	if got := e.RunningIDs(); len(got) != 3 || got[0] != idN(0) || got[2] != idN(2) {
		t.Fatalf("RunningIDs = %v", got)
	}
	waitFor(t, "3 handlers in flight", func() bool { return inFlight.Load() == 3 })
	close(release)
	waitFor(t, "3 outcomes", func() bool { return o.count() == 3 })
	waitFor(t, "free slots", func() bool { return e.Free() == 3 })
	if peak.Load() != 3 {
		t.Fatalf("peak concurrency %d", peak.Load())
	}
	for i := 0; i < 3; i++ {
		out, _ := o.get(idN(i))
		if out.Err != nil || string(out.Result) != `"ok"` || out.Cancelled || out.TimedOut {
			t.Fatalf("outcome %+v", out)
		}
	}
	for id, n := range o.calls {
		if n != 1 {
			t.Fatalf("done called %d times for %s", n, id)
		}
	}
}

func TestExecutorDoneMayRunNext(t *testing.T) {
	e, reg := testExecutor(t, 1, time.Minute)
	mustRegister(t, reg, "echo", func(ctx context.Context, j Job) (json.RawMessage, error) { return j.Payload, nil })
	var chained atomic.Bool
	o := newOutcomes()
	e.TryRun(Job{ID: idN(1), Type: "echo"}, func(j Job, out Outcome) {
		o.done(j, out)
		chained.Store(e.TryRun(Job{ID: idN(2), Type: "echo"}, o.done))
	})
	waitFor(t, "both jobs", func() bool { return o.count() == 2 })
	if !chained.Load() {
		t.Fatal("TryRun from done found no free slot")
	}
}

func TestExecutorTimeout(t *testing.T) {
	e, reg := testExecutor(t, 2, time.Minute)
	mustRegister(t, reg, "wait", func(ctx context.Context, j Job) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	o := newOutcomes()
	e.TryRun(Job{ID: idN(1), Type: "wait", Timeout: 20 * time.Millisecond}, o.done)
	waitFor(t, "outcome", func() bool { return o.count() == 1 })
	out, _ := o.get(idN(1))
	if !out.TimedOut || out.Cancelled || out.Err == nil || !strings.Contains(out.Err.Error(), "timed out after 20ms") {
		t.Fatalf("outcome %+v", out)
	}

	// The executor's default applies to a job without a timeout.
	e2, reg2 := testExecutor(t, 1, 20*time.Millisecond)
	mustRegister(t, reg2, "wait", func(ctx context.Context, j Job) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	e2.TryRun(Job{ID: idN(2), Type: "wait"}, o.done)
	waitFor(t, "outcome", func() bool { return o.count() == 2 })
	if out, _ := o.get(idN(2)); !out.TimedOut {
		t.Fatalf("default timeout: %+v", out)
	}
}

func TestExecutorPanic(t *testing.T) {
	e, reg := testExecutor(t, 1, time.Minute)
	mustRegister(t, reg, "boom", func(ctx context.Context, j Job) (json.RawMessage, error) {
		panic("kaboom")
	})
	o := newOutcomes()
	e.TryRun(Job{ID: idN(1), Type: "boom"}, o.done)
	waitFor(t, "outcome", func() bool { return o.count() == 1 })
	out, _ := o.get(idN(1))
	if !out.Panicked || out.Permanent || out.Err == nil {
		t.Fatalf("outcome %+v", out)
	}
	msg := out.Err.Error()
	if !strings.HasPrefix(msg, "panic: kaboom\n") || !strings.Contains(msg, "executor_test.go") || len(msg) > 4000 {
		t.Fatalf("panic error:\n%s", msg)
	}
	// The executor survives: the slot is free again.
	waitFor(t, "free slot", func() bool { return e.Free() == 1 })
}

func TestExecutorUnknownType(t *testing.T) {
	e, _ := testExecutor(t, 1, time.Minute)
	o := newOutcomes()
	e.TryRun(Job{ID: idN(1), Type: "nope"}, o.done)
	waitFor(t, "outcome", func() bool { return o.count() == 1 })
	out, _ := o.get(idN(1))
	if !errors.Is(out.Err, ErrUnknownType) || out.Permanent {
		t.Fatalf("outcome %+v", out)
	}
}

func TestExecutorPermanentError(t *testing.T) {
	e, reg := testExecutor(t, 1, time.Minute)
	mustRegister(t, reg, "bad", func(ctx context.Context, j Job) (json.RawMessage, error) {
		return nil, Permanent(errors.New("bad input"))
	})
	o := newOutcomes()
	e.TryRun(Job{ID: idN(1), Type: "bad"}, o.done)
	waitFor(t, "outcome", func() bool { return o.count() == 1 })
	if out, _ := o.get(idN(1)); !out.Permanent || out.Err.Error() != "bad input" {
		t.Fatalf("outcome %+v", out)
	}
}

func TestExecutorCancel(t *testing.T) {
	e, reg := testExecutor(t, 2, time.Minute)
	started := make(chan struct{})
	mustRegister(t, reg, "wait", func(ctx context.Context, j Job) (json.RawMessage, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	o := newOutcomes()
	e.TryRun(Job{ID: idN(1), Type: "wait"}, o.done)
	<-started
	if e.Cancel(idN(99)) {
		t.Fatal("Cancel of an unknown job reported true")
	}
	begin := time.Now()
	if !e.Cancel(idN(1)) {
		t.Fatal("Cancel of a running job reported false")
	}
	waitFor(t, "outcome", func() bool { return o.count() == 1 })
	if d := time.Since(begin); d > time.Second {
		t.Fatalf("cancel took %s", d)
	}
	out, _ := o.get(idN(1))
	if !out.Cancelled || out.TimedOut || out.Err == nil {
		t.Fatalf("outcome %+v", out)
	}
}

func TestExecutorStopWaits(t *testing.T) {
	e, reg := testExecutor(t, 2, time.Minute)
	release := make(chan struct{})
	mustRegister(t, reg, "block", func(ctx context.Context, j Job) (json.RawMessage, error) {
		<-release
		return nil, nil
	})
	o := newOutcomes()
	e.TryRun(Job{ID: idN(1), Type: "block"}, o.done)
	stopped := make(chan struct{})
	go func() {
		e.Stop(context.Background())
		close(stopped)
	}()
	waitFor(t, "stop to refuse new jobs", func() bool { return e.Free() == 0 })
	if e.TryRun(Job{ID: idN(2), Type: "block"}, o.done) {
		t.Fatal("TryRun accepted a job during Stop")
	}
	select {
	case <-stopped:
		t.Fatal("Stop returned while a job was running")
	case <-time.After(20 * time.Millisecond): // an assertion window, not synchronization
	}
	close(release)
	<-stopped
	if out, ok := o.get(idN(1)); !ok || out.Cancelled || out.Err != nil {
		t.Fatalf("outcome %+v", out)
	}
	e.Stop(context.Background()) // twice is fine
}

func TestExecutorStopCancelsAtDeadline(t *testing.T) {
	e, reg := testExecutor(t, 4, time.Minute)
	var started atomic.Int32
	mustRegister(t, reg, "wait", func(ctx context.Context, j Job) (json.RawMessage, error) {
		started.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	o := newOutcomes()
	for i := 0; i < 3; i++ {
		e.TryRun(Job{ID: idN(i), Type: "wait"}, o.done)
	}
	waitFor(t, "handlers started", func() bool { return started.Load() == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ { // two concurrent Stops
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.Stop(ctx)
		}()
	}
	wg.Wait()
	if o.count() != 3 {
		t.Fatalf("Stop returned with %d of 3 outcomes", o.count())
	}
	for i := 0; i < 3; i++ {
		if out, _ := o.get(idN(i)); !out.Cancelled || out.TimedOut {
			t.Fatalf("outcome %+v", out)
		}
	}
	if e.Running() != 0 || e.Free() != 0 {
		t.Fatalf("after Stop: running %d free %d", e.Running(), e.Free())
	}
}
