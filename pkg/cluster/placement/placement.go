package placement

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// ErrNoMembers is returned by Assign when there is nobody to own the shards.
var ErrNoMembers = errors.New("placement: no members to assign shards to")

// ErrInvalidConfig is wrapped by Config.Validate for every rejected field.
var ErrInvalidConfig = errors.New("placement: invalid config")

// ErrEmptyMember is returned by Assign for a member whose name is empty: the
// empty string means "unowned" in an assignment.
var ErrEmptyMember = errors.New("placement: empty member name")

// Limits checked by Validate.
const (
	// MaxShards bounds Config.Shards.
	MaxShards = 1 << 16
	// MaxReplicationFactor bounds Config.ReplicationFactor.
	MaxReplicationFactor = 4096
)

// Config is the input of Assign besides the members. Every node of a cluster
// must use the same Config, or they compute different owners.
type Config struct {
	// Shards is the fixed number of shards of the job space (default 256).
	// It never changes during a cluster's life.
	Shards int
	// Load is the bounded-load factor c: no member owns more than
	// ceil(Load * Shards / members) shards. It must be at least 1; the
	// default 1.25 keeps the shards that move on a membership change close to
	// the minimum while capping the busiest member at 25% above the mean.
	Load float64
	// ReplicationFactor is the number of virtual nodes (points on the hash
	// ring) per member (default 200). More points spread the ring more
	// evenly; past a few hundred the spread is dominated by the number of
	// shards, not by the ring (see the package doc).
	ReplicationFactor int
}

// DefaultConfig returns 256 shards, load factor 1.25 and 200 virtual nodes per
// member.
func DefaultConfig() Config {
	return Config{Shards: 256, Load: 1.25, ReplicationFactor: 200}
}

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	switch {
	case c.Shards < 1 || c.Shards > MaxShards:
		return fmt.Errorf("%w: Shards is %d, want 1..%d (256 is a good default)", ErrInvalidConfig, c.Shards, MaxShards)
	case math.IsNaN(c.Load) || math.IsInf(c.Load, 0) || c.Load < 1:
		return fmt.Errorf("%w: Load is %v, want a factor >= 1 (1.25 is a good default)", ErrInvalidConfig, c.Load)
	case c.ReplicationFactor < 1 || c.ReplicationFactor > MaxReplicationFactor:
		return fmt.Errorf("%w: ReplicationFactor is %d, want 1..%d (200 is a good default)", ErrInvalidConfig, c.ReplicationFactor, MaxReplicationFactor)
	}
	return nil
}

// Capacity is the most shards one member may own when there are n members:
// ceil(Load * Shards / n). It returns 0 for n < 1.
func (c Config) Capacity(n int) int {
	if n < 1 {
		return 0
	}
	return int(math.Ceil(c.Load * float64(c.Shards) / float64(n)))
}

// point is one virtual node of a member on the ring.
type point struct {
	hash   uint64
	member int // index into the sorted member names
	vnode  uint32
}

// ring is the sorted set of virtual nodes of a set of members.
type ring struct {
	members []string
	points  []point
}

// vnodeHash hashes the member name followed by the vnode index as 4 bytes.
// The suffix has a fixed width, so two different (name, index) pairs never
// produce the same input (a decimal suffix would make "n1"+"10" equal to
// "n11"+"0").
func vnodeHash(buf []byte, name string, vnode uint32) ([]byte, uint64) {
	buf = append(buf[:0], name...)
	buf = binary.BigEndian.AppendUint32(buf, vnode)
	return buf, xxhash.Sum64(buf)
}

// newRing sorts and deduplicates the members and places their virtual nodes.
func newRing(cfg Config, members []string) (*ring, error) {
	if len(members) == 0 {
		return nil, ErrNoMembers
	}
	names := slices.Clone(members)
	slices.Sort(names)
	names = slices.Compact(names)
	if names[0] == "" {
		return nil, ErrEmptyMember
	}
	r := &ring{members: names, points: make([]point, 0, len(names)*cfg.ReplicationFactor)}
	var buf []byte
	for i, name := range names {
		for v := 0; v < cfg.ReplicationFactor; v++ {
			var h uint64
			buf, h = vnodeHash(buf, name, uint32(v))
			r.points = append(r.points, point{hash: h, member: i, vnode: uint32(v)})
		}
	}
	// Ties of the 64-bit hash are broken by name and vnode, so the order (and
	// with it the assignment) never depends on the order of the input.
	slices.SortFunc(r.points, func(a, b point) int {
		if a.hash != b.hash {
			if a.hash < b.hash {
				return -1
			}
			return 1
		}
		if c := strings.Compare(names[a.member], names[b.member]); c != 0 {
			return c
		}
		return int(a.vnode) - int(b.vnode)
	})
	return r, nil
}

