package shoalsys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/bench/harness"
	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// System is a shoal cluster of Config.Nodes worker processes. Each run gets
// a fresh cluster: Reset starts the nodes, Stop kills them, so idle shoal
// nodes never share the CPU with a peer's run.
type System struct {
	cfg Config

	mu    sync.Mutex
	nodes []*exec.Cmd
	cl    *client.Client
	// stopWatch ends the event watcher; watchDone is closed when it returned.
	stopWatch context.CancelFunc
	watchDone chan struct{}
	sink      harness.Sink
	// completed counts completions handed to the sink; earlyDone those
	// seen before Start attached a sink (jobs run while they are submitted:
	// there is no pause), replayed on Start.
	completed int
	earlyDone int
	// submitted maps job ID -> submit time; early maps job ID -> running
	// event time for events that overtook the submit reply.
	submitted map[string]time.Time
	early     map[string]time.Time
	// probe, while set, receives the IDs of succeeded jobs (Reset's first
	// job through the cluster) instead of the counts.
	probe chan string
	// watch, when set, receives every running event (failover).
	watch func(client.Event)
	// dropped counts the events NATS dropped because the watcher fell
	// behind; completions are then topped up from Stats.
	dropped atomic.Int64
	// stopPoll ends the Stats poller of a run.
	stopPoll context.CancelFunc
}

var (
	_ harness.FailoverSystem = (*System)(nil)
	_ harness.MemorySystem   = (*System)(nil)
	_ harness.Unpausable     = (*System)(nil)
)

// New returns the shoal system; nodes start in Reset.
func New(cfg Config) (harness.System, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.WorkerBin); err != nil {
		return nil, fmt.Errorf("%w: %w (%v)", harness.ErrUnavailable, ErrNoWorkerBinary, err)
	}
	return &System{cfg: cfg}, nil
}

// Name implements harness.System.
func (s *System) Name() string { return name(s.cfg.Nodes) }

// Config implements harness.System.
func (s *System) Config() string {
	return fmt.Sprintf("shoal (worker %s), %d node(s) on %s%d.., --concurrency=%d per node, %d shards, replicas and lease at the worker's defaults, "+
		"job type %q payload %s, pkg/client Submit of %d jobs per request x %d in flight, "+
		"start from shoal.events.job.running (node clock), completion from shoal.events.job.succeeded; "+
		"a fresh cluster per run; burn-down timed from the first submit (nodes run while jobs are submitted: no pause API)",
		filepath.Base(s.cfg.WorkerBin), s.cfg.Nodes, s.cfg.IPBase, s.cfg.FirstHost, s.cfg.Concurrency, s.cfg.Shards,
		s.cfg.JobType, s.cfg.Payload, s.cfg.SubmitBatch, s.cfg.SubmitWorkers)
}

func (s *System) ip(i int) string { return s.cfg.IPBase + strconv.Itoa(s.cfg.FirstHost+i) }

func (s *System) ips() []string {
	out := make([]string, s.cfg.Nodes)
	for i := range out {
		out[i] = s.ip(i)
	}
	return out
}

// Setup implements harness.System: starts and stops the cluster once, so
// that a worker that cannot start is found before the runs, not in each.
func (s *System) Setup(ctx context.Context) error {
	if err := s.Reset(ctx); err != nil {
		return fmt.Errorf("%w: %w", harness.ErrUnavailable, err)
	}
	s.killNodes()
	return nil
}

// Reset implements harness.System: kills any nodes, starts a fresh cluster,
// connects to every node and watches job events.
func (s *System) Reset(ctx context.Context) error {
	return s.reset(ctx, -1)
}

// reset starts the cluster and dials every node but skip (-1: none), so
// that the client's connection survives the kill of node skip.
func (s *System) reset(ctx context.Context, skip int) error {
	s.killNodes()
	s.mu.Lock()
	s.earlyDone, s.completed = 0, 0
	s.sink, s.watch = nil, nil
	s.submitted = map[string]time.Time{}
	s.early = map[string]time.Time{}
	s.probe = make(chan string, 64)
	s.mu.Unlock()
	s.dropped.Store(0)

	ips := s.ips()
	for i := range s.cfg.Nodes {
		if err := s.startNode(ips, i); err != nil {
			s.killNodes()
			return err
		}
	}
	if err := s.waitReady(ctx, ips); err != nil {
		s.killNodes()
		return err
	}
	var urls []string
	for i, ip := range ips {
		if i != skip {
			urls = append(urls, "nats://"+ip+":4222")
		}
	}
	cl, err := client.Dial(ctx, client.Config{Servers: strings.Join(urls, ","), Timeout: s.cfg.RequestTimeout, Name: "shoal-bench"})
	if err != nil {
		s.killNodes()
		return fmt.Errorf("shoal: connect: %w", err)
	}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = cl.Watch(wctx, s.onEvent)
	}()
	s.mu.Lock()
	s.cl, s.stopWatch, s.watchDone = cl, stop, done
	s.mu.Unlock()
	if err := s.settled(ctx); err != nil {
		s.killNodes()
		return err
	}
	if err := s.firstJob(ctx); err != nil {
		s.killNodes()
		return err
	}
	return nil
}

