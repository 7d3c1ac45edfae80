package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// fullJob has every field set.
func fullJob(i int) Job {
	created := t0.Add(time.Duration(i) * 1234567 * time.Nanosecond)
	return Job{
		ID: benchID(uint64(i)), Type: "email.send", Queue: "mail", Payload: json.RawMessage(`{"to":"a@example.com","n":` + fmt.Sprint(i) + `}`),
		Priority: -3, RunAt: created.Add(90 * time.Second), Attempt: 2, MaxAttempts: 25, Timeout: 30 * time.Second,
		UniqueKey: "user-" + fmt.Sprint(i), UniqueTTL: time.Hour, State: StateSucceeded, Runner: "worker-2",
		Result: json.RawMessage(`{"sent":true}`), LastError: "smtp: 421 try later",
		CreatedAt: created, UpdatedAt: created.Add(95 * time.Second), StartedAt: created.Add(91 * time.Second),
		FinishedAt: created.Add(95 * time.Second),
	}
}

// segment200 is a typical segment: enqueues, starts and finishes.
func segment200() []Record {
	recs := make([]Record, 0, 200)
	for i := 0; len(recs) < 200; i++ {
		j := Job{ID: benchID(uint64(i)), Type: "sleep", Queue: "default", Payload: json.RawMessage(`{"ms":200}`),
			MaxAttempts: 25, State: StateQueued, CreatedAt: t0.Add(time.Duration(i) * time.Millisecond)}
		j.UpdatedAt = j.CreatedAt
		recs = append(recs, Record{Op: OpUpsert, Job: j})
		j, _ = Start(j, "worker-1", j.CreatedAt.Add(3*time.Millisecond))
		recs = append(recs, Record{Op: OpUpsert, Job: j})
		j, _ = Succeed(j, nil, j.StartedAt.Add(200*time.Millisecond))
		recs = append(recs, Record{Op: OpUpsert, Job: j})
	}
	return recs[:200]
}

func TestCodecRoundTrip(t *testing.T) {
	var jobs []Job
	for i := 0; i < 40; i++ { // more distinct strings than the intern table holds
		j := fullJob(i)
		j.Runner = fmt.Sprint("runner-", i)
		j.Type = fmt.Sprint("type-", i%35)
		jobs = append(jobs, j)
	}
	odd := []Job{
		{}, // everything zero
		{ID: "not-hex", State: "weird", Attempt: -1, MaxAttempts: -5, Priority: 1 << 40, Timeout: -1},
		{ID: "ABCDEF0123456789ABCDEF0123456789", State: StateQueued, CreatedAt: time.Unix(0, 1).UTC(),
			UpdatedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), RunAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{ID: NewID(), State: StateRunning, CreatedAt: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	jobs = append(jobs, odd...)

	var recs []Record
	for _, j := range jobs {
		recs = append(recs, Record{Op: OpUpsert, Job: j})
	}
	recs = append(recs, Record{Op: OpForget, Job: Job{ID: jobs[0].ID}}, Record{Op: OpForget, Job: Job{ID: "short"}})

	prefix := []byte("keep")
	data := EncodeRecords(prefix, recs)
	if string(data[:4]) != "keep" {
		t.Fatal("EncodeRecords did not append")
	}
	got, err := DecodeRecords(data[4:])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, recs) {
		for i := range recs {
			if !reflect.DeepEqual(got[i], recs[i]) {
				t.Fatalf("record %d\n got %+v\nwant %+v", i, got[i], recs[i])
			}
		}
		t.Fatal("records differ")
	}

	snap := EncodeSnapshot(jobs)
	gotJobs, err := DecodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotJobs, jobs) {
		t.Fatal("snapshot differs")
	}

	// Empty inputs.
	if r, err := DecodeRecords(EncodeRecords(nil, nil)); err != nil || len(r) != 0 {
		t.Fatalf("empty segment: %v %v", r, err)
	}
	if j, err := DecodeSnapshot(EncodeSnapshot(nil)); err != nil || len(j) != 0 {
		t.Fatalf("empty snapshot: %v %v", j, err)
	}
}

