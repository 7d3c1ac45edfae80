package jobs

import (
	"errors"
	"fmt"
	"time"
)

// DefaultMaxAttempts is a job's MaxAttempts when its submitter leaves it at
// zero: 25, as in asynq and River. With DefaultRetryPolicy a job that always
// fails is dead about 13 hours after its first attempt (12 doubling delays
// from 1 s to 34 min, then 12 delays of 1 h), shorter than asynq's and
// River's weeks of attempt^4 backoff: a queue in a cluster of workers should
// surface a broken job the same day.
const DefaultMaxAttempts = 25

// RetryPolicy computes the delay before a failed job's next attempt:
// exponential (Base * 2^(attempt-1)), capped at Max, with symmetric jitter.
type RetryPolicy struct {
	// Base is the delay after the first failed attempt. Must be > 0.
	Base time.Duration
	// Max caps the delay before jitter; with jitter a delay can exceed it by
	// at most Jitter*Max. Must be >= Base.
	Max time.Duration
	// Jitter spreads each delay uniformly over ±Jitter of itself, so jobs
	// that failed together do not retry together. In [0, 1).
	Jitter float64
}

// DefaultRetryPolicy returns base 1 s, doubling per attempt, capped at 1 h,
// jitter ±10%.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Base: time.Second, Max: time.Hour, Jitter: 0.1}
}

// Validate reports a policy that cannot be used.
func (p RetryPolicy) Validate() error {
	var errs []error
	if p.Base <= 0 {
		errs = append(errs, fmt.Errorf("retry base is %s: set it above zero (1s is the default)", p.Base))
	}
	if p.Max < p.Base {
		errs = append(errs, fmt.Errorf("retry max %s is below the base %s: raise it (1h is the default)", p.Max, p.Base))
	}
	if p.Jitter < 0 || p.Jitter >= 1 || p.Jitter != p.Jitter {
		errs = append(errs, fmt.Errorf("retry jitter is %v: use a fraction in [0, 1), e.g. 0.1", p.Jitter))
	}
	return errors.Join(errs...)
}

// Backoff returns the delay before the attempt that follows failed attempt
// number attempt (1 for the first). rnd returns a number in [0, 1) and makes
// the jitter; nil means no jitter. Backoff is pure: the same inputs give the
// same delay. The result is never negative.
func (p RetryPolicy) Backoff(attempt int, rnd func() float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := p.Max
	if p.Base > 0 && attempt-1 < 62 {
		if exp := p.Base << (attempt - 1); exp>>(attempt-1) == p.Base && exp > 0 && exp < p.Max {
			d = exp
		}
	}
	if d <= 0 {
		return 0
	}
	if p.Jitter > 0 && p.Jitter < 1 && rnd != nil {
		r := rnd()
		if r < 0 || r >= 1 || r != r {
			r = 0.5
		}
		f := 1 + p.Jitter*(2*r-1)
		j := time.Duration(float64(d) * f)
		if j < 0 || float64(d)*f >= float64(maxDuration) {
			j = d
		}
		d = j
	}
	return d
}
