package asynqsys_test

import (
	"os"
	"testing"

	"github.com/shoal-dev/shoal/bench/harness/systemtest"
	"github.com/shoal-dev/shoal/bench/systems/asynqsys"
)

// TestConformance needs Redis: run bench/scripts/services.sh start and
// export the BENCH_REDIS_ADDR that `services.sh env` prints.
func TestConformance(t *testing.T) {
	addr := os.Getenv("BENCH_REDIS_ADDR")
	if addr == "" {
		t.Skip("BENCH_REDIS_ADDR not set: start Redis with bench/scripts/services.sh start")
	}
	s, err := asynqsys.New(asynqsys.DefaultConfig(addr))
	if err != nil {
		t.Fatal(err)
	}
	systemtest.Run(t, s)
}

func TestFailoverDefaults(t *testing.T) {
	s, err := asynqsys.New(asynqsys.DefaultConfig("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	e := s.FailoverDefaults()
	if !(e.Min < e.Typical && e.Typical < e.Max) {
		t.Fatalf("want min < typical < max, got %+v", e)
	}
	// 30s lease - 5s + 30s grace + 15s retry; at most 30+30+60+44+5+1.5.
	if e.Min.Seconds() != 70 || e.Max.Seconds() != 170.5 {
		t.Errorf("min %s max %s, want 1m10s and 2m50.5s", e.Min, e.Max)
	}
}
