package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/client/clienttest"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// syncBuffer is a bytes.Buffer safe for a writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command line with env (a map of SHOAL_* variables) and stdin.
func runCLI(t *testing.T, ctx context.Context, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb syncBuffer
	a := newApp(strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] }, false)
	code := a.run(ctx, args)
	return result{code, out.String(), errb.String()}
}

func start(t *testing.T, opts clienttest.Options) (*clienttest.Fake, map[string]string) {
	f := clienttest.Start(t, opts)
	return f, map[string]string{"SHOAL_SERVER": f.URL, "SHOAL_TIMEOUT": "5s"}
}

func bg(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSubmitOneJob(t *testing.T) {
	f, env := start(t, clienttest.Options{})
	r := runCLI(t, bg(t), env, "", "echo", `{"hi": 1}`, "--queue", "q1", "--priority", "5", "--job-timeout", "30s")
	id := strings.TrimSpace(r.stdout)
	if r.code != 0 || !client.ValidID(id) {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	j, ok := f.Job(id)
	if !ok || j.Queue != "q1" || j.Priority != 5 || j.Timeout != 30*time.Second || string(j.Payload) != `{"hi":1}` {
		t.Fatalf("job %+v", j)
	}
	r = runCLI(t, bg(t), env, "", "-o", "json", "sleep")
	var sr client.SubmitResult
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &sr) != nil || !client.ValidID(sr.ID) {
		t.Fatalf("json: exit %d, stdout %q", r.code, r.stdout)
	}
	if j, _ := f.Job(sr.ID); string(j.Payload) != `{}` {
		t.Fatalf("default payload = %s", j.Payload)
	}
}

func TestBadPayloadSendsNothing(t *testing.T) {
	f, env := start(t, clienttest.Options{})
	r := runCLI(t, bg(t), env, "", "echo", `{"hi":`)
	if r.code != exitUsage || !strings.Contains(r.stderr, "payload is not valid JSON") || !strings.Contains(r.stderr, "offset 6") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("error is not one line: %q", r.stderr)
	}
	// Not even a connection: an unreachable server gives the same answer.
	r = runCLI(t, bg(t), map[string]string{"SHOAL_SERVER": "nats://127.0.12.9:1"}, "", "echo", `nope`)
	if r.code != exitUsage {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if len(f.Batches()) != 0 {
		t.Fatalf("something was sent: %v", f.Batches())
	}
}

func TestWaitExitCodes(t *testing.T) {
	_, env := start(t, clienttest.Options{})
	r := runCLI(t, bg(t), env, "", "echo", `{"x":1}`, "--wait", "--poll", "50ms")
	if r.code != 0 || !strings.Contains(r.stdout, "succeeded") || !hasLine(r.stdout, "RESULT", `{"x":1}`) {
		t.Fatalf("echo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, bg(t), env, "", "fail", "--wait", "--poll", "50ms")
	if r.code != exitError || !strings.Contains(r.stderr, "is dead after 1 attempt(s): fail: asked to fail") {
		t.Fatalf("fail: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, bg(t), env, "", "echo", "[1]", "--wait", "-o", "json")
	var j jobs.Job
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &j) != nil || j.State != jobs.StateSucceeded || string(j.Result) != "[1]" {
		t.Fatalf("json: exit %d, %q", r.code, r.stdout)
	}
	r = runCLI(t, bg(t), env, "", "sleep", "--wait", "--wait-timeout", "200ms", "--poll", "50ms")
	if r.code != exitError || !strings.Contains(r.stderr, "submit status") {
		t.Fatalf("timeout: exit %d, %q", r.code, r.stderr)
	}
}

// hasLine reports whether out has a line whose fields are exactly fields.
func hasLine(out string, fields ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(l), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}

func TestCountBatches(t *testing.T) {
	f, env := start(t, clienttest.Options{})
	r := runCLI(t, bg(t), env, "", "sleep", `{"ms":1}`, "--count", "1200")
	if r.code != 0 {
		t.Fatalf("exit %d, %q", r.code, r.stderr)
	}
	if got := strings.Count(r.stdout, "\n"); got != 1200 {
		t.Fatalf("%d IDs printed", got)
	}
	if fmt.Sprint(f.Batches()) != "[500 500 200]" {
		t.Fatalf("batches %v", f.Batches())
	}
	if !strings.Contains(r.stderr, "submitted 1200 of 1200 jobs") {
		t.Fatalf("stderr %q", r.stderr)
	}
	r = runCLI(t, bg(t), env, "", "echo", "--count", "3", "--wait", "--poll", "20ms")
	if r.code != 0 || !strings.Contains(r.stderr, "3 succeeded, 0 dead") {
		t.Fatalf("count wait: exit %d, %q", r.code, r.stderr)
	}
	r = runCLI(t, bg(t), env, "", "fail", "--count", "2", "--wait", "--poll", "20ms")
	if r.code != exitError || !strings.Contains(r.stderr, "2 of 2 jobs did not succeed") {
		t.Fatalf("count wait fail: exit %d, %q", r.code, r.stderr)
	}
}

func TestFile(t *testing.T) {
	f, env := start(t, clienttest.Options{})
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	_ = os.WriteFile(bad, []byte("{\"type\":\"echo\"}\n{\"type\":\"echo\",\"payload\":{\"a\":}\n{\"type\":\"nope nope\"}\n"), 0o600)
	r := runCLI(t, bg(t), env, "", "--file", bad)
	if r.code != exitUsage || !strings.Contains(r.stderr, bad+":2: not valid JSON") || !strings.Contains(r.stderr, bad+":3:") ||
		!strings.Contains(r.stderr, "nothing was sent") {
		t.Fatalf("bad file: exit %d, %q", r.code, r.stderr)
	}
	if len(f.Batches()) != 0 {
		t.Fatalf("sent %v", f.Batches())
	}
	lines := `{"type":"echo","payload":{"n":1}}` + "\n" + `{"type":"nosuch"}` + "\n\n" + `{"type":"sleep","queue":"own"}` + "\n"
	r = runCLI(t, bg(t), env, lines, "--file", "-", "--queue", "fromflag", "-o", "json")
	if r.code != exitError || !strings.Contains(r.stderr, "stdin:2: refused") || !strings.Contains(r.stderr, "submitted 2 of 3 jobs (1 refused)") {
		t.Fatalf("stdin: exit %d, %q", r.code, r.stderr)
	}
	out := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(out) != 3 {
		t.Fatalf("stdout %q", r.stdout)
	}
	var last client.SubmitResult
	_ = json.Unmarshal([]byte(out[2]), &last)
	if j, _ := f.Job(last.ID); j.Queue != "own" {
		t.Fatalf("line's queue lost: %+v", j)
	}
	var first client.SubmitResult
	_ = json.Unmarshal([]byte(out[0]), &first)
	if j, _ := f.Job(first.ID); j.Queue != "fromflag" {
		t.Fatalf("flag default not applied: %+v", j)
	}
	if r := runCLI(t, bg(t), env, "", "--file", bad, "echo"); r.code != exitUsage {
		t.Fatalf("--file with TYPE: exit %d", r.code)
	}
}

func TestVerbs(t *testing.T) {
	f, env := start(t, clienttest.Options{Types: []string{"echo", "sleep", "fail", "status"}})
	id := strings.TrimSpace(runCLI(t, bg(t), env, "", "sleep", "--queue", "mail").stdout)

	r := runCLI(t, bg(t), env, "", "status", id)
	if r.code != 0 || !strings.Contains(r.stdout, "queued") || !strings.Contains(r.stdout, "mail") {
		t.Fatalf("status: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, bg(t), env, "", "status", "xyz")
	if r.code != exitUsage {
		t.Fatalf("status bad id: %d %q", r.code, r.stderr)
	}
	r = runCLI(t, bg(t), env, "", "status", strings.Repeat("e", 32))
	if r.code != exitError || !strings.Contains(r.stderr, "no job") {
		t.Fatalf("status unknown: %d %q", r.code, r.stderr)
	}
	r = runCLI(t, bg(t), env, "", "list", "--state", "queued")
	if r.code != 0 || !strings.Contains(r.stdout, id) || !strings.HasPrefix(r.stdout, "ID") {
		t.Fatalf("list: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, bg(t), env, "", "list", "--state", "zombie")
	if r.code != exitUsage {
		t.Fatalf("list bad state: %d", r.code)
	}
	env2 := map[string]string{"SHOAL_SERVER": f.URL, "SHOAL_LIST_QUEUE": "other", "SHOAL_OUTPUT": "json"}
	r = runCLI(t, bg(t), env2, "", "list")
	var lr client.ListReply
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &lr) != nil || len(lr.Jobs) != 0 {
		t.Fatalf("list from env: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, bg(t), env, "", "cancel", id)
	if r.code != 0 || !strings.Contains(r.stdout, "cancelled") {
		t.Fatalf("cancel: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, bg(t), env, "", "stats", "-o", "json")
	var sr client.StatsReply
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &sr) != nil || sr.Counts[jobs.StateCancelled] != 1 {
		t.Fatalf("stats json: %d %q", r.code, r.stdout)
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal([]byte(r.stdout), &raw) != nil || len(raw) != 2 || raw["counts"] == nil || raw["nodes"] == nil {
		t.Fatalf("stats json is not exactly a StatsReply: %s", r.stdout)
	}
	r = runCLI(t, bg(t), env, "", "stats")
	if r.code != 0 || !strings.Contains(r.stdout, "TOTAL") || !strings.Contains(r.stdout, clienttest.NodeName) {
		t.Fatalf("stats: %d %q", r.code, r.stdout)
	}
	r = runCLI(t, bg(t), env, "", "members")
	if r.code != 0 || !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, clienttest.NodeName) {
		t.Fatalf("members: %d %q", r.code, r.stdout)
	}
	// A job type named like a command.
	for _, args := range [][]string{{"--", "status", `{"a":1}`}, {"job", "status", `{"a":1}`}} {
		r = runCLI(t, bg(t), env, "", args...)
		j, ok := f.Job(strings.TrimSpace(r.stdout))
		if r.code != 0 || !ok || j.Type != "status" {
			t.Fatalf("%v: %d %q %q", args, r.code, r.stdout, r.stderr)
		}
	}
	r = runCLI(t, bg(t), env, "", "stauts", "{}")
	if r.code != exitError || !strings.Contains(r.stderr, `did you mean the command "status"`) {
		t.Fatalf("typo: %d %q", r.code, r.stderr)
	}
}

func TestUsageAndConnectionErrors(t *testing.T) {
	_, env := start(t, clienttest.Options{})
	for _, args := range [][]string{
		{}, {"--bogus"}, {"echo", "{}", "extra"}, {"-o", "yaml", "stats"}, {"stats", "extra"},
		{"echo", "--count", "0"}, {"echo", "--delay", "soon"}, {"echo", "--run-at", "tomorrow"}, {"has space"},
	} {
		r := runCLI(t, bg(t), env, "", args...)
		if r.code != exitUsage || !strings.HasPrefix(r.stderr, "submit: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	r := runCLI(t, bg(t), map[string]string{"SHOAL_PRIORITY": "high", "SHOAL_SERVER": env["SHOAL_SERVER"]}, "", "echo")
	if r.code != exitUsage || !strings.Contains(r.stderr, "SHOAL_PRIORITY") {
		t.Fatalf("bad env: %d %q", r.code, r.stderr)
	}

	l, err := net.Listen("tcp", "127.0.12.8:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	r = runCLI(t, bg(t), nil, "", "--server", "nats://"+addr, "stats")
	if r.code != exitError || !strings.Contains(r.stderr, addr) || !strings.Contains(r.stderr, "SHOAL_SERVER") {
		t.Fatalf("unreachable: %d %q", r.code, r.stderr)
	}
	_, url := clienttest.StartNATS(t, "127.0.12.7", "tok")
	r = runCLI(t, bg(t), map[string]string{"SHOAL_SERVER": url}, "", "stats")
	if r.code != exitError || !strings.Contains(r.stderr, "SHOAL_SECRET") {
		t.Fatalf("auth: %d %q", r.code, r.stderr)
	}
	r = runCLI(t, bg(t), map[string]string{"SHOAL_SERVER": url, "SHOAL_SECRET": "tok"}, "", "stats")
	if r.code != exitError || !strings.Contains(r.stderr, "no worker is serving") {
		t.Fatalf("no responders: %d %q", r.code, r.stderr)
	}
}

func TestWatch(t *testing.T) {
	f, env := start(t, clienttest.Options{})
	ctx, cancel := context.WithCancel(bg(t))
	var out, errb syncBuffer
	a := newApp(strings.NewReader(""), &out, &errb, func(k string) string { return env[k] }, false)
	done := make(chan int, 1)
	go func() { done <- a.run(ctx, []string{"watch", "-o", "json"}) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "rebalance") {
		if time.Now().After(deadline) {
			t.Fatalf("no event printed; stderr %q", errb.String())
		}
		f.Publish(client.SubjectClusterEvents+".rebalance", client.Event{Node: "n1", Detail: "moved"})
		time.Sleep(20 * time.Millisecond) // poll interval while the subscription starts
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("watch exit %d, %q", code, errb.String())
	}
	var ev client.Event
	if err := json.Unmarshal([]byte(strings.SplitN(out.String(), "\n", 2)[0]), &ev); err != nil || ev.Kind != "cluster.rebalance" {
		t.Fatalf("event line %q: %v", out.String(), err)
	}
}
