package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func nan() float64 { return math.NaN() }

// Runner runs the scenarios against the systems.
type Runner struct {
	cfg     Config
	mode    string
	systems []System
	clock   func() time.Time
	log     io.Writer
	subject string
}

// Option changes a Runner.
type Option func(*Runner)

// WithClock injects the clock (tests).
func WithClock(clock func() time.Time) Option { return func(r *Runner) { r.clock = clock } }

// WithProgress sends one line per run to w.
func WithProgress(w io.Writer) Option { return func(r *Runner) { r.log = w } }

// WithSubject names the system whose ratio to each other system is
// reported; by default the first system whose name starts with "shoal",
// else the first system.
func WithSubject(name string) Option { return func(r *Runner) { r.subject = name } }

// WithMode records the mode name ("quick", "full") in the results.
func WithMode(mode string) Option { return func(r *Runner) { r.mode = mode } }

// New checks cfg and returns a Runner.
func New(cfg Config, systems []System, opts ...Option) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(systems) == 0 {
		return nil, fmt.Errorf("%w: no systems to run", ErrBadConfig)
	}
	r := &Runner{cfg: cfg, systems: systems, clock: time.Now, log: io.Discard}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

func (r *Runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "bench: "+format+"\n", args...)
}

// Run sets the systems up, runs every scenario alternating between them and
// tears them down. env starts child workers for measured failover; nil
// disables measuring. A system that fails Setup is skipped, not fatal.
func (r *Runner) Run(ctx context.Context, env ChildEnv) (*Results, error) {
	res := newResults(r.cfg)
	res.Mode = r.mode
	res.Started = r.clock()
	var live []System
	for _, s := range r.systems {
		if err := s.Setup(ctx); err != nil {
			res.Skipped[s.Name()] = err.Error()
			r.logf("skipping %s: %v", s.Name(), err)
			continue
		}
		live = append(live, s)
		res.Systems = append(res.Systems, SystemInfo{Name: s.Name(), Config: s.Config()})
	}
	defer func() {
		for _, s := range live {
			_ = s.Stop(context.WithoutCancel(ctx))
			_ = s.Teardown(context.WithoutCancel(ctx))
		}
	}()
	if len(live) == 0 {
		return res, fmt.Errorf("no system could be set up (start the servers with scripts/services.sh start): %v", res.Skipped)
	}
	res.Subjects = r.pickSubjects(live)
	res.Subject = res.Subjects[0]

	steps := []struct {
		name string
		run  func(context.Context, []System, *Results) error
	}{
		{"burn-down", r.runBurnDown},
		{"steady", r.runSteady},
		{"latency", r.runLatency},
		{"scale", r.runScale},
		{"failover", func(ctx context.Context, s []System, res *Results) error { return r.runFailover(ctx, s, res, env) }},
		{"rss", r.runRSS},
	}
	for _, st := range steps {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("interrupted before %s: %w", st.name, err)
		}
		if !r.cfg.runs(st.name) {
			continue
		}
		began := r.clock()
		if err := st.run(ctx, live, res); err != nil {
			return res, fmt.Errorf("%s: %w", st.name, err)
		}
		r.logf("%s took %s", st.name, r.clock().Sub(began).Round(time.Second))
	}
	res.Elapsed = r.clock().Sub(res.Started)
	return res, nil
}

