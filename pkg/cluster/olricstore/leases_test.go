package olricstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/pkg/cluster/lease"
	"github.com/shoal-dev/shoal/pkg/cluster/lease/leasetest"
)

const testLeaseTTL = 400 * time.Millisecond

func TestLeasesOneNode(t *testing.T) {
	nodes := startCluster(t, 1)
	leasetest.TestStore(t, func(t *testing.T) leasetest.Harness {
		dm := freshDMap(t, nodes[0])[0]
		return leasetest.Harness{Store: newLeaseStore(dm, time.Now), TTL: testLeaseTTL, Now: time.Now}
	})
}

// On three nodes, every call goes through another member than the previous
// one: concurrent acquires race from different members, and a grant is
// renewed and released through members other than its issuer.
func TestLeasesThreeNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	leasetest.TestStore(t, func(t *testing.T) leasetest.Harness {
		dms := freshDMap(t, nodes...)
		m := &multiLease{}
		for _, dm := range dms {
			m.stores = append(m.stores, newLeaseStore(dm, time.Now))
		}
		return leasetest.Harness{Store: m, TTL: testLeaseTTL, Now: time.Now}
	})
}

type multiLease struct {
	stores []*LeaseStore
	mu     sync.Mutex
}

// pick routes each owner to its own node, as in a cluster where every node
// renews and releases the leases it took through its own store; different
// owners go through different nodes.
func (m *multiLease) pick(owner string) *LeaseStore {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := 0
	for _, c := range owner {
		h = h*31 + int(c)
	}
	if h < 0 {
		h = -h
	}
	return m.stores[h%len(m.stores)]
}

func (m *multiLease) Acquire(ctx context.Context, shard int, owner string, ttl time.Duration) (lease.Lease, error) {
	return m.pick(owner).Acquire(ctx, shard, owner, ttl)
}

func (m *multiLease) Renew(ctx context.Context, l lease.Lease, ttl time.Duration) (lease.Lease, error) {
	return m.pick(l.Owner).Renew(ctx, l, ttl)
}

func (m *multiLease) Release(ctx context.Context, l lease.Lease) error {
	return m.pick(l.Owner).Release(ctx, l)
}
