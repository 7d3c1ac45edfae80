// Package discovery answers "who might my peers be right now" for a shoal
// node, and keeps answering for the node's whole life: Olric looks for peers
// only while it starts, so the cluster layer needs a live view to form,
// grow and heal. It imports nothing else of shoal.
//
// # Strategies
//
// A Strategy looks the peers up once; New builds one from a Config (the
// flags of cmd/worker). The kubernetes strategy implements the same
// interface in its own package and is wired by cmd/worker.
//
//   - static (--discovery=static --peers=127.0.0.1,127.0.0.2,127.0.0.3): a
//     fixed list, for local development (one loopback IP per worker) and
//     fixed fleets. An entry is host or host:port, the port being the peer's
//     HTTP port when workers share one IP; [v6]:port for IPv6. Commas or
//     spaces separate entries; repeats count once.
//   - dns (--discovery=dns --dns-name=shoal-worker): the A and AAAA records
//     of a name: a Kubernetes headless service (set
//     publishNotReadyAddresses: true, or pods that are forming are not
//     listed) or a docker-compose service name. Peers have no port.
//   - dnssrv (--discovery=dnssrv --dns-name=_http._tcp.shoal-worker.ns.svc.cluster.local):
//     the SRV records of the name as given; each target is resolved to its
//     addresses and the SRV port is kept in Peer.Port, the HTTP port, so
//     name the SRV record of the HTTP port. Priority and weight are ignored.
//
// Both DNS strategies use the system resolver (resolv.conf with its search
// domains, /etc/hosts), or the server given by --dns-server=ip[:port]
// (DNSConfig.Resolver) through Go's resolver; --dns-timeout bounds a lookup
// (default 5s). net.Resolver is used rather than a DNS client library so
// that short names ("worker", "shoal-worker") resolve exactly as they do for
// every other program in the container; github.com/miekg/dns only serves the
// test zones.
//
// # Failure rules
//
// A transient error must never look like "everybody left" (libcluster's
// DNS and Kubernetes strategies returned an empty list on a failed lookup
// and disconnected every node).
//
//   - SERVFAIL, REFUSED, a timeout, an unreachable server: the lookup is an
//     error and the Watcher keeps the last known set.
//   - NXDOMAIN or an answer without records (ErrEmptyAnswer): Docker and
//     Kubernetes answer so while a service has no (ready) replicas, but also
//     for a moment during restarts and DNS reloads. The Watcher treats it as
//     a failed lookup until it has lasted WatcherConfig.EmptyGrace (default
//     1 minute); only then does it publish the empty set. A negative grace
//     never believes an empty answer.
//   - A strategy that returns no peers and no error is not believed either.
//   - A failed lookup logs one warning per streak of failures (then debug
//     lines), and one info line when lookups work again.
//
// # Watcher
//
// A Watcher runs a strategy: it looks up at start, every Interval (default
// 5s), on Refresh, and on every Notifier.Changes() signal of strategies that
// have one. Peers are sorted (IPs first, in address order) and deduplicated
// by Host+Port (ready if any duplicate is). A changed set is published after
// a Settle window (default 500ms) and one more lookup, so a burst of changes
// such as a rolling update is one update; the first set is published at
// once. Updates() is buffered 1 and holds only the newest set; Peers()
// returns the last published set.
package discovery
