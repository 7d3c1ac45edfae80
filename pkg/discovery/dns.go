package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// ErrEmptyAnswer is wrapped by the DNS strategies when the name does not
// exist (NXDOMAIN) or has no records of the asked type. Docker and
// Kubernetes answer so while a service has no (ready) replicas, and for a
// moment during restarts, so the Watcher treats it like a failed lookup
// until it has lasted WatcherConfig.EmptyGrace.
var ErrEmptyAnswer = errors.New("discovery: the name has no addresses")

// DNSConfig configures the dns and dnssrv strategies.
type DNSConfig struct {
	// Name is the name to look up: for dns a Kubernetes headless service
	// ("shoal-worker.shoal.svc.cluster.local" or just "shoal-worker") or a
	// docker-compose service name ("worker"); for dnssrv the SRV name
	// ("_http._tcp.shoal-worker.shoal.svc.cluster.local"). Flag --dns-name.
	Name string
	// Resolver is the "ip:port" (or "ip", port 53) of the DNS server to ask.
	// Empty: the system resolver (resolv.conf, search domains, /etc/hosts).
	// Flag --dns-server.
	Resolver string
	// Timeout bounds one lookup (for dnssrv: the SRV query and the address
	// queries of its targets together). Zero: 5s. Flag --dns-timeout.
	Timeout time.Duration
}

// DefaultDNSTimeout is the lookup timeout used when DNSConfig.Timeout is zero.
const DefaultDNSTimeout = 5 * time.Second

// resolver checks the config for strategy (its flag name in errors) and
// returns the resolver to use.
func (c DNSConfig) resolver(strategy string) (*net.Resolver, error) {
	if c.Name == "" {
		what := "the headless service name, or the docker-compose service name"
		if strategy == "dnssrv" {
			what = "the SRV name, such as _http._tcp.shoal-worker.shoal.svc.cluster.local"
		}
		return nil, fmt.Errorf("discovery: --discovery=%s needs --dns-name (for example %s)", strategy, what)
	}
	if c.Timeout < 0 {
		return nil, fmt.Errorf("discovery: --dns-timeout is %v, want a positive duration (or 0 for %v)", c.Timeout, DefaultDNSTimeout)
	}
	if c.Resolver == "" {
		return &net.Resolver{}, nil
	}
	addr, err := netip.ParseAddrPort(c.Resolver)
	if err != nil {
		a, err2 := netip.ParseAddr(c.Resolver)
		if err2 != nil {
			return nil, fmt.Errorf("discovery: --dns-server %q: want ip or ip:port, such as 10.96.0.10:53", c.Resolver)
		}
		addr = netip.AddrPortFrom(a, 53)
	}
	server := addr.String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		},
	}, nil
}

func (c DNSConfig) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultDNSTimeout
	}
	return c.Timeout
}

// dnsA is the dns strategy: the A and AAAA records of a name.
type dnsA struct {
	cfg DNSConfig
	r   *net.Resolver
}

// NewDNS returns the dns strategy: the peers are the A and AAAA records of
// cfg.Name, all ready, with no port (the cluster's default ports).
func NewDNS(cfg DNSConfig) (Strategy, error) {
	r, err := cfg.resolver("dns")
	if err != nil {
		return nil, err
	}
	return &dnsA{cfg: cfg, r: r}, nil
}

func (d *dnsA) Name() string { return "dns" }

func (d *dnsA) Lookup(ctx context.Context) ([]Peer, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.timeout())
	defer cancel()
	peers, err := lookupAddrs(ctx, d.r, d.cfg.Name, 0)
	if err != nil {
		return nil, fmt.Errorf("discovery: dns lookup of %s: %w", d.cfg.Name, err)
	}
	return Normalize(peers), nil
}

// lookupAddrs resolves name to peers with the given port. A name that does
// not exist or has no addresses gives ErrEmptyAnswer; anything else
// (SERVFAIL, refused, timeout) is returned as the resolver's error.
func lookupAddrs(ctx context.Context, r *net.Resolver, name string, port int) ([]Peer, error) {
	addrs, err := r.LookupIPAddr(ctx, name)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%w (%v)", ErrEmptyAnswer, err)
		}
		return nil, err
	}
	peers := make([]Peer, 0, len(addrs))
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		peers = append(peers, Peer{Host: ip.Unmap().String(), Port: port, Ready: true})
	}
	if len(peers) == 0 {
		return nil, ErrEmptyAnswer
	}
	return peers, nil
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound && !de.IsTimeout && !de.IsTemporary
}

// dnsSRV is the dnssrv strategy: the SRV records of a name, targets resolved.
type dnsSRV struct {
	cfg DNSConfig
	r   *net.Resolver
}

// NewDNSSRV returns the dnssrv strategy: cfg.Name is looked up as an SRV
// name as is (no _service._proto prefix is added), and each target is
// resolved to its A/AAAA addresses. The SRV record's port is kept in
// Peer.Port, which is the peer's HTTP port: point cfg.Name at the SRV name of
// the HTTP port (for Kubernetes, the port named "http" of the headless
// service: _http._tcp.<service>.<namespace>.svc.cluster.local). A target
// that no longer resolves (a pod just gone) is skipped; if none resolves the
// answer is empty (ErrEmptyAnswer). Priority and weight are ignored: every
// target is a peer.
func NewDNSSRV(cfg DNSConfig) (Strategy, error) {
	r, err := cfg.resolver("dnssrv")
	if err != nil {
		return nil, err
	}
	return &dnsSRV{cfg: cfg, r: r}, nil
}

func (d *dnsSRV) Name() string { return "dnssrv" }

func (d *dnsSRV) Lookup(ctx context.Context) ([]Peer, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.timeout())
	defer cancel()
	_, srvs, err := d.r.LookupSRV(ctx, "", "", d.cfg.Name)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("discovery: dnssrv lookup of %s: %w (%v)", d.cfg.Name, ErrEmptyAnswer, err)
		}
		return nil, fmt.Errorf("discovery: dnssrv lookup of %s: %w", d.cfg.Name, err)
	}
	var peers []Peer
	for _, s := range srvs {
		got, err := lookupAddrs(ctx, d.r, s.Target, int(s.Port))
		if errors.Is(err, ErrEmptyAnswer) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("discovery: dnssrv lookup of %s: target %s: %w", d.cfg.Name, s.Target, err)
		}
		peers = append(peers, got...)
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("discovery: dnssrv lookup of %s: %w (%d SRV targets, none resolves)", d.cfg.Name, ErrEmptyAnswer, len(srvs))
	}
	return Normalize(peers), nil
}
