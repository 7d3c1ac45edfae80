// Package olricstore embeds an Olric node in a shoal worker and builds on it
// the shard-log store (jobs.LogStore), the shard lease store (lease.Store)
// and a small KV for node records with a cluster-wide "take turns" lock.
//
// # Starting
//
// Start runs olric.Start in a goroutine and returns once the node serves
// requests. It fails early with ErrPortInUse when a port is taken; with
// ErrSecretMismatch when a peer answers but refuses our gossip key; with
// ErrJoinFailed when Peers were given and none answered within JoinTimeout
// (unless FormAloneIfJoinFails: Olric itself would silently form a new,
// separate cluster). Readiness is detected by pinging the node, not only by
// Olric's Started callback: Olric counts start checkpoints in process-wide
// globals, so one node that failed to start in a process keeps the callback
// of every later node in that process from ever firing.
//
// Olric's and memberlist's log lines go to the zerolog Logger (DEBUG and
// INFO at debug, WARN and ERROR at warn). Secret: a memberlist SecretKey
// (AES-256) and Olric's password are both derived from Config.Secret.
//
// Everything lives in one DMap, "shoal": one storage fragment per
// partition instead of one per partition and DMap. Key prefixes: "L|" shard
// logs (layout in logstore.go), "S|" leases (leases.go), "K|" KV records.
//
// # Shard log layout (no Scan)
//
//	L|<shard>|<epoch>|w                 writers of (shard, epoch), updated under an Olric lock
//	L|<shard>|<epoch>|<writer>|lo       floor: seqs below it are deleted (absent: 1)
//	L|<shard>|<epoch>|<writer>|<seq>    a segment: inline data, a chunk manifest, or a tombstone
//	L|<shard>|snap                      the snapshot: epoch, seq, writer, then data or manifest
//	L|c|<nonce>|<i>                     chunks of values above TableSize/4
//
// ListSegments = one Get of the writers index, then per writer Gets from
// the floor up to the first absent seq. DeleteSegments raises the floor over
// the deleted prefix before deleting, and turns a segment deleted out of
// order into a tombstone, so the walk stays correct after compaction.
// AppendSegment is a Put NX (ErrSegmentExists) replicated synchronously.
//
// # Leases
//
// A grant is the key S|<shard> = "<token> <epoch> <owner>", written with
// Put NX PX(ttl) after a cluster-wide Get (which, unlike NX, also asks a
// partition's previous owners and backups). The epoch comes from S|<shard>|e,
// read and bumped while holding the grant. Renew re-puts the grant (XX,
// PX) after checking the token; Release deletes it after the same check;
// both only while the grant is live by the holder's clock, bounded by a
// deadline before Expires. Olric's LockContext.Lease is not used: with
// ReplicaCount > 1 its Expire replicates an entry with an empty value, and
// the second renewal fails (see "Problems in Olric").
//
// # Measurements (2 shared cores, loopback, Olric 0.7.4, go1.26)
//
// Rerun: go build -o /tmp/measure ./pkg/cluster/olricstore/internal/measure
// then /tmp/measure rss [-defaults] [-nodes 3]; /tmp/measure throughput;
// /tmp/measure failover -trials 4. Tuned = this package's defaults (23
// partitions, 256 KiB tables); Olric defaults = 271 partitions, 1 MiB tables.
//
//	idle RSS, one node in a process:        22.6 MB tuned, 23.2 MB Olric defaults (21.7 MB before Start)
//	after 500 segments x 200 records (100k records, 13.2 MB), one node:
//	                                        39.7 MB tuned, 39.3 MB defaults
//	the same on 3 nodes in one process, replica 2:
//	                                        56.2 MB tuned, 57.1 MB defaults (idle 24.3 / 26.1 MB)
//	AppendSegment, 3 nodes replica 2, 16 writers, 200-record (26 KB) segments:
//	                                        ~2,400 segments/s = ~475k records/s = ~63 MB/s, worst 157 ms
//	kill -9 of 1 of 3 nodes (separate process), with DefaultTiming:
//	   declared dead:                       0.85 - 1.2 s (4 trials)
//	   Puts OK again on every partition:    0.85 - 1.2 s (right after the routing table push)
//	   lease Acquire OK on every partition: 0.95 s when no acquire was in flight at the
//	                                        kill; 2.6 - 3.1 s when one was: an acquire
//	                                        whose NX landed but whose epoch write hit the
//	                                        dead member leaves its grant to expire (TTL 2 s)
//
// Memory: table pages are only resident once written, so table size and
// partition count barely move RSS (the tables are virtual until used); RSS
// follows the data held, about 1.3x the bytes written per copy. The tuned
// values matter for the worst case (a fragment fills a 1 MiB table that a
// compaction later has to copy) and for the number of fragments to migrate.
//
// # Problems in Olric 0.7.4 (worked around here)
//
//   - Expire (and so LockContext.Lease) with ReplicaCount > 1 replicates an
//     entry with an empty value and a newer timestamp: the next Get returns
//     an empty value; Olric's own lock cannot be renewed twice.
//   - Get on the key's owner returns a slice of the storage table itself:
//     writing to it changes the stored value. Copied here.
//   - Incr/Decr/GetPut are atomic only per calling node (a node-local lock
//     around a Get and a Put): two nodes incrementing at once can both get
//     the same value. Not used for epochs.
//   - Put NX checks only the current primary's local fragment, not previous
//     owners: right after a membership change, before fragments migrate, NX
//     can succeed on a key that exists. The lease store does a cluster Get
//     first; ErrSegmentExists may be missed in that window.
//   - The Started callback depends on process-wide counters (see Starting).
//   - Olric cannot pick a free port (BindPort 0); Shutdown after a failed
//     Start may panic (guarded); a node that found no peer forms its own
//     cluster silently.
//   - A sync-replicated write fails with the network error of a dead backup
//     until the dead member is removed from the routing table: writes to
//     about 2/3 of the partitions fail for the detection time after a crash.
package olricstore
