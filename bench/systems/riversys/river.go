// Package riversys runs the benchmark against River (riverqueue/river) with
// Postgres through the riverpgxv5 driver.
package riversys

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/shoal-dev/shoal/bench/harness"
)

// NoopArgs are the benchmark job's arguments: the enqueue time.
type NoopArgs struct {
	// Stamp is the enqueue time in Unix nanoseconds.
	Stamp int64 `json:"s"`
}

// Kind implements river.JobArgs.
func (NoopArgs) Kind() string { return "bench_noop" }

// Config configures the River system.
type Config struct {
	// URL is the Postgres connection URL.
	URL string
	// MaxConns is the pgx pool size (pgxpool's default is max(4, CPUs)).
	MaxConns int32
	// MaxWorkers is the default queue's QueueConfig.MaxWorkers.
	MaxWorkers int
	// FetchCooldown and FetchPollInterval are River's fetch timings; the
	// defaults are 100 ms and 1 s, `river bench` uses 2 ms and 20 ms.
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
	// BatchSize is the number of jobs per InsertManyFast (COPY FROM) call.
	BatchSize int
	// InsertWorkers is how many batches are inserted in parallel.
	InsertWorkers int
}

// DefaultConfig is what the benchmark uses unless told otherwise: the
// settings of River's own `river bench` (MaxWorkers 2,000, fetch cooldown
// 2 ms, poll 20 ms, batches of 5,000). A sweep of MaxWorkers 100, 500,
// 1,000 and 2,000 on a 2-core machine agreed with 2,000 (see the bench
// README). The pool is raised from pgxpool's default (4 on 2 cores) so that
// inserts, fetches and completions do not queue for a connection.
func DefaultConfig(url string) Config {
	return Config{
		URL:               url,
		MaxConns:          32,
		MaxWorkers:        2000,
		FetchCooldown:     2 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		BatchSize:         5000,
		InsertWorkers:     2,
	}
}

// Validate reports a field that cannot work.
func (c Config) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("river: Postgres URL is empty: start Postgres with bench/scripts/services.sh start or pass -pg")
	case c.MaxConns < 2:
		return errors.New("river: the pool needs at least 2 connections (one listens for notifications)")
	case c.MaxWorkers < 1:
		return errors.New("river: MaxWorkers must be at least 1")
	case c.FetchCooldown < time.Millisecond || c.FetchPollInterval < c.FetchCooldown:
		return errors.New("river: FetchCooldown must be >= 1ms and FetchPollInterval >= FetchCooldown")
	case c.BatchSize < 1 || c.InsertWorkers < 1:
		return errors.New("river: BatchSize and InsertWorkers must be at least 1")
	}
	return nil
}

// System is River + Postgres.
type System struct {
	cfg      Config
	pool     *pgxpool.Pool
	inserter *river.Client[pgx.Tx]

	mu     sync.Mutex
	worker *river.Client[pgx.Tx]
	unsub  func()
	drain  chan struct{}
}

var _ harness.FailoverSystem = (*System)(nil)

// New returns the River system; it connects in Setup.
func New(cfg Config) (*System, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &System{cfg: cfg}, nil
}

// Name implements harness.System.
func (s *System) Name() string { return "river" }

// Config implements harness.System.
func (s *System) Config() string {
	version := "?"
	if s.pool != nil {
		_ = s.pool.QueryRow(context.Background(), "SHOW server_version").Scan(&version)
	}
	return fmt.Sprintf("River v0.51.2 (riverpgxv5, pgx v5.12.0), Postgres %s (defaults: fsync, synchronous_commit on), "+
		"MaxWorkers=%d, FetchCooldown=%s, FetchPollInterval=%s, pool MaxConns=%d, "+
		"enqueue: InsertManyFast (COPY) batches of %d x %d in parallel, completion from the JobCompleted subscription",
		version, s.cfg.MaxWorkers, s.cfg.FetchCooldown, s.cfg.FetchPollInterval, s.cfg.MaxConns, s.cfg.BatchSize, s.cfg.InsertWorkers)
}

// Setup implements harness.System: connects and runs River's migrations.
func (s *System) Setup(ctx context.Context) error {
	pc, err := pgxpool.ParseConfig(s.cfg.URL)
	if err != nil {
		return fmt.Errorf("river: parse Postgres URL: %w", err)
	}
	pc.MaxConns = s.cfg.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return fmt.Errorf("%w: river: %v", harness.ErrUnavailable, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return fmt.Errorf("%w: river: Postgres at %s: %v (start it with bench/scripts/services.sh start)", harness.ErrUnavailable, pc.ConnConfig.Host, err)
	}
	s.pool = pool
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("river: migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river: migrate: %w", err)
	}
	// An insert-only client (no queues) for enqueueing.
	s.inserter, err = river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return fmt.Errorf("river: insert client: %w", err)
	}
	return nil
}

