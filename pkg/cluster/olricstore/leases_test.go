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
	next   int
}

func (m *multiLease) pick() *LeaseStore {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	return m.stores[m.next%len(m.stores)]
}

func (m *multiLease) Acquire(ctx context.Context, shard int, owner string, ttl time.Duration) (lease.Lease, error) {
	return m.pick().Acquire(ctx, shard, owner, ttl)
}

func (m *multiLease) Renew(ctx context.Context, l lease.Lease, ttl time.Duration) (lease.Lease, error) {
	return m.pick().Renew(ctx, l, ttl)
}

func (m *multiLease) Release(ctx context.Context, l lease.Lease) error {
	return m.pick().Release(ctx, l)
}
