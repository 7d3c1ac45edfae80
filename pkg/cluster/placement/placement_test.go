package placement

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// natural returns, for each shard, the owner without the load bound (the
// first member clockwise). Tests use it to tell a move caused by the bound
// from one caused by the ring.
func natural(cfg Config, members []string) ([]string, error) {
	r, err := newRing(cfg, members)
	if err != nil {
		return nil, err
	}
	owners := make([]string, cfg.Shards)
	for s := range owners {
		owners[s] = r.members[r.points[r.successor(shardKey(cfg.Shards, s))].member]
	}
	return owners, nil
}

// nameSet generates the i-th member name (i from 0) of a family of names.
type nameSet struct {
	name string
	gen  func(i int) string
}

func fixedNameSets() []nameSet {
	return []nameSet{
		{"ip", func(i int) string { return fmt.Sprintf("10.0.0.%d", i+1) }},
		{"ip:port", func(i int) string { return fmt.Sprintf("127.0.0.%d:3320", i+1) }},
		{"n", func(i int) string { return fmt.Sprintf("n%d", i+1) }},
		{"pod", func(i int) string {
			return fmt.Sprintf("shoal-worker-7c9f-%05x", xxhash.Sum64String(fmt.Sprint("pod", i))&0xfffff)
		}},
	}
}

// randomNameSets are pod names as a Deployment makes them: one ReplicaSet hash
// per set, a random 5-character suffix per pod.
func randomNameSets(k int) []nameSet {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	sets := make([]nameSet, k)
	for j := range sets {
		rs := fmt.Sprintf("%x", xxhash.Sum64String(fmt.Sprint("rs", j))&0xfffff)
		sets[j] = nameSet{fmt.Sprintf("rand%d", j), func(i int) string {
			h := xxhash.Sum64String(fmt.Sprint(j, "/", i))
			var b strings.Builder
			for range 5 {
				b.WriteByte(alphabet[h%uint64(len(alphabet))])
				h /= uint64(len(alphabet))
			}
			return "shoal-worker-" + rs + "-" + b.String()
		}}
	}
	return sets
}

func names(ns nameSet, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = ns.gen(i)
	}
	return out
}

func mustAssign(t testing.TB, cfg Config, members []string) []string {
	t.Helper()
	owners, err := Assign(cfg, members)
	if err != nil {
		t.Fatalf("Assign(%v): %v", members, err)
	}
	return owners
}

// change is the outcome of one membership change, checked against the rules.
type change struct {
	moved     int // shards whose owner changed
	expected  int // moves the change itself explains (to the joiner, from the leaver)
	forced    int // other moves, each explained by the load bound
	maxLoad   int
	bound     int
	unexplain []Move // moves neither expected nor forced: must stay empty
}

// classify checks every move between the assignments of before and after
// (member sets differing by one joiner or one leaver).
func classify(t testing.TB, cfg Config, beforeM, afterM []string, joiner, leaver string) change {
	t.Helper()
	b, a := mustAssign(t, cfg, beforeM), mustAssign(t, cfg, afterM)
	nb, _ := natural(cfg, beforeM)
	na, _ := natural(cfg, afterM)
	c := change{bound: cfg.Capacity(len(afterM))}
	for _, l := range Loads(a) {
		c.maxLoad = max(c.maxLoad, l)
	}
	for _, m := range Diff(b, a) {
		c.moved++
		switch {
		case joiner != "" && m.To == joiner, leaver != "" && m.From == leaver:
			c.expected++
		case b[m.Shard] != nb[m.Shard] || a[m.Shard] != na[m.Shard]:
			// The bound displaced the shard from its ring owner on one
			// side: the move is the bound's doing.
			c.forced++
		default:
			c.unexplain = append(c.unexplain, m)
		}
	}
	return c
}

// sigma is the standard deviation of a binomial count of Shards draws with
// probability 1/n: the spread any hash placement has (see the package doc).
func sigma(shards, n int) float64 {
	p := 1 / float64(n)
	return math.Sqrt(float64(shards) * p * (1 - p))
}

