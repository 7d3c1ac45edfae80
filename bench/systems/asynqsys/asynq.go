// Package asynqsys runs the benchmark against asynq (hibiken/asynq) with
// Redis.
package asynqsys

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/shoal-dev/shoal/bench/harness"
)

// TaskType is the type of the benchmark's no-op task.
const TaskType = "bench:noop"

// Config configures the asynq system.
type Config struct {
	// Addr is the Redis address, host:port.
	Addr string
	// Concurrency is asynq's Config.Concurrency: worker goroutines of the
	// one server. asynq's default is the CPU count; its README and wiki set
	// it explicitly for throughput (see DefaultConfig).
	Concurrency int
	// PoolSize is the Redis connection pool of each asynq client and server;
	// 0 keeps go-redis' default (10 per CPU).
	PoolSize int
	// EnqueueWorkers is how many goroutines enqueue in parallel: asynq
	// v0.26 has no batch enqueue, so bulk enqueueing is parallel single
	// Enqueue calls.
	EnqueueWorkers int
}

// DefaultConfig is the configuration the benchmark uses unless told
// otherwise. asynq's default Concurrency is the CPU count (2 here); its
// README example sets 10. In a sweep of 10, 50, 100 and 200 on a 2-core
// machine, 10 to 100 were alike within the noise for no-op jobs and 200 was
// worse; 100 keeps enough pollers for short enqueue-to-start latency (see
// the bench README).
func DefaultConfig(addr string) Config {
	return Config{Addr: addr, Concurrency: 100, EnqueueWorkers: 32}
}

// Validate reports a field that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("asynq: Redis address is empty: start Redis with bench/scripts/services.sh start or pass -redis")
	case c.Concurrency < 1:
		return errors.New("asynq: concurrency must be at least 1")
	case c.EnqueueWorkers < 1:
		return errors.New("asynq: enqueue workers must be at least 1")
	}
	return nil
}

// System is asynq + Redis.
type System struct {
	cfg    Config
	rdb    *redis.Client
	client *asynq.Client

	mu  sync.Mutex
	srv *asynq.Server
}

var _ harness.FailoverSystem = (*System)(nil)

// New returns the asynq system; it connects in Setup.
func New(cfg Config) (*System, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &System{cfg: cfg}, nil
}

// Name implements harness.System.
func (s *System) Name() string { return "asynq" }

func (s *System) connOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: s.cfg.Addr, PoolSize: s.cfg.PoolSize}
}

// Config implements harness.System.
func (s *System) Config() string {
	pool := "go-redis default pool"
	if s.cfg.PoolSize > 0 {
		pool = fmt.Sprintf("PoolSize=%d", s.cfg.PoolSize)
	}
	version := "?"
	if s.rdb != nil {
		if info, err := s.rdb.InfoMap(context.Background(), "server").Result(); err == nil {
			version = info["Server"]["redis_version"]
		}
	}
	return fmt.Sprintf("asynq v0.26.0, Redis %s (no persistence), Concurrency=%d, 1 queue, %s, TaskCheckInterval=1s (default), "+
		"enqueue: %d goroutines of single Enqueue (no batch API), completion counted at handler return",
		version, s.cfg.Concurrency, pool, s.cfg.EnqueueWorkers)
}

// Setup implements harness.System.
func (s *System) Setup(ctx context.Context) error {
	s.rdb = redis.NewClient(&redis.Options{Addr: s.cfg.Addr})
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		_ = s.rdb.Close()
		s.rdb = nil
		return fmt.Errorf("%w: asynq: Redis at %s: %v (start it with bench/scripts/services.sh start)", harness.ErrUnavailable, s.cfg.Addr, err)
	}
	s.client = asynq.NewClient(s.connOpt())
	return nil
}

// Reset implements harness.System: FLUSHDB of the benchmark's Redis.
func (s *System) Reset(ctx context.Context) error {
	return s.rdb.FlushDB(ctx).Err()
}

func stamped(t time.Time) *asynq.Task {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixNano()))
	return asynq.NewTask(TaskType, b[:])
}

func stampOf(p []byte) time.Time {
	if len(p) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(p)))
}

