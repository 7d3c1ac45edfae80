package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Lines a child worker prints on stdout.
const (
	childReady   = "ready"
	childStarted = "started"
)

// MeasureByChild measures failover for a System whose workers can run in a
// child process: the child picks up one job and holds it; a surviving
// worker starts here; the child is killed with SIGKILL; the result is the
// time from the kill to the job starting on the survivor. The survivor
// starts just before the kill, so timers that run from a worker's start
// (such as a recoverer's first pass) are in phase with the kill.
func MeasureByChild(ctx context.Context, s System, env ChildEnv, timeout time.Duration) (time.Duration, error) {
	if env == nil {
		return 0, errors.New("no child environment to start a worker to kill")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.Reset(ctx); err != nil {
		return 0, fmt.Errorf("reset: %w", err)
	}
	child, err := env.StartChild(ctx, s.Name())
	if err != nil {
		return 0, fmt.Errorf("start child worker: %w", err)
	}
	killed := false
	defer func() {
		if !killed {
			child.Kill()
		}
	}()
	if err := s.EnqueueOne(ctx, time.Now()); err != nil {
		return 0, fmt.Errorf("enqueue the job to orphan: %w", err)
	}
	select {
	case <-child.Started():
	case <-ctx.Done():
		return 0, fmt.Errorf("the child worker never started the job: %w", ctx.Err())
	}
	first := &firstStart{ch: make(chan struct{})}
	if err := s.Start(ctx, first); err != nil {
		return 0, fmt.Errorf("start surviving worker: %w", err)
	}
	killedAt := child.Kill()
	killed = true
	select {
	case <-first.ch:
		return first.at.Sub(killedAt), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("the killed worker's job did not start again within %s: %w", timeout, ctx.Err())
	}
}

// firstStart is a Sink that notes when the first job starts.
type firstStart struct {
	once sync.Once
	ch   chan struct{}
	at   time.Time
}

func (f *firstStart) Handle(context.Context, time.Time) error {
	f.once.Do(func() {
		f.at = time.Now()
		close(f.ch)
	})
	return nil
}

func (f *firstStart) Completed() {}

// RunChild is the child side of MeasureByChild: it sets s up, starts its
// workers with jobs that never finish, prints "ready", prints "started"
// when the first job starts, and holds until ctx ends (in practice until
// SIGKILL).
func RunChild(ctx context.Context, s System, out io.Writer) error {
	if err := s.Setup(ctx); err != nil {
		return err
	}
	h := &holdSink{out: out}
	if err := s.Start(ctx, h); err != nil {
		return err
	}
	fmt.Fprintln(out, childReady)
	<-ctx.Done()
	return nil
}

type holdSink struct {
	once sync.Once
	out  io.Writer
}

func (h *holdSink) Handle(ctx context.Context, _ time.Time) error {
	h.once.Do(func() { fmt.Fprintln(h.out, childStarted) })
	<-ctx.Done()
	return ctx.Err()
}

func (h *holdSink) Completed() {}

// ExecChildEnv starts child workers by running a binary (normally the bench
// binary itself) with Args(system) as arguments.
type ExecChildEnv struct {
	// Path is the binary to run.
	Path string
	// Args returns the arguments that make Path run a child worker of
	// system, printing "ready" and "started" on stdout.
	Args func(system string) []string
	// Stderr receives the child's stderr; nil discards it.
	Stderr io.Writer
	// ReadyTimeout bounds the wait for "ready"; 0 means 30 s.
	ReadyTimeout time.Duration
}

// StartChild implements ChildEnv.
func (e ExecChildEnv) StartChild(ctx context.Context, system string) (Child, error) {
	cmd := exec.Command(e.Path, e.Args(system)...)
	cmd.Stderr = e.Stderr
	cmd.Env = os.Environ()
	setChildAttrs(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", e.Path, err)
	}
	c := &execChild{cmd: cmd, started: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		var readyOnce, startedOnce sync.Once
		for sc.Scan() {
			switch strings.TrimSpace(sc.Text()) {
			case childReady:
				readyOnce.Do(func() { close(ready) })
			case childStarted:
				startedOnce.Do(func() { close(c.started) })
			}
		}
	}()
	timeout := e.ReadyTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	select {
	case <-ready:
		return c, nil
	case <-ctx.Done():
		c.Kill()
		return nil, ctx.Err()
	case <-time.After(timeout):
		c.Kill()
		return nil, fmt.Errorf("child worker of %s not ready within %s", system, timeout)
	}
}

type execChild struct {
	cmd     *exec.Cmd
	started chan struct{}
	once    sync.Once
	at      time.Time
}

func (c *execChild) Started() <-chan struct{} { return c.started }

func (c *execChild) Kill() time.Time {
	c.once.Do(func() {
		_ = c.cmd.Process.Kill()
		c.at = time.Now()
		_ = c.cmd.Wait()
	})
	return c.at
}
