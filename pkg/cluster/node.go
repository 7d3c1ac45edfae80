package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/shoal-dev/shoal/pkg/cluster/lease"
	"github.com/shoal-dev/shoal/pkg/cluster/olricstore"
	"github.com/shoal-dev/shoal/pkg/cluster/placement"
	"github.com/shoal-dev/shoal/pkg/discovery"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// ErrStopped is returned by operations on a node that has stopped.
var ErrStopped = errors.New("cluster: node stopped")

// ErrJoin is wrapped by Start's error when the embedded Olric node could not
// start or join its peers (Olric can be left unable to join until the
// process starts afresh; cmd/worker retries in a new process).
var ErrJoin = errors.New("cluster: could not start or join the Olric cluster")

// Internal subjects. Private subjects carry the target incarnation's ID.
const (
	subjectHeartbeat = "shoal.int.hb"
	subjectNodeFmt   = "shoal.n.%s.%s" // node ID, operation
)

func nodeSubject(id, op string) string { return fmt.Sprintf(subjectNodeFmt, id, op) }

// Node is one shoal worker: it joins the cluster, owns its share of the
// shards, runs their jobs, and serves the NATS API.
type Node struct {
	cfg  Config
	log  zerolog.Logger
	now  func() time.Time
	id   string // incarnation: name#random
	reg  *jobs.Registry
	exec *jobs.Executor
	met  *metrics

	startOnce sync.Once
	stopOnce  sync.Once
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	fwd       sync.WaitGroup // completions on their way to other owners
	done      chan struct{}

	bus     *bus
	http    *httpServer
	watcher *discovery.Watcher

	// store is the embedded Olric node; swapped when healing a split.
	storeMu sync.RWMutex
	store   *olricstore.Node

	state     atomic.Value // NodeState
	joined    atomic.Bool
	restart   atomic.Bool
	readyFlag atomic.Bool

	mu      sync.Mutex
	peers   map[string]peerEntry // by node name
	plan    []string             // owner name per shard, as last adopted
	members []string             // active members of the adopted plan
	set     settler
	shards  map[int]*shardRun // shards this node wants or serves
	// retiring are runners released by a plan that have not finished their
	// hand-off yet (a runner the plan wants back is replaced, not waited
	// for: see adopt); drain waits for them too.
	retiring  map[*shardRun]bool
	planAt    time.Time
	rebalance *rebalanceLog
	hbSeq     uint64
	olricSize int
	// resnapAt is when every held shard is snapshotted once more after an
	// Olric membership change (zero: none pending).
	resnapAt  time.Time
	clusterID string
	// leaving in turn (see leave.go)
	leaveCoord   string    // the coordinator that granted our turn
	leaveGrant   string    // as coordinator: who holds the turn
	leaveGrantAt time.Time // when it was granted
	grantSize    int       // Olric's size when it was granted

	loadSlots chan struct{} // bounds concurrent shard loads

	handoffMu sync.Mutex
	handoffs  map[int]handoff // final states handed over, by shard
	// mergeExport collects the hand-offs of runners ending while the node
	// merges into another cluster (heal exports them).
	mergeExport []jobs.Job

	lastPrune time.Time // dispatch loop only

	readyMu  sync.Mutex
	readyQ   []int
	inReadyQ map[int]bool
	wake     chan struct{}

	subs []*nats.Subscription
}

// New validates cfg and builds a node. Start brings it up.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With().Str("node", cfg.Name).Logger()
	exec, err := jobs.NewExecutor(jobs.ExecutorConfig{Concurrency: cfg.Concurrency, DefaultTimeout: cfg.DefaultTimeout}, cfg.Registry, log)
	if err != nil {
		return nil, fmt.Errorf("cluster: executor: %w", err)
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	n := &Node{
		cfg:       cfg,
		log:       log,
		now:       cfg.Now,
		id:        cfg.Name + "#" + hex.EncodeToString(rnd[:]),
		reg:       cfg.Registry,
		exec:      exec,
		peers:     map[string]peerEntry{},
		shards:    map[int]*shardRun{},
		retiring:  map[*shardRun]bool{},
		inReadyQ:  map[int]bool{},
		wake:      make(chan struct{}, 1),
		loadSlots: make(chan struct{}, 32),
		handoffs:  map[int]handoff{},
		done:      make(chan struct{}),
		set:       settler{quiet: cfg.Settle, max: cfg.MaxSettle},
	}
	n.state.Store(StateJoining)
	n.met = newMetrics(cfg.Metrics, n)
	return n, nil
}

