package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// autoAdvertise is the --advertise-addr value (SHOAL_ADVERTISE_ADDR=auto) that
// asks the worker to find its own IP: the one a container or a VM should
// advertise when nothing tells it (no POD_IP, no shell to compute one).
const autoAdvertise = "auto"

// errNoAutoAddr is returned when no address can be picked on its own.
var errNoAutoAddr = errors.New("no address to advertise")

// autoAdvertiseAddr returns the IP of the interface the default route leaves
// by: the source address the kernel picks for a packet to a public address.
// Nothing is sent (a UDP "connect" only selects a route). Without a default
// route (a network with no gateway) it falls back to the only global unicast
// address of the host, and fails when there are none or several.
func autoAdvertiseAddr() (string, error) {
	return pickAdvertiseAddr(routeSource, interfaceAddrs)
}

// routeSource reports the local address the kernel would use to reach dst.
func routeSource(dst string) (netip.Addr, error) {
	c, err := net.Dial("udp", dst)
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		return netip.Addr{}, err
	}
	return ap.Addr().Unmap(), nil
}

// interfaceAddrs lists the addresses of the interfaces that are up.
func interfaceAddrs() ([]netip.Addr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, p.Addr().Unmap())
			}
		}
	}
	return out, nil
}

// routeProbes are the destinations whose route picks the source address:
// documentation addresses (RFC 5737 TEST-NET-2, RFC 3849), never contacted:
// connecting a UDP socket sends nothing.
var routeProbes = []string{"198.51.100.1:9", "[2001:db8::1]:9"}

// pickAdvertiseAddr is the decision core of autoAdvertiseAddr: route first,
// then the single usable interface address.
func pickAdvertiseAddr(route func(dst string) (netip.Addr, error), addrs func() ([]netip.Addr, error)) (string, error) {
	for _, dst := range routeProbes {
		if a, err := route(dst); err == nil && usable(a) {
			return a.String(), nil
		}
	}
	list, err := addrs()
	if err != nil {
		return "", fmt.Errorf("%w: listing interfaces: %v; pass --advertise-addr (or POD_IP) with this node's IP", errNoAutoAddr, err)
	}
	var found []string
	for _, a := range list {
		if usable(a) {
			found = append(found, a.String())
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: no default route and no non-loopback address; pass --advertise-addr (or POD_IP) with this node's IP", errNoAutoAddr)
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("%w: no default route and several addresses (%s); pass --advertise-addr (or POD_IP) with the one the other nodes reach", errNoAutoAddr, strings.Join(found, ", "))
	}
}

// usable reports whether a can be advertised to other hosts.
func usable(a netip.Addr) bool {
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsLinkLocalUnicast()
}
