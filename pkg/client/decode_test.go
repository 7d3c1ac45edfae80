package client

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

func TestDurationJSON(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{`"1.5s"`, 1500 * time.Millisecond, false},
		{`"250ms"`, 250 * time.Millisecond, false},
		{`"2h"`, 2 * time.Hour, false},
		{`1500`, 1500 * time.Millisecond, false},
		{`0.5`, 500 * time.Microsecond, false},
		{`0`, 0, false},
		{`-10`, -10 * time.Millisecond, false},
		{`"soon"`, 0, true},
		{`"10"`, 0, true}, // a string needs a unit
		{`true`, 0, true},
		{`{}`, 0, true},
		{`1e300`, 0, true},
		{`9300000000000`, 0, true}, // ~292 years in ms overflows int64 ns
	} {
		var d Duration
		err := json.Unmarshal([]byte(tc.in), &d)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && d.Std() != tc.want {
			t.Errorf("%s: got %v, want %v", tc.in, d.Std(), tc.want)
		}
	}
	b, err := json.Marshal(struct {
		D Duration `json:"d"`
		Z Duration `json:"z,omitempty"`
	}{D: Duration(90 * time.Second)})
	if err != nil || string(b) != `{"d":"1m30s"}` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	var d Duration = 7
	if err := json.Unmarshal([]byte(`null`), &d); err != nil || d != 7 {
		t.Fatalf("null changed d to %v (%v)", d, err)
	}
}

func TestValidate(t *testing.T) {
	ok := JobSpec{Type: "echo", Payload: json.RawMessage(`{"a":1}`)}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid spec refused: %v", err)
	}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, s := range map[string]JobSpec{
		"empty type":       {},
		"space in type":    {Type: "my job"},
		"control in type":  {Type: "a\x00b"},
		"long type":        {Type: strings.Repeat("a", MaxNameLen+1)},
		"space in queue":   {Type: "echo", Queue: "q 1"},
		"priority high":    {Type: "echo", Priority: MaxPriority + 1},
		"priority low":     {Type: "echo", Priority: -MaxPriority - 1},
		"attempts neg":     {Type: "echo", MaxAttempts: -1},
		"attempts high":    {Type: "echo", MaxAttempts: MaxAttemptsLimit + 1},
		"delay neg":        {Type: "echo", Delay: -1},
		"timeout neg":      {Type: "echo", Timeout: Duration(-time.Second)},
		"delay huge":       {Type: "echo", Delay: Duration(MaxDuration + time.Hour)},
		"run_at and delay": {Type: "echo", RunAt: at, Delay: Duration(time.Second)},
		"run_at far":       {Type: "echo", RunAt: time.Date(10000, 1, 1, 0, 0, 1, 0, time.UTC)},
		"unicode type":     {Type: "émail"},
		"nul in key":       {Type: "echo", UniqueKey: "a\x00b"},
		"bad payload":      {Type: "echo", Payload: json.RawMessage(`{"a":`)},
		"ttl without key":  {Type: "echo", UniqueTTL: Duration(time.Minute)},
		"long key":         {Type: "echo", UniqueKey: strings.Repeat("k", MaxUniqueKeyLen+1)},
	} {
		err := s.Validate()
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: err = %v, want ErrBadRequest", name, err)
		}
	}
}

func TestDecodeSubmitRequest(t *testing.T) {
	good := `{"jobs":[{"type":"echo","payload":{"hi":1},"delay":"1s","timeout":1500}]}`
	req, err := DecodeSubmitRequest([]byte(good), 0)
	if err != nil {
		t.Fatalf("good request refused: %v", err)
	}
	if len(req.Jobs) != 1 || req.Jobs[0].Delay.Std() != time.Second || req.Jobs[0].Timeout.Std() != 1500*time.Millisecond || string(req.Jobs[0].Payload) != `{"hi":1}` {
		t.Fatalf("decoded %+v", req)
	}
	for _, tc := range []struct {
		name, in string
		max      int
		want     error
		contains string
	}{
		{"empty", ``, 0, ErrBadRequest, "empty body"},
		{"not json", `hello`, 0, ErrBadRequest, "offset"},
		{"trailing", good + `{}`, 0, ErrBadRequest, "after the JSON object"},
		{"trailing garbage", good + ` x`, 0, ErrBadRequest, "after the JSON object"},
		{"unknown field", `{"jobs":[{"type":"echo","runat":"x"}]}`, 0, ErrBadRequest, "runat"},
		{"unknown top field", `{"jobz":[]}`, 0, ErrBadRequest, "jobz"},
		{"no jobs", `{"jobs":[]}`, 0, ErrBadRequest, "no jobs"},
		{"null jobs", `{"jobs":null}`, 0, ErrBadRequest, "no jobs"},
		{"wrong type", `{"jobs":[{"type":1}]}`, 0, ErrBadRequest, "jobs.type"},
		{"array", `[1]`, 0, ErrBadRequest, ""},
		{"truncated", `{"jobs":[{"type":"echo"`, 0, ErrBadRequest, "truncated"},
		{"too many", `{"jobs":[{"type":"a"},{"type":"b"},{"type":"c"}]}`, 2, ErrTooLarge, "over the limit of 2"},
		{"bad duration", `{"jobs":[{"type":"echo","delay":"soon"}]}`, 0, ErrBadRequest, "soon"},
		{"bad time", `{"jobs":[{"type":"echo","run_at":"tomorrow"}]}`, 0, ErrBadRequest, ""},
		{"priority overflow", `{"jobs":[{"type":"echo","priority":1e40}]}`, 0, ErrBadRequest, "priority"},
	} {
		_, err := DecodeSubmitRequest([]byte(tc.in), tc.max)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.contains) {
			t.Errorf("%s: err = %v, want %v containing %q", tc.name, err, tc.want, tc.contains)
		}
	}
}

