package lease

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrHeld is returned by Acquire when another grant of the shard is still
// live (including one held by the same owner name: a second grant while the
// first lives would give one shard two epochs at once).
var ErrHeld = errors.New("lease: held by another")

// ErrLost is returned by Renew when the lease is no longer the caller's: it
// expired, was released, or was taken over. The holder must stop serving the
// shard at once.
var ErrLost = errors.New("lease: lost")

// Lease is one grant of a shard to an owner.
type Lease struct {
	// Shard is the shard the lease covers.
	Shard int
	// Owner is the node name the lease was granted to.
	Owner string
	// Epoch is greater than the epoch of every earlier grant of this shard.
	Epoch uint64
	// Expires is when the holder must consider the lease gone (see the
	// package doc: a conservative, holder-side time).
	Expires time.Time
	// Token is an opaque handle of the grant, meaningful only to the Store
	// that issued it. Renew and Release identify the grant by it.
	Token []byte
}

// String is for logs.
func (l Lease) String() string {
	return fmt.Sprintf("shard %d owner %s epoch %d expires %s", l.Shard, l.Owner, l.Epoch, l.Expires.Format(time.RFC3339Nano))
}

// Store grants, renews and releases shard leases. Implementations are safe
// for concurrent use.
type Store interface {
	// Acquire grants the shard to owner for ttl if it is free or its last
	// grant expired, with an Epoch greater than every earlier epoch of the
	// shard. If a grant is live it returns an error wrapping ErrHeld.
	Acquire(ctx context.Context, shard int, owner string, ttl time.Duration) (Lease, error)
	// Renew extends a live grant by ttl from now and returns the updated
	// lease (same Epoch and Token). It returns an error wrapping ErrLost if
	// the grant is no longer the caller's; other errors are transient (the
	// lease may still be ours: retry until the Rules say Stop).
	Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// Release gives the grant up so that the next owner need not wait for
	// its expiry. Releasing a grant that is already gone is not an error.
	Release(ctx context.Context, l Lease) error
}

// Clock tells the time. Production code passes time.Now; tests a FakeClock's Now.
type Clock func() time.Time
