package harness

import (
	"math"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) must be NaN")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{
		{50, 50 * time.Millisecond},
		{99, 99 * time.Millisecond},
		{100, 100 * time.Millisecond},
		{0.1, time.Millisecond},
	} {
		if got := Percentile(d, tc.p); got != tc.want {
			t.Errorf("Percentile(1..100ms, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("Percentile of nothing must be 0")
	}
}

func TestPairRatiosSkipsFailedRuns(t *testing.T) {
	got := PairRatios([]float64{10, math.NaN(), 30, 40}, []float64{5, 10, 0, 20})
	want := []float64{2, 2}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("PairRatios = %v, want %v", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{QuickConfig(), FullConfig()} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := QuickConfig()
	bad.Scenarios = []string{"nope"}
	if err := bad.Validate(); err == nil {
		t.Error("an unknown scenario must be refused")
	}
	bad = QuickConfig()
	bad.LatencyLoad = 0
	if err := bad.Validate(); err == nil {
		t.Error("latency load 0 must be refused")
	}
}
