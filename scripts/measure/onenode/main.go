// Command onenode measures a one-node shoal: the worker's idle RSS, its RSS
// holding 100k queued jobs, and the burn-down throughput of no-op (echo)
// jobs: enqueue N, time until all have succeeded.
//
//	go run ./scripts/measure/onenode -jobs 100000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
	"github.com/shoal-dev/shoal/scripts/measure/internal/measure"
)

func main() {
	ip := flag.String("ip", "127.0.61.1", "loopback address of the worker")
	worker := flag.String("worker", "", "worker binary (default: built from ./cmd/worker)")
	n := flag.Int("jobs", 100000, "jobs for the throughput and queued-RSS runs")
	submitters := flag.Int("submitters", 4, "concurrent submit requests")
	concurrency := flag.Int("concurrency", 64, "worker --concurrency for the throughput run")
	flag.Parse()
	if *worker == "" {
		bin, cleanup, err := measure.BuildWorker("shoal-onenode-")
		if err != nil {
			fail(err)
		}
		defer cleanup()
		*worker = bin
	}

	// 1. Idle RSS, then RSS with N queued jobs (concurrency 1, one-hour sleeps).
	p, c := start(*worker, *ip, "--concurrency", "1")
	time.Sleep(3 * time.Second)
	idle := rss(p.Process.Pid)
	fmt.Printf("idle RSS: %.1f MiB\n", idle)
	took := submitAll(c, *n, *submitters, client.JobSpec{Type: "sleep", Payload: json.RawMessage(`{"ms":3600000}`)})
	fmt.Printf("submitted %d jobs in %s (%.0f jobs/s acknowledged)\n", *n, took.Round(time.Millisecond), float64(*n)/took.Seconds())
	st, err := c.Stats(context.Background())
	if err != nil {
		fail(err)
	}
	time.Sleep(2 * time.Second)
	fmt.Printf("RSS with %d queued jobs (%d running): %.1f MiB\n", st.Counts[jobs.StateQueued], st.Counts[jobs.StateRunning], rss(p.Process.Pid))
	stop(p, c)

	// 2. Burn-down throughput of no-op jobs.
	p, c = start(*worker, *ip, "--concurrency", fmt.Sprint(*concurrency))
	t0 := time.Now()
	took = submitAll(c, *n, *submitters, client.JobSpec{Type: "echo", Payload: json.RawMessage(`{}`)})
	for {
		st, err := c.Stats(context.Background())
		if err == nil && st.Counts[jobs.StateSucceeded] >= *n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	all := time.Since(t0)
	fmt.Printf("no-op burn-down: %d jobs enqueued in %s, all succeeded after %s: %.0f jobs/s (RSS after: %.1f MiB)\n",
		*n, took.Round(time.Millisecond), all.Round(time.Millisecond), float64(*n)/all.Seconds(), rss(p.Process.Pid))
	stop(p, c)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "onenode:", err)
	os.Exit(1)
}

func start(worker, ip string, args ...string) (*exec.Cmd, *client.Client) {
	cmd := exec.Command(worker, append([]string{"--advertise-addr", ip, "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), "SHOAL_SECRET=")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	if err := measure.WaitReady(ip, 60*time.Second); err != nil {
		fail(err)
	}
	cfg := client.DefaultConfig()
	cfg.Servers = "nats://" + ip + ":4222"
	cfg.Timeout = time.Minute
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		fail(err)
	}
	return cmd, c
}

func stop(p *exec.Cmd, c *client.Client) {
	c.Close()
	_ = p.Process.Signal(syscall.SIGKILL)
	_ = p.Wait()
}

// submitAll submits n copies of spec in batches of 500 from several
// goroutines and returns how long it took to have them all acknowledged.
func submitAll(c *client.Client, n, parallel int, spec client.JobSpec) time.Duration {
	const batch = 500
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	t0 := time.Now()
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for size := range work {
				specs := make([]client.JobSpec, size)
				for i := range specs {
					specs[i] = spec
				}
				res, err := c.Submit(context.Background(), specs)
				mu.Lock()
				if err != nil {
					refused += size
				}
				for _, r := range res {
					if r.Error != nil {
						refused++
					}
				}
				mu.Unlock()
			}
		}()
	}
	for left := n; left > 0; left -= batch {
		work <- min(batch, left)
	}
	close(work)
	wg.Wait()
	if refused > 0 {
		fail(fmt.Errorf("%d of %d jobs were refused", refused, n))
	}
	return time.Since(t0)
}

// rss reads a process's resident set size in MiB.
func rss(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
			return kb / 1024
		}
	}
	return -1
}