// pickSubjects returns the systems named by WithSubject (comma-separated)
// that run, else every system whose name starts with "shoal", else the
// first system.
func (r *Runner) pickSubjects(live []System) []string {
	var out []string
	if r.subject != "" {
		for _, want := range strings.Split(r.subject, ",") {
			for _, s := range live {
				if s.Name() == strings.TrimSpace(want) {
					out = append(out, s.Name())
				}
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	for _, s := range live {
		if strings.HasPrefix(s.Name(), "shoal") {
			out = append(out, s.Name())
		}
	}
	if len(out) == 0 {
		out = []string{live[0].Name()}
	}
	return out
}

// alternate calls f for rep 0..reps-1, and within each rep for every system
// in order: A B A B ... A system that failed failLimit runs in a row is
// left out of the rest of the scenario (its runs would only burn time).
func (r *Runner) alternate(ctx context.Context, reps int, systems []System, f func(ctx context.Context, rep int, s System) bool) error {
	const failLimit = 2
	fails := map[string]int{}
	for rep := range reps {
		for _, s := range systems {
			if err := ctx.Err(); err != nil {
				return err
			}
			if fails[s.Name()] >= failLimit {
				continue
			}
			if f(ctx, rep, s) {
				fails[s.Name()] = 0
				continue
			}
			fails[s.Name()]++
			if fails[s.Name()] == failLimit {
				r.logf("%s failed %d runs in a row: leaving it out of the rest of this scenario", s.Name(), failLimit)
			}
		}
	}
	return nil
}

func (r *Runner) runBurnDown(ctx context.Context, systems []System, res *Results) error {
	return r.alternate(ctx, r.cfg.Reps, systems, func(ctx context.Context, rep int, s System) bool {
		t := r.burnDown(ctx, s, r.cfg.N)
		res.BurnDown[s.Name()] = append(res.BurnDown[s.Name()], t)
		r.logThroughput("burn-down", rep, s, t)
		return t.Err == ""
	})
}

func (r *Runner) runSteady(ctx context.Context, systems []System, res *Results) error {
	return r.alternate(ctx, r.cfg.Reps, systems, func(ctx context.Context, rep int, s System) bool {
		t := r.steady(ctx, s, r.cfg.N)
		res.Steady[s.Name()] = append(res.Steady[s.Name()], t)
		r.logThroughput("steady", rep, s, t)
		return t.Err == ""
	})
}

func (r *Runner) runScale(ctx context.Context, systems []System, res *Results) error {
	if r.cfg.ScaleReps == 0 {
		return nil
	}
	for _, n := range r.cfg.Sizes {
		// The burn-down scenario already ran at N: its runs are this size's
		// (when it ran at least ScaleReps times), not run again.
		if n == r.cfg.N && r.cfg.runs("burn-down") && r.cfg.Reps >= r.cfg.ScaleReps {
			for _, s := range systems {
				if res.Scale[s.Name()] == nil {
					res.Scale[s.Name()] = map[int][]ThroughputRun{}
				}
				res.Scale[s.Name()][n] = slices.Clone(res.BurnDown[s.Name()])
			}
			r.logf("scale N=%d: the burn-down runs at N=%d", n, n)
			continue
		}
		err := r.alternate(ctx, r.cfg.ScaleReps, systems, func(ctx context.Context, rep int, s System) bool {
			t := r.burnDown(ctx, s, n)
			if res.Scale[s.Name()] == nil {
				res.Scale[s.Name()] = map[int][]ThroughputRun{}
			}
			res.Scale[s.Name()][n] = append(res.Scale[s.Name()][n], t)
			r.logThroughput(fmt.Sprintf("scale N=%d", n), rep, s, t)
			return t.Err == ""
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) logThroughput(what string, rep int, s System, t ThroughputRun) {
	if t.Err != "" {
		r.logf("%s run %d %s: FAILED: %s", what, rep+1, s.Name(), t.Err)
		return
	}
	r.logf("%s run %d %s: %.0f jobs/s (N=%d, enqueue %s, work %s)", what, rep+1, s.Name(),
		t.JobsPerSec(), t.N, t.Enqueue.Round(time.Millisecond), t.Work.Round(time.Millisecond))
}

// burnDown enqueues n jobs with no worker running, then starts the workers
// and times until the last job completed.
func (r *Runner) burnDown(ctx context.Context, s System, n int) ThroughputRun {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RunTimeout)
	defer cancel()
	out := ThroughputRun{N: n}
	if err := s.Reset(ctx); err != nil {
		out.Err = fmt.Sprintf("reset: %v", err)
		return out
	}
	t := r.clock()
	if err := s.Enqueue(ctx, n); err != nil {
		out.Err = fmt.Sprintf("enqueue: %v", err)
		return out
	}
	out.Enqueue = r.clock().Sub(t)
	rec := newRecorder(r.clock, n, false)
	t0 := r.clock()
	if err := s.Start(ctx, rec); err != nil {
		out.Err = fmt.Sprintf("start workers: %v", err)
		return out
	}
	defer func() { _ = s.Stop(context.WithoutCancel(ctx)) }()
	if err := rec.wait(ctx); err != nil {
		out.Err = err.Error()
		return out
	}
	if u, ok := s.(Unpausable); ok && u.RunsWhileEnqueueing() {
		t0 = t
	}
	out.Work = rec.last().Sub(t0)
	return out
}

// steady starts the workers, then enqueues n jobs while they work, and
// times from the first enqueue to the last completion.
func (r *Runner) steady(ctx context.Context, s System, n int) ThroughputRun {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RunTimeout)
	defer cancel()
	out := ThroughputRun{N: n}
	if err := s.Reset(ctx); err != nil {
		out.Err = fmt.Sprintf("reset: %v", err)
		return out
	}
	rec := newRecorder(r.clock, n, false)
	if err := s.Start(ctx, rec); err != nil {
		out.Err = fmt.Sprintf("start workers: %v", err)
		return out
	}
	defer func() { _ = s.Stop(context.WithoutCancel(ctx)) }()
	t0 := r.clock()
	enqErr := make(chan error, 1)
	go func() {
		err := s.Enqueue(ctx, n)
		out.Enqueue = r.clock().Sub(t0)
		enqErr <- err
	}()
	waitErr := rec.wait(ctx)
	if err := <-enqErr; err != nil {
		out.Err = fmt.Sprintf("enqueue: %v", err)
		return out
	}
	if waitErr != nil {
		out.Err = waitErr.Error()
		return out
	}
	out.Work = rec.last().Sub(t0)
	return out
}

func (r *Runner) runLatency(ctx context.Context, systems []System, res *Results) error {
	return r.alternate(ctx, r.cfg.Reps, systems, func(ctx context.Context, rep int, s System) bool {
		peak := Median(Throughputs(res.BurnDown[s.Name()]))
		if math.IsNaN(peak) || peak <= 0 {
			res.Latency[s.Name()] = append(res.Latency[s.Name()], LatencyRun{Err: "no burn-down figure to derive the rate from"})
			return false
		}
		l := r.latency(ctx, s, r.cfg.LatencyLoad*peak)
		res.Latency[s.Name()] = append(res.Latency[s.Name()], l)
		if l.Err != "" {
			r.logf("latency run %d %s: FAILED: %s", rep+1, s.Name(), l.Err)
			return false
		}
		r.logf("latency run %d %s: p50 %s p99 %s at %.0f jobs/s (target %.0f)", rep+1, s.Name(),
			l.P50.Round(10*time.Microsecond), l.P99.Round(10*time.Microsecond), l.Achieved, l.Rate)
		return true
	})
}

// latency enqueues single jobs at rate jobs/s for the configured duration,
// job i due at start + i/rate, from several producers, and records each
// job's enqueue-to-start latency. Producers that cannot keep up with the
// rate stop at the duration all the same (the achieved rate is reported).
func (r *Runner) latency(ctx context.Context, s System, rate float64) LatencyRun {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RunTimeout)
	defer cancel()
	out := LatencyRun{Rate: rate}
	if err := s.Reset(ctx); err != nil {
		out.Err = fmt.Sprintf("reset: %v", err)
		return out
	}
	rec := newRecorder(r.clock, 0, true)
	if err := s.Start(ctx, rec); err != nil {
		out.Err = fmt.Sprintf("start workers: %v", err)
		return out
	}
	defer func() { _ = s.Stop(context.WithoutCancel(ctx)) }()

	total := int64(rate * r.cfg.LatencyDuration.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	start := r.clock()
	var (
		next     atomic.Int64
		enqueued atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range r.cfg.LatencyProducers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				// The run ends at LatencyDuration even if the producers fell
				// behind the rate: Achieved then shows the shortfall.
				if i >= total || ctx.Err() != nil || r.clock().Sub(start) >= r.cfg.LatencyDuration {
					return
				}
				if d := start.Add(time.Duration(i) * interval).Sub(r.clock()); d > 0 {
					time.Sleep(d)
				}
				if err := s.EnqueueOne(ctx, r.clock()); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				enqueued.Add(1)
			}
		})
	}
	wg.Wait()
	spent := r.clock().Sub(start)
	out.Achieved = float64(enqueued.Load()) / spent.Seconds()
	if firstErr != nil {
		out.Err = fmt.Sprintf("enqueue: %v", firstErr)
		return out
	}
	rec.setTarget(int(enqueued.Load()))
	if err := rec.wait(ctx); err != nil {
		out.Err = err.Error()
		return out
	}
	lat := rec.latencies()
	out.Jobs = len(lat)
	out.P50 = Percentile(lat, 50)
	out.P99 = Percentile(lat, 99)
	out.Max = Percentile(lat, 100)
	return out
}

func (r *Runner) runFailover(ctx context.Context, systems []System, res *Results, env ChildEnv) error {
	if r.cfg.Failover == FailoverSkip {
		return nil
	}
	var fs []FailoverSystem
	for _, s := range systems {
		f, ok := s.(FailoverSystem)
		if !ok {
			res.Failover[s.Name()] = FailoverResult{Note: "the system does not describe its failover"}
			continue
		}
		est := f.FailoverDefaults()
		fr := FailoverResult{Estimate: est}
		switch {
		case r.cfg.Failover != FailoverMeasure && !est.Cheap:
			fr.Note = "computed from documented defaults (quick mode; -failover measure kills real workers)"
		case env == nil:
			fr.Note = "computed: no child-process environment to kill workers in"
		case est.Max > r.cfg.FailoverTimeout:
			fr.Note = fmt.Sprintf("computed: the documented maximum %s exceeds the failover timeout %s", est.Max, r.cfg.FailoverTimeout)
		default:
			fs = append(fs, f)
		}
		res.Failover[s.Name()] = fr
	}
	for rep := range r.cfg.FailoverRuns {
		for _, f := range fs {
			if err := ctx.Err(); err != nil {
				return err
			}
			fr := res.Failover[f.Name()]
			d, err := f.MeasureFailover(ctx, env, r.cfg.FailoverTimeout)
			_ = f.Stop(context.WithoutCancel(ctx))
			if err != nil {
				if errors.Is(err, context.Canceled) && ctx.Err() != nil {
					return err
				}
				if errors.Is(err, ErrNotApplicable) {
					fr.Note = err.Error()
					res.Failover[f.Name()] = fr
					continue
				}
				fr.Note = fmt.Sprintf("run %d failed: %v", rep+1, err)
				r.logf("failover run %d %s: FAILED: %v", rep+1, f.Name(), err)
			} else {
				fr.Measured = append(fr.Measured, d)
				r.logf("failover run %d %s: job restarted %s after kill -9", rep+1, f.Name(), d.Round(time.Millisecond))
			}
			res.Failover[f.Name()] = fr
		}
	}
	return nil
}

// runRSS measures the memory of the first subject that can report it (the
// subject's node processes: idle, then with RSSQueued queued jobs).
func (r *Runner) runRSS(ctx context.Context, systems []System, res *Results) error {
	if r.cfg.RSSNodes == 0 {
		return nil
	}
	var m MemorySystem
	for _, name := range append(slices.Clone(res.Subjects), res.Names()...) {
		for _, s := range systems {
			if ms, ok := s.(MemorySystem); ok && s.Name() == name && m == nil {
				m = ms
			}
		}
	}
	if m == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RunTimeout)
	defer cancel()
	out, err := m.MeasureRSS(ctx, r.cfg.RSSNodes, r.cfg.RSSQueued)
	_ = m.Stop(context.WithoutCancel(ctx))
	if out.System == "" {
		out.System = m.Name()
	}
	out.Nodes, out.Queued = r.cfg.RSSNodes, r.cfg.RSSQueued
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return err
		}
		out.Err = err.Error()
		r.logf("rss %s: FAILED: %v", m.Name(), err)
	} else {
		r.logf("rss %s: idle %v, with %d queued %v (bytes)", out.System, out.Idle, out.Queued, out.Loaded)
	}
	res.RSS = &out
	return nil
}
