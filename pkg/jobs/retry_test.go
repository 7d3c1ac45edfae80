package jobs

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	p := RetryPolicy{Base: time.Second, Max: time.Hour, Jitter: 0.1}
	half := func() float64 { return 0.5 }
	tests := []struct {
		attempt int
		rnd     func() float64
		want    time.Duration
	}{
		{0, half, time.Second},
		{1, half, time.Second},
		{2, half, 2 * time.Second},
		{3, half, 4 * time.Second},
		{12, half, 2048 * time.Second},
		{13, half, time.Hour},
		{100, half, time.Hour},
		{1 << 30, half, time.Hour},
		{1, func() float64 { return 0 }, 900 * time.Millisecond},
		{1, func() float64 { return 0.999999999 }, 1100 * time.Millisecond},
		{13, func() float64 { return 0 }, 54 * time.Minute},
		{1, nil, time.Second},
		{1, func() float64 { return 7 }, time.Second}, // out of range: no jitter
	}
	for _, tt := range tests {
		got := p.Backoff(tt.attempt, tt.rnd)
		if diff := got - tt.want; diff < -time.Microsecond || diff > time.Microsecond {
			t.Errorf("Backoff(%d) = %s, want %s", tt.attempt, got, tt.want)
		}
	}
	huge := RetryPolicy{Base: time.Duration(1 << 62), Max: maxDuration, Jitter: 0.5}
	for a := 1; a < 70; a++ {
		if d := huge.Backoff(a, func() float64 { return 0.99 }); d < 0 {
			t.Fatalf("negative backoff %s at %d", d, a)
		}
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	if err := DefaultRetryPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []RetryPolicy{
		{Base: 0, Max: time.Hour},
		{Base: time.Hour, Max: time.Second},
		{Base: time.Second, Max: time.Hour, Jitter: 1},
		{Base: time.Second, Max: time.Hour, Jitter: -0.1},
	} {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

// TestDefaultScheduleLength documents how long a job that always fails
// lives with the defaults.
func TestDefaultScheduleLength(t *testing.T) {
	p := DefaultRetryPolicy()
	var total time.Duration
	for a := 1; a < DefaultMaxAttempts; a++ {
		total += p.Backoff(a, nil)
	}
	if total < 12*time.Hour || total > 14*time.Hour {
		t.Errorf("a failing job lives %s with the defaults; the docs say about 13h", total)
	}
}
