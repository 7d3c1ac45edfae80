package cluster

import (
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func peer(name, cluster string, state NodeState, size int, age time.Duration) peerEntry {
	return peerEntry{hb: heartbeat{Name: name, ID: name + "#1", ClusterID: cluster, ClusterSize: size, State: state,
		MemberlistAddr: name + ":3322"}, seen: t0.Add(-age)}
}

func peersOf(ps ...peerEntry) map[string]peerEntry {
	m := map[string]peerEntry{}
	for _, p := range ps {
		m[p.hb.Name] = p
	}
	return m
}

func TestActiveMembers(t *testing.T) {
	const timeout = time.Second
	self := heartbeat{Name: "n2", ID: "n2#1", ClusterID: "c1", State: StateActive}
	cases := []struct {
		name  string
		self  heartbeat
		peers map[string]peerEntry
		want  []string
	}{
		{"alone", self, nil, []string{"n2"}},
		{"three fresh peers of our cluster", self, peersOf(peer("n1", "c1", StateActive, 3, 0), peer("n3", "c1", StateActive, 3, 100*time.Millisecond)), []string{"n1", "n2", "n3"}},
		{"n3 silent past the timeout leaves", self, peersOf(peer("n1", "c1", StateActive, 3, 0), peer("n3", "c1", StateActive, 3, 2*time.Second)), []string{"n1", "n2"}},
		{"a draining peer takes no shards", self, peersOf(peer("n1", "c1", StateDraining, 3, 0), peer("n3", "c1", StateActive, 3, 0)), []string{"n2", "n3"}},
		{"a joining peer takes no shards yet", self, peersOf(peer("n1", "c1", StateJoining, 3, 0)), []string{"n2"}},
		{"a peer of another cluster is not ours", self, peersOf(peer("n1", "c2", StateActive, 2, 0)), []string{"n2"}},
		{"a draining self is left out", heartbeat{Name: "n2", ClusterID: "c1", State: StateDraining}, peersOf(peer("n1", "c1", StateActive, 2, 0)), []string{"n1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := activeMembers(c.self, c.peers, t0, timeout)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestLiveRunners(t *testing.T) {
	self := heartbeat{Name: "n1", ID: "n1#a", ClusterID: "c1"}
	got := liveRunners(self, peersOf(peer("n2", "c1", StateActive, 3, 0), peer("n3", "c1", StateActive, 3, 5*time.Second)), t0, time.Second)
	want := map[string]bool{"n1#a": true, "n2#1": true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v (n3 is silent: its jobs go back to the queue)", got, want)
	}
}

func TestBiggerCluster(t *testing.T) {
	const timeout = time.Second
	cases := []struct {
		name   string
		self   heartbeat
		peers  map[string]peerEntry
		moveTo string // "" for stay
	}{
		{"no other cluster: stay", heartbeat{ClusterID: "b", ClusterSize: 2}, peersOf(peer("n1", "b", StateActive, 2, 0)), ""},
		{"the other side is bigger: move", heartbeat{ClusterID: "b", ClusterSize: 2}, peersOf(peer("n1", "a", StateActive, 3, 0), peer("n2", "a", StateActive, 3, 0)), "a"},
		{"we are bigger: stay", heartbeat{ClusterID: "a", ClusterSize: 3}, peersOf(peer("n4", "b", StateActive, 2, 0)), ""},
		{"same size, lower ID wins: move", heartbeat{ClusterID: "b", ClusterSize: 2}, peersOf(peer("n1", "a", StateActive, 2, 0)), "a"},
		{"same size, we have the lower ID: stay", heartbeat{ClusterID: "a", ClusterSize: 2}, peersOf(peer("n4", "b", StateActive, 2, 0)), ""},
		{"silent peers do not count", heartbeat{ClusterID: "b", ClusterSize: 2}, peersOf(peer("n1", "a", StateActive, 3, 5*time.Second)), ""},
		{"merging or joining peers do not count", heartbeat{ClusterID: "b", ClusterSize: 1}, peersOf(peer("n1", "a", StateMerging, 3, 0), peer("n2", "c", StateJoining, 3, 0)), ""},
		{"the biggest of several", heartbeat{ClusterID: "c", ClusterSize: 1}, peersOf(peer("n1", "a", StateActive, 2, 0), peer("n2", "b", StateActive, 4, 0)), "b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := biggerCluster(c.self, c.peers, t0, timeout)
			if (c.moveTo != "") != ok || got.ID != c.moveTo {
				t.Fatalf("got %+v, %v; want move to %q", got, ok, c.moveTo)
			}
		})
	}
}

func TestSettlerCoalescesARollingChange(t *testing.T) {
	s := settler{quiet: 300 * time.Millisecond, max: 3 * time.Second}
	steps := []struct {
		at    time.Duration
		view  string
		adopt bool
	}{
		{0, "n1", false},                            // first view: pending
		{300 * time.Millisecond, "n1", true},        // quiet long enough: adopted
		{400 * time.Millisecond, "n1,n2", false},    // a join starts a pending change
		{500 * time.Millisecond, "n1,n2,n3", false}, // another join within the window
		{700 * time.Millisecond, "n1,n2,n3", false}, // still inside the quiet time
		{800 * time.Millisecond, "n1,n2,n3", true},  // one rebalance for both joins
		{900 * time.Millisecond, "n1,n2,n3", false}, // unchanged: nothing to do
	}
	for _, st := range steps {
		if got := s.observe(st.view, t0.Add(st.at)); got != st.adopt {
			t.Fatalf("at %s view %q: adopt %v, want %v", st.at, st.view, got, st.adopt)
		}
	}
	// A view that keeps changing is adopted after max all the same.
	s = settler{quiet: 300 * time.Millisecond, max: time.Second}
	adopted := false
	for i := 0; i < 20 && !adopted; i++ {
		adopted = s.observe(string(rune('a'+i)), t0.Add(time.Duration(i)*200*time.Millisecond))
		if adopted && time.Duration(i)*200*time.Millisecond < time.Second {
			t.Fatalf("adopted at %d before max", i)
		}
	}
	if !adopted {
		t.Fatal("a flapping view was never adopted")
	}
}

func TestDecideFormation(t *testing.T) {
	joined := func(name, cluster string, size int) probeResult {
		return probeResult{Info: probeInfo{Name: name, Addr: name, Joined: true, ClusterID: cluster, ClusterSize: size, MemberlistAddr: name + ":3322"}}
	}
	starting := func(name string) probeResult {
		return probeResult{Info: probeInfo{Name: name, Addr: name}}
	}
	const timeout = 15 * time.Second
	cases := []struct {
		name       string
		self       string
		candidates []string
		probes     []probeResult
		elapsed    time.Duration
		want       formKind
		peers      []string
	}{
		{"alone in the list: bootstrap", "10.0.0.1", []string{"10.0.0.1"}, nil, 0, formBootstrap, nil},
		{"lowest address bootstraps", "10.0.0.1", []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, []probeResult{starting("10.0.0.2")}, 0, formBootstrap, nil},
		{"a higher address waits for the lowest", "10.0.0.2", []string{"10.0.0.1", "10.0.0.2"}, []probeResult{starting("10.0.0.1")}, 0, formWait, nil},
		{"a lower candidate not answering yet still counts", "10.0.0.2", []string{"10.0.0.1", "10.0.0.2"}, nil, time.Second, formWait, nil},
		{"after the timeout only answering candidates count", "10.0.0.2", []string{"10.0.0.1", "10.0.0.2"}, nil, timeout, formBootstrap, nil},
		{"join the cluster that exists", "10.0.0.3", []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, []probeResult{joined("10.0.0.1", "c1", 2), joined("10.0.0.2", "c1", 2)}, 0, formJoin, []string{"10.0.0.1:3322", "10.0.0.2:3322"}},
		{"join the biggest of two clusters", "10.0.0.5", nil, []probeResult{joined("10.0.0.1", "c1", 1), joined("10.0.0.2", "c2", 3)}, 0, formJoin, []string{"10.0.0.2:3322"}},
		{"a peer refusing our secret is no candidate", "10.0.0.2", []string{"10.0.0.2"}, []probeResult{{Refused: true, Info: probeInfo{Addr: "10.0.0.1"}}}, 0, formBootstrap, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decideFormation(c.self, c.candidates, c.probes, c.elapsed, timeout)
			if d.Kind != c.want || !reflect.DeepEqual(d.Peers, c.peers) {
				t.Fatalf("got %+v, want kind %v peers %v", d, c.want, c.peers)
			}
		})
	}
}

func TestJoinTurn(t *testing.T) {
	const listen, timeout = 1250 * time.Millisecond, 15 * time.Second
	for _, tc := range []struct {
		name    string
		elapsed time.Duration
		ahead   string
		wait    bool
	}{
		{"just started, nobody heard yet: listen first", 0, "", true},
		{"listened a heartbeat timeout, nobody joining: join", listen, "", false},
		{"a lower-named peer is joining: wait for it", 5 * time.Second, "10.0.0.2", true},
		{"a lower-named joiner heard at once: wait", 100 * time.Millisecond, "10.0.0.2", true},
		{"formation timeout passed: join regardless", timeout, "10.0.0.2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wait, why := joinTurn(tc.elapsed, listen, timeout, tc.ahead)
			if wait != tc.wait || wait != (why != "") {
				t.Fatalf("joinTurn(%s, %q) = (%v, %q), want wait=%v", tc.elapsed, tc.ahead, wait, why, tc.wait)
			}
		})
	}
}
