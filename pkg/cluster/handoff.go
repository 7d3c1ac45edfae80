package cluster

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// handoffMsg carries a shard's final state from its old owner to its new
// one on a graceful move, so that the move does not depend on reading the
// log back from Olric (whose reads can miss keys while its partitions move).
// The log and snapshot in Olric stay the durable copy.
type handoffMsg struct {
	Shard int    `json:"shard"`
	Epoch uint64 `json:"epoch"` // the old owner's lease epoch
	Data  []byte `json:"data"`  // jobs.EncodeSnapshot
}

// handoff is a received final state.
type handoff struct {
	epoch uint64
	jobs  []jobs.Job
	at    time.Time
}

// subjectHandoff carries hand-offs to every node: the node that takes the
// shard next uses it, even if its view of the plan differed from the old
// owner's; the others drop it after handoffTTL.
const subjectHandoff = "shoal.int.handoff"

// handoffTTL is how long an unused hand-off is kept. The next owner can
// take a shard a minute or more after its previous holder let go (a joiner
// that Olric is slow to bootstrap; a load that waits for Olric to settle),
// and the hand-off is then the only whole copy if Olric misses keys: keep
// it long. The cost is memory: every node keeps every recent hand-off.
const handoffTTL = 5 * time.Minute

// sendHandoff publishes the shard's final state before its lease is
// released.
//
// While the node merges into another cluster (heal) the state is kept for
// the export instead: this cluster's nodes are not where it must go.
func (n *Node) sendHandoff(shard int, epoch uint64, final []jobs.Job) {
	if n.State() == StateMerging {
		n.handoffMu.Lock()
		n.mergeExport = append(n.mergeExport, final...)
		n.handoffMu.Unlock()
		return
	}
	data, err := json.Marshal(handoffMsg{Shard: shard, Epoch: epoch, Data: jobs.EncodeSnapshot(final)})
	if err != nil {
		return
	}
	if err := n.bus.conn.Publish(subjectHandoff, data); err == nil {
		err = n.bus.conn.Flush()
	}
	if err != nil {
		n.log.Debug().Err(err).Int("shard", shard).Msg("hand-off message not sent; the new owner reads the log")
	}
}

// onHandoff keeps a hand-off for the shard's load, or merges it at once if
// the shard is served here already (it was taken before the message came).
func (n *Node) onHandoff(m *nats.Msg) {
	var h handoffMsg
	if err := json.Unmarshal(m.Data, &h); err != nil {
		return
	}
	if n.State() == StateDraining {
		return // a draining node will not serve the shard (a joining one may)
	}
	js, err := jobs.DecodeSnapshot(h.Data)
	if err != nil {
		n.log.Warn().Err(err).Int("shard", h.Shard).Msg("bad hand-off message ignored")
		return
	}
	if sr := n.served(h.Shard); sr != nil {
		sr.mu.Lock()
		if sr.serving && sr.shard != nil {
			var recs []jobs.Record
			for _, j := range js {
				if r, changed := sr.shard.Adopt(j); changed {
					recs = append(recs, r)
				}
			}
			if len(recs) > 0 {
				sr.appendNoWaitLocked(recs...)
			}
			sr.mu.Unlock()
			n.markReady(h.Shard)
			n.kickDispatch()
			return
		}
		sr.mu.Unlock()
	}
	now := time.Now()
	n.handoffMu.Lock()
	for s, ho := range n.handoffs {
		if now.Sub(ho.at) > handoffTTL {
			delete(n.handoffs, s)
		}
	}
	if prev, ok := n.handoffs[h.Shard]; !ok || prev.epoch <= h.Epoch {
		n.handoffs[h.Shard] = handoff{epoch: h.Epoch, jobs: js, at: now}
	}
	n.handoffMu.Unlock()
	n.mu.Lock()
	sr := n.shards[h.Shard]
	n.mu.Unlock()
	if sr != nil {
		// Waiting for the lease the previous holder releases right now.
		select {
		case sr.wake <- struct{}{}:
		default:
		}
	}
}

// takeHandoff returns and forgets what was handed over for a shard.
func (n *Node) takeHandoff(shard int) (handoff, bool) {
	n.handoffMu.Lock()
	defer n.handoffMu.Unlock()
	h, ok := n.handoffs[shard]
	delete(n.handoffs, shard)
	return h, ok
}

// restoreHandoff puts back a hand-off whose load failed, unless a newer one
// arrived meanwhile.
func (n *Node) restoreHandoff(shard int, h handoff) {
	n.handoffMu.Lock()
	defer n.handoffMu.Unlock()
	if prev, ok := n.handoffs[shard]; !ok || prev.epoch < h.epoch {
		h.at = time.Now()
		n.handoffs[shard] = h
	}
}
