package lease

import (
	"errors"
	"fmt"
	"time"
)

// Action is what the owner of a shard should do next.
type Action int

const (
	// None: nothing to do now.
	None Action = iota
	// Acquire: the shard is wanted here and not held: call Store.Acquire.
	Acquire
	// Renew: the lease is held and due for renewal: call Store.Renew.
	Renew
	// Release: the shard is no longer wanted here: stop serving it (flush,
	// hand off), then call Store.Release.
	Release
	// Stop: the lease is too close to its expiry to be trusted (renewals
	// failed): stop serving the shard at once and forget the lease. A later
	// Decide with held == nil says Acquire again if the shard is still wanted.
	Stop
)

// String is for logs.
func (a Action) String() string {
	switch a {
	case None:
		return "none"
	case Acquire:
		return "acquire"
	case Renew:
		return "renew"
	case Release:
		return "release"
	case Stop:
		return "stop"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Rules are the timing of shard leases.
type Rules struct {
	// TTL is the length of a grant and of each renewal. It bounds how long a
	// dead owner's shards stay unserved: a takeover waits at most TTL after
	// the owner's last renewal. Default 2 s.
	TTL time.Duration
	// RenewEvery is the time between renewals: a lease is renewed once
	// RenewEvery has passed since it was granted or last renewed. Default
	// 600 ms (about TTL/3), so two renewals can fail before Stop.
	RenewEvery time.Duration
	// SafetyMargin is how long before Expires the holder stops serving: it
	// covers the time a last write takes to land and clock-rate drift.
	// Default 500 ms.
	SafetyMargin time.Duration
}

// DefaultRules returns TTL 2 s, RenewEvery 600 ms, SafetyMargin 500 ms.
func DefaultRules() Rules {
	return Rules{TTL: 2 * time.Second, RenewEvery: 600 * time.Millisecond, SafetyMargin: 500 * time.Millisecond}
}

// Validate reports rules that cannot work.
func (r Rules) Validate() error {
	var errs []error
	if r.TTL <= 0 {
		errs = append(errs, fmt.Errorf("lease: TTL must be positive, got %s", r.TTL))
	}
	if r.RenewEvery <= 0 {
		errs = append(errs, fmt.Errorf("lease: RenewEvery must be positive, got %s", r.RenewEvery))
	}
	if r.SafetyMargin < 0 {
		errs = append(errs, fmt.Errorf("lease: SafetyMargin must not be negative, got %s", r.SafetyMargin))
	}
	if r.TTL > 0 && r.RenewEvery+r.SafetyMargin >= r.TTL {
		errs = append(errs, fmt.Errorf("lease: RenewEvery (%s) + SafetyMargin (%s) must be below TTL (%s), or the lease stops before its first renewal; lower RenewEvery to about TTL/3",
			r.RenewEvery, r.SafetyMargin, r.TTL))
	}
	return errors.Join(errs...)
}

// ServeUntil is the last instant the holder of l may serve its shard.
func (r Rules) ServeUntil(l Lease) time.Time { return l.Expires.Add(-r.SafetyMargin) }

// RenewAt is when l is due for renewal.
func (r Rules) RenewAt(l Lease) time.Time { return l.Expires.Add(-r.TTL + r.RenewEvery) }

// Decide says what the owner should do at now, holding held (nil if it holds
// no lease on the shard), given whether placement wants the shard here.
//
//	held == nil, want            -> Acquire
//	held == nil, !want           -> None
//	held != nil, !want           -> Release
//	now >= ServeUntil(held)      -> Stop
//	now >= RenewAt(held)         -> Renew
//	otherwise                    -> None
func (r Rules) Decide(now time.Time, held *Lease, want bool) Action {
	switch {
	case held == nil && want:
		return Acquire
	case held == nil:
		return None
	case !want:
		return Release
	case !now.Before(r.ServeUntil(*held)):
		return Stop
	case !now.Before(r.RenewAt(*held)):
		return Renew
	}
	return None
}

// NextCheck is when Decide's answer may change next if nothing else happens:
// the renewal time or the stop time of held, whichever comes first and is
// after now. With no lease it returns now (Decide can act at once).
func (r Rules) NextCheck(now time.Time, held *Lease) time.Time {
	if held == nil {
		return now
	}
	if at := r.RenewAt(*held); now.Before(at) {
		return at
	}
	if at := r.ServeUntil(*held); now.Before(at) {
		return at
	}
	return now
}
