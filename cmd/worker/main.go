// Command worker runs one shoal node: it finds its peers, joins (or forms)
// the cluster, takes its share of the shards and runs their jobs. With no
// flags it is a one-node cluster on 127.0.0.1 with the default ports.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/shoal-dev/shoal/pkg/builtin"
	"github.com/shoal-dev/shoal/pkg/cluster"
	"github.com/shoal-dev/shoal/pkg/discovery"
	k8s "github.com/shoal-dev/shoal/pkg/discovery/kubernetes"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

func run(args []string, getenv func(string) string, stderr io.Writer) int {
	o, err := parseFlags(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	log, err := newLogger(o.logFormat, o.logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	reg := jobs.NewRegistry()
	if err := builtin.Register(reg, o.builtin); err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	strategy, stopDiscovery, err := newStrategy(ctx, o, log)
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	defer stopDiscovery()
	o.node.Discovery = strategy
	o.node.Registry = reg
	o.node.Logger = log
	node, err := cluster.New(o.node)
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	startErr := make(chan error, 1)
	go func() { startErr <- node.Start(ctx) }()
	select {
	case err := <-startErr:
		if err != nil {
			log.Error().Err(err).Msg("could not start")
			if errors.Is(err, cluster.ErrJoin) {
				node.Kill()
				if code, retried := retryStart(getenv, log); retried {
					return code
				}
			}
			fmt.Fprintf(stderr, "worker: %v\n", err)
			return 1
		}
	case s := <-sigs:
		log.Info().Str("signal", s.String()).Msg("signal before the node joined; stopping")
		cancel()
		<-startErr
		node.Kill()
		return 1
	}
	_ = os.Unsetenv("SHOAL_START_ATTEMPT") // joined: a later restart counts afresh
	var s os.Signal
	select {
	case s = <-sigs:
	case <-node.Done():
		if node.RestartRequested() {
			return restartSelf(log, stderr)
		}
		log.Error().Msg("node stopped on its own")
		return 1
	}
	log.Info().Str("signal", s.String()).Msg("draining; send the signal again to exit at once")
	stopped := make(chan struct{})
	go func() {
		node.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		log.Info().Msg("stopped")
		return 0
	case s := <-sigs:
		log.Warn().Str("signal", s.String()).Msg("second signal: exiting without finishing the drain")
		return 1
	case <-time.After(o.node.DrainTimeout + o.node.LeaveTimeout + 10*time.Second):
		log.Error().Msg("drain did not finish in time; exiting")
		return 1
	}
}

// restartSelf re-executes the worker with the same arguments and
// environment: healing moved this node's jobs into a bigger cluster, and a
// fresh process joins that cluster at formation.
func restartSelf(log zerolog.Logger, stderr io.Writer) int {
	exe, err := os.Executable()
	if err == nil {
		log.Warn().Str("event", "restart").Msg("restarting to join the bigger cluster")
		err = syscall.Exec(exe, os.Args, os.Environ())
	}
	fmt.Fprintf(stderr, "worker: could not restart to join the bigger cluster: %v; start it again\n", err)
	return 1
}

// maxStartAttempts bounds how often the worker starts itself afresh when
// it could not join the Olric cluster. A worker restarted at the address
// of one that just crashed needed three attempts (about 36 s) here; six
// (about two minutes) leave room on a busy cluster.
const maxStartAttempts = 6

// retryStart re-executes the worker after a failed join, at most
// maxStartAttempts times in a row (counted in SHOAL_START_ATTEMPT).
func retryStart(getenv func(string) string, log zerolog.Logger) (int, bool) {
	attempt := 1
	if v, err := strconv.Atoi(getenv("SHOAL_START_ATTEMPT")); err == nil {
		attempt = v
	}
	if attempt >= maxStartAttempts {
		return 1, false
	}
	log.Warn().Int("attempt", attempt+1).Msg("starting afresh to join the cluster")
	time.Sleep(time.Duration(attempt) * time.Second)
	_ = os.Setenv("SHOAL_START_ATTEMPT", strconv.Itoa(attempt+1))
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, os.Environ())
	}
	log.Error().Err(err).Msg("could not start afresh")
	return 1, false
}

// newStrategy builds the discovery strategy the flags name.
func newStrategy(ctx context.Context, o *options, log zerolog.Logger) (discovery.Strategy, func(), error) {
	noop := func() {}
	switch o.discovery {
	case "kubernetes", "k8s":
		cfg := k8s.DefaultConfig()
		if o.k8sService != "" {
			cfg.Service = o.k8sService
		}
		if o.k8sSelector != "" {
			cfg.Mode = k8s.ModePods
			cfg.Selector = o.k8sSelector
		}
		cfg.Namespace = o.k8sNamespace
		cfg.Kubeconfig = o.k8sKubeconfig
		s, err := k8s.New(ctx, cfg, log.With().Str("component", "discovery").Logger())
		if err != nil {
			return nil, noop, err
		}
		return s, s.Stop, nil
	case "static":
		hosts := splitList(o.peers)
		if len(hosts) == 0 {
			return nil, noop, nil // a one-node cluster
		}
		s, err := discovery.New(discovery.Config{Strategy: "static", Hosts: hosts})
		return s, noop, err
	default:
		s, err := discovery.New(discovery.Config{Strategy: o.discovery, DNS: discovery.DNSConfig{Name: o.dnsName, Resolver: o.dnsServer}})
		return s, noop, err
	}
}

// newLogger builds the zerolog logger: JSON by default, console output on a
// terminal or when asked.
func newLogger(format, level string, w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "console"
		}
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format %q: use json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
