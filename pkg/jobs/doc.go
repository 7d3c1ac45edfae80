// Package jobs is shoal's job engine: the job model, its state machine, the
// per-shard live state, the log encoding, handler registration and the
// executor. It does no I/O of its own (the executor runs handlers, which
// may) and imports nothing else of shoal's; the cluster node drives it.
//
// # Jobs and states
//
// A Job is one unit of work: a type naming its handler, a JSON payload, a
// queue label, a priority, an optional run-at time, attempts, a timeout and
// an optional unique key. Job.Normalize checks a submission against Limits
// and fills its defaults (queue "default", 25 attempts, a new ID).
//
// A job's ID is 32 lowercase hex characters; its first 16 choose its shard
// (ShardOf). A job with a unique key gets an ID from UniqueID, whose first
// 16 characters are a hash of (queue, type, key): every job with that key
// lands in one shard, whose owner alone decides whether the key is free.
//
// The states and the moves allowed between them (CanTransition):
//
//	queued    -> running | cancelled
//	scheduled -> queued | cancelled
//	running   -> succeeded | scheduled | queued | dead | cancelled
//	succeeded, dead, cancelled: end states, no move leaves them
//
// The transitions are pure functions of (job, input, now): Start, Succeed,
// Fail (a retry is "scheduled" at now + RetryPolicy.Backoff, or "dead" when
// the attempts are used up or the error is Permanent), Cancel, Requeue (the
// runner was lost or drained) and Promote (a scheduled job came due). A
// move from a state the job is no longer in fails with ErrIllegalTransition:
// a stale writer loses.
//
// # Delivery: at least once
//
// An attempt is counted when it starts. A job whose runner dies goes back to
// queued with the attempt counted (Shard.RequeueRunner), so its handler may
// run more than once: handlers must be idempotent or tolerate repeats. A job
// stopped deliberately by a drain goes back with its attempt given back.
// A cancelled running job's later outcome is refused by Shard.Complete.
//
// # One writer per shard: records and snapshots
//
// A Shard holds one shard's live state in memory on its owner: every job, a
// ready heap (priority, then the time the job became ready, then ID), a heap
// of scheduled jobs by RunAt, the running jobs by runner, and the unique
// keys. It is a pure state machine, not safe for concurrent use. Every
// mutating method applies its change and returns Records describing it; an
// OpUpsert record carries the job's full state after the change, an
// OpForget record only the ID of a job dropped by Prune. The owner appends
// the records to its log buffer and writes them, group-committed, as
// immutable segments (EncodeRecords) through a LogStore; now and then it
// writes a snapshot of Shard.Jobs (EncodeSnapshot) and drops the segments
// the snapshot covers. A new owner rebuilds the shard by applying the
// snapshot's jobs and then the segments' records with Shard.Apply: the same
// records give the same state. When the two sides of a healed partition both
// logged a shard, Shard.Merge reconciles them job by job: an end state beats
// a live one, then the higher attempt, then the later update.
//
// The encoding is binary and versioned (a version byte, then a kind byte):
// IDs as 16 raw bytes, varints, type/queue/runner strings interned per
// segment, times as deltas from the job's creation. A typical record is
// about 55 bytes. Decoding checks every length against the input, so
// hostile bytes give ErrCorrupt, never a panic or a huge allocation.
//
// # Retention and uniqueness
//
// Finished jobs are kept for ShardConfig.Retention (1 h) for status queries,
// at most ShardConfig.MaxFinished (2000) per shard; Shard.Prune forgets the
// rest. A unique key is held by the newest job with that (queue, type, key)
// while it is younger than its UniqueTTL and queued, scheduled, running or
// succeeded: a cancelled or dead job frees its key so the work can be
// submitted again. Prune keeps a finished job past Retention while it holds
// its key, but MaxFinished still applies: under that pressure a key can be
// freed before its TTL.
//
// # Handlers and the executor
//
// A Registry maps types to Handlers; RegisterFunc adapts a typed function
// (payload decoded into In, a decode error is Permanent; Out encoded as the
// result). The Executor runs handlers on goroutines with a concurrency
// limit, a per-attempt timeout (Job.Timeout or the executor's default),
// panic recovery (a panic is a failed attempt carrying the value and a short
// stack) and cancellation by job ID; it reports each attempt as an Outcome,
// which the owner turns into a transition with Shard.Complete.
//
// # Defaults
//
// Retries: base 1 s doubling per attempt, capped at 1 h, ±10% jitter, 25
// attempts: a job that always fails is dead about 13 hours after its first
// attempt. The jitter of Fail is derived from a hash of the job's ID and
// attempt, not from a random source, so the transition stays a pure
// function while jobs that failed together still spread out. Executor:
// 100 concurrent handlers, 5 minutes per attempt. Limits: 1 MiB payloads,
// at most 100 attempts, 24 h timeouts, run-at at most 366 days ahead.
package jobs
