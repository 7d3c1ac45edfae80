package jobs

import (
	"encoding/json"
	"time"
)

// State is where a job is in its life. The zero value is not a valid state.
type State string

// The states of a job. Succeeded, Dead and Cancelled are end states: no
// transition leaves them.
const (
	// StateQueued: ready to run now, waiting for a free executor slot.
	StateQueued State = "queued"
	// StateScheduled: waiting for its run-at time (a delayed job or a retry).
	StateScheduled State = "scheduled"
	// StateRunning: a runner is executing it.
	StateRunning State = "running"
	// StateSucceeded: the handler returned without error.
	StateSucceeded State = "succeeded"
	// StateDead: attempts exhausted, or the handler returned a permanent error.
	StateDead State = "dead"
	// StateCancelled: cancelled by a client before it reached another end state.
	StateCancelled State = "cancelled"
)

// Job is one unit of work. Its JSON form is the wire and display form used by
// the client and the NATS API.
type Job struct {
	// ID is 32 lowercase hex characters; its first 16 choose the shard.
	ID string `json:"id"`
	// Type names the handler that runs the job.
	Type string `json:"type"`
	// Queue is a free-form label for listing and filtering; "default" if empty.
	Queue string `json:"queue"`
	// Payload is the handler's input, JSON.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Priority: higher runs first among ready jobs of a shard.
	Priority int `json:"priority"`
	// RunAt is when the job becomes ready (zero: at once).
	RunAt time.Time `json:"run_at,omitzero"`
	// Attempt counts the attempts started so far.
	Attempt int `json:"attempt"`
	// MaxAttempts bounds the attempts; after the last failed one the job is dead.
	MaxAttempts int `json:"max_attempts"`
	// Timeout bounds one attempt; zero means the executor's default.
	Timeout time.Duration `json:"timeout,omitempty"`
	// UniqueKey, if set, makes the job unique among jobs of its type and queue
	// for UniqueTTL after its submission.
	UniqueKey string `json:"unique_key,omitempty"`
	// UniqueTTL is how long UniqueKey is held.
	UniqueTTL time.Duration `json:"unique_ttl,omitempty"`
	// State is where the job is now.
	State State `json:"state"`
	// Runner is the node running the job (running) or that ran its last attempt.
	Runner string `json:"runner,omitempty"`
	// Result is the handler's output of the successful attempt, JSON.
	Result json.RawMessage `json:"result,omitempty"`
	// LastError is the error of the last failed attempt.
	LastError string `json:"last_error,omitempty"`
	// CreatedAt is when the job was accepted.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is the time of the last transition.
	UpdatedAt time.Time `json:"updated_at"`
	// StartedAt is when the current or last attempt started.
	StartedAt time.Time `json:"started_at,omitzero"`
	// FinishedAt is when the job reached an end state.
	FinishedAt time.Time `json:"finished_at,omitzero"`
}
