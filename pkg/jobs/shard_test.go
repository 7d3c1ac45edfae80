package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
	"time"
)

// mkJob returns a normalized job submitted at now.
func mkJob(t testing.TB, now time.Time, mod func(*Job)) Job {
	t.Helper()
	j := Job{Type: "echo", Payload: json.RawMessage(`{"n":1}`)}
	if mod != nil {
		mod(&j)
	}
	if err := j.Normalize(now, DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	return j
}

// check verifies the shard's internal invariants.
func (s *Shard) check() error {
	var counts [7]int
	finished, running := 0, 0
	for id, e := range s.jobs {
		if id != e.job.ID {
			return fmt.Errorf("job %s stored under %s", e.job.ID, id)
		}
		counts[stateCode(e.job.State)]++
		switch e.job.State {
		case StateQueued:
			if e.hi < 0 || e.hi >= len(s.ready) || s.ready[e.hi].e != e {
				return fmt.Errorf("queued job %s not in the ready heap", id)
			}
		case StateScheduled:
			if e.hi < 0 || e.hi >= len(s.sched) || s.sched[e.hi].e != e {
				return fmt.Errorf("scheduled job %s not in the scheduled heap", id)
			}
		case StateRunning:
			running++
			if s.byRunner[e.job.Runner][id] != e {
				return fmt.Errorf("running job %s not indexed by runner", id)
			}
		default:
			finished++
			if s.finished[id] != e {
				return fmt.Errorf("finished job %s not indexed", id)
			}
		}
	}
	if counts != s.counts {
		return fmt.Errorf("counts %v, held %v", s.counts, counts)
	}
	if len(s.ready) != counts[1] || len(s.sched) != counts[2] || len(s.finished) != finished {
		return fmt.Errorf("index sizes: ready %d sched %d finished %d, counts %v", len(s.ready), len(s.sched), len(s.finished), counts)
	}
	n := 0
	for _, m := range s.byRunner {
		n += len(m)
	}
	if n != running {
		return fmt.Errorf("runner index holds %d, %d running", n, running)
	}
	for i := 1; i < len(s.ready); i++ {
		if s.ready.Less(i, (i-1)/2) {
			return fmt.Errorf("ready heap order broken at %d", i)
		}
	}
	for i := 1; i < len(s.sched); i++ {
		if s.sched.Less(i, (i-1)/2) {
			return fmt.Errorf("scheduled heap order broken at %d", i)
		}
	}
	for k, e := range s.unique {
		if s.jobs[e.job.ID] != e || uniqueIndexKey(e.job) != k {
			return fmt.Errorf("unique index %q points at a stale job", k)
		}
	}
	return nil
}

func mustCheck(t testing.TB, s *Shard) {
	t.Helper()
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
}

func enqueue(t testing.TB, s *Shard, j Job, now time.Time) {
	t.Helper()
	if _, err := s.Enqueue(j, now); err != nil {
		t.Fatal(err)
	}
}

func TestShardEnqueueAndDuplicate(t *testing.T) {
	s := NewShard(3, ShardConfig{})
	j := mkJob(t, t0, nil)
	rec, err := s.Enqueue(j, t0)
	if err != nil || rec.Op != OpUpsert || !jobsEqual(rec.Job, j) {
		t.Fatalf("Enqueue = %+v, %v", rec, err)
	}
	if _, err := s.Enqueue(j, t0); !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("duplicate: %v", err)
	}
	bad := j
	bad.ID = NewID()
	bad.State = StateRunning
	if _, err := s.Enqueue(bad, t0); !errors.Is(err, ErrInvalidJob) {
		t.Fatalf("running job enqueued: %v", err)
	}
	if got, ok := s.Get(j.ID); !ok || !jobsEqual(got, j) {
		t.Fatal("Get")
	}
	if s.Len() != 1 || s.Counts()[StateQueued] != 1 || s.ID() != 3 || len(s.Counts()) != len(AllStates) {
		t.Fatalf("Len %d Counts %v", s.Len(), s.Counts())
	}
	mustCheck(t, s)
}

