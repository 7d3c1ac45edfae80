package olricstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/olric-data/olric"
)

// ErrNotFound is returned by KV.Get for an absent or expired key.
var ErrNotFound = errors.New("olricstore: not found")

// KV stores small node records (heartbeats, "draining" marks) and provides
// a cluster-wide lock to take turns (draining nodes leave Olric one at a
// time). Keys are at most 200 bytes.
type KV interface {
	// Put writes val under key; ttl 0 keeps it until deleted.
	Put(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Get returns the value of key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes key; an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Lock blocks until it holds the lock name, or ctx ends. ttl bounds how
	// long the lock outlives a holder that dies without unlocking.
	Lock(ctx context.Context, name string, ttl time.Duration) (LockHandle, error)
	// Unlock releases a lock; releasing one that expired is not an error.
	Unlock(ctx context.Context, h LockHandle) error
}

// LockHandle identifies a held KV lock.
type LockHandle struct {
	// Name is the lock's name.
	Name string
	// Token is an opaque handle, meaningful to the KV that issued it.
	Token string
}

const kvPrefix = "K|"

type olricKV struct {
	dm olric.DMap

	mu      sync.Mutex
	handles map[string]olric.LockContext
}

func checkKVKey(key string) error {
	if key == "" || len(key) > 200 {
		return fmt.Errorf("olricstore: kv key %q: must be 1 to 200 bytes", key)
	}
	return nil
}

func (k *olricKV) Put(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := checkKVKey(key); err != nil {
		return err
	}
	var opts []olric.PutOption
	if ttl > 0 {
		opts = append(opts, olric.PX(max(ttl, time.Millisecond)))
	}
	if val == nil {
		val = []byte{}
	}
	if err := k.dm.Put(ctx, kvPrefix+key, val, opts...); err != nil {
		return fmt.Errorf("olricstore: kv put %q: %w", key, err)
	}
	return nil
}

func (k *olricKV) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKVKey(key); err != nil {
		return nil, err
	}
	v, ok, err := get(ctx, k.dm, kvPrefix+key)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("olricstore: kv get %q: %w", key, ErrNotFound)
	}
	return v, nil
}

func (k *olricKV) Delete(ctx context.Context, key string) error {
	if err := checkKVKey(key); err != nil {
		return err
	}
	if _, err := k.dm.Delete(ctx, kvPrefix+key); err != nil {
		return fmt.Errorf("olricstore: kv delete %q: %w", key, err)
	}
	return nil
}

func (k *olricKV) Lock(ctx context.Context, name string, ttl time.Duration) (LockHandle, error) {
	if err := checkKVKey(name); err != nil {
		return LockHandle{}, err
	}
	if ttl < time.Millisecond {
		return LockHandle{}, fmt.Errorf("olricstore: lock %q: ttl must be at least 1ms", name)
	}
	for {
		// Olric polls every 10 ms until the deadline; keep each wait short
		// so that ctx is honoured.
		wait := time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, max(time.Until(d), time.Millisecond))
		}
		lc, err := k.dm.LockWithTimeout(ctx, kvPrefix+"lock|"+name, ttl, wait)
		if err == nil {
			b := make([]byte, 16)
			_, _ = rand.Read(b)
			h := LockHandle{Name: name, Token: hex.EncodeToString(b)}
			k.mu.Lock()
			k.handles[h.Token] = lc
			k.mu.Unlock()
			return h, nil
		}
		if !errors.Is(err, olric.ErrLockNotAcquired) {
			return LockHandle{}, fmt.Errorf("olricstore: lock %q: %w", name, err)
		}
		if ctx.Err() != nil {
			return LockHandle{}, fmt.Errorf("olricstore: lock %q: %w", name, ctx.Err())
		}
	}
}

func (k *olricKV) Unlock(ctx context.Context, h LockHandle) error {
	k.mu.Lock()
	lc := k.handles[h.Token]
	delete(k.handles, h.Token)
	k.mu.Unlock()
	if lc == nil {
		return nil
	}
	err := lc.Unlock(ctx)
	if err == nil || errors.Is(err, olric.ErrNoSuchLock) {
		return nil
	}
	return fmt.Errorf("olricstore: unlock %q: %w", h.Name, err)
}

func (k *olricKV) unlockAll(ctx context.Context) {
	k.mu.Lock()
	hs := make([]LockHandle, 0, len(k.handles))
	for t := range k.handles {
		hs = append(hs, LockHandle{Token: t})
	}
	k.mu.Unlock()
	for _, h := range hs {
		_ = k.Unlock(ctx, h)
	}
}
