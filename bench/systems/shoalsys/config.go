package shoalsys

import (
	"errors"
	"fmt"
	"time"
)

// Config configures a shoal cluster for the benchmark.
type Config struct {
	// WorkerBin is the path of the shoal worker binary.
	WorkerBin string
	// Nodes is the number of worker processes.
	Nodes int
	// IPBase and FirstHost give node i (0-based) the address
	// IPBase + (FirstHost + i), e.g. 127.0.70.11.
	IPBase    string
	FirstHost int
	// RSSFirstHost is the first host of the cluster the memory scenario
	// starts (its own addresses, so it never meets the runs' clusters).
	RSSFirstHost int
	// Concurrency is each worker's --concurrency (jobs it runs at once).
	Concurrency int
	// Args is the worker's argument template; {ip}, {index}, {peers}
	// (comma-separated IPs of all nodes) and {concurrency} are replaced.
	Args []string
	// JobType and Payload make the no-op job.
	JobType string
	Payload string
	// HoldType and HoldPayload make a job that stays running (RSS with
	// queued jobs: the running ones hold the slots, the rest stay queued).
	HoldType    string
	HoldPayload string
	// StreamType and StreamPayload make the short jobs that flow while a
	// node is killed (failover); StreamRate is how many are submitted per
	// second, and StreamFor how long before the kill, so that the victim
	// has run jobs of most of its shards.
	StreamType    string
	StreamPayload string
	StreamRate    int
	StreamFor     time.Duration
	// Shards is the cluster's shard count (the worker's default, 256).
	Shards int
	// SubmitBatch is the number of jobs per submit request (the API's
	// maximum is 500); SubmitWorkers how many requests are in flight at once.
	SubmitBatch   int
	SubmitWorkers int
	// RequestTimeout bounds each request of the client.
	RequestTimeout time.Duration
	// ReadyTimeout bounds the wait for every node's /readyz and the first
	// job through the cluster.
	ReadyTimeout time.Duration
	// LogDir receives each node's output; empty discards it.
	LogDir string
}

// DefaultConcurrency is the worker concurrency the bench runs shoal with:
// the worker's default. On the 2-core machine of docs/benchmarks.md, 16, 64
// and 256 (runs alternated) gave no-op figures within each other's
// run-to-run noise; no-op jobs wait on nothing, so more slots only add
// scheduling.
const DefaultConcurrency = 64

// DefaultConfig returns the configuration of an n-node cluster whose nodes
// start at 127.0.70.<first>.
func DefaultConfig(workerBin string, n, first int) Config {
	return Config{
		WorkerBin:    workerBin,
		Nodes:        n,
		IPBase:       "127.0.70.",
		FirstHost:    first,
		RSSFirstHost: 31,
		Concurrency:  DefaultConcurrency,
		Args: []string{"--advertise-addr={ip}", "--discovery=static", "--peers={peers}",
			"--log-level=warn", "--concurrency={concurrency}"},
		JobType:        "echo",
		Payload:        `{}`,
		HoldType:       "sleep",
		HoldPayload:    `{"ms":600000}`,
		StreamType:     "sleep",
		StreamPayload:  `{"ms":5}`,
		StreamRate:     500,
		StreamFor:      2 * time.Second,
		Shards:         256,
		SubmitBatch:    500,
		SubmitWorkers:  8,
		RequestTimeout: 30 * time.Second,
		ReadyTimeout:   60 * time.Second,
	}
}

// ErrNoWorkerBinary says how to get the worker binary.
var ErrNoWorkerBinary = errors.New("shoal: no worker binary: build it with `go build -o bin/shoal-worker ./cmd/worker` and pass -shoal-worker")

// Validate reports a field that cannot work.
func (c Config) Validate() error {
	switch {
	case c.WorkerBin == "":
		return ErrNoWorkerBinary
	case c.Nodes < 1:
		return errors.New("shoal: nodes must be at least 1")
	case c.FirstHost < 1 || c.FirstHost+c.Nodes > 255:
		return fmt.Errorf("shoal: hosts %d..%d do not fit in %sx", c.FirstHost, c.FirstHost+c.Nodes-1, c.IPBase)
	case c.RSSFirstHost < 1 || c.RSSFirstHost > 250:
		return errors.New("shoal: the memory scenario's first host must be in 1..250")
	case c.Concurrency < 1:
		return errors.New("shoal: concurrency must be at least 1")
	case c.JobType == "" || c.HoldType == "" || c.StreamType == "":
		return errors.New("shoal: job types must be set")
	case c.SubmitBatch < 1 || c.SubmitBatch > 500 || c.SubmitWorkers < 1:
		return errors.New("shoal: submit batch must be 1..500 and workers at least 1")
	case c.StreamRate < 50 || c.StreamFor <= 0:
		return errors.New("shoal: the failover stream needs a rate of at least 50 jobs/s and a positive duration")
	case c.Shards < 1:
		return errors.New("shoal: shards must be at least 1")
	case c.RequestTimeout <= 0 || c.ReadyTimeout <= 0:
		return errors.New("shoal: timeouts must be positive")
	}
	return nil
}

// name is the system name for an n-node cluster.
func name(n int) string { return fmt.Sprintf("shoal-%d", n) }
