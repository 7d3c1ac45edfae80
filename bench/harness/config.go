package harness

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Scenarios names the scenarios in the order they run.
func Scenarios() []string {
	return []string{"burn-down", "steady", "latency", "scale", "failover", "rss"}
}

func (c Config) runs(scenario string) bool {
	return len(c.Scenarios) == 0 || slices.Contains(c.Scenarios, scenario)
}

// FailoverMode says how the failover scenario gets its figure.
type FailoverMode string

// Failover modes.
const (
	// FailoverComputed reports only what the documented defaults imply.
	FailoverComputed FailoverMode = "computed"
	// FailoverMeasure also kills real workers, for systems whose computed
	// maximum fits in the failover timeout.
	FailoverMeasure FailoverMode = "measure"
	// FailoverSkip leaves the scenario out.
	FailoverSkip FailoverMode = "skip"
)

// Config says what the harness runs. Start from QuickConfig or FullConfig.
type Config struct {
	// Reps is how many times each system runs each scenario; runs alternate
	// between systems (A B A B ...).
	Reps int
	// N is the job count of the burn-down and steady throughput runs.
	N int
	// Sizes are the job counts of the cost-per-job (scale) runs.
	Sizes []int
	// ScaleReps is how many times each size runs per system.
	ScaleReps int
	// LatencyDuration is how long jobs are enqueued at a fixed rate in the
	// latency scenario.
	LatencyDuration time.Duration
	// LatencyLoad is the fraction of the system's median burn-down
	// throughput at which the latency scenario enqueues (0.5: half load).
	LatencyLoad float64
	// LatencyProducers is how many goroutines enqueue single jobs in the
	// latency scenario.
	LatencyProducers int
	// Failover chooses computed, measured or skipped failover figures.
	Failover FailoverMode
	// FailoverRuns is how many kills are measured per system.
	FailoverRuns int
	// FailoverTimeout bounds one measured failover; a system whose computed
	// maximum exceeds it is reported as computed only.
	FailoverTimeout time.Duration
	// RSSNodes and RSSQueued size the memory scenario: a cluster of
	// RSSNodes nodes, idle and then with RSSQueued queued jobs. RSSNodes 0
	// leaves the scenario out.
	RSSNodes  int
	RSSQueued int
	// Scenarios lists the scenarios to run, of Scenarios(); empty runs all.
	Scenarios []string
	// RunTimeout bounds any one run; a run that exceeds it is reported as
	// failed, never waited for forever.
	RunTimeout time.Duration
}

// QuickConfig is the mode that finishes in under five minutes for shoal
// (1 and 3 nodes) and the two peers on a 2-core machine. Its burn-down runs
// at N = 10,000 double as the 10,000-job point of the scale scenario.
func QuickConfig() Config {
	return Config{
		Reps:             3,
		N:                10_000,
		Sizes:            []int{10_000, 100_000},
		ScaleReps:        1,
		LatencyDuration:  3 * time.Second,
		LatencyLoad:      0.5,
		LatencyProducers: 64,
		Failover:         FailoverComputed,
		FailoverRuns:     3,
		FailoverTimeout:  4 * time.Minute,
		RSSNodes:         4,
		RSSQueued:        100_000,
		RunTimeout:       time.Minute,
	}
}

// FullConfig is the mode for published figures: more jobs, more runs, the
// 1M-job scale point and measured failover where it fits the timeout.
func FullConfig() Config {
	return Config{
		Reps:             5,
		N:                100_000,
		Sizes:            []int{10_000, 100_000, 1_000_000},
		ScaleReps:        3,
		LatencyDuration:  20 * time.Second,
		LatencyLoad:      0.5,
		LatencyProducers: 64,
		Failover:         FailoverMeasure,
		FailoverRuns:     3,
		FailoverTimeout:  4 * time.Minute,
		RSSNodes:         4,
		RSSQueued:        100_000,
		RunTimeout:       15 * time.Minute,
	}
}

// ErrBadConfig is wrapped by every error of Validate.
var ErrBadConfig = errors.New("invalid bench config")

// Validate reports the first field that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Reps < 1:
		return fmt.Errorf("%w: reps must be at least 1", ErrBadConfig)
	case c.N < 1:
		return fmt.Errorf("%w: n must be at least 1", ErrBadConfig)
	case c.ScaleReps < 0:
		return fmt.Errorf("%w: scale reps must not be negative", ErrBadConfig)
	case c.LatencyLoad <= 0 || c.LatencyLoad > 1:
		return fmt.Errorf("%w: latency load must be in (0, 1], got %v", ErrBadConfig, c.LatencyLoad)
	case c.LatencyProducers < 1:
		return fmt.Errorf("%w: latency producers must be at least 1", ErrBadConfig)
	case c.LatencyDuration < time.Second:
		return fmt.Errorf("%w: latency duration must be at least 1s", ErrBadConfig)
	case c.RSSNodes < 0 || c.RSSQueued < 0:
		return fmt.Errorf("%w: rss nodes and queued jobs must not be negative", ErrBadConfig)
	case c.RunTimeout <= 0:
		return fmt.Errorf("%w: run timeout must be positive", ErrBadConfig)
	}
	for _, sc := range c.Scenarios {
		if !slices.Contains(Scenarios(), sc) {
			return fmt.Errorf("%w: unknown scenario %q, choose from %v", ErrBadConfig, sc, Scenarios())
		}
	}
	for _, s := range c.Sizes {
		if s < 1 {
			return fmt.Errorf("%w: sizes must be positive, got %d", ErrBadConfig, s)
		}
	}
	switch c.Failover {
	case FailoverComputed, FailoverMeasure, FailoverSkip:
	default:
		return fmt.Errorf("%w: failover must be computed, measure or skip, got %q", ErrBadConfig, c.Failover)
	}
	return nil
}
