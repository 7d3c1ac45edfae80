package jobs

import (
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
	"unicode/utf8"
)

// Op is what a Record does to a shard's state.
type Op uint8

// The operations of a Record. The zero Op is invalid.
const (
	// OpUpsert stores Record.Job, the job's full state after the change,
	// replacing what the shard held under its ID.
	OpUpsert Op = 1
	// OpForget drops the job Record.Job.ID (only the ID is set).
	OpForget Op = 2
)

func (o Op) String() string {
	switch o {
	case OpUpsert:
		return "upsert"
	case OpForget:
		return "forget"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Record is one change to a shard, already applied when a Shard method
// returns it. Appending the records to the shard's log and replaying them
// with Apply, in order, on a shard rebuilt from the last snapshot gives the
// same state. A record shares Payload and Result with the shard's state:
// treat both as immutable.
type Record struct {
	Op  Op
	Job Job
}

// ErrDuplicateID is returned by Enqueue for an ID the shard already holds.
var ErrDuplicateID = errors.New("jobs: duplicate job ID")

// ErrUniqueConflict is matched by the *UniqueConflictError of Enqueue.
var ErrUniqueConflict = errors.New("jobs: unique key held by another job")

// ErrJobNotFound is returned for an ID the shard does not hold. It also
// matches ErrNotFound (errors.Is), so one check covers the store and the
// shard.
var ErrJobNotFound error = jobNotFound{}

type jobNotFound struct{}

func (jobNotFound) Error() string        { return "jobs: job not found" }
func (jobNotFound) Is(target error) bool { return target == ErrNotFound }

func notFound(id string) error {
	return fmt.Errorf("%w: %s (finished jobs are kept for the shard's retention only)", ErrJobNotFound, id)
}

// UniqueConflictError says which job holds the unique key. It matches
// ErrUniqueConflict.
type UniqueConflictError struct {
	ExistingID string
}

func (e *UniqueConflictError) Error() string {
	return fmt.Sprintf("jobs: unique key held by job %s: use that job, or submit again once its unique TTL has passed", e.ExistingID)
}

// Is makes errors.Is(err, ErrUniqueConflict) true.
func (e *UniqueConflictError) Is(target error) bool { return target == ErrUniqueConflict }

// ShardConfig configures a Shard. Zero fields take their defaults.
type ShardConfig struct {
	// Retry computes the delay before a failed job's next attempt.
	// Default DefaultRetryPolicy().
	Retry RetryPolicy
	// Retention is how long a finished job (succeeded, dead, cancelled) is
	// kept for status queries after it finished. Default 1 h. A finished job
	// whose unique key is still held is kept past it (up to MaxFinished).
	Retention time.Duration
	// MaxFinished caps the finished jobs kept per shard; the oldest are
	// dropped first. Default 2000.
	MaxFinished int
}

// DefaultShardConfig returns the defaults described on ShardConfig.
func DefaultShardConfig() ShardConfig {
	return ShardConfig{Retry: DefaultRetryPolicy(), Retention: time.Hour, MaxFinished: 2000}
}

func (c ShardConfig) withDefaults() ShardConfig {
	d := DefaultShardConfig()
	if c.Retry == (RetryPolicy{}) {
		c.Retry = d.Retry
	}
	if c.Retention == 0 {
		c.Retention = d.Retention
	}
	if c.MaxFinished == 0 {
		c.MaxFinished = d.MaxFinished
	}
	return c
}

// Validate reports a configuration that cannot be used.
func (c ShardConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if err := c.Retry.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Retention < 0 {
		errs = append(errs, fmt.Errorf("retention is %s: use a positive duration (1h is the default)", c.Retention))
	}
	if c.MaxFinished < 0 {
		errs = append(errs, fmt.Errorf("max finished jobs per shard is %d: use a positive number (2000 is the default)", c.MaxFinished))
	}
	return errors.Join(errs...)
}

// maxErrorLen caps LastError: errors ride every later record of the job.
const maxErrorLen = 4 << 10

// entry is one job held by a shard.
type entry struct {
	job Job
	// hi is the index in the ready heap (queued) or the scheduled heap
	// (scheduled); -1 otherwise.
	hi int
}

// Shard is the live state of one shard, held in memory by its owner: every
// job, the ready queue (priority, then readiness time), the scheduled jobs by
// RunAt, what runs where, and the unique keys. It is a pure state machine:
// methods take the time as an argument and return the Records of the changes
// they made. A Shard is not safe for concurrent use: its owner serializes the
// calls.
type Shard struct {
	id       int
	cfg      ShardConfig
	jobs     map[string]*entry
	ready    readyHeap
	sched    schedHeap
	unique   map[string]*entry
	byRunner map[string]map[string]*entry
	finished map[string]*entry
	counts   [7]int // by stateCode
}

// NewShard returns an empty shard. Zero fields of cfg take their defaults;
// an invalid cfg (see ShardConfig.Validate) is replaced field by field by
// the defaults.
func NewShard(id int, cfg ShardConfig) *Shard {
	cfg = cfg.withDefaults()
	d := DefaultShardConfig()
	if cfg.Retry.Validate() != nil {
		cfg.Retry = d.Retry
	}
	if cfg.Retention < 0 {
		cfg.Retention = d.Retention
	}
	if cfg.MaxFinished < 0 {
		cfg.MaxFinished = d.MaxFinished
	}
	return &Shard{
		id:       id,
		cfg:      cfg,
		jobs:     make(map[string]*entry),
		unique:   make(map[string]*entry),
		byRunner: make(map[string]map[string]*entry),
		finished: make(map[string]*entry),
	}
}

// ID returns the shard's number.
func (s *Shard) ID() int { return s.id }

// Config returns the shard's configuration, defaults filled in.
func (s *Shard) Config() ShardConfig { return s.cfg }

// Len returns how many jobs the shard holds (finished ones included).
func (s *Shard) Len() int { return len(s.jobs) }

// Get returns the job id.
func (s *Shard) Get(id string) (Job, bool) {
	e, ok := s.jobs[id]
	if !ok {
		return Job{}, false
	}
	return e.job, true
}

// Enqueue adds a new job, already checked by Normalize (state queued or
// scheduled). It refuses an ID the shard holds (ErrDuplicateID) and a unique
// key held by another job (a *UniqueConflictError). A key is held by the
// newest job with that (queue, type, key) while it was created less than its
// UniqueTTL ago and is queued, scheduled, running or succeeded: a job that
// was cancelled or is dead frees its key, so the work can be submitted again.
func (s *Shard) Enqueue(j Job, now time.Time) (Record, error) {
	if j.State != StateQueued && j.State != StateScheduled {
		return Record{}, invalid("job %s is %s: only queued or scheduled jobs can be enqueued (call Normalize first)", j.ID, j.State)
	}
	if j.ID == "" {
		return Record{}, invalid("job has no ID: call Normalize first")
	}
	if _, ok := s.jobs[j.ID]; ok {
		return Record{}, fmt.Errorf("%w: %s: the job was submitted before; read its status instead", ErrDuplicateID, j.ID)
	}
	if j.UniqueKey != "" {
		if held, ok := s.unique[uniqueIndexKey(j)]; ok && holdsUnique(held.job, now) {
			return Record{}, &UniqueConflictError{ExistingID: held.job.ID}
		}
	}
	s.add(j)
	return Record{Op: OpUpsert, Job: j}, nil
}

// holdsUnique reports whether j holds its unique key at now.
func holdsUnique(j Job, now time.Time) bool {
	if j.UniqueKey == "" {
		return false
	}
	switch j.State {
	case StateCancelled, StateDead:
		return false
	}
	return now.Before(j.CreatedAt.Add(j.UniqueTTL))
}

func uniqueIndexKey(j Job) string {
	return j.Queue + "\x00" + j.Type + "\x00" + j.UniqueKey
}

// Promote moves every scheduled job whose RunAt has come to queued.
func (s *Shard) Promote(now time.Time) []Record {
	var recs []Record
	nowKey := timeKey(now)
	for len(s.sched) > 0 && s.sched[0].key <= nowKey {
		e := s.sched[0].e
		next, err := Promote(e.job, now)
		if err != nil { // cannot happen: the heap holds scheduled jobs only
			break
		}
		s.update(e, next)
		recs = append(recs, Record{Op: OpUpsert, Job: next})
	}
	return recs
}

// NextWake returns the earliest RunAt among scheduled jobs: when Promote
// next has work.
func (s *Shard) NextWake() (time.Time, bool) {
	if len(s.sched) == 0 {
		return time.Time{}, false
	}
	return s.sched[0].e.job.RunAt, true
}

// Peek returns the queued job to run next: highest priority first, then the
// one ready the longest (RunAt, or CreatedAt for a job that never waited),
// then the lowest ID. It does not promote due scheduled jobs (call Promote
// first); now is accepted for symmetry and unused.
func (s *Shard) Peek(now time.Time) (Job, bool) {
	_ = now
	if len(s.ready) == 0 {
		return Job{}, false
	}
	return s.ready[0].e.job, true
}

// Ready returns how many jobs are queued.
func (s *Shard) Ready() int { return len(s.ready) }

// StartNext starts the job Peek would return on runner.
func (s *Shard) StartNext(runner string, now time.Time) (Job, Record, bool) {
	if len(s.ready) == 0 {
		return Job{}, Record{}, false
	}
	j, rec, err := s.Start(s.ready[0].e.job.ID, runner, now)
	if err != nil {
		return Job{}, Record{}, false
	}
	return j, rec, true
}

// Start moves the queued job id to running on runner (see the Start
// function).
func (s *Shard) Start(id, runner string, now time.Time) (Job, Record, error) {
	return s.transition(id, func(j Job) (Job, error) { return Start(j, runner, now) })
}

// Complete records how the running job id's attempt ended: succeeded when
// out.Err is nil (even if it was cancelled or timed out after doing its
// work); back to queued with the attempt given back when out.Cancelled (a
// drain stopped it: see Requeue); otherwise a failed attempt, scheduled for
// a retry or dead (attempts exhausted or out.Permanent). A job that is no
// longer running (cancelled or requeued meanwhile) gives ErrIllegalTransition
// and no record: the outcome is dropped.
func (s *Shard) Complete(id string, out Outcome, now time.Time) (Job, Record, error) {
	return s.transition(id, func(j Job) (Job, error) {
		switch {
		case out.Err == nil:
			return Succeed(j, out.Result, now)
		case out.Cancelled:
			return Requeue(j, "cancelled: "+out.Err.Error(), true, now)
		default:
			return Fail(j, truncateError(out.Err.Error()), out.Permanent, s.cfg.Retry, now)
		}
	})
}

// Cancel moves the queued, scheduled or running job id to cancelled. For a
// running job the caller then cancels its handler (Executor.Cancel); the
// handler's outcome will be refused by Complete.
func (s *Shard) Cancel(id string, now time.Time) (Job, Record, error) {
	return s.transition(id, func(j Job) (Job, error) { return Cancel(j, now) })
}

// Requeue moves the running job id back to queued (see the Requeue
// function).
func (s *Shard) Requeue(id, reason string, giveBack bool, now time.Time) (Job, Record, error) {
	return s.transition(id, func(j Job) (Job, error) { return Requeue(j, reason, giveBack, now) })
}

// RequeueRunner requeues every job running on runner, which is gone: the
// attempt stays counted, and a job without attempts left is dead. Records
// come in job ID order.
func (s *Shard) RequeueRunner(runner, reason string, now time.Time) []Record {
	m := s.byRunner[runner]
	if len(m) == 0 {
		return nil
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	recs := make([]Record, 0, len(ids))
	for _, id := range ids {
		if _, rec, err := s.Requeue(id, reason, false, now); err == nil {
			recs = append(recs, rec)
		}
	}
	return recs
}

func (s *Shard) transition(id string, f func(Job) (Job, error)) (Job, Record, error) {
	e, ok := s.jobs[id]
	if !ok {
		return Job{}, Record{}, notFound(id)
	}
	next, err := f(e.job)
	if err != nil {
		return e.job, Record{}, err
	}
	s.update(e, next)
	return next, Record{Op: OpUpsert, Job: next}, nil
}

// truncateError keeps at most maxErrorLen bytes of an error message, cut on
// a rune boundary.
func truncateError(msg string) string {
	if len(msg) <= maxErrorLen {
		return msg
	}
	cut := maxErrorLen - len(" …(truncated)")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + " …(truncated)"
}

// Merge imports a job from elsewhere (the other side's log when a split
// heals, a hand-off): an unknown ID is taken; for a known one the more
// advanced version wins: an end state beats a live one, then the higher
// Attempt, then the later UpdatedAt (a tie keeps the local one). A job that
// wins in state running is requeued with its attempt counted, since its
// runner belonged to the other side (a duplicate run is possible:
// at-least-once). If the local version was running here and lost, the
// caller should cancel its handler. Merge returns false, and no record, when
// nothing changed or j is not a usable job (no ID, invalid state).
func (s *Shard) Merge(j Job, now time.Time) (Record, bool) {
	if j.ID == "" || !j.State.Valid() {
		return Record{}, false
	}
	e, ok := s.jobs[j.ID]
	if ok && !moreAdvanced(j, e.job) {
		return Record{}, false
	}
	if j.State == StateRunning {
		j, _ = Requeue(j, "merged from another owner", false, now)
	}
	if !ok {
		s.add(j)
		return Record{Op: OpUpsert, Job: j}, true
	}
	if jobsEqual(j, e.job) {
		return Record{}, false
	}
	s.update(e, j)
	return Record{Op: OpUpsert, Job: j}, true
}

// Adopt takes a version of a job that a previous owner of the shard held
// (its final hand-off snapshot, or this node's own state from before it
// lost and re-took the lease) and keeps it if it is further along than the
// version loaded from the log. Unlike Merge it keeps a running job running:
// its runner is known, and the owner requeues it if that runner is gone.
func (s *Shard) Adopt(j Job) (Record, bool) {
	if j.ID == "" || !j.State.Valid() {
		return Record{}, false
	}
	e, ok := s.jobs[j.ID]
	if ok && (!moreAdvanced(j, e.job) || jobsEqual(j, e.job)) {
		return Record{}, false
	}
	if !ok {
		s.add(j)
	} else {
		s.update(e, j)
	}
	return Record{Op: OpUpsert, Job: j}, true
}

// jobsEqual reports whether two versions of a job are the same.
func jobsEqual(a, b Job) bool {
	return a.ID == b.ID && a.Type == b.Type && a.Queue == b.Queue && bytes.Equal(a.Payload, b.Payload) &&
		a.Priority == b.Priority && a.RunAt.Equal(b.RunAt) && a.Attempt == b.Attempt &&
		a.MaxAttempts == b.MaxAttempts && a.Timeout == b.Timeout && a.UniqueKey == b.UniqueKey &&
		a.UniqueTTL == b.UniqueTTL && a.State == b.State && a.Runner == b.Runner &&
		bytes.Equal(a.Result, b.Result) && a.LastError == b.LastError && a.CreatedAt.Equal(b.CreatedAt) &&
		a.UpdatedAt.Equal(b.UpdatedAt) && a.StartedAt.Equal(b.StartedAt) && a.FinishedAt.Equal(b.FinishedAt)
}

// moreAdvanced reports whether a is further along than b.
func moreAdvanced(a, b Job) bool {
	if at, bt := a.State.Terminal(), b.State.Terminal(); at != bt {
		return at
	}
	if a.Attempt != b.Attempt {
		return a.Attempt > b.Attempt
	}
	return a.UpdatedAt.After(b.UpdatedAt)
}

// Apply replays a record from the log. Records are trusted to come from a
// shard's own methods: Apply does not check transitions, only that the
// record is usable.
func (s *Shard) Apply(r Record) error {
	switch r.Op {
	case OpUpsert:
		if r.Job.ID == "" {
			return fmt.Errorf("apply %s: the record's job has no ID", r.Op)
		}
		if !r.Job.State.Valid() {
			return fmt.Errorf("apply %s of job %s: invalid state %q", r.Op, r.Job.ID, r.Job.State)
		}
		if e, ok := s.jobs[r.Job.ID]; ok {
			s.update(e, r.Job)
		} else {
			s.add(r.Job)
		}
		return nil
	case OpForget:
		if e, ok := s.jobs[r.Job.ID]; ok {
			s.remove(e)
		}
		return nil
	}
	return fmt.Errorf("apply: unknown record op %d", uint8(r.Op))
}

// Prune forgets finished jobs that finished more than Retention ago (unless
// they still hold their unique key), then the oldest finished ones beyond
// MaxFinished. Records come oldest first. Call it every few seconds: it
// scans the finished jobs.
func (s *Shard) Prune(now time.Time) []Record {
	for r, m := range s.byRunner {
		if len(m) == 0 {
			delete(s.byRunner, r)
		}
	}
	var drop []*entry
	var keep []*entry
	for _, e := range s.finished {
		if !now.Before(e.job.FinishedAt.Add(s.cfg.Retention)) && !holdsUnique(e.job, now) {
			drop = append(drop, e)
		} else {
			keep = append(keep, e)
		}
	}
	if over := len(keep) - s.cfg.MaxFinished; over > 0 {
		sortByFinished(keep)
		drop = append(drop, keep[:over]...)
	}
	if len(drop) == 0 {
		return nil
	}
	sortByFinished(drop)
	recs := make([]Record, len(drop))
	for i, e := range drop {
		s.remove(e)
		recs[i] = Record{Op: OpForget, Job: Job{ID: e.job.ID}}
	}
	return recs
}

func sortByFinished(es []*entry) {
	sort.Slice(es, func(a, b int) bool {
		x, y := es[a].job, es[b].job
		if !x.FinishedAt.Equal(y.FinishedAt) {
			return x.FinishedAt.Before(y.FinishedAt)
		}
		return x.ID < y.ID
	})
}

// List returns up to limit jobs (all if limit <= 0) in state (any if empty)
// and queue (any if empty), newest (CreatedAt) first.
func (s *Shard) List(state State, queue string, limit int) []Job {
	var out []Job
	for _, e := range s.jobs {
		if (state == "" || e.job.State == state) && (queue == "" || e.job.Queue == queue) {
			out = append(out, e.job)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].CreatedAt.Equal(out[b].CreatedAt) {
			return out[a].CreatedAt.After(out[b].CreatedAt)
		}
		return out[a].ID > out[b].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit:limit]
	}
	return out
}

// Counts returns how many jobs the shard holds in each state (every state
// is present).
func (s *Shard) Counts() map[State]int {
	m := make(map[State]int, len(AllStates))
	for _, st := range AllStates {
		m[st] = s.counts[stateCode(st)]
	}
	return m
}

// Running returns the running jobs, by ID.
func (s *Shard) Running() []Job {
	var out []Job
	for _, m := range s.byRunner {
		for _, e := range m {
			out = append(out, e.job)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// Jobs returns every job the shard holds, by ID: the content of a snapshot.
func (s *Shard) Jobs() []Job {
	out := make([]Job, 0, len(s.jobs))
	for _, e := range s.jobs {
		out = append(out, e.job)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// add stores a job the shard does not hold.
func (s *Shard) add(j Job) {
	e := &entry{job: j, hi: -1}
	s.jobs[j.ID] = e
	s.index(e)
	if j.UniqueKey != "" {
		s.indexUnique(e)
	}
}

// remove forgets a job.
func (s *Shard) remove(e *entry) {
	s.unindex(e)
	if e.job.UniqueKey != "" {
		k := uniqueIndexKey(e.job)
		if s.unique[k] == e {
			delete(s.unique, k)
		}
	}
	delete(s.jobs, e.job.ID)
}

// update replaces a held job's state.
func (s *Shard) update(e *entry, next Job) {
	old := e.job
	uniqueMoved := old.UniqueKey != next.UniqueKey || (next.UniqueKey != "" &&
		(old.Queue != next.Queue || old.Type != next.Type || !old.CreatedAt.Equal(next.CreatedAt)))
	if uniqueMoved && old.UniqueKey != "" {
		if k := uniqueIndexKey(old); s.unique[k] == e {
			delete(s.unique, k)
		}
	}
	if old.State == next.State && old.Runner == next.Runner && old.State != StateQueued && old.State != StateScheduled {
		e.job = next
	} else {
		s.unindex(e)
		e.job = next
		s.index(e)
	}
	if uniqueMoved && next.UniqueKey != "" {
		s.indexUnique(e)
	}
}

// indexUnique points the unique index at e if it is the newest job with its
// key (CreatedAt, then ID): the same rule whatever order jobs arrive in, so
// a replay rebuilds the same index.
func (s *Shard) indexUnique(e *entry) {
	k := uniqueIndexKey(e.job)
	if cur, ok := s.unique[k]; ok && cur != e {
		c, n := cur.job, e.job
		if c.CreatedAt.After(n.CreatedAt) || (c.CreatedAt.Equal(n.CreatedAt) && c.ID > n.ID) {
			return
		}
	}
	s.unique[k] = e
}

// index adds e to the structures of its state.
func (s *Shard) index(e *entry) {
	j := &e.job
	s.counts[stateCode(j.State)]++
	switch j.State {
	case StateQueued:
		t := j.RunAt
		if t.IsZero() {
			t = j.CreatedAt
		}
		heapAdd(&s.ready, heapItem{prio: j.Priority, key: timeKey(t), e: e})
	case StateScheduled:
		heapAdd(&s.sched, heapItem{key: timeKey(j.RunAt), e: e})
	case StateRunning:
		m := s.byRunner[j.Runner]
		if m == nil {
			m = make(map[string]*entry)
			s.byRunner[j.Runner] = m
		}
		m[j.ID] = e
	case StateSucceeded, StateDead, StateCancelled:
		s.finished[j.ID] = e
	}
}

// unindex removes e from the structures of its state.
func (s *Shard) unindex(e *entry) {
	j := &e.job
	s.counts[stateCode(j.State)]--
	switch j.State {
	case StateQueued:
		if e.hi >= 0 {
			heapRemove(&s.ready, e.hi)
		}
	case StateScheduled:
		if e.hi >= 0 {
			heapRemove(&s.sched, e.hi)
		}
	case StateRunning:
		if m := s.byRunner[j.Runner]; m != nil {
			delete(m, j.ID) // an emptied map is kept for the runner's next job; Prune drops it
		}
	case StateSucceeded, StateDead, StateCancelled:
		delete(s.finished, j.ID)
	}
	e.hi = -1
}

// timeKey maps a time to Unix nanoseconds, saturating outside the range
// int64 nanoseconds can hold (years 1678 to 2262).
func timeKey(t time.Time) int64 {
	sec := t.Unix()
	switch {
	case sec <= math.MinInt64/int64(time.Second)+1:
		return math.MinInt64
	case sec >= math.MaxInt64/int64(time.Second)-1:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// heapItem is one entry of a heap, with its sort key inline so that
// comparisons read the heap's own memory, not the entries'.
type heapItem struct {
	prio int   // ready heap only
	key  int64 // ready time (ready heap) or RunAt (scheduled heap), Unix ns
	e    *entry
}

// itemHeap is a heap of heapItems; heapAdd and heapRemove use
// container/heap's sifting without its Push and Pop, whose interface values
// would allocate.
type itemHeap[H ~[]heapItem] interface {
	*H
	heap.Interface
}

func heapAdd[H ~[]heapItem, P itemHeap[H]](h P, it heapItem) {
	it.e.hi = len(*h)
	*h = append(*h, it)
	heap.Fix(h, len(*h)-1)
}

func heapRemove[H ~[]heapItem, P itemHeap[H]](h P, i int) {
	n := len(*h) - 1
	if i != n {
		h.Swap(i, n)
	}
	(*h)[n].e.hi = -1
	(*h)[n] = heapItem{}
	*h = (*h)[:n]
	if i < n {
		heap.Fix(h, i)
	}
}

// readyHeap orders queued jobs: priority desc, then ready time asc, then ID.
type readyHeap []heapItem

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(a, b int) bool {
	x, y := &h[a], &h[b]
	if x.prio != y.prio {
		return x.prio > y.prio
	}
	if x.key != y.key {
		return x.key < y.key
	}
	return x.e.job.ID < y.e.job.ID
}
func (h readyHeap) Swap(a, b int) {
	h[a], h[b] = h[b], h[a]
	h[a].e.hi = a
	h[b].e.hi = b
}
func (h *readyHeap) Push(x any) {
	it := x.(heapItem)
	it.e.hi = len(*h)
	*h = append(*h, it)
}
func (h *readyHeap) Pop() any {
	old := *h
	n := len(old) - 1
	it := old[n]
	old[n] = heapItem{}
	*h = old[:n]
	it.e.hi = -1
	return it
}

// schedHeap orders scheduled jobs by RunAt, then ID.
type schedHeap []heapItem

func (h schedHeap) Len() int { return len(h) }
func (h schedHeap) Less(a, b int) bool {
	if h[a].key != h[b].key {
		return h[a].key < h[b].key
	}
	return h[a].e.job.ID < h[b].e.job.ID
}
func (h schedHeap) Swap(a, b int) {
	h[a], h[b] = h[b], h[a]
	h[a].e.hi = a
	h[b].e.hi = b
}
func (h *schedHeap) Push(x any) {
	it := x.(heapItem)
	it.e.hi = len(*h)
	*h = append(*h, it)
}
func (h *schedHeap) Pop() any {
	old := *h
	n := len(old) - 1
	it := old[n]
	old[n] = heapItem{}
	*h = old[:n]
	it.e.hi = -1
	return it
}
