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
