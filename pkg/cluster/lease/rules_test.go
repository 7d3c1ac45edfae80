package lease

import (
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	r := DefaultRules()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	granted := Lease{Shard: 1, Owner: "n1", Epoch: 3, Expires: t0.Add(r.TTL)} // granted at t0
	for _, tc := range []struct {
		name string
		at   time.Duration // since t0
		held *Lease
		want bool
		act  Action
	}{
		{"free and wanted", 0, nil, true, Acquire},
		{"free and not wanted", 0, nil, false, None},
		{"just granted", 0, &granted, true, None},
		{"before renew time", r.RenewEvery - time.Millisecond, &granted, true, None},
		{"at renew time", r.RenewEvery, &granted, true, Renew},
		{"renew failed once", 2 * r.RenewEvery, &granted, true, Renew},
		{"just before stop", r.TTL - r.SafetyMargin - time.Millisecond, &granted, true, Renew},
		{"at stop", r.TTL - r.SafetyMargin, &granted, true, Stop},
		{"expired", r.TTL + time.Second, &granted, true, Stop},
		{"no longer wanted", 0, &granted, false, Release},
		{"no longer wanted and expired", r.TTL + time.Second, &granted, false, Release},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Decide(t0.Add(tc.at), tc.held, tc.want); got != tc.act {
				t.Fatalf("Decide(t0+%s) = %s, want %s", tc.at, got, tc.act)
			}
		})
	}
}

// TestOwnerLoop drives a MemStore and Decide on a fake clock, as the shard
// owner's loop does, through renewals, a failed renewal streak and a takeover.
func TestOwnerLoop(t *testing.T) {
	clock := NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store := NewMemStore(clock.Now)
	r := DefaultRules()
	ctx := t.Context()
	var held *Lease
	step := func(want bool, renewWorks bool) Action {
		act := r.Decide(clock.Now(), held, want)
		switch act {
		case Acquire:
			l, err := store.Acquire(ctx, 0, "n1", r.TTL)
			if err == nil {
				held = &l
			}
		case Renew:
			if renewWorks {
				l, err := store.Renew(ctx, *held, r.TTL)
				if err != nil {
					t.Fatalf("Renew: %v", err)
				}
				held = &l
			}
		case Stop:
			held = nil
		case Release:
			if err := store.Release(ctx, *held); err != nil {
				t.Fatalf("Release: %v", err)
			}
			held = nil
		}
		return act
	}
	if got := step(true, true); got != Acquire || held == nil || held.Epoch != 1 {
		t.Fatalf("first step = %s, held %v", got, held)
	}
	// Ten seconds of healthy ticks every 100 ms: renewals only, never a stop.
	for range 100 {
		clock.Advance(100 * time.Millisecond)
		if got := step(true, true); got == Stop || got == Acquire {
			t.Fatalf("healthy loop said %s", got)
		}
	}
	// Renewals fail (Olric unreachable): the owner stops before its lease ends.
	var stoppedAt time.Time
	expires := held.Expires
	for range 30 {
		clock.Advance(100 * time.Millisecond)
		if step(true, false) == Stop {
			stoppedAt = clock.Now()
			break
		}
	}
	if stoppedAt.IsZero() || !stoppedAt.Before(expires) {
		t.Fatalf("stopped at %s, lease expires %s: must stop before", stoppedAt, expires)
	}
	// Another node takes over once the lease expires, with a higher epoch.
	clock.Advance(expires.Sub(clock.Now()))
	other, err := store.Acquire(ctx, 0, "n2", r.TTL)
	if err != nil || other.Epoch != 2 {
		t.Fatalf("takeover = %v, %v", other, err)
	}
	if got := step(true, true); got != Acquire || held != nil {
		t.Fatalf("after takeover the old owner must fail to acquire: %s, %v", got, held)
	}
}

func TestNextCheck(t *testing.T) {
	r := DefaultRules()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := Lease{Expires: t0.Add(r.TTL)}
	if got := r.NextCheck(t0, &l); !got.Equal(t0.Add(r.RenewEvery)) {
		t.Fatalf("NextCheck at grant = %s", got)
	}
	if got := r.NextCheck(t0.Add(r.RenewEvery), &l); !got.Equal(r.ServeUntil(l)) {
		t.Fatalf("NextCheck after renew time = %s", got)
	}
	if got := r.NextCheck(t0.Add(r.TTL), &l); !got.Equal(t0.Add(r.TTL)) {
		t.Fatalf("NextCheck after stop = %s", got)
	}
	if got := r.NextCheck(t0, nil); !got.Equal(t0) {
		t.Fatalf("NextCheck without lease = %s", got)
	}
}

func TestRulesValidate(t *testing.T) {
	if err := DefaultRules().Validate(); err != nil {
		t.Fatalf("DefaultRules invalid: %v", err)
	}
	for _, r := range []Rules{
		{},
		{TTL: time.Second, RenewEvery: 600 * time.Millisecond, SafetyMargin: 500 * time.Millisecond},
		{TTL: time.Second, RenewEvery: 300 * time.Millisecond, SafetyMargin: -1},
	} {
		if r.Validate() == nil {
			t.Fatalf("Validate(%+v) = nil, want an error", r)
		}
	}
}
