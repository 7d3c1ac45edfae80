package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/shoal-dev/shoal/pkg/builtin"
	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/discovery"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// testNode starts an in-process node on ip with the default ports.
func testNode(t *testing.T, ip string, peers []string, tweak func(*Config)) *Node {
	t.Helper()
	reg := jobs.NewRegistry()
	bcfg := builtin.DefaultConfig()
	if err := builtin.Register(reg, bcfg); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.AdvertiseAddr = ip
	cfg.Registry = reg
	cfg.Shards = 32
	cfg.Shard.Retry.Base = 10 * time.Millisecond
	cfg.Shard.Retry.Max = 50 * time.Millisecond
	cfg.DrainTimeout = 2 * time.Second
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Str("ip", ip).Logger()
	if len(peers) > 0 {
		s, err := discovery.NewStatic(peers)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Discovery = s
		cfg.DiscoveryInterval = 500 * time.Millisecond
		cfg.FormationTimeout = 5 * time.Second
	}
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Kill)
	return n
}

func waitCond(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: %v", what, err)
}

func dial(t *testing.T, ip string) *client.Client {
	t.Helper()
	cfg := client.DefaultConfig()
	cfg.Servers = "nats://" + ip + ":4222"
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestOneNodeRunsJobsToTheirEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Olric and NATS")
	}
	n := testNode(t, "127.0.20.1", nil, nil)
	waitCond(t, 10*time.Second, "ready", func() error {
		if ok, why := n.Ready(); !ok {
			return fmt.Errorf("%s", why)
		}
		return nil
	})
	c := dial(t, "127.0.20.1")
	ctx := context.Background()

	specs := make([]client.JobSpec, 200)
	for i := range specs {
		specs[i] = client.JobSpec{Type: "echo", Payload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
	}
	res, err := c.Submit(ctx, specs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Error != nil || r.ID == "" {
			t.Fatalf("job %d refused: %+v", i, r.Error)
		}
	}
	failID, err := c.SubmitOne(ctx, client.JobSpec{Type: "fail", Payload: json.RawMessage(`{}`), MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	waitCond(t, 20*time.Second, "all jobs done", func() error {
		st, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		if st.Counts[jobs.StateSucceeded] != 200 || st.Counts[jobs.StateDead] != 1 {
			return fmt.Errorf("counts %v", st.Counts)
		}
		return nil
	})
	j, err := c.Status(ctx, res[7].ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != jobs.StateSucceeded || string(j.Result) != `{"i":7}` {
		t.Fatalf("echo job: state %s result %s", j.State, j.Result)
	}
	d, err := c.Status(ctx, failID)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != jobs.StateDead || d.Attempt != 3 || d.LastError == "" {
		t.Fatalf("fail job: state %s attempt %d error %q", d.State, d.Attempt, d.LastError)
	}

	// Unknown type and unknown ID are refused with their codes.
	if _, err := c.SubmitOne(ctx, client.JobSpec{Type: "nope"}); err == nil {
		t.Fatal("unknown type accepted")
	}
	if _, err := c.Status(ctx, jobs.NewID()); err == nil {
		t.Fatal("unknown ID found")
	}
}
