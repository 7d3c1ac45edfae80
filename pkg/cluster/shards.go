package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/pkg/cluster/lease"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// errNotServing is returned for a shard this node does not serve (any more).
var errNotServing = errors.New("cluster: shard not served here")

// shardRun carries out the life of one shard on this node: take the lease,
// load the log, serve (group-commit every change), renew, and hand off.
type shardRun struct {
	n  *Node
	id int

	ctx    context.Context // cancelled to release the shard
	cancel context.CancelFunc

	mu        sync.Mutex
	shard     *jobs.Shard
	serving   bool
	releasing bool
	lease     lease.Lease
	epoch     uint64
	seq       uint64 // last segment written
	buf       []jobs.Record
	waiters   []chan error
	sinceSnap int
	snapReq   bool
	missing   map[string]time.Time // running jobs their runner does not list
	kept      []jobs.Job           // state held when the lease was lost
	// keptEpoch is the lease epoch kept was served at (0: kept is not one
	// whole served state, e.g. after a failed load merged a hand-off in).
	keptEpoch uint64
	snapMiss  time.Time // first load that found no snapshot where one must be (zero: none)
	// failedEpochs are the lease epochs this node took for the shard whose
	// load failed, since its last successful load: no holder served at
	// them (a load writes nothing before it succeeds).
	failedEpochs []uint64

	// phase is where the runner is (for the stuck-release warning), and
	// releasedAt when release was first asked (zero: not released).
	phase      atomic.Pointer[string]
	releasedAt atomic.Int64
	warned     bool // the stuck-release warning was logged (node mu)

	kick   chan struct{}
	full   chan struct{}
	urgent chan struct{} // a waiter came: a lazy flush window is cut short
	wake   chan struct{} // a hand-off for the shard arrived: try the lease now
	idle   chan struct{} // closed and replaced by the flusher when the buffer is empty
}

func newShardRun(n *Node, id int) *shardRun {
	ctx, cancel := context.WithCancel(n.ctx)
	return &shardRun{
		n: n, id: id, ctx: ctx, cancel: cancel,
		kick:    make(chan struct{}, 1),
		full:    make(chan struct{}, 1),
		urgent:  make(chan struct{}, 1),
		wake:    make(chan struct{}, 1),
		missing: map[string]time.Time{},
	}
}

func (sr *shardRun) isServing() bool {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return sr.serving
}

func (sr *shardRun) snapshotPending() bool {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return sr.snapReq
}

func (sr *shardRun) requestSnapshot() {
	sr.mu.Lock()
	if sr.serving {
		sr.snapReq = true
	}
	sr.mu.Unlock()
	sr.kickFlush()
}

// release asks the runner to hand the shard off (graceful move).
//
// It must not set releasing itself: a runner that has just lost the shard
// (lost cleared serving) waits for its flusher to end, and a flusher that
// saw releasing set by a release arriving in between kept running, so that
// the runner never ended and the plan could never give the shard back to
// this node.
func (sr *shardRun) release() {
	sr.releasedAt.CompareAndSwap(0, time.Now().UnixNano())
	sr.cancel()
}

// Phases of a runner, for the stuck-release warning.
const (
	phaseWaitSlot  = "waiting for a load slot"
	phaseAcquire   = "taking the lease"
	phaseLoad      = "loading the log"
	phaseRetry     = "pausing before a retry of the load"
	phaseServe     = "serving"
	phaseDrain     = "hand-off: flushing the buffer"
	phaseFinalSnap = "hand-off: writing the final snapshot"
	phaseSend      = "hand-off: sending the final state"
	phaseFlusher   = "hand-off: waiting for the flusher"
	phaseRelease   = "hand-off: releasing the lease"
)

func (sr *shardRun) setPhase(p string) { sr.phase.Store(&p) }

func (sr *shardRun) phaseNow() string {
	if p := sr.phase.Load(); p != nil {
		return *p
	}
	return "starting"
}

// stuckRelease is how long a released runner may take to end before the
// node warns about it (its hand-off is bounded by about 10 s plus Olric
// call timeouts).
const stuckRelease = 30 * time.Second

func (sr *shardRun) kickFlush() {
	select {
	case sr.kick <- struct{}{}:
	default:
	}
}

// opTimeout bounds one call to Olric so that a dead peer cannot stall a loop.
const opTimeout = 2 * time.Second

func (sr *shardRun) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(sr.n.ctx, opTimeout)
}

func (sr *shardRun) rules() lease.Rules {
	r := lease.DefaultRules()
	r.TTL = sr.n.cfg.LeaseTTL
	r.RenewEvery = sr.n.cfg.LeaseTTL / 3
	r.SafetyMargin = sr.n.cfg.LeaseTTL / 5
	return r
}

