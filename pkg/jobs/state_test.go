package jobs

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestStates(t *testing.T) {
	for _, s := range AllStates {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
		p, err := ParseState(string(s))
		if err != nil || p != s {
			t.Errorf("ParseState(%q) = %q, %v", s, p, err)
		}
	}
	if _, err := ParseState("done"); !errors.Is(err, ErrInvalidState) {
		t.Errorf("ParseState(done) error = %v", err)
	}
	if State("").Valid() {
		t.Error("empty state is valid")
	}
	terminal := map[State]bool{StateSucceeded: true, StateDead: true, StateCancelled: true}
	for _, s := range AllStates {
		if s.Terminal() != terminal[s] {
			t.Errorf("%s.Terminal() = %v", s, s.Terminal())
		}
	}
}

func TestCanTransition(t *testing.T) {
	legal := map[[2]State]bool{
		{StateQueued, StateRunning}:      true,
		{StateQueued, StateCancelled}:    true,
		{StateScheduled, StateQueued}:    true,
		{StateScheduled, StateCancelled}: true,
		{StateRunning, StateSucceeded}:   true,
		{StateRunning, StateScheduled}:   true,
		{StateRunning, StateQueued}:      true,
		{StateRunning, StateDead}:        true,
		{StateRunning, StateCancelled}:   true,
	}
	all := append([]State{""}, AllStates...)
	for _, from := range all {
		for _, to := range all {
			if got := CanTransition(from, to); got != legal[[2]State{from, to}] {
				t.Errorf("CanTransition(%q, %q) = %v", from, to, got)
			}
		}
	}
}

func jobIn(state State) Job {
	j := Job{
		ID: "00000000000000000000000000000001", Type: "t", Queue: "default", State: state,
		Attempt: 1, MaxAttempts: 3, CreatedAt: t0, UpdatedAt: t0,
	}
	if state == StateScheduled {
		j.RunAt = t0
	}
	return j
}

// TestTransitions runs every transition function from every state: the
// legal moves give the expected job, the others an ErrIllegalTransition
// that names the job and the move, and leave the job as it was.
func TestTransitions(t *testing.T) {
	now := t0.Add(time.Minute)
	policy := RetryPolicy{Base: time.Second, Max: time.Hour}
	type fn struct {
		name string
		do   func(Job) (Job, error)
		// from lists the states it accepts.
		from []State
		// want checks a legal result.
		want func(t *testing.T, in, out Job)
	}
	fns := []fn{
		{"Start", func(j Job) (Job, error) { return Start(j, "n1", now) }, []State{StateQueued},
			func(t *testing.T, in, out Job) {
				if out.State != StateRunning || out.Attempt != in.Attempt+1 || out.Runner != "n1" || !out.StartedAt.Equal(now) {
					t.Errorf("Start: %+v", out)
				}
			}},
		{"Succeed", func(j Job) (Job, error) { return Succeed(j, []byte(`{"ok":1}`), now) }, []State{StateRunning},
			func(t *testing.T, in, out Job) {
				if out.State != StateSucceeded || string(out.Result) != `{"ok":1}` || !out.FinishedAt.Equal(now) {
					t.Errorf("Succeed: %+v", out)
				}
			}},
		{"Fail", func(j Job) (Job, error) { return Fail(j, "boom", false, policy, now) }, []State{StateRunning},
			func(t *testing.T, in, out Job) {
				if out.State != StateScheduled || out.LastError != "boom" || !out.RunAt.Equal(now.Add(time.Second)) {
					t.Errorf("Fail: %+v", out)
				}
			}},
		{"FailPermanent", func(j Job) (Job, error) { return Fail(j, "bad input", true, policy, now) }, []State{StateRunning},
			func(t *testing.T, in, out Job) {
				if out.State != StateDead || out.LastError != "bad input" || !out.FinishedAt.Equal(now) {
					t.Errorf("Fail permanent: %+v", out)
				}
			}},
		{"Cancel", func(j Job) (Job, error) { return Cancel(j, now) }, []State{StateQueued, StateScheduled, StateRunning},
			func(t *testing.T, in, out Job) {
				if out.State != StateCancelled || !out.FinishedAt.Equal(now) {
					t.Errorf("Cancel: %+v", out)
				}
			}},
		{"Requeue", func(j Job) (Job, error) { return Requeue(j, "n1 left", false, now) }, []State{StateRunning},
			func(t *testing.T, in, out Job) {
				if out.State != StateQueued || out.Attempt != in.Attempt || out.LastError != "runner lost: n1 left" {
					t.Errorf("Requeue: %+v", out)
				}
			}},
		{"RequeueGiveBack", func(j Job) (Job, error) { return Requeue(j, "drain", true, now) }, []State{StateRunning},
			func(t *testing.T, in, out Job) {
				if out.State != StateQueued || out.Attempt != in.Attempt-1 || out.LastError != "" {
					t.Errorf("Requeue give back: %+v", out)
				}
			}},
		{"Promote", func(j Job) (Job, error) { return Promote(j, now) }, []State{StateScheduled},
			func(t *testing.T, in, out Job) {
				if out.State != StateQueued || !out.UpdatedAt.Equal(now) {
					t.Errorf("Promote: %+v", out)
				}
			}},
	}
	for _, f := range fns {
		for _, from := range AllStates {
			t.Run(f.name+"/"+string(from), func(t *testing.T) {
				in := jobIn(from)
				out, err := f.do(in)
				legal := false
				for _, s := range f.from {
					legal = legal || s == from
				}
				if legal {
					if err != nil {
						t.Fatalf("error: %v", err)
					}
					if !CanTransition(from, out.State) {
						t.Fatalf("%s -> %s is not in the table", from, out.State)
					}
					if !out.UpdatedAt.Equal(now) {
						t.Errorf("UpdatedAt = %v", out.UpdatedAt)
					}
					f.want(t, in, out)
					return
				}
				if !errors.Is(err, ErrIllegalTransition) {
					t.Fatalf("error = %v, want ErrIllegalTransition", err)
				}
				var te *TransitionError
				if !errors.As(err, &te) || te.ID != in.ID || te.From != from {
					t.Fatalf("error = %#v", err)
				}
				if !jobsEqual(out, in) {
					t.Errorf("job changed on a refused move: %+v", out)
				}
			})
		}
	}
}

