package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// checker records every acknowledged job and what ran where, and reports
// lost jobs (acknowledged, never at an end state) and duplicated runs.
type checker struct {
	t      *testing.T
	c      *client.Client
	cancel context.CancelFunc

	mu        sync.Mutex
	acked     []string
	startedOn map[string]map[string]bool // job ID -> node names that started it
}

// newChecker connects to servers (comma-separated NATS URLs) and follows
// the job events.
func newChecker(t *testing.T, servers string, secret string) *checker {
	t.Helper()
	cfg := client.DefaultConfig()
	cfg.Servers = servers
	cfg.Secret = secret
	cfg.Timeout = 30 * time.Second
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &checker{t: t, c: c, cancel: cancel, startedOn: map[string]map[string]bool{}}
	ready := make(chan struct{})
	go func() {
		close(ready)
		_ = c.Watch(ctx, func(ev client.Event) {
			if ev.Kind != "job" || ev.State != jobs.StateRunning {
				return
			}
			k.mu.Lock()
			m := k.startedOn[ev.JobID]
			if m == nil {
				m = map[string]bool{}
				k.startedOn[ev.JobID] = m
			}
			m[ev.Node] = true
			k.mu.Unlock()
		})
	}()
	<-ready
	t.Cleanup(func() { cancel(); c.Close() })
	return k
}

// submitSleeps submits n sleep jobs of minMs..maxMs and records the
// acknowledged ones; it returns how many were acknowledged.
func (k *checker) submitSleeps(n, minMs, maxMs int) int {
	k.t.Helper()
	specs := make([]client.JobSpec, n)
	for i := range specs {
		ms := minMs
		if maxMs > minMs {
			ms += rand.IntN(maxMs - minMs + 1)
		}
		specs[i] = client.JobSpec{Type: "sleep", Payload: json.RawMessage(fmt.Sprintf(`{"ms":%d}`, ms))}
	}
	// Like a user would: jobs refused as unavailable (a shard moving right
	// now) are submitted again, for up to a minute. Only acknowledged jobs
	// are tracked.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ok, retried := 0, 0
	deadline := time.Now().Add(time.Minute)
	for len(specs) > 0 {
		res, err := k.c.Submit(ctx, specs)
		var again []client.JobSpec
		k.mu.Lock()
		for i, r := range res {
			switch {
			case r.Error == nil && r.ID != "":
				k.acked = append(k.acked, r.ID)
				ok++
			case r.Error != nil && r.Error.Code == client.CodeUnavailable:
				again = append(again, specs[i])
			}
		}
		k.mu.Unlock()
		if len(res) < len(specs) {
			again = append(again, specs[len(res):]...)
		}
		if err != nil {
			k.t.Logf("submit: %v (%d of %d acknowledged so far)", err, ok, n)
		}
		if len(again) == 0 || time.Now().After(deadline) {
			break
		}
		retried += len(again)
		specs = again
		time.Sleep(200 * time.Millisecond)
	}
	if retried > 0 {
		k.t.Logf("submit: %d refusals (unavailable) submitted again; %d of %d acknowledged", retried, ok, n)
	}
	return ok
}

func (k *checker) ackedCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.acked)
}

// counts returns the cluster's total counts.
func (k *checker) counts() (map[jobs.State]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := k.c.Stats(ctx)
	if err != nil {
		return nil, err
	}
	return st.Counts, nil
}

// waitDone waits until nothing is queued, scheduled or running and at
// least every acknowledged job is counted at an end state.
func (k *checker) waitDone(timeout time.Duration) {
	k.t.Helper()
	want := k.ackedCount()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = k.doneErr(want); last == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Say which jobs are missing and why: lost (no node knows them) or
	// stuck (their shard is not served).
	v := k.verify()
	notFound := 0
	for _, l := range v.Lost {
		if strings.Contains(l, "no job") {
			notFound++
		}
	}
	k.t.Fatalf("timed out after %s waiting for every acknowledged job at an end state: %v; verdict: %s; of the %d missing, %d are unknown to the cluster (lost) and %d could not be asked about (shard not served)",
		timeout, last, v, len(v.Lost), notFound, len(v.Lost)-notFound)
}

// doneErr is nil once nothing is queued, scheduled or running and at least
// want jobs are counted at an end state.
func (k *checker) doneErr(want int) error {
	c, err := k.counts()
	if err != nil {
		return err
	}
	live := c[jobs.StateQueued] + c[jobs.StateScheduled] + c[jobs.StateRunning]
	ended := c[jobs.StateSucceeded] + c[jobs.StateDead] + c[jobs.StateCancelled]
	if live > 0 || ended < want {
		return fmt.Errorf("live %d, ended %d of %d acknowledged (%v)", live, ended, want, c)
	}
	return nil
}

// verdict is what the checker found.
type verdict struct {
	Acked      int
	Lost       []string            // acknowledged, not at an end state (or unknown)
	Duplicates map[string]jobs.Job // ran more than once (attempt > 1 for jobs that never fail)
	States     map[jobs.State]int
}

// verify asks the cluster for every acknowledged job.
func (k *checker) verify() verdict {
	k.t.Helper()
	k.mu.Lock()
	ids := append([]string(nil), k.acked...)
	k.mu.Unlock()
	v := verdict{Acked: len(ids), Duplicates: map[string]jobs.Job{}, States: map[jobs.State]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func(id string) {
			defer wg.Done()
			defer func() { <-sem }()
			var j jobs.Job
			var err error
			for try := 0; try < 5; try++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				j, err = k.c.Status(ctx, id)
				cancel()
				if err == nil {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil || !j.State.Terminal() {
				v.Lost = append(v.Lost, fmt.Sprintf("%s (%s, err %v)", id, j.State, err))
				return
			}
			v.States[j.State]++
			if j.Attempt > 1 {
				v.Duplicates[id] = j
			}
		}(id)
	}
	wg.Wait()
	sort.Strings(v.Lost)
	return v
}

// startedBy reports whether the events showed node starting job id.
func (k *checker) startedBy(id, node string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.startedOn[id][node]
}

func (v verdict) String() string {
	lost := v.Lost
	if len(lost) > 5 {
		lost = append(lost[:5:5], fmt.Sprintf("... %d more", len(v.Lost)-5))
	}
	return fmt.Sprintf("acknowledged %d, lost %d %v, duplicated %d, end states %v", v.Acked, len(v.Lost), strings.Join(lost, ", "), len(v.Duplicates), v.States)
}