func (sr *shardRun) run() {
	n := sr.n
	defer n.wg.Done()
	defer sr.finish()
	defer sr.handKeptOver()
	rules := sr.rules()
	for {
		// 1. Take the lease and load, a bounded number of shards at a time
		// so that a node gaining a hundred shards does not let leases run
		// out while their loads queue up behind each other.
		sr.setPhase(phaseWaitSlot)
		select {
		case n.loadSlots <- struct{}{}:
		case <-sr.ctx.Done():
			return
		}
		sr.setPhase(phaseAcquire)
		l, ok := sr.acquire(rules)
		if !ok {
			<-n.loadSlots
			return // moved away while taking the lease (again)
		}
		// 2. Load the shard's log, adopt what this node held before it lost
		// the lease and what the previous owner handed over, requeue what
		// ran on nodes that are gone, and write a snapshot at the new epoch
		// so that the log is whole on the current members.
		sr.setPhase(phaseLoad)
		loaded, err := sr.load(l)
		<-n.loadSlots
		if err != nil {
			sr.failedEpochs = append(sr.failedEpochs, l.Epoch)
			if len(sr.failedEpochs) > maxFailedEpochs {
				sr.failedEpochs = sr.failedEpochs[len(sr.failedEpochs)-maxFailedEpochs:]
			}
			n.log.Warn().Err(err).Int("shard", sr.id).Msg("could not load shard; releasing the lease to retry")
			ctx, cancel := sr.opCtx()
			_ = n.leaseStore().Release(ctx, l)
			cancel()
			pause := 100 * time.Millisecond
			if errors.Is(err, errSnapshotMissing) {
				pause = time.Second
			}
			sr.setPhase(phaseRetry)
			select {
			case <-sr.ctx.Done():
				return
			case <-time.After(pause):
			}
			continue
		}
		sr.failedEpochs = nil
		n.shardLoaded(sr.id, loaded)
		n.markReady(sr.id)
		n.kickDispatch()

		// 3. Serve until the plan moves the shard away (hand off) or the
		// lease is lost (keep the state, take the lease again).
		sr.setPhase(phaseServe)
		if sr.serve(rules) {
			return
		}
		if sr.ctx.Err() != nil {
			return
		}
		n.log.Info().Int("shard", sr.id).Msg("taking the shard's lease again; the state held here is kept and merged")
	}
}

// handKeptOver sends what the runner still keeps from a lost lease to
// the shard's next owner when the runner ends without having merged it
// (moved away while it was taking the lease again, waiting for a load
// slot, or pausing between loads): that state can hold jobs the log in
// Olric does not have (a write acknowledged with one copy, on a member
// that is gone), and nobody else has it.
func (sr *shardRun) handKeptOver() {
	sr.mu.Lock()
	kept := sr.kept
	sr.kept = nil
	sr.mu.Unlock()
	if kept != nil && sr.n.ctx.Err() == nil {
		sr.n.sendHandoff(sr.id, 0, kept)
	}
}

// heldJobs returns every job state the runner holds: the served shard's,
// and what it kept from a lost lease and has not merged yet.
func (sr *shardRun) heldJobs() []jobs.Job {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	var out []jobs.Job
	if sr.shard != nil {
		out = sr.shard.Jobs()
	}
	return append(out, sr.kept...)
}

// serve renews the lease while the shard is served. It returns true after
// a graceful hand-off, false when the lease was lost.
func (sr *shardRun) serve(rules lease.Rules) bool {
	n := sr.n
	flushDone := make(chan struct{})
	go func() {
		defer close(flushDone)
		sr.flushLoop()
	}()
	t := time.NewTicker(rules.RenewEvery / 4)
	defer t.Stop()
	// The first check is immediate: the load may have used part of the lease.
	for first := true; ; first = false {
		if !first {
			select {
			case <-sr.ctx.Done():
				sr.handoff(flushDone)
				return true
			case <-flushDone:
				// The flusher gave up (the log could not be written).
				return false
			case <-t.C:
			}
		}
		sr.mu.Lock()
		held := sr.lease
		sr.mu.Unlock()
		switch rules.Decide(n.now(), &held, true) {
		case lease.Renew:
			ls := n.leaseStore()
			if ls == nil {
				continue
			}
			ctx, cancel := sr.opCtx()
			nl, err := ls.Renew(ctx, held, rules.TTL)
			cancel()
			if err == nil {
				sr.mu.Lock()
				sr.lease = nl
				sr.mu.Unlock()
			} else if errors.Is(err, lease.ErrLost) {
				sr.lost("lease lost to another node")
				<-flushDone
				return false
			} else {
				n.log.Debug().Err(err).Int("shard", sr.id).Msg("lease renewal failed; retrying until it expires")
			}
		case lease.Stop:
			sr.lost("lease could not be renewed in time")
			<-flushDone
			return false
		}
	}
}

// Lease acquisition backs off while the lease is held (up to
// acquireHeldMax between tries) or Olric fails (up to acquireErrMax):
// hundreds of shards polling every few milliseconds while members come and
// go are enough load to stall Olric's partition moves. A hand-off message
// for the shard wakes the wait at once.
const (
	acquireFirst   = 25 * time.Millisecond
	acquireHeldMax = 250 * time.Millisecond
	acquireErrMax  = time.Second
)