// ID returns this incarnation's runner ID (name#random).
func (n *Node) ID() string { return n.id }

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// State returns the node's current state.
func (n *Node) State() NodeState { return n.state.Load().(NodeState) }

// Done is closed when the node has stopped.
func (n *Node) Done() <-chan struct{} { return n.done }

func (n *Node) getStore() *olricstore.Node {
	n.storeMu.RLock()
	defer n.storeMu.RUnlock()
	return n.store
}

// Start brings the node up: NATS and HTTP first (so peers can probe it),
// then formation (join an existing cluster, bootstrap one, or wait for the
// peer whose turn it is), then the control loops and the API. It returns
// once the node has joined a cluster.
func (n *Node) Start(ctx context.Context) error {
	err := errors.New("cluster: Start called twice")
	n.startOnce.Do(func() { err = n.start(ctx) })
	return err
}

func (n *Node) start(ctx context.Context) (err error) {
	n.ctx, n.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			n.shutdown()
		}
	}()
	if n.cfg.Secret == "" {
		n.log.Warn().Msg("SHOAL_SECRET is not set: this cluster is OPEN. Anyone who reaches its ports can join it, read its jobs and submit work. Set the same --secret (SHOAL_SECRET) on every node and client.")
	}
	if n.bus, err = startBus(&n.cfg, n.log); err != nil {
		return err
	}
	if n.http, err = startHTTP(n); err != nil {
		return err
	}
	if n.cfg.Discovery != nil {
		wcfg := discovery.DefaultWatcherConfig()
		wcfg.Interval = n.cfg.DiscoveryInterval
		if n.watcher, err = discovery.NewWatcher(n.cfg.Discovery, wcfg, n.log.With().Str("component", "discovery").Logger()); err != nil {
			return fmt.Errorf("cluster: discovery: %w", err)
		}
		if err = n.watcher.Start(n.ctx); err != nil {
			return fmt.Errorf("cluster: discovery: %w", err)
		}
	}
	if err = n.subscribeInternal(); err != nil {
		return err
	}
	n.wg.Add(1)
	go n.heartbeatLoop()

	peers, err := n.form(ctx)
	if err != nil {
		return err
	}
	if err = n.startStore(ctx, peers); err != nil {
		return err
	}
	n.joined.Store(true)
	n.state.Store(StateActive)
	if err = n.subscribeAPI(); err != nil {
		return err
	}
	n.wg.Add(3)
	go n.controlLoop()
	go n.dispatchLoop()
	go n.routesLoop()
	n.log.Info().Str("event", "started").Str("id", n.id).Str("addr", n.cfg.AdvertiseAddr).
		Int("nats_port", n.cfg.NATSPort).Int("http_port", n.cfg.HTTPPort).Int("shards", n.cfg.Shards).
		Strs("peers", peers).Msg("node started")
	return nil
}

func (n *Node) startStore(ctx context.Context, peers []string) error {
	ocfg := olricstore.DefaultConfig()
	ocfg.Name = n.cfg.Name
	ocfg.BindAddr = n.cfg.BindAddr
	ocfg.AdvertiseAddr = n.cfg.AdvertiseAddr
	ocfg.Port = n.cfg.OlricPort
	ocfg.MemberlistPort = n.cfg.MemberlistPort
	ocfg.Peers = peers
	ocfg.ReplicaCount = n.cfg.ReplicaCount
	ocfg.Secret = n.cfg.Secret
	ocfg.Logger = n.log.With().Str("component", "olric").Logger()
	st, err := olricstore.Start(ctx, ocfg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrJoin, err)
	}
	n.storeMu.Lock()
	n.store = st
	n.storeMu.Unlock()
	n.refreshClusterID()
	return nil
}

