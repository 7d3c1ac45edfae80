package jobstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// TestLogStore runs the LogStore conformance suite. newStore is called once
// per subtest and must return an empty store; stores returned by different
// calls may share a backend (one cluster, several DMaps) but must not see
// each other's data. Each subtest bounds itself with a 30 s context.
func TestLogStore(t *testing.T, newStore func(t *testing.T) jobs.LogStore) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s jobs.LogStore)
	}{
		{"AppendReadRoundTrip", testRoundTrip},
		{"SegmentsAreImmutable", testImmutable},
		{"ListOrderedByWriterAndSeq", testListOrdered},
		{"NotFound", testNotFound},
		{"SnapshotReplace", testSnapshot},
		{"DeleteSegments", testDelete},
		{"DeleteThenAppendMore", testDeleteThenAppend},
		{"ShardsIsolated", testShardsIsolated},
		{"BinaryData", testBinary},
		{"LargeValues", testLarge},
		{"ConcurrentWriters", testConcurrentWriters},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tc.fn(t, ctx, s)
		})
	}
}

func key(shard int, epoch uint64, writer string, seq uint64) jobs.SegmentKey {
	return jobs.SegmentKey{Shard: shard, Epoch: epoch, Writer: writer, Seq: seq}
}

func payload(k jobs.SegmentKey) []byte {
	return fmt.Appendf(nil, "segment shard=%d epoch=%d writer=%s seq=%d", k.Shard, k.Epoch, k.Writer, k.Seq)
}

func mustAppend(t *testing.T, ctx context.Context, s jobs.LogStore, k jobs.SegmentKey, data []byte) {
	t.Helper()
	if err := s.AppendSegment(ctx, k, data); err != nil {
		t.Fatalf("AppendSegment(%+v): %v", k, err)
	}
}

func mustRead(t *testing.T, ctx context.Context, s jobs.LogStore, k jobs.SegmentKey, want []byte) {
	t.Helper()
	got, err := s.ReadSegment(ctx, k)
	if err != nil {
		t.Fatalf("ReadSegment(%+v): %v", k, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ReadSegment(%+v) = %d bytes %q..., want %d bytes %q...", k, len(got), head(got), len(want), head(want))
	}
}

func mustList(t *testing.T, ctx context.Context, s jobs.LogStore, shard int, epoch uint64, want []jobs.SegmentKey) {
	t.Helper()
	got, err := s.ListSegments(ctx, shard, epoch)
	if err != nil {
		t.Fatalf("ListSegments(%d, %d): %v", shard, epoch, err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ListSegments(%d, %d):\n got  %+v\n want %+v", shard, epoch, got, want)
	}
}

func head(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

func testRoundTrip(t *testing.T, ctx context.Context, s jobs.LogStore) {
	k := key(3, 1, "n1", 1)
	data := payload(k)
	mustAppend(t, ctx, s, k, data)
	data[0] = 'X' // the store must have kept its own copy
	mustRead(t, ctx, s, k, payload(k))

	got, _ := s.ReadSegment(ctx, k)
	got[0] = 'Y' // nor may the reader's copy alias the stored one
	mustRead(t, ctx, s, k, payload(k))

	mustList(t, ctx, s, 3, 1, []jobs.SegmentKey{k})

	empty := key(3, 1, "n1", 2)
	mustAppend(t, ctx, s, empty, nil)
	got, err := s.ReadSegment(ctx, empty)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadSegment of an empty segment = %q, %v; want empty, nil", got, err)
	}
}

func testImmutable(t *testing.T, ctx context.Context, s jobs.LogStore) {
	k := key(0, 7, "n1", 1)
	mustAppend(t, ctx, s, k, []byte("first"))
	err := s.AppendSegment(ctx, k, []byte("second"))
	if !errors.Is(err, jobs.ErrSegmentExists) {
		t.Fatalf("second AppendSegment(%+v) = %v, want ErrSegmentExists", k, err)
	}
	mustRead(t, ctx, s, k, []byte("first"))
}

func testListOrdered(t *testing.T, ctx context.Context, s jobs.LogStore) {
	writers := []string{"node-b", "node-a", "10.0.0.7:3320", "n/with:odd chars"}
	var want []jobs.SegmentKey
	// Interleave writers and seqs so that insertion order says nothing.
	for seq := uint64(1); seq <= 3; seq++ {
		for _, w := range writers {
			k := key(5, 2, w, seq)
			mustAppend(t, ctx, s, k, payload(k))
			want = append(want, k)
		}
	}
	// Other epochs and shards must not show up.
	mustAppend(t, ctx, s, key(5, 1, "node-a", 1), nil)
	mustAppend(t, ctx, s, key(5, 3, "node-a", 1), nil)
	mustAppend(t, ctx, s, key(6, 2, "node-a", 1), nil)

	slices.SortFunc(want, func(a, b jobs.SegmentKey) int {
		if a.Writer != b.Writer {
			if a.Writer < b.Writer {
				return -1
			}
			return 1
		}
		return int(a.Seq) - int(b.Seq)
	})
	mustList(t, ctx, s, 5, 2, want)
	for _, k := range want {
		mustRead(t, ctx, s, k, payload(k))
	}
	mustList(t, ctx, s, 5, 99, nil)
	mustList(t, ctx, s, 77, 2, nil)
}

func testNotFound(t *testing.T, ctx context.Context, s jobs.LogStore) {
	if _, err := s.ReadSegment(ctx, key(1, 1, "n1", 1)); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("ReadSegment of an absent key = %v, want ErrNotFound", err)
	}
	if _, err := s.ReadSnapshot(ctx, 1); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("ReadSnapshot of a shard without one = %v, want ErrNotFound", err)
	}
	k := key(1, 1, "n1", 1)
	mustAppend(t, ctx, s, k, []byte("x"))
	if _, err := s.ReadSegment(ctx, key(1, 1, "n1", 2)); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("ReadSegment of the next seq = %v, want ErrNotFound", err)
	}
	if _, err := s.ReadSegment(ctx, key(1, 1, "n2", 1)); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("ReadSegment of another writer = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSegments(ctx, []jobs.SegmentKey{k}); err != nil {
		t.Fatalf("DeleteSegments: %v", err)
	}
	if _, err := s.ReadSegment(ctx, k); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("ReadSegment after delete = %v, want ErrNotFound", err)
	}
}

