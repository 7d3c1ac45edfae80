// Command bench measures shoal side by side with asynq + Redis and River +
// Postgres on one machine: no-op throughput (burn-down and steady),
// enqueue-to-start latency at half load, cost per job as N grows, and
// failover. It prints a table and can write a PNG chart and JSON.
//
//	bench -mode quick -chart bench.png
//
// Start Redis and Postgres first with scripts/services.sh start (make bench
// does it). `bench worker -system NAME` is the child worker the failover
// scenario kills; it is not meant to be run by hand.
package main

import (
	"context"
	"encoding/json"
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

	"github.com/shoal-dev/shoal/bench/chart"
	"github.com/shoal-dev/shoal/bench/harness"
	"github.com/shoal-dev/shoal/bench/systems/asynqsys"
	"github.com/shoal-dev/shoal/bench/systems/riversys"
	"github.com/shoal-dev/shoal/bench/systems/shoalsys"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		err = runWorker(ctx, os.Args[2:])
	} else {
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the flags shared by the bench and its child workers.
type options struct {
	redis            string
	pg               string
	asynqConcurrency int
	riverMaxWorkers  int
	riverConns       int
	shoalWorker      string
	shoalLogs        string
	shoalConcurrency int
}

func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.redis, "redis", envOr("BENCH_REDIS_ADDR", "127.0.70.1:16379"), "Redis address for asynq (env BENCH_REDIS_ADDR)")
	fs.StringVar(&o.pg, "pg", envOr("BENCH_PG_URL", "postgres://bench@127.0.70.2:15432/bench?sslmode=disable"), "Postgres URL for River (env BENCH_PG_URL)")
	fs.IntVar(&o.asynqConcurrency, "asynq-concurrency", asynqsys.DefaultConfig("").Concurrency, "asynq Config.Concurrency")
	fs.IntVar(&o.riverMaxWorkers, "river-max-workers", riversys.DefaultConfig("").MaxWorkers, "River QueueConfig.MaxWorkers")
	fs.IntVar(&o.riverConns, "river-conns", int(riversys.DefaultConfig("").MaxConns), "pgx pool size for River")
	fs.StringVar(&o.shoalWorker, "shoal-worker", os.Getenv("SHOAL_WORKER_BIN"), "shoal worker binary (env SHOAL_WORKER_BIN; scripts/bench.sh builds it)")
	fs.IntVar(&o.shoalConcurrency, "shoal-concurrency", shoalsys.DefaultConcurrency, "each shoal worker's --concurrency")
	fs.StringVar(&o.shoalLogs, "shoal-logs", "", "directory for the shoal nodes' logs")
}

func (o *options) args() []string {
	return []string{
		"-redis", o.redis, "-pg", o.pg,
		"-asynq-concurrency", strconv.Itoa(o.asynqConcurrency),
		"-river-max-workers", strconv.Itoa(o.riverMaxWorkers),
		"-river-conns", strconv.Itoa(o.riverConns),
	}
}