func (n *Node) memberlistAddr() string {
	return net.JoinHostPort(n.cfg.AdvertiseAddr, strconv.Itoa(n.cfg.MemberlistPort))
}

// resnapDelay is how long after an Olric membership change the held shards
// are snapshotted a second time.
const resnapDelay = 5 * time.Second

func (n *Node) refreshClusterID() {
	st := n.getStore()
	if st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, time.Second)
	defer cancel()
	id, err := st.ClusterID(ctx)
	if err != nil {
		return
	}
	members, err := st.Members(ctx)
	if err != nil {
		return
	}
	n.mu.Lock()
	n.clusterID = id
	if len(members) != n.olricSize {
		if n.olricSize != 0 {
			n.log.Info().Str("event", "olric_members").Int("before", n.olricSize).Int("after", len(members)).Msg("Olric membership changed")
			// Every held shard is written again so that its log has its
			// full replica count on the members that remain.
			n.requestSnapshotsLocked()
			// And once more when the routing table has settled: a write
			// made while a joiner was not yet bootstrapped got no backup
			// copy (Olric counts the refusal as a failed replica, and a
			// write quorum of 1 accepts it), and Olric never makes that
			// copy later.
			n.resnapAt = n.now().Add(resnapDelay)
		}
		n.olricSize = len(members)
	} else if !n.resnapAt.IsZero() && !n.now().Before(n.resnapAt) {
		n.resnapAt = time.Time{}
		n.requestSnapshotsLocked()
	}
	n.mu.Unlock()
}

// requestSnapshotsLocked asks every held shard to write its snapshot again,
// so that its log has its full replica count on the current members.
// Callers hold n.mu.
func (n *Node) requestSnapshotsLocked() {
	for _, sr := range n.shards {
		sr.requestSnapshot()
	}
}

// selfHeartbeatLocked builds this node's heartbeat. Callers hold n.mu.
func (n *Node) selfHeartbeatLocked() heartbeat {
	held := 0
	for _, sr := range n.shards {
		if sr.isServing() {
			held++
		}
	}
	hb := heartbeat{
		Name:           n.cfg.Name,
		ID:             n.id,
		Addr:           n.cfg.AdvertiseAddr,
		HTTPPort:       n.cfg.HTTPPort,
		MemberlistAddr: n.memberlistAddr(),
		ClusterID:      n.clusterID,
		ClusterSize:    n.olricSize,
		State:          n.State(),
		Shards:         n.cfg.Shards,
		Held:           held,
		Running:        n.exec.Running(),
		RunningIDs:     n.exec.RunningIDs(),
		Types:          n.reg.Types(),
		View:           n.members,
		Seq:            n.hbSeq,
	}
	hb.Synced, hb.SyncedMembers = n.syncedLocked()
	return hb
}

func (n *Node) heartbeatLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		n.mu.Lock()
		n.hbSeq++
		hb := n.selfHeartbeatLocked()
		n.mu.Unlock()
		if data, err := json.Marshal(hb); err == nil {
			_ = n.bus.conn.Publish(subjectHeartbeat, data)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) onHeartbeat(m *nats.Msg) {
	var hb heartbeat
	if err := json.Unmarshal(m.Data, &hb); err != nil || hb.Name == "" || hb.Name == n.cfg.Name && hb.ID == n.id {
		return
	}
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	old, ok := n.peers[hb.Name]
	if ok && old.hb.ID == hb.ID && hb.Seq < old.hb.Seq {
		return
	}
	if hb.Shards != n.cfg.Shards && (!ok || old.hb.Shards != hb.Shards) {
		n.log.Error().Str("peer", hb.Name).Int("peer_shards", hb.Shards).Int("shards", n.cfg.Shards).
			Msg("a peer uses another shard count: it is ignored. Every node of a cluster must run with the same --shards")
	}
	if hb.Shards != n.cfg.Shards {
		return
	}
	n.peers[hb.Name] = peerEntry{hb: hb, seen: now}
}