// Reset implements harness.System: TRUNCATE and VACUUM FULL of river_job,
// as `river bench` does before it starts.
func (s *System) Reset(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, "TRUNCATE river_job"); err != nil {
		return fmt.Errorf("river: truncate: %w", err)
	}
	if _, err := s.pool.Exec(ctx, "VACUUM FULL river_job"); err != nil {
		return fmt.Errorf("river: vacuum: %w", err)
	}
	return nil
}

// Enqueue implements harness.System.
func (s *System) Enqueue(ctx context.Context, n int) error {
	batches := make(chan int)
	errs := make(chan error, s.cfg.InsertWorkers)
	var wg sync.WaitGroup
	for range s.cfg.InsertWorkers {
		wg.Go(func() {
			params := make([]river.InsertManyParams, 0, s.cfg.BatchSize)
			for size := range batches {
				params = params[:0]
				now := time.Now().UnixNano()
				for range size {
					params = append(params, river.InsertManyParams{Args: NoopArgs{Stamp: now}})
				}
				if _, err := s.inserter.InsertManyFast(ctx, params); err != nil {
					errs <- err
					for range batches {
					}
					return
				}
			}
		})
	}
	for left := n; left > 0; left -= s.cfg.BatchSize {
		batches <- min(left, s.cfg.BatchSize)
	}
	close(batches)
	wg.Wait()
	close(errs)
	return <-errs
}

// EnqueueOne implements harness.System.
func (s *System) EnqueueOne(ctx context.Context, stamp time.Time) error {
	_, err := s.inserter.Insert(ctx, NoopArgs{Stamp: stamp.UnixNano()}, nil)
	return err
}

// Start implements harness.System: a new working client per run.
func (s *System) Start(ctx context.Context, sink harness.Sink) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.worker != nil {
		return errors.New("river: workers already started")
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[NoopArgs]) error {
		return sink.Handle(ctx, time.Unix(0, j.Args.Stamp))
	}))
	client, err := river.NewClient(riverpgxv5.New(s.pool), &river.Config{
		FetchCooldown:     s.cfg.FetchCooldown,
		FetchPollInterval: s.cfg.FetchPollInterval,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: s.cfg.MaxWorkers}},
		Workers:           workers,
		Logger:            quietLogger(),
	})
	if err != nil {
		return fmt.Errorf("river: client: %w", err)
	}
	// Completion is counted from River's own events, after the completer
	// wrote the job's end state, as `river bench` does. The channel is large
	// because River drops events that overflow it.
	events, unsub := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: 1 << 18,
		Kinds:    []river.EventKind{river.EventKindJobCompleted},
	})
	drain := make(chan struct{})
	go func() {
		defer close(drain)
		for ev := range events {
			if ev != nil {
				sink.Completed()
			}
		}
	}()
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		unsub()
		return fmt.Errorf("river: start: %w", err)
	}
	s.worker, s.unsub, s.drain = client, unsub, drain
	return nil
}

// Stop implements harness.System.
func (s *System) Stop(ctx context.Context) error {
	s.mu.Lock()
	client, unsub, drain := s.worker, s.unsub, s.drain
	s.worker, s.unsub, s.drain = nil, nil, nil
	s.mu.Unlock()
	if client == nil {
		return nil
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := client.StopAndCancel(stopCtx)
	unsub()
	<-drain
	return err
}

// Teardown implements harness.System.
func (s *System) Teardown(ctx context.Context) error {
	err := s.Stop(ctx)
	if s.pool != nil {
		s.pool.Close()
	}
	return err
}

// River v0.51.2 defaults that decide its failover (internal/maintenance
// and internal/retrypolicy): a job stays "running" until the leader's
// rescuer, every 30 s, finds it running for longer than
// RescueStuckJobsAfter (1 h, no heartbeat); the rescued job is retryable
// after attempt^4 s (1 s, +-10 %), the scheduler makes it available within
// 5 s, and the next fetch (poll 1 s by default) starts it.
const (
	rescueAfter       = time.Hour
	rescuerInterval   = 30 * time.Second
	firstRetryMin     = 900 * time.Millisecond
	firstRetryMax     = 1100 * time.Millisecond
	schedulerInterval = 5 * time.Second
	defaultPoll       = time.Second
)

// FailoverDefaults implements harness.FailoverSystem.
func (s *System) FailoverDefaults() harness.FailoverEstimate {
	return harness.FailoverEstimate{
		Min:     rescueAfter + firstRetryMin,
		Typical: rescueAfter + rescuerInterval/2 + time.Second + schedulerInterval/2 + defaultPoll/2,
		Max:     rescueAfter + rescuerInterval + firstRetryMax + schedulerInterval + defaultPoll,
		How: "no heartbeat: the leader's rescuer (every 30s) takes jobs running longer than RescueStuckJobsAfter=1h; " +
			"retry after ~1s; scheduler 5s; fetch poll 1s",
	}
}

// MeasureFailover implements harness.FailoverSystem.
func (s *System) MeasureFailover(ctx context.Context, env harness.ChildEnv, timeout time.Duration) (time.Duration, error) {
	return harness.MeasureByChild(ctx, s, env, timeout)
}
