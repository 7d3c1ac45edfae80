package harness

import "time"

// SystemInfo names a system and its configuration as printed.
type SystemInfo struct {
	Name   string `json:"name"`
	Config string `json:"config"`
}

// ThroughputRun is one burn-down or steady run.
type ThroughputRun struct {
	// N is the number of jobs.
	N int `json:"n"`
	// Enqueue is the time to enqueue the N jobs (burn-down: before workers
	// start; steady: while they work).
	Enqueue time.Duration `json:"enqueue_ns"`
	// Work is from the workers' start to the last completion (burn-down), or
	// from the first enqueue to the last completion (steady).
	Work time.Duration `json:"work_ns"`
	// Err is set when the run failed; the figures are then meaningless.
	Err string `json:"err,omitempty"`
}

// JobsPerSec is N over Work.
func (t ThroughputRun) JobsPerSec() float64 {
	if t.Work <= 0 || t.Err != "" {
		return 0
	}
	return float64(t.N) / t.Work.Seconds()
}

// LatencyRun is one fixed-rate run.
type LatencyRun struct {
	// Rate is the target rate in jobs/s; Achieved the enqueue rate reached.
	Rate     float64 `json:"rate"`
	Achieved float64 `json:"achieved"`
	// Jobs is how many latencies were recorded.
	Jobs int           `json:"jobs"`
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
	Err  string        `json:"err,omitempty"`
}

// FailoverResult is the failover figure of one system.
type FailoverResult struct {
	Estimate FailoverEstimate `json:"estimate"`
	// Measured holds the measured waits, if any were measured.
	Measured []time.Duration `json:"measured_ns,omitempty"`
	// Note says why nothing was measured, or what failed.
	Note string `json:"note,omitempty"`
}

// RSSResult is the resident memory of a cluster's node processes, in bytes,
// idle and with Queued jobs waiting in the cluster.
type RSSResult struct {
	System string  `json:"system"`
	Nodes  int     `json:"nodes"`
	Queued int     `json:"queued"`
	Idle   []int64 `json:"idle_bytes"`
	Loaded []int64 `json:"loaded_bytes"`
	// Submit is how long submitting the queued jobs took.
	Submit time.Duration `json:"submit_ns"`
	// Note says how the figure was taken, or why there is none.
	Note string `json:"note,omitempty"`
	Err  string `json:"err,omitempty"`
}

// Results holds every run of every system, in the order they ran.
type Results struct {
	Mode    string       `json:"mode"`
	Config  Config       `json:"config"`
	Systems []SystemInfo `json:"systems"`
	// Notes are printed under the header: the machine, its load.
	Notes []string `json:"notes,omitempty"`
	// Skipped maps a system that did not run to the reason.
	Skipped map[string]string `json:"skipped,omitempty"`
	// Subject is the system whose ratio to each other system is reported
	// (shoal when it runs).
	Subject string `json:"subject"`
	// Subjects are all the systems whose ratios are reported (every shoal
	// system that runs); Subject is the first.
	Subjects []string                           `json:"subjects,omitempty"`
	BurnDown map[string][]ThroughputRun         `json:"burn_down"`
	Steady   map[string][]ThroughputRun         `json:"steady"`
	Latency  map[string][]LatencyRun            `json:"latency"`
	Scale    map[string]map[int][]ThroughputRun `json:"scale"`
	Failover map[string]FailoverResult          `json:"failover"`
	RSS      *RSSResult                         `json:"rss,omitempty"`
	Started  time.Time                          `json:"started"`
	Elapsed  time.Duration                      `json:"elapsed_ns"`
}

func newResults(cfg Config) *Results {
	return &Results{
		Config:   cfg,
		Skipped:  map[string]string{},
		BurnDown: map[string][]ThroughputRun{},
		Steady:   map[string][]ThroughputRun{},
		Latency:  map[string][]LatencyRun{},
		Scale:    map[string]map[int][]ThroughputRun{},
		Failover: map[string]FailoverResult{},
	}
}

// Names returns the names of the systems that ran, in order.
func (r *Results) Names() []string {
	out := make([]string, len(r.Systems))
	for i, s := range r.Systems {
		out[i] = s.Name
	}
	return out
}

// Throughputs returns the jobs/s of successful runs.
func Throughputs(runs []ThroughputRun) []float64 {
	out := make([]float64, 0, len(runs))
	for _, t := range runs {
		if t.Err == "" {
			out = append(out, t.JobsPerSec())
		}
	}
	return out
}

// alignedThroughputs returns the jobs/s of every run with NaN for failed
// ones, so that run i of two systems stay paired.
func alignedThroughputs(runs []ThroughputRun) []float64 {
	out := make([]float64, len(runs))
	for i, t := range runs {
		if t.Err != "" {
			out[i] = nan()
			continue
		}
		out[i] = t.JobsPerSec()
	}
	return out
}
