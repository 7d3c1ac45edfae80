// Package e2e drives real worker processes with the real submit binary and
// the Go client: the tests a user's day would run.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	workerBin string
	submitBin string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "shoal-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/worker", "./cmd/submit")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building the binaries failed: %v\n%s", err, out)
		os.Exit(1)
	}
	workerBin = filepath.Join(dir, "worker")
	submitBin = filepath.Join(dir, "submit")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("e2e: not inside the module")
	}
	return filepath.Dir(mod), nil
}

// proc is one worker process.
type proc struct {
	t       *testing.T
	Name    string
	IP      string
	Args    []string
	Log     string
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	logf    *os.File
}

// startWorker starts a worker advertising ip with the default ports.
func startWorker(t *testing.T, ip string, args ...string) *proc {
	t.Helper()
	return startWorkerEnv(t, ip, nil, args...)
}

// startWorkerEnv is startWorker with extra environment variables.
func startWorkerEnv(t *testing.T, ip string, env []string, args ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	if keep := os.Getenv("SHOAL_E2E_LOGS"); keep != "" {
		// Keep the workers' logs for a post-mortem.
		dir = filepath.Join(keep, t.Name())
		_ = os.MkdirAll(dir, 0o755)
	}
	logPath := filepath.Join(dir, "worker-"+ip+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	full := append([]string{"--advertise-addr", ip, "--log-format", "json", "--log-level", "info"}, args...)
	cmd := exec.Command(workerBin, full...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = append(append(os.Environ(), "SHOAL_SECRET="), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, Name: ip, IP: ip, Args: full, Log: logPath, cmd: cmd, done: make(chan struct{}), logf: f}
	go func() {
		p.exitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) > 15 {
				lines = lines[len(lines)-15:]
			}
			t.Logf("last log lines of worker %s:\n%s", ip, strings.Join(lines, "\n"))
		}
	})
	return p
}

func (p *proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) Term() { _ = p.cmd.Process.Signal(syscall.SIGTERM) }

// Wait waits for the process to exit and returns its exit code.
func (p *proc) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return -1, fmt.Errorf("worker %s did not exit within %s", p.Name, timeout)
	}
	var ee *exec.ExitError
	if errors.As(p.exitErr, &ee) {
		return ee.ExitCode(), nil
	}
	if p.exitErr != nil {
		return -1, p.exitErr
	}
	return 0, nil
}

func (p *proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// LogText returns what the worker logged so far.
func (p *proc) LogText() string {
	data, _ := os.ReadFile(p.Log)
	return string(data)
}

// waitFor polls cond every 50ms until it returns nil or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
}

// waitReady waits until the worker's /readyz answers 200.
func waitReady(t *testing.T, p *proc, timeout time.Duration) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	waitFor(t, timeout, "worker "+p.Name+" ready", func() error {
		if p.Exited() {
			t.Fatalf("worker %s exited: %v\n%s", p.Name, p.exitErr, p.LogText())
		}
		resp, err := hc.Get("http://" + p.IP + ":8080/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// result of one submit invocation.
type result struct {
	Stdout, Stderr string
	Code           int
}

// runSubmit runs the submit binary against server with args.
func runSubmit(t *testing.T, server string, stdin string, args ...string) result {
	t.Helper()
	return runSubmitEnv(t, server, nil, stdin, args...)
}

// runSubmitEnv is runSubmit with extra environment variables.
func runSubmitEnv(t *testing.T, server string, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, submitBin, append([]string{"--server", server}, args...)...)
	cmd.Env = append(append(os.Environ(), "SHOAL_SECRET="), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("submit %v: %v", args, err)
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// ipBlock hands out loopback addresses of one /24 to a test.
type ipBlock struct {
	mu     sync.Mutex
	prefix string
	next   int
}

func newIPBlock(prefix string) *ipBlock { return &ipBlock{prefix: prefix, next: 1} }

func (b *ipBlock) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	ip := fmt.Sprintf("%s.%d", b.prefix, b.next)
	b.next++
	return ip
}

func natsURL(ip string) string { return "nats://" + ip + ":4222" }

// runWorker runs the worker binary to completion (for usage errors).
func runWorker(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, workerBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("worker %v: %v", args, err)
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}
