package olricstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/rs/zerolog"
)

// Config is the configuration of one embedded Olric node.
type Config struct {
	// Name is the shoal node name. Used in logs only: Olric names its
	// members by their RESP address (BindAddr or AdvertiseAddr, and Port).
	Name string

	// BindAddr is the IP address Olric (RESP) and memberlist (gossip) listen
	// on. Default 127.0.0.1; in a pod, the pod IP.
	BindAddr string

	// Port is Olric's RESP port, used between members for every DMap
	// operation. Default 3320.
	Port int

	// MemberlistPort is memberlist's gossip port (TCP and UDP), the port
	// Peers name. Default 3322.
	MemberlistPort int

	// AdvertiseAddr is the IP other members reach this node at, if it is not
	// BindAddr (NAT, or BindAddr 0.0.0.0). Must be an IP, not a name.
	// Default: BindAddr.
	AdvertiseAddr string

	// Peers are memberlist "host:port" addresses to join at start; this
	// node's own address may be among them (it is skipped). Empty: this node
	// forms a new cluster alone.
	Peers []string

	// JoinTimeout bounds the time spent trying to join Peers before Start
	// gives up (see FormAloneIfJoinFails). Default 5 s.
	JoinTimeout time.Duration

	// JoinRetryInterval is the pause between two join attempts. Default 250 ms.
	JoinRetryInterval time.Duration

	// BootstrapTimeout bounds the wait, after joining, for the cluster's
	// coordinator to send this node its first routing table. The
	// coordinator rebuilds the table with a request per partition and owner,
	// which takes seconds on a busy cluster. Default 12 s.
	BootstrapTimeout time.Duration

	// RequestBootstrapWait is how long a request that reaches this node
	// before its first routing table waits for it (Olric's own
	// BootstrapTimeout) before it is refused. Keep it short: the sender of
	// a replicated write holds the partition's lock meanwhile, and the
	// coordinator's routing-table build takes the same lock, so a long wait
	// here delays the very table that would bootstrap this node. Measured
	// (a worker restarted at a crashed worker's address, under load): with
	// 12 s, 1, 1, 0 and 5 fresh starts before Olric took it in; with 1 ms,
	// 8 of 9 runs joined on the first start (scripts/measure/
	// restart-same-address.sh). Start waits for the bootstrap
	// itself, up to BootstrapTimeout. Default 1 ms.
	RequestBootstrapWait time.Duration

	// FormAloneIfJoinFails: when Peers are given and none could be joined
	// within JoinTimeout, true forms a new cluster alone (Olric's own
	// behaviour, which makes a split that never heals by itself); false,
	// the default, makes Start fail with ErrJoinFailed so that the caller
	// decides.
	FormAloneIfJoinFails bool

	// ReplicaCount is how many members hold each key (the primary and
	// ReplicaCount-1 backups), written synchronously. Default 2: one member
	// can crash without losing an acknowledged write.
	ReplicaCount int

	// PartitionCount is Olric's number of partitions. Each (partition, DMap)
	// holds its own storage tables and lock, so fewer partitions use less
	// memory; more spread load finer over many members. Default 23 (see
	// the measurements in the package doc); Olric's own default is 271.
	// Every member of a cluster must use the same value.
	PartitionCount uint64

	// TableSize is the size in bytes of one storage table of Olric's
	// kvstore engine ("tableSize"): each (partition, DMap) fragment
	// allocates one when it gets its first key, and a new one each time it
	// fills up. No single entry may exceed it, so values larger than
	// TableSize/4 are split into chunks by the LogStore. Default 256 KiB;
	// Olric's own default is 1 MiB.
	TableSize uint64

	// CompactionInterval is how often Olric compacts its storage tables,
	// reclaiming the space of deleted keys (compacted segments).
	// Default 1 min; Olric's own default is 10 min.
	CompactionInterval time.Duration

	// Secret, if set, is the cluster's shared secret: a 32-byte memberlist
	// SecretKey (AES-256 gossip encryption) and Olric's authentication
	// password are derived from it (neither is the secret itself). Members
	// with another secret cannot join. Empty: the node runs open.
	Secret string

	// Timing is memberlist's failure detection timing; see Timing.
	Timing Timing

	// RequestTimeout bounds one request between members (read and write
	// of Olric's internal client). Default 2 s.
	//
	// Connecting is bounded separately by DialTimeout: Olric's coordinator
	// rebuilds the routing table with one request per partition and owner,
	// one after the other, so a member whose address drops connections (a
	// vanished pod IP, a container whose IP was reused) freezes routing for
	// partitions x DialTimeout; a dial on a working network takes well
	// under a millisecond.
	RequestTimeout time.Duration

	// DialTimeout bounds connecting to another member. Default 500 ms.
	DialTimeout time.Duration

	// LeaveTimeout bounds the leave broadcast at Shutdown. Default 2 s.
	LeaveTimeout time.Duration

	// Logger receives Olric's and memberlist's own log lines: their DEBUG
	// and INFO lines at debug level, their WARN and ERROR lines at warn.
	Logger zerolog.Logger
}