// subscribeInternal subscribes the node-to-node subjects.
func (n *Node) subscribeInternal() error {
	nc := n.bus.conn
	handlers := map[string]nats.MsgHandler{
		subjectHeartbeat:              n.onHeartbeat,
		nodeSubject(n.id, "enqueue"):  n.async(n.onEnqueue),
		nodeSubject(n.id, "complete"): n.async(n.onComplete),
		nodeSubject(n.id, "status"):   n.async(n.onStatus),
		nodeSubject(n.id, "cancel"):   n.async(n.onCancel),
		nodeSubject(n.id, "kill"):     n.onKill,
		nodeSubject(n.id, "stats"):    n.async(n.onStats),
		nodeSubject(n.id, "list"):     n.async(n.onList),
		subjectHandoff:                n.async(n.onHandoff),
		nodeSubject(n.id, "leave"):    n.async(n.onLeave),
	}
	for subj, h := range handlers {
		s, err := nc.Subscribe(subj, h)
		if err != nil {
			return fmt.Errorf("cluster: subscribe %s: %w", subj, err)
		}
		_ = s.SetPendingLimits(-1, -1)
		n.subs = append(n.subs, s)
	}
	return nc.Flush()
}

// async runs a handler in its own goroutine so that one slow request does
// not hold up the subscription.
func (n *Node) async(h nats.MsgHandler) nats.MsgHandler {
	return func(m *nats.Msg) {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			h(m)
		}()
	}
}

// routesLoop keeps the NATS routes pointed at the peers that discovery sees.
func (n *Node) routesLoop() {
	defer n.wg.Done()
	if n.watcher == nil {
		<-n.ctx.Done()
		return
	}
	apply := n.applyRoutes
	apply(n.watcher.Peers())
	for {
		select {
		case <-n.ctx.Done():
			return
		case peers := <-n.watcher.Updates():
			apply(peers)
		}
	}
}

// applyRoutes points the NATS routes at the peers discovery lists.
func (n *Node) applyRoutes(peers []discovery.Peer) {
	var routes []string
	for _, p := range peers {
		if p.Host == n.cfg.AdvertiseAddr || p.Host == n.cfg.Name {
			continue
		}
		routes = append(routes, net.JoinHostPort(p.Host, strconv.Itoa(n.cfg.NATSClusterPort)))
	}
	n.bus.setRoutes(routes)
}

// controlLoop adopts membership views (coalesced), computes the plan and
// starts or stops shard runners; it also drives healing.
func (n *Node) controlLoop() {
	defer n.wg.Done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	idTick := time.NewTicker(500 * time.Millisecond)
	defer idTick.Stop()
	var healSince time.Time
	var healTarget string
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-idTick.C:
			n.refreshClusterID()
			n.reconcileRunners()
			n.retrySnapshots()
			n.warnStuckReleases()
			continue
		case <-t.C:
		}
		now := n.now()
		n.mu.Lock()
		self := n.selfHeartbeatLocked()
		members := activeMembers(self, n.peers, now, n.cfg.HeartbeatTimeout)
		other, found := biggerCluster(self, n.peers, now, n.cfg.HeartbeatTimeout)
		adopt := n.set.observe(strings.Join(members, ","), now)
		n.mu.Unlock()

		if found && self.State == StateActive {
			if other.ID != healTarget {
				healTarget, healSince = other.ID, now
			}
			if now.Sub(healSince) >= 3*time.Second {
				n.heal(other)
				return
			}
		} else {
			healTarget = ""
		}
		if adopt {
			n.adopt(members)
		}
	}
}

