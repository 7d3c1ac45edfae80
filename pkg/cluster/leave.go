package cluster

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/shoal-dev/shoal/pkg/cluster/placement"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

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
	for s := range n.shards {
		n.retireLocked(s)
	}
	n.mu.Unlock()
	for time.Now().Before(deadline) {
		n.mu.Lock()
		left := len(n.shards) + len(n.retiring)
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

// Leaving in turn. Olric moves no data off a node that leaves, so two
// nodes that leave Olric at the same moment can take both copies of a key
// with them. Departures are therefore granted one at a time by a
// coordinator, the lowest-named active member, over NATS (not Olric, which
// the leaver is about to leave). The coordinator grants a turn only when
// every active member (itself included) has adopted a view without any
// draining node, serves all its shards, and has snapshotted them since the
// Olric membership reached its current size; after a leaver is done, the
// next turn also waits for Olric to count one member fewer, which makes
// every owner write its shards again (two copies on the members that stay).

type leaveMsg struct {
	Name string `json:"name"`
	Op   string `json:"op"` // "ask" or "done"
}

// waitSafeToLeave asks for the turn to leave until it is granted, nobody
// is left to protect, or the deadline passes.
func (n *Node) waitSafeToLeave(deadline time.Time) {
	warned := false
	for time.Now().Before(deadline) && n.ctx.Err() == nil {
		coord, ok := n.leaveCoordinator()
		if !ok {
			return // no active member left: nothing to hand over to
		}
		data, _ := json.Marshal(leaveMsg{Name: n.cfg.Name, Op: "ask"})
		msg, err := n.bus.conn.Request(nodeSubject(coord, "leave"), data, time.Second)
		if err == nil && string(msg.Data) == "go" {
			n.mu.Lock()
			n.leaveCoord = coord
			n.mu.Unlock()
			return
		}
		if !warned && time.Until(deadline) < n.cfg.LeaveTimeout/2 {
			n.log.Info().Msg("waiting for the turn to leave: the other members are still taking over shards")
			warned = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.log.Warn().Msg("leave deadline reached before the cluster granted a turn; leaving anyway")
}

// leaveDone tells the coordinator that this node has left Olric.
func (n *Node) leaveDone() {
	n.mu.Lock()
	coord := n.leaveCoord
	n.mu.Unlock()
	if coord == "" || n.bus == nil || n.bus.conn == nil {
		return
	}
	data, _ := json.Marshal(leaveMsg{Name: n.cfg.Name, Op: "done"})
	_, _ = n.bus.conn.Request(nodeSubject(coord, "leave"), data, time.Second)
}

// leaveCoordinator is the ID of the lowest-named active member.
func (n *Node) leaveCoordinator() (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	best, id := "", ""
	for _, p := range n.peers {
		if p.hb.ClusterID == n.clusterID && p.hb.State == StateActive && now.Sub(p.seen) <= n.cfg.HeartbeatTimeout {
			if best == "" || p.hb.Name < best {
				best, id = p.hb.Name, p.hb.ID
			}
		}
	}
	return id, id != ""
}

// isLeaveCoordinatorLocked reports whether this node is the lowest-named
// active member it knows of.
func (n *Node) isLeaveCoordinatorLocked(now time.Time) bool {
	for _, p := range n.peers {
		if p.hb.ClusterID == n.clusterID && p.hb.State == StateActive && now.Sub(p.seen) <= n.cfg.HeartbeatTimeout && p.hb.Name < n.cfg.Name {
			return false
		}
	}
	return true
}

// onLeave is the coordinator's side.
func (n *Node) onLeave(m *nats.Msg) {
	var req leaveMsg
	if json.Unmarshal(m.Data, &req) != nil {
		return
	}
	n.refreshClusterID()
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	if req.Op == "done" {
		if n.leaveGrant == req.Name {
			n.leaveGrant = ""
		}
		_ = m.Respond([]byte("ok"))
		return
	}
	if n.State() != StateActive || !n.isLeaveCoordinatorLocked(now) {
		// Only the lowest-named active member grants turns; the leaver
		// asks again and finds it.
		_ = m.Respond([]byte("no"))
		return
	}
	if n.leaveGrant != "" && n.leaveGrant != req.Name && now.Sub(n.leaveGrantAt) < 15*time.Second {
		_ = m.Respond([]byte("wait"))
		return
	}
	if n.leaveGrant == req.Name {
		_ = m.Respond([]byte("go"))
		return
	}
	if n.grantSize > 0 && n.olricSize >= n.grantSize && now.Sub(n.leaveGrantAt) < 15*time.Second {
		// The previous leaver is still counted by Olric.
		_ = m.Respond([]byte("wait"))
		return
	}
	if !n.clusterSettledLocked(now) {
		_ = m.Respond([]byte("wait"))
		return
	}
	n.leaveGrant, n.leaveGrantAt, n.grantSize = req.Name, now, n.olricSize
	n.log.Info().Str("event", "leave_turn").Str("leaver", req.Name).Int("olric_members", n.olricSize).Msg("granted a turn to leave")
	_ = m.Respond([]byte("go"))
}

// clusterSettledLocked: every active member, this one included, has adopted
// a view of active members only, serves its shards, and has snapshotted them
// since Olric reached its current size.
func (n *Node) clusterSettledLocked(now time.Time) bool {
	active := map[string]bool{}
	hbs := []heartbeat{n.selfHeartbeatLocked()}
	for _, p := range n.peers {
		if p.hb.ClusterID == n.clusterID && now.Sub(p.seen) <= n.cfg.HeartbeatTimeout && p.hb.State == StateActive {
			hbs = append(hbs, p.hb)
		}
	}
	for _, hb := range hbs {
		active[hb.Name] = true
	}
	for _, hb := range hbs {
		if !hb.Synced || hb.SyncedMembers != n.olricSize {
			return false
		}
		for _, v := range hb.View {
			if !active[v] {
				return false
			}
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

	// Export everything this node holds and stop its shards without
	// writing. lost moves each served state into what the runner keeps;
	// a runner ends by handing that over, and so does a load still in
	// flight (its hand-off); while merging, hand-offs are collected for
	// the export instead of sent (sendHandoff). A runner cut off from
	// Olric keeps failing its loads: its jobs are only there.
	n.mu.Lock()
	srs := make([]*shardRun, 0, len(n.shards)+len(n.retiring))
	for _, sr := range n.shards {
		srs = append(srs, sr)
	}
	for sr := range n.retiring {
		srs = append(srs, sr)
	}
	n.mu.Unlock()
	for _, sr := range srs {
		sr.lost("merging into cluster " + other.ID)
		sr.cancel()
	}
	if !waitUntil(time.Now().Add(15*time.Second), func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(n.shards)+len(n.retiring) == 0
	}) {
		n.log.Warn().Msg("merging: some shard runners did not end within 15 s; exporting what they hold now")
	}
	n.handoffMu.Lock()
	exported := n.mergeExport
	n.mergeExport = nil
	for s, ho := range n.handoffs {
		exported = append(exported, ho.jobs...) // received, not loaded yet
		delete(n.handoffs, s)
	}
	n.handoffMu.Unlock()
	for _, sr := range srs {
		exported = append(exported, sr.heldJobs()...) // runners that did not end
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