// Timing is memberlist's failure detector. A member that stops answering is
// probed (ProbeInterval, ProbeTimeout, then indirectly through others),
// suspected, and declared dead after the suspicion timeout:
// SuspicionMult x max(1, log10(members)) x ProbeInterval. With the defaults
// and 3 members, a kill -9 is declared dead in about 0.6 to 1.1 s (see the
// measurements in the package doc), after which Olric's coordinator pushes a
// new routing table and writes succeed again.
type Timing struct {
	// ProbeInterval is the time between two probes of a random member.
	// Default 250 ms (memberlist LAN: 1 s).
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for its ack before
	// trying indirect probes. Default 150 ms (LAN: 500 ms). Keep it above
	// the round trip time under load, or busy members get suspected.
	ProbeTimeout time.Duration
	// SuspicionMult scales the suspicion timeout. Default 2 (LAN: 4).
	SuspicionMult int
	// GossipInterval is the time between gossip rounds, which spread
	// suspicions and deaths. Default 100 ms (LAN: 200 ms).
	GossipInterval time.Duration
	// PushPullInterval is the time between full state syncs. Default 15 s.
	PushPullInterval time.Duration
	// TCPTimeout bounds memberlist's TCP operations (join, push/pull,
	// fallback probes). Default 1 s.
	TCPTimeout time.Duration
}

// Defaults of Config.
const (
	DefaultPort           = 3320
	DefaultMemberlistPort = 3322
	DefaultPartitionCount = 271
	DefaultTableSize      = 256 << 10
)

// DefaultTiming returns the failure detection timing described on Timing.
func DefaultTiming() Timing {
	return Timing{
		ProbeInterval:    250 * time.Millisecond,
		ProbeTimeout:     150 * time.Millisecond,
		SuspicionMult:    2,
		GossipInterval:   100 * time.Millisecond,
		PushPullInterval: 15 * time.Second,
		TCPTimeout:       time.Second,
	}
}

