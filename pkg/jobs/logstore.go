package jobs

import (
	"context"
	"errors"
)

// ErrNotFound is returned by a LogStore for a segment or snapshot it does not hold.
var ErrNotFound = errors.New("jobs: not found")

// ErrSegmentExists is returned by AppendSegment when the key was written before:
// segments are immutable.
var ErrSegmentExists = errors.New("jobs: segment exists")

// SegmentKey names one immutable segment of a shard's log. Seq starts at 1
// for each (Shard, Epoch, Writer) and grows by one per segment without gaps.
type SegmentKey struct {
	Shard  int
	Epoch  uint64
	Writer string
	Seq    uint64
}

// Snapshot is the compacted state of a shard: it covers every segment of
// epochs below Epoch, and the segments of Epoch written by Writer up to and
// including Seq.
type Snapshot struct {
	Shard  int
	Epoch  uint64
	Writer string
	Seq    uint64
	// Data is the encoded shard state (see EncodeSnapshot).
	Data []byte
}

// Covers reports whether the snapshot already holds what segment k
// recorded: k was written at the snapshot's epoch, by its writer, at or
// below its Seq.
func (s Snapshot) Covers(k SegmentKey) bool {
	return k.Epoch == s.Epoch && k.Writer == s.Writer && k.Seq <= s.Seq
}

// LogStore is the durable seam of a shard: an append-only log of immutable
// segments plus one snapshot per shard. The shard's owner is its only writer;
// the store never has to merge concurrent writes to one key.
type LogStore interface {
	// AppendSegment writes one immutable segment. It returns ErrSegmentExists
	// if the key was written before. It returns only once the segment is
	// durable by the store's own rules (replicated, for the Olric store).
	AppendSegment(ctx context.Context, key SegmentKey, data []byte) error
	// ListSegments returns the keys of the segments held for shard at epoch,
	// any writer, ordered by (Writer, Seq).
	ListSegments(ctx context.Context, shard int, epoch uint64) ([]SegmentKey, error)
	// ReadSegment returns a segment's data, or ErrNotFound.
	ReadSegment(ctx context.Context, key SegmentKey) ([]byte, error)
	// DeleteSegments drops segments; keys that are absent are ignored.
	DeleteSegments(ctx context.Context, keys []SegmentKey) error
	// PutSnapshot replaces the shard's snapshot.
	PutSnapshot(ctx context.Context, snap Snapshot) error
	// ReadSnapshot returns the shard's snapshot, or ErrNotFound.
	ReadSnapshot(ctx context.Context, shard int) (Snapshot, error)
}
