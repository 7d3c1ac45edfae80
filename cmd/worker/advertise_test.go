package main

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestPickAdvertiseAddr(t *testing.T) {
	noRoute := func(string) (netip.Addr, error) { return netip.Addr{}, errors.New("network is unreachable") }
	routeTo := func(a string) func(string) (netip.Addr, error) {
		return func(dst string) (netip.Addr, error) {
			if strings.HasPrefix(dst, "[") {
				return netip.Addr{}, errors.New("no v6 route")
			}
			return netip.MustParseAddr(a), nil
		}
	}
	addrs := func(list ...string) func() ([]netip.Addr, error) {
		return func() ([]netip.Addr, error) {
			var out []netip.Addr
			for _, s := range list {
				out = append(out, netip.MustParseAddr(s))
			}
			return out, nil
		}
	}
	tests := []struct {
		name    string
		route   func(string) (netip.Addr, error)
		addrs   func() ([]netip.Addr, error)
		want    string
		wantErr string
	}{
		{"default route wins", routeTo("172.18.0.5"), addrs("127.0.0.1", "172.18.0.5", "10.0.0.9"), "172.18.0.5", ""},
		{"route to loopback is ignored", routeTo("127.0.0.1"), addrs("127.0.0.1", "10.1.2.3"), "10.1.2.3", ""},
		{"no route, one address", noRoute, addrs("127.0.0.1", "::1", "fe80::1", "192.168.7.2"), "192.168.7.2", ""},
		{"no route, v6 only", noRoute, addrs("::1", "fd00::7"), "fd00::7", ""},
		{"no route, several", noRoute, addrs("10.0.0.1", "10.0.1.1"), "", "several addresses (10.0.0.1, 10.0.1.1)"},
		{"no route, none", noRoute, addrs("127.0.0.1", "::1"), "", "no non-loopback address"},
		{"listing fails", noRoute, func() ([]netip.Addr, error) { return nil, errors.New("boom") }, "", "listing interfaces: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickAdvertiseAddr(tc.route, tc.addrs)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, errNoAutoAddr) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want errNoAutoAddr containing %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "--advertise-addr") {
					t.Errorf("error %q does not tell the user what to do", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestAutoAdvertiseAddrOnThisHost runs the real lookup: whatever it picks
// must be an IP of this host that is not loopback.
func TestAutoAdvertiseAddrOnThisHost(t *testing.T) {
	got, err := autoAdvertiseAddr()
	if err != nil {
		t.Skipf("no address on this host: %v", err)
	}
	ip := net.ParseIP(got)
	if ip == nil || ip.IsLoopback() {
		t.Fatalf("autoAdvertiseAddr() = %q, want a non-loopback IP", got)
	}
	list, err := interfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.String() == got {
			return
		}
	}
	t.Fatalf("autoAdvertiseAddr() = %q, not among this host's addresses %v", got, list)
}