func TestCodecErrors(t *testing.T) {
	seg := EncodeRecords(nil, segment200()[:3])
	snap := EncodeSnapshot([]Job{fullJob(1)})
	tests := []struct {
		name string
		data []byte
		snap bool
		want error
	}{
		{"empty", nil, false, ErrCorrupt},
		{"version", append([]byte{9}, seg[1:]...), false, ErrUnsupportedVersion},
		{"snapshot as segment", snap, false, ErrCorrupt},
		{"segment as snapshot", seg, true, ErrCorrupt},
		{"truncated", seg[:len(seg)-1], false, ErrCorrupt},
		{"trailing", append(append([]byte{}, seg...), 0), false, ErrCorrupt},
		{"huge count", []byte{codecVersion, kindRecords, 0xff, 0xff, 0xff, 0xff, 0x0f}, false, ErrCorrupt},
		{"bad op", []byte{codecVersion, kindRecords, 1, 7, 0}, false, ErrCorrupt},
		{"huge string", []byte{codecVersion, kindRecords, 1, byte(OpForget), 0xff, 0xff, 0xff, 0xff, 0x0f}, false, ErrCorrupt},
		{"snapshot truncated", snap[:len(snap)/2], true, ErrCorrupt},
	}
	for _, tt := range tests {
		var err error
		if tt.snap {
			_, err = DecodeSnapshot(tt.data)
		} else {
			_, err = DecodeRecords(tt.data)
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
	}
	// Every truncation of a valid segment fails cleanly.
	for i := 0; i < len(seg); i++ {
		if _, err := DecodeRecords(seg[:i]); err == nil {
			t.Fatalf("truncation at %d decoded", i)
		}
	}
}

func TestCodecSize(t *testing.T) {
	recs := segment200()
	data := EncodeRecords(nil, recs)
	js, _ := json.Marshal(recs)
	t.Logf("200-record segment: %d bytes binary (%.1f per record), %d bytes as JSON", len(data), float64(len(data))/200, len(js))
	if len(data) > 200*80 {
		t.Errorf("segment of 200 small records is %d bytes; expected under %d", len(data), 200*80)
	}
}

func fuzzSeeds() [][]byte {
	recs := segment200()[:12]
	full := []Record{{Op: OpUpsert, Job: fullJob(3)}, {Op: OpForget, Job: Job{ID: "x"}}, {Op: OpUpsert, Job: Job{ID: "y", State: "odd"}}}
	return [][]byte{EncodeRecords(nil, recs), EncodeRecords(nil, full), EncodeRecords(nil, nil), {}, {codecVersion}}
}

func FuzzDecodeRecords(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := DecodeRecords(data)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := DecodeRecords(EncodeRecords(nil, recs))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(again) != len(recs) {
			t.Fatalf("re-decode: %d records, want %d", len(again), len(recs))
		}
		for i := range recs {
			if again[i].Op != recs[i].Op || !jobsEqual(again[i].Job, recs[i].Job) {
				t.Fatalf("record %d changed:\n%+v\n%+v", i, again[i], recs[i])
			}
		}
		// Applying decoded garbage never corrupts a shard.
		s := NewShard(0, ShardConfig{})
		for _, r := range recs {
			_ = s.Apply(r)
		}
		if err := s.check(); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(EncodeSnapshot([]Job{fullJob(1), fullJob(2), {ID: "z", State: StateDead}}))
	f.Add(EncodeSnapshot(nil))
	var jobs []Job
	for _, r := range segment200()[:9] {
		jobs = append(jobs, r.Job)
	}
	f.Add(EncodeSnapshot(jobs))
	f.Fuzz(func(t *testing.T, data []byte) {
		jobs, err := DecodeSnapshot(data)
		if err != nil {
			return
		}
		again, err := DecodeSnapshot(EncodeSnapshot(jobs))
		if err != nil || len(again) != len(jobs) {
			t.Fatalf("re-decode: %v", err)
		}
		for i := range jobs {
			if !jobsEqual(again[i], jobs[i]) {
				t.Fatalf("job %d changed", i)
			}
		}
	})
}

func BenchmarkEncodeRecords200(b *testing.B) {
	recs := segment200()
	buf := EncodeRecords(nil, recs)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for i := 0; i < b.N; i++ {
		buf = EncodeRecords(buf[:0], recs)
	}
}

func BenchmarkDecodeRecords200(b *testing.B) {
	data := EncodeRecords(nil, segment200())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for i := 0; i < b.N; i++ {
		if _, err := DecodeRecords(data); err != nil {
			b.Fatal(err)
		}
	}
}
