package discovery

import (
	"context"
	"errors"
)

// ErrNoPeers is never returned for a transient failure: a strategy that cannot
// look its peers up returns an error wrapping the cause, and the Watcher keeps
// the last known set.
var ErrNoPeers = errors.New("discovery: no peers configured")

// Peer is one address where another node might be running. Host is an IP
// address or host name; the ports are the cluster's (all nodes use the same
// ports unless Port overrides the HTTP port for local setups).
type Peer struct {
	// Host is an IP address (preferred) or a resolvable name.
	Host string
	// Port is the peer's HTTP port if known (0: the cluster's default).
	Port int
	// Ready is false for an endpoint that exists but is not ready yet (a pod
	// still forming); such peers still count during formation.
	Ready bool
}

// Strategy answers "who might my peers be right now". Lookup must not return
// an empty set with a nil error because of a transient failure.
type Strategy interface {
	// Name is the strategy's name as given on the command line.
	Name() string
	// Lookup returns the current peers (it may include this node itself).
	Lookup(ctx context.Context) ([]Peer, error)
}

// Notifier is implemented by strategies that learn of changes without polling
// (the kubernetes strategy's informers). The Watcher looks up again as soon as
// a value arrives, besides its periodic re-read.
type Notifier interface {
	Changes() <-chan struct{}
}
