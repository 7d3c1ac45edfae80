package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// A release that arrives right after the runner lost its lease must not
// keep the flusher alive: the runner waits for the flusher to end, and a
// runner that never ends keeps its shard from ever being served here again.
func TestFlusherEndsWhenReleasedJustAfterLost(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := &Node{ctx: ctx, log: zerolog.Nop()}
	n.cfg.FlushInterval = 50 * time.Millisecond // the window the release lands in
	n.cfg.FlushLazyInterval = 50 * time.Millisecond
	n.cfg.SnapshotRecords = 1 << 30
	sr := newShardRun(n, 137)
	sr.serving = true
	sr.shard = jobs.NewShard(137, jobs.DefaultShardConfig())
	flushDone := make(chan struct{})
	go func() {
		defer close(flushDone)
		sr.flushLoop()
	}()

	sr.lost("lease could not be renewed in time") // as serve does on lease.Stop
	sr.release()                                  // the plan moves the shard away at that moment

	select {
	case <-flushDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the flusher of a lost and then released shard did not end: its runner would never end")
	}
}

// A runner that lost its lease keeps the shard's state until its next load
// merges it. Moved away before that (here: while it waits for a load slot),
// it must hand that state over, not drop it: it can hold acknowledged jobs
// that the log in Olric lacks. While the node merges into another cluster,
// the hand-off is collected for the export (a 3-node partition test lost 9
// acknowledged jobs when the merge exported served shards only).
func TestKeptStateIsHandedOverWhenTheRunnerEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := &Node{ctx: ctx, log: zerolog.Nop(), shards: map[int]*shardRun{}, retiring: map[*shardRun]bool{},
		loadSlots: make(chan struct{}, 1)}
	n.cfg.LeaseTTL = 2 * time.Second
	n.state.Store(StateMerging)
	sr := newShardRun(n, 42)
	kept := jobs.Job{ID: "0123456789abcdef0123456789abcdef", Type: "sleep", State: jobs.StateQueued}
	sr.kept = []jobs.Job{kept}
	n.shards[42] = sr
	n.loadSlots <- struct{}{} // every load slot taken: the runner waits
	n.wg.Add(1)
	go sr.run()

	sr.release()
	n.wg.Wait()

	n.handoffMu.Lock()
	got := n.mergeExport
	n.handoffMu.Unlock()
	if len(got) != 1 || got[0].ID != kept.ID {
		t.Fatalf("exported %v, want the kept job %s", got, kept.ID)
	}
	if _, ok := n.shards[42]; ok {
		t.Fatal("the ended runner is still in the node's shards")
	}
}