// acquire takes the shard's lease, retrying while another node holds it.
func (sr *shardRun) acquire(rules lease.Rules) (lease.Lease, bool) {
	n := sr.n
	start := time.Now()
	warnAt := start.Add(5 * time.Second)
	delay := acquireFirst
	for {
		if sr.ctx.Err() != nil {
			return lease.Lease{}, false
		}
		if ls := n.leaseStore(); ls != nil {
			ctx, cancel := sr.opCtx()
			l, err := ls.Acquire(ctx, sr.id, n.id, rules.TTL)
			cancel()
			if err == nil {
				return l, true
			}
			if time.Now().After(warnAt) {
				n.log.Warn().Err(err).Int("shard", sr.id).Dur("waited", time.Since(start)).
					Msg("still waiting for a shard's lease; the shard is not served meanwhile")
				warnAt = time.Now().Add(5 * time.Second)
			} else if !errors.Is(err, lease.ErrHeld) {
				n.log.Debug().Err(err).Int("shard", sr.id).Msg("lease acquire failed; retrying")
			}
			limit := acquireHeldMax
			if !errors.Is(err, lease.ErrHeld) {
				limit = acquireErrMax
			}
			delay = min(2*delay, limit)
		}
		select {
		case <-sr.ctx.Done():
			return lease.Lease{}, false
		case <-sr.wake:
			delay = acquireFirst
		case <-time.After(jitter(delay)):
		}
	}
}

// maxFailedEpochs bounds shardRun.failedEpochs.
const maxFailedEpochs = 256

// handoffIsLatest tells whether a hand-off made by the holder at epoch ho is
// the shard's latest state for a load at lease epoch lease: nobody served
// in between. Epochs this node took and failed to load (own) do not count:
// a node that took the lease before the hand-off message arrived, found no
// snapshot (Olric moves no data off a leaving member) and released the
// lease to retry, used to wait up to 2 minutes for that snapshot on every
// later try, because its epoch was no longer the hand-off's + 1 (seen in a
// 6 -> 1 scale-down: 165 shards unserved for 2 minutes).
//
// When the lease epoch is not above the hand-off's, Olric lost the epoch
// counter (a scale-down from 6 to 1 loses most keys whose two copies were
// on leaving members; the same run showed epochs restarting at 1): the
// hand-off is then the latest state if every epoch since the restart was
// one of this node's own failed loads.
func handoffIsLatest(ho, lease uint64, own []uint64) bool {
	if ho == 0 || lease == 0 {
		return false
	}
	from := ho + 1
	if lease <= ho {
		from = 1
	}
	for e := from; e < lease; e++ {
		if !slices.Contains(own, e) {
			return false
		}
	}
	return true
}

// Where a load takes the shard's state from.
const (
	fromLog     = iota // the snapshot and segments in Olric, merged with anything held
	fromHandoff        // the previous holder's hand-off alone
	fromKept           // what this node kept when it lost the lease
)

// loadSource decides where a load at lease epoch lease takes the shard's
// state from. own are the epochs of this node's failed loads since.
//
//   - fromHandoff: a graceful move straight from the previous holder (its
//     hand-off is the latest state, nothing kept here): its final state is
//     the whole shard and its final snapshot is in Olric already.
//   - fromKept: this node lost the lease and took it back with nobody
//     serving in between, and no hand-off came: what it kept is the whole
//     shard. The log is not read: after members left, Olric may not have
//     the snapshot any more (a 6 -> 1 scale-down left 71 shards waiting 2
//     minutes for it this way). The load writes a snapshot instead.
//   - fromLog otherwise.
func loadSource(haveHandoff bool, hoEpoch uint64, haveKept bool, keptEpoch, lease uint64, own []uint64) int {
	switch {
	case haveHandoff && !haveKept && handoffIsLatest(hoEpoch, lease, own):
		return fromHandoff
	case !haveHandoff && haveKept && handoffIsLatest(keptEpoch, lease, own):
		return fromKept
	}
	return fromLog
}

// jitter spreads d by up to ±20% so that shards waiting together do not
// retry in lockstep.
func jitter(d time.Duration) time.Duration {
	spread := d / 5
	if spread <= 0 {
		return d
	}
	return d - spread + rand.N(2*spread+1)
}

