// Command fakeworker stands in for the shoal worker in the Kubernetes tests
// until those run the real one: it reads the environment deploy/ gives a
// worker, runs the real kubernetes discovery strategy with it, serves
// /healthz, /readyz (ready once discovery lists this pod itself) and /peers
// (the current peers as JSON) on POD_IP:SHOAL_HTTP_PORT, and exits 0 on
// SIGTERM after marking itself not ready.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/shoal-dev/shoal/pkg/discovery"
	k8sdisc "github.com/shoal-dev/shoal/pkg/discovery/kubernetes"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakeworker:", err)
		os.Exit(1)
	}
}

func run() error {
	log := zerolog.New(os.Stdout).With().Timestamp().Str("pod", os.Getenv("POD_NAME")).Logger()
	ip, port := os.Getenv("POD_IP"), os.Getenv("SHOAL_HTTP_PORT")
	if ip == "" || port == "" {
		return errors.New("POD_IP and SHOAL_HTTP_PORT are required")
	}
	if os.Getenv("SHOAL_DISCOVERY") != "kubernetes" {
		return fmt.Errorf("SHOAL_DISCOVERY=%q, want kubernetes", os.Getenv("SHOAL_DISCOVERY"))
	}
	if os.Getenv("SHOAL_SECRET") == "" {
		return errors.New("SHOAL_SECRET is empty: the Secret did not reach the process")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	cfg := k8sdisc.DefaultConfig()
	if s := os.Getenv("SHOAL_K8S_SERVICE"); s != "" {
		cfg.Service = s
	}
	if sel := os.Getenv("SHOAL_K8S_SELECTOR"); sel != "" {
		cfg.Mode, cfg.Selector = k8sdisc.ModePods, sel
	}
	cfg.Namespace = os.Getenv("SHOAL_K8S_NAMESPACE")
	cfg.Kubeconfig = os.Getenv("SHOAL_K8S_KUBECONFIG")
	strategy, err := k8sdisc.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer strategy.Stop()

	var draining atomic.Bool
	peers := func(r *http.Request) ([]discovery.Peer, error) { return strategy.Lookup(r.Context()) }
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ps, err := peers(r)
		self := false
		for _, p := range ps {
			self = self || p.Host == ip
		}
		if draining.Load() || err != nil || !self {
			http.Error(w, fmt.Sprintf("not ready: draining=%v self-listed=%v err=%v", draining.Load(), self, err), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/peers", func(w http.ResponseWriter, r *http.Request) {
		ps, err := peers(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(ps)
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info().Str("addr", ln.Addr().String()).Msg("fakeworker serving")

	go func() {
		for {
			select {
			case <-strategy.Changes():
				ps, err := strategy.Lookup(ctx)
				log.Info().Interface("peers", ps).AnErr("lookup_error", err).Msg("peers changed")
			case <-ctx.Done():
				return
			}
		}
	}()
	<-ctx.Done()
	draining.Store(true)
	log.Info().Msg("SIGTERM: leaving")
	return srv.Close()
}
