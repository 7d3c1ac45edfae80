package discovery

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fakeStrategy answers with whatever the test sets; notify makes it a
// Notifier.
type fakeStrategy struct {
	mu      sync.Mutex
	peers   []Peer
	err     error
	lookups int
}

func (f *fakeStrategy) Name() string { return "fake" }

func (f *fakeStrategy) Lookup(ctx context.Context) ([]Peer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.err != nil {
		return nil, f.err
	}
	return slices.Clone(f.peers), nil
}

func (f *fakeStrategy) set(p []Peer, err error) {
	f.mu.Lock()
	f.peers, f.err = p, err
	f.mu.Unlock()
}

func (f *fakeStrategy) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

type notifyingFake struct {
	fakeStrategy
	ch chan struct{}
}

func (n *notifyingFake) Changes() <-chan struct{} { return n.ch }

func (n *notifyingFake) notify() {
	select {
	case n.ch <- struct{}{}:
	default:
	}
}

// logBuffer is a zerolog writer safe for the watcher's goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const deadline = 5 * time.Second

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func nextUpdate(t *testing.T, w *Watcher) []Peer {
	t.Helper()
	select {
	case p, ok := <-w.Updates():
		if !ok {
			t.Fatal("Updates closed")
		}
		return p
	case <-time.After(deadline):
		t.Fatal("timed out waiting for an update")
	}
	return nil
}

// settled waits until the watcher has finished handling every lookup before
// the current one: the run loop is sequential, so once lookup n+2 started,
// the result of n+1 (the first one after this call) has been handled.
func settled(t *testing.T, w *Watcher, f *fakeStrategy) {
	t.Helper()
	n := f.count()
	for _, want := range []int{n + 1, n + 2} {
		eventually(t, "a lookup", func() bool {
			w.Refresh()
			return f.count() >= want
		})
	}
}

func noUpdate(t *testing.T, w *Watcher) {
	t.Helper()
	select {
	case p := <-w.Updates():
		t.Fatalf("unexpected update %v", p)
	default:
	}
}