// Enqueue implements harness.System.
func (s *System) Enqueue(ctx context.Context, n int) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	per := (n + s.cfg.EnqueueWorkers - 1) / s.cfg.EnqueueWorkers
	for w := range s.cfg.EnqueueWorkers {
		lo, hi := w*per, min((w+1)*per, n)
		if lo >= hi {
			break
		}
		wg.Go(func() {
			for range hi - lo {
				if _, err := s.client.EnqueueContext(ctx, stamped(time.Now())); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// EnqueueOne implements harness.System.
func (s *System) EnqueueOne(ctx context.Context, stamp time.Time) error {
	_, err := s.client.EnqueueContext(ctx, stamped(stamp))
	return err
}

// Start implements harness.System.
func (s *System) Start(_ context.Context, sink harness.Sink) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("asynq: workers already started")
	}
	srv := asynq.NewServer(s.connOpt(), asynq.Config{
		Concurrency:     s.cfg.Concurrency,
		Queues:          map[string]int{"default": 1},
		LogLevel:        asynq.FatalLevel,
		ShutdownTimeout: 2 * time.Second,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(TaskType, func(ctx context.Context, t *asynq.Task) error {
		if err := sink.Handle(ctx, stampOf(t.Payload())); err != nil {
			return err
		}
		sink.Completed()
		return nil
	})
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("asynq: start server: %w", err)
	}
	s.srv = srv
	return nil
}

// Stop implements harness.System.
func (s *System) Stop(context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
	}
	return nil
}

// Teardown implements harness.System.
func (s *System) Teardown(ctx context.Context) error {
	_ = s.Stop(ctx)
	var errs []error
	if s.client != nil {
		errs = append(errs, s.client.Close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	return errors.Join(errs...)
}

// asynq v0.26.0 constants that decide its failover (internal/rdb and
// server.go): the lease a worker holds on an active task and renews with
// every heartbeat, the heartbeat interval, the recoverer's interval and the
// extra grace it waits past a lease's expiry, the forwarder's interval that
// moves due retries to pending, and the processor's idle poll.
const (
	leaseDuration     = 30 * time.Second
	heartbeatInterval = 5 * time.Second
	recovererInterval = time.Minute
	recovererGrace    = 30 * time.Second
	forwarderInterval = 5 * time.Second
	retryDelayMin     = 15 * time.Second // DefaultRetryDelayFunc, first retry: 0^4 + 15 + rand(30) s
	retryDelaySpread  = 29 * time.Second
	idlePollMax       = 1500 * time.Millisecond // TaskCheckInterval/2 + jitter(TaskCheckInterval)
)

// FailoverDefaults implements harness.FailoverSystem.
func (s *System) FailoverDefaults() harness.FailoverEstimate {
	// The lease expires 25-30 s after the kill (last renewal 0-5 s before
	// it); the recoverer takes a task only 30 s after that, at its next
	// run, at most a minute later; it schedules a retry 15-44 s out; the
	// forwarder moves it to pending within 5 s; an idle processor polls
	// within 1.5 s.
	minD := leaseDuration - heartbeatInterval + recovererGrace + retryDelayMin
	maxD := leaseDuration + recovererGrace + recovererInterval + retryDelayMin + retryDelaySpread + forwarderInterval + idlePollMax
	typ := leaseDuration - heartbeatInterval/2 + recovererGrace + recovererInterval/2 + retryDelayMin + retryDelaySpread/2 + forwarderInterval/2 + idlePollMax/2
	return harness.FailoverEstimate{
		Min: minD, Typical: typ, Max: maxD,
		How: "lease 30s renewed every 5s; recoverer every 1m takes tasks 30s past lease expiry; " +
			"then retry after 15-44s (DefaultRetryDelayFunc); forwarder 5s; idle poll <=1.5s",
	}
}

// MeasureFailover implements harness.FailoverSystem.
func (s *System) MeasureFailover(ctx context.Context, env harness.ChildEnv, timeout time.Duration) (time.Duration, error) {
	return harness.MeasureByChild(ctx, s, env, timeout)
}