func TestDecodeIDRequests(t *testing.T) {
	id := strings.Repeat("ab", 16)
	if r, err := DecodeStatusRequest([]byte(`{"id":"` + id + `"}`)); err != nil || r.ID != id {
		t.Fatalf("status: %+v %v", r, err)
	}
	if r, err := DecodeCancelRequest([]byte(` {"id":"` + id + `"} `)); err != nil || r.ID != id {
		t.Fatalf("cancel: %+v %v", r, err)
	}
	for _, in := range []string{``, `{}`, `{"id":""}`, `{"id":"xyz"}`, `{"id":"` + strings.ToUpper(id) + `"}`, `{"id":"` + id + `","x":1}`, `{"id":"` + id + `"}}`} {
		if _, err := DecodeStatusRequest([]byte(in)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("status %q: err = %v, want ErrBadRequest", in, err)
		}
		if _, err := DecodeCancelRequest([]byte(in)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("cancel %q: err = %v, want ErrBadRequest", in, err)
		}
	}
}

func TestDecodeListRequest(t *testing.T) {
	r, err := DecodeListRequest(nil)
	if err != nil || r.Limit != DefaultListLimit {
		t.Fatalf("empty: %+v %v", r, err)
	}
	r, err = DecodeListRequest([]byte(`{"state":"dead","queue":"mail","limit":5}`))
	if err != nil || r.State != jobs.StateDead || r.Queue != "mail" || r.Limit != 5 {
		t.Fatalf("full: %+v %v", r, err)
	}
	for _, in := range []string{`{"state":"zombie"}`, `{"limit":-1}`, `{"limit":1000000}`, `{"queue":"a b"}`, `{"x":1}`, `{} []`} {
		if _, err := DecodeListRequest([]byte(in)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%q: err = %v, want ErrBadRequest", in, err)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	for code, want := range sentinels {
		err := error(&Error{Code: code, Message: "m"})
		if !errors.Is(err, want) {
			t.Errorf("%s: not Is %v", code, want)
		}
		if got := CodeOf(err); got != code {
			t.Errorf("CodeOf(%s) = %s", code, got)
		}
		if errors.Is(err, ErrNotFound) && code != CodeNotFound {
			t.Errorf("%s matches ErrNotFound", code)
		}
	}
	if CodeOf(errors.New("x")) != CodeInternal || CodeOf(nil) != "" {
		t.Fatal("CodeOf of plain errors")
	}
	var reply ErrorReply
	if err := json.Unmarshal(ReplyError(CodeNotFound, `no job "x"`), &reply); err != nil || reply.Error.Code != CodeNotFound || reply.Error.Message != `no job "x"` {
		t.Fatalf("ReplyError round trip: %+v %v", reply, err)
	}
	_, err := DecodeStatusRequest([]byte(`{}`))
	if err := json.Unmarshal(ReplyFromError(err), &reply); err != nil || reply.Error.Code != CodeBadRequest || strings.Contains(reply.Error.Message, "(bad_request)") {
		t.Fatalf("ReplyFromError: %+v %v", reply, err)
	}
	if got := (&Error{Code: CodeNotFound, Message: "no job x"}).Error(); got != "no job x (not_found)" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestParseEvent(t *testing.T) {
	ev := parseEvent("shoal.events.job.dead", []byte(`{"job_id":"x","node":"n1"}`))
	if ev.Kind != "job.dead" || ev.State != jobs.StateDead || ev.Node != "n1" {
		t.Fatalf("event %+v", ev)
	}
	ev = parseEvent("shoal.events.cluster.rebalance", []byte(`not json`))
	if ev.Kind != "cluster.rebalance" || ev.Detail != "not json" {
		t.Fatalf("event %+v", ev)
	}
}