func TestJoinMovesOnlyToJoiner(t *testing.T) {
	cfg := DefaultConfig()
	sets := append(fixedNameSets(), randomNameSets(60)...)
	sumMoved := make([]float64, 11)
	sumForced := make([]int, 11)
	for _, ns := range sets {
		for n := 1; n <= 10; n++ {
			before := names(ns, n+1)
			joiner := before[n]
			before = before[:n]
			c := classify(t, cfg, before, append(slices.Clone(before), joiner), joiner, "")
			ideal := float64(cfg.Shards) / float64(n+1)
			if len(c.unexplain) > 0 {
				t.Errorf("%s: %d -> %d members: moves neither to the joiner nor forced by the bound: %v", ns.name, n, n+1, c.unexplain)
			}
			if c.maxLoad > c.bound {
				t.Errorf("%s: %d members: max load %d > bound %d", ns.name, n+1, c.maxLoad, c.bound)
			}
			// Each case: within 4 binomial standard deviations of the ideal.
			if d := math.Abs(float64(c.moved) - ideal); d > 4*sigma(cfg.Shards, n+1)+1 {
				t.Errorf("%s: %d -> %d members: moved %d, ideal %.1f: off by more than 4 sigma", ns.name, n, n+1, c.moved, ideal)
			}
			sumMoved[n] += float64(c.moved)
			sumForced[n] += c.forced
		}
	}
	// On average over many name sets: within 10% of the ideal, and at most
	// one forced move per join.
	for n := 1; n <= 10; n++ {
		ideal := float64(cfg.Shards) / float64(n+1)
		mean := sumMoved[n] / float64(len(sets))
		if math.Abs(mean-ideal) > 0.10*ideal {
			t.Errorf("join of member %d: mean moved %.1f, ideal %.1f: more than 10%% off", n+1, mean, ideal)
		}
		if f := float64(sumForced[n]) / float64(len(sets)); f > 1 {
			t.Errorf("join of member %d: %.2f forced moves per join on average, want <= 1", n+1, f)
		}
	}
}

func TestLeaveMovesOnlyFromLeaver(t *testing.T) {
	cfg := DefaultConfig()
	sets := append(fixedNameSets(), randomNameSets(12)...)
	for _, ns := range sets {
		for n := 2; n <= 11; n++ {
			before := names(ns, n)
			for _, li := range []int{0, n / 2, n - 1} {
				leaver := before[li]
				after := slices.Delete(slices.Clone(before), li, li+1)
				c := classify(t, cfg, before, after, "", leaver)
				if len(c.unexplain) > 0 {
					t.Errorf("%s: %s leaves %d members: moves neither from the leaver nor forced: %v", ns.name, leaver, n, c.unexplain)
				}
				if c.maxLoad > c.bound {
					t.Errorf("%s: %d members: max load %d > bound %d", ns.name, n-1, c.maxLoad, c.bound)
				}
				if c.expected != Loads(mustAssign(t, cfg, before))[leaver] {
					t.Errorf("%s: %s left, but not all its shards moved", ns.name, leaver)
				}
			}
		}
	}
}

