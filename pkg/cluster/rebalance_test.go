package cluster

import (
	"slices"
	"sort"
	"testing"
	"time"
)

func TestRebalanceFold(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	pend := func(ss ...int) map[int]bool {
		m := map[int]bool{}
		for _, s := range ss {
			m[s] = true
		}
		return m
	}
	keys := func(m map[int]bool) []int {
		var out []int
		for s := range m {
			out = append(out, s)
		}
		sort.Ints(out)
		return out
	}
	for _, tc := range []struct {
		name                  string
		prev, next            *rebalanceLog
		gained, lost, pending []int
		before                []string
	}{
		{
			name:   "no unfinished rebalance: the next one as it is",
			next:   &rebalanceLog{start: t0, before: []string{"a"}, after: []string{"a", "b"}, gained: []int{1}, lost: []int{2}, pending: pend(1)},
			gained: []int{1}, lost: []int{2}, pending: []int{1}, before: []string{"a"},
		},
		{
			name:   "a joiner's first plan superseded by a second joiner: its gains are still reported",
			prev:   &rebalanceLog{start: t0, before: nil, after: []string{"n1", "n5"}, gained: []int{3, 7, 9}, pending: pend(3, 7)},
			next:   &rebalanceLog{start: t0.Add(time.Second), before: []string{"n1", "n5"}, after: []string{"n1", "n5", "n6"}, lost: []int{9}, pending: pend()},
			gained: []int{3, 7}, lost: nil, pending: []int{3, 7}, before: nil,
		},
		{
			name:   "lost then gained back: neither",
			prev:   &rebalanceLog{start: t0, before: []string{"a", "b"}, after: []string{"a"}, gained: []int{4}, lost: []int{5}, pending: pend(4)},
			next:   &rebalanceLog{start: t0.Add(time.Second), before: []string{"a"}, after: []string{"a", "b"}, gained: []int{5, 6}, lost: []int{4}, pending: pend(5, 6)},
			gained: []int{6}, lost: nil, pending: []int{5, 6}, before: []string{"a", "b"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.prev.fold(tc.next)
			if !slices.Equal(got.gained, tc.gained) || !slices.Equal(got.lost, tc.lost) {
				t.Errorf("gained %v lost %v, want %v %v", got.gained, got.lost, tc.gained, tc.lost)
			}
			if p := keys(got.pending); !slices.Equal(p, tc.pending) {
				t.Errorf("pending %v, want %v", p, tc.pending)
			}
			if !slices.Equal(got.before, tc.before) {
				t.Errorf("members before %v, want %v", got.before, tc.before)
			}
			if tc.prev != nil && !got.start.Equal(tc.prev.start) {
				t.Errorf("start %v, want the unfinished one's %v", got.start, tc.prev.start)
			}
		})
	}
}

func TestPlanRunners(t *testing.T) {
	set := func(ss ...int) map[int]bool {
		m := map[int]bool{}
		for _, s := range ss {
			m[s] = true
		}
		return m
	}
	for _, tc := range []struct {
		name           string
		want           map[int]bool
		have           map[int]bool // shards with a runner not released yet
		start, release []int
	}{
		{name: "first plan starts every wanted shard", want: set(1, 2, 3), have: set(),
			start: []int{1, 2, 3}},
		{name: "unchanged plan touches nothing", want: set(1, 2), have: set(1, 2)},
		{name: "n2 joins -> shards 2 and 7 are released here", want: set(1, 4),
			have: set(1, 2, 4, 7), release: []int{2, 7}},
		{name: "n2 leaves -> its shards 2 and 7 start here", want: set(1, 2, 4, 7),
			have: set(1, 4), start: []int{2, 7}},
		{name: "a shard given back while its old runner still hands off (retiring, not in have) gets a new runner",
			want: set(1, 137), have: set(1), start: []int{137}},
		{name: "nobody wanted here: everything held is released", want: set(),
			have: set(3, 5), release: []int{3, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, release := planRunners(tc.want, tc.have)
			if !slices.Equal(start, tc.start) || !slices.Equal(release, tc.release) {
				t.Fatalf("start %v release %v, want start %v release %v", start, release, tc.start, tc.release)
			}
		})
	}
}
