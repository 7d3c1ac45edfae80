// Package placement decides which member owns which shard. It is pure: no
// I/O, no clock, no state between calls, and it imports nothing else of
// shoal. Every node computes the same owners from the same inputs (the
// Config and the set of active member names), so the inputs, and the hash,
// must be identical on all nodes of a cluster; TestScenarios pins a few
// results so that a change of the function cannot go unnoticed.
//
//	owners, err := placement.Assign(cfg, members)   // owners[shard] = member
//	moves := placement.Diff(oldOwners, owners)       // what changed
//	gained, lost := placement.Summarize(moves, self) // what it means for me
//
// # Algorithm
//
// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam:
// "Consistent Hashing with Bounded Loads", 2017). Each member puts
// ReplicationFactor virtual nodes on a 64-bit ring (XXH64 of the name
// followed by the 4-byte vnode index). Shard i sits at i/Shards of the ring.
// Shards are visited in order; each goes to the first member clockwise that
// owns fewer than ceil(Load × Shards / members) shards. Member order and
// duplicates do not matter (names are sorted and deduplicated; hash ties are
// broken by name). Members may outnumber shards: some then own none.
//
// On a join, the shards that move go to the new member, except a few that
// the load bound moves between others (its capacity shrinks with every
// member). On a leave, only the leaver's shards move, except a few that the
// bound had pushed away from their ring owner and that may now go back.
// No member ever owns more than ceil(Load × mean).
//
// # Why not github.com/buraksezer/consistent
//
// Olric's own library (v0.10.0) implements the same algorithm, but it is
// not usable as the source of truth of ownership:
//
//   - It is not deterministic: a virtual node's key is the name followed by
//     the decimal index, so "10.0.0.1" vnode 10 and "10.0.0.11" vnode 0 are
//     the same key. Whichever member is added last takes the point, so with
//     members 10.0.0.1..12 two nodes that list them in different orders
//     disagree on 13 of 256 shards (ReplicationFactor 20).
//   - It panics ("not enough room to distribute partitions") when members
//     outnumber partitions: its capacity is floor(Shards/members) × Load.
//   - It hashes shard numbers onto the ring; spreading them evenly moves
//     fewer shards (see below).
//
// # Figures
//
// Shards moved when member N+1 joins N members, 256 shards, Load 1.25,
// ReplicationFactor 200, over 200 random sets of pod names
// ("shoal-worker-<rs>-<5 chars>"); "forced" counts the moves per join that
// did not go to the new member (all of them caused by the load bound):
//
//	N+1  ideal   mean   min   max  sigma  within 10%  forced
//	  2  128.0  128.7   110   147    8.0     87%      0.00
//	  3   85.3   84.9    69   100    7.5     78%      0.04
//	  4   64.0   63.4    46    78    6.9     68%      0.01
//	  5   51.2   51.7    35    72    6.4     67%      0.07
//	  6   42.7   42.6    29    54    6.0     58%      0.10
//	  7   36.6   36.5    23    46    5.6     58%      0.20
//	  8   32.0   32.2    20    40    5.3     51%      0.41
//	  9   28.4   29.3    17    38    5.0     42%      0.52
//	 10   25.6   26.6    15    35    4.8     44%      0.77
//	 11   23.3   24.5    13    36    4.6     34%      0.79
//
// Fixed name sets, moved/ideal for N+1 = 2..11 (+forced moves):
//
//	10.0.0.x        134/128 91/85 65/64 46/51 44/43 32/37 40/32 26/28 25/26 24/23
//	127.0.0.x:3320  122/128 89/85 63/64 51/51 43/43 37/37 29/32 25/28 31/26 21/23(+1)
//	n1, n2, ...     128/128 82/85 63/64 56/51 37/43 36/37 26/32 26/28 31/26 22/23
//	shoal-worker-7c9f-xxxxx  123/128 83/85 68/64 47/51 48/43 37/37 30/32 26/28 29/26(+2) 29/23(+1)
//
// On average the number moved is the ideal Shards/(N+1) (within 5%), but a
// single join is within 10% of it only in the fraction shown. That is not a
// flaw of this implementation: any placement where each shard's owner is a
// hash of the names gives the new member a binomial share of the shards,
// with standard deviation sigma = sqrt(Shards × p × (1-p)), p = 1/(N+1):
// 4.6 shards, 20% of the ideal 23.3, at N+1 = 11. Guaranteeing ±10% for
// every join needs either many more shards (about 400 × N: the relative
// spread falls as 1/sqrt(Shards/N)) or exact balancing, which a stateless
// function cannot do without moving shards between old members (measured
// with an exactly balanced variant: about 5.5 moves per join between old
// members, averaged over N+1 = 2..11, which is worse than the spread).
// The tests therefore check: every moved shard goes to the joiner (or from
// the leaver) or is forced by the bound; the mean over many name sets is
// within 10% of the ideal; each single join is within 4 sigma; the bound
// always holds; the result does not depend on order. Run
// `go test -run Figures -v` to print the table.
//
// Assign costs about 0.05 ms for 3 members, 0.2 ms for 10 and 3 ms for 100
// (2-core machine), so computing it on every membership change is cheap.
package placement
