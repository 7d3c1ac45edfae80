package cluster

import (
	"sort"
	"time"
)

// NodeState is a node's own account of where it is in its life.
type NodeState string

// Node states, as announced in heartbeats and shown by `submit members`.
const (
	// StateJoining: the node is forming or joining a cluster; it owns nothing.
	StateJoining NodeState = "joining"
	// StateActive: the node takes its share of the shards.
	StateActive NodeState = "active"
	// StateDraining: the node is leaving; its shards move away at once.
	StateDraining NodeState = "draining"
	// StateMerging: the node is moving its jobs to a bigger cluster it found.
	StateMerging NodeState = "merging"
)

// heartbeat is what every node publishes on subjectHeartbeat every
// HeartbeatInterval. It is the membership of record for placement (together
// with the cluster identity), the runner liveness signal, and what
// `submit members` shows.
type heartbeat struct {
	Name string `json:"name"`
	// ID names this incarnation of the node (name#random); it is the runner
	// name of the jobs it runs and the token of its private subjects.
	ID string `json:"id"`
	// Addr is the advertised IP address.
	Addr           string    `json:"addr"`
	HTTPPort       int       `json:"http_port"`
	MemberlistAddr string    `json:"memberlist_addr"`
	ClusterID      string    `json:"cluster_id"`
	ClusterSize    int       `json:"cluster_size"`
	State          NodeState `json:"state"`
	Shards         int       `json:"shards"`
	Held           int       `json:"held"`
	Running        int       `json:"running"`
	RunningIDs     []string  `json:"running_ids,omitempty"`
	Types          []string  `json:"types,omitempty"`
	// View is the active members of the placement the node adopted last.
	View []string `json:"view,omitempty"`
	// Synced is true when the node holds exactly the shards its plan gives
	// it, each loaded and snapshotted since the last change of the Olric
	// membership, whose size was SyncedMembers.
	Synced        bool   `json:"synced"`
	SyncedMembers int    `json:"synced_members"`
	Seq           uint64 `json:"seq"`
}

// peerEntry is a heartbeat and when it was received, on the local clock.
type peerEntry struct {
	hb   heartbeat
	seen time.Time
}

// activeMembers is the pure rule for who takes part in placement: the nodes
// of the same cluster whose heartbeat is fresh and whose state is active,
// plus self when self is active. The result is sorted by name.
func activeMembers(self heartbeat, peers map[string]peerEntry, now time.Time, timeout time.Duration) []string {
	var out []string
	if self.State == StateActive {
		out = append(out, self.Name)
	}
	for _, p := range peers {
		if p.hb.Name == self.Name || p.hb.State != StateActive || p.hb.ClusterID != self.ClusterID {
			continue
		}
		if now.Sub(p.seen) > timeout {
			continue
		}
		out = append(out, p.hb.Name)
	}
	sort.Strings(out)
	return out
}

// liveRunners returns the IDs of the node incarnations that are alive as far
// as this node can tell: itself and every fresh heartbeat of its cluster.
func liveRunners(self heartbeat, peers map[string]peerEntry, now time.Time, timeout time.Duration) map[string]bool {
	out := map[string]bool{self.ID: true}
	for _, p := range peers {
		if p.hb.ClusterID == self.ClusterID && now.Sub(p.seen) <= timeout {
			out[p.hb.ID] = true
		}
	}
	return out
}

// otherCluster describes a cluster other than ours seen in heartbeats.
type otherCluster struct {
	ID              string
	Size            int
	MemberlistAddrs []string
}

// biggerCluster is the pure healing rule. Given our cluster and the fresh
// heartbeats of nodes in other clusters, it returns the cluster we must move
// into, if any: the biggest one seen (by the size its members announce),
// and only if it is bigger than ours, or as big with a lower cluster ID.
func biggerCluster(self heartbeat, peers map[string]peerEntry, now time.Time, timeout time.Duration) (otherCluster, bool) {
	others := map[string]*otherCluster{}
	for _, p := range peers {
		if p.hb.ClusterID == "" || p.hb.ClusterID == self.ClusterID || now.Sub(p.seen) > timeout {
			continue
		}
		if p.hb.State == StateJoining || p.hb.State == StateMerging {
			continue
		}
		oc := others[p.hb.ClusterID]
		if oc == nil {
			oc = &otherCluster{ID: p.hb.ClusterID}
			others[p.hb.ClusterID] = oc
		}
		if p.hb.ClusterSize > oc.Size {
			oc.Size = p.hb.ClusterSize
		}
		oc.MemberlistAddrs = append(oc.MemberlistAddrs, p.hb.MemberlistAddr)
	}
	var best *otherCluster
	for _, oc := range others {
		if best == nil || oc.Size > best.Size || (oc.Size == best.Size && oc.ID < best.ID) {
			best = oc
		}
	}
	if best == nil {
		return otherCluster{}, false
	}
	if best.Size > self.ClusterSize || (best.Size == self.ClusterSize && best.ID < self.ClusterID) {
		sort.Strings(best.MemberlistAddrs)
		return *best, true
	}
	return otherCluster{}, false
}

// settler coalesces membership changes: a new view is adopted once it has
// been unchanged for quiet, or max after the first change.
type settler struct {
	quiet, max time.Duration
	current    string // adopted view key
	pending    string
	since      time.Time // when pending last changed
	first      time.Time // first change since current
}

// observe feeds the latest view; it returns true when the pending view
// should be adopted now.
func (s *settler) observe(view string, now time.Time) bool {
	if view == s.current {
		s.pending = ""
		return false
	}
	if view != s.pending {
		if s.pending == "" {
			s.first = now
		}
		s.pending = view
		s.since = now
	}
	if now.Sub(s.since) >= s.quiet || now.Sub(s.first) >= s.max {
		s.current = view
		s.pending = ""
		return true
	}
	return false
}
