package e2e

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// zone is a tiny DNS server whose A records the test changes.
type zone struct {
	mu      sync.Mutex
	records map[string][]string // fqdn -> IPs
	srv     *dns.Server
	Addr    string
}

func startZone(t *testing.T, addr string) *zone {
	t.Helper()
	z := &zone{records: map[string][]string{}, Addr: addr}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	z.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(z.serve)}
	go func() { _ = z.srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = z.srv.Shutdown() })
	return z
}

func (z *zone) set(name string, ips ...string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.records[dns.Fqdn(name)] = ips
}

func (z *zone) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	z.mu.Lock()
	for _, q := range r.Question {
		ips, ok := z.records[q.Name]
		if !ok {
			m.Rcode = dns.RcodeNameError
			continue
		}
		if q.Qtype != dns.TypeA {
			continue
		}
		for _, ip := range ips {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.ParseIP(ip)})
		}
	}
	z.mu.Unlock()
	_ = w.WriteMsg(m)
}

// Scenario 6: two clusters that formed apart (each node's DNS name lists
// only its own side) are then allowed to see each other (both names list
// everybody): they become one cluster and nothing acknowledged is lost.
func TestTwoClustersHeal(t *testing.T) {
	requireClusterSuite(t)
	z := startZone(t, "127.0.38.53:5353")
	a := []string{"127.0.38.1", "127.0.38.2", "127.0.38.3"}
	b := []string{"127.0.38.4", "127.0.38.5"}
	z.set("a.shoal.test", a...)
	z.set("b.shoal.test", b...)
	start := func(ip, name string) *proc {
		return startWorker(t, ip, "--discovery", "dns", "--dns-name", name, "--dns-server", z.Addr,
			"--discovery-interval", "1s", "--concurrency", "2")
	}
	var pa, pb []*proc
	for _, ip := range a {
		pa = append(pa, start(ip, "a.shoal.test"))
	}
	for _, ip := range b {
		pb = append(pb, start(ip, "b.shoal.test"))
	}
	for _, p := range append(append([]*proc{}, pa...), pb...) {
		waitReady(t, p, 60*time.Second)
	}
	waitMembers(t, pa, 3, 30*time.Second)
	waitMembers(t, pb, 2, 30*time.Second)
	ia, _ := clusterInfo(a[0])
	ib, _ := clusterInfo(b[0])
	if ia.ClusterID == ib.ClusterID {
		t.Fatalf("the two sides were meant to form apart, but share cluster %s", ia.ClusterID)
	}

	// Work on both sides: more than they can finish before the heal.
	ka := newChecker(t, serversOf(pa[0]), "")
	kb := newChecker(t, serversOf(pb[0]), "")
	if got := ka.submitSleeps(600, 40, 60); got != 600 {
		t.Fatalf("side A acknowledged %d of 600", got)
	}
	if got := kb.submitSleeps(400, 40, 60); got != 400 {
		t.Fatalf("side B acknowledged %d of 400", got)
	}

	// Let them see each other.
	healStart := time.Now()
	z.set("a.shoal.test", append(append([]string{}, a...), b...)...)
	z.set("b.shoal.test", append(append([]string{}, a...), b...)...)
	all := append(append([]*proc{}, pa...), pb...)
	waitFor(t, 90*time.Second, "one cluster of 5", func() error {
		ids := map[string]bool{}
		for _, p := range all {
			info, err := clusterInfo(p.IP)
			if err != nil {
				return err
			}
			ids[info.ClusterID] = true
		}
		if len(ids) != 1 {
			return fmt.Errorf("%d clusters: %v", len(ids), ids)
		}
		return nil
	})
	waitMembers(t, all, 5, 60*time.Second)
	t.Logf("one cluster of 5 %s after the sides could see each other", time.Since(healStart).Round(time.Millisecond))
	healed := 0
	for _, p := range pb {
		if strings.Contains(p.LogText(), `"event":"healed"`) {
			healed++
		}
	}
	if healed != len(pb) {
		t.Errorf("%d of the smaller side's %d nodes logged the heal", healed, len(pb))
	}

	// Every job acknowledged on either side reaches an end state, in the
	// one cluster (ask through side A).
	k := newChecker(t, serversOf(pa[0], pa[1]), "")
	k.acked = append(append(k.acked, ka.acked...), kb.acked...)
	k.waitDone(3 * time.Minute)
	v := k.verify()
	t.Logf("verdict: %s", v)
	if len(v.Lost) > 0 {
		t.Fatalf("healing lost acknowledged jobs: %s", v)
	}
	if v.States["succeeded"] != 1000 {
		t.Fatalf("want 1000 succeeded: %s", v)
	}
	t.Logf("duplicated runs (allowed for jobs running on the smaller side when it merged): %d", len(v.Duplicates))
}