func TestShardPriorityOrder(t *testing.T) {
	s := NewShard(0, ShardConfig{})
	prios := []int{0, 5, 0, 5, -1, 10}
	ids := make([]string, len(prios))
	for i, p := range prios {
		j := mkJob(t, t0.Add(time.Duration(i)*time.Second), func(j *Job) { j.Priority = p })
		ids[i] = j.ID
		enqueue(t, s, j, t0)
	}
	// A job promoted from scheduled is ordered by its RunAt: it became ready
	// later than job 0 and earlier than job 2.
	late := mkJob(t, t0, func(j *Job) { j.RunAt = t0.Add(1500 * time.Millisecond) })
	enqueue(t, s, late, t0)
	if recs := s.Promote(t0.Add(time.Hour)); len(recs) != 1 {
		t.Fatalf("Promote = %d records", len(recs))
	}
	want := []string{ids[5], ids[1], ids[3], ids[0], late.ID, ids[2], ids[4]}
	var got []string
	for {
		p, ok := s.Peek(t0)
		j, _, started := s.StartNext("n1", t0.Add(time.Hour))
		if ok != started {
			t.Fatal("Peek and StartNext disagree")
		}
		if !started {
			break
		}
		if p.ID != j.ID {
			t.Fatalf("Peek %s, started %s", p.ID, j.ID)
		}
		got = append(got, j.ID)
		mustCheck(t, s)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order\n got %v\nwant %v", got, want)
	}
	if len(s.Running()) != len(want) {
		t.Fatalf("Running() = %d", len(s.Running()))
	}
}

func TestShardScheduledPromote(t *testing.T) {
	s := NewShard(0, ShardConfig{})
	if _, ok := s.NextWake(); ok {
		t.Fatal("NextWake on an empty shard")
	}
	a := mkJob(t, t0, func(j *Job) { j.RunAt = t0.Add(2 * time.Minute) })
	b := mkJob(t, t0, func(j *Job) { j.RunAt = t0.Add(time.Minute) })
	enqueue(t, s, a, t0)
	enqueue(t, s, b, t0)
	if w, ok := s.NextWake(); !ok || !w.Equal(t0.Add(time.Minute)) {
		t.Fatalf("NextWake = %v %v", w, ok)
	}
	if recs := s.Promote(t0.Add(59 * time.Second)); len(recs) != 0 {
		t.Fatalf("promoted early: %+v", recs)
	}
	if _, ok := s.Peek(t0); ok {
		t.Fatal("a scheduled job is ready")
	}
	recs := s.Promote(t0.Add(time.Minute))
	if len(recs) != 1 || recs[0].Job.ID != b.ID || recs[0].Job.State != StateQueued {
		t.Fatalf("Promote = %+v", recs)
	}
	if w, _ := s.NextWake(); !w.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("NextWake = %v", w)
	}
	if recs := s.Promote(t0.Add(time.Hour)); len(recs) != 1 || recs[0].Job.ID != a.ID {
		t.Fatalf("Promote = %+v", recs)
	}
	if _, ok := s.NextWake(); ok {
		t.Fatal("NextWake with nothing scheduled")
	}
	mustCheck(t, s)
}

