package lease

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// MemStore is the in-memory Store: one process, driven by an injected clock.
// It is the fake used by tests of code that holds leases.
type MemStore struct {
	now Clock

	mu     sync.Mutex
	shards map[int]*memShard
	tokens uint64
}

type memShard struct {
	epoch  uint64 // highest epoch ever granted
	holder *Lease // current grant, nil if released
}

// NewMemStore returns an empty MemStore reading time from now.
func NewMemStore(now Clock) *MemStore {
	if now == nil {
		now = time.Now
	}
	return &MemStore{now: now, shards: make(map[int]*memShard)}
}

var _ Store = (*MemStore)(nil)

func checkArgs(shard int, owner string, ttl time.Duration) error {
	if shard < 0 {
		return fmt.Errorf("lease: shard must not be negative, got %d", shard)
	}
	if owner == "" {
		return fmt.Errorf("lease: owner must not be empty")
	}
	if ttl <= 0 {
		return fmt.Errorf("lease: ttl must be positive, got %s", ttl)
	}
	return nil
}

// Acquire implements Store.
func (m *MemStore) Acquire(ctx context.Context, shard int, owner string, ttl time.Duration) (Lease, error) {
	if err := checkArgs(shard, owner, ttl); err != nil {
		return Lease{}, err
	}
	if err := ctx.Err(); err != nil {
		return Lease{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	s := m.shards[shard]
	if s == nil {
		s = &memShard{}
		m.shards[shard] = s
	}
	if h := s.holder; h != nil && now.Before(h.Expires) {
		return Lease{}, fmt.Errorf("shard %d is held by %s (epoch %d) until %s: %w", shard, h.Owner, h.Epoch, h.Expires.Format(time.RFC3339Nano), ErrHeld)
	}
	s.epoch++
	m.tokens++
	l := Lease{Shard: shard, Owner: owner, Epoch: s.epoch, Expires: now.Add(ttl), Token: binary.BigEndian.AppendUint64(nil, m.tokens)}
	held := l
	s.holder = &held
	return clone(l), nil
}

// holderOf returns the current grant matching l, or nil. Callers hold m.mu.
func (m *MemStore) holderOf(l Lease) *Lease {
	s := m.shards[l.Shard]
	if s == nil || s.holder == nil || string(s.holder.Token) != string(l.Token) {
		return nil
	}
	return s.holder
}

// Renew implements Store.
func (m *MemStore) Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error) {
	if ttl <= 0 {
		return Lease{}, fmt.Errorf("lease: ttl must be positive, got %s", ttl)
	}
	if err := ctx.Err(); err != nil {
		return Lease{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	h := m.holderOf(l)
	if h == nil || !now.Before(h.Expires) {
		return Lease{}, fmt.Errorf("renew %s: %w", l, ErrLost)
	}
	h.Expires = now.Add(ttl)
	return clone(*h), nil
}

// Release implements Store.
func (m *MemStore) Release(ctx context.Context, l Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if h := m.holderOf(l); h != nil {
		m.shards[l.Shard].holder = nil
	}
	return nil
}

func clone(l Lease) Lease {
	l.Token = append([]byte(nil), l.Token...)
	return l
}
