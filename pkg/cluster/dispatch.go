package cluster

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// markReady notes that a shard may have ready jobs.
func (n *Node) markReady(shard int) {
	n.readyMu.Lock()
	if !n.inReadyQ[shard] {
		n.inReadyQ[shard] = true
		n.readyQ = append(n.readyQ, shard)
	}
	n.readyMu.Unlock()
}

func (n *Node) popReady() (int, bool) {
	n.readyMu.Lock()
	defer n.readyMu.Unlock()
	if len(n.readyQ) == 0 {
		return 0, false
	}
	s := n.readyQ[0]
	n.readyQ = n.readyQ[1:]
	delete(n.inReadyQ, s)
	return s, true
}

func (n *Node) kickDispatch() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// dispatchLoop starts ready jobs of the served shards while the executor
// has free slots, taking shards in turn.
func (n *Node) dispatchLoop() {
	defer n.wg.Done()
	promote := time.NewTicker(50 * time.Millisecond)
	defer promote.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.wake:
		case <-promote.C:
			n.promoteAll()
		}
		if n.State() != StateActive {
			continue
		}
		for n.exec.Free() > 0 {
			s, ok := n.popReady()
			if !ok {
				break
			}
			sr := n.served(s)
			if sr == nil {
				continue
			}
			more := n.startFrom(sr)
			if more {
				n.markReady(s)
			}
		}
	}
}

// startFrom starts up to a few ready jobs of one shard; it returns true if
// the shard still has ready jobs.
func (n *Node) startFrom(sr *shardRun) bool {
	const batch = 8
	now := n.now()
	var started []jobs.Job
	sr.mu.Lock()
	if !sr.serving || sr.shard == nil {
		sr.mu.Unlock()
		return false
	}
	free := n.exec.Free()
	for len(started) < batch && len(started) < free {
		j, ok := sr.shard.Peek(now)
		if !ok {
			break
		}
		j, rec, err := sr.shard.Start(j.ID, n.id, now)
		if err != nil {
			break
		}
		sr.appendNoWaitLocked(rec)
		started = append(started, j)
	}
	_, more := sr.shard.Peek(now)
	sr.mu.Unlock()
	for i, j := range started {
		if !n.exec.TryRun(j, n.onDone) {
			// Cannot happen while the dispatcher is the only starter; hand
			// the rest back rather than lose them.
			sr.mu.Lock()
			for _, k := range started[i:] {
				if sr.shard != nil {
					if _, rec, err := sr.shard.Requeue(k.ID, "executor full", true, now); err == nil {
						sr.appendNoWaitLocked(rec)
					}
				}
			}
			sr.mu.Unlock()
			return true
		}
		n.met.started.Inc()
		n.event(j, "")
	}
	return more
}

// pruneEvery is how often finished jobs past their retention are dropped.
const pruneEvery = time.Second

// promoteAll moves due scheduled jobs to the queue in every served shard,
// and drops finished jobs past their retention once every pruneEvery.
func (n *Node) promoteAll() {
	now := n.now()
	prune := now.Sub(n.lastPrune) >= pruneEvery
	if prune {
		n.lastPrune = now
	}
	for _, s := range n.servedShards() {
		sr := n.served(s)
		if sr == nil {
			continue
		}
		sr.mu.Lock()
		if sr.shard == nil {
			sr.mu.Unlock()
			continue
		}
		recs := sr.shard.Promote(now)
		var pruned []jobs.Record
		if prune {
			pruned = sr.shard.Prune(now)
		}
		if len(recs)+len(pruned) > 0 {
			sr.appendNoWaitLocked(append(recs, pruned...)...)
		}
		sr.mu.Unlock()
		if len(recs) > 0 {
			n.markReady(s)
			n.kickDispatch()
		}
	}
}

// completion is a finished attempt on its way to the shard's owner.
type completion struct {
	ID        string          `json:"id"`
	Runner    string          `json:"runner"`
	Result    json.RawMessage `json:"result,omitempty"`
	Err       string          `json:"err,omitempty"`
	Permanent bool            `json:"permanent,omitempty"`
	Panicked  bool            `json:"panicked,omitempty"`
	TimedOut  bool            `json:"timed_out,omitempty"`
	Cancelled bool            `json:"cancelled,omitempty"`
	Duration  time.Duration   `json:"duration"`
}

func (c completion) outcome() jobs.Outcome {
	o := jobs.Outcome{Result: c.Result, Permanent: c.Permanent, Panicked: c.Panicked, TimedOut: c.TimedOut, Cancelled: c.Cancelled, Duration: c.Duration}
	if c.Err != "" {
		o.Err = errors.New(c.Err)
	}
	return o
}

