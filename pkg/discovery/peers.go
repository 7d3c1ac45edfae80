package discovery

import (
	"cmp"
	"net/netip"
	"slices"
)

// Normalize returns the peers sorted (IP addresses first, in address order,
// then names; then by port) with repeated Host+Port pairs merged: the merged
// peer is ready if any of the repeats is. The input is not modified.
func Normalize(peers []Peer) []Peer {
	if len(peers) == 0 {
		return nil
	}
	out := slices.Clone(peers)
	slices.SortFunc(out, comparePeers)
	w := 0
	for _, p := range out {
		if w > 0 && out[w-1].Host == p.Host && out[w-1].Port == p.Port {
			out[w-1].Ready = out[w-1].Ready || p.Ready
			continue
		}
		out[w] = p
		w++
	}
	return out[:w]
}

func comparePeers(a, b Peer) int {
	aa, aErr := netip.ParseAddr(a.Host)
	ba, bErr := netip.ParseAddr(b.Host)
	switch {
	case aErr == nil && bErr == nil:
		if c := aa.Compare(ba); c != 0 {
			return c
		}
	case aErr == nil:
		return -1
	case bErr == nil:
		return 1
	default:
		if c := cmp.Compare(a.Host, b.Host); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.Port, b.Port)
}

// Equal reports whether two normalized peer sets are the same, readiness
// included.
func Equal(a, b []Peer) bool {
	return slices.Equal(a, b)
}
