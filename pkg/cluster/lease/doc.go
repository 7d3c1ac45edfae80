// Package lease holds the shard lease: who may serve a shard, under which
// epoch, until when.
//
// A node serves a shard only while it holds the shard's lease. The lease is
// granted by a Store (the in-memory MemStore here, the Olric store in
// pkg/cluster/olricstore) for a TTL and renewed well before it ends. Every
// grant of a shard carries an Epoch greater than every earlier epoch of that
// shard: writes are tagged with it, and nothing written under an older epoch
// is trusted once a newer one exists.
//
// Rules.Decide is the pure decision core the owner's loop calls on each tick:
// given the time, the lease held (if any) and whether placement wants the
// shard here, it says Acquire, Renew, Release, Stop or None. It never does
// I/O; the loop does the Store call and feeds the result back.
//
// Expires in a Lease is the holder's conservative view: the local time taken
// before the request was sent, plus the TTL. The store's own expiry is at or
// after it, so a holder that stops serving at Expires - SafetyMargin stops
// before anybody else can be granted the shard, as long as clocks advance at
// about the same rate (no assumption on their absolute values is made).
//
// A lease that reached its expiry is lost even if nobody took it: Renew
// returns ErrLost and the owner acquires again, under a new epoch.
package lease
