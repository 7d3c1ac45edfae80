package chart_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/bench/chart"
	"github.com/shoal-dev/shoal/bench/harness"
)

func TestWritePNG(t *testing.T) {
	res := &harness.Results{
		Config:  harness.QuickConfig(),
		Systems: []harness.SystemInfo{{Name: "asynq"}, {Name: "river"}},
		BurnDown: map[string][]harness.ThroughputRun{
			"asynq": {{N: 100, Work: time.Second}}, "river": {{N: 200, Work: time.Second}},
		},
		Steady:  map[string][]harness.ThroughputRun{"asynq": {{N: 100, Work: time.Second}}},
		Latency: map[string][]harness.LatencyRun{"river": {{P50: time.Millisecond, P99: 5 * time.Millisecond}}},
		Scale: map[string]map[int][]harness.ThroughputRun{
			"asynq": {10_000: {{N: 10_000, Work: time.Second}}, 100_000: {{N: 100_000, Work: 12 * time.Second}}},
		},
		Failover: map[string]harness.FailoverResult{
			"asynq": {Estimate: harness.FailoverEstimate{Min: time.Minute, Typical: 2 * time.Minute, Max: 3 * time.Minute}},
			"river": {Measured: []time.Duration{2 * time.Second}},
		},
	}
	path := filepath.Join(t.TempDir(), "bench.png")
	if err := chart.WritePNG(path, res); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 10_000 {
		t.Fatalf("not a drawn PNG: %d bytes", len(b))
	}
}
