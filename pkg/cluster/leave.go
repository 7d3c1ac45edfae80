package cluster

import (
	"context"
	"encoding/json"
	"time"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// leaveLockKey is the cluster-wide lock that makes draining nodes leave
// Olric one at a time.
const leaveLockKey = "shoal/leave-turn"

func (n *Node) publishHeartbeatNow() {
	n.mu.Lock()
	n.hbSeq++
	hb := n.selfHeartbeatLocked()
	n.mu.Unlock()
	if data, err := json.Marshal(hb); err == nil {
		_ = n.bus.conn.Publish(subjectHeartbeat, data)
		_ = n.bus.conn.Flush()
	}
}

// othersActive reports whether some other node of our cluster is active.
func (n *Node) othersActive() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	for _, p := range n.peers {
		if p.hb.ClusterID == n.clusterID && p.hb.State == StateActive && now.Sub(p.seen) <= n.cfg.HeartbeatTimeout {
			return true
		}
	}
	return false
}

// drain is the graceful departure: announce it, let the shards move, let
// running jobs finish until DrainTimeout, hand the rest back, then leave
// Olric in turn once the data is safe on the remaining members.
func (n *Node) drain() {
	start := time.Now()
	n.state.Store(StateDraining)
	n.publishHeartbeatNow()
	running := n.exec.Running()
	n.log.Info().Str("event", "drain").Int("running", running).Dur("drain_timeout", n.cfg.DrainTimeout).
		Msg("draining: no new jobs start here; shards move to the other nodes")
	n.publishClusterEvent("drain", n.cfg.Name+" is draining")

	// Running jobs get until DrainTimeout; then they are cancelled and
	// handed back as queued (attempt given back).
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.DrainTimeout)
	n.exec.Stop(ctx)
	cancel()
	finished := running - n.exec.Running()

	// Hand off every shard still held (graceful: flush, snapshot, release).
	deadline := time.Now().Add(n.cfg.LeaveTimeout)
	n.mu.Lock()
	for _, sr := range n.shards {
		sr.release()
	}
	n.mu.Unlock()
	for time.Now().Before(deadline) {
		n.mu.Lock()
		left := len(n.shards)
		n.mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Completions forwarded to new owners must arrive before we go.
	fwdDone := make(chan struct{})
	go func() { n.fwd.Wait(); close(fwdDone) }()
	select {
	case <-fwdDone:
	case <-time.After(time.Until(deadline)):
	}
	n.waitSafeToLeave(deadline)
	n.log.Info().Str("event", "left").Int("jobs_finished_during_drain", finished).
		Int64("took_ms", time.Since(start).Milliseconds()).Msg("drained and leaving the cluster")
}

// waitSafeToLeave takes the cluster-wide leave turn and waits until every
// active member holds its shards, snapshotted since the last membership
// change: only then does leaving Olric lose no copy of any log.
func (n *Node) waitSafeToLeave(deadline time.Time) {
	st := n.getStore()
	if st == nil || !n.othersActive() {
		return
	}
	kv := st.KV()
	ctx, cancel := context.WithDeadline(n.ctx, deadline)
	defer cancel()
	var unlock func()
	for ctx.Err() == nil {
		h, err := kv.Lock(ctx, leaveLockKey, 10*time.Second)
		if err == nil {
			unlock = func() {
				uctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = kv.Unlock(uctx, h)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if unlock != nil {
		defer unlock()
	}
	for ctx.Err() == nil {
		n.refreshClusterID()
		if n.othersSynced() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.log.Warn().Msg("leave deadline reached before every member reported its shards safe; leaving anyway")
}

// othersSynced: every other active member of our cluster serves its plan
// and has snapshotted since the Olric membership reached its current size.
func (n *Node) othersSynced() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	for _, p := range n.peers {
		if p.hb.ClusterID != n.clusterID || now.Sub(p.seen) > n.cfg.HeartbeatTimeout || p.hb.State != StateActive {
			continue
		}
		if !p.hb.Synced || p.hb.SyncedMembers != n.olricSize {
			return false
		}
		// A member whose heartbeat predates our draining may still count us.
		if p.seen.Before(n.planAt) {
			return false
		}
	}
	return true
}

// heal moves this node into a bigger cluster it found: export what it
// holds, restart Olric joined to the other side, and import the jobs there
// (merged by job ID with what the other side has).
func (n *Node) heal(other otherCluster) {
	start := time.Now()
	n.log.Warn().Str("event", "heal").Str("other_cluster", other.ID).Int("other_size", other.Size).
		Strs("other_members", other.MemberlistAddrs).
		Msg("found a bigger cluster beside ours (formed apart, or a healed partition): moving our jobs into it")
	n.state.Store(StateMerging)
	n.publishHeartbeatNow()

	// Running jobs are handed back so that they run once, on the other side.
	for _, id := range n.exec.RunningIDs() {
		n.exec.Cancel(id)
	}
	waitUntil(time.Now().Add(5*time.Second), func() bool { return n.exec.Running() == 0 })

	// Export everything this node holds and stop its shards without writing.
	var exported []jobs.Job
	n.mu.Lock()
	srs := make([]*shardRun, 0, len(n.shards))
	for _, sr := range n.shards {
		srs = append(srs, sr)
	}
	n.mu.Unlock()
	for _, sr := range srs {
		sr.mu.Lock()
		if sr.shard != nil {
			exported = append(exported, sr.shard.Jobs()...)
		}
		sr.mu.Unlock()
		sr.lost("merging into cluster " + other.ID)
	}
	waitUntil(time.Now().Add(10*time.Second), func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(n.shards) == 0
	})

	// Restart Olric joined to the other cluster.
	if st := n.getStore(); st != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = st.Shutdown(ctx)
		cancel()
	}
	n.mu.Lock()
	n.plan, n.members = nil, nil
	n.set = settler{quiet: n.cfg.Settle, max: n.cfg.MaxSettle}
	n.olricSize = 0
	n.clusterID = ""
	n.mu.Unlock()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(n.ctx, 20*time.Second)
		err := n.startStore(ctx, other.MemberlistAddrs)
		cancel()
		if err == nil {
			break
		}
		if n.ctx.Err() != nil {
			return
		}
		n.log.Error().Err(err).Int("attempt", attempt).Msg("could not join the other cluster; retrying")
		time.Sleep(time.Second)
	}
	n.state.Store(StateActive)
	n.publishHeartbeatNow()

	// Import: the owners merge each job with what they hold.
	ctx, cancel := context.WithTimeout(n.ctx, 2*time.Minute)
	defer cancel()
	imported, failed := 0, 0
	for len(exported) > 0 && ctx.Err() == nil {
		batch := exported
		if len(batch) > 500 {
			batch = batch[:500]
		}
		res := n.routeEnqueue(ctx, batch, true)
		var again []jobs.Job
		for i, r := range res {
			if r.Error != nil {
				again = append(again, batch[i])
				continue
			}
			imported++
		}
		exported = append(again, exported[len(batch):]...)
		if len(again) > 0 {
			failed++
			time.Sleep(100 * time.Millisecond)
		}
	}
	n.log.Info().Str("event", "healed").Str("cluster", other.ID).Int("jobs_imported", imported).
		Int("jobs_not_imported", len(exported)).Int64("took_ms", time.Since(start).Milliseconds()).
		Msg("joined the bigger cluster and handed our jobs over")
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(deadline time.Time, cond func() bool) bool {
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
