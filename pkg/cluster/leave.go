package cluster

import (
	"context"
	"encoding/json"
	"time"

	"github.com/shoal-dev/shoal/pkg/cluster/placement"
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

// heal moves this node into a bigger cluster it found: hand back running
// jobs, export what it holds into the other cluster over NATS (the owners
// there merge each job by ID with what they have), then stop so that the
// process restarts and joins the other cluster at formation. Olric cannot
// join a running node to another cluster, and restarting an embedded Olric
// inside one process proved unreliable, so the restart is a new process
// (cmd/worker re-executes itself; see Node.RestartRequested).
func (n *Node) heal(other otherCluster) {
	start := time.Now()
	n.log.Warn().Str("event", "heal").Str("other_cluster", other.ID).Int("other_size", other.Size).
		Strs("other_members", other.MemberlistAddrs).
		Msg("found a bigger cluster beside ours (formed apart, or a healed partition): moving our jobs into it")
	n.state.Store(StateMerging)
	n.publishHeartbeatNow()
	n.publishClusterEvent("heal", n.cfg.Name+" moves its jobs into cluster "+other.ID)

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
		sr.cancel()
	}

	// Import into the other cluster, routed by its placement.
	ctx, cancel := context.WithTimeout(n.ctx, 2*time.Minute)
	defer cancel()
	total := len(exported)
	for len(exported) > 0 && ctx.Err() == nil {
		batch := exported
		if len(batch) > 500 {
			batch = batch[:500]
		}
		res := n.routeJobs(ctx, batch, true, n.otherOwner(other.ID))
		var again []jobs.Job
		for i, r := range res {
			if r.Error != nil {
				again = append(again, batch[i])
			}
		}
		exported = append(again, exported[len(batch):]...)
		if len(again) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	lvl := n.log.Info()
	if len(exported) > 0 {
		lvl = n.log.Error()
	}
	lvl.Str("event", "healed").Str("cluster", other.ID).Int("jobs_imported", total-len(exported)).
		Int("jobs_not_imported", len(exported)).Int64("took_ms", time.Since(start).Milliseconds()).
		Msg("handed our jobs to the bigger cluster; restarting to join it")
	n.restart.Store(true)
	go n.Kill()
}

// otherOwner routes by the placement of another cluster, computed from the
// heartbeats of its active members.
func (n *Node) otherOwner(clusterID string) func(shard int) (string, bool, bool) {
	n.mu.Lock()
	now := n.now()
	ids := map[string]string{}
	var names []string
	for _, p := range n.peers {
		if p.hb.ClusterID == clusterID && p.hb.State == StateActive && now.Sub(p.seen) <= n.cfg.HeartbeatTimeout {
			ids[p.hb.Name] = p.hb.ID
			names = append(names, p.hb.Name)
		}
	}
	n.mu.Unlock()
	pcfg := placement.DefaultConfig()
	pcfg.Shards = n.cfg.Shards
	plan, err := placement.Assign(pcfg, names)
	return func(shard int) (string, bool, bool) {
		if err != nil || shard >= len(plan) {
			return "", false, false
		}
		id, ok := ids[plan[shard]]
		return id, false, ok
	}
}

// RestartRequested reports whether the node stopped itself to rejoin
// another cluster (healing): the process should start again with the same
// configuration. cmd/worker re-executes itself.
func (n *Node) RestartRequested() bool { return n.restart.Load() }

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
