package jobs

import "testing"

func TestSnapshotCovers(t *testing.T) {
	s := Snapshot{Shard: 3, Epoch: 4, Writer: "n1", Seq: 10}
	for _, tc := range []struct {
		k    SegmentKey
		want bool
	}{
		{SegmentKey{Shard: 3, Epoch: 4, Writer: "n1", Seq: 1}, true},
		{SegmentKey{Shard: 3, Epoch: 4, Writer: "n1", Seq: 10}, true},
		{SegmentKey{Shard: 3, Epoch: 4, Writer: "n1", Seq: 11}, false}, // written after the snapshot
		{SegmentKey{Shard: 3, Epoch: 4, Writer: "n2", Seq: 1}, false},  // another writer of the epoch
		{SegmentKey{Shard: 3, Epoch: 3, Writer: "n1", Seq: 1}, false},  // an older epoch is listed from the snapshot's on
		{SegmentKey{Shard: 3, Epoch: 5, Writer: "n1", Seq: 1}, false},
	} {
		if got := s.Covers(tc.k); got != tc.want {
			t.Errorf("Covers(%+v) = %v, want %v", tc.k, got, tc.want)
		}
	}
}
