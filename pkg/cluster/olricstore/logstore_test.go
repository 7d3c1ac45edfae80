package olricstore

import (
	"context"
	"testing"

	"github.com/shoal-dev/shoal/pkg/jobs"
	"github.com/shoal-dev/shoal/pkg/jobs/jobstest"
)

func TestLogStoreOneNode(t *testing.T) {
	nodes := startCluster(t, 1)
	jobstest.TestLogStore(t, func(t *testing.T) jobs.LogStore {
		dm := freshDMap(t, nodes[0])[0]
		return newLogStore(dm, nodes[0].cfg.TableSize)
	})
}

// On three nodes, each call goes through another node than the previous
// one: what one member wrote, every member lists and reads.
func TestLogStoreThreeNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	jobstest.TestLogStore(t, func(t *testing.T) jobs.LogStore {
		dms := freshDMap(t, nodes...)
		rr := &roundRobinLog{}
		for i, dm := range dms {
			rr.stores = append(rr.stores, newLogStore(dm, nodes[i].cfg.TableSize))
		}
		return rr
	})
}

// roundRobinLog sends each call to a node chosen from its arguments, so that
// writes, lists, reads and deletes of one key go through different members.
type roundRobinLog struct {
	stores []*LogStore
}

func (r *roundRobinLog) by(k int) *LogStore { return r.stores[k%len(r.stores)] }

func (r *roundRobinLog) AppendSegment(ctx context.Context, key jobs.SegmentKey, data []byte) error {
	return r.by(int(key.Seq)).AppendSegment(ctx, key, data)
}

func (r *roundRobinLog) ListSegments(ctx context.Context, shard int, epoch uint64) ([]jobs.SegmentKey, error) {
	return r.by(shard+1).ListSegments(ctx, shard, epoch)
}

func (r *roundRobinLog) ReadSegment(ctx context.Context, key jobs.SegmentKey) ([]byte, error) {
	return r.by(int(key.Seq)+1).ReadSegment(ctx, key)
}

func (r *roundRobinLog) DeleteSegments(ctx context.Context, keys []jobs.SegmentKey) error {
	return r.by(len(keys)+2).DeleteSegments(ctx, keys)
}

func (r *roundRobinLog) PutSnapshot(ctx context.Context, snap jobs.Snapshot) error {
	return r.by(int(snap.Seq)).PutSnapshot(ctx, snap)
}

func (r *roundRobinLog) ReadSnapshot(ctx context.Context, shard int) (jobs.Snapshot, error) {
	return r.by(shard+2).ReadSnapshot(ctx, shard)
}
