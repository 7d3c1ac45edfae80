package discovery

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// serverMode is how the test DNS server answers.
type serverMode int

const (
	answer   serverMode = iota // the zone's records (NXDOMAIN for unknown names)
	servfail                   // SERVFAIL to everything
	silent                     // never answers (a timeout for the client)
)

// zoneServer is a real DNS server on 127.0.11.x whose zone the test edits.
type zoneServer struct {
	Addr string

	mu      sync.Mutex
	mode    serverMode
	records map[string][]dns.RR // by lowercase FQDN
	queries int
}

// startZone serves on 127.0.11.<host>, port 0, until the test ends.
func startZone(t *testing.T, host string) *zoneServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.11."+host, "0"))
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	z := &zoneServer{Addr: pc.LocalAddr().String(), records: map[string][]dns.RR{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(z.serve), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("dns server did not start")
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
	return z
}

func (z *zoneServer) serve(w dns.ResponseWriter, r *dns.Msg) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.queries++
	m := new(dns.Msg)
	switch z.mode {
	case silent:
		return
	case servfail:
		m.SetRcode(r, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
		return
	}
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	rrs, exists := z.records[strings.ToLower(q.Name)]
	if !exists {
		m.SetRcode(r, dns.RcodeNameError)
		_ = w.WriteMsg(m)
		return
	}
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, rr)
		}
	}
	_ = w.WriteMsg(m) // no records of the type: NOERROR with no answer
}

func (z *zoneServer) setMode(m serverMode) {
	z.mu.Lock()
	z.mode = m
	z.mu.Unlock()
}

// set replaces the records of name ("" records: the name exists, with no
// records). Each value is an IP address (A or AAAA) or "target:port" (SRV).
func (z *zoneServer) set(name string, values ...string) {
	name = dns.Fqdn(strings.ToLower(name))
	rrs := []dns.RR{}
	for _, v := range values {
		hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: 0}
		if ip := net.ParseIP(v); ip != nil {
			if ip.To4() != nil {
				hdr.Rrtype = dns.TypeA
				rrs = append(rrs, &dns.A{Hdr: hdr, A: ip.To4()})
			} else {
				hdr.Rrtype = dns.TypeAAAA
				rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: ip})
			}
			continue
		}
		target, port, _ := net.SplitHostPort(v)
		var p uint16
		for _, c := range port {
			p = p*10 + uint16(c-'0')
		}
		hdr.Rrtype = dns.TypeSRV
		rrs = append(rrs, &dns.SRV{Hdr: hdr, Priority: 10, Weight: 10, Port: p, Target: dns.Fqdn(target)})
	}
	z.mu.Lock()
	z.records[name] = rrs
	z.mu.Unlock()
}

func (z *zoneServer) remove(name string) {
	z.mu.Lock()
	delete(z.records, dns.Fqdn(strings.ToLower(name)))
	z.mu.Unlock()
}
