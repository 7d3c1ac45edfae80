package cluster

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// metrics are the node's Prometheus metrics (namespace "shoal").
type metrics struct {
	reg        *prometheus.Registry
	submitted  prometheus.Counter
	started    prometheus.Counter
	finished   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	attempts   prometheus.Histogram
	segments   prometheus.Counter
	records    prometheus.Counter
	snapshots  prometheus.Counter
	rebalances prometheus.Counter
	recovered  prometheus.Counter
	// stuckReleases counts released shard runners that had not ended
	// stuckRelease after their release.
	stuckReleases prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, n *Node) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &metrics{
		reg: reg,
		submitted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "shoal", Name: "jobs_submitted_total",
			Help: "Jobs accepted by this node's API (routed to their shard's owner)."}),
		started: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "shoal", Name: "jobs_started_total",
			Help: "Attempts started on this node."}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "shoal", Name: "attempts_finished_total",
			Help: "Attempts finished on this node, by outcome (succeeded, failed, panicked, timed_out, cancelled)."}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "shoal", Name: "attempt_duration_seconds",
			Help: "How long attempts ran, by job type.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"type"}),
		attempts: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "shoal", Name: "job_attempt_number",
			Help: "The attempt number of each attempt run here.", Buckets: []float64{1, 2, 3, 5, 10, 25}}),
		segments: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "shoal", Name: "log_segments_written_total",
			Help: "Shard log segments written (group commits)."}),
		records: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "shoal", Name: "log_records_written_total",
			Help: "Records written in shard log segments."}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "shoal", Name: "snapshots_written_total",
			Help: "Shard snapshots written (compactions and hand-offs)."}),
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "shoal", Name: "rebalances_total",
			Help: "Placement changes adopted by this node."}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "shoal", Name: "log_recheck_jobs_total",
			Help: "Jobs that a second read of a taken-over shard's old log found after its load had missed them."}),
		stuckReleases: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "shoal", Name: "shard_releases_stuck_total",
			Help: "Shard runners released by the plan that had not ended 30 s later (event=release_stuck in the log)."}),
	}
	reg.MustRegister(m.submitted, m.started, m.finished, m.duration, m.attempts, m.segments, m.records, m.snapshots, m.rebalances, m.recovered, m.stuckReleases)
	reg.MustRegister(&stateCollector{n: n, desc: prometheus.NewDesc("shoal_jobs", "Jobs in the shards this node serves, by state.", []string{"state"}, nil)})
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "shoal", Name: "shards_held", Help: "Shards this node serves."},
		func() float64 { return float64(len(n.servedShards())) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "shoal", Name: "running_jobs", Help: "Attempts running on this node."},
		func() float64 { return float64(n.exec.Running()) }))
	return m
}

func (m *metrics) observe(j jobs.Job, o jobs.Outcome) {
	outcome := "succeeded"
	switch {
	case o.Cancelled:
		outcome = "cancelled"
	case o.Panicked:
		outcome = "panicked"
	case o.TimedOut:
		outcome = "timed_out"
	case o.Err != nil:
		outcome = "failed"
	}
	m.finished.WithLabelValues(outcome).Inc()
	m.duration.WithLabelValues(j.Type).Observe(o.Duration.Seconds())
	m.attempts.Observe(float64(j.Attempt))
}

// stateCollector reports job counts by state at scrape time.
type stateCollector struct {
	n    *Node
	desc *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	rep := c.n.localReport(nil)
	for st, v := range rep.Counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v), string(st))
	}
}