// DefaultConfig returns a configuration for one node on 127.0.0.1 with the
// default ports, replica count 2, and tuned memory and timing.
func DefaultConfig() Config {
	return Config{
		BindAddr:             "127.0.0.1",
		Port:                 DefaultPort,
		MemberlistPort:       DefaultMemberlistPort,
		JoinTimeout:          5 * time.Second,
		JoinRetryInterval:    250 * time.Millisecond,
		BootstrapTimeout:     12 * time.Second,
		RequestBootstrapWait: time.Millisecond,
		ReplicaCount:         2,
		PartitionCount:       DefaultPartitionCount,
		TableSize:            DefaultTableSize,
		CompactionInterval:   time.Minute,
		Timing:               DefaultTiming(),
		RequestTimeout:       2 * time.Second,
		DialTimeout:          500 * time.Millisecond,
		LeaveTimeout:         2 * time.Second,
		Logger:               zerolog.Nop(),
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BindAddr == "" {
		c.BindAddr = d.BindAddr
	}
	if c.Port == 0 {
		c.Port = d.Port
	}
	if c.MemberlistPort == 0 {
		c.MemberlistPort = d.MemberlistPort
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = d.JoinTimeout
	}
	if c.JoinRetryInterval == 0 {
		c.JoinRetryInterval = d.JoinRetryInterval
	}
	if c.BootstrapTimeout == 0 {
		c.BootstrapTimeout = d.BootstrapTimeout
	}
	if c.RequestBootstrapWait == 0 {
		c.RequestBootstrapWait = d.RequestBootstrapWait
	}
	if c.ReplicaCount == 0 {
		c.ReplicaCount = d.ReplicaCount
	}
	if c.PartitionCount == 0 {
		c.PartitionCount = d.PartitionCount
	}
	if c.TableSize == 0 {
		c.TableSize = d.TableSize
	}
	if c.CompactionInterval == 0 {
		c.CompactionInterval = d.CompactionInterval
	}
	t, dt := &c.Timing, d.Timing
	if t.ProbeInterval == 0 {
		t.ProbeInterval = dt.ProbeInterval
	}
	if t.ProbeTimeout == 0 {
		t.ProbeTimeout = dt.ProbeTimeout
	}
	if t.SuspicionMult == 0 {
		t.SuspicionMult = dt.SuspicionMult
	}
	if t.GossipInterval == 0 {
		t.GossipInterval = dt.GossipInterval
	}
	if t.PushPullInterval == 0 {
		t.PushPullInterval = dt.PushPullInterval
	}
	if t.TCPTimeout == 0 {
		t.TCPTimeout = dt.TCPTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.LeaveTimeout == 0 {
		c.LeaveTimeout = d.LeaveTimeout
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if ip := net.ParseIP(c.BindAddr); ip == nil {
		errs = append(errs, fmt.Errorf("olricstore: BindAddr %q is not an IP address", c.BindAddr))
	} else if ip.IsUnspecified() && c.AdvertiseAddr == "" {
		errs = append(errs, fmt.Errorf("olricstore: BindAddr %s needs an AdvertiseAddr (the IP other members reach this node at)", c.BindAddr))
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		errs = append(errs, fmt.Errorf("olricstore: AdvertiseAddr %q must be an IP address, not a name", c.AdvertiseAddr))
	}
	for name, p := range map[string]int{"Port": c.Port, "MemberlistPort": c.MemberlistPort} {
		if p <= 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("olricstore: %s %d out of range 1-65535 (Olric cannot pick a free port itself)", name, p))
		}
	}
	if c.Port == c.MemberlistPort {
		errs = append(errs, fmt.Errorf("olricstore: Port and MemberlistPort are both %d", c.Port))
	}
	for _, p := range c.Peers {
		if _, port, err := net.SplitHostPort(p); err != nil {
			errs = append(errs, fmt.Errorf("olricstore: peer %q is not host:port: %w", p, err))
		} else if _, err := strconv.Atoi(port); err != nil {
			errs = append(errs, fmt.Errorf("olricstore: peer %q: bad port", p))
		}
	}
	if c.ReplicaCount < 1 {
		errs = append(errs, fmt.Errorf("olricstore: ReplicaCount must be at least 1, got %d", c.ReplicaCount))
	}
	if c.PartitionCount < 1 {
		errs = append(errs, fmt.Errorf("olricstore: PartitionCount must be at least 1"))
	}
	if c.TableSize < 16<<10 {
		errs = append(errs, fmt.Errorf("olricstore: TableSize %d is below 16 KiB", c.TableSize))
	}
	if c.JoinTimeout < 0 || c.JoinRetryInterval <= 0 {
		errs = append(errs, fmt.Errorf("olricstore: JoinTimeout must not be negative and JoinRetryInterval must be positive"))
	}
	t := c.Timing
	if t.ProbeInterval <= 0 || t.ProbeTimeout <= 0 || t.ProbeTimeout >= t.ProbeInterval || t.SuspicionMult < 1 || t.GossipInterval <= 0 || t.PushPullInterval <= 0 || t.TCPTimeout <= 0 {
		errs = append(errs, fmt.Errorf("olricstore: Timing %+v: every field must be positive, ProbeTimeout below ProbeInterval", t))
	}
	if c.RequestTimeout <= 0 || c.DialTimeout <= 0 || c.LeaveTimeout <= 0 || c.CompactionInterval <= 0 {
		errs = append(errs, fmt.Errorf("olricstore: RequestTimeout, DialTimeout, LeaveTimeout and CompactionInterval must be positive"))
	}
	return errors.Join(errs...)
}

// advertise is the IP other members reach this node at.
func (c Config) advertise() string {
	if c.AdvertiseAddr != "" {
		return c.AdvertiseAddr
	}
	return c.BindAddr
}

// memberlistKey derives memberlist's 32-byte SecretKey from the secret.
func memberlistKey(secret string) []byte {
	sum := sha256.Sum256([]byte("shoal/memberlist-key\x00" + secret))
	return sum[:]
}

// olricPassword derives Olric's authentication password from the secret.
func olricPassword(secret string) string {
	sum := sha256.Sum256([]byte("shoal/olric-password\x00" + secret))
	return hex.EncodeToString(sum[:])
}
