// Command failover measures how fast a crashed worker's shards run jobs
// again elsewhere: it starts a 3-node cluster on loopback, keeps a stream of
// short jobs flowing, kills one node with SIGKILL, and times from the kill
// to the first job of one of that node's shards starting on another node.
// It repeats that -runs times and prints each figure, the median and the max.
//
//	go run ./scripts/measure/failover -runs 10
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
	"github.com/shoal-dev/shoal/scripts/measure/internal/measure"
)

func main() {
	runs := flag.Int("runs", 10, "how many kills to time")
	prefix := flag.String("prefix", "127.0.60", "loopback /24 for the nodes (.1 .. .3)")
	worker := flag.String("worker", "", "worker binary (default: built from ./cmd/worker)")
	rate := flag.Int("rate", 200, "jobs coming due per second during a run")
	shards := flag.Int("shards", 256, "the cluster's shard count")
	logs := flag.String("logs", "", "keep each node's log (info level) in this directory as run<R>-<ip>.log")
	flag.Parse()
	if *worker == "" {
		bin, cleanup, err := measure.BuildWorker("shoal-failover-")
		if err != nil {
			fail(err)
		}
		defer cleanup()
		*worker = bin
	}
	var figures []time.Duration
	for r := 1; r <= *runs; r++ {
		d, err := once(*worker, *prefix, *rate, *shards, *logs, r)
		if err != nil {
			fmt.Printf("run %2d: %v\n", r, err)
			continue
		}
		fmt.Printf("run %2d: failover %s\n", r, d.Round(time.Millisecond))
		figures = append(figures, d)
	}
	if len(figures) == 0 {
		fail(fmt.Errorf("no run succeeded"))
	}
	sort.Slice(figures, func(a, b int) bool { return figures[a] < figures[b] })
	med := figures[len(figures)/2]
	if len(figures)%2 == 0 {
		med = (figures[len(figures)/2-1] + figures[len(figures)/2]) / 2
	}
	fmt.Printf("failover over %d runs: median %s, max %s, min %s\n", len(figures),
		med.Round(time.Millisecond), figures[len(figures)-1].Round(time.Millisecond), figures[0].Round(time.Millisecond))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "failover:", err)
	os.Exit(1)
}

func once(worker, prefix string, rate, shards int, logs string, run int) (time.Duration, error) {
	var ips []string
	for i := 1; i <= 3; i++ {
		ips = append(ips, fmt.Sprintf("%s.%d", prefix, i))
	}
	peers := ips[0] + "," + ips[1] + "," + ips[2]
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGKILL)
			_ = p.Wait()
		}
	}()
	for _, ip := range ips {
		level := "warn"
		if logs != "" {
			level = "info"
		}
		cmd := exec.Command(worker, "--advertise-addr", ip, "--peers", peers, "--shards", fmt.Sprint(shards), "--log-level", level)
		cmd.Env = append(os.Environ(), "SHOAL_SECRET=")
		if logs != "" {
			f, err := os.Create(filepath.Join(logs, fmt.Sprintf("run%d-%s.log", run, ip)))
			if err != nil {
				return 0, err
			}
			defer f.Close()
			cmd.Stdout, cmd.Stderr = f, f
		}
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		procs = append(procs, cmd)
	}
	for _, ip := range ips {
		if err := measure.WaitReady(ip, 60*time.Second); err != nil {
			return 0, err
		}
	}
	cfg := client.DefaultConfig()
	cfg.Servers = "nats://" + ips[0] + ":4222"
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()

	victim := ips[2]
	var mu sync.Mutex
	victimShards := map[int]bool{}
	var killedAt, firstElsewhere time.Time
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = c.Watch(ctx, func(ev client.Event) {
			if ev.Kind != "job" || ev.State != jobs.StateRunning {
				return
			}
			shard := jobs.ShardOf(ev.JobID, shards)
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case killedAt.IsZero() && ev.Node == victim:
				victimShards[shard] = true
			case !killedAt.IsZero() && ev.Node != victim && victimShards[shard] && firstElsewhere.IsZero():
				firstElsewhere = now
				close(done)
			}
		})
	}()
	// Jobs that come due continuously over the next 20 s, in every shard:
	// after the kill, the dead node's shards have due jobs at every moment,
	// so the first of them starting elsewhere marks the takeover (a live
	// submission stream would measure the client's retries instead).
	specs := make([]client.JobSpec, rate*20)
	for i := range specs {
		delay := time.Second + time.Duration(i)*20*time.Second/time.Duration(len(specs))
		specs[i] = client.JobSpec{Type: "sleep", Payload: json.RawMessage(`{"ms":5}`), Delay: client.Duration(delay)}
	}
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	res, err := c.Submit(sctx, specs)
	scancel()
	if err != nil {
		return 0, fmt.Errorf("submit: %w", err)
	}
	for _, r := range res {
		if r.Error != nil {
			return 0, fmt.Errorf("submit: %s", r.Error.Message)
		}
	}
	// Let the victim run jobs of most of its shards, then kill it.
	time.Sleep(3 * time.Second)
	mu.Lock()
	n := len(victimShards)
	killedAt = time.Now()
	mu.Unlock()
	if n == 0 {
		return 0, fmt.Errorf("the victim ran no job before the kill")
	}
	_ = procs[2].Process.Signal(syscall.SIGKILL)
	if logs != "" {
		fmt.Printf("run %2d: killed %s at %s\n", run, victim, killedAt.UTC().Format("15:04:05.000"))
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return 0, fmt.Errorf("no job of the killed node's %d shards started elsewhere within 60s", n)
	}
	mu.Lock()
	defer mu.Unlock()
	return firstElsewhere.Sub(killedAt), nil
}
