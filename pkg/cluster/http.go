package cluster

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpServer serves health, readiness, metrics and the formation probe.
type httpServer struct {
	srv *http.Server
	ln  net.Listener
}

func startHTTP(n *Node) (*httpServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-n.ctx.Done():
			http.Error(w, "stopping", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ok\n"))
		}
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := n.Ready(); !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(n.met.reg, promhttp.HandlerOpts{}))
	tok := probeToken(n.cfg.Secret)
	mux.HandleFunc("/v1/cluster", func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(probeHeader)), []byte(tok)) != 1 {
			http.Error(w, "secret mismatch: every node of a cluster needs the same SHOAL_SECRET", http.StatusForbidden)
			return
		}
		n.mu.Lock()
		info := probeInfo{
			Name: n.cfg.Name, Addr: n.cfg.AdvertiseAddr, ID: n.id, Joined: n.joined.Load(), ClusterID: n.clusterID, ClusterSize: n.olricSize,
			MemberlistAddr: n.memberlistAddr(), Shards: n.cfg.Shards, State: string(n.State()),
		}
		n.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(info)
	})
	mux.HandleFunc("/v1/members", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(n.Members())
	})
	addr := net.JoinHostPort(n.cfg.BindAddr, strconv.Itoa(n.cfg.HTTPPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: HTTP listener on %s: %w (pick another with --http-port)", addr, err)
	}
	h := &httpServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go func() {
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error().Err(err).Msg("HTTP server stopped")
		}
	}()
	return h, nil
}

func (h *httpServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
}

// Ready reports whether the node has joined a cluster and serves the
// shards its plan gives it; why says what is missing.
func (n *Node) Ready() (bool, string) {
	if !n.joined.Load() {
		return false, "not joined yet"
	}
	if s := n.State(); s != StateActive {
		return false, "node is " + string(s)
	}
	if n.readyFlag.Load() {
		// Once ready, a node stays ready while active: a rebalance must not
		// flap it out of its Service.
		return true, ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for s, owner := range n.plan {
		if owner != n.cfg.Name {
			continue
		}
		if sr := n.shards[s]; sr == nil || !sr.isServing() {
			return false, fmt.Sprintf("shard %d not loaded yet", s)
		}
	}
	if len(n.plan) == 0 {
		return false, "no placement yet"
	}
	n.readyFlag.Store(true)
	return true, ""
}