// system builds one system by name.
func (o *options) system(name string) (harness.System, error) {
	switch name {
	case "asynq":
		c := asynqsys.DefaultConfig(o.redis)
		c.Concurrency = o.asynqConcurrency
		return asynqsys.New(c)
	case "river":
		c := riversys.DefaultConfig(o.pg)
		c.MaxWorkers = o.riverMaxWorkers
		c.MaxConns = int32(o.riverConns)
		return riversys.New(c)
	case "shoal-1", "shoal-3":
		n := 1
		first := 11
		if name == "shoal-3" {
			n, first = 3, 21
		}
		c := shoalsys.DefaultConfig(o.shoalWorker, n, first)
		c.LogDir = o.shoalLogs
		c.Concurrency = o.shoalConcurrency
		return shoalsys.New(c)
	}
	return nil, fmt.Errorf("unknown system %q: choose from shoal-1, shoal-3, asynq, river", name)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o         options
		mode      = fs.String("mode", "quick", "quick (under five minutes for the peers) or full")
		systems   = fs.String("systems", "shoal-1,shoal-3,asynq,river", "systems to run, in the order runs alternate")
		subject   = fs.String("subject", "", "comma-separated systems whose ratios to the others are reported (default: every shoal system that runs, else the first)")
		reps      = fs.Int("reps", 0, "runs per scenario per system (0: the mode's default)")
		n         = fs.Int("n", 0, "jobs per throughput run (0: the mode's default)")
		sizes     = fs.String("sizes", "", "comma-separated job counts of the cost-per-job runs (default: the mode's)")
		latDur    = fs.Duration("latency-duration", 0, "duration of each fixed-rate latency run (0: the mode's default)")
		failover  = fs.String("failover", "", "computed, measure or skip (default: computed in quick, measure in full)")
		foTimeout = fs.Duration("failover-timeout", 0, "bound of one measured failover (0: the mode's default)")
		chartPath = fs.String("chart", "", "write a PNG chart of the results here")
		jsonPath  = fs.String("json", "", "write the raw results as JSON here")
		scenarios = fs.String("scenarios", "", "comma-separated subset of "+strings.Join(harness.Scenarios(), ",")+" (default: all)")
	)
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg harness.Config
	switch *mode {
	case "quick":
		cfg = harness.QuickConfig()
	case "full":
		cfg = harness.FullConfig()
	default:
		return fmt.Errorf("-mode must be quick or full, got %q", *mode)
	}
	if *reps > 0 {
		cfg.Reps = *reps
	}
	if *n > 0 {
		cfg.N = *n
	}
	if *sizes != "" {
		cfg.Sizes = nil
		for _, f := range strings.Split(*sizes, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("-sizes: %q is not a number", f)
			}
			cfg.Sizes = append(cfg.Sizes, v)
		}
	}
	if *latDur > 0 {
		cfg.LatencyDuration = *latDur
	}
	if *scenarios != "" {
		cfg.Scenarios = strings.Split(*scenarios, ",")
	}
	if *failover != "" {
		cfg.Failover = harness.FailoverMode(*failover)
	}
	if *foTimeout > 0 {
		cfg.FailoverTimeout = *foTimeout
	}

	var list []harness.System
	skipped := map[string]string{}
	for _, name := range strings.Split(*systems, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		s, err := o.system(name)
		if err != nil {
			if !errors.Is(err, harness.ErrUnavailable) && !errors.Is(err, shoalsys.ErrNoWorkerBinary) {
				return err
			}
			skipped[name] = err.Error()
			fmt.Fprintf(stderr, "bench: skipping %s: %v\n", name, err)
			continue
		}
		list = append(list, s)
	}
	r, err := harness.New(cfg, list, harness.WithProgress(stderr), harness.WithSubject(*subject), harness.WithMode(*mode))
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	env := harness.ExecChildEnv{
		Path:   self,
		Args:   func(system string) []string { return append([]string{"worker", "-system", system}, o.args()...) },
		Stderr: stderr,
	}
	loadBefore := loadAvg()
	res, runErr := r.Run(ctx, env)
	if res == nil {
		return runErr
	}
	res.Notes = append(machine(), fmt.Sprintf("load average (1m 5m 15m) at start: %s; at end: %s", loadBefore, loadAvg()))
	for k, v := range skipped {
		res.Skipped[k] = v
	}
	if err := harness.WriteTable(stdout, res); err != nil {
		return err
	}
	if *jsonPath != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonPath, b, 0o644); err != nil {
			return fmt.Errorf("write -json: %w", err)
		}
	}
	if *chartPath != "" && len(res.Systems) > 0 {
		if err := chart.WritePNG(*chartPath, res); err != nil {
			return fmt.Errorf("write -chart: %w", err)
		}
		fmt.Fprintf(stderr, "bench: chart written to %s\n", *chartPath)
	}
	return runErr
}

// runWorker is the child side of measured failover.
func runWorker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench worker", flag.ContinueOnError)
	var o options
	name := fs.String("system", "", "system whose worker to run")
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := o.system(*name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Hour)
	defer cancel()
	return harness.RunChild(ctx, s, os.Stdout)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