// settled waits until the cluster's formation is over: every node active
// and the shards all placed, the same in two answers 250ms apart. /readyz
// comes a little before the last joiner's shards have moved.
func (s *System) settled(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	cl, err := s.client()
	if err != nil {
		return err
	}
	var last string
	for {
		m, err := cl.Members(ctx)
		if err == nil {
			total, active := 0, 0
			var shape []string
			for _, mm := range m.Members {
				total += mm.Shards
				if mm.State == "active" && mm.Shards > 0 {
					active++
				}
				shape = append(shape, fmt.Sprintf("%s=%d", mm.Name, mm.Shards))
			}
			now := strings.Join(shape, ",")
			if active == s.cfg.Nodes && total == m.Shards && now == last {
				return nil
			}
			last = now
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("shoal: the cluster's shards did not settle within %s (last seen %s): %w", s.cfg.ReadyTimeout, last, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// startNode starts worker i with the argument template filled in and the
// caller's SHOAL_* variables removed, so that they cannot change the bench.
func (s *System) startNode(ips []string, i int) error {
	args := make([]string, len(s.cfg.Args))
	for j, a := range s.cfg.Args {
		a = strings.ReplaceAll(a, "{ip}", ips[i])
		a = strings.ReplaceAll(a, "{index}", strconv.Itoa(i))
		a = strings.ReplaceAll(a, "{concurrency}", strconv.Itoa(s.cfg.Concurrency))
		args[j] = strings.ReplaceAll(a, "{peers}", strings.Join(ips, ","))
	}
	cmd := exec.Command(s.cfg.WorkerBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SHOAL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if s.cfg.LogDir != "" {
		f, err := os.OpenFile(filepath.Join(s.cfg.LogDir, fmt.Sprintf("%s-node%d.log", s.Name(), i+1)),
			os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			cmd.Stdout, cmd.Stderr = f, f
			defer f.Close() // the child holds its own descriptor
		}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("shoal: start node %d: %w", i+1, err)
	}
	s.mu.Lock()
	s.nodes = append(s.nodes, cmd)
	s.mu.Unlock()
	return nil
}

func (s *System) waitReady(ctx context.Context, ips []string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	for _, ip := range ips {
		url := "http://" + ip + ":8080/readyz"
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("shoal: node %s not ready within %s (see its log with -shoal-logs): %w", ip, s.cfg.ReadyTimeout, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// firstJob sends one no-op job through the cluster and waits for its
// succeeded event: the watcher is then subscribed, every node serves, and
// the run's counts start from zero.
func (s *System) firstJob(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	s.mu.Lock()
	cl, probe := s.cl, s.probe
	s.mu.Unlock()
	var lastErr error
	for {
		res, err := cl.Submit(ctx, s.specs(1, s.cfg.JobType, s.cfg.Payload))
		if err == nil {
			err = res[0].Err()
		}
		if err == nil {
			id := res[0].ID
			wait := time.After(2 * time.Second) // else the watcher was not subscribed yet: again
		seen:
			for {
				select {
				case got := <-probe:
					if got == id {
						s.mu.Lock()
						s.probe = nil
						s.earlyDone, s.completed = 0, 0
						s.submitted = map[string]time.Time{}
						s.early = map[string]time.Time{}
						s.mu.Unlock()
						return nil
					}
				case <-wait:
					break seen
				case <-ctx.Done():
					return fmt.Errorf("shoal: no job went through the new cluster within %s: %w", s.cfg.ReadyTimeout, ctx.Err())
				}
			}
			continue
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("shoal: no job went through the new cluster within %s (last error: %v): %w", s.cfg.ReadyTimeout, lastErr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *System) onEvent(ev client.Event) {
	switch {
	case ev.Kind == "watch.dropped":
		s.dropped.Add(1)
	case ev.Kind != "job":
	case ev.State == jobs.StateRunning:
		s.onRunning(ev)
	case ev.State == jobs.StateSucceeded:
		s.onSucceeded(ev)
	}
}

func (s *System) onRunning(ev client.Event) {
	s.mu.Lock()
	watch := s.watch
	if at, ok := s.submitted[ev.JobID]; ok {
		delete(s.submitted, ev.JobID)
		sink := s.sink
		s.mu.Unlock()
		if sink != nil {
			_ = sink.Handle(context.Background(), time.Now().Add(-ev.Time.Sub(at)))
		}
	} else {
		if s.probe == nil && watch == nil {
			s.early[ev.JobID] = ev.Time
		}
		s.mu.Unlock()
	}
	if watch != nil {
		watch(ev)
	}
}

func (s *System) onSucceeded(ev client.Event) {
	s.mu.Lock()
	if s.probe != nil {
		select {
		case s.probe <- ev.JobID:
		default:
		}
		s.mu.Unlock()
		return
	}
	sink := s.sink
	if sink == nil {
		s.earlyDone++
	} else {
		s.completed++
	}
	s.mu.Unlock()
	if sink != nil {
		sink.Completed()
	}
}

// note records the submit time of accepted jobs, pairing those whose
// running event came first.
func (s *System) note(results []client.SubmitResult, at time.Time) error {
	s.mu.Lock()
	sink := s.sink
	var latencies []time.Duration
	var firstErr error
	for _, r := range results {
		if err := r.Err(); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("shoal: job refused: %w", err)
			}
			continue
		}
		if started, ok := s.early[r.ID]; ok {
			delete(s.early, r.ID)
			latencies = append(latencies, started.Sub(at))
			continue
		}
		s.submitted[r.ID] = at
	}
	s.mu.Unlock()
	if sink != nil {
		for _, d := range latencies {
			_ = sink.Handle(context.Background(), time.Now().Add(-d))
		}
	}
	return firstErr
}

func (s *System) client() (*client.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl == nil {
		return nil, errors.New("shoal: not connected: Reset first")
	}
	return s.cl, nil
}

// submit sends specs in one request (the caller keeps them at or under the
// API's maximum of 500) and records the submit time of each accepted job.
func (s *System) submit(ctx context.Context, specs []client.JobSpec) error {
	cl, err := s.client()
	if err != nil {
		return err
	}
	at := time.Now()
	res, err := cl.Submit(ctx, specs)
	if err != nil {
		return fmt.Errorf("shoal: submit: %w", err)
	}
	return s.note(res, at)
}

func (s *System) specs(n int, typ, payload string) []client.JobSpec {
	out := make([]client.JobSpec, n)
	for i := range out {
		out[i] = client.JobSpec{Type: typ, Payload: json.RawMessage(payload)}
	}
	return out
}

// Enqueue implements harness.System: requests of SubmitBatch jobs,
// SubmitWorkers in flight.
func (s *System) Enqueue(ctx context.Context, n int) error {
	return s.enqueue(ctx, n, s.cfg.JobType, s.cfg.Payload)
}

func (s *System) enqueue(ctx context.Context, n int, typ, payload string) error {
	batches := make(chan int)
	errs := make(chan error, s.cfg.SubmitWorkers)
	var wg sync.WaitGroup
	for range s.cfg.SubmitWorkers {
		wg.Go(func() {
			for size := range batches {
				if err := s.submit(ctx, s.specs(size, typ, payload)); err != nil {
					errs <- err
					for range batches {
					}
					return
				}
			}
		})
	}
	for left := n; left > 0; left -= s.cfg.SubmitBatch {
		batches <- min(left, s.cfg.SubmitBatch)
	}
	close(batches)
	wg.Wait()
	close(errs)
	return <-errs
}

// EnqueueOne implements harness.System. The latency is taken from the
// submit call to the node's running event (same machine clock), so stamp
// is not sent.
func (s *System) EnqueueOne(ctx context.Context, _ time.Time) error {
	return s.submit(ctx, s.specs(1, s.cfg.JobType, s.cfg.Payload))
}

// Start implements harness.System: the nodes already run; it attaches the
// sink, replays completions seen before, and polls Stats to top up
// completions if the event watcher ever falls behind.
func (s *System) Start(_ context.Context, sink harness.Sink) error {
	pctx, stop := context.WithCancel(context.Background())
	s.mu.Lock()
	s.sink = sink
	early := s.earlyDone
	s.earlyDone = 0
	s.completed += early
	if s.stopPoll != nil {
		s.stopPoll()
	}
	s.stopPoll = stop
	s.mu.Unlock()
	for range early {
		sink.Completed()
	}
	go s.topUp(pctx)
	return nil
}

// topUp, once events were dropped, counts completions from Stats (the
// cluster is fresh: its succeeded count is this run's, plus the probe).
func (s *System) topUp(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if s.dropped.Load() == 0 {
			continue
		}
		if !warned {
			fmt.Fprintf(os.Stderr, "bench: %s: the event watcher fell behind and NATS dropped events; counting completions from Stats\n", s.Name())
			warned = true
		}
		cl, err := s.client()
		if err != nil {
			return
		}
		st, err := cl.Stats(ctx)
		if err != nil {
			continue
		}
		done := st.Counts[jobs.StateSucceeded] - 1 // the probe
		s.mu.Lock()
		sink := s.sink
		more := done - s.completed
		if sink == nil || more <= 0 {
			s.mu.Unlock()
			continue
		}
		s.completed = done
		s.mu.Unlock()
		for range more {
			sink.Completed()
		}
	}
}

// Stop implements harness.System: detaches and kills the cluster.
func (s *System) Stop(context.Context) error {
	s.killNodes()
	return nil
}

func (s *System) killNodes() {
	s.mu.Lock()
	nodes, cl, stop, done, stopPoll := s.nodes, s.cl, s.stopWatch, s.watchDone, s.stopPoll
	s.nodes, s.cl, s.stopWatch, s.watchDone, s.stopPoll, s.sink, s.watch = nil, nil, nil, nil, nil, nil, nil
	s.mu.Unlock()
	if stopPoll != nil {
		stopPoll()
	}
	if stop != nil {
		stop()
		<-done
	}
	if cl != nil {
		cl.Close()
	}
	for _, c := range nodes {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
}

// RunsWhileEnqueueing implements harness.Unpausable: shoal's nodes run
// jobs as they are submitted, so its burn-down is timed from the first
// submit (a pause/resume request would allow a true burn-down).
func (s *System) RunsWhileEnqueueing() bool { return true }

// Teardown implements harness.System.
func (s *System) Teardown(ctx context.Context) error { return s.Stop(ctx) }

// FailoverDefaults implements harness.FailoverSystem: shoal's failover is
// measured in every mode, it takes seconds.
func (s *System) FailoverDefaults() harness.FailoverEstimate {
	return harness.FailoverEstimate{
		How: "measured: kill -9 of a node running jobs, until the first job of one of its shards starts on another node " +
			"(worker defaults: lease TTL 2s, heartbeat 250ms, heartbeat timeout 1.25s)",
		Cheap: true,
	}
}

// MeasureFailover implements harness.FailoverSystem, as
// scripts/measure/failover does in shoal's module: a stream of short jobs
// flows over every shard; after StreamFor the last node, whose started jobs
// give its shards, gets SIGKILL, and the result is the time from the kill
// to the first job of one of those shards starting on another node (the
// node's running-event time, same machine clock). Needs two nodes.
func (s *System) MeasureFailover(ctx context.Context, _ harness.ChildEnv, timeout time.Duration) (time.Duration, error) {
	if s.cfg.Nodes < 2 {
		return 0, fmt.Errorf("%w: a 1-node cluster has no other node to fail over to", harness.ErrNotApplicable)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	victim := s.cfg.Nodes - 1
	if err := s.reset(ctx, victim); err != nil {
		return 0, err
	}
	defer s.killNodes()
	victimIP := s.ip(victim)

	var (
		mu           sync.Mutex
		victimShards = map[int]bool{}
		killedAt     time.Time
		elsewhere    = make(chan time.Time, 1)
	)
	s.mu.Lock()
	s.watch = func(ev client.Event) {
		shard := jobs.ShardOf(ev.JobID, s.cfg.Shards)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case killedAt.IsZero():
			if ev.Node == victimIP {
				victimShards[shard] = true
			}
		case ev.Node != victimIP && victimShards[shard] && ev.Time.After(killedAt):
			select {
			case elsewhere <- ev.Time:
			default:
			}
		}
	}
	s.mu.Unlock()

	sctx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	go func() {
		const tick = 20 * time.Millisecond
		per := max(1, s.cfg.StreamRate*int(tick)/int(time.Second))
		t := time.NewTicker(tick)
		defer t.Stop()
		inflight := make(chan struct{}, 256)
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			// Each tick's submit runs on its own, so that a request held up
			// by the dead node (the API routes a job to its shard's owner)
			// does not hold up the stream: jobs of the victim's shards keep
			// coming and start as soon as a new owner serves them.
			select {
			case inflight <- struct{}{}:
			default:
				continue
			}
			go func() {
				defer func() { <-inflight }()
				rctx, rcancel := context.WithTimeout(sctx, 10*time.Second)
				defer rcancel()
				_ = s.submit(rctx, s.specs(per, s.cfg.StreamType, s.cfg.StreamPayload))
			}()
		}
	}()
	select {
	case <-time.After(s.cfg.StreamFor):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	s.mu.Lock()
	proc := s.nodes[victim]
	s.mu.Unlock()
	mu.Lock()
	n := len(victimShards)
	killedAt = time.Now()
	mu.Unlock()
	if n == 0 {
		return 0, fmt.Errorf("shoal: node %s ran no job in %s before the kill", victimIP, s.cfg.StreamFor)
	}
	_ = proc.Process.Signal(syscall.SIGKILL)
	select {
	case at := <-elsewhere:
		return at.Sub(killedAt), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("shoal: no job of the killed node's %d shards started elsewhere within %s: %w", n, timeout, ctx.Err())
	}
}