func testSnapshot(t *testing.T, ctx context.Context, s jobs.LogStore) {
	first := jobs.Snapshot{Shard: 4, Epoch: 2, Writer: "n1", Seq: 10, Data: []byte("state one")}
	if err := s.PutSnapshot(ctx, first); err != nil {
		t.Fatalf("PutSnapshot: %v", err)
	}
	got, err := s.ReadSnapshot(ctx, 4)
	if err != nil {
		t.Fatalf("ReadSnapshot: %v", err)
	}
	if !snapEqual(got, first) {
		t.Fatalf("ReadSnapshot = %+v, want %+v", got, first)
	}
	second := jobs.Snapshot{Shard: 4, Epoch: 3, Writer: "n2", Seq: 1, Data: []byte("state two, longer than the first")}
	if err := s.PutSnapshot(ctx, second); err != nil {
		t.Fatalf("PutSnapshot (replace): %v", err)
	}
	got, err = s.ReadSnapshot(ctx, 4)
	if err != nil {
		t.Fatalf("ReadSnapshot after replace: %v", err)
	}
	if !snapEqual(got, second) {
		t.Fatalf("ReadSnapshot after replace = %+v, want %+v", got, second)
	}
	empty := jobs.Snapshot{Shard: 4, Epoch: 3, Writer: "n2", Seq: 2}
	if err := s.PutSnapshot(ctx, empty); err != nil {
		t.Fatalf("PutSnapshot (empty data): %v", err)
	}
	got, err = s.ReadSnapshot(ctx, 4)
	if err != nil || !snapEqual(got, empty) {
		t.Fatalf("ReadSnapshot of empty data = %+v, %v; want %+v", got, err, empty)
	}
}

func snapEqual(a, b jobs.Snapshot) bool {
	return a.Shard == b.Shard && a.Epoch == b.Epoch && a.Writer == b.Writer && a.Seq == b.Seq && bytes.Equal(a.Data, b.Data)
}

