package olricstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/olric-data/olric"

	"github.com/shoal-dev/shoal/pkg/cluster/lease"
)

// Lease keys in the DMap:
//
//	S|<shard>      the live grant: "<token> <epoch> <owner>", written with NX and PX(ttl)
//	S|<shard>|e    "<epoch> <owner>": the shard's last granted epoch (no TTL)
//
// Acquire: a cluster-wide Get of S|<shard> (it also asks the partition's
// previous owners and backups, where NX looks only at the current primary,
// which may not have the key yet right after a membership change); then
// Put NX PX(ttl) of a fresh token (serialized on the key's primary); then,
// holding the grant, read the epoch record and write epoch+1 into it.
//
// Renew: Get S|<shard>; if it still carries our token, Put it again with
// PX(ttl) (XX: only if present). Release: the same check, then Delete.
//
// Why not Olric's Lock/LockContext: LockContext.Lease is built on Expire,
// and with ReplicaCount > 1 Olric's Expire sends the backups an entry with
// an empty value and a newer timestamp; the next Get prefers it, so the
// lock's token reads back empty and the second renewal fails with
// ErrNoSuchLock (seen with Olric 0.7.4, 3 members, replica count 2).
//
// Renew and Release are a check then a write, not atomic. They are safe
// because they only run while the grant is live by the holder's own
// conservative clock, with the write bounded by a deadline before Expires:
// the key cannot expire, so nobody else can be granted it, between the
// check and the write.
const leasePrefix = "S|"

// renewGuard is the minimum time a grant must have left for Renew or
// Release to touch it: below it the grant is left to expire.
const renewGuard = 20 * time.Millisecond

// LeaseStore is the lease.Store on Olric.
type LeaseStore struct {
	dm  olric.DMap
	now lease.Clock

	mu       sync.Mutex
	released map[string]time.Time // tokens given up, until their TTL has passed
}

var _ lease.Store = (*LeaseStore)(nil)

func newLeaseStore(dm olric.DMap, now lease.Clock) *LeaseStore {
	return &LeaseStore{dm: dm, now: now, released: map[string]time.Time{}}
}

func leaseKey(shard int) string      { return leasePrefix + strconv.Itoa(shard) }
func leaseEpochKey(shard int) string { return leasePrefix + strconv.Itoa(shard) + "|e" }

type grant struct {
	token string
	epoch uint64
	owner string
}

func (g grant) encode() []byte {
	return []byte(g.token + " " + strconv.FormatUint(g.epoch, 10) + " " + g.owner)
}

func parseGrant(b []byte) grant {
	tok, rest, _ := strings.Cut(string(b), " ")
	num, owner, _ := strings.Cut(rest, " ")
	e, _ := strconv.ParseUint(num, 10, 64)
	return grant{token: tok, epoch: e, owner: owner}
}

// Acquire implements lease.Store.
func (s *LeaseStore) Acquire(ctx context.Context, shard int, owner string, ttl time.Duration) (lease.Lease, error) {
	if shard < 0 || owner == "" || ttl < time.Millisecond {
		return lease.Lease{}, fmt.Errorf("olricstore: acquire shard %d for %q with ttl %s: need shard >= 0, an owner and ttl >= 1ms", shard, owner, ttl)
	}
	start := s.now()
	if v, ok, err := get(ctx, s.dm, leaseKey(shard)); err != nil {
		return lease.Lease{}, fmt.Errorf("olricstore: acquire shard %d: %w", shard, err)
	} else if ok {
		return lease.Lease{}, heldError(shard, parseGrant(v))
	}
	rec, _, err := get(ctx, s.dm, leaseEpochKey(shard))
	if err != nil {
		return lease.Lease{}, fmt.Errorf("olricstore: acquire shard %d: %w", shard, err)
	}
	last, _ := parseEpochRecord(rec)
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	g := grant{token: hex.EncodeToString(tok), epoch: last + 1, owner: owner}
	err = s.dm.Put(ctx, leaseKey(shard), g.encode(), olric.NX(), olric.PX(ttl))
	if errors.Is(err, olric.ErrKeyFound) {
		// A live grant, or an expired copy that Olric has not evicted yet
		// (its reads skip expired entries, its put-if-absent does not).
		v, found, gerr := get(ctx, s.dm, leaseKey(shard))
		if gerr != nil {
			return lease.Lease{}, fmt.Errorf("olricstore: acquire shard %d: %w", shard, gerr)
		}
		if found {
			return lease.Lease{}, heldError(shard, parseGrant(v))
		}
		err = s.dm.Put(ctx, leaseKey(shard), g.encode(), olric.PX(ttl))
	}
	if err != nil {
		return lease.Lease{}, fmt.Errorf("olricstore: acquire shard %d: %w", shard, err)
	}
	// We hold the grant: nobody else writes the epoch record now. Re-read
	// it (another grant may have been made between our first read and our
	// NX) and make sure our epoch is above it.
	rec, _, err = get(ctx, s.dm, leaseEpochKey(shard))
	if err == nil {
		if cur, _ := parseEpochRecord(rec); cur >= g.epoch {
			g.epoch = cur + 1
			if rem := ttl - s.now().Sub(start); rem < time.Millisecond {
				err = fmt.Errorf("ttl %s used up while acquiring", ttl)
			} else {
				err = s.dm.Put(ctx, leaseKey(shard), g.encode(), olric.XX(), olric.PX(rem))
			}
		}
	}
	if err == nil {
		err = s.dm.Put(ctx, leaseEpochKey(shard), []byte(strconv.FormatUint(g.epoch, 10)+" "+owner))
	}
	if err != nil {
		s.deleteIfOurs(ctx, shard, g.token)
		return lease.Lease{}, fmt.Errorf("olricstore: acquire shard %d: record epoch: %w", shard, err)
	}
	return lease.Lease{Shard: shard, Owner: owner, Epoch: g.epoch, Expires: start.Add(ttl), Token: []byte(g.token)}, nil
}