func TestFailExhausted(t *testing.T) {
	j := jobIn(StateRunning)
	j.Attempt, j.MaxAttempts = 3, 3
	out, err := Fail(j, "boom", false, DefaultRetryPolicy(), t0)
	if err != nil || out.State != StateDead {
		t.Fatalf("Fail on last attempt = %s, %v; want dead", out.State, err)
	}
}

func TestFailJitterIsDeterministic(t *testing.T) {
	p := DefaultRetryPolicy()
	a := jobIn(StateRunning)
	b := a
	b.ID = "00000000000000000000000000000002"
	a1, _ := Fail(a, "x", false, p, t0)
	a2, _ := Fail(a, "x", false, p, t0)
	b1, _ := Fail(b, "x", false, p, t0)
	if !a1.RunAt.Equal(a2.RunAt) {
		t.Error("Fail is not deterministic")
	}
	if a1.RunAt.Equal(b1.RunAt) {
		t.Error("two jobs got the same jitter")
	}
	d := a1.RunAt.Sub(t0)
	if d < 900*time.Millisecond || d > 1100*time.Millisecond {
		t.Errorf("first retry after %s, want 1s±10%%", d)
	}
}

func TestRequeueExhausted(t *testing.T) {
	j := jobIn(StateRunning)
	j.Attempt, j.MaxAttempts = 3, 3
	out, err := Requeue(j, "n2 crashed", false, t0)
	if err != nil || out.State != StateDead || out.LastError != "runner lost: n2 crashed" {
		t.Fatalf("Requeue exhausted = %+v, %v", out, err)
	}
	out, err = Requeue(j, "drain", true, t0)
	if err != nil || out.State != StateQueued || out.Attempt != 2 {
		t.Fatalf("Requeue give back on last attempt = %+v, %v", out, err)
	}
}

func TestPromoteNotDue(t *testing.T) {
	j := jobIn(StateScheduled)
	j.RunAt = t0.Add(time.Hour)
	if _, err := Promote(j, t0); !errors.Is(err, ErrNotDue) {
		t.Fatalf("Promote before RunAt: %v", err)
	}
}
