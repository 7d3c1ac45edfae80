package jobs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
)

// MemLogStore is an in-memory LogStore: the fake used by tests and by a node
// that runs without a cluster. It is safe for concurrent use. Values are
// copied on the way in and out, so callers may reuse their buffers.
type MemLogStore struct {
	mu        sync.Mutex
	segments  map[SegmentKey][]byte
	snapshots map[int]Snapshot
}

// NewMemLogStore returns an empty MemLogStore.
func NewMemLogStore() *MemLogStore {
	return &MemLogStore{
		segments:  make(map[SegmentKey][]byte),
		snapshots: make(map[int]Snapshot),
	}
}

var _ LogStore = (*MemLogStore)(nil)

// AppendSegment stores a copy of data under key, or returns ErrSegmentExists.
func (m *MemLogStore) AppendSegment(ctx context.Context, key SegmentKey, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if key.Seq == 0 {
		return fmt.Errorf("jobs: append segment %+v: Seq starts at 1", key)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.segments[key]; ok {
		return fmt.Errorf("append segment %+v: %w", key, ErrSegmentExists)
	}
	m.segments[key] = slices.Clone(memNonNil(data))
	return nil
}

// ListSegments returns the keys held for (shard, epoch), ordered by (Writer, Seq).
func (m *MemLogStore) ListSegments(ctx context.Context, shard int, epoch uint64) ([]SegmentKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	var keys []SegmentKey
	for k := range m.segments {
		if k.Shard == shard && k.Epoch == epoch {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	memSortSegmentKeys(keys)
	return keys, nil
}

// ReadSegment returns a copy of a segment's data, or ErrNotFound.
func (m *MemLogStore) ReadSegment(ctx context.Context, key SegmentKey) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.segments[key]
	if !ok {
		return nil, fmt.Errorf("read segment %+v: %w", key, ErrNotFound)
	}
	return slices.Clone(data), nil
}

// DeleteSegments drops the given segments; absent keys are ignored.
func (m *MemLogStore) DeleteSegments(ctx context.Context, keys []SegmentKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.segments, k)
	}
	return nil
}

// PutSnapshot replaces the shard's snapshot with a copy of snap.
func (m *MemLogStore) PutSnapshot(ctx context.Context, snap Snapshot) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	snap.Data = slices.Clone(memNonNil(snap.Data))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snapshots[snap.Shard] = snap
	return nil
}

// ReadSnapshot returns a copy of the shard's snapshot, or ErrNotFound.
func (m *MemLogStore) ReadSnapshot(ctx context.Context, shard int) (Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	snap, ok := m.snapshots[shard]
	if !ok {
		return Snapshot{}, fmt.Errorf("read snapshot of shard %d: %w", shard, ErrNotFound)
	}
	snap.Data = slices.Clone(snap.Data)
	return snap, nil
}

// memSortSegmentKeys sorts keys of one (shard, epoch) by (Writer, Seq): the
// order ListSegments promises.
func memSortSegmentKeys(keys []SegmentKey) {
	slices.SortFunc(keys, func(a, b SegmentKey) int {
		if c := cmp.Compare(a.Writer, b.Writer); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
}

// memNonNil turns a nil slice into an empty one so that a round trip of empty
// data gives back a non-nil, empty slice from every store.
func memNonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
