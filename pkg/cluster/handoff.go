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
}

// sendHandoff gives the shard's final state to the owner the plan names.
func (n *Node) sendHandoff(shard int, epoch uint64, final []jobs.Job) {
	id, self, ok := n.ownerOf(shard)
	if !ok || self {
		return
	}
	data, err := json.Marshal(handoffMsg{Shard: shard, Epoch: epoch, Data: jobs.EncodeSnapshot(final)})
	if err != nil {
		return
	}
	if _, err := n.bus.conn.Request(nodeSubject(id, "handoff"), data, 2*time.Second); err != nil {
		n.log.Debug().Err(err).Int("shard", shard).Msg("hand-off message not delivered; the new owner reads the log")
	}
}

// onHandoff keeps a hand-off for the shard's load, or merges it at once if
// the shard is served here already.
func (n *Node) onHandoff(m *nats.Msg) {
	var h handoffMsg
	if err := json.Unmarshal(m.Data, &h); err != nil {
		return
	}
	if n.State() != StateActive {
		// A draining node will not serve the shard; the new owner reads
		// the log the old one flushed.
		_ = m.Respond([]byte("no"))
		return
	}
	js, err := jobs.DecodeSnapshot(h.Data)
	if err != nil {
		n.log.Warn().Err(err).Int("shard", h.Shard).Msg("bad hand-off message ignored")
		_ = m.Respond([]byte("bad"))
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
			_ = m.Respond([]byte("ok"))
			return
		}
		sr.mu.Unlock()
	}
	n.handoffMu.Lock()
	if prev, ok := n.handoffs[h.Shard]; !ok || prev.epoch <= h.Epoch {
		n.handoffs[h.Shard] = handoff{epoch: h.Epoch, jobs: js}
	}
	n.handoffMu.Unlock()
	_ = m.Respond([]byte("ok"))
}

// takeHandoff returns and forgets what was handed over for a shard.
func (n *Node) takeHandoff(shard int) (handoff, bool) {
	n.handoffMu.Lock()
	defer n.handoffMu.Unlock()
	h, ok := n.handoffs[shard]
	delete(n.handoffs, shard)
	return h, ok
}
