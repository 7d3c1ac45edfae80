package olricstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/pkg/cluster/olricstore"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// Start a node, append a segment, take a shard lease.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := olricstore.DefaultConfig()
	cfg.Name = "worker-1"
	cfg.BindAddr = "127.0.10.250"
	cfg.Secret = "change me"
	node, err := olricstore.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Shutdown(context.Background())

	l, err := node.Leases().Acquire(ctx, 7, "worker-1", 2*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	key := jobs.SegmentKey{Shard: 7, Epoch: l.Epoch, Writer: "worker-1", Seq: 1}
	if err := node.LogStore().AppendSegment(ctx, key, []byte("records")); err != nil {
		fmt.Println(err)
		return
	}
	keys, _ := node.LogStore().ListSegments(ctx, 7, l.Epoch)
	fmt.Println(len(keys), "segment(s) in shard 7 epoch", l.Epoch)
	// Output: 1 segment(s) in shard 7 epoch 1
}