func TestShardRetryThenDead(t *testing.T) {
	s := NewShard(0, ShardConfig{Retry: RetryPolicy{Base: time.Second, Max: time.Minute}})
	j := mkJob(t, t0, func(j *Job) { j.MaxAttempts = 3 })
	enqueue(t, s, j, t0)
	now := t0
	for attempt := 1; attempt <= 3; attempt++ {
		if _, _, err := s.Start(j.ID, "n1", now); err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		got, rec, err := s.Complete(j.ID, Outcome{Err: fmt.Errorf("fail %d", attempt)}, now)
		if err != nil || !jobsEqual(rec.Job, got) {
			t.Fatal(err)
		}
		if got.Attempt != attempt || got.LastError != fmt.Sprintf("fail %d", attempt) {
			t.Fatalf("attempt %d: %+v", attempt, got)
		}
		if attempt == 3 {
			if got.State != StateDead || !got.FinishedAt.Equal(now) {
				t.Fatalf("after the last attempt: %+v", got)
			}
			break
		}
		wantDelay := time.Second << (attempt - 1)
		if got.State != StateScheduled || !got.RunAt.Equal(now.Add(wantDelay)) {
			t.Fatalf("attempt %d: state %s run at %v, want scheduled at +%s", attempt, got.State, got.RunAt, wantDelay)
		}
		now = got.RunAt
		if recs := s.Promote(now); len(recs) != 1 {
			t.Fatalf("promote: %+v", recs)
		}
		mustCheck(t, s)
	}
	mustCheck(t, s)
}

func TestShardPermanentAndSuccess(t *testing.T) {
	s := NewShard(0, ShardConfig{})
	a, b := mkJob(t, t0, nil), mkJob(t, t0, nil)
	enqueue(t, s, a, t0)
	enqueue(t, s, b, t0)
	s.Start(a.ID, "n1", t0)
	s.Start(b.ID, "n1", t0)
	got, _, err := s.Complete(a.ID, Outcome{Err: Permanent(errors.New("bad payload")), Permanent: true}, t0)
	if err != nil || got.State != StateDead || got.Attempt != 1 {
		t.Fatalf("permanent: %+v %v", got, err)
	}
	got, _, err = s.Complete(b.ID, Outcome{Result: json.RawMessage(`42`)}, t0)
	if err != nil || got.State != StateSucceeded || string(got.Result) != "42" {
		t.Fatalf("success: %+v %v", got, err)
	}
	// A second completion is refused.
	if _, rec, err := s.Complete(b.ID, Outcome{}, t0); !errors.Is(err, ErrIllegalTransition) || rec.Op != 0 {
		t.Fatalf("double complete: %v", err)
	}
	mustCheck(t, s)
}

func TestShardCompleteCancelledOutcome(t *testing.T) {
	s := NewShard(0, ShardConfig{})
	a, b := mkJob(t, t0, nil), mkJob(t, t0, nil)
	enqueue(t, s, a, t0)
	enqueue(t, s, b, t0)
	s.Start(a.ID, "n1", t0)
	s.Start(b.ID, "n1", t0)
	// Drained before it finished: back to queued, attempt given back.
	got, _, err := s.Complete(a.ID, Outcome{Err: errors.New("context canceled"), Cancelled: true}, t0)
	if err != nil || got.State != StateQueued || got.Attempt != 0 {
		t.Fatalf("drained: %+v %v", got, err)
	}
	// Cancelled, but the handler finished its work anyway: succeeded.
	got, _, err = s.Complete(b.ID, Outcome{Cancelled: true}, t0)
	if err != nil || got.State != StateSucceeded {
		t.Fatalf("cancelled after success: %+v %v", got, err)
	}
	long := mkJob(t, t0, nil)
	enqueue(t, s, long, t0)
	s.Start(long.ID, "n1", t0)
	got, _, _ = s.Complete(long.ID, Outcome{Err: errors.New(string(make([]byte, 10000)))}, t0)
	if len(got.LastError) > maxErrorLen {
		t.Fatalf("LastError kept %d bytes", len(got.LastError))
	}
	mustCheck(t, s)
}

