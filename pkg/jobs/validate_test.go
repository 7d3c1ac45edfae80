package jobs

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	now := t0
	l := DefaultLimits()
	tests := []struct {
		name    string
		in      Job
		limits  Limits
		wantErr error
		errHas  string
		check   func(t *testing.T, j Job)
	}{
		{name: "defaults", in: Job{Type: "echo", Payload: json.RawMessage(`{"a":1}`)},
			check: func(t *testing.T, j Job) {
				if !ValidID(j.ID) || j.Queue != "default" || j.MaxAttempts != 25 || j.State != StateQueued ||
					!j.CreatedAt.Equal(now) || !j.UpdatedAt.Equal(now) || !j.RunAt.IsZero() {
					t.Errorf("%+v", j)
				}
			}},
		{name: "future run_at is scheduled", in: Job{Type: "echo", RunAt: now.Add(time.Minute)},
			check: func(t *testing.T, j Job) {
				if j.State != StateScheduled || !j.RunAt.Equal(now.Add(time.Minute)) {
					t.Errorf("%+v", j)
				}
			}},
		{name: "past run_at is cleared", in: Job{Type: "echo", RunAt: now.Add(-time.Minute)},
			check: func(t *testing.T, j Job) {
				if j.State != StateQueued || !j.RunAt.IsZero() {
					t.Errorf("%+v", j)
				}
			}},
		{name: "server fields reset", in: Job{Type: "echo", State: StateSucceeded, Attempt: 9, Runner: "x", LastError: "e",
			Result: json.RawMessage(`1`), CreatedAt: now.Add(-time.Hour), FinishedAt: now},
			check: func(t *testing.T, j Job) {
				if j.State != StateQueued || j.Attempt != 0 || j.Runner != "" || j.LastError != "" || j.Result != nil ||
					!j.CreatedAt.Equal(now) || !j.FinishedAt.IsZero() {
					t.Errorf("%+v", j)
				}
			}},
		{name: "unique key gets a unique ID and TTL", in: Job{Type: "email", UniqueKey: "user-1"},
			check: func(t *testing.T, j Job) {
				if j.ID[:16] != uniquePrefix("default", "email", "user-1") || j.UniqueTTL != time.Hour {
					t.Errorf("%+v", j)
				}
			}},
		{name: "given ID kept", in: Job{ID: "0123456789abcdef0123456789abcdef", Type: "echo"},
			check: func(t *testing.T, j Job) {
				if j.ID != "0123456789abcdef0123456789abcdef" {
					t.Errorf("%+v", j)
				}
			}},
		{name: "no type", in: Job{}, wantErr: ErrInvalidJob, errHas: "type is empty"},
		{name: "bad type", in: Job{Type: "a b"}, wantErr: ErrInvalidJob, errHas: "letters, digits"},
		{name: "bad queue", in: Job{Type: "a", Queue: "q\n"}, wantErr: ErrInvalidJob, errHas: "queue"},
		{name: "long type", in: Job{Type: strings.Repeat("a", 129)}, wantErr: ErrInvalidJob, errHas: "limit is 128"},
		{name: "bad JSON", in: Job{Type: "a", Payload: json.RawMessage(`{`)}, wantErr: ErrInvalidJob, errHas: "not valid JSON"},
		{name: "payload too large", in: Job{Type: "a", Payload: json.RawMessage(`"` + strings.Repeat("x", 2200000) + `"`)},
			wantErr: ErrPayloadTooLarge, errHas: "payload is 2.1 MiB, the limit is 1 MiB: store large inputs elsewhere and pass a reference, or raise --max-payload"},
		{name: "payload over a small limit", in: Job{Type: "a", Payload: json.RawMessage(`"xxxxxxxxxx"`)}, limits: Limits{MaxPayload: 8},
			wantErr: ErrPayloadTooLarge, errHas: "payload is 12 B, the limit is 8 B"},
		{name: "negative attempts", in: Job{Type: "a", MaxAttempts: -1}, wantErr: ErrInvalidJob, errHas: "max_attempts"},
		{name: "too many attempts", in: Job{Type: "a", MaxAttempts: 101}, wantErr: ErrInvalidJob, errHas: "limit is 100"},
		{name: "negative timeout", in: Job{Type: "a", Timeout: -time.Second}, wantErr: ErrInvalidJob, errHas: "timeout"},
		{name: "long timeout", in: Job{Type: "a", Timeout: 25 * time.Hour}, wantErr: ErrInvalidJob, errHas: "shorter jobs"},
		{name: "ttl without key", in: Job{Type: "a", UniqueTTL: time.Hour}, wantErr: ErrInvalidJob, errHas: "unique_key"},
		{name: "bad ID", in: Job{Type: "a", ID: "xyz"}, wantErr: ErrInvalidJob, errHas: "leave it empty"},
		{name: "ID not made for key", in: Job{Type: "a", ID: "0123456789abcdef0123456789abcdef", UniqueKey: "k"},
			wantErr: ErrInvalidJob, errHas: "UniqueID"},
		{name: "too far ahead", in: Job{Type: "a", RunAt: now.Add(400 * 24 * time.Hour)}, wantErr: ErrInvalidJob, errHas: "ahead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := l
			if tt.limits != (Limits{}) {
				lim = tt.limits
			}
			j := tt.in
			err := j.Normalize(now, lim)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInvalidJob) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error %q does not say %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, j)
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Limits{}).Validate(); err != nil {
		t.Fatalf("zero limits (all defaults): %v", err)
	}
	if (Limits{MaxPayload: -1}).Validate() == nil || (Limits{MaxAttempts: 5, DefaultMaxAttempts: 10}).Validate() == nil {
		t.Fatal("bad limits accepted")
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 1 << 20: "1 MiB", 2202009: "2.1 MiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// FuzzNormalize: any JSON decoded into a Job either is refused or becomes a
// job the codec round-trips.
func FuzzNormalize(f *testing.F) {
	f.Add([]byte(`{"type":"echo","payload":{"a":1}}`))
	f.Add([]byte(`{"type":"x","unique_key":"k","run_at":"2030-01-01T00:00:00Z","priority":-3,"timeout":5}`))
	f.Add([]byte(`{"id":"0123456789abcdef0123456789abcdef","type":"a","state":"dead","max_attempts":7}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var j Job
		if json.Unmarshal(data, &j) != nil {
			return
		}
		if err := j.Normalize(t0, DefaultLimits()); err != nil {
			if !errors.Is(err, ErrInvalidJob) {
				t.Fatalf("error not ErrInvalidJob: %v", err)
			}
			return
		}
		if !ValidID(j.ID) || (j.State != StateQueued && j.State != StateScheduled) {
			t.Fatalf("normalized job %+v", j)
		}
		got, err := DecodeSnapshot(EncodeSnapshot([]Job{j}))
		if err != nil || len(got) != 1 || !jobsEqual(got[0], j) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, got, j)
		}
	})
}