// adopt makes members the current view: computes the plan and starts or
// stops shard runners accordingly.
func (n *Node) adopt(members []string) {
	if len(members) == 0 {
		// Nobody is active (every node is draining): keep the current
		// owners so that running jobs can still report.
		return
	}
	pcfg := placement.DefaultConfig()
	pcfg.Shards = n.cfg.Shards
	var plan []string
	if len(members) > 0 {
		var err error
		plan, err = placement.Assign(pcfg, members)
		if err != nil {
			n.log.Error().Err(err).Msg("placement failed")
			return
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	before := n.members
	n.plan = plan
	n.members = members
	n.planAt = n.now()
	var gained, lost []int
	want := map[int]bool{}
	for s, owner := range plan {
		if owner == n.cfg.Name {
			want[s] = true
		}
	}
	have := map[int]bool{}
	for s := range n.shards {
		have[s] = true
	}
	gained, lost = planRunners(want, have)
	for _, s := range lost {
		n.retireLocked(s)
	}
	for _, s := range gained {
		sr := newShardRun(n, s)
		n.shards[s] = sr
		n.wg.Add(1)
		go sr.run()
	}
	if len(gained) == 0 && len(lost) == 0 && len(before) > 0 {
		return
	}
	next := &rebalanceLog{
		start: n.now(), before: before, after: members, gained: gained, lost: lost,
		pending: map[int]bool{},
	}
	for _, s := range gained {
		next.pending[s] = true
	}
	// A rebalance still loading its shards when the next one comes (two
	// nodes joining a second apart) is folded into it: one line says what
	// this node gained and lost since the last line.
	n.rebalance = n.rebalance.fold(next)
	n.met.rebalances.Inc()
	n.maybeFinishRebalanceLocked()
}

// retireLocked releases the shard's runner and moves it from shards to
// retiring, where it stays until it has handed the shard off. The caller
// holds n.mu.
func (n *Node) retireLocked(s int) {
	sr := n.shards[s]
	sr.release()
	n.retiring[sr] = true
	delete(n.shards, s)
}

// planRunners decides which shard runners to start and which to release
// for the shards the plan wants here (want) and the shards the node has a
// runner for (have). Both results are sorted.
//
// A released runner leaves have at once (adopt moves it to retiring), so a
// shard the plan gives back while its old runner still ends gets a new
// runner rather than waiting for it: the old one may still be handing off,
// or stuck in an Olric call, and the shard would stay unserved until it
// ends (a 6 -> 1 scale-down left a shard unserved for minutes this way).
// The lease keeps the two runners apart: the new one takes it once the old
// one released it or let it expire.
func planRunners(want, have map[int]bool) (start, release []int) {
	for s := range want {
		if !have[s] {
			start = append(start, s)
		}
	}
	for s := range have {
		if !want[s] {
			release = append(release, s)
		}
	}
	sort.Ints(start)
	sort.Ints(release)
	return start, release
}

// rebalanceLog accumulates what one rebalance did until its gained shards
// are all served, then logs one line.
type rebalanceLog struct {
	start           time.Time
	before, after   []string
	gained, lost    []int
	pending         map[int]bool
	jobsIn, jobsOut int
}

// fold returns next with the unfinished rebalance r folded in: the members
// and start of r, the shards gained by either and not lost by next, the
// shards lost by either and not gained back, and r's pending loads that
// next keeps. r may be nil.
func (r *rebalanceLog) fold(next *rebalanceLog) *rebalanceLog {
	if r == nil {
		return next
	}
	out := &rebalanceLog{start: r.start, before: r.before, after: next.after, pending: map[int]bool{},
		jobsIn: r.jobsIn, jobsOut: r.jobsOut}
	lostNow := map[int]bool{}
	for _, s := range next.lost {
		lostNow[s] = true
	}
	gainedNow := map[int]bool{}
	for _, s := range next.gained {
		gainedNow[s] = true
	}
	gained := map[int]bool{}
	for _, s := range r.gained {
		if !lostNow[s] {
			gained[s] = true
		}
	}
	lost := map[int]bool{}
	for _, s := range r.lost {
		if !gainedNow[s] {
			lost[s] = true
		}
	}
	for _, s := range next.gained {
		if !lost[s] && !slices.Contains(r.lost, s) {
			gained[s] = true
		}
	}
	for _, s := range next.lost {
		if !gained[s] && !slices.Contains(r.gained, s) {
			lost[s] = true
		}
	}
	for s := range r.pending {
		if !lostNow[s] {
			out.pending[s] = true
		}
	}
	for s := range next.pending {
		out.pending[s] = true
	}
	for s := range gained {
		out.gained = append(out.gained, s)
	}
	for s := range lost {
		out.lost = append(out.lost, s)
	}
	sort.Ints(out.gained)
	sort.Ints(out.lost)
	return out
}

func (n *Node) shardLoaded(s, jobsLoaded int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r := n.rebalance; r != nil && r.pending[s] {
		delete(r.pending, s)
		r.jobsIn += jobsLoaded
		n.maybeFinishRebalanceLocked()
	}
}

func (n *Node) shardReleased(jobsOut int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r := n.rebalance; r != nil {
		r.jobsOut += jobsOut
	}
}

func (n *Node) maybeFinishRebalanceLocked() {
	r := n.rebalance
	if r == nil || len(r.pending) > 0 {
		return
	}
	n.rebalance = nil
	took := n.now().Sub(r.start)
	n.log.Info().Str("event", "rebalance").
		Strs("members_before", r.before).Strs("members_after", r.after).
		Ints("shards_gained", r.gained).Ints("shards_lost", r.lost).
		Int("gained", len(r.gained)).Int("lost", len(r.lost)).
		Int("jobs_moved_in", r.jobsIn).Int("jobs_moved_out", r.jobsOut).
		Int64("took_ms", took.Milliseconds()).
		Msgf("rebalance: %d members -> %d, gained %d shards, lost %d", len(r.before), len(r.after), len(r.gained), len(r.lost))
	n.publishClusterEvent("rebalance", fmt.Sprintf("members %d -> %d, gained %d, lost %d, took %dms",
		len(r.before), len(r.after), len(r.gained), len(r.lost), took.Milliseconds()))
}

// syncedLocked reports whether every shard the plan gives this node is
// served and has been snapshotted since the last Olric membership change.
func (n *Node) syncedLocked() (bool, int) {
	if n.State() != StateActive {
		// A draining node owns nothing; it is in sync once it let go of everything.
		return len(n.shards) == 0, n.olricSize
	}
	for s, owner := range n.plan {
		if owner != n.cfg.Name {
			continue
		}
		sr := n.shards[s]
		if sr == nil || !sr.isServing() || sr.snapshotPending() {
			return false, n.olricSize
		}
	}
	return len(n.plan) > 0, n.olricSize
}

// ownerOf returns the node ID the current plan gives shard to, and whether
// that is this node.
func (n *Node) ownerOf(shard int) (id string, self bool, ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if shard >= len(n.plan) {
		return "", false, false
	}
	name := n.plan[shard]
	if name == n.cfg.Name {
		return n.id, true, true
	}
	p, found := n.peers[name]
	if !found {
		return "", false, false
	}
	return p.hb.ID, false, true
}

// served returns the shard's runner if this node serves it now.
func (n *Node) served(shard int) *shardRun {
	n.mu.Lock()
	sr := n.shards[shard]
	n.mu.Unlock()
	if sr == nil || !sr.isServing() {
		return nil
	}
	return sr
}

// clusterTypes is the set of job types some node of the cluster can run.
func (n *Node) clusterTypes() map[string]bool {
	out := map[string]bool{}
	for _, t := range n.reg.Types() {
		out[t] = true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	for _, p := range n.peers {
		if now.Sub(p.seen) <= n.cfg.HeartbeatTimeout && p.hb.ClusterID == n.clusterID {
			for _, t := range p.hb.Types {
				out[t] = true
			}
		}
	}
	return out
}

// retrySnapshots wakes the flusher of every shard whose requested
// snapshot has not been written yet (an idle shard's flusher sleeps).
func (n *Node) retrySnapshots() {
	n.mu.Lock()
	srs := make([]*shardRun, 0, len(n.shards))
	for _, sr := range n.shards {
		srs = append(srs, sr)
	}
	n.mu.Unlock()
	for _, sr := range srs {
		if sr.snapshotPending() {
			sr.kickFlush()
		}
	}
}

// warnStuckReleases logs, once per runner, a released shard runner that
// has not ended after stuckRelease, with where it is: its shard is served
// by its replacement, but its goroutine and its hold on the hand-off are
// not bounded the way they should be.
func (n *Node) warnStuckReleases() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for sr := range n.retiring {
		at := sr.releasedAt.Load()
		if sr.warned || at == 0 || time.Since(time.Unix(0, at)) < stuckRelease {
			continue
		}
		sr.warned = true
		n.met.stuckReleases.Inc()
		n.log.Warn().Str("event", "release_stuck").Int("shard", sr.id).Str("phase", sr.phaseNow()).
			Dur("since", time.Since(time.Unix(0, at))).
			Msg("a shard runner released by the plan has not ended; the shard is served by a new runner meanwhile (please report this with the node's log)")
	}
}

// reconcileRunners requeues jobs whose runner is gone: a crashed peer, or
// a runner that no longer lists a job it was said to run (its completion was
// lost).
func (n *Node) reconcileRunners() {
	n.mu.Lock()
	self := n.selfHeartbeatLocked()
	live := liveRunners(self, n.peers, n.now(), n.cfg.HeartbeatTimeout)
	runningBy := map[string]map[string]bool{}
	for _, p := range n.peers {
		if live[p.hb.ID] {
			set := map[string]bool{}
			for _, id := range p.hb.RunningIDs {
				set[id] = true
			}
			runningBy[p.hb.ID] = set
		}
	}
	var srs []*shardRun
	for _, sr := range n.shards {
		srs = append(srs, sr)
	}
	n.mu.Unlock()
	mine := map[string]bool{}
	for _, id := range n.exec.RunningIDs() {
		mine[id] = true
	}
	runningBy[n.id] = mine
	for _, sr := range srs {
		sr.reconcile(live, runningBy)
	}
}

// Stop drains the node (hands its shards and unfinished jobs to the rest of
// the cluster), leaves, and shuts down, within DrainTimeout + LeaveTimeout.
// It is safe to call more than once and from several goroutines.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		if n.ctx == nil {
			close(n.done)
			return
		}
		if n.joined.Load() {
			n.drain()
		}
		n.shutdown()
	})
	<-n.done
}

// Kill stops the node at once without a drain, as a crash would (tests).
func (n *Node) Kill() {
	n.stopOnce.Do(func() { n.shutdown() })
	<-n.done
}

func (n *Node) shutdown() {
	if n.cancel != nil {
		n.cancel()
	}
	for _, s := range n.subs {
		_ = s.Unsubscribe()
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	n.exec.Stop(stopCtx)
	cancel()
	if n.watcher != nil {
		n.watcher.Stop()
	}
	n.wg.Wait()
	if st := n.getStore(); st != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = st.Shutdown(ctx)
		cancel()
		n.leaveDone()
	}
	if n.http != nil {
		n.http.close()
	}
	if n.bus != nil {
		n.bus.close()
	}
	select {
	case <-n.done:
	default:
		close(n.done)
	}
}

// leaseStore returns the lease store of the current Olric node.
func (n *Node) leaseStore() lease.Store {
	st := n.getStore()
	if st == nil {
		return nil
	}
	return st.Leases()
}

// logStore returns the log store of the current Olric node.
func (n *Node) logStore() jobs.LogStore {
	st := n.getStore()
	if st == nil {
		return nil
	}
	return st.LogStore()
}