func TestShardCancel(t *testing.T) {
	s := NewShard(0, ShardConfig{})
	q := mkJob(t, t0, nil)
	sc := mkJob(t, t0, func(j *Job) { j.RunAt = t0.Add(time.Hour) })
	r := mkJob(t, t0, nil)
	for _, j := range []Job{q, sc, r} {
		enqueue(t, s, j, t0)
	}
	s.Start(r.ID, "n1", t0)
	for _, id := range []string{q.ID, sc.ID, r.ID} {
		got, rec, err := s.Cancel(id, t0.Add(time.Second))
		if err != nil || got.State != StateCancelled || rec.Job.State != StateCancelled {
			t.Fatalf("cancel %s: %+v %v", id, got, err)
		}
	}
	// The running job's handler finishes later: its outcome is dropped.
	if _, rec, err := s.Complete(r.ID, Outcome{}, t0.Add(2*time.Second)); !errors.Is(err, ErrIllegalTransition) || rec.Op != 0 {
		t.Fatalf("complete after cancel: %v", err)
	}
	if got, _ := s.Get(r.ID); got.State != StateCancelled {
		t.Fatalf("state %s", got.State)
	}
	if _, _, err := s.Cancel(q.ID, t0); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("cancel twice: %v", err)
	}
	_, _, err := s.Cancel(NewID(), t0)
	if !errors.Is(err, ErrJobNotFound) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if _, ok := s.Peek(t0); ok {
		t.Fatal("a cancelled job is ready")
	}
	if _, ok := s.NextWake(); ok {
		t.Fatal("a cancelled job is scheduled")
	}
	mustCheck(t, s)
}

func TestShardUnique(t *testing.T) {
	s := NewShard(0, ShardConfig{})
	uniq := func(now time.Time) Job {
		return mkJob(t, now, func(j *Job) { j.UniqueKey = "user-1"; j.UniqueTTL = time.Minute })
	}
	a := uniq(t0)
	enqueue(t, s, a, t0)
	b := uniq(t0.Add(time.Second))
	_, err := s.Enqueue(b, t0.Add(time.Second))
	var uc *UniqueConflictError
	if !errors.Is(err, ErrUniqueConflict) || !errors.As(err, &uc) || uc.ExistingID != a.ID {
		t.Fatalf("conflict: %v", err)
	}
	// Another key, queue or type is not a conflict.
	other := mkJob(t, t0, func(j *Job) { j.UniqueKey = "user-1"; j.Queue = "other" })
	enqueue(t, s, other, t0)

	// Succeeded still holds the key until the TTL passes.
	s.Start(a.ID, "n1", t0)
	s.Complete(a.ID, Outcome{}, t0)
	if _, err := s.Enqueue(b, t0.Add(30*time.Second)); !errors.Is(err, ErrUniqueConflict) {
		t.Fatalf("succeeded job released its key: %v", err)
	}
	c := uniq(t0.Add(time.Minute))
	enqueue(t, s, c, t0.Add(time.Minute)) // TTL passed

	// Cancelled releases the key at once.
	s.Cancel(c.ID, t0.Add(61*time.Second))
	d := uniq(t0.Add(62 * time.Second))
	enqueue(t, s, d, t0.Add(62*time.Second))
	mustCheck(t, s)
}

func TestShardRequeueRunner(t *testing.T) {
	s := NewShard(0, ShardConfig{})
	var onN1 []string
	for i := 0; i < 4; i++ {
		j := mkJob(t, t0, func(j *Job) {
			if i == 0 {
				j.MaxAttempts = 1
			}
		})
		enqueue(t, s, j, t0)
		runner := "n1"
		if i == 3 {
			runner = "n2"
		} else {
			onN1 = append(onN1, j.ID)
		}
		if _, _, err := s.Start(j.ID, runner, t0); err != nil {
			t.Fatal(err)
		}
	}
	recs := s.RequeueRunner("n1", "n1 left the cluster", t0.Add(time.Second))
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	sort.Strings(onN1)
	dead := 0
	for i, r := range recs {
		if r.Job.ID != onN1[i] {
			t.Fatalf("records not in ID order")
		}
		if r.Job.Attempt != 1 || r.Job.LastError != "runner lost: n1 left the cluster" {
			t.Fatalf("%+v", r.Job)
		}
		if r.Job.State == StateDead {
			dead++
		} else if r.Job.State != StateQueued {
			t.Fatalf("state %s", r.Job.State)
		}
	}
	if dead != 1 {
		t.Fatalf("%d dead, want the one with max attempts 1", dead)
	}
	if len(s.Running()) != 1 || s.Running()[0].Runner != "n2" {
		t.Fatalf("running: %+v", s.Running())
	}
	if recs := s.RequeueRunner("n1", "again", t0); len(recs) != 0 {
		t.Fatal("requeued twice")
	}
	mustCheck(t, s)
}

