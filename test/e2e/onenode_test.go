package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stats runs `submit stats -o json` and returns the total counts.
func stats(t *testing.T, server string) map[string]int {
	t.Helper()
	r := runSubmit(t, server, "", "stats", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("submit stats: exit %d: %s", r.Code, r.Stderr)
	}
	var out struct {
		Counts map[string]int `json:"counts"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("submit stats -o json: %v: %q", err, r.Stdout)
	}
	return out.Counts
}

func total(c map[string]int) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

type jobJSON struct {
	ID        string          `json:"id"`
	State     string          `json:"state"`
	Attempt   int             `json:"attempt"`
	LastError string          `json:"last_error"`
	Result    json.RawMessage `json:"result"`
	Runner    string          `json:"runner"`
}

func status(t *testing.T, server, id string) jobJSON {
	t.Helper()
	r := runSubmit(t, server, "", "status", id, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("submit status %s: exit %d: %s", id, r.Code, r.Stderr)
	}
	var out struct {
		Job jobJSON `json:"job"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || out.Job.ID == "" {
		// Some outputs print the job itself.
		var j jobJSON
		if err2 := json.Unmarshal([]byte(r.Stdout), &j); err2 != nil || j.ID == "" {
			t.Fatalf("submit status -o json: %v: %q", err, r.Stdout)
		}
		return j
	}
	return out.Job
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// TestNewcomer walks the newcomer story on one node: a worker with
// no cluster flags, jobs submitted and counted, retries, dead jobs, cancel.
func TestNewcomer(t *testing.T) {
	ip := "127.0.30.1"
	w := startWorker(t, ip, "--retry-base", "20ms", "--retry-max", "100ms")
	waitReady(t, w, 30*time.Second)
	srv := natsURL(ip)

	// 500 sleep jobs reach succeeded.
	r := runSubmit(t, srv, "", "sleep", `{"ms":20}`, "--count", "500")
	if r.Code != 0 {
		t.Fatalf("submit --count 500: exit %d: %s", r.Code, r.Stderr)
	}
	if ids := strings.Fields(r.Stdout); len(ids) != 500 {
		t.Fatalf("submit --count 500 printed %d IDs", len(ids))
	}
	waitFor(t, 60*time.Second, "500 succeeded", func() error {
		c := stats(t, srv)
		if c["succeeded"] != 500 {
			return fmt.Errorf("counts %v", c)
		}
		return nil
	})

	// A job that always fails ends dead after max attempts, non-zero exit.
	r = runSubmit(t, srv, "", "fail", "{}", "--max-attempts", "3", "--wait")
	if r.Code == 0 {
		t.Fatalf("fail --wait exited 0: %s", r.Stdout)
	}
	id := firstLine(r.Stdout)
	if len(id) != 32 {
		// The ID may also be in the error line.
		for _, f := range strings.Fields(r.Stdout + " " + r.Stderr) {
			if len(f) == 32 {
				id = f
				break
			}
		}
	}
	j := status(t, srv, id)
	if j.State != "dead" || j.Attempt != 3 || !strings.Contains(j.LastError, "failed on purpose") {
		t.Fatalf("dead job: %+v", j)
	}

	// A job that fails twice succeeds on attempt 3.
	r = runSubmit(t, srv, "", "fail", `{"times":2}`, "--wait", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("fail times=2 --wait: exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout, `"attempt":3`) && !strings.Contains(r.Stdout, `"attempt": 3`) {
		t.Fatalf("fail times=2: want attempt 3 in %s", r.Stdout)
	}

	// Cancelling a running one-minute sleep stops it within a second.
	r = runSubmit(t, srv, "", "sleep", `{"ms":60000}`)
	if r.Code != 0 {
		t.Fatalf("sleep 60s: %s", r.Stderr)
	}
	long := firstLine(r.Stdout)
	waitFor(t, 10*time.Second, "long sleep running", func() error {
		if s := status(t, srv, long).State; s != "running" {
			return fmt.Errorf("state %s", s)
		}
		return nil
	})
	start := time.Now()
	r = runSubmit(t, srv, "", "cancel", long)
	if r.Code != 0 {
		t.Fatalf("cancel: exit %d: %s", r.Code, r.Stderr)
	}
	waitFor(t, 5*time.Second, "handler stopped", func() error {
		if n := metric(t, ip, "shoal_running_jobs"); n != 0 {
			return fmt.Errorf("running_jobs %v", n)
		}
		return nil
	})
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("cancel took %s to stop the handler", took)
	}
	if s := status(t, srv, long).State; s != "cancelled" {
		t.Fatalf("cancelled job is %s", s)
	}
	t.Logf("cancel of a running sleep stopped it %s after the cancel command started", time.Since(start))
}

// metric reads one unlabelled gauge from /metrics.
func metric(t *testing.T, ip, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + ip + ":8080/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// TestBadInput: every kind of bad input gets a clear error and a non-zero
// exit, and changes nothing.
func TestBadInput(t *testing.T) {
	ip := "127.0.30.2"
	w := startWorker(t, ip, "--max-payload", "1024")
	waitReady(t, w, 30*time.Second)
	srv := natsURL(ip)
	before := stats(t, srv)

	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int    // 0: any non-zero
		want  string // in stderr, case-insensitive
	}{
		{"malformed JSON payload", "", []string{"echo", `{"a":`}, 2, "not valid json"},
		{"unknown job type", "", []string{"no-such-type", "{}"}, 1, "no-such-type"},
		{"oversized payload", "", []string{"echo", `{"x":"` + strings.Repeat("a", 2048) + `"}`}, 1, "limit"},
		{"unknown job ID", "", []string{"status", "0123456789abcdef0123456789abcdef"}, 1, "no job"},
		{"not a job ID", "", []string{"status", "nope"}, 0, "id"},
		{"bad flag", "", []string{"echo", "{}", "--no-such-flag"}, 2, "unknown flag"},
		{"bad count", "", []string{"echo", "{}", "--count", "-3"}, 2, "count"},
		{"bad state", "", []string{"list", "--state", "sleeping"}, 2, "state"},
		{"file with a bad line", "{\"type\":\"echo\"}\n{\"type\":\n", []string{"--file", "-"}, 2, "2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runSubmit(t, srv, c.stdin, c.args...)
			if r.Code == 0 || (c.code != 0 && r.Code != c.code) {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", r.Code, c.code, r.Stdout, r.Stderr)
			}
			if !strings.Contains(strings.ToLower(r.Stderr), strings.ToLower(c.want)) {
				t.Fatalf("stderr %q does not mention %q", r.Stderr, c.want)
			}
		})
	}

	// An unreachable server: the message names the address and how to point elsewhere.
	r := runSubmit(t, "nats://127.0.30.250:4222", "", "stats")
	if r.Code == 0 || !strings.Contains(r.Stderr, "127.0.30.250") || !strings.Contains(r.Stderr, "--server") {
		t.Fatalf("unreachable server: exit %d stderr %q", r.Code, r.Stderr)
	}

	after := stats(t, srv)
	if total(after) != total(before) {
		t.Fatalf("bad inputs changed the job counts: before %v after %v", before, after)
	}

	// A bad worker flag is a usage error too.
	r2 := runWorker(t, "--shards", "0")
	if r2.Code != 2 || !strings.Contains(r2.Stderr, "shards") {
		t.Fatalf("worker --shards 0: exit %d stderr %q", r2.Code, r2.Stderr)
	}
}
