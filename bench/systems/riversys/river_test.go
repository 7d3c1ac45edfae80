package riversys_test

import (
	"os"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/bench/harness/systemtest"
	"github.com/shoal-dev/shoal/bench/systems/riversys"
)

// TestConformance needs Postgres: run bench/scripts/services.sh start and
// export the BENCH_PG_URL that `services.sh env` prints.
func TestConformance(t *testing.T) {
	url := os.Getenv("BENCH_PG_URL")
	if url == "" {
		t.Skip("BENCH_PG_URL not set: start Postgres with bench/scripts/services.sh start")
	}
	cfg := riversys.DefaultConfig(url)
	cfg.MaxWorkers = 50
	s, err := riversys.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	systemtest.Run(t, s)
}

func TestFailoverDefaults(t *testing.T) {
	s, err := riversys.New(riversys.DefaultConfig("postgres://unused"))
	if err != nil {
		t.Fatal(err)
	}
	e := s.FailoverDefaults()
	if e.Min < time.Hour || e.Max > time.Hour+time.Minute || !(e.Min < e.Typical && e.Typical < e.Max) {
		t.Errorf("want 1h <= min < typical < max <= 1h1m, got %+v", e)
	}
}
