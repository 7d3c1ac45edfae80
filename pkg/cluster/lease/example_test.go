package lease_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/pkg/cluster/lease"
)

// The owner's loop for one shard: ask Decide, do what it says.
func ExampleRules_Decide() {
	clock := lease.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store := lease.NewMemStore(clock.Now)
	rules := lease.DefaultRules()
	ctx := context.Background()

	var held *lease.Lease
	for range 4 {
		act := rules.Decide(clock.Now(), held, true)
		switch act {
		case lease.Acquire:
			if l, err := store.Acquire(ctx, 7, "n1", rules.TTL); err == nil {
				held = &l
			}
		case lease.Renew:
			if l, err := store.Renew(ctx, *held, rules.TTL); err == nil {
				held = &l
			}
		}
		fmt.Println(act, held.Epoch)
		clock.Advance(rules.RenewEvery)
	}
	// Output:
	// acquire 1
	// renew 1
	// renew 1
	// renew 1
}
