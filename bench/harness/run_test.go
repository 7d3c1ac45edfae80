package harness_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/bench/harness"
	"github.com/shoal-dev/shoal/bench/systems/memsys"
)

// broken is a System whose Setup fails, to check it is skipped.
type broken struct{ harness.System }

func (broken) Name() string                { return "broken" }
func (broken) Setup(context.Context) error { return harness.ErrUnavailable }

// named renames a memsys so that two of them can run side by side.
type named struct {
	*memsys.System
	name string
}

func (n named) Name() string { return n.name }

func smallConfig() harness.Config {
	c := harness.QuickConfig()
	c.Reps = 2
	c.N = 2000
	c.Sizes = []int{500, 1000}
	c.LatencyDuration = time.Second
	c.LatencyProducers = 4
	c.RunTimeout = 30 * time.Second
	return c
}

func TestRunAlternatesAndReports(t *testing.T) {
	a, _ := memsys.New(4)
	b, _ := memsys.New(2)
	var progress bytes.Buffer
	r, err := harness.New(smallConfig(), []harness.System{named{a, "shoal-x"}, named{b, "peer"}, broken{}},
		harness.WithProgress(&progress), harness.WithMode("test"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background(), nil)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	if res.Subject != "shoal-x" {
		t.Errorf("subject %q, want the shoal system", res.Subject)
	}
	if _, ok := res.Skipped["broken"]; !ok {
		t.Errorf("broken system not reported as skipped: %v", res.Skipped)
	}
	for _, name := range []string{"shoal-x", "peer"} {
		if got := len(harness.Throughputs(res.BurnDown[name])); got != 2 {
			t.Errorf("%s: %d good burn-down runs, want 2: %+v", name, got, res.BurnDown[name])
		}
		if got := len(harness.Throughputs(res.Steady[name])); got != 2 {
			t.Errorf("%s: %d good steady runs, want 2", name, got)
		}
		for _, l := range res.Latency[name] {
			if l.Err != "" || l.Jobs == 0 || l.P99 < l.P50 {
				t.Errorf("%s: bad latency run %+v", name, l)
			}
		}
		if len(res.Scale[name][1000]) != 1 {
			t.Errorf("%s: scale runs %v", name, res.Scale[name])
		}
	}
	// Runs alternate: the progress lines name the systems in turn.
	var order []string
	for _, line := range strings.Split(progress.String(), "\n") {
		if strings.Contains(line, "burn-down run") {
			order = append(order, strings.Fields(line)[4])
		}
	}
	if strings.Join(order, " ") != "shoal-x: peer: shoal-x: peer:" {
		t.Errorf("burn-down order %v, want alternating", order)
	}
	var out bytes.Buffer
	if err := harness.WriteTable(&out, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"burn-down (N=2000)", "ratio shoal-x/system", "SKIPPED", "cost per job", "p99"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	c := smallConfig()
	c.Reps = 0
	a, _ := memsys.New(1)
	if _, err := harness.New(c, []harness.System{a}); !errors.Is(err, harness.ErrBadConfig) {
		t.Fatalf("err %v, want ErrBadConfig", err)
	}
	if _, err := harness.New(smallConfig(), nil); !errors.Is(err, harness.ErrBadConfig) {
		t.Fatalf("no systems: err %v, want ErrBadConfig", err)
	}
}