// shardKey is the shard's position on the ring. Shards are spread evenly
// around the ring (shard i at i/Shards of the circle) rather than hashed:
// the members' shares then follow their arcs more closely.
func shardKey(shards, shard int) uint64 {
	return uint64(shard) * (math.MaxUint64 / uint64(shards))
}

// successor is the index of the first point at or after key, wrapping.
func (r *ring) successor(key uint64) int {
	i, _ := slices.BinarySearchFunc(r.points, key, func(p point, k uint64) int {
		switch {
		case p.hash < k:
			return -1
		case p.hash > k:
			return 1
		}
		return 0
	})
	if i == len(r.points) {
		i = 0
	}
	return i
}

// Assign returns the owner of every shard: a slice of length cfg.Shards whose
// element i is the name of the member that owns shard i.
//
// It is consistent hashing with bounded loads (Mirrokni, Thorup and
// Zadimoghaddam, 2017): each member has cfg.ReplicationFactor points on a
// 64-bit ring; shards are visited in order, each goes to the first member
// clockwise from the shard's position that still owns fewer than
// cfg.Capacity(len(members)) shards. The result depends only on cfg and on
// the set of names: the order of members and repeated names do not matter.
// It returns ErrNoMembers for no members, ErrEmptyMember for an empty name and
// a wrapped ErrInvalidConfig for a bad cfg.
func Assign(cfg Config, members []string) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := newRing(cfg, members)
	if err != nil {
		return nil, err
	}
	limit := cfg.Capacity(len(r.members))
	loads := make([]int, len(r.members))
	owners := make([]string, cfg.Shards)
	for s := range owners {
		i := r.successor(shardKey(cfg.Shards, s))
		// limit*members >= Load*Shards >= Shards, so a member with room
		// always exists and the walk ends within one turn of the ring.
		for loads[r.points[i].member] >= limit {
			i++
			if i == len(r.points) {
				i = 0
			}
		}
		m := r.points[i].member
		loads[m]++
		owners[s] = r.members[m]
	}
	return owners, nil
}

// Move is one shard changing owner between two assignments.
type Move struct {
	// Shard is the shard's index.
	Shard int
	// From is the owner before ("" when the shard was unowned).
	From string
	// To is the owner after ("" when the shard is unowned after).
	To string
}

// String formats the move as "shard 7: n1 -> n3".
func (m Move) String() string {
	from, to := m.From, m.To
	if from == "" {
		from = "(none)"
	}
	if to == "" {
		to = "(none)"
	}
	return fmt.Sprintf("shard %d: %s -> %s", m.Shard, from, to)
}

// Diff lists the shards whose owner differs between two assignments, in
// shard order. A nil or shorter before (a node's first plan) counts its
// missing shards as unowned; likewise for after.
func Diff(before, after []string) []Move {
	var moves []Move
	for s := range max(len(before), len(after)) {
		var from, to string
		if s < len(before) {
			from = before[s]
		}
		if s < len(after) {
			to = after[s]
		}
		if from != to {
			moves = append(moves, Move{Shard: s, From: from, To: to})
		}
	}
	return moves
}

// Summarize returns, in shard order, the shards self gains and loses in moves.
func Summarize(moves []Move, self string) (gained, lost []int) {
	for _, m := range moves {
		if m.From == m.To {
			continue
		}
		if m.To == self {
			gained = append(gained, m.Shard)
		}
		if m.From == self {
			lost = append(lost, m.Shard)
		}
	}
	return gained, lost
}

// Loads counts the shards each member owns in an assignment (unowned shards
// are not counted).
func Loads(owners []string) map[string]int {
	loads := make(map[string]int)
	for _, o := range owners {
		if o != "" {
			loads[o]++
		}
	}
	return loads
}