// TestScenarios pins small, readable cases. The exact shard numbers are a
// golden record of the hash: every node of a cluster must compute the same
// owners, so a change here breaks rolling upgrades and must be deliberate.
func TestScenarios(t *testing.T) {
	cfg := Config{Shards: 12, Load: 1.25, ReplicationFactor: 200}
	tests := []struct {
		name          string
		before, after []string
		want          []Move
	}{
		{
			name:   "first member takes everything",
			before: nil, after: []string{"n1"},
			want: movesAll(12, "", "n1"),
		},
		{
			name:   "n2 joins n1: shards move only to n2",
			before: []string{"n1"}, after: []string{"n1", "n2"},
			want: []Move{{2, "n1", "n2"}, {3, "n1", "n2"}, {7, "n1", "n2"}, {8, "n1", "n2"}, {9, "n1", "n2"}, {11, "n1", "n2"}},
		},
		{
			name:   "n4 joins n1..n3",
			before: []string{"n1", "n2", "n3"}, after: []string{"n1", "n2", "n3", "n4"},
			want: []Move{{2, "n2", "n4"}, {6, "n3", "n4"}, {8, "n3", "n4"}, {9, "n2", "n4"}},
		},
		{
			name:   "n3 leaves n1..n4: only n3's shards move, to n1 and n2",
			before: []string{"n1", "n2", "n3", "n4"}, after: []string{"n1", "n2", "n4"},
			want: []Move{{1, "n3", "n1"}, {5, "n3", "n1"}, {7, "n3", "n2"}},
		},
		{
			name:   "same members, any order: nothing moves",
			before: []string{"n3", "n1", "n2"}, after: []string{"n2", "n3", "n1", "n1"},
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b []string
			if len(tc.before) > 0 {
				b = mustAssign(t, cfg, tc.before)
			}
			got := Diff(b, mustAssign(t, cfg, tc.after))
			if !slices.Equal(got, tc.want) {
				t.Errorf("moves:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func movesAll(n int, from, to string) []Move {
	m := make([]Move, n)
	for i := range m {
		m[i] = Move{Shard: i, From: from, To: to}
	}
	return m
}

func TestBoundHoldsForAnySize(t *testing.T) {
	for _, cfg := range []Config{DefaultConfig(), {Shards: 7, Load: 1, ReplicationFactor: 3}, {Shards: 271, Load: 1.1, ReplicationFactor: 50}} {
		for _, n := range []int{1, 2, 3, 5, 8, 13, 50, 100, 255, 256, 257, 300} {
			members := names(fixedNameSets()[0], n)
			owners := mustAssign(t, cfg, members)
			if len(owners) != cfg.Shards {
				t.Fatalf("len %d, want %d", len(owners), cfg.Shards)
			}
			for _, o := range owners {
				if o == "" {
					t.Fatalf("%+v n=%d: unowned shard", cfg, n)
				}
			}
			limit := int(math.Ceil(cfg.Load * float64(cfg.Shards) / float64(n)))
			for m, l := range Loads(owners) {
				if l > limit {
					t.Errorf("%+v n=%d: %s owns %d > %d", cfg, n, m, l, limit)
				}
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	// 10.0.0.1 and 10.0.0.11 are the pair whose virtual-node keys collide
	// when the index is appended in decimal ("10.0.0.1"+"10" ==
	// "10.0.0.11"+"0"), which made the result depend on member order.
	members := names(fixedNameSets()[0], 12)
	want := mustAssign(t, cfg, members)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		p := slices.Clone(members)
		rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		p = append(p, p[:3]...) // duplicates do not count
		if got := mustAssign(t, cfg, p); !slices.Equal(got, want) {
			t.Fatalf("order or duplicates changed the assignment: %v", Diff(want, got))
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := Assign(DefaultConfig(), nil); !errors.Is(err, ErrNoMembers) {
		t.Errorf("no members: %v, want ErrNoMembers", err)
	}
	if _, err := Assign(DefaultConfig(), []string{"a", ""}); !errors.Is(err, ErrEmptyMember) {
		t.Errorf("empty name: %v, want ErrEmptyMember", err)
	}
	for _, cfg := range []Config{
		{Shards: 0, Load: 1.25, ReplicationFactor: 1},
		{Shards: MaxShards + 1, Load: 1.25, ReplicationFactor: 1},
		{Shards: 256, Load: 0.9, ReplicationFactor: 1},
		{Shards: 256, Load: math.NaN(), ReplicationFactor: 1},
		{Shards: 256, Load: 1.25, ReplicationFactor: 0},
		{},
	} {
		if _, err := Assign(cfg, []string{"a"}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", cfg, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}

func TestDiffAndSummarize(t *testing.T) {
	before := []string{"a", "a", "b", "c"}
	after := []string{"a", "b", "b", "a", "d"}
	moves := Diff(before, after)
	want := []Move{{1, "a", "b"}, {3, "c", "a"}, {4, "", "d"}}
	if !slices.Equal(moves, want) {
		t.Fatalf("Diff = %v, want %v", moves, want)
	}
	tests := []struct {
		self         string
		gained, lost []int
	}{
		{"a", []int{3}, []int{1}},
		{"b", []int{1}, nil},
		{"c", nil, []int{3}},
		{"d", []int{4}, nil},
		{"z", nil, nil},
	}
	for _, tc := range tests {
		g, l := Summarize(moves, tc.self)
		if !slices.Equal(g, tc.gained) || !slices.Equal(l, tc.lost) {
			t.Errorf("Summarize(%s) = %v, %v; want %v, %v", tc.self, g, l, tc.gained, tc.lost)
		}
	}
	if got := Diff(after, after); got != nil {
		t.Errorf("Diff of equal = %v", got)
	}
	if s := (Move{Shard: 4, To: "d"}).String(); s != "shard 4: (none) -> d" {
		t.Errorf("String = %q", s)
	}
}

// TestFigures prints the table of the package doc (go test -run Figures -v).
func TestFigures(t *testing.T) {
	cfg := DefaultConfig()
	sets := randomNameSets(20)
	if testing.Verbose() {
		sets = randomNameSets(200)
	}
	t.Logf("%3s %6s %6s %6s %6s %6s %8s %6s", "N+1", "ideal", "mean", "min", "max", "sigma", "in10%", "forced")
	for n := 1; n <= 10; n++ {
		ideal := float64(cfg.Shards) / float64(n+1)
		var sum float64
		lo, hi, in10, forced := math.MaxInt, 0, 0, 0
		for _, ns := range sets {
			m := names(ns, n+1)
			c := classify(t, cfg, m[:n], m, m[n], "")
			sum += float64(c.moved)
			lo, hi = min(lo, c.moved), max(hi, c.moved)
			if math.Abs(float64(c.moved)-ideal) <= 0.1*ideal {
				in10++
			}
			forced += c.forced
		}
		t.Logf("%3d %6.1f %6.1f %6d %6d %6.1f %7.0f%% %6.2f", n+1, ideal, sum/float64(len(sets)), lo, hi,
			sigma(cfg.Shards, n+1), 100*float64(in10)/float64(len(sets)), float64(forced)/float64(len(sets)))
	}
	for _, ns := range fixedNameSets() {
		var line strings.Builder
		for n := 1; n <= 10; n++ {
			m := names(ns, n+1)
			c := classify(t, cfg, m[:n], m, m[n], "")
			fmt.Fprintf(&line, " %d/%.0f", c.moved, float64(cfg.Shards)/float64(n+1))
			if c.forced > 0 {
				fmt.Fprintf(&line, "(+%d)", c.forced)
			}
		}
		t.Logf("%-8s%s", ns.name, line.String())
	}
}

func BenchmarkAssign(b *testing.B) {
	cfg := DefaultConfig()
	for _, n := range []int{3, 10, 100} {
		members := names(fixedNameSets()[3], n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Assign(cfg, members); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
