package jobs

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
)

// AllStates lists every state, live ones first, in a stable order (the order
// used by Counts and by displays).
var AllStates = []State{StateQueued, StateScheduled, StateRunning, StateSucceeded, StateDead, StateCancelled}

// ErrIllegalTransition is returned (wrapped in a *TransitionError) when a
// change would move a job from a state it is not in, or along a move the
// transition table does not allow: a stale writer loses.
var ErrIllegalTransition = errors.New("jobs: illegal transition")

// ErrNotDue is returned by Promote for a scheduled job whose RunAt is still
// in the future.
var ErrNotDue = errors.New("jobs: job is not due yet")

// ErrInvalidState is returned by ParseState for a string that names no state.
var ErrInvalidState = errors.New("jobs: invalid state")

// TransitionError says which move of which job was refused. It matches
// ErrIllegalTransition with errors.Is.
type TransitionError struct {
	ID   string
	From State
	To   State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("jobs: illegal transition of job %s from %s to %s: the job moved on meanwhile; read it again", e.ID, e.From, e.To)
}

// Is makes errors.Is(err, ErrIllegalTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

func illegal(j Job, to State) error {
	return &TransitionError{ID: j.ID, From: j.State, To: to}
}

// Terminal reports whether s is an end state (succeeded, dead, cancelled).
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateDead || s == StateCancelled
}

// Valid reports whether s is one of the six states.
func (s State) Valid() bool { return stateCode(s) != 0 }

// stateCode maps a state to 1..6 (0 for an invalid one): the codec's byte and
// the index of Shard.counts.
func stateCode(s State) uint8 {
	switch s {
	case StateQueued:
		return 1
	case StateScheduled:
		return 2
	case StateRunning:
		return 3
	case StateSucceeded:
		return 4
	case StateDead:
		return 5
	case StateCancelled:
		return 6
	}
	return 0
}

// ParseState parses a state name ("queued", "running", ...).
func ParseState(s string) (State, error) {
	st := State(s)
	if !st.Valid() {
		return "", fmt.Errorf("%w %q: use one of queued, scheduled, running, succeeded, dead, cancelled", ErrInvalidState, s)
	}
	return st, nil
}

// CanTransition reports whether the transition table allows the move:
//
//	queued    -> running | cancelled
//	scheduled -> queued | cancelled
//	running   -> succeeded | scheduled | queued | dead | cancelled
//	succeeded, dead, cancelled -> nothing
func CanTransition(from, to State) bool {
	switch from {
	case StateQueued:
		return to == StateRunning || to == StateCancelled
	case StateScheduled:
		return to == StateQueued || to == StateCancelled
	case StateRunning:
		return to == StateSucceeded || to == StateScheduled || to == StateQueued ||
			to == StateDead || to == StateCancelled
	}
	return false
}

// stamp strips the monotonic clock reading and the location from a time, so
// that stored times compare equal after a trip through the codec.
func stamp(t time.Time) time.Time { return t.Round(0).UTC() }

// Start moves a queued job to running on runner: the attempt count grows by
// one, StartedAt is now.
func Start(j Job, runner string, now time.Time) (Job, error) {
	if j.State != StateQueued {
		return j, illegal(j, StateRunning)
	}
	now = stamp(now)
	j.State = StateRunning
	j.Attempt++
	j.Runner = runner
	j.StartedAt = now
	j.UpdatedAt = now
	return j, nil
}

// Succeed moves a running job to succeeded with the handler's result.
func Succeed(j Job, result []byte, now time.Time) (Job, error) {
	if j.State != StateRunning {
		return j, illegal(j, StateSucceeded)
	}
	now = stamp(now)
	j.State = StateSucceeded
	j.Result = result
	j.UpdatedAt = now
	j.FinishedAt = now
	return j, nil
}

// Fail records a failed attempt of a running job. The job is dead if the
// error is permanent or this was its last attempt (Attempt >= MaxAttempts);
// otherwise it is scheduled to run again at now + policy.Backoff(Attempt).
//
// The backoff's jitter comes from a hash of the job's ID and attempt, not
// from a random source: Fail is a pure function, and different jobs failing
// together still spread out.
func Fail(j Job, errMsg string, permanent bool, policy RetryPolicy, now time.Time) (Job, error) {
	if j.State != StateRunning {
		to := StateScheduled
		if permanent || j.Attempt >= j.MaxAttempts {
			to = StateDead
		}
		return j, illegal(j, to)
	}
	now = stamp(now)
	j.LastError = errMsg
	j.UpdatedAt = now
	if permanent || j.Attempt >= j.MaxAttempts {
		j.State = StateDead
		j.FinishedAt = now
		return j, nil
	}
	j.State = StateScheduled
	j.RunAt = now.Add(policy.Backoff(j.Attempt, jitterSource(j.ID, j.Attempt)))
	return j, nil
}

// jitterSource returns a deterministic "random" number in [0, 1) for a job's
// attempt.
func jitterSource(id string, attempt int) func() float64 {
	return func() float64 {
		var buf [20]byte
		b := strconv.AppendInt(append(buf[:0], ':'), int64(attempt), 10)
		h := xxhash.New()
		_, _ = h.WriteString(id)
		_, _ = h.Write(b)
		return float64(h.Sum64()>>11) / (1 << 53)
	}
}

// Cancel moves a queued, scheduled or running job to cancelled. Cancelling a
// running job in the state only records the decision: the caller must also
// cancel the running handler.
func Cancel(j Job, now time.Time) (Job, error) {
	if !CanTransition(j.State, StateCancelled) {
		return j, illegal(j, StateCancelled)
	}
	now = stamp(now)
	j.State = StateCancelled
	j.UpdatedAt = now
	j.FinishedAt = now
	return j, nil
}

// Requeue moves a running job back to queued because its run was cut short
// for a reason that is not the job's fault (its runner left, the node is
// draining). With giveBack the attempt is not counted (Attempt goes back down
// by one): use it when the job was stopped deliberately, e.g. a drain. Without
// it the attempt stays counted (at-least-once: the handler may have run), and
// a job that has used all its attempts is dead with LastError
// "runner lost: <reason>".
func Requeue(j Job, reason string, giveBack bool, now time.Time) (Job, error) {
	if j.State != StateRunning {
		return j, illegal(j, StateQueued)
	}
	now = stamp(now)
	j.UpdatedAt = now
	if giveBack {
		if j.Attempt > 0 {
			j.Attempt--
		}
		j.State = StateQueued
		return j, nil
	}
	j.LastError = "runner lost: " + reason
	if j.Attempt >= j.MaxAttempts {
		j.State = StateDead
		j.FinishedAt = now
		return j, nil
	}
	j.State = StateQueued
	return j, nil
}

// Promote moves a scheduled job whose RunAt has come (RunAt <= now) to
// queued. It returns ErrNotDue for one still in the future.
func Promote(j Job, now time.Time) (Job, error) {
	if j.State != StateScheduled {
		return j, illegal(j, StateQueued)
	}
	if j.RunAt.After(now) {
		return j, fmt.Errorf("%w: job %s runs at %s", ErrNotDue, j.ID, j.RunAt.Format(time.RFC3339Nano))
	}
	j.State = StateQueued
	j.UpdatedAt = stamp(now)
	return j, nil
}

// maxDuration is the largest time.Duration.
const maxDuration = time.Duration(math.MaxInt64)
