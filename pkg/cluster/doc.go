// Package cluster is the shoal node: it wires discovery, the embedded Olric
// and NATS servers, placement, shard leases, the shard logs and the
// executor, and serves the NATS API that `submit` speaks.
//
// # Life of a node
//
// Start brings up the embedded NATS server and the HTTP endpoints first, so
// that peers can probe the node, then forms or joins a cluster:
//
//   - Formation: the node probes the peers discovery returns (GET
//     /v1/cluster, authenticated with an HMAC of the secret). If some peer is
//     in a cluster already, it joins the biggest such cluster. Otherwise the
//     candidate with the lowest name bootstraps and the others wait for it;
//     after FormationTimeout a node bootstraps alone (healing merges later).
//     Olric joins peers only while it starts, which is why the decision is
//     taken before Olric starts.
//   - Membership: every node publishes a heartbeat on NATS every
//     HeartbeatInterval (name, incarnation ID, state, Olric cluster
//     identity, shards held, running job IDs). The active members for
//     placement are the nodes of the same Olric cluster whose heartbeat is
//     fresh and whose state is active. Views are coalesced (Settle quiet
//     time, MaxSettle at most), so a burst of joins or leaves is one
//     rebalance.
//   - Placement: package placement maps each of the Shards shards to an
//     active member with bounded-load consistent hashing. A node serves a
//     shard only under its lease (package lease, in Olric): the new owner
//     takes it when the old one releases it (graceful move) or when it
//     expires (crash).
//   - Shard logs: the owner holds a shard's jobs in memory (jobs.Shard) and
//     appends every change to a buffer that a per-shard flusher writes as one
//     immutable Olric segment (group commit). A submit is acknowledged once
//     its segment is written. Start and finish records ride the next flush:
//     a crash before it re-runs the job (at-least-once). The owner compacts
//     into a snapshot; a new owner loads the snapshot and the segments of
//     the epochs after it, requeues jobs whose runner is gone, and writes a
//     fresh snapshot at its own epoch. Olric's reads can miss keys while it
//     moves partitions after a member died, so a load that had no hand-off
//     reads the old epochs again LogRecheck (3 s) and 5 x LogRecheck later
//     and merges the jobs only those reads find (event=log_recheck,
//     shoal_log_recheck_jobs_total); the old segments are deleted after
//     that. A shard taken before (lease epoch > 1) whose snapshot cannot be
//     found is not loaded empty: the load is retried.
//   - Hand-offs: a graceful move publishes the shard's final state to every
//     node (subject shoal.int.handoff); nodes keep it 5 minutes, so the next
//     owner loads from it even if it takes the shard late, and a load that
//     fails keeps it for the next try.
//   - Leases: a node waiting for a shard's lease retries with backoff (to
//     250 ms while it is held, 1 s while Olric fails) and at once when the
//     previous holder's hand-off message arrives.
//   - Runners: a job runs on the node that owned its shard when it started.
//     If the shard moves meanwhile, the runner reports the outcome to the
//     new owner over NATS. The owner requeues a running job (attempt
//     counted) when its runner's heartbeat stops, or when the runner no
//     longer lists it for a while (a lost report).
//   - Drain (Stop): the node announces it is draining, so its shards move
//     at once; running jobs get DrainTimeout to finish, the rest are handed
//     back as queued (attempt given back). It leaves Olric only after every
//     active member holds its shards snapshotted since the last membership
//     change, taking turns with other leavers through an Olric lock, so no
//     departure outruns replication.
//   - Healing: a node that sees, for three seconds, heartbeats of a bigger
//     Olric cluster (two clusters formed apart, or the two sides of a healed
//     partition) hands back its running jobs, exports every job it holds,
//     restarts Olric joined to the bigger cluster, and imports the jobs
//     there; owners merge them by job ID (jobs.Shard.Merge).
//
// # Rebalance log line
//
// Each rebalance is logged once per node when its gained shards are all
// served: event=rebalance, members_before, members_after, shards_gained,
// shards_lost, gained, lost, jobs_moved_in, jobs_moved_out, took_ms.
package cluster
