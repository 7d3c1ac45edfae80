package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// Register a typed handler and run one job with the executor.
func ExampleRegisterFunc() {
	type greetIn struct {
		Name string `json:"name"`
	}
	type greetOut struct {
		Greeting string `json:"greeting"`
	}
	reg := jobs.NewRegistry()
	err := jobs.RegisterFunc(reg, "greet", func(ctx context.Context, in greetIn) (greetOut, error) {
		if in.Name == "" {
			return greetOut{}, jobs.Permanent(fmt.Errorf("no name: send {\"name\": ...}"))
		}
		return greetOut{Greeting: "hello, " + in.Name}, nil
	})
	if err != nil {
		panic(err)
	}

	exec, err := jobs.NewExecutor(jobs.DefaultExecutorConfig(), reg, zerolog.Nop())
	if err != nil {
		panic(err)
	}
	done := make(chan jobs.Outcome, 1)
	exec.TryRun(jobs.Job{ID: jobs.NewID(), Type: "greet", Payload: json.RawMessage(`{"name":"shoal"}`)},
		func(_ jobs.Job, out jobs.Outcome) { done <- out })
	out := <-done
	exec.Stop(context.Background())
	fmt.Println(string(out.Result), out.Err)
	// Output: {"greeting":"hello, shoal"} <nil>
}

// A job's life on its shard: submitted, started, failed once, retried,
// succeeded; the records replayed on a fresh shard give the same state.
func ExampleShard() {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	shard := jobs.NewShard(7, jobs.DefaultShardConfig())
	var log []jobs.Record

	j := jobs.Job{Type: "greet", Payload: json.RawMessage(`{"name":"shoal"}`), MaxAttempts: 3}
	if err := j.Normalize(now, jobs.DefaultLimits()); err != nil {
		panic(err)
	}
	rec, _ := shard.Enqueue(j, now)
	log = append(log, rec)

	started, rec, _ := shard.StartNext("worker-1", now)
	log = append(log, rec)
	failed, rec, _ := shard.Complete(started.ID, jobs.Outcome{Err: fmt.Errorf("upstream timeout")}, now)
	log = append(log, rec)
	fmt.Println(failed.State, failed.Attempt, failed.LastError)

	// The retry comes due after the backoff (about 1 s).
	log = append(log, shard.Promote(failed.RunAt)...)
	started, rec, _ = shard.StartNext("worker-2", failed.RunAt)
	log = append(log, rec)
	done, rec, _ := shard.Complete(started.ID, jobs.Outcome{Result: json.RawMessage(`"ok"`)}, failed.RunAt)
	log = append(log, rec)
	fmt.Println(done.State, done.Attempt, done.Runner, string(done.Result))

	// Replay the log, through the codec, on a new owner.
	replayed := jobs.NewShard(7, jobs.DefaultShardConfig())
	recs, _ := jobs.DecodeRecords(jobs.EncodeRecords(nil, log))
	for _, r := range recs {
		if err := replayed.Apply(r); err != nil {
			panic(err)
		}
	}
	again, _ := replayed.Get(j.ID)
	fmt.Println(len(log), "records;", again.State, again.Attempt)
	// Output:
	// scheduled 1 upstream timeout
	// succeeded 2 worker-2 "ok"
	// 6 records; succeeded 2
}

func ExampleShardOf() {
	id := jobs.UniqueID("default", "email", "user-42")
	again := jobs.UniqueID("default", "email", "user-42")
	fmt.Println(jobs.ValidID(id), id != again, jobs.ShardOf(id, 271) == jobs.ShardOf(again, 271))
	// Output: true true true
}
