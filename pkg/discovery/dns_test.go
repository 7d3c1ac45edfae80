package discovery

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func peers(hostPorts ...string) []Peer {
	var out []Peer
	for _, hp := range hostPorts {
		p, err := parseHost(hp)
		if err != nil {
			panic(err)
		}
		out = append(out, p)
	}
	return Normalize(out)
}

func TestDNSStrategy(t *testing.T) {
	z := startZone(t, "1")
	const name = "workers.shoal.test."
	s, err := NewDNS(DNSConfig{Name: name, Resolver: z.Addr, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	tests := []struct {
		name      string
		setup     func()
		want      []Peer
		wantEmpty bool // ErrEmptyAnswer
		wantErr   bool // another error
	}{
		{"A records", func() { z.set(name, "10.0.0.2", "10.0.0.1", "10.0.0.10") }, peers("10.0.0.1", "10.0.0.2", "10.0.0.10"), false, false},
		{"a record appears", func() { z.set(name, "10.0.0.2", "10.0.0.1", "10.0.0.10", "10.0.0.3") }, peers("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.10"), false, false},
		{"a record disappears", func() { z.set(name, "10.0.0.1", "10.0.0.3") }, peers("10.0.0.1", "10.0.0.3"), false, false},
		{"A and AAAA", func() { z.set(name, "10.0.0.1", "fd00::1") }, peers("10.0.0.1", "fd00::1"), false, false},
		{"no records (zero replicas)", func() { z.set(name) }, nil, true, false},
		{"NXDOMAIN", func() { z.remove(name) }, nil, true, false},
		{"SERVFAIL", func() { z.set(name, "10.0.0.1"); z.setMode(servfail) }, nil, false, true},
		{"timeout", func() { z.setMode(silent) }, nil, false, true},
		{"answers again", func() { z.setMode(answer) }, peers("10.0.0.1"), false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			got, err := s.Lookup(ctx)
			switch {
			case tc.wantEmpty:
				if !errors.Is(err, ErrEmptyAnswer) {
					t.Fatalf("err = %v, want ErrEmptyAnswer", err)
				}
			case tc.wantErr:
				if err == nil || errors.Is(err, ErrEmptyAnswer) {
					t.Fatalf("err = %v, want a lookup error that is not ErrEmptyAnswer", err)
				}
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not name %s", err, name)
				}
			default:
				if err != nil {
					t.Fatalf("Lookup: %v", err)
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestDNSTimeoutIsBounded(t *testing.T) {
	z := startZone(t, "2")
	z.setMode(silent)
	s, err := NewDNS(DNSConfig{Name: "x.shoal.test.", Resolver: z.Addr, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Lookup(context.Background())
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTimeout {
		t.Fatalf("err = %v, want a DNS timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("lookup took %v with a 200ms timeout", d)
	}
}

func TestDNSSRVStrategy(t *testing.T) {
	z := startZone(t, "3")
	const name = "_http._tcp.workers.shoal.test."
	z.set("w1.shoal.test", "10.0.1.1")
	z.set("w2.shoal.test", "10.0.1.2", "fd00::2")
	s, err := NewDNSSRV(DNSConfig{Name: name, Resolver: z.Addr, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name      string
		setup     func()
		want      []Peer
		wantEmpty bool
		wantErr   bool
	}{
		{"targets resolved, SRV port kept", func() { z.set(name, "w1.shoal.test:8080", "w2.shoal.test:8081") },
			peers("10.0.1.1:8080", "10.0.1.2:8081", "[fd00::2]:8081"), false, false},
		{"a target that no longer resolves is skipped", func() { z.set(name, "w1.shoal.test:8080", "gone.shoal.test:8080") },
			peers("10.0.1.1:8080"), false, false},
		{"no target resolves", func() { z.set(name, "gone.shoal.test:8080") }, nil, true, false},
		{"no SRV records", func() { z.set(name) }, nil, true, false},
		{"NXDOMAIN", func() { z.remove(name) }, nil, true, false},
		{"SERVFAIL", func() { z.set(name, "w1.shoal.test:8080"); z.setMode(servfail) }, nil, false, true},
		{"timeout", func() { z.setMode(silent) }, nil, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			got, err := s.Lookup(ctx)
			switch {
			case tc.wantEmpty:
				if !errors.Is(err, ErrEmptyAnswer) {
					t.Fatalf("err = %v, want ErrEmptyAnswer", err)
				}
			case tc.wantErr:
				if err == nil || errors.Is(err, ErrEmptyAnswer) {
					t.Fatalf("err = %v, want a lookup error that is not ErrEmptyAnswer", err)
				}
			default:
				if err != nil {
					t.Fatalf("Lookup: %v", err)
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestDNSConfigErrors(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Strategy: "dns"}, "--discovery=dns needs --dns-name (for example the headless service name"},
		{Config{Strategy: "dnssrv"}, "--discovery=dnssrv needs --dns-name (for example the SRV name"},
		{Config{Strategy: "dns", DNS: DNSConfig{Name: "w", Resolver: "dns.example:53"}}, "--dns-server \"dns.example:53\": want ip or ip:port"},
		{Config{Strategy: "dns", DNS: DNSConfig{Name: "w", Timeout: -1}}, "--dns-timeout"},
		{Config{Strategy: "static"}, "--discovery=static needs --peers"},
		{Config{Strategy: "static", Hosts: []string{"10.0.0.1:http"}}, "port \"http\""},
		{Config{Strategy: "static", Hosts: []string{"a b/c"}}, "neither an IP address nor a host name"},
		{Config{Strategy: "gossip"}, "--discovery=gossip: this package builds static, dns and dnssrv"},
		{Config{}, "--discovery is empty"},
	}
	for _, tc := range tests {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
	for _, cfg := range []Config{
		{Strategy: "dns", DNS: DNSConfig{Name: "worker"}},
		{Strategy: "dns", DNS: DNSConfig{Name: "worker", Resolver: "127.0.0.11"}},
		{Strategy: "dnssrv", DNS: DNSConfig{Name: "_http._tcp.worker", Resolver: "[::1]:5353"}},
		{Strategy: "static", Hosts: []string{"127.0.0.1"}},
	} {
		s, err := New(cfg)
		if err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
			continue
		}
		if s.Name() != cfg.Strategy {
			t.Errorf("Name() = %q, want %q", s.Name(), cfg.Strategy)
		}
	}
	if _, err := New(Config{Strategy: "nope"}); !errors.Is(err, ErrUnknownStrategy) {
		t.Errorf("unknown strategy: %v, want ErrUnknownStrategy", err)
	}
}

func TestStatic(t *testing.T) {
	s, err := NewStatic([]string{"127.0.0.2,127.0.0.1", " 127.0.0.1 ", "127.0.0.3:8081", "[::1]:8080", "::1", "worker-1", "worker-1:9000"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Lookup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Peer{
		{Host: "127.0.0.1", Ready: true}, {Host: "127.0.0.2", Ready: true}, {Host: "127.0.0.3", Port: 8081, Ready: true},
		{Host: "::1", Ready: true}, {Host: "::1", Port: 8080, Ready: true},
		{Host: "worker-1", Ready: true}, {Host: "worker-1", Port: 9000, Ready: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	got[0].Host = "changed"
	again, _ := s.Lookup(context.Background())
	if again[0].Host != "127.0.0.1" {
		t.Fatal("Lookup returned the strategy's own slice")
	}
	if _, err := NewStatic([]string{" , "}); !errors.Is(err, ErrNoPeers) {
		t.Errorf("empty list: %v, want ErrNoPeers", err)
	}
}

func TestNormalize(t *testing.T) {
	in := []Peer{{Host: "b"}, {Host: "10.0.0.10"}, {Host: "10.0.0.9", Port: 2}, {Host: "10.0.0.9", Port: 1}, {Host: "b", Ready: true}, {Host: "a"}}
	want := []Peer{{Host: "10.0.0.9", Port: 1}, {Host: "10.0.0.9", Port: 2}, {Host: "10.0.0.10"}, {Host: "a"}, {Host: "b", Ready: true}}
	if got := Normalize(in); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if in[0].Host != "b" {
		t.Fatal("Normalize modified its input")
	}
}