func parseEpochRecord(b []byte) (uint64, string) {
	num, owner, _ := strings.Cut(string(b), " ")
	e, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, ""
	}
	return e, owner
}

func heldError(shard int, g grant) error {
	if g.owner != "" {
		return fmt.Errorf("olricstore: shard %d is held by %s (epoch %d): %w", shard, g.owner, g.epoch, lease.ErrHeld)
	}
	return fmt.Errorf("olricstore: shard %d: %w", shard, lease.ErrHeld)
}

func (s *LeaseStore) deleteIfOurs(ctx context.Context, shard int, token string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if v, ok, err := get(dctx, s.dm, leaseKey(shard)); err == nil && ok && parseGrant(v).token == token {
		_, _ = s.dm.Delete(dctx, leaseKey(shard))
	}
}

// Renew implements lease.Store.
func (s *LeaseStore) Renew(ctx context.Context, l lease.Lease, ttl time.Duration) (lease.Lease, error) {
	if ttl < time.Millisecond {
		return lease.Lease{}, fmt.Errorf("olricstore: renew with ttl %s: need ttl >= 1ms", ttl)
	}
	start := s.now()
	left := l.Expires.Sub(start)
	if left < renewGuard || len(l.Token) == 0 {
		return lease.Lease{}, fmt.Errorf("olricstore: renew %s: expired: %w", l, lease.ErrLost)
	}
	// Everything below must land while the grant is live.
	ctx, cancel := context.WithTimeout(ctx, left-renewGuard/2)
	defer cancel()
	v, ok, err := get(ctx, s.dm, leaseKey(l.Shard))
	if err != nil {
		return lease.Lease{}, fmt.Errorf("olricstore: renew %s: %w", l, err)
	}
	if !ok && s.wasReleased(l) {
		return lease.Lease{}, fmt.Errorf("olricstore: renew %s: released: %w", l, lease.ErrLost)
	}
	// Olric's reads can miss a key, or return an older copy of it, while
	// its partitions move between members (a join, a crash). So the grant
	// is ours unless it names another holder; then it is written again,
	// unconditionally (a put-if-absent can trip over an expired copy that
	// Olric has not evicted yet).
	if ok {
		if g := parseGrant(v); g.owner != l.Owner {
			return lease.Lease{}, fmt.Errorf("olricstore: renew %s: held by %s: %w", l, g.owner, lease.ErrLost)
		}
	}
	g := grant{token: string(l.Token), epoch: l.Epoch, owner: l.Owner}
	if err := s.dm.Put(ctx, leaseKey(l.Shard), g.encode(), olric.PX(ttl)); err != nil {
		return lease.Lease{}, fmt.Errorf("olricstore: renew %s: %w", l, err)
	}
	l.Expires = start.Add(ttl)
	l.Token = append([]byte(nil), l.Token...)
	return l, nil
}

// Release implements lease.Store. A grant too close to its expiry is left
// to expire rather than risk deleting a successor's.
func (s *LeaseStore) Release(ctx context.Context, l lease.Lease) error {
	s.markReleased(l)
	left := l.Expires.Sub(s.now())
	if left < renewGuard || len(l.Token) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, left-renewGuard/2)
	defer cancel()
	v, ok, err := get(ctx, s.dm, leaseKey(l.Shard))
	if err != nil {
		return fmt.Errorf("olricstore: release %s (it expires by itself at its TTL): %w", l, err)
	}
	if !ok || parseGrant(v).token != string(l.Token) {
		return nil
	}
	if _, err := s.dm.Delete(ctx, leaseKey(l.Shard)); err != nil {
		return fmt.Errorf("olricstore: release %s (it expires by itself at its TTL): %w", l, err)
	}
	return nil
}

// markReleased remembers that this process gave a lease up, so that Renew
// does not re-assert it.
func (s *LeaseStore) markReleased(l lease.Lease) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, until := range s.released {
		if now.After(until) {
			delete(s.released, tok)
		}
	}
	s.released[string(l.Token)] = l.Expires
}

func (s *LeaseStore) wasReleased(l lease.Lease) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.released[string(l.Token)]
	return ok
}
