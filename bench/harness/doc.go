// Package harness runs the shoal benchmark: the same scenarios against every
// job queue under test (shoal and its peers asynq and River), alternating
// between systems run after run so that a noisy machine hurts them alike, and
// reducing the runs to medians and ratios.
//
// A queue plugs in through the System interface. The harness owns timing,
// pacing, statistics and the order of runs; a System owns only how to talk to
// its queue. Scenarios:
//
//   - burn-down: enqueue N no-op jobs, then start the workers and time until
//     all are done;
//   - steady: start the workers, then enqueue N jobs while they work;
//   - latency: enqueue single jobs at a fixed rate (half of the system's
//     measured burn-down peak) and record enqueue-to-start p50 and p99;
//   - scale: burn-down at growing N, reported as cost per job;
//   - failover: how long a killed worker's job waits before it runs again,
//     measured (kill -9 of a child worker process) or computed from the
//     system's documented defaults.
package harness
