package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// DefaultPoll is how often Wait polls Status when poll is 0.
const DefaultPoll = time.Second

// SubjectAllEvents matches every event subject.
const SubjectAllEvents = "shoal.events.>"

// pollConcurrency bounds the Status requests in flight while polling many
// jobs, and pollBatch the jobs polled per interval (in rotation), so that
// waiting for many jobs does not flood the cluster with status requests.
const (
	pollConcurrency = 8
	pollBatch       = 256
)

// Wait blocks until the job reaches an end state (succeeded, dead or
// cancelled) and returns it; a job that ends dead or cancelled is not an
// error: look at Job.State and Job.LastError. It listens to the job events of
// the end states and, as a fallback for missed events, polls Status every poll
// (0 means DefaultPoll). Transient failures (timeouts, no worker serving,
// a shard moving) are retried until ctx ends; ErrNotFound, ErrBadRequest and
// ErrUnauthorized end the wait at once.
func (c *Client) Wait(ctx context.Context, id string, poll time.Duration) (jobs.Job, error) {
	var out jobs.Job
	err := c.WaitAll(ctx, []string{id}, poll, func(j jobs.Job) { out = j })
	return out, err
}

// WaitAll waits until every job in ids has reached an end state, calling fn
// once per job as it gets there (in the order they end, from one goroutine).
// It works like Wait, with one set of subscriptions for all the jobs; each
// poll asks for at most 256 jobs (in rotation), a few requests at a time.
func (c *Client) WaitAll(ctx context.Context, ids []string, poll time.Duration, fn func(jobs.Job)) error {
	if poll <= 0 {
		poll = DefaultPoll
	}
	pending := make(map[string]bool, len(ids))
	var order []string // the IDs in rotation for polling
	for _, id := range ids {
		id = NormalizeID(id)
		if err := checkID(id); err != nil {
			return err
		}
		if !pending[id] {
			pending[id] = true
			order = append(order, id)
		}
	}
	if len(pending) == 0 {
		return nil
	}

	events := make(chan *nats.Msg, 4096)
	for _, st := range []jobs.State{jobs.StateSucceeded, jobs.StateDead, jobs.StateCancelled} {
		sub, err := c.nc.ChanSubscribe(SubjectJobEvents+"."+string(st), events)
		if err != nil {
			return fmt.Errorf("subscribing to job events: %w", err)
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	// Make sure the server has the subscriptions before the first poll, so
	// that an event published after the poll's answer is not missed.
	if err := c.flush(ctx); err != nil && ctx.Err() == nil {
		return c.requestError(ctx, "subscribe", err)
	}

	var lastErr error
	// check asks for the status of the given jobs and reports the finished.
	check := func(list []string) error {
		type answer struct {
			id  string
			job jobs.Job
			err error
		}
		answers := make([]answer, len(list))
		sem := make(chan struct{}, pollConcurrency)
		var wg sync.WaitGroup
		for i, id := range list {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				j, err := c.Status(ctx, id)
				answers[i] = answer{id, j, err}
			}()
		}
		wg.Wait()
		for _, a := range answers {
			switch {
			case a.err == nil:
				if EndState(a.job.State) && pending[a.id] {
					delete(pending, a.id)
					fn(a.job)
				}
			case ctx.Err() != nil:
				return nil
			case errors.Is(a.err, ErrNotFound), errors.Is(a.err, ErrBadRequest), errors.Is(a.err, ErrUnauthorized):
				return fmt.Errorf("waiting for job %s: %w", a.id, a.err)
			default:
				lastErr = a.err
			}
		}
		return nil
	}
	cursor := 0
	// next returns up to pollBatch pending IDs, continuing where the last
	// call stopped, so that every job is polled every len/pollBatch rounds.
	next := func() []string {
		var out []string
		for n := 0; n < len(order) && len(out) < pollBatch; n++ {
			id := order[cursor%len(order)]
			cursor++
			if pending[id] {
				out = append(out, id)
			}
		}
		return out
	}

	if err := check(next()); err != nil {
		return err
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("waiting for %d job(s): %w (last error: %v)", len(pending), ctx.Err(), lastErr)
			}
			return fmt.Errorf("waiting for %d job(s): %w", len(pending), ctx.Err())
		case m := <-events:
			var ev Event
			if json.Unmarshal(m.Data, &ev) != nil || !pending[ev.JobID] {
				continue
			}
			// The event has no result: fetch the job as its owner has it.
			if err := check([]string{ev.JobID}); err != nil {
				return err
			}
		case <-ticker.C:
			if err := check(next()); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush waits until the server has processed everything sent so far (in
// particular subscriptions), within the request timeout.
func (c *Client) flush(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	return c.nc.FlushWithContext(fctx)
}

// Watch calls fn for every event on "shoal.events.>" (job and cluster
// events), one at a time, until ctx ends; then it returns nil. An event
// without a Kind gets one from its subject ("job.succeeded"). If the watcher
// falls behind and NATS drops events, fn receives an Event of Kind
// "watch.dropped". Watch returns an error if it cannot subscribe or the
// connection closes.
func (c *Client) Watch(ctx context.Context, fn func(Event)) error {
	sub, err := c.nc.SubscribeSync(SubjectAllEvents)
	if err != nil {
		return fmt.Errorf("subscribing to %s: %w", SubjectAllEvents, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	_ = sub.SetPendingLimits(1<<16, 64<<20)
	if err := c.flush(ctx); err != nil && ctx.Err() == nil {
		return c.requestError(ctx, SubjectAllEvents, err)
	}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, nats.ErrSlowConsumer):
			fn(Event{Time: time.Now(), Kind: "watch.dropped", Detail: "events were dropped: this watcher is too slow for the event rate"})
			continue
		case err != nil:
			return fmt.Errorf("watching events at %s: %w", c.servers, err)
		}
		fn(parseEvent(m.Subject, m.Data))
	}
}

// parseEvent decodes an event body, filling Kind and State from the subject
// when the body leaves them out. A body that is not an Event becomes an Event
// whose Detail is the raw body.
func parseEvent(subject string, data []byte) Event {
	var ev Event
	if err := json.Unmarshal(data, &ev); err != nil {
		ev = Event{Detail: truncate(string(data), 512)}
	}
	kind := strings.TrimPrefix(subject, "shoal.events.")
	if ev.Kind == "" {
		ev.Kind = kind
	}
	if ev.State == "" && strings.HasPrefix(kind, "job.") {
		if st := jobs.State(strings.TrimPrefix(kind, "job.")); ValidState(st) {
			ev.State = st
		}
	}
	return ev
}
