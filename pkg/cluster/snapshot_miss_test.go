package cluster

import (
	"fmt"
	"testing"
	"time"
)

func TestSnapshotMissDecision(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	id := func(age time.Duration) string { return fmt.Sprintf("%016x-%d", 42, now.Add(-age).UnixNano()) }
	for _, tc := range []struct {
		name      string
		epoch     uint64
		clusterID string
		since     time.Time
		want      missDecision
	}{
		{"first lease of a young cluster: a new shard", 1, id(5 * time.Second), time.Time{}, missNew},
		{"first lease, cluster ID unknown: a new shard", 1, "", time.Time{}, missNew},
		{"taken before: retry", 2, id(5 * time.Second), time.Time{}, missRetry},
		{"old cluster, epoch counter missed too: retry", 1, id(10 * time.Minute), time.Time{}, missRetry},
		{"still within the wait", 7, id(10 * time.Minute), now.Add(-snapshotWait + time.Second), missRetry},
		{"waited long enough: serve what remains", 7, id(10 * time.Minute), now.Add(-snapshotWait - time.Second), missGiveUp},
		{"malformed cluster ID counts as unknown", 1, "abc-xyz", time.Time{}, missNew},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := snapshotMiss(tc.epoch, tc.clusterID, tc.since, now); got != tc.want {
				t.Errorf("snapshotMiss(%d, %q, %v) = %v, want %v", tc.epoch, tc.clusterID, tc.since, got, tc.want)
			}
		})
	}
}

func TestHandoffIsLatest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ho, lease uint64
		own       []uint64
		want      bool
	}{
		{"straight from the holder", 7, 8, nil, true},
		{"no hand-off epoch", 0, 8, nil, false},
		{"epoch counter lost, first try after it", 8, 1, nil, true},
		{"epoch counter lost, our own failed loads since", 8, 4, []uint64{1, 2, 3}, true},
		{"epoch counter lost, someone else took epoch 2 since", 8, 4, []uint64{1, 3}, false},
		{"no lease epoch", 8, 0, nil, false},
		{"our own failed loads in between", 7, 10, []uint64{8, 9}, true},
		{"another node took epoch 9", 7, 10, []uint64{8}, false},
		{"failed loads from before the hand-off do not help", 7, 9, []uint64{3, 4}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := handoffIsLatest(tc.ho, tc.lease, tc.own); got != tc.want {
				t.Fatalf("handoffIsLatest(%d, %d, %v) = %v, want %v", tc.ho, tc.lease, tc.own, got, tc.want)
			}
		})
	}
}

func TestLoadSource(t *testing.T) {
	for _, tc := range []struct {
		name      string
		haveHO    bool
		hoEpoch   uint64
		haveKept  bool
		keptEpoch uint64
		lease     uint64
		own       []uint64
		want      int
	}{
		{"graceful move: hand-off at 7, lease 8", true, 7, false, 0, 8, nil, fromHandoff},
		{"hand-off, but someone served at 8", true, 7, false, 0, 9, nil, fromLog},
		{"crash takeover: nothing held", false, 0, false, 0, 5, nil, fromLog},
		{"lost at 12, took it back at 13", false, 0, true, 12, 13, nil, fromKept},
		{"lost at 12, own failed loads 13-15, now 16", false, 0, true, 12, 16, []uint64{13, 14, 15}, fromKept},
		{"lost at 12, another node served at 13", false, 0, true, 12, 14, nil, fromLog},
		{"kept state not one whole served state (epoch 0)", false, 0, true, 0, 3, []uint64{1, 2}, fromLog},
		{"kept and a hand-off: merge with the log", true, 12, true, 12, 13, nil, fromLog},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := loadSource(tc.haveHO, tc.hoEpoch, tc.haveKept, tc.keptEpoch, tc.lease, tc.own); got != tc.want {
				t.Fatalf("loadSource = %d, want %d", got, tc.want)
			}
		})
	}
}