// load rebuilds the shard from its snapshot and the segments after it.
func (sr *shardRun) load(l lease.Lease) (loaded int, err error) {
	n := sr.n
	store := n.logStore()
	if store == nil {
		return 0, ErrStopped
	}
	shard := jobs.NewShard(sr.id, n.cfg.Shard)
	sr.mu.Lock()
	kept, keptEpoch := sr.kept, sr.keptEpoch
	sr.kept, sr.keptEpoch = nil, 0
	sr.mu.Unlock()
	ho, haveHandoff := n.takeHandoff(sr.id)
	defer func() {
		if err == nil {
			return
		}
		// The load is retried: what this node held and what the previous
		// owner handed over must still be there for the next try.
		sr.mu.Lock()
		sr.kept, sr.keptEpoch = kept, keptEpoch // nothing else sets kept while no state is served
		sr.mu.Unlock()
		if haveHandoff {
			n.restoreHandoff(sr.id, ho)
		}
	}()
	switch loadSource(haveHandoff, ho.epoch, kept != nil, keptEpoch, l.Epoch, sr.failedEpochs) {
	case fromHandoff:
		return sr.serveFrom(shard, l, ho.epoch, ho.jobs, false)
	case fromKept:
		return sr.serveFrom(shard, l, keptEpoch, kept, true)
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	snap, err := store.ReadSnapshot(ctx, sr.id)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		n.mu.Lock()
		clusterID := n.clusterID
		n.mu.Unlock()
		switch snapshotMiss(l.Epoch, clusterID, sr.snapMiss, n.now()) {
		case missRetry:
			if sr.snapMiss.IsZero() {
				sr.snapMiss = n.now()
			}
			return 0, fmt.Errorf("%w (lease epoch %d, missing for %s): Olric may be moving partitions",
				errSnapshotMissing, l.Epoch, n.now().Sub(sr.snapMiss).Round(time.Millisecond))
		case missGiveUp:
			n.log.Error().Int("shard", sr.id).Uint64("lease_epoch", l.Epoch).Dur("waited", n.now().Sub(sr.snapMiss)).
				Msg("the shard's snapshot stayed missing from Olric: its jobs are lost (more members failed at once than --replicas allows?); serving the shard from its remaining log")
		}
		sr.snapMiss = time.Time{}
		snap = jobs.Snapshot{Shard: sr.id}
	case err != nil:
		return 0, fmt.Errorf("read snapshot: %w", err)
	default:
		sr.snapMiss = time.Time{}
		js, err := jobs.DecodeSnapshot(snap.Data)
		if err != nil {
			return 0, fmt.Errorf("decode snapshot of shard %d: %w", sr.id, err)
		}
		for _, j := range js {
			if err := shard.Apply(jobs.Record{Op: jobs.OpUpsert, Job: j}); err != nil {
				return 0, fmt.Errorf("apply snapshot: %w", err)
			}
		}
	}
	epoch := l.Epoch
	if epoch <= snap.Epoch {
		n.log.Warn().Int("shard", sr.id).Uint64("lease_epoch", l.Epoch).Uint64("snapshot_epoch", snap.Epoch).
			Msg("lease epoch is not above the snapshot's (lost epoch counter?); continuing above the snapshot")
		epoch = snap.Epoch + 1
	}
	first := snap.Epoch
	if first == 0 {
		first = 1
	}
	seen := map[jobs.SegmentKey]bool{}
	records := 0
	for e := first; e < epoch; e++ {
		keys, err := store.ListSegments(ctx, sr.id, e)
		if err != nil {
			return 0, fmt.Errorf("list segments of epoch %d: %w", e, err)
		}
		for _, k := range keys {
			if snap.Covers(k) {
				seen[k] = true
				continue
			}
			recs, ok, err := sr.readSegment(ctx, store, k)
			if err != nil {
				return 0, err
			}
			if !ok {
				continue
			}
			seen[k] = true
			for _, r := range recs {
				_ = shard.Apply(r)
				records++
			}
		}
	}
	// What this node held before it lost the lease, and what the previous
	// owner handed over, win over an older log (Olric's reads can also miss
	// keys while its partitions move).
	adopted := 0
	for _, js := range [][]jobs.Job{kept, ho.jobs} { // ho.jobs is nil without a hand-off
		for _, j := range js {
			if _, changed := shard.Adopt(j); changed {
				adopted++
			}
		}
	}
	recs := sr.requeueGone(shard)

	// New snapshot at the new epoch: everything read so far is covered.
	if err := sr.putLoadSnapshot(ctx, store, shard, epoch); err != nil {
		return 0, err
	}
	sr.install(shard, l, epoch, recs)
	if epoch > first {
		n.wg.Add(1)
		go sr.recheck(snap, first, epoch, seen)
	}
	n.log.Debug().Int("shard", sr.id).Uint64("epoch", epoch).Int("jobs", shard.Len()).Int("records_replayed", records).
		Int("requeued", len(recs)).Int("adopted", adopted).Msg("shard loaded")
	return shard.Len(), nil
}

