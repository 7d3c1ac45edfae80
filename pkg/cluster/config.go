package cluster

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/shoal-dev/shoal/pkg/discovery"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("cluster: invalid config")

// Config is everything a node needs. Start from DefaultConfig.
type Config struct {
	// Name identifies the node in logs, `submit members` and job runners. It
	// must be unique in the cluster; the worker uses POD_NAME or the
	// advertised address.
	Name string
	// AdvertiseAddr is the IP address other nodes reach this node at (POD_IP
	// in Kubernetes). It must be an IP address.
	AdvertiseAddr string
	// BindAddr is the address the node's servers listen on; empty means
	// AdvertiseAddr. "0.0.0.0" listens everywhere (containers).
	BindAddr string

	// OlricPort is the Olric (RESP) port.
	OlricPort int
	// MemberlistPort is Olric's gossip port (TCP and UDP).
	MemberlistPort int
	// NATSPort is the NATS client port that `submit` connects to.
	NATSPort int
	// NATSClusterPort is the port of the routes between the NATS servers.
	NATSClusterPort int
	// HTTPPort serves /healthz, /readyz, /metrics and /v1/cluster.
	HTTPPort int

	// Secret keys memberlist's gossip encryption, Olric's authentication,
	// and NATS route and client authentication. Empty runs an open cluster.
	Secret string

	// Discovery answers who the peers might be. Nil means no peers: a
	// one-node cluster.
	Discovery discovery.Strategy
	// DiscoveryInterval is how often peers are looked up again, for the
	// node's whole life.
	DiscoveryInterval time.Duration
	// FormationTimeout bounds how long a node waits for a lower-named peer
	// to bootstrap the cluster before it bootstraps one itself.
	FormationTimeout time.Duration

	// Shards is the fixed number of shards of the job space. Every node of a
	// cluster must use the same value; a node with another value refuses to
	// serve and says so.
	Shards int
	// ReplicaCount is how many copies Olric keeps of each key (owner + backups).
	ReplicaCount int
	// Concurrency is how many jobs this node runs at once.
	Concurrency int
	// DefaultTimeout bounds one attempt of a job that sets no timeout.
	DefaultTimeout time.Duration
	// DrainTimeout is how long a draining node lets running jobs finish
	// before it hands them back as queued. Keep it below the platform's
	// grace period (Kubernetes: 30 s by default).
	DrainTimeout time.Duration
	// LeaveTimeout bounds the hand-off and the turn-taking after the drain.
	LeaveTimeout time.Duration

	// LeaseTTL is how long a shard lease lasts without renewal. A crashed
	// owner's shards are taken over at most this long after its last renewal.
	LeaseTTL time.Duration
	// HeartbeatInterval is how often a node announces itself over NATS.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long without a heartbeat until a node is
	// treated as gone for placement.
	HeartbeatTimeout time.Duration
	// Settle coalesces membership changes: placement is recomputed once the
	// view has been quiet this long (or MaxSettle after the first change).
	Settle time.Duration
	// MaxSettle caps the coalescing delay.
	MaxSettle time.Duration

	// FlushInterval is the group-commit period of a shard's log when a
	// caller waits for the records (a submit or a cancel is acknowledged
	// once they are written).
	FlushInterval time.Duration
	// FlushLazyInterval is the group-commit period when nobody waits: the
	// start and end of attempts, requeues, pruning. Longer windows put
	// more records in each segment (one Olric write each), which is where
	// a busy node's time goes; the price is at-least-once over that
	// window: a crash within it can lose a finish record, and the job then
	// runs again. At least FlushInterval.
	FlushLazyInterval time.Duration
	// FlushMaxRecords flushes a shard's log early when this many records wait.
	FlushMaxRecords int
	// SnapshotRecords compacts a shard (snapshot + drop segments) after this
	// many logged records.
	SnapshotRecords int
	// LogRecheck is when a node that took over a shard without its
	// previous holder's hand-off (a crash, a lost lease) reads the old log
	// again: Olric's reads can miss keys while it moves partitions after a
	// member died, so the log is listed again LogRecheck and 5 x LogRecheck
	// after the load, and the jobs only those reads find are merged in.
	// The old segments are deleted after the second read.
	LogRecheck time.Duration

	// Limits bound what clients may submit.
	Limits jobs.Limits
	// Shard configures retry and retention of each shard.
	Shard jobs.ShardConfig
	// Registry holds the handlers this node can run. Required.
	Registry *jobs.Registry

	// Logger receives the node's structured logs.
	Logger zerolog.Logger
	// Metrics registers the node's Prometheus metrics; nil means a private
	// registry (served on /metrics all the same).
	Metrics *prometheus.Registry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns a one-node configuration on 127.0.0.1 with the
// default ports.
func DefaultConfig() Config {
	return Config{
		Name:              "",
		AdvertiseAddr:     "127.0.0.1",
		OlricPort:         3320,
		MemberlistPort:    3322,
		NATSPort:          4222,
		NATSClusterPort:   6222,
		HTTPPort:          8080,
		DiscoveryInterval: 5 * time.Second,
		FormationTimeout:  15 * time.Second,
		Shards:            256,
		ReplicaCount:      2,
		Concurrency:       64,
		DefaultTimeout:    30 * time.Minute,
		DrainTimeout:      20 * time.Second,
		LeaveTimeout:      15 * time.Second,
		LeaseTTL:          2 * time.Second,
		HeartbeatInterval: 250 * time.Millisecond,
		HeartbeatTimeout:  1250 * time.Millisecond,
		Settle:            300 * time.Millisecond,
		MaxSettle:         3 * time.Second,
		FlushInterval:     2 * time.Millisecond,
		FlushLazyInterval: 20 * time.Millisecond,
		FlushMaxRecords:   512,
		SnapshotRecords:   20000,
		LogRecheck:        3 * time.Second,
		Limits:            jobs.DefaultLimits(),
		Shard:             jobs.DefaultShardConfig(),
		Logger:            zerolog.Nop(),
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// Validate checks the configuration and fills derived defaults (Name,
// BindAddr, Now).
func (c *Config) Validate() error {
	if net.ParseIP(c.AdvertiseAddr) == nil {
		return invalid("advertise address %q is not an IP address: pass --advertise-addr (or POD_IP) with this node's IP", c.AdvertiseAddr)
	}
	if c.BindAddr == "" {
		c.BindAddr = c.AdvertiseAddr
	}
	if c.Name == "" {
		c.Name = c.AdvertiseAddr
	}
	for name, p := range map[string]int{"olric": c.OlricPort, "memberlist": c.MemberlistPort, "nats": c.NATSPort, "nats cluster": c.NATSClusterPort, "http": c.HTTPPort} {
		if p <= 0 || p > 65535 {
			return invalid("%s port %d is out of range 1-65535", name, p)
		}
	}
	if c.Shards < 1 || c.Shards > 65536 {
		return invalid("shards %d: choose between 1 and 65536 (default 256), the same on every node", c.Shards)
	}
	if c.ReplicaCount < 1 {
		return invalid("replica count %d: must be at least 1 (default 2)", c.ReplicaCount)
	}
	if c.Concurrency < 1 {
		return invalid("concurrency %d: must be at least 1", c.Concurrency)
	}
	if c.Registry == nil {
		return invalid("no handler registry: create one with jobs.NewRegistry and register handlers")
	}
	if c.LeaseTTL < 100*time.Millisecond {
		return invalid("lease TTL %s is too short (at least 100ms)", c.LeaseTTL)
	}
	if c.HeartbeatInterval <= 0 || c.HeartbeatTimeout < 2*c.HeartbeatInterval {
		return invalid("heartbeat timeout %s must be at least twice the interval %s", c.HeartbeatTimeout, c.HeartbeatInterval)
	}
	if c.FlushInterval <= 0 || c.FlushMaxRecords < 1 || c.SnapshotRecords < 1 {
		return invalid("flush interval, flush max records and snapshot records must be positive")
	}
	if c.FlushLazyInterval < c.FlushInterval {
		return invalid("lazy flush interval %s must be at least the flush interval %s (default 20ms)", c.FlushLazyInterval, c.FlushInterval)
	}
	if c.LogRecheck <= 0 {
		return invalid("log recheck %s must be positive (default 3s)", c.LogRecheck)
	}
	if c.DrainTimeout < 0 || c.LeaveTimeout <= 0 {
		return invalid("drain timeout must be >= 0 and leave timeout > 0")
	}
	if c.DiscoveryInterval <= 0 || c.FormationTimeout <= 0 || c.Settle <= 0 || c.MaxSettle < c.Settle {
		return invalid("discovery interval, formation timeout and settle must be positive, max settle >= settle")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}
