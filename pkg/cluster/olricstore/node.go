package olricstore

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/olric-data/olric"
	"github.com/olric-data/olric/config"
	"github.com/rs/zerolog"

	"github.com/shoal-dev/shoal/pkg/cluster/lease"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// Errors of Start.
var (
	// ErrPortInUse: another process listens on the Olric or memberlist port.
	ErrPortInUse = errors.New("olricstore: port in use")
	// ErrJoinFailed: Peers were given but none could be joined in time.
	ErrJoinFailed = errors.New("olricstore: could not join any peer")
	// ErrSecretMismatch: a peer answered but refused our gossip encryption
	// (the secrets differ, or one side has none).
	ErrSecretMismatch = errors.New("olricstore: peer refused our secret")
	// ErrClosed: the node was shut down.
	ErrClosed = errors.New("olricstore: node is shut down")
)

// dmapName is the one DMap shoal keeps everything in: shard logs and
// snapshots, leases, node records. One DMap means one storage fragment per
// partition instead of one per partition and DMap.
const dmapName = "shoal"

// Node is one embedded Olric member.
type Node struct {
	cfg    Config
	log    zerolog.Logger
	db     *olric.Olric
	client *olric.EmbeddedClient
	dm     olric.DMap
	lw     *logWriter
	done   chan struct{} // closed when db.Start returned
	runErr error         // db.Start's result, set before done is closed

	logStore *LogStore
	leases   *LeaseStore
	kv       *olricKV

	shutdownOnce sync.Once
	shutdownErr  error
}

// Member is one member of the Olric cluster.
type Member struct {
	// Name is the member's Olric address, host:port.
	Name string
	// ID is Olric's member ID: a hash of Name and Birthdate. A restarted
	// member has a new ID.
	ID uint64
	// Birthdate is when the member started, Unix nanoseconds.
	Birthdate int64
	// Coordinator is true for the oldest member, which computes the
	// routing table.
	Coordinator bool
}

// Start starts an embedded Olric node and returns once it has joined a
// cluster (or formed one) and can serve requests. ctx bounds the start only.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkPorts(cfg); err != nil {
		return nil, err
	}
	lg := cfg.Logger.With().Str("component", "olric").Logger()
	lw := &logWriter{log: lg}
	oc, err := olricConfig(cfg, lw)
	if err != nil {
		return nil, err
	}
	started := make(chan struct{})
	var startedOnce sync.Once
	oc.Started = func() { startedOnce.Do(func() { close(started) }) }

	db, err := olric.New(oc)
	if err != nil {
		return nil, fmt.Errorf("olricstore: configure olric: %w", err)
	}
	n := &Node{cfg: cfg, log: lg, db: db, client: db.NewEmbeddedClient(), lw: lw, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		n.runErr = db.Start()
	}()

	if err := n.waitReady(ctx, started); err != nil {
		n.abort()
		return nil, err
	}
	if err := n.checkJoined(); err != nil {
		n.abort()
		return nil, err
	}
	dm, err := n.openDMap(ctx)
	if err != nil {
		n.abort()
		return nil, fmt.Errorf("olricstore: open dmap: %w", err)
	}
	// Olric's start callback polls process-wide counters that the next
	// olric.New in this process writes without synchronisation (a data
	// race the detector reports in multi-node tests). Let it fire first;
	// it does within milliseconds once the node is up, unless an earlier
	// node of this process failed to start, hence the bound.
	select {
	case <-started:
	case <-time.After(2 * time.Second):
	}
	n.dm = dm
	n.logStore = newLogStore(dm, cfg.TableSize)
	n.leases = newLeaseStore(dm, time.Now)
	n.kv = &olricKV{dm: dm, handles: make(map[string]olric.LockContext)}
	members, _ := n.Members(ctx)
	lg.Info().Str("node", cfg.Name).Str("addr", n.Addr()).Int("members", len(members)).
		Bool("secret", cfg.Secret != "").Int("replicas", cfg.ReplicaCount).Uint64("partitions", cfg.PartitionCount).
		Msg("olric node started")
	if cfg.Secret == "" {
		lg.Warn().Msg("olric runs OPEN: no secret, gossip is not encrypted and any client may connect; set a secret")
	}
	return n, nil
}