// putLoadSnapshot writes the snapshot a load starts an epoch with: the
// whole state, first of the epoch (seq 0).
func (sr *shardRun) putLoadSnapshot(ctx context.Context, store jobs.LogStore, shard *jobs.Shard, epoch uint64) error {
	snap := jobs.Snapshot{Shard: sr.id, Epoch: epoch, Writer: sr.n.id, Seq: 0, Data: jobs.EncodeSnapshot(shard.Jobs())}
	if err := store.PutSnapshot(ctx, snap); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// serveFrom starts serving a shard from a hand-off: the previous holder's
// final state, no log to read.
//
// snap writes a snapshot at the epoch served first; it is written anyway
// when the lease epoch is not above hoEpoch.
func (sr *shardRun) serveFrom(shard *jobs.Shard, l lease.Lease, hoEpoch uint64, js []jobs.Job, snap bool) (int, error) {
	for _, j := range js {
		shard.Adopt(j)
	}
	epoch := l.Epoch
	lostCounter := epoch <= hoEpoch
	if lostCounter {
		// Olric lost the epoch counter: log above the hand-off's epoch, and
		// write a snapshot there first, so that the next load (which starts
		// from the newest snapshot) reads this node's segments.
		epoch = hoEpoch + 1
	}
	if lostCounter || snap {
		store := sr.n.logStore()
		if store == nil {
			return 0, ErrStopped
		}
		ctx, cancel := context.WithTimeout(sr.n.ctx, 10*time.Second)
		err := sr.putLoadSnapshot(ctx, store, shard, epoch)
		cancel()
		if err != nil {
			return 0, err
		}
		if lostCounter {
			sr.n.log.Warn().Int("shard", sr.id).Uint64("lease_epoch", l.Epoch).Uint64("handoff_epoch", hoEpoch).
				Msg("lease epoch is not above the hand-off's (Olric lost the epoch counter); serving the hand-off above it")
		}
	}
	recs := sr.requeueGone(shard)
	sr.install(shard, l, epoch, recs)
	sr.n.log.Debug().Int("shard", sr.id).Uint64("epoch", epoch).Int("jobs", shard.Len()).Msg("shard taken over from its hand-off")
	return shard.Len(), nil
}

// requeueGone sends back to the queue the jobs whose runner is gone
// (attempt counted) and promotes due scheduled jobs.
func (sr *shardRun) requeueGone(shard *jobs.Shard) []jobs.Record {
	n := sr.n
	n.mu.Lock()
	live := liveRunners(n.selfHeartbeatLocked(), n.peers, n.now(), n.cfg.HeartbeatTimeout)
	n.mu.Unlock()
	var recs []jobs.Record
	for _, j := range shard.Running() {
		if !live[j.Runner] {
			if _, r, err := shard.Requeue(j.ID, "runner "+j.Runner+" left", false, n.now()); err == nil {
				recs = append(recs, r)
			}
		}
	}
	return append(recs, shard.Promote(n.now())...)
}

// install makes a loaded shard the served one.
func (sr *shardRun) install(shard *jobs.Shard, l lease.Lease, epoch uint64, recs []jobs.Record) {
	sr.mu.Lock()
	sr.shard = shard
	sr.lease = l
	sr.epoch = epoch
	sr.seq = 0
	sr.serving = true
	sr.buf = append(sr.buf, recs...)
	sr.idle = make(chan struct{})
	sr.mu.Unlock()
	if len(recs) > 0 {
		sr.kickFlush()
	}
}

// append adds records to the log buffer; the caller holds sr.mu. It
// returns a channel that receives the result of the flush holding them.
func (sr *shardRun) appendLocked(recs ...jobs.Record) chan error {
	sr.buf = append(sr.buf, recs...)
	ch := make(chan error, 1)
	sr.waiters = append(sr.waiters, ch)
	select {
	case sr.urgent <- struct{}{}:
	default:
	}
	if len(sr.buf) >= sr.n.cfg.FlushMaxRecords {
		select {
		case sr.full <- struct{}{}:
		default:
		}
	}
	sr.kickFlush()
	return ch
}

// appendNoWaitLocked adds records whose durability nobody waits for
// (start, finish: they ride the next flush).
func (sr *shardRun) appendNoWaitLocked(recs ...jobs.Record) {
	sr.buf = append(sr.buf, recs...)
	sr.kickFlush()
}

// flushLoop writes the buffer as segments: group commit.
func (sr *shardRun) flushLoop() {
	n := sr.n
	for {
		select {
		case <-sr.kick:
		case <-n.ctx.Done():
			sr.failWaiters(ErrStopped)
			return
		}
		// Let a little more gather unless the buffer is already full: for
		// FlushInterval when somebody waits for the records, else for
		// FlushLazyInterval, cut short to FlushInterval when a waiter comes.
		sr.mu.Lock()
		lazy := len(sr.waiters) == 0 && !sr.snapReq && !sr.releasing
		sr.mu.Unlock()
		wait := n.cfg.FlushInterval
		if lazy {
			wait = n.cfg.FlushLazyInterval
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-sr.full:
		case <-sr.urgent:
			if lazy {
				t.Reset(n.cfg.FlushInterval)
				select {
				case <-t.C:
				case <-sr.full:
				}
			}
		}
		t.Stop()
		for {
			sr.mu.Lock()
			if !sr.serving && !sr.releasing {
				sr.mu.Unlock()
				sr.failWaiters(errNotServing)
				return
			}
			recs, ws := sr.buf, sr.waiters
			sr.buf, sr.waiters = nil, nil
			seq := sr.seq + 1
			epoch := sr.epoch
			snap := sr.snapReq || sr.sinceSnap >= n.cfg.SnapshotRecords
			idle := sr.idle
			sr.mu.Unlock()
			if len(recs) == 0 {
				if snap {
					sr.snapshot()
				}
				if idle != nil && len(ws) == 0 {
					sr.mu.Lock()
					if len(sr.buf) == 0 {
						close(sr.idle)
						sr.idle = make(chan struct{})
					}
					sr.mu.Unlock()
				}
				for _, w := range ws {
					w <- nil
				}
				break
			}
			err := sr.writeSegment(jobs.SegmentKey{Shard: sr.id, Epoch: epoch, Writer: n.id, Seq: seq}, recs)
			if err != nil {
				for _, w := range ws {
					w <- err
				}
				sr.lost("could not write the shard log: " + err.Error())
				return
			}
			sr.mu.Lock()
			sr.seq = seq
			sr.sinceSnap += len(recs)
			sr.mu.Unlock()
			n.met.segments.Inc()
			n.met.records.Add(float64(len(recs)))
			for _, w := range ws {
				w <- nil
			}
		}
	}
}

// writeSegment appends one segment, retrying transient errors while the
// lease lasts.
func (sr *shardRun) writeSegment(key jobs.SegmentKey, recs []jobs.Record) error {
	data := jobs.EncodeRecords(nil, recs)
	backoff := 10 * time.Millisecond
	for {
		store := sr.n.logStore()
		if store == nil {
			return ErrStopped
		}
		ctx, cancel := sr.opCtx()
		err := store.AppendSegment(ctx, key, data)
		cancel()
		if err == nil || errors.Is(err, jobs.ErrSegmentExists) {
			return nil
		}
		sr.mu.Lock()
		expires := sr.lease.Expires
		sr.mu.Unlock()
		if sr.n.ctx.Err() != nil || sr.n.now().After(expires) {
			return err
		}
		sr.n.log.Warn().Err(err).Int("shard", sr.id).Msg("segment write failed; retrying")
		time.Sleep(backoff)
		if backoff < 200*time.Millisecond {
			backoff *= 2
		}
	}
}

// snapshot compacts the shard: writes its state and drops the segments the
// snapshot covers. Runs on the flusher goroutine, between flushes.
func (sr *shardRun) snapshot() bool {
	n := sr.n
	store := n.logStore()
	if store == nil {
		return false
	}
	sr.mu.Lock()
	if sr.shard == nil {
		sr.mu.Unlock()
		return true
	}
	js := sr.shard.Jobs()
	seq, epoch := sr.seq, sr.epoch
	sr.mu.Unlock()
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	if err := store.PutSnapshot(ctx, jobs.Snapshot{Shard: sr.id, Epoch: epoch, Writer: n.id, Seq: seq, Data: jobs.EncodeSnapshot(js)}); err != nil {
		n.log.Warn().Err(err).Int("shard", sr.id).Msg("snapshot failed; will retry")
		return false
	}
	sr.mu.Lock()
	sr.sinceSnap = 0
	sr.snapReq = false
	sr.mu.Unlock()
	n.met.snapshots.Inc()
	keys, err := store.ListSegments(ctx, sr.id, epoch)
	if err != nil {
		return true
	}
	var drop []jobs.SegmentKey
	for _, k := range keys {
		if k.Writer == n.id && k.Seq <= seq {
			drop = append(drop, k)
		}
	}
	if len(drop) > 0 {
		_ = store.DeleteSegments(ctx, drop)
	}
	return true
}

func (sr *shardRun) failWaiters(err error) {
	sr.mu.Lock()
	ws := sr.waiters
	sr.waiters = nil
	sr.mu.Unlock()
	for _, w := range ws {
		w <- err
	}
}

// lost stops serving at once without writing anything: another node may
// own the shard now.
func (sr *shardRun) lost(why string) {
	sr.mu.Lock()
	was := sr.serving
	sr.serving = false
	sr.releasing = false
	if sr.shard != nil {
		// Keep what this node knew: if it takes the lease again, this state
		// (with the records the log never got) is merged into what it loads.
		sr.kept = sr.shard.Jobs()
		sr.keptEpoch = sr.lease.Epoch
	}
	sr.shard = nil
	sr.buf = nil
	sr.mu.Unlock()
	sr.failWaiters(errNotServing)
	sr.kickFlush() // the flusher sees it is done
	if was {
		sr.n.log.Warn().Str("event", "shard_lost").Int("shard", sr.id).Str("reason", why).
			Msg("stopped serving a shard; its running jobs report to the new owner")
	}
}

// handoff is the graceful move: stop taking work, flush, snapshot, release.
func (sr *shardRun) handoff(flushDone chan struct{}) {
	n := sr.n
	sr.mu.Lock()
	if !sr.serving {
		sr.mu.Unlock()
		<-flushDone
		return
	}
	sr.serving = false
	sr.releasing = true // the flusher drains the buffer until handoff is done
	jobsOut := 0
	if sr.shard != nil {
		jobsOut = sr.shard.Len()
	}
	sr.mu.Unlock()
	// The flusher keeps running while releasing is set: drain the buffer.
	sr.setPhase(phaseDrain)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		sr.mu.Lock()
		empty := len(sr.buf) == 0
		idle := sr.idle
		sr.mu.Unlock()
		if empty {
			break
		}
		sr.kickFlush()
		select {
		case <-idle:
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The final snapshot is what the next owner reads if it does not get
	// the hand-off message: retry it for a while if Olric refuses writes.
	sr.setPhase(phaseFinalSnap)
	for wait := 100 * time.Millisecond; !sr.snapshot() && time.Now().Before(deadline.Add(5*time.Second)); wait = min(2*wait, time.Second) {
		select {
		case <-n.ctx.Done():
		case <-time.After(wait):
		}
		if n.ctx.Err() != nil {
			break
		}
	}
	sr.mu.Lock()
	sr.releasing = false
	l := sr.lease
	var final []jobs.Job
	if sr.shard != nil {
		final = sr.shard.Jobs()
	}
	sr.shard = nil
	sr.mu.Unlock()
	sr.setPhase(phaseSend)
	n.sendHandoff(sr.id, l.Epoch, final)
	sr.setPhase(phaseFlusher)
	sr.kickFlush() // lets the flusher see it is done
	<-flushDone
	sr.setPhase(phaseRelease)
	if ls := n.leaseStore(); ls != nil {
		ctx, cancel := sr.opCtx()
		if err := ls.Release(ctx, l); err != nil {
			n.log.Debug().Err(err).Int("shard", sr.id).Msg("lease release failed; it expires on its own")
		}
		cancel()
	}
	n.shardReleased(jobsOut)
}

// finish removes the runner from the node; if the plan wants the shard
// here again, a fresh runner starts.
func (sr *shardRun) finish() {
	n := sr.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.shards[sr.id] == sr {
		delete(n.shards, sr.id)
	}
	delete(n.retiring, sr)
	if sr.warned {
		n.log.Info().Int("shard", sr.id).Dur("took", time.Since(time.Unix(0, sr.releasedAt.Load()))).
			Msg("a released shard runner ended after all")
	}
	if n.ctx.Err() != nil || n.State() != StateActive {
		return
	}
	if sr.id < len(n.plan) && n.plan[sr.id] == n.cfg.Name {
		if _, ok := n.shards[sr.id]; !ok {
			nsr := newShardRun(n, sr.id)
			n.shards[sr.id] = nsr
			n.wg.Add(1)
			go nsr.run()
		}
	}
}

// reconcile requeues running jobs whose runner is gone, or whose runner
// has not listed them for a while (a lost completion).
func (sr *shardRun) reconcile(live map[string]bool, runningBy map[string]map[string]bool) {
	n := sr.n
	now := n.now()
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if !sr.serving || sr.shard == nil {
		return
	}
	var recs []jobs.Record
	seen := map[string]bool{}
	for _, j := range sr.shard.Running() {
		seen[j.ID] = true
		if !live[j.Runner] {
			if _, r, err := sr.shard.Requeue(j.ID, "runner "+j.Runner+" left", false, now); err == nil {
				recs = append(recs, r)
			}
			continue
		}
		if set := runningBy[j.Runner]; set != nil && !set[j.ID] && now.Sub(j.StartedAt) > 2*n.cfg.HeartbeatTimeout {
			first, ok := sr.missing[j.ID]
			if !ok {
				sr.missing[j.ID] = now
				continue
			}
			if now.Sub(first) > 2*n.cfg.HeartbeatTimeout {
				if _, r, err := sr.shard.Requeue(j.ID, "runner "+j.Runner+" no longer runs it", false, now); err == nil {
					recs = append(recs, r)
				}
				delete(sr.missing, j.ID)
			}
			continue
		}
		delete(sr.missing, j.ID)
	}
	for id := range sr.missing {
		if !seen[id] {
			delete(sr.missing, id)
		}
	}
	if len(recs) > 0 {
		sr.appendNoWaitLocked(recs...)
		n.markReady(sr.id)
		n.kickDispatch()
		n.log.Info().Str("event", "requeue").Int("shard", sr.id).Int("jobs", len(recs)).Msg("jobs whose runner is gone went back to the queue")
	}
}

// servedShards returns the IDs of the shards this node serves, sorted.
func (n *Node) servedShards() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []int
	for id, sr := range n.shards {
		if sr.isServing() {
			out = append(out, id)
		}
	}
	sort.Ints(out)
	return out
}

// errSnapshotMissing is a load that found no snapshot where one must be.
var errSnapshotMissing = errors.New("the shard's snapshot was not found, yet the shard was served before")

// snapshotWait bounds how long a shard whose snapshot must exist but cannot
// be read stays unserved before it is served from what remains.
const snapshotWait = 2 * time.Minute

// snapshotYoung is the age under which a cluster may still hold shards
// that were never loaded (and so have no snapshot): every shard is taken
// within seconds of formation.
const snapshotYoung = time.Minute

type missDecision int

const (
	missNew    missDecision = iota // the shard was never served: start it empty
	missRetry                      // read again later
	missGiveUp                     // waited snapshotWait: serve what remains
)

// snapshotMiss decides what a load does when the shard's snapshot is not
// found. Every load writes a snapshot before it serves, so a shard whose
// lease epoch is above 1, or any shard of a cluster older than
// snapshotYoung (its coordinator's birth is in the cluster ID), has one:
// not finding it means Olric missed it while moving partitions (or lost
// it), and starting the shard empty would overwrite it. since is when the
// misses began (zero: this is the first).
func snapshotMiss(epoch uint64, clusterID string, since, now time.Time) missDecision {
	expected := epoch > 1
	if born, ok := clusterBirth(clusterID); ok && now.Sub(born) > snapshotYoung {
		expected = true
	}
	switch {
	case !expected:
		return missNew
	case since.IsZero() || now.Sub(since) < snapshotWait:
		return missRetry
	default:
		return missGiveUp
	}
}

// clusterBirth reads the coordinator's birth (Unix nanoseconds) from a
// cluster ID "<coordinator id>-<birth>".
func clusterBirth(clusterID string) (time.Time, bool) {
	_, b, ok := strings.Cut(clusterID, "-")
	if !ok {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(b, 10, 64)
	if err != nil || ns <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// readSegment reads and decodes one segment; ok is false when the store no
// longer has it or it is corrupt (logged).
func (sr *shardRun) readSegment(ctx context.Context, store jobs.LogStore, k jobs.SegmentKey) ([]jobs.Record, bool, error) {
	data, err := store.ReadSegment(ctx, k)
	if errors.Is(err, jobs.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read segment %v: %w", k, err)
	}
	recs, err := jobs.DecodeRecords(data)
	if err != nil {
		sr.n.log.Error().Err(err).Interface("segment", k).Msg("corrupt segment skipped")
		return nil, false, nil
	}
	return recs, true, nil
}

// recheck reads the log of epochs [first, epoch) again, LogRecheck and
// 5 x LogRecheck after a load, and merges into the cluster the jobs that
// only these reads find: right after a member died Olric can answer "not
// found" for keys whose copy sits on a backup it has not consulted yet.
// The jobs go through the normal submit routing (as imports: the more
// advanced version of a job wins, a running one is requeued), so they
// reach the shard's owner even if the shard has moved on since. The old
// segments are deleted once both reads are done and everything they found
// was taken.
func (sr *shardRun) recheck(snap jobs.Snapshot, first, epoch uint64, seen map[jobs.SegmentKey]bool) {
	n := sr.n
	defer n.wg.Done()
	all := make(map[jobs.SegmentKey]bool, len(seen))
	for k := range seen {
		all[k] = true
	}
	keep := false
	for _, after := range []time.Duration{n.cfg.LogRecheck, 4 * n.cfg.LogRecheck} {
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(after):
		}
		found, err := sr.readUnseenRetrying(snap, first, epoch, seen, all)
		if err != nil {
			if n.ctx.Err() == nil {
				n.log.Error().Err(err).Int("shard", sr.id).Dur("tried_for", recheckRetryFor).
					Msg("could not read the shard's old log again: jobs only it holds are not served; its segments are kept in Olric")
			}
			keep = true
			continue
		}
		if len(found) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		res := n.routeEnqueue(ctx, found, true)
		cancel()
		failed := 0
		for _, r := range res {
			if r.Error != nil {
				failed++
			}
		}
		if failed > 0 {
			keep = true
		}
		n.log.Warn().Str("event", "log_recheck").Int("shard", sr.id).Int("jobs_found", len(found)).
			Int("jobs_not_taken", failed).Msg("a second read of the shard's old log found jobs the load had not seen (a read Olric missed, or the previous holder's flush still in flight); merged them in")
		n.met.recovered.Add(float64(len(found) - failed))
	}
	if keep || len(all) == 0 {
		return
	}
	keys := make([]jobs.SegmentKey, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	store := n.logStore()
	if store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	if err := store.DeleteSegments(ctx, keys); err != nil {
		n.log.Debug().Err(err).Int("shard", sr.id).Msg("could not drop old segments; they are read again harmlessly")
	}
}

// recheckRetryFor bounds how long a second read of an old log is retried
// when Olric fails it (timeouts while partitions move). Giving up after the
// first error left the segments in Olric with nobody to read them again:
// the next load starts from the newer snapshot.
const recheckRetryFor = 5 * time.Minute

// readUnseenRetrying is readUnseen, retried with backoff while it fails,
// for up to recheckRetryFor. Every key listed is added to all.
func (sr *shardRun) readUnseenRetrying(snap jobs.Snapshot, first, epoch uint64, seen, all map[jobs.SegmentKey]bool) ([]jobs.Job, error) {
	n := sr.n
	var found []jobs.Job
	wait := func(d time.Duration) bool {
		select {
		case <-n.ctx.Done():
			return false
		case <-time.After(jitter(d)):
			return true
		}
	}
	attempts, err := retryFor(recheckRetryFor, 500*time.Millisecond, 15*time.Second, time.Now, wait, func() error {
		f, listed, err := sr.readUnseen(snap, first, epoch, seen)
		for _, k := range listed {
			all[k] = true
		}
		if err != nil && !errors.Is(err, ErrStopped) {
			n.log.Debug().Err(err).Int("shard", sr.id).Msg("could not read the shard's old log again; retrying")
		}
		found = f
		return err
	})
	if err == nil && attempts > 1 {
		n.log.Info().Int("shard", sr.id).Int("attempts", attempts).Msg("read the shard's old log again after Olric failed it")
	}
	return found, err
}

// retryFor runs op until it succeeds, returns ErrStopped, or bound has
// passed since the first try, waiting base, 2 x base ... up to max between
// tries. wait returns false when the caller is stopping. It returns the
// number of tries and op's last error.
func retryFor(bound, base, max time.Duration, now func() time.Time, wait func(time.Duration) bool, op func() error) (int, error) {
	start := now()
	backoff := base
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || errors.Is(err, ErrStopped) || now().Sub(start) >= bound {
			return attempt, err
		}
		if !wait(backoff) {
			return attempt, ErrStopped
		}
		backoff = min(2*backoff, max)
	}
}

// readUnseen lists the log of epochs [first, epoch) and reads the segments
// not in seen (adding them), returning the latest version of every job
// they record and every key listed.
func (sr *shardRun) readUnseen(snap jobs.Snapshot, first, epoch uint64, seen map[jobs.SegmentKey]bool) ([]jobs.Job, []jobs.SegmentKey, error) {
	store := sr.n.logStore()
	if store == nil {
		return nil, nil, ErrStopped
	}
	ctx, cancel := context.WithTimeout(sr.n.ctx, 10*time.Second)
	defer cancel()
	latest := map[string]jobs.Job{}
	var order []string
	var listed []jobs.SegmentKey
	for e := first; e < epoch; e++ {
		keys, err := store.ListSegments(ctx, sr.id, e)
		if err != nil {
			return nil, listed, fmt.Errorf("list segments of epoch %d: %w", e, err)
		}
		for _, k := range keys {
			listed = append(listed, k)
			if seen[k] || snap.Covers(k) {
				continue
			}
			recs, ok, err := sr.readSegment(ctx, store, k)
			if err != nil {
				return nil, listed, err
			}
			if !ok {
				continue
			}
			seen[k] = true
			for _, r := range recs {
				if r.Op != jobs.OpUpsert {
					continue
				}
				if _, ok := latest[r.Job.ID]; !ok {
					order = append(order, r.Job.ID)
				}
				latest[r.Job.ID] = r.Job
			}
		}
	}
	found := make([]jobs.Job, 0, len(order))
	for _, id := range order {
		found = append(found, latest[id])
	}
	return found, listed, nil
}
