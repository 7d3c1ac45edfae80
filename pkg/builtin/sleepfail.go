package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

type sleepPayload struct {
	MS *int64 `json:"ms"`
}

type sleepResult struct {
	SleptMS int64 `json:"slept_ms"`
}

// sleep waits payload.ms milliseconds or until ctx is done.
func (h handlers) sleep(ctx context.Context, job jobs.Job) (json.RawMessage, error) {
	var p sleepPayload
	if err := decodePayload(job, &p); err != nil {
		return nil, err
	}
	if p.MS == nil {
		return nil, invalid(job.Type, `want {"ms": N} with N milliseconds to sleep`)
	}
	ms := *p.MS
	maxMS := h.cfg.SleepMax.Milliseconds()
	switch {
	case ms < 0:
		return nil, invalid(job.Type, "ms is %d; it must not be negative", ms)
	case ms > maxMS:
		return nil, invalid(job.Type, "ms is %d, above this worker's limit of %d (%v); ask for less",
			ms, maxMS, h.cfg.SleepMax)
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	return json.Marshal(sleepResult{SleptMS: ms})
}

type failPayload struct {
	Times *int `json:"times"`
}

type failResult struct {
	Attempt int `json:"attempt"`
}

// fail fails the first payload.times attempts, or every attempt if times is
// absent, with retryable errors.
func (handlers) fail(_ context.Context, job jobs.Job) (json.RawMessage, error) {
	var p failPayload
	if err := decodePayload(job, &p); err != nil {
		return nil, err
	}
	if p.Times == nil {
		return nil, fmt.Errorf("%s: attempt %d %w", job.Type, job.Attempt, ErrFailedOnPurpose)
	}
	if *p.Times < 0 {
		return nil, invalid(job.Type, "times is %d; it must not be negative", *p.Times)
	}
	if job.Attempt <= *p.Times {
		return nil, fmt.Errorf("%s: attempt %d %w (this job fails its first %d)",
			job.Type, job.Attempt, ErrFailedOnPurpose, *p.Times)
	}
	return json.Marshal(failResult{Attempt: job.Attempt})
}