// olricConfig maps Config onto Olric's configuration.
func olricConfig(cfg Config, lw *logWriter) (*config.Config, error) {
	oc := config.New("local")
	oc.BindAddr = cfg.BindAddr
	oc.BindPort = cfg.Port
	oc.ReplicaCount = cfg.ReplicaCount
	oc.WriteQuorum = 1
	oc.ReadQuorum = 1
	oc.MemberCountQuorum = 1
	oc.ReplicationMode = config.SyncReplicationMode
	oc.PartitionCount = cfg.PartitionCount
	oc.JoinRetryInterval = cfg.JoinRetryInterval
	oc.MaxJoinAttempts = max(1, int(cfg.JoinTimeout/cfg.JoinRetryInterval))
	oc.LeaveTimeout = cfg.LeaveTimeout
	oc.BootstrapTimeout = cfg.RequestBootstrapWait
	// The coordinator pushes the routing table on every membership event;
	// the periodic push repairs a member that missed one.
	oc.RoutingTablePushInterval = 2 * time.Second
	oc.TriggerBalancerInterval = 5 * time.Second
	oc.KeepAlivePeriod = 30 * time.Second

	oc.Logger = log.New(lw, "", 0)
	oc.LogOutput = lw
	oc.LogLevel = config.LogLevelWarn
	oc.LogVerbosity = 2
	if cfg.Logger.GetLevel() <= zerolog.DebugLevel {
		oc.LogLevel = config.LogLevelInfo
		oc.LogVerbosity = 3
	}

	oc.Client = config.NewClient()
	oc.Client.DialTimeout = cfg.DialTimeout
	oc.Client.ReadTimeout = cfg.RequestTimeout
	oc.Client.WriteTimeout = cfg.RequestTimeout
	oc.Client.MaxRetries = 1
	oc.Client.PoolSize = 64

	oc.DMaps = &config.DMaps{
		TriggerCompactionInterval: cfg.CompactionInterval,
		Engine:                    config.NewEngine(),
	}
	oc.DMaps.Engine.Config["tableSize"] = cfg.TableSize

	if cfg.Secret != "" {
		oc.Authentication = &config.Authentication{Password: olricPassword(cfg.Secret)}
	}

	m, err := config.NewMemberlistConfig("local")
	if err != nil {
		return nil, err
	}
	m.BindAddr = cfg.BindAddr
	m.BindPort = cfg.MemberlistPort
	m.AdvertiseAddr = cfg.AdvertiseAddr
	m.AdvertisePort = cfg.MemberlistPort
	m.ProbeInterval = cfg.Timing.ProbeInterval
	m.ProbeTimeout = cfg.Timing.ProbeTimeout
	m.SuspicionMult = cfg.Timing.SuspicionMult
	m.GossipInterval = cfg.Timing.GossipInterval
	m.PushPullInterval = cfg.Timing.PushPullInterval
	m.TCPTimeout = cfg.Timing.TCPTimeout
	m.IndirectChecks = 2
	m.DeadNodeReclaimTime = time.Second // a restarted member may come back at once
	if cfg.Secret != "" {
		m.SecretKey = memberlistKey(cfg.Secret)
	}
	oc.MemberlistConfig = m

	self := map[string]bool{
		net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.MemberlistPort)):    true,
		net.JoinHostPort(cfg.advertise(), strconv.Itoa(cfg.MemberlistPort)): true,
	}
	oc.Peers = nil
	for _, p := range cfg.Peers {
		if !self[p] && !slices.Contains(oc.Peers, p) {
			oc.Peers = append(oc.Peers, p)
		}
	}
	return oc, nil
}

