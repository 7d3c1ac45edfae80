package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/pkg/discovery"
)

// ErrSecretRefused is returned by Start when the peers refuse this node's
// secret.
var ErrSecretRefused = errors.New("cluster: peers refuse this node's secret")

// probeHeader carries proof of the secret on formation probes.
const probeHeader = "X-Shoal-Token"

func probeToken(secret string) string {
	if secret == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("shoal-cluster-probe"))
	return hex.EncodeToString(m.Sum(nil))
}

// probeInfo is what GET /v1/cluster answers.
type probeInfo struct {
	Name           string `json:"name"`
	Addr           string `json:"addr"`
	ID             string `json:"id"`
	Joined         bool   `json:"joined"`
	ClusterID      string `json:"cluster_id"`
	ClusterSize    int    `json:"cluster_size"`
	MemberlistAddr string `json:"memberlist_addr"`
	Shards         int    `json:"shards"`
	State          string `json:"state"`
}

// probeResult is one peer's answer, or why there was none.
type probeResult struct {
	Info    probeInfo
	Refused bool // the peer refused our secret
}

type formKind int

const (
	formWait formKind = iota
	formBootstrap
	formJoin
)

type formDecision struct {
	Kind  formKind
	Peers []string // memberlist addresses to join
	Why   string
}

// decideFormation is the pure bootstrap rule, over advertised addresses.
// If some reachable peer is in a cluster already, join the biggest such
// cluster (ties: lowest cluster ID). Otherwise the candidate with the lowest
// address bootstraps and the others wait for it. Until the timeout, every
// candidate discovery lists counts, reachable or not (a peer still starting
// must not be skipped); after it, only the reachable ones do, so a dead
// address in a static list delays formation but does not block it.
func decideFormation(self string, candidates []string, probes []probeResult, elapsed, timeout time.Duration) formDecision {
	clusters := map[string][]probeInfo{}
	lowest := self
	if elapsed < timeout {
		for _, c := range candidates {
			if c < lowest {
				lowest = c
			}
		}
	}
	for _, p := range probes {
		if p.Refused || p.Info.Addr == self {
			continue
		}
		if p.Info.Joined && p.Info.ClusterID != "" && p.Info.State != string(StateDraining) {
			clusters[p.Info.ClusterID] = append(clusters[p.Info.ClusterID], p.Info)
			continue
		}
		if p.Info.Addr < lowest {
			lowest = p.Info.Addr
		}
	}
	if len(clusters) > 0 {
		var bestID string
		bestSize := -1
		for id, ms := range clusters {
			size := 0
			for _, m := range ms {
				if m.ClusterSize > size {
					size = m.ClusterSize
				}
			}
			if size > bestSize || (size == bestSize && id < bestID) {
				bestID, bestSize = id, size
			}
		}
		var peers []string
		for _, m := range clusters[bestID] {
			peers = append(peers, m.MemberlistAddr)
		}
		sort.Strings(peers)
		return formDecision{Kind: formJoin, Peers: peers, Why: "peers are in cluster " + bestID}
	}
	if lowest == self {
		return formDecision{Kind: formBootstrap, Why: "lowest address among the candidates"}
	}
	if elapsed >= timeout {
		return formDecision{Kind: formBootstrap, Why: "waited " + timeout.String() + " for " + lowest + " to bootstrap"}
	}
	return formDecision{Kind: formWait, Why: "waiting for " + lowest + " to bootstrap"}
}

