package discovery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// static is the fixed host list strategy (local development, fixed fleets).
type static struct {
	peers []Peer
}

// NewStatic returns the static strategy for a list of hosts. Each element may
// hold several entries separated by commas or spaces (so a flag value can be
// passed as is). An entry is "host" or "host:port" where the port is the
// peer's HTTP port; IPv6 addresses with a port are written "[::1]:8080".
// Repeated entries count once. It returns an error wrapping ErrNoPeers when
// no entry is given, and a parse error naming the bad entry.
func NewStatic(hosts []string) (Strategy, error) {
	var peers []Peer
	for _, h := range hosts {
		for _, entry := range strings.FieldsFunc(h, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
			p, err := parseHost(entry)
			if err != nil {
				return nil, err
			}
			peers = append(peers, p)
		}
	}
	peers = Normalize(peers)
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: --discovery=static needs --peers, a list such as 127.0.0.1,127.0.0.2,127.0.0.3 (host or host:http-port)", ErrNoPeers)
	}
	return &static{peers: peers}, nil
}

func parseHost(entry string) (Peer, error) {
	if a, err := netip.ParseAddr(strings.Trim(entry, "[]")); err == nil {
		return Peer{Host: a.String(), Ready: true}, nil
	}
	host, port := entry, 0
	if strings.Contains(entry, ":") {
		h, p, err := net.SplitHostPort(entry)
		if err != nil {
			return Peer{}, fmt.Errorf("discovery: static peer %q: %w (write host, host:port or [ipv6]:port)", entry, err)
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Peer{}, fmt.Errorf("discovery: static peer %q: port %q is not a number in 1..65535", entry, p)
		}
		host, port = h, n
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String()
	} else if !validHostName(host) {
		return Peer{}, fmt.Errorf("discovery: static peer %q: %q is neither an IP address nor a host name", entry, host)
	}
	return Peer{Host: host, Port: port, Ready: true}, nil
}

// validHostName accepts letters, digits, '-', '_' and '.' (a loose check: the
// name is resolved later by whoever dials it).
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

func (s *static) Name() string { return "static" }

func (s *static) Lookup(ctx context.Context) ([]Peer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]Peer, len(s.peers))
	copy(out, s.peers)
	return out, nil
}