// checkPorts fails early, with a clear message, when a port is taken.
// (Olric would fail too, but later and, for memberlist, after its RESP
// server already listens.)
func checkPorts(cfg Config) error {
	for _, p := range []struct {
		network, what, flag string
		port                int
	}{
		{"tcp", "Olric", "Port", cfg.Port},
		{"tcp", "memberlist", "MemberlistPort", cfg.MemberlistPort},
		{"udp", "memberlist", "MemberlistPort", cfg.MemberlistPort},
	} {
		addr := net.JoinHostPort(cfg.BindAddr, strconv.Itoa(p.port))
		var err error
		if p.network == "tcp" {
			var l net.Listener
			if l, err = net.Listen("tcp", addr); err == nil {
				l.Close()
			}
		} else {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp", addr); err == nil {
				c.Close()
			}
		}
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("%w: %s %s %s is taken by another process: stop it or choose another %s: %v", ErrPortInUse, p.what, p.network, addr, p.flag, err)
			}
			return fmt.Errorf("olricstore: cannot listen on %s %s (%s): %w", p.network, addr, p.what, err)
		}
	}
	return nil
}

// waitReady waits for Olric's Started callback, or polls the node with a
// ping. (The callback alone is not enough: Olric counts start checkpoints in
// process-wide globals, so one node that failed to start in this process
// keeps every later node's callback from firing.)
func (n *Node) waitReady(ctx context.Context, started <-chan struct{}) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-started:
			return nil
		case <-n.done:
			return n.startError(n.runErr)
		case <-ctx.Done():
			return fmt.Errorf("olricstore: start %s: %w", n.Addr(), ctx.Err())
		case <-tick.C:
			pctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
			_, err := n.client.Ping(pctx, n.Addr(), "")
			cancel()
			if err == nil {
				return nil
			}
		}
	}
}

func (n *Node) startError(err error) error {
	if err == nil {
		err = errors.New("olric stopped")
	}
	if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
		return fmt.Errorf("%w: olric %s: %v: stop the other process or choose other ports", ErrPortInUse, n.Addr(), err)
	}
	return fmt.Errorf("olricstore: olric %s failed to start: %w", n.Addr(), err)
}

