package client

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// NATS subjects of the public API. Every request body and reply is JSON.
// Requests on Subject* are served by any worker (a queue group); a reply is
// either the documented reply type or an ErrorReply.
const (
	// SubjectSubmit takes a SubmitRequest and answers a SubmitReply.
	SubjectSubmit = "shoal.api.submit"
	// SubjectStatus takes a StatusRequest and answers a JobReply.
	SubjectStatus = "shoal.api.status"
	// SubjectCancel takes a CancelRequest and answers a JobReply.
	SubjectCancel = "shoal.api.cancel"
	// SubjectList takes a ListRequest and answers a ListReply.
	SubjectList = "shoal.api.list"
	// SubjectStats takes an empty body and answers a StatsReply.
	SubjectStats = "shoal.api.stats"
	// SubjectMembers takes an empty body and answers a MembersReply.
	SubjectMembers = "shoal.api.members"
	// SubjectJobEvents is the prefix of job events: shoal.events.job.<state>,
	// each body an Event. Subscribe to "shoal.events.>" for everything.
	SubjectJobEvents = "shoal.events.job"
	// SubjectClusterEvents is the prefix of cluster events
	// (shoal.events.cluster.<kind>), each body an Event.
	SubjectClusterEvents = "shoal.events.cluster"
	// QueueGroup is the NATS queue group the workers serve the API in.
	QueueGroup = "shoal"
)

// JobSpec is what a client submits; the server fills in the rest of the Job.
type JobSpec struct {
	Type        string          `json:"type"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Queue       string          `json:"queue,omitempty"`
	Priority    int             `json:"priority,omitempty"`
	RunAt       time.Time       `json:"run_at,omitzero"`
	Delay       Duration        `json:"delay,omitempty"`
	MaxAttempts int             `json:"max_attempts,omitempty"`
	Timeout     Duration        `json:"timeout,omitempty"`
	UniqueKey   string          `json:"unique_key,omitempty"`
	UniqueTTL   Duration        `json:"unique_ttl,omitempty"`
}

// SubmitRequest carries one or more jobs; each is accepted or refused on its own.
type SubmitRequest struct {
	Jobs []JobSpec `json:"jobs"`
}

// SubmitResult is the answer for one JobSpec, in request order. ID is set when
// the job was accepted (or, with Error.Code "duplicate", names the existing job).
type SubmitResult struct {
	ID    string     `json:"id,omitempty"`
	Error *ErrorBody `json:"error,omitempty"`
}

// SubmitReply answers a SubmitRequest. A job with an ID and no Error is
// acknowledged: durable and bound to reach an end state.
type SubmitReply struct {
	Results []SubmitResult `json:"results"`
}

// StatusRequest asks for one job.
type StatusRequest struct {
	ID string `json:"id"`
}

// CancelRequest cancels one job (queued, scheduled or running).
type CancelRequest struct {
	ID string `json:"id"`
}

// JobReply carries one job.
type JobReply struct {
	Job jobs.Job `json:"job"`
}

// ListRequest filters jobs; empty fields match everything. Limit 0 means 100.
type ListRequest struct {
	State jobs.State `json:"state,omitempty"`
	Queue string     `json:"queue,omitempty"`
	Limit int        `json:"limit,omitempty"`
}

// ListReply carries jobs, newest first.
type ListReply struct {
	Jobs      []jobs.Job `json:"jobs"`
	Truncated bool       `json:"truncated,omitempty"`
}

// StatsReply gives counts keyed by state name, in total and per node.
type StatsReply struct {
	Counts map[jobs.State]int            `json:"counts"`
	Nodes  map[string]map[jobs.State]int `json:"nodes"`
}

// Member is one node as the answering node sees it.
type Member struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// State is "active", "draining" or "joining".
	State   string `json:"state"`
	Shards  int    `json:"shards"`
	Running int    `json:"running"`
}

// MembersReply lists the cluster's members.
type MembersReply struct {
	Members []Member `json:"members"`
	// Shards is the cluster's fixed shard count.
	Shards int `json:"shards"`
}

// Event is one job or cluster event on the event subjects.
type Event struct {
	Time  time.Time  `json:"time"`
	Kind  string     `json:"kind"`
	Node  string     `json:"node"`
	JobID string     `json:"job_id,omitempty"`
	Type  string     `json:"type,omitempty"`
	State jobs.State `json:"state,omitempty"`
	// Detail is free text: the error of a failed attempt, what moved in a rebalance.
	Detail string `json:"detail,omitempty"`
}

// ErrorBody is a machine-readable error. Code is one of the Code* constants.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrorReply is the reply to any request that failed as a whole.
type ErrorReply struct {
	Error ErrorBody `json:"error"`
}

// Error codes.
const (
	CodeBadRequest  = "bad_request"  // malformed JSON or invalid fields
	CodeUnknownType = "unknown_type" // no handler for the job type in the cluster
	CodeTooLarge    = "too_large"    // payload over the limit
	CodeNotFound    = "not_found"    // unknown job ID
	CodeDuplicate   = "duplicate"    // unique key already held; ID names the holder
	CodeUnavailable = "unavailable"  // the cluster cannot take it now; retry
	CodeInternal    = "internal"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("1.5s") and also reads a number of milliseconds.
type Duration time.Duration

// CodeUnauthorized is used by the client for a connection the server refused
// (missing or wrong secret). Workers never see such a client, so they never
// send it; it exists so that every client error has a code.
const CodeUnauthorized = "unauthorized"

// MaxBatch is the most jobs one SubmitRequest may carry. Client.Submit splits
// larger submissions into requests of at most MaxBatch jobs.
const MaxBatch = 500

// MaxListLimit is the largest ListRequest.Limit a worker accepts;
// DefaultListLimit is what Limit 0 means.
const (
	MaxListLimit     = 1000
	DefaultListLimit = 100
)

// maxNanos bounds a duration given in milliseconds (about 292 years).
const maxNanos = 9.2e18

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a Go duration string, for example "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string ("1.5s", "250ms", "2h") or a JSON
// number of milliseconds (1500, 0.5). null leaves d unchanged.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: use a Go duration such as \"1.5s\" or a number of milliseconds", s)
		}
		*d = Duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration %s: use a Go duration such as \"1.5s\" or a number of milliseconds", b)
	}
	ns := ms * float64(time.Millisecond)
	if !(ns > -maxNanos && ns < maxNanos) { // also false for NaN
		return fmt.Errorf("duration %s ms is out of range", b)
	}
	*d = Duration(int64(ns))
	return nil
}

// Err returns the result's error as an *Error (nil when the job was accepted).
func (r SubmitResult) Err() error {
	if r.Error == nil {
		return nil
	}
	return &Error{Code: r.Error.Code, Message: r.Error.Message}
}
