package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

func TestReadPayload(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "p.json")
	if err := os.WriteFile(good, []byte("{\n  \"a\": [1, 2]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"a":}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		arg, stdin, want, errHas string
	}{
		{"", "", `{}`, ""},
		{`{"hi": 1}`, "", `{"hi":1}`, ""},
		{`"text"`, "", `"text"`, ""},
		{`42`, "", `42`, ""},
		{"-", ` {"from":"stdin"} `, `{"from":"stdin"}`, ""},
		{"@" + good, "", `{"a":[1,2]}`, ""},
		{`{"hi":`, "", "", "payload is not valid JSON: unexpected end of input at offset 6"},
		{`{hi:1}`, "", "", "at offset 2"},
		{`{"a":1} {"b":2}`, "", "", "after the JSON value at offset"},
		{"-", "", "", "payload from stdin is not valid JSON: it is empty"},
		{"@" + bad, "", "", "payload in " + bad + " is not valid JSON"},
		{"@" + filepath.Join(dir, "missing"), "", "", "reading the payload"},
	} {
		got, err := readPayload(tc.arg, strings.NewReader(tc.stdin))
		if tc.errHas != "" {
			var ee *exitErr
			if err == nil || !strings.Contains(err.Error(), tc.errHas) || !errors.As(err, &ee) || ee.code != exitUsage {
				t.Errorf("%q: err = %v, want usage error containing %q", tc.arg, err, tc.errHas)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%q: got %s, %v; want %s", tc.arg, got, err, tc.want)
		}
	}
}

func TestReadJobsFile(t *testing.T) {
	in := strings.Join([]string{
		`{"type":"echo","payload":{"n":1}}`,
		``,
		`{"type":"echo","queue":"mine","delay":"5s"}`,
		`{"type":"echo","payload":{"n":`,
		`{"type":"has space"}`,
		`{"type":"echo","runat":"2030-01-01T00:00:00Z"}`,
		`{"type":"echo","priority":"high"}`,
	}, "\n")
	o := &submitOpts{queue: "dflt", priority: 3}
	defaults := func(s *client.JobSpec) { _ = o.applyDefaults(s) }
	f, errs, bad, err := readJobsFile(strings.NewReader(in), defaults, 3)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 4 || len(errs) != 3 {
		t.Fatalf("bad = %d, errs = %v", bad, errs)
	}
	if errs[0].line != 4 || errs[1].line != 5 || errs[2].line != 6 {
		t.Fatalf("error lines %v", errs)
	}
	if !strings.Contains(errs[2].err.Error(), "runat") {
		t.Fatalf("unknown field not named: %v", errs[2].err)
	}
	if len(f.specs) != 2 || f.lines[1] != 3 || f.specs[0].Queue != "dflt" || f.specs[1].Queue != "mine" ||
		f.specs[0].Priority != 3 || f.specs[1].Delay.Std() != 5*time.Second {
		t.Fatalf("specs %+v lines %v", f.specs, f.lines)
	}
}

func TestCheckFlags(t *testing.T) {
	for _, o := range []submitOpts{
		{count: 0},
		{count: 2, file: "f"},
		{count: 1, runAt: "2030-01-01T00:00:00Z", delay: time.Second},
		{count: 1, runAt: "tomorrow"},
		{count: 5, uniqueKey: "k"},
		{count: 1, uniqueTTL: time.Minute},
		{count: 1, poll: 0},
	} {
		if o.poll == 0 && o.count != 1 {
			o.poll = time.Second
		}
		err := o.checkFlags()
		var ee *exitErr
		if !errors.As(err, &ee) || ee.code != exitUsage {
			t.Errorf("%+v: err = %v, want usage error", o, err)
		}
	}
	ok := submitOpts{count: 3, poll: time.Second, runAt: "2030-01-01T00:00:00Z"}
	if err := ok.checkFlags(); err != nil {
		t.Fatal(err)
	}
}

func TestNearVerb(t *testing.T) {
	for typ, want := range map[string]string{"stauts": "status", "statu": "status", "lsit": "list", "stat": "stats", "memebrs": "members", "mmbrs": "", "echo": "", "cancle": "cancel", "watchh": "watch"} {
		if got := nearVerb(typ); got != want {
			t.Errorf("nearVerb(%q) = %q, want %q", typ, got, want)
		}
	}
}

func TestRenderBar(t *testing.T) {
	got := renderBar("submit", 250, 1000, 2*time.Second, 20)
	if got != "submit [#####...............] 250/1000  25%  125/s" {
		t.Fatalf("bar = %q", got)
	}
	got = renderBar("wait", 3000, 3000, time.Second, 10)
	if got != "wait [##########] 3000/3000 100%  3.0k/s" {
		t.Fatalf("bar = %q", got)
	}
	var sb strings.Builder
	p := newProgress(&sb, false, "x", 10)
	p.set(5)
	p.finish()
	if sb.Len() != 0 {
		t.Fatal("progress drew on a non-terminal")
	}
}

func TestFormatEvent(t *testing.T) {
	ev := client.Event{Time: time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.Local), Kind: "job.dead", Node: "n1",
		JobID: strings.Repeat("a", 32), Type: "fail", State: jobs.StateDead, Detail: "boom\nline 2"}
	got := formatEvent(ev)
	want := "03:04:05.006  job.dead          n1  " + strings.Repeat("a", 32) + "  fail  boom; line 2"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestStatsTable(t *testing.T) {
	var sb strings.Builder
	err := writeStatsTable(&sb, client.StatsReply{
		Counts: map[jobs.State]int{jobs.StateQueued: 3, jobs.StateSucceeded: 5, "paused": 1},
		Nodes: map[string]map[jobs.State]int{
			"n2": {jobs.StateQueued: 1, jobs.StateSucceeded: 5},
			"n1": {jobs.StateQueued: 2, "paused": 1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(sb.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("table:\n%s", sb.String())
	}
	for i, want := range [][]string{
		{"NODE", "QUEUED", "SCHEDULED", "RUNNING", "SUCCEEDED", "DEAD", "CANCELLED", "PAUSED", "TOTAL"},
		{"n1", "2", "0", "0", "0", "0", "0", "1", "3"},
		{"n2", "1", "0", "0", "5", "0", "0", "0", "6"},
		{"TOTAL", "3", "0", "0", "5", "0", "0", "1", "9"},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("line %d = %q, want %q", i, got, want)
		}
	}
}