// form finds the cluster to join (memberlist addresses), or none to
// bootstrap one.
func (n *Node) form(ctx context.Context) ([]string, error) {
	if n.watcher == nil {
		return nil, nil
	}
	start := time.Now()
	refusedRounds, bootstrapRounds := 0, 0
	lastWhy := ""
	// Wait for discovery's first answer: deciding on an empty candidate
	// list would make every node bootstrap alone.
	n.watcher.Refresh()
	waitUntil(time.Now().Add(3*time.Second), func() bool { return len(n.watcher.Peers()) > 0 })
	for {
		peers := n.watcher.Peers()
		// Routes first: the heartbeats of other joiners (who goes first)
		// travel over them.
		n.applyRoutes(peers)
		probes := n.probePeers(ctx, peers)
		var candidates []string
		for _, p := range peers {
			candidates = append(candidates, p.Host)
		}
		refused, accepted := 0, 0
		for _, p := range probes {
			if p.Refused {
				refused++
			} else {
				accepted++
			}
		}
		if refused > 0 && accepted == 0 {
			refusedRounds++
			if refusedRounds >= 3 {
				return nil, fmt.Errorf("%w: %d peer(s) answered but refused our secret; every node and client of a cluster needs the same SHOAL_SECRET (--secret)", ErrSecretRefused, refused)
			}
		} else {
			refusedRounds = 0
		}
		d := decideFormation(n.cfg.AdvertiseAddr, candidates, probes, time.Since(start), n.cfg.FormationTimeout)
		switch d.Kind {
		case formJoin:
			// Olric copes badly with several nodes joining at the same
			// moment (a joiner can wait forever for its routing table):
			// joiners take turns, lowest name first.
			if wait, why := joinTurn(time.Since(start), n.cfg.HeartbeatTimeout, n.cfg.FormationTimeout, n.joinerAhead()); wait {
				d = formDecision{Kind: formWait, Why: why}
				break
			}
			n.log.Info().Str("event", "formation").Str("decision", "join").Strs("peers", d.Peers).Msg(d.Why)
			return d.Peers, nil
		case formBootstrap:
			// Two rounds in a row, so that a peer that was just coming up
			// is seen before this node decides it is alone.
			bootstrapRounds++
			if refusedRounds > 0 || bootstrapRounds < 2 {
				break
			}
			n.log.Info().Str("event", "formation").Str("decision", "bootstrap").Msg(d.Why)
			return nil, nil
		}
		if d.Kind != formBootstrap {
			bootstrapRounds = 0
		}
		if d.Why != lastWhy {
			n.log.Info().Str("event", "formation").Str("decision", "wait").Msg(d.Why)
			lastWhy = d.Why
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: formation cancelled: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
			n.watcher.Refresh()
		}
	}
}

// joinTurn decides whether a node that found a cluster to join waits for
// its turn. Joiners take turns, lowest name first (ahead: the lowest-named
// peer whose heartbeat says it is joining, "" if none). A node first
// listens for one heartbeat timeout (listen) after it set up its routes:
// two workers started at the same moment would otherwise both decide before
// either heard the other, and both join at once (seen in containers: one of
// them then waited 13 s for Olric and had to start afresh). After timeout
// it joins regardless.
func joinTurn(elapsed, listen, timeout time.Duration, ahead string) (wait bool, why string) {
	switch {
	case elapsed >= timeout:
		return false, ""
	case ahead != "":
		return true, "waiting for " + ahead + " to finish joining"
	case elapsed < listen:
		return true, "listening for other joiners before joining"
	}
	return false, ""
}

// joinerAhead names a peer with a lower name that is joining right now
// (its heartbeat says joining), if any.
func (n *Node) joinerAhead() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	ahead := ""
	for _, p := range n.peers {
		if p.hb.State == StateJoining && p.hb.Name < n.cfg.Name && now.Sub(p.seen) <= n.cfg.HeartbeatTimeout {
			if ahead == "" || p.hb.Name < ahead {
				ahead = p.hb.Name
			}
		}
	}
	return ahead
}

// probePeers asks every candidate what it is, concurrently.
func (n *Node) probePeers(ctx context.Context, peers []discovery.Peer) []probeResult {
	var mu sync.Mutex
	var out []probeResult
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	tok := probeToken(n.cfg.Secret)
	for _, p := range peers {
		if p.Host == n.cfg.AdvertiseAddr && (p.Port == 0 || p.Port == n.cfg.HTTPPort) {
			continue
		}
		port := p.Port
		if port == 0 {
			port = n.cfg.HTTPPort
		}
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/cluster", nil)
			if err != nil {
				return
			}
			if tok != "" {
				req.Header.Set(probeHeader, tok)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var r probeResult
			switch resp.StatusCode {
			case http.StatusOK:
				if json.NewDecoder(resp.Body).Decode(&r.Info) != nil || r.Info.Name == n.cfg.Name {
					return
				}
				if r.Info.Shards != n.cfg.Shards {
					n.log.Error().Str("peer", addr).Int("peer_shards", r.Info.Shards).Int("shards", n.cfg.Shards).
						Msg("peer runs with another shard count; ignoring it. Use the same --shards on every node")
					return
				}
			case http.StatusForbidden:
				r.Refused = true
				n.log.Warn().Str("peer", addr).Msg("peer refuses our secret: every node needs the same SHOAL_SECRET")
			default:
				return
			}
			mu.Lock()
			out = append(out, r)
			mu.Unlock()
		}(net.JoinHostPort(p.Host, strconv.Itoa(port)))
	}
	wg.Wait()
	return out
}
