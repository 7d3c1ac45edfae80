// Package leasetest holds the conformance suite of lease.Store. It runs
// against the in-memory MemStore on a fake clock and against the Olric store
// on real time with short TTLs: every wait for an expiry goes through the
// harness (advance the fake clock, or poll real time with a deadline).
package leasetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/pkg/cluster/lease"
)

// Harness is one store under test and how to move its time.
type Harness struct {
	// Store is the store under test, empty (no grants on any shard).
	Store lease.Store
	// TTL is the lease TTL the suite uses. Short (a few hundred ms) for a
	// store on real time; any value for a fake clock.
	TTL time.Duration
	// Now reads the store's clock (time.Now for real time).
	Now func() time.Time
	// Advance moves the store's clock forward. Nil for a store on real
	// time: the suite then waits for the time to pass, polling.
	Advance func(d time.Duration)
}

// waitPast makes the store's clock pass t.
func (h Harness) waitPast(t *testing.T, at time.Time) {
	t.Helper()
	if h.Advance != nil {
		if d := at.Sub(h.Now()); d >= 0 {
			h.Advance(d + time.Millisecond)
		}
		return
	}
	deadline := time.Now().Add(10*h.TTL + 5*time.Second)
	for !h.Now().After(at) {
		if time.Now().After(deadline) {
			t.Fatalf("clock did not pass %s", at)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// acquireEventually acquires shard for owner, polling while it is held (the
// store's expiry may lag the holder's conservative Expires a little).
func (h Harness) acquireEventually(t *testing.T, ctx context.Context, shard int, owner string) lease.Lease {
	t.Helper()
	deadline := time.Now().Add(10*h.TTL + 5*time.Second)
	for {
		l, err := h.Store.Acquire(ctx, shard, owner, h.TTL)
		if err == nil {
			return l
		}
		if !errors.Is(err, lease.ErrHeld) || time.Now().After(deadline) {
			t.Fatalf("Acquire(%d, %s): %v", shard, owner, err)
		}
		if h.Advance != nil {
			h.Advance(h.TTL / 10)
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestStore runs the conformance suite. newHarness is called once per subtest.
func TestStore(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, h Harness)
	}{
		{"AcquireFree", testAcquire},
		{"HeldByAnother", testHeld},
		{"Renew", testRenew},
		{"ExpiryThenTakeover", testTakeover},
		{"RenewAfterExpiryIsLost", testRenewAfterExpiry},
		{"ReleaseFreesAtOnce", testRelease},
		{"EpochsGrow", testEpochsGrow},
		{"StaleOwnerLoses", testStaleOwner},
		{"ConcurrentAcquireOneWins", testConcurrentAcquire},
		{"BadArguments", testBadArgs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if h.TTL <= 0 || h.Now == nil || h.Store == nil {
				t.Fatalf("harness needs Store, TTL and Now")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tc.fn(t, ctx, h)
		})
	}
}

func mustAcquire(t *testing.T, ctx context.Context, h Harness, shard int, owner string) lease.Lease {
	t.Helper()
	l, err := h.Store.Acquire(ctx, shard, owner, h.TTL)
	if err != nil {
		t.Fatalf("Acquire(%d, %s): %v", shard, owner, err)
	}
	return l
}

func wantHeld(t *testing.T, ctx context.Context, h Harness, shard int, owner string) {
	t.Helper()
	if l, err := h.Store.Acquire(ctx, shard, owner, h.TTL); !errors.Is(err, lease.ErrHeld) {
		t.Fatalf("Acquire(%d, %s) = %v, %v; want ErrHeld", shard, owner, l, err)
	}
}

func wantLost(t *testing.T, ctx context.Context, h Harness, l lease.Lease) {
	t.Helper()
	if got, err := h.Store.Renew(ctx, l, h.TTL); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("Renew(%s) = %v, %v; want ErrLost", l, got, err)
	}
}

func testAcquire(t *testing.T, ctx context.Context, h Harness) {
	before := h.Now()
	l := mustAcquire(t, ctx, h, 3, "n1")
	if l.Shard != 3 || l.Owner != "n1" || l.Epoch == 0 || len(l.Token) == 0 {
		t.Fatalf("Acquire = %+v: want shard 3, owner n1, epoch > 0, a token", l)
	}
	if l.Expires.Before(before) || l.Expires.After(h.Now().Add(h.TTL)) {
		t.Fatalf("Expires %s not within [%s, now+ttl]", l.Expires, before)
	}
	// Shards are independent.
	other := mustAcquire(t, ctx, h, 4, "n2")
	if other.Shard != 4 || other.Owner != "n2" {
		t.Fatalf("Acquire(4) = %+v", other)
	}
}

func testHeld(t *testing.T, ctx context.Context, h Harness) {
	l := mustAcquire(t, ctx, h, 1, "n1")
	wantHeld(t, ctx, h, 1, "n2")
	wantHeld(t, ctx, h, 1, "n1") // the same name may not hold two grants
	if _, err := h.Store.Renew(ctx, l, h.TTL); err != nil {
		t.Fatalf("Renew after refused acquires: %v", err)
	}
}

func testRenew(t *testing.T, ctx context.Context, h Harness) {
	l := mustAcquire(t, ctx, h, 2, "n1")
	first := l
	// Renew several times across more than one TTL: the lease must live on.
	end := h.Now().Add(2 * h.TTL)
	for i := 0; h.Now().Before(end); i++ {
		h.waitPast(t, h.Now().Add(h.TTL/4))
		r, err := h.Store.Renew(ctx, l, h.TTL)
		if err != nil {
			t.Fatalf("Renew #%d: %v", i, err)
		}
		if r.Epoch != first.Epoch || r.Owner != first.Owner || r.Shard != first.Shard || string(r.Token) != string(first.Token) {
			t.Fatalf("Renew changed the grant: %+v -> %+v", first, r)
		}
		if r.Expires.Before(l.Expires) {
			t.Fatalf("Renew moved Expires back: %s -> %s", l.Expires, r.Expires)
		}
		l = r
	}
	wantHeld(t, ctx, h, 2, "n2")
}

func testTakeover(t *testing.T, ctx context.Context, h Harness) {
	a := mustAcquire(t, ctx, h, 5, "n1")
	h.waitPast(t, a.Expires)
	b := h.acquireEventually(t, ctx, 5, "n2")
	if b.Epoch <= a.Epoch {
		t.Fatalf("takeover epoch %d not above %d", b.Epoch, a.Epoch)
	}
	wantLost(t, ctx, h, a)
	if _, err := h.Store.Renew(ctx, b, h.TTL); err != nil {
		t.Fatalf("new owner's Renew: %v", err)
	}
}

func testRenewAfterExpiry(t *testing.T, ctx context.Context, h Harness) {
	a := mustAcquire(t, ctx, h, 6, "n1")
	h.waitPast(t, a.Expires.Add(h.TTL/2))
	wantLost(t, ctx, h, a)
	// It is free: the same owner acquires again under a new epoch.
	again := h.acquireEventually(t, ctx, 6, "n1")
	if again.Epoch <= a.Epoch {
		t.Fatalf("re-acquire epoch %d not above %d", again.Epoch, a.Epoch)
	}
}

func testRelease(t *testing.T, ctx context.Context, h Harness) {
	a := mustAcquire(t, ctx, h, 7, "n1")
	if err := h.Store.Release(ctx, a); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := h.Store.Release(ctx, a); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	wantLost(t, ctx, h, a)
	b := mustAcquire(t, ctx, h, 7, "n2") // at once, no expiry wait
	if b.Epoch <= a.Epoch {
		t.Fatalf("epoch after release %d not above %d", b.Epoch, a.Epoch)
	}
	// Releasing the old grant again must not free the new one.
	if err := h.Store.Release(ctx, a); err != nil {
		t.Fatalf("stale Release: %v", err)
	}
	wantHeld(t, ctx, h, 7, "n3")
}

func testEpochsGrow(t *testing.T, ctx context.Context, h Harness) {
	var last uint64
	for i := range 6 {
		l := mustAcquire(t, ctx, h, 8, fmt.Sprintf("n%d", i%3))
		if l.Epoch <= last {
			t.Fatalf("grant %d: epoch %d not above %d", i, l.Epoch, last)
		}
		last = l.Epoch
		if err := h.Store.Release(ctx, l); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
}

func testStaleOwner(t *testing.T, ctx context.Context, h Harness) {
	a := mustAcquire(t, ctx, h, 9, "n1")
	h.waitPast(t, a.Expires)
	b := h.acquireEventually(t, ctx, 9, "n2")
	// The old owner wakes up (a GC pause, a partition) and tries to go on.
	wantLost(t, ctx, h, a)
	if err := h.Store.Release(ctx, a); err != nil {
		t.Fatalf("stale Release: %v", err)
	}
	wantHeld(t, ctx, h, 9, "n1")
	if _, err := h.Store.Renew(ctx, b, h.TTL); err != nil {
		t.Fatalf("new owner's Renew after the stale owner's attempts: %v", err)
	}
}

func testConcurrentAcquire(t *testing.T, ctx context.Context, h Harness) {
	const n = 6
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		wins   []lease.Lease
		others []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := h.Store.Acquire(ctx, 10, fmt.Sprintf("n%d", i), h.TTL)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins = append(wins, l)
			case !errors.Is(err, lease.ErrHeld):
				others = append(others, err)
			}
		}()
	}
	wg.Wait()
	if len(others) > 0 {
		t.Fatalf("unexpected errors: %v", others)
	}
	if len(wins) != 1 {
		t.Fatalf("%d of %d concurrent acquires won: %v", len(wins), n, wins)
	}
}

func testBadArgs(t *testing.T, ctx context.Context, h Harness) {
	if _, err := h.Store.Acquire(ctx, 1, "", h.TTL); err == nil {
		t.Fatalf("Acquire with an empty owner succeeded")
	}
	if _, err := h.Store.Acquire(ctx, 1, "n1", 0); err == nil {
		t.Fatalf("Acquire with ttl 0 succeeded")
	}
	if _, err := h.Store.Acquire(ctx, -1, "n1", h.TTL); err == nil {
		t.Fatalf("Acquire of shard -1 succeeded")
	}
	// A lease this store never issued is not ours.
	wantLost(t, ctx, h, lease.Lease{Shard: 1, Owner: "n1", Epoch: 1, Token: []byte("forged")})
	if err := h.Store.Release(ctx, lease.Lease{Shard: 1, Owner: "n1", Token: []byte("forged")}); err != nil {
		t.Fatalf("Release of an unknown lease: %v", err)
	}
}