func startWatcher(t *testing.T, s Strategy, cfg WatcherConfig, logs *logBuffer) *Watcher {
	t.Helper()
	log := zerolog.Nop()
	if logs != nil {
		log = zerolog.New(logs)
	}
	w, err := NewWatcher(s, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

func TestWatcherPublishesChanges(t *testing.T) {
	f := &fakeStrategy{peers: peers("10.0.0.2", "10.0.0.1", "10.0.0.1")}
	w := startWatcher(t, f, WatcherConfig{Interval: time.Hour, Settle: time.Millisecond}, nil)

	if got, want := nextUpdate(t, w), peers("10.0.0.1", "10.0.0.2"); !slices.Equal(got, want) {
		t.Fatalf("first update %v, want %v", got, want)
	}
	if got := w.Peers(); !slices.Equal(got, peers("10.0.0.1", "10.0.0.2")) {
		t.Fatalf("Peers() = %v", got)
	}

	// The same set in another order is no change.
	f.set(peers("10.0.0.2", "10.0.0.1"), nil)
	settled(t, w, f)
	noUpdate(t, w)

	tests := []struct {
		name string
		set  []Peer
	}{
		{"a peer joins", peers("10.0.0.1", "10.0.0.2", "10.0.0.3")},
		{"a peer leaves", peers("10.0.0.1", "10.0.0.3")},
		{"a port changes", peers("10.0.0.1", "10.0.0.3:8081")},
		{"readiness changes", []Peer{{Host: "10.0.0.1", Ready: true}, {Host: "10.0.0.3", Port: 8081}}},
	}
	for _, tc := range tests {
		f.set(tc.set, nil)
		w.Refresh()
		if got := nextUpdate(t, w); !slices.Equal(got, tc.set) {
			t.Fatalf("%s: update %v, want %v", tc.name, got, tc.set)
		}
	}
}

func TestWatcherPollsPeriodically(t *testing.T) {
	f := &fakeStrategy{peers: peers("10.0.0.1")}
	w := startWatcher(t, f, WatcherConfig{Interval: 10 * time.Millisecond, Settle: time.Millisecond}, nil)
	nextUpdate(t, w)
	for _, set := range [][]Peer{peers("10.0.0.1", "10.0.0.2"), peers("10.0.0.2")} {
		f.set(set, nil) // no Refresh: the ticker finds it
		if got := nextUpdate(t, w); !slices.Equal(got, set) {
			t.Fatalf("update %v, want %v", got, set)
		}
	}
}

func TestWatcherCoalescesBursts(t *testing.T) {
	f := &notifyingFake{fakeStrategy: fakeStrategy{peers: peers("10.0.0.1")}, ch: make(chan struct{}, 1)}
	w := startWatcher(t, f, WatcherConfig{Interval: time.Hour, Settle: 300 * time.Millisecond}, nil)
	nextUpdate(t, w)

	// A rolling update: three changes in quick succession, each notified.
	base := f.count()
	f.set(peers("10.0.0.1", "10.0.0.2"), nil)
	f.notify()
	eventually(t, "the notification's lookup", func() bool { return f.count() > base })
	f.set(peers("10.0.0.1", "10.0.0.2", "10.0.0.3"), nil)
	f.notify()
	final := peers("10.0.0.2", "10.0.0.3", "10.0.0.4")
	f.set(final, nil)
	f.notify()

	if got := nextUpdate(t, w); !slices.Equal(got, final) {
		t.Fatalf("update %v, want only the final set %v", got, final)
	}
	settled(t, w, &f.fakeStrategy)
	noUpdate(t, w)
}

func TestWatcherKeepsLastSetOnErrors(t *testing.T) {
	logs := &logBuffer{}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := &fakeStrategy{peers: peers("10.0.0.1", "10.0.0.2")}
	w := startWatcher(t, f, WatcherConfig{Interval: time.Hour, Settle: time.Millisecond, EmptyGrace: time.Minute, Now: clock.Now}, logs)
	last := nextUpdate(t, w)

	tests := []struct {
		name string
		err  error
	}{
		{"SERVFAIL", errors.New("lookup workers: server misbehaving")},
		{"timeout", context.DeadlineExceeded},
		{"empty answer inside the grace", ErrEmptyAnswer},
	}
	for _, tc := range tests {
		f.set(nil, tc.err)
		for range 3 {
			settled(t, w, f)
		}
		noUpdate(t, w)
		if got := w.Peers(); !slices.Equal(got, last) {
			t.Fatalf("%s: Peers() = %v, want the last set %v", tc.name, got, last)
		}
	}
	// A strategy that breaks the contract (no peers, no error) is not believed
	// either.
	f.set([]Peer{}, nil)
	settled(t, w, f)
	noUpdate(t, w)

	if n := logs.count(`"level":"warn"`); n != 1 {
		t.Errorf("%d warnings for one failure streak, want 1:\n%s", n, logs.b.String())
	}
	f.set(last, nil)
	settled(t, w, f)
	noUpdate(t, w) // back to the same set: nothing to publish
	if logs.count("discovery lookups work again") != 1 {
		t.Errorf("no recovery line:\n%s", logs.b.String())
	}

	// A new streak warns again.
	f.set(nil, errors.New("refused"))
	settled(t, w, f)
	if n := logs.count(`"level":"warn"`); n != 2 {
		t.Errorf("%d warnings after a second streak, want 2", n)
	}
}

func TestWatcherEmptyGrace(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := &fakeStrategy{peers: peers("10.0.0.1")}
	w := startWatcher(t, f, WatcherConfig{Interval: time.Hour, Settle: time.Millisecond, EmptyGrace: 30 * time.Second, Now: clock.Now}, nil)
	nextUpdate(t, w)

	f.set(nil, ErrEmptyAnswer)
	settled(t, w, f) // the streak starts here
	clock.Add(29 * time.Second)
	settled(t, w, f)
	noUpdate(t, w)

	// A success in between restarts the streak.
	f.set(peers("10.0.0.1"), nil)
	settled(t, w, f)
	f.set(nil, ErrEmptyAnswer)
	settled(t, w, f)
	clock.Add(29 * time.Second)
	settled(t, w, f)
	noUpdate(t, w)

	clock.Add(time.Second)
	w.Refresh()
	if got := nextUpdate(t, w); len(got) != 0 {
		t.Fatalf("after the grace: update %v, want the empty set", got)
	}
	if got := w.Peers(); len(got) != 0 {
		t.Fatalf("Peers() = %v, want none", got)
	}
	f.set(peers("10.0.0.5"), nil)
	w.Refresh()
	if got := nextUpdate(t, w); !slices.Equal(got, peers("10.0.0.5")) {
		t.Fatalf("update %v", got)
	}
}

func TestWatcherNeverBelievesEmptyWithNegativeGrace(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := &fakeStrategy{peers: peers("10.0.0.1")}
	w := startWatcher(t, f, WatcherConfig{Interval: time.Hour, Settle: time.Millisecond, EmptyGrace: -1, Now: clock.Now}, nil)
	nextUpdate(t, w)
	f.set(nil, ErrEmptyAnswer)
	settled(t, w, f)
	clock.Add(1000 * time.Hour)
	settled(t, w, f)
	noUpdate(t, w)
	if got := w.Peers(); !slices.Equal(got, peers("10.0.0.1")) {
		t.Fatalf("Peers() = %v", got)
	}
}

func TestWatcherFirstLookupFails(t *testing.T) {
	f := &fakeStrategy{err: errors.New("servfail")}
	w := startWatcher(t, f, WatcherConfig{Interval: time.Hour, Settle: time.Hour}, nil)
	settled(t, w, f)
	if w.Peers() != nil {
		t.Fatal("peers before any successful lookup")
	}
	f.set(peers("10.0.0.1"), nil)
	w.Refresh()
	// The first set is published at once, without waiting for Settle.
	if got := nextUpdate(t, w); !slices.Equal(got, peers("10.0.0.1")) {
		t.Fatalf("update %v", got)
	}
}

func TestWatcherUpdatesKeepsNewest(t *testing.T) {
	f := &fakeStrategy{peers: peers("10.0.0.1")}
	w := startWatcher(t, f, WatcherConfig{Interval: time.Hour, Settle: time.Millisecond}, nil)
	eventually(t, "first set", func() bool { return len(w.Peers()) == 1 })
	for _, host := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		f.set(peers(host), nil)
		eventually(t, host, func() bool {
			w.Refresh()
			return slices.Equal(w.Peers(), peers(host))
		})
	}
	if got := nextUpdate(t, w); !slices.Equal(got, peers("10.0.0.4")) {
		t.Fatalf("unread updates: got %v, want only the newest", got)
	}
	noUpdate(t, w)
}

func TestWatcherLifecycle(t *testing.T) {
	f := &fakeStrategy{peers: peers("10.0.0.1")}
	w, err := NewWatcher(f, DefaultWatcherConfig(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); !errors.Is(err, ErrWatcherStarted) {
		t.Fatalf("second Start: %v", err)
	}
	nextUpdate(t, w)
	w.Stop()
	w.Stop()
	if _, ok := <-w.Updates(); ok {
		t.Fatal("Updates still open after Stop")
	}

	// Stop without Start, and Start after Stop.
	w2, _ := NewWatcher(f, WatcherConfig{}, zerolog.Nop())
	w2.Stop()
	w2.Stop()
	if err := w2.Start(ctx); !errors.Is(err, ErrWatcherStarted) {
		t.Fatalf("Start after Stop: %v", err)
	}

	// Cancelling the context stops it too.
	w3, _ := NewWatcher(f, WatcherConfig{}, zerolog.Nop())
	ctx3, cancel3 := context.WithCancel(context.Background())
	_ = w3.Start(ctx3)
	nextUpdate(t, w3)
	cancel3()
	select {
	case _, ok := <-w3.Updates():
		if ok {
			t.Fatal("update after cancel")
		}
	case <-time.After(deadline):
		t.Fatal("watcher did not stop on cancel")
	}
	w3.Stop()

	if _, err := NewWatcher(nil, WatcherConfig{}, zerolog.Nop()); err == nil {
		t.Error("nil strategy accepted")
	}
	if _, err := NewWatcher(f, WatcherConfig{Interval: -1}, zerolog.Nop()); err == nil {
		t.Error("negative interval accepted")
	}
}

// TestWatcherOverRealDNS runs the whole chain against a real DNS server.
func TestWatcherOverRealDNS(t *testing.T) {
	z := startZone(t, "4")
	const name = "compose-worker.shoal.test."
	z.set(name, "10.0.2.1")
	s, err := NewDNS(DNSConfig{Name: name, Resolver: z.Addr, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, s, WatcherConfig{Interval: 20 * time.Millisecond, Settle: 50 * time.Millisecond}, nil)
	if got := nextUpdate(t, w); !slices.Equal(got, peers("10.0.2.1")) {
		t.Fatalf("first update %v", got)
	}
	// docker compose up --scale worker=3: records appear.
	z.set(name, "10.0.2.1", "10.0.2.2", "10.0.2.3")
	if got := nextUpdate(t, w); !slices.Equal(got, peers("10.0.2.1", "10.0.2.2", "10.0.2.3")) {
		t.Fatalf("scale up: %v", got)
	}
	// The server fails, then the name vanishes: the last set is kept.
	for _, breakIt := range []func(){func() { z.setMode(servfail) }, func() { z.setMode(silent) }, func() { z.setMode(answer); z.remove(name) }} {
		breakIt()
		z.mu.Lock()
		q := z.queries
		z.mu.Unlock()
		eventually(t, "more queries", func() bool {
			z.mu.Lock()
			defer z.mu.Unlock()
			return z.queries > q+4
		})
		noUpdate(t, w)
		if got := w.Peers(); !slices.Equal(got, peers("10.0.2.1", "10.0.2.2", "10.0.2.3")) {
			t.Fatalf("Peers() = %v, want the last set", got)
		}
	}
	// Back, one fewer.
	z.set(name, "10.0.2.1", "10.0.2.3")
	if got := nextUpdate(t, w); !slices.Equal(got, peers("10.0.2.1", "10.0.2.3")) {
		t.Fatalf("scale down: %v", got)
	}
}
