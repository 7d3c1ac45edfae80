package shoalsys

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/bench/harness"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// settle is how long the nodes sit before their memory is read.
const settle = 2 * time.Second

// MeasureRSS implements harness.MemorySystem: a fresh cluster of nodes
// nodes on 127.0.70.<RSSFirstHost>.., each node's VmRSS once it is idle, then
// again with queued jobs queued. The jobs are HoldType jobs: the first
// nodes x Concurrency of them run (and hold every slot), the rest, queued
// of them, stay queued.
func (s *System) MeasureRSS(ctx context.Context, nodes, queued int) (harness.RSSResult, error) {
	cfg := s.cfg
	cfg.Nodes, cfg.FirstHost = nodes, cfg.RSSFirstHost
	out := harness.RSSResult{System: name(nodes), Note: fmt.Sprintf("VmRSS of each worker process (%d nodes, --concurrency=%d): idle = %s after the cluster ran its first job; "+
		"queued = %d %s %s jobs beyond the %d that hold every slot, read %s after the last submit was acknowledged",
		nodes, cfg.Concurrency, settle, queued, cfg.HoldType, cfg.HoldPayload, nodes*cfg.Concurrency, settle)}
	if err := cfg.Validate(); err != nil {
		return out, err
	}
	m := &System{cfg: cfg}
	defer m.killNodes()
	if err := m.Reset(ctx); err != nil {
		return out, err
	}
	if err := sleep(ctx, settle); err != nil {
		return out, err
	}
	idle, err := m.rss()
	if err != nil {
		return out, err
	}
	out.Idle = idle
	t0 := time.Now()
	if err := m.enqueue(ctx, queued+nodes*cfg.Concurrency, cfg.HoldType, cfg.HoldPayload); err != nil {
		return out, err
	}
	out.Submit = time.Since(t0)
	cl, err := m.client()
	if err != nil {
		return out, err
	}
	for {
		st, err := cl.Stats(ctx)
		if err == nil && st.Counts[jobs.StateQueued] >= queued {
			break
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return out, fmt.Errorf("shoal: the cluster did not report %d queued jobs: %w", queued, err)
		}
	}
	if err := sleep(ctx, settle); err != nil {
		return out, err
	}
	out.Loaded, err = m.rss()
	return out, err
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// rss reads VmRSS of every node process, in bytes.
func (s *System) rss() ([]int64, error) {
	s.mu.Lock()
	nodes := s.nodes
	s.mu.Unlock()
	out := make([]int64, len(nodes))
	for i, c := range nodes {
		b, err := vmRSS(c.Process.Pid)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("shoal: reading a node's memory needs Linux's /proc: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("shoal: VmRSS of %d: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("shoal: no VmRSS for process %d", pid)
}
