// Package shoalsys runs the benchmark against shoal itself: N worker
// processes of the shoal worker binary on 127.0.70.x (each its own loopback
// IP with the default ports, as pods have), jobs submitted with shoal's
// pkg/client.
//
// How each scenario maps onto shoal:
//
//   - Reset starts a fresh cluster (--advertise-addr, --peers, static
//     discovery, --log-level=warn, --concurrency), waits for every /readyz,
//     for the shards to be placed on every node (Members, two equal answers
//     in a row) and for one no-op job to go through the cluster (so the
//     event watcher is subscribed); Stop kills the nodes.
//   - Enqueue: Client.Submit of SubmitBatch jobs (500, the API's maximum)
//     per request, SubmitWorkers requests in flight.
//   - Starts and completions come from Client.Watch: the running event's
//     time (the node's clock, the same machine) minus the submit call's
//     time is the enqueue-to-start latency; each succeeded event is one
//     completion. If NATS drops events because the watcher fell behind,
//     completions are counted from Stats instead (the cluster is fresh).
//   - shoal has no pause, so nodes run jobs while they are submitted; its
//     burn-down is timed from the first submit (harness.Unpausable).
//   - Failover (MeasureFailover) follows scripts/measure/failover in
//     shoal's module: a stream of short sleep jobs over every shard, the
//     last node's shards taken from the jobs it started, SIGKILL, and the
//     time to the first job of one of those shards starting on another
//     node. The stream's submits run concurrently, so that a request held up
//     by the dead owner does not hold the stream up with it.
//   - Memory (MeasureRSS): VmRSS of each node of a separate 4-node
//     cluster, idle and with queued jobs behind long jobs that hold every
//     slot.
package shoalsys