// openDMap opens shoal's DMap, which succeeds once the coordinator has sent
// this node its first routing table. Olric itself waits only
// RequestBootstrapWait for that; the wait is repeated here up to
// BootstrapTimeout.
func (n *Node) openDMap(ctx context.Context) (olric.DMap, error) {
	deadline := time.Now().Add(n.cfg.BootstrapTimeout)
	for {
		dm, err := n.client.NewDMap(dmapName)
		if err == nil || !errors.Is(err, olric.ErrOperationTimeout) || !time.Now().Before(deadline) {
			return dm, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.done:
			return nil, n.startError(n.runErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkJoined turns "found nobody, formed a cluster alone" into an error
// when peers were given, unless FormAloneIfJoinFails.
func (n *Node) checkJoined() error {
	olricPeers := 0
	for _, p := range n.cfg.Peers {
		if p != net.JoinHostPort(n.cfg.BindAddr, strconv.Itoa(n.cfg.MemberlistPort)) &&
			p != net.JoinHostPort(n.cfg.advertise(), strconv.Itoa(n.cfg.MemberlistPort)) {
			olricPeers++
		}
	}
	if olricPeers == 0 {
		return nil
	}
	members, err := n.client.Members(context.Background())
	if err != nil || len(members) > 1 {
		return nil
	}
	joinErr, secretErr := n.lw.joinDiagnosis()
	if secretErr != "" {
		return fmt.Errorf("%w: %s; every node must use the same secret (SHOAL_SECRET), or none", ErrSecretMismatch, secretErr)
	}
	if n.cfg.FormAloneIfJoinFails {
		n.log.Warn().Strs("peers", n.cfg.Peers).Str("last_error", joinErr).Msg("could not join any peer: formed a new cluster alone")
		return nil
	}
	reachable := reachablePeers(n.cfg.Peers, n.cfg.Timing.TCPTimeout)
	if len(reachable) > 0 {
		return fmt.Errorf("%w: %v answer on their gossip port but the join failed (%s): check that they use the same secret as this node, or none", ErrSecretMismatch, reachable, joinErr)
	}
	return fmt.Errorf("%w: none of %v answered within %s (last error: %s): check the addresses, or start with no peers to form a new cluster", ErrJoinFailed, n.cfg.Peers, n.cfg.JoinTimeout, joinErr)
}

func reachablePeers(peers []string, timeout time.Duration) []string {
	var out []string
	for _, p := range peers {
		c, err := net.DialTimeout("tcp", p, timeout)
		if err == nil {
			c.Close()
			out = append(out, p)
		}
	}
	return out
}

// abort stops a node that failed to start. Olric's Shutdown may touch
// subsystems that never started: guard against its panics.
func (n *Node) abort() {
	func() {
		defer func() { _ = recover() }()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.db.Shutdown(ctx)
	}()
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
	}
}

// Addr is this node's Olric address (host:port), its member Name.
func (n *Node) Addr() string {
	return net.JoinHostPort(n.cfg.advertise(), strconv.Itoa(n.cfg.Port))
}

// MemberlistAddr is this node's gossip address, what other nodes list in Peers.
func (n *Node) MemberlistAddr() string {
	return net.JoinHostPort(n.cfg.advertise(), strconv.Itoa(n.cfg.MemberlistPort))
}

// Members returns the members this node sees, oldest first.
func (n *Node) Members(ctx context.Context) ([]Member, error) {
	if n.closed() {
		return nil, ErrClosed
	}
	ms, err := n.client.Members(ctx)
	if err != nil {
		return nil, fmt.Errorf("olricstore: members: %w", err)
	}
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, Member{Name: m.Name, ID: m.ID, Birthdate: m.Birthdate, Coordinator: m.Coordinator})
	}
	slices.SortFunc(out, func(a, b Member) int {
		if a.Birthdate != b.Birthdate {
			return compare(a.Birthdate, b.Birthdate)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

func compare(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ClusterID identifies the cluster this node is in: the coordinator's ID and
// birthdate. Two sides of a split have different coordinators, hence
// different IDs; it changes when the coordinator leaves or dies.
func (n *Node) ClusterID(ctx context.Context) (string, error) {
	ms, err := n.Members(ctx)
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		if m.Coordinator {
			return fmt.Sprintf("%016x-%d", m.ID, m.Birthdate), nil
		}
	}
	if len(ms) > 0 { // no coordinator flagged: the oldest member is the one
		return fmt.Sprintf("%016x-%d", ms[0].ID, ms[0].Birthdate), nil
	}
	return "", errors.New("olricstore: no members: the node is not in a cluster")
}

// LogStore returns the shard-log store on this cluster.
func (n *Node) LogStore() jobs.LogStore { return n.logStore }

// Leases returns the shard lease store on this cluster.
func (n *Node) Leases() lease.Store { return n.leases }

// KV returns the node-record store on this cluster.
func (n *Node) KV() KV { return n.kv }

func (n *Node) closed() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// Shutdown leaves the cluster and stops the node. Olric moves no data off a
// node that leaves: with ReplicaCount 2, let nodes leave one at a time (see
// KV.Lock) and give the cluster time to re-replicate between them. Safe to
// call twice.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutdownOnce.Do(func() {
		n.kv.unlockAll(ctx)
		if err := n.db.Shutdown(ctx); err != nil {
			n.shutdownErr = fmt.Errorf("olricstore: shutdown %s: %w", n.Addr(), err)
		}
		select {
		case <-n.done:
		case <-ctx.Done():
			if n.shutdownErr == nil {
				n.shutdownErr = fmt.Errorf("olricstore: shutdown %s: %w", n.Addr(), ctx.Err())
			}
		}
		n.log.Info().Str("node", n.cfg.Name).Msg("olric node stopped")
	})
	return n.shutdownErr
}
