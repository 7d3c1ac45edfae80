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