func toCompletion(id, runner string, o jobs.Outcome) completion {
	c := completion{ID: id, Runner: runner, Result: o.Result, Permanent: o.Permanent, Panicked: o.Panicked, TimedOut: o.TimedOut, Cancelled: o.Cancelled, Duration: o.Duration}
	if o.Err != nil {
		c.Err = o.Err.Error()
	}
	return c
}

// onDone is called by the executor when an attempt ends.
func (n *Node) onDone(j jobs.Job, o jobs.Outcome) {
	n.met.observe(j, o)
	c := toCompletion(j.ID, n.id, o)
	if err := n.completeLocal(c); err == nil || !errors.Is(err, errNotServing) {
		n.kickDispatch()
		return
	}
	// The shard moved while the job ran: tell its new owner.
	n.fwd.Add(1)
	go func() {
		defer n.fwd.Done()
		n.forwardCompletion(c)
	}()
	n.kickDispatch()
}

// completeLocal records a finished attempt in a shard this node serves.
func (n *Node) completeLocal(c completion) error {
	sr := n.served(jobs.ShardOf(c.ID, n.cfg.Shards))
	if sr == nil {
		return errNotServing
	}
	now := n.now()
	sr.mu.Lock()
	if !sr.serving || sr.shard == nil {
		sr.mu.Unlock()
		return errNotServing
	}
	cur, ok := sr.shard.Get(c.ID)
	if !ok || cur.State != jobs.StateRunning || cur.Runner != c.Runner {
		// Cancelled meanwhile, or requeued because its runner looked gone:
		// the newer decision stands.
		sr.mu.Unlock()
		return nil
	}
	var j jobs.Job
	var rec jobs.Record
	var err error
	if c.Cancelled {
		j, rec, err = sr.shard.Requeue(c.ID, "handed back by "+c.Runner, true, now)
	} else {
		j, rec, err = sr.shard.Complete(c.ID, c.outcome(), now)
	}
	if err == nil {
		sr.appendNoWaitLocked(rec)
	}
	sr.mu.Unlock()
	if err != nil {
		return nil
	}
	if j.State == jobs.StateQueued {
		n.markReady(sr.id)
	}
	n.event(j, c.Err)
	return nil
}

// forwardCompletion delivers a completion to the shard's current owner,
// retrying while ownership moves. If it never arrives, the owner requeues
// the job once the runner stops listing it (at-least-once).
func (n *Node) forwardCompletion(c completion) {
	data, _ := json.Marshal(c)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && n.ctx.Err() == nil {
		shard := jobs.ShardOf(c.ID, n.cfg.Shards)
		if id, self, ok := n.ownerOf(shard); ok {
			if self {
				if err := n.completeLocal(c); err == nil {
					return
				}
			} else {
				msg, err := n.bus.conn.Request(nodeSubject(id, "complete"), data, 2*time.Second)
				if err == nil && string(msg.Data) == "ok" {
					return
				}
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	n.log.Warn().Str("job", c.ID).Msg("could not report a finished attempt to the shard's owner; it will run again (at-least-once)")
}

func (n *Node) onComplete(m *nats.Msg) {
	var c completion
	if err := json.Unmarshal(m.Data, &c); err != nil {
		_ = m.Respond([]byte("bad"))
		return
	}
	if err := n.completeLocal(c); err != nil {
		_ = m.Respond([]byte("not_owner"))
		return
	}
	_ = m.Respond([]byte("ok"))
}

// event publishes a job event on shoal.events.job.<state>.
func (n *Node) event(j jobs.Job, detail string) {
	ev := client.Event{Time: n.now(), Kind: "job", Node: n.cfg.Name, JobID: j.ID, Type: j.Type, State: j.State, Detail: detail}
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	_ = n.bus.conn.Publish(client.SubjectJobEvents+"."+string(j.State), data)
}

func (n *Node) publishClusterEvent(kind, detail string) {
	ev := client.Event{Time: n.now(), Kind: kind, Node: n.cfg.Name, Detail: detail}
	data, err := json.Marshal(ev)
	if err != nil || n.bus == nil || n.bus.conn == nil {
		return
	}
	_ = n.bus.conn.Publish(client.SubjectClusterEvents+"."+kind, data)
}

// cancelRunning cancels a running job on whichever node runs it.
func (n *Node) cancelRunning(id, runner string) {
	if runner == n.id {
		n.exec.Cancel(id)
		return
	}
	_ = n.bus.conn.Publish(nodeSubject(runner, "kill"), []byte(id))
}

func (n *Node) onKill(m *nats.Msg) {
	n.exec.Cancel(string(m.Data))
}
