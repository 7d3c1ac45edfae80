//go:build unix

package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// allowForTest resolves names with ResolveExecAllow, skipping the test when
// one is missing on this machine.
func allowForTest(t *testing.T, names ...string) map[string]string {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not installed: %v", n, err)
		}
	}
	m, err := ResolveExecAllow(names)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestResolveExecAllow(t *testing.T) {
	m := allowForTest(t, "echo", "true")
	for _, n := range []string{"echo", "true"} {
		if !filepath.IsAbs(m[n]) {
			t.Errorf("%s resolved to %q, want an absolute path", n, m[n])
		}
	}
	m, err := ResolveExecAllow([]string{"hello=" + m["echo"]})
	if err != nil || m["hello"] == "" {
		t.Fatalf("explicit path: %v %v", m, err)
	}
	for _, bad := range []string{"", "bin/echo", "=/bin/echo", "x=relative/path", "shoal-no-such-command-zz"} {
		if _, err := ResolveExecAllow([]string{bad}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ResolveExecAllow(%q) = %v, want ErrInvalidConfig", bad, err)
		}
	}
	if _, err := ResolveExecAllow([]string{"x=/bin/true", "x=/bin/false"}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("conflicting names: %v, want ErrInvalidConfig", err)
	}
}

func TestExec(t *testing.T) {
	allow := allowForTest(t, "true", "false", "echo", "cat", "env")
	long := strings.Repeat("y", 5000)
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name     string
		allow    map[string]string
		env      []string
		payload  string
		want     errKind
		sentinel error
		result   execResult
		errHas   []string
	}{
		{name: "true", payload: `{"command": "true"}`, result: execResult{}},
		{name: "echo args", payload: enc(map[string]any{"command": "echo", "args": []string{"hello", "$HOME", "a b"}}), result: execResult{Stdout: "hello $HOME a b\n"}},
		{name: "stdin", payload: enc(map[string]any{"command": "cat", "stdin": "from stdin"}), result: execResult{Stdout: "from stdin"}},
		{name: "stdout cut to 4 KiB", payload: enc(map[string]any{"command": "echo", "args": []string{long}}), result: execResult{Stdout: long[:4096]}},
		{name: "environment not inherited", env: []string{"A=1"}, payload: `{"command": "env"}`, result: execResult{Stdout: "A=1\n"}},
		{name: "false retryable", payload: `{"command": "false"}`, want: retryable, sentinel: ErrCommandFailed, errHas: []string{`"false"`, "exit status 1"}},
		{name: "stderr in error", payload: enc(map[string]any{"command": "cat", "args": []string{"/nonexistent/shoal-test"}}), want: retryable, sentinel: ErrCommandFailed, errHas: []string{"/nonexistent/shoal-test", "stderr"}},
		{name: "not allowed", payload: `{"command": "rm", "args": ["-rf", "/"]}`, want: permanent, sentinel: ErrCommandNotAllowed, errHas: []string{"--exec-allow=rm", "allowed on this worker: cat, echo, env, false, true"}},
		{name: "path not a name", payload: `{"command": "/bin/true"}`, want: permanent, sentinel: ErrCommandNotAllowed},
		{name: "disabled", allow: map[string]string{}, payload: `{"command": "true"}`, want: permanent, sentinel: ErrCommandNotAllowed, errHas: []string{"allowed on this worker: none", "--exec-allow=true"}},
		{name: "missing command", payload: `{"args": ["x"]}`, want: permanent, sentinel: ErrInvalidPayload},
		{name: "NUL in arg", payload: `{"command": "echo", "args": ["a\u0000b"]}`, want: permanent, sentinel: ErrInvalidPayload},
		{name: "args not strings", payload: `{"command": "echo", "args": [1]}`, want: permanent, sentinel: ErrInvalidPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ExecAllow = allow
			if tt.allow != nil {
				cfg.ExecAllow = tt.allow
			}
			cfg.ExecEnv = tt.env
			h := handlerFor(t, cfg, TypeExec)
			res, err := h(context.Background(), jobs.Job{Type: TypeExec, Payload: json.RawMessage(tt.payload)})
			checkOutcome(t, err, tt.want, tt.sentinel, tt.errHas...)
			if tt.want != ok {
				return
			}
			var got execResult
			if err := json.Unmarshal(res, &got); err != nil {
				t.Fatalf("result %s: %v", res, err)
			}
			if got != tt.result {
				t.Fatalf("result %+v, want %+v", got, tt.result)
			}
		})
	}
}

// processGone reports whether pid has exited (a zombie counts as exited:
// an init that does not reap may leave one).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return os.IsNotExist(err)
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readPID waits for a shell test command to write its background child's
// PID to path.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, "the child's pid file", func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

func TestExecCancelKillsProcessGroup(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ExecAllow = allowForTest(t, "sh", "sleep")
	cfg.ExecEnv = []string{"PATH=" + filepath.Dir(cfg.ExecAllow["sleep"])}
	h := handlerFor(t, cfg, TypeExec)

	pidFile := filepath.Join(t.TempDir(), "pid")
	// The shell stands in for any command that starts children of its own.
	script := `sleep 3600 & echo $! > "$1.tmp" && mv "$1.tmp" "$1"; wait`
	payload, _ := json.Marshal(map[string]any{"command": "sh", "args": []string{"-c", script, "sh", pidFile}})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := h(ctx, jobs.Job{Type: TypeExec, Payload: payload})
		errc <- err
	}()
	child := readPID(t, pidFile)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || jobs.IsPermanent(err) {
			t.Fatalf("err = %v, want context.Canceled, not permanent", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exec did not return within 10s of cancellation")
	}
	waitFor(t, "the grandchild to be killed", func() bool { return processGone(child) })
}

func TestExecSleepCancelled(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ExecAllow = allowForTest(t, "sleep")
	h := handlerFor(t, cfg, TypeExec)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h(ctx, jobs.Job{Type: TypeExec, Payload: json.RawMessage(`{"command": "sleep", "args": ["3600"]}`)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v to return after the deadline", d)
	}
}

func TestExecLeftoverChildrenKilled(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ExecAllow = allowForTest(t, "sh", "sleep")
	cfg.ExecEnv = []string{"PATH=" + filepath.Dir(cfg.ExecAllow["sleep"])}
	cfg.ExecKillGrace = 100 * time.Millisecond
	h := handlerFor(t, cfg, TypeExec)

	pidFile := filepath.Join(t.TempDir(), "pid")
	// Exits 0 at once, leaving a child that holds stdout open.
	script := `sleep 3600 & echo $! > "$1.tmp" && mv "$1.tmp" "$1"; echo done`
	payload, _ := json.Marshal(map[string]any{"command": "sh", "args": []string{"-c", script, "sh", pidFile}})
	res, err := h(context.Background(), jobs.Job{Type: TypeExec, Payload: payload})
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	var got execResult
	if err := json.Unmarshal(res, &got); err != nil || got.ExitCode != 0 || got.Stdout != "done\n" {
		t.Fatalf("result %s (%v), want exit 0 and stdout \"done\\n\"", res, err)
	}
	child := readPID(t, pidFile)
	waitFor(t, "the leftover child to be killed", func() bool { return processGone(child) })
}