func testDelete(t *testing.T, ctx context.Context, s jobs.LogStore) {
	var all []jobs.SegmentKey
	for _, w := range []string{"a", "b"} {
		for seq := uint64(1); seq <= 5; seq++ {
			k := key(2, 4, w, seq)
			mustAppend(t, ctx, s, k, payload(k))
			all = append(all, k)
		}
	}
	// A prefix of a, a hole in the middle of b, and keys that never existed.
	del := []jobs.SegmentKey{
		key(2, 4, "a", 1), key(2, 4, "a", 2),
		key(2, 4, "b", 3),
		key(2, 4, "a", 99), key(2, 4, "zz", 1), key(9, 9, "a", 1),
	}
	if err := s.DeleteSegments(ctx, del); err != nil {
		t.Fatalf("DeleteSegments: %v", err)
	}
	var want []jobs.SegmentKey
	for _, k := range all {
		if !slices.Contains(del, k) {
			want = append(want, k)
		}
	}
	mustList(t, ctx, s, 2, 4, want)
	for _, k := range want {
		mustRead(t, ctx, s, k, payload(k))
	}
	// Deleting twice is fine; so is an empty list.
	if err := s.DeleteSegments(ctx, del); err != nil {
		t.Fatalf("DeleteSegments again: %v", err)
	}
	if err := s.DeleteSegments(ctx, nil); err != nil {
		t.Fatalf("DeleteSegments(nil): %v", err)
	}
	// Delete everything.
	if err := s.DeleteSegments(ctx, all); err != nil {
		t.Fatalf("DeleteSegments(all): %v", err)
	}
	mustList(t, ctx, s, 2, 4, nil)
}

// testDeleteThenAppendMore is the compaction cycle: a writer's first
// segments are dropped after a snapshot, then it keeps appending.
func testDeleteThenAppend(t *testing.T, ctx context.Context, s jobs.LogStore) {
	for seq := uint64(1); seq <= 4; seq++ {
		mustAppend(t, ctx, s, key(8, 1, "n1", seq), payload(key(8, 1, "n1", seq)))
	}
	if err := s.PutSnapshot(ctx, jobs.Snapshot{Shard: 8, Epoch: 1, Writer: "n1", Seq: 4, Data: []byte("s")}); err != nil {
		t.Fatalf("PutSnapshot: %v", err)
	}
	if err := s.DeleteSegments(ctx, []jobs.SegmentKey{key(8, 1, "n1", 1), key(8, 1, "n1", 2), key(8, 1, "n1", 3), key(8, 1, "n1", 4)}); err != nil {
		t.Fatalf("DeleteSegments: %v", err)
	}
	mustList(t, ctx, s, 8, 1, nil)
	for seq := uint64(5); seq <= 6; seq++ {
		mustAppend(t, ctx, s, key(8, 1, "n1", seq), payload(key(8, 1, "n1", seq)))
	}
	mustList(t, ctx, s, 8, 1, []jobs.SegmentKey{key(8, 1, "n1", 5), key(8, 1, "n1", 6)})
	// A segment deleted out of order leaves a hole that listing skips.
	if err := s.DeleteSegments(ctx, []jobs.SegmentKey{key(8, 1, "n1", 6)}); err != nil {
		t.Fatalf("DeleteSegments(6): %v", err)
	}
	mustAppend(t, ctx, s, key(8, 1, "n1", 7), payload(key(8, 1, "n1", 7)))
	mustList(t, ctx, s, 8, 1, []jobs.SegmentKey{key(8, 1, "n1", 5), key(8, 1, "n1", 7)})
}

func testShardsIsolated(t *testing.T, ctx context.Context, s jobs.LogStore) {
	k1, k2 := key(1, 1, "n1", 1), key(2, 1, "n1", 1)
	mustAppend(t, ctx, s, k1, []byte("one"))
	mustAppend(t, ctx, s, k2, []byte("two"))
	mustRead(t, ctx, s, k1, []byte("one"))
	mustRead(t, ctx, s, k2, []byte("two"))
	// Shard numbers that could collide in a naive key encoding.
	k12, k121 := key(12, 1, "n1", 1), key(1, 21, "n1", 1)
	mustAppend(t, ctx, s, k12, []byte("twelve"))
	mustAppend(t, ctx, s, k121, []byte("one/twenty-one"))
	mustList(t, ctx, s, 1, 1, []jobs.SegmentKey{k1})
	mustList(t, ctx, s, 12, 1, []jobs.SegmentKey{k12})
	mustList(t, ctx, s, 1, 21, []jobs.SegmentKey{k121})

	for i, shard := range []int{1, 2} {
		snap := jobs.Snapshot{Shard: shard, Epoch: 1, Writer: "n1", Seq: 1, Data: fmt.Appendf(nil, "snap %d", i)}
		if err := s.PutSnapshot(ctx, snap); err != nil {
			t.Fatalf("PutSnapshot(%d): %v", shard, err)
		}
	}
	if err := s.DeleteSegments(ctx, []jobs.SegmentKey{k1}); err != nil {
		t.Fatalf("DeleteSegments: %v", err)
	}
	mustRead(t, ctx, s, k2, []byte("two"))
	mustList(t, ctx, s, 2, 1, []jobs.SegmentKey{k2})
	for i, shard := range []int{1, 2} {
		got, err := s.ReadSnapshot(ctx, shard)
		if err != nil || string(got.Data) != fmt.Sprintf("snap %d", i) || got.Shard != shard {
			t.Fatalf("ReadSnapshot(%d) = %+v, %v", shard, got, err)
		}
	}
	if _, err := s.ReadSnapshot(ctx, 3); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("ReadSnapshot(3) = %v, want ErrNotFound", err)
	}
}

func allBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func testBinary(t *testing.T, ctx context.Context, s jobs.LogStore) {
	data := allBytes(256 * 3)
	// Byte sequences that look like RESP framing or text encodings.
	data = append(data, []byte("\r\n$-1\r\n*0\r\n+OK\r\n:1\r\n\x00\xff\xfe")...)
	k := key(0, 1, "n1", 1)
	mustAppend(t, ctx, s, k, data)
	mustRead(t, ctx, s, k, data)
	snap := jobs.Snapshot{Shard: 0, Epoch: 1, Writer: "n1", Seq: 1, Data: data}
	if err := s.PutSnapshot(ctx, snap); err != nil {
		t.Fatalf("PutSnapshot: %v", err)
	}
	got, err := s.ReadSnapshot(ctx, 0)
	if err != nil || !snapEqual(got, snap) {
		t.Fatalf("ReadSnapshot of binary data: %v (equal=%v)", err, snapEqual(got, snap))
	}
}

func testLarge(t *testing.T, ctx context.Context, s jobs.LogStore) {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 1<<20+12345)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	k := key(10, 1, "n1", 1)
	mustAppend(t, ctx, s, k, big)
	mustRead(t, ctx, s, k, big)
	if err := s.AppendSegment(ctx, k, big[:10]); !errors.Is(err, jobs.ErrSegmentExists) {
		t.Fatalf("rewriting a large segment = %v, want ErrSegmentExists", err)
	}
	mustRead(t, ctx, s, k, big)

	snap := jobs.Snapshot{Shard: 10, Epoch: 1, Writer: "n1", Seq: 1, Data: big}
	if err := s.PutSnapshot(ctx, snap); err != nil {
		t.Fatalf("PutSnapshot (large): %v", err)
	}
	small := jobs.Snapshot{Shard: 10, Epoch: 1, Writer: "n1", Seq: 2, Data: []byte("small again")}
	if err := s.PutSnapshot(ctx, small); err != nil {
		t.Fatalf("PutSnapshot (small after large): %v", err)
	}
	got, err := s.ReadSnapshot(ctx, 10)
	if err != nil || !snapEqual(got, small) {
		t.Fatalf("ReadSnapshot after large then small = %+v, %v", got.Seq, err)
	}
	if err := s.PutSnapshot(ctx, snap); err != nil {
		t.Fatalf("PutSnapshot (large again): %v", err)
	}
	got, err = s.ReadSnapshot(ctx, 10)
	if err != nil || !snapEqual(got, snap) {
		t.Fatalf("ReadSnapshot of a large snapshot: %v (equal=%v)", err, snapEqual(got, snap))
	}
	if err := s.DeleteSegments(ctx, []jobs.SegmentKey{k}); err != nil {
		t.Fatalf("DeleteSegments (large): %v", err)
	}
	if _, err := s.ReadSegment(ctx, k); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("ReadSegment of a deleted large segment = %v, want ErrNotFound", err)
	}
}

func testConcurrentWriters(t *testing.T, ctx context.Context, s jobs.LogStore) {
	const writers, perWriter = 4, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(1); seq <= perWriter; seq++ {
				k := key(11, 5, fmt.Sprintf("w%d", w), seq)
				if err := s.AppendSegment(ctx, k, payload(k)); err != nil {
					errs <- fmt.Errorf("AppendSegment(%+v): %w", k, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var want []jobs.SegmentKey
	for w := range writers {
		for seq := uint64(1); seq <= perWriter; seq++ {
			want = append(want, key(11, 5, fmt.Sprintf("w%d", w), seq))
		}
	}
	mustList(t, ctx, s, 11, 5, want)
	for _, k := range want {
		mustRead(t, ctx, s, k, payload(k))
	}
}
