package lease_test

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/pkg/cluster/lease"
	"github.com/shoal-dev/shoal/pkg/cluster/lease/leasetest"
)

func TestMemStore(t *testing.T) {
	leasetest.TestStore(t, func(t *testing.T) leasetest.Harness {
		clock := lease.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
		return leasetest.Harness{
			Store:   lease.NewMemStore(clock.Now),
			TTL:     2 * time.Second,
			Now:     clock.Now,
			Advance: clock.Advance,
		}
	})
}

// The suite also passes on real time with short TTLs: the mode the Olric
// store runs in. This keeps the suite honest about not needing a fake clock.
func TestMemStoreRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time lease suite")
	}
	leasetest.TestStore(t, func(t *testing.T) leasetest.Harness {
		return leasetest.Harness{Store: lease.NewMemStore(time.Now), TTL: 150 * time.Millisecond, Now: time.Now}
	})
}