func TestShardMerge(t *testing.T) {
	base := mkJob(t, t0, nil)
	later := func(j Job, d time.Duration) Job { j.UpdatedAt = j.UpdatedAt.Add(d); return j }
	running := base
	running, _ = Start(running, "other-node", t0.Add(time.Second))
	succeeded, _ := Succeed(running, nil, t0.Add(2*time.Second))
	attempt2 := running
	attempt2.Attempt = 2

	tests := []struct {
		name      string
		local     *Job // nil: unknown ID
		incoming  Job
		changed   bool
		wantState State
		check     func(t *testing.T, j Job)
	}{
		{name: "unknown is taken", incoming: base, changed: true, wantState: StateQueued},
		{name: "unknown running is requeued", incoming: running, changed: true, wantState: StateQueued,
			check: func(t *testing.T, j Job) {
				if j.Attempt != 1 || j.LastError == "" {
					t.Errorf("%+v", j)
				}
			}},
		{name: "terminal beats live", local: &running, incoming: succeeded, changed: true, wantState: StateSucceeded},
		{name: "live loses to terminal", local: &succeeded, incoming: later(attempt2, time.Hour), changed: false, wantState: StateSucceeded},
		{name: "higher attempt wins", local: &running, incoming: attempt2, changed: true, wantState: StateQueued,
			check: func(t *testing.T, j Job) {
				if j.Attempt != 2 {
					t.Errorf("%+v", j)
				}
			}},
		{name: "later update wins", local: &base, incoming: later(base, time.Minute), changed: true, wantState: StateQueued},
		{name: "earlier update loses", local: &base, incoming: later(base, -time.Minute), changed: false, wantState: StateQueued},
		{name: "same job changes nothing", local: &base, incoming: base, changed: false, wantState: StateQueued},
		{name: "invalid is ignored", incoming: Job{ID: "x"}, changed: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewShard(0, ShardConfig{})
			if tt.local != nil {
				if err := s.Apply(Record{Op: OpUpsert, Job: *tt.local}); err != nil {
					t.Fatal(err)
				}
			}
			rec, changed := s.Merge(tt.incoming, t0.Add(time.Hour))
			if changed != tt.changed {
				t.Fatalf("changed = %v", changed)
			}
			mustCheck(t, s)
			if tt.wantState == "" {
				return
			}
			got, _ := s.Get(tt.incoming.ID)
			if got.State != tt.wantState {
				t.Fatalf("state %s, want %s", got.State, tt.wantState)
			}
			if changed && !jobsEqual(rec.Job, got) {
				t.Fatal("record differs from the state")
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestShardPrune(t *testing.T) {
	s := NewShard(0, ShardConfig{Retention: time.Hour, MaxFinished: 3})
	var ids []string
	for i := 0; i < 6; i++ {
		j := mkJob(t, t0, func(j *Job) {
			if i == 0 {
				j.UniqueKey = "k"
				j.UniqueTTL = 3 * time.Hour
			}
		})
		enqueue(t, s, j, t0)
		s.Start(j.ID, "n1", t0)
		s.Complete(j.ID, Outcome{}, t0.Add(time.Duration(i)*time.Minute))
		ids = append(ids, j.ID)
	}
	live := mkJob(t, t0, nil)
	enqueue(t, s, live, t0)

	// Over MaxFinished: the oldest finished go first.
	recs := s.Prune(t0.Add(10 * time.Minute))
	if len(recs) != 3 || recs[0].Op != OpForget || recs[0].Job.ID != ids[0] || recs[2].Job.ID != ids[2] {
		t.Fatalf("prune over cap: %+v", recs)
	}
	// Past retention: the rest go; the live job stays.
	recs = s.Prune(t0.Add(2 * time.Hour))
	if len(recs) != 3 {
		t.Fatalf("prune by age: %d records", len(recs))
	}
	if s.Len() != 1 {
		t.Fatalf("Len %d", s.Len())
	}
	if _, ok := s.Get(live.ID); !ok {
		t.Fatal("live job pruned")
	}
	mustCheck(t, s)

	// A finished job holding its unique key outlives the retention.
	s2 := NewShard(0, ShardConfig{Retention: time.Minute})
	u := mkJob(t, t0, func(j *Job) { j.UniqueKey = "k"; j.UniqueTTL = time.Hour })
	enqueue(t, s2, u, t0)
	s2.Start(u.ID, "n1", t0)
	s2.Complete(u.ID, Outcome{}, t0)
	if recs := s2.Prune(t0.Add(30 * time.Minute)); len(recs) != 0 {
		t.Fatal("pruned a job holding its unique key")
	}
	if recs := s2.Prune(t0.Add(time.Hour)); len(recs) != 1 {
		t.Fatal("kept a job past retention and unique TTL")
	}
}

func TestShardList(t *testing.T) {
	s := NewShard(0, ShardConfig{})
	var ids []string
	for i := 0; i < 5; i++ {
		j := mkJob(t, t0.Add(time.Duration(i)*time.Second), func(j *Job) {
			if i%2 == 1 {
				j.Queue = "odd"
			}
		})
		enqueue(t, s, j, t0)
		ids = append(ids, j.ID)
	}
	s.Start(ids[0], "n1", t0)
	got := s.List("", "", 0)
	if len(got) != 5 || got[0].ID != ids[4] || got[4].ID != ids[0] {
		t.Fatal("List all: not newest first")
	}
	if got := s.List(StateQueued, "", 2); len(got) != 2 || got[0].ID != ids[4] || got[1].ID != ids[3] {
		t.Fatalf("List queued limit 2: %v", got)
	}
	if got := s.List("", "odd", 0); len(got) != 2 {
		t.Fatalf("List odd: %d", len(got))
	}
	if got := s.List(StateRunning, "", 0); len(got) != 1 || got[0].ID != ids[0] {
		t.Fatal("List running")
	}
	if got := s.Jobs(); len(got) != 5 || !sort.SliceIsSorted(got, func(a, b int) bool { return got[a].ID < got[b].ID }) {
		t.Fatal("Jobs not sorted by ID")
	}
}

func TestShardApplyErrors(t *testing.T) {
	s := NewShard(0, ShardConfig{})
	if s.Apply(Record{Op: 9, Job: Job{ID: "a", State: StateQueued}}) == nil {
		t.Fatal("unknown op applied")
	}
	if s.Apply(Record{Op: OpUpsert, Job: Job{State: StateQueued}}) == nil {
		t.Fatal("job without ID applied")
	}
	if s.Apply(Record{Op: OpUpsert, Job: Job{ID: "a", State: "weird"}}) == nil {
		t.Fatal("invalid state applied")
	}
	if err := s.Apply(Record{Op: OpForget, Job: Job{ID: "absent"}}); err != nil {
		t.Fatal(err)
	}
}

// shardState is everything observable about a shard, for comparisons.
type shardState struct {
	Jobs     []Job
	Counts   map[State]int
	Order    []string // the order queued jobs would start in
	Wake     time.Time
	Running  []Job
	UniqueTo map[string]string
}

func observe(s *Shard) shardState {
	st := shardState{Jobs: s.Jobs(), Counts: s.Counts(), Running: s.Running(), UniqueTo: map[string]string{}}
	order := append(readyHeap(nil), s.ready...)
	sort.Slice(order, order.Less)
	for _, it := range order {
		st.Order = append(st.Order, it.e.job.ID)
	}
	st.Wake, _ = s.NextWake()
	for k, e := range s.unique {
		st.UniqueTo[k] = e.job.ID
	}
	return st
}

// TestShardReplayProperty drives a shard with random operations and checks
// that replaying its records, directly and through the codec, and loading
// its snapshot rebuild the same state.
func TestShardReplayProperty(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed*7))
			cfg := ShardConfig{Retry: RetryPolicy{Base: time.Second, Max: time.Minute, Jitter: 0.2}, Retention: 10 * time.Minute, MaxFinished: 20}
			s := NewShard(1, cfg)
			var recs []Record
			var ids []string
			now := t0
			runners := []string{"n1", "n2", "n3"}
			pick := func() string {
				if len(ids) == 0 || rng.IntN(20) == 0 {
					return NewID()
				}
				return ids[rng.IntN(len(ids))]
			}
			for step := 0; step < 400; step++ {
				now = now.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)
				switch op := rng.IntN(12); op {
				case 0, 1:
					j := mkJob(t, now, func(j *Job) {
						j.Priority = rng.IntN(3)
						if rng.IntN(4) == 0 {
							j.RunAt = now.Add(time.Duration(rng.IntN(30)) * time.Second)
						}
						if rng.IntN(4) == 0 {
							j.UniqueKey = fmt.Sprint("k", rng.IntN(3))
							j.UniqueTTL = time.Duration(1+rng.IntN(120)) * time.Second
						}
						j.MaxAttempts = 1 + rng.IntN(3)
					})
					if r, err := s.Enqueue(j, now); err == nil {
						recs = append(recs, r)
						ids = append(ids, j.ID)
					} else if !errors.Is(err, ErrUniqueConflict) {
						t.Fatal(err)
					}
				case 2:
					recs = append(recs, s.Promote(now)...)
				case 3, 4:
					if _, r, ok := s.StartNext(runners[rng.IntN(3)], now); ok {
						recs = append(recs, r)
					}
				case 5, 6:
					var out Outcome
					switch rng.IntN(4) {
					case 0:
						out.Err = errors.New("boom")
					case 1:
						out.Err, out.Permanent = errors.New("bad"), true
					case 2:
						out.Err, out.Cancelled = errors.New("drained"), true
					default:
						out.Result = json.RawMessage(`{"ok":true}`)
					}
					id := pick()
					if run := s.Running(); len(run) > 0 && rng.IntN(4) != 0 {
						id = run[rng.IntN(len(run))].ID
					}
					if _, r, err := s.Complete(id, out, now); err == nil {
						recs = append(recs, r)
					}
				case 7:
					if _, r, err := s.Cancel(pick(), now); err == nil {
						recs = append(recs, r)
					}
				case 8:
					recs = append(recs, s.RequeueRunner(runners[rng.IntN(3)], "gone", now)...)
				case 9:
					recs = append(recs, s.Prune(now)...)
				case 10:
					if _, r, err := s.Requeue(pick(), "moved", rng.IntN(2) == 0, now); err == nil {
						recs = append(recs, r)
					}
				case 11:
					// Merge a version of a job from "the other side".
					if j, ok := s.Get(pick()); ok {
						j.UpdatedAt = j.UpdatedAt.Add(time.Second)
						if rng.IntN(2) == 0 {
							j.Attempt++
						}
						if r, ok := s.Merge(j, now); ok {
							recs = append(recs, r)
						}
					}
				}
				if err := s.check(); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
			}
			want := observe(s)

			direct := NewShard(1, cfg)
			for _, r := range recs {
				if err := direct.Apply(r); err != nil {
					t.Fatal(err)
				}
			}
			mustCheck(t, direct)
			if got := observe(direct); !reflect.DeepEqual(got, want) {
				t.Fatalf("direct replay differs\n got %+v\nwant %+v", got, want)
			}

			// Through the codec, in segments of up to 50 records.
			viaCodec := NewShard(1, cfg)
			for i := 0; i < len(recs); i += 50 {
				seg := EncodeRecords(nil, recs[i:min(i+50, len(recs))])
				dec, err := DecodeRecords(seg)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range dec {
					if err := viaCodec.Apply(r); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := observe(viaCodec); !reflect.DeepEqual(got, want) {
				t.Fatalf("codec replay differs\n got %+v\nwant %+v", got, want)
			}

			// From a snapshot.
			jobs, err := DecodeSnapshot(EncodeSnapshot(s.Jobs()))
			if err != nil {
				t.Fatal(err)
			}
			fromSnap := NewShard(1, cfg)
			for _, j := range jobs {
				if err := fromSnap.Apply(Record{Op: OpUpsert, Job: j}); err != nil {
					t.Fatal(err)
				}
			}
			got := observe(fromSnap)
			if !reflect.DeepEqual(got.Jobs, want.Jobs) || !reflect.DeepEqual(got.Order, want.Order) ||
				!reflect.DeepEqual(got.Counts, want.Counts) || !got.Wake.Equal(want.Wake) {
				t.Fatalf("snapshot differs\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// BenchmarkShardLifecycle measures one job's life on a shard holding a
// backlog of 10,000 queued jobs: Enqueue, Start (the heap's best), Complete
// (success), and forgetting the finished job. ns/op is for the whole life
// (four operations).
func BenchmarkShardLifecycle(b *testing.B) {
	s := NewShard(0, ShardConfig{})
	tmpl := mkJob(b, t0, nil)
	const backlog = 10000
	for i := 0; i < backlog; i++ {
		j := tmpl
		j.ID = benchID(uint64(i))
		j.Priority = i % 3
		j.CreatedAt = t0.Add(time.Duration(i) * time.Microsecond)
		enqueue(b, s, j, t0)
	}
	now := t0.Add(backlog * time.Microsecond)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = benchID(uint64(backlog + i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for i := 0; i < b.N; i++ {
		j := tmpl
		j.ID = ids[i]
		j.Priority = i % 3
		j.CreatedAt = now
		if _, err := s.Enqueue(j, now); err != nil {
			b.Fatal(err)
		}
		now = now.Add(time.Microsecond)
		started, _, ok := s.StartNext("n1", now)
		if !ok {
			b.Fatal("nothing to start")
		}
		if _, _, err := s.Complete(started.ID, Outcome{Result: tmpl.Payload}, now); err != nil {
			b.Fatal(err)
		}
		_ = s.Apply(Record{Op: OpForget, Job: Job{ID: started.ID}})
	}
}

// BenchmarkShardOps measures each operation on its own.
func BenchmarkShardOps(b *testing.B) {
	tmpl := mkJob(b, t0, nil)
	b.Run("Enqueue", func(b *testing.B) {
		s := NewShard(0, ShardConfig{})
		ids := make([]string, b.N)
		for i := range ids {
			ids[i] = benchID(uint64(i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b, processCPU())
		for i := 0; i < b.N; i++ {
			j := tmpl
			j.ID = ids[i]
			j.Priority = i % 3
			j.CreatedAt = t0.Add(time.Duration(i) * time.Microsecond)
			if _, err := s.Enqueue(j, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("StartComplete", func(b *testing.B) {
		s := NewShard(0, ShardConfig{})
		for i := 0; i < b.N; i++ {
			j := tmpl
			j.ID = benchID(uint64(i))
			j.Priority = i % 3
			j.CreatedAt = t0.Add(time.Duration(i) * time.Microsecond)
			enqueue(b, s, j, t0)
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b, processCPU())
		for i := 0; i < b.N; i++ {
			j, _, _ := s.StartNext("n1", t0)
			if _, _, err := s.Complete(j.ID, Outcome{}, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchID(n uint64) string {
	return fmt.Sprintf("%016x%016x", n*0x9e3779b97f4a7c15, n)
}

// reportCPU adds a cpu-ns/op metric measured since start.
func reportCPU(b *testing.B, start time.Duration) {
	if start == 0 {
		return
	}
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}
