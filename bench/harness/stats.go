package harness

import (
	"math"
	"slices"
	"time"
)

// Median returns the median of xs (the mean of the middle two for an even
// count), or NaN for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted durations
// by the nearest-rank method, or 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// PairRatios divides subject[i] by peer[i] for each run i both have (runs
// alternate, so run i of each was measured side by side) and returns the
// ratios.
func PairRatios(subject, peer []float64) []float64 {
	n := min(len(subject), len(peer))
	out := make([]float64, 0, n)
	for i := range n {
		if peer[i] != 0 && !math.IsNaN(subject[i]) && !math.IsNaN(peer[i]) {
			out = append(out, subject[i]/peer[i])
		}
	}
	return out
}

// MinMax returns the smallest and largest of xs, NaN for none.
func MinMax(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	return slices.Min(xs), slices.Max(xs)
}
