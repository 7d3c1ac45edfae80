package placement_test

import (
	"fmt"

	"github.com/shoal-dev/shoal/pkg/cluster/placement"
)

func Example() {
	cfg := placement.Config{Shards: 12, Load: 1.25, ReplicationFactor: 200}
	before, _ := placement.Assign(cfg, []string{"n1", "n2", "n3", "n4"})
	after, _ := placement.Assign(cfg, []string{"n4", "n2", "n1"}) // n3 left; order does not matter

	moves := placement.Diff(before, after)
	for _, m := range moves {
		fmt.Println(m)
	}
	gained, lost := placement.Summarize(moves, "n1")
	fmt.Println("n1 gained", gained, "lost", lost)
	fmt.Println("most shards per member:", cfg.Capacity(3))
	// Output:
	// shard 1: n3 -> n1
	// shard 5: n3 -> n1
	// shard 7: n3 -> n2
	// n1 gained [1 5] lost []
	// most shards per member: 5
}

func ExampleAssign_noMembers() {
	_, err := placement.Assign(placement.DefaultConfig(), nil)
	fmt.Println(err)
	// Output:
	// placement: no members to assign shards to
}
