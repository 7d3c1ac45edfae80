// Package clienttest runs a tiny in-memory fake of a shoal cluster's API on an
// embedded NATS server, for testing code that uses pkg/client (the client
// itself, the submit CLI) without the real workers.
//
// The fake implements the subjects of pkg/client with the same decoders the
// workers use; it runs jobs only as far as tests need: type "echo" succeeds
// with its payload as result, type "fail" ends dead, type "sleep" (and any
// other known type) stays queued until the test calls Finish. It publishes
// job events on the event subjects like a worker does.
package clienttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// DefaultHost is the loopback address test servers listen on (the block
// reserved for pkg/client tests); the port is chosen by the kernel.
const DefaultHost = "127.0.12.1"

// NodeName is the fake's node name in stats, members and events.
const NodeName = "fake-1"

// StartNATS starts an embedded NATS server on host (DefaultHost if empty) and
// a random port, requiring token from clients when it is not empty. The
// server is shut down when the test ends. It returns the server and its URL.
func StartNATS(t testing.TB, host, token string) (*server.Server, string) {
	t.Helper()
	if host == "" {
		host = DefaultHost
	}
	opts := &server.Options{
		Host:          host,
		Port:          -1,
		NoLog:         true,
		NoSigs:        true,
		Authorization: token,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("clienttest: nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatalf("clienttest: nats server on %s did not start", host)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s, s.ClientURL()
}

// Options configure a Fake.
type Options struct {
	// Types are the job types the fake knows; others are refused with
	// unknown_type. Default: echo, sleep, fail.
	Types []string
	// MaxPayload is the largest payload accepted, in bytes (default 64 KiB);
	// larger ones are refused with too_large.
	MaxPayload int
	// NoEvents stops the fake from publishing job events, to test polling.
	NoEvents bool
	// Token is the NATS token the fake's server requires (empty: none).
	Token string
}

// Fake is the in-memory fake of the workers' API.
type Fake struct {
	// URL is the NATS URL to give the client.
	URL string

	opts Options
	nc   *nats.Conn

	mu      sync.Mutex
	jobs    map[string]*jobs.Job
	order   []string // IDs in submission order
	unique  map[string]string
	types   map[string]bool
	batches []int
	errs    map[string]client.ErrorBody
	drop    map[string]bool
	reqs    map[string]int
	seq     int
}

// Start starts a NATS server and a Fake serving on it; both stop when the
// test ends.
func Start(t testing.TB, opts Options) *Fake {
	t.Helper()
	_, url := StartNATS(t, "", opts.Token)
	if len(opts.Types) == 0 {
		opts.Types = []string{"echo", "sleep", "fail"}
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 64 << 10
	}
	f := &Fake{
		URL: url, opts: opts,
		jobs: map[string]*jobs.Job{}, unique: map[string]string{}, types: map[string]bool{},
		errs: map[string]client.ErrorBody{}, drop: map[string]bool{}, reqs: map[string]int{},
	}
	for _, ty := range opts.Types {
		f.types[ty] = true
	}
	copts := []nats.Option{nats.Name("clienttest-fake")}
	if opts.Token != "" {
		copts = append(copts, nats.Token(opts.Token))
	}
	nc, err := nats.Connect(url, copts...)
	if err != nil {
		t.Fatalf("clienttest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	f.nc = nc
	handlers := map[string]func([]byte) ([]byte, []func()){
		client.SubjectSubmit:  f.submit,
		client.SubjectStatus:  f.status,
		client.SubjectCancel:  f.cancel,
		client.SubjectList:    f.list,
		client.SubjectStats:   f.stats,
		client.SubjectMembers: f.members,
	}
	for subj, h := range handlers {
		_, err := nc.QueueSubscribe(subj, client.QueueGroup, func(m *nats.Msg) {
			f.mu.Lock()
			drop := f.drop[subj]
			eb, hasErr := f.errs[subj]
			f.mu.Unlock()
			defer func() {
				f.mu.Lock()
				f.reqs[subj]++
				f.mu.Unlock()
			}()
			if drop {
				return
			}
			if hasErr {
				_ = m.Respond(client.ReplyError(eb.Code, eb.Message))
				return
			}
			reply, after := h(m.Data)
			_ = m.Respond(reply)
			for _, fn := range after {
				fn()
			}
		})
		if err != nil {
			t.Fatalf("clienttest: subscribe %s: %v", subj, err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("clienttest: flush: %v", err)
	}
	return f
}

// SetError makes every request on subject answer the given error until
// ClearErrors; code "" clears it for that subject.
func (f *Fake) SetError(subject, code, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if code == "" {
		delete(f.errs, subject)
		return
	}
	f.errs[subject] = client.ErrorBody{Code: code, Message: msg}
}

// Drop makes the fake ignore requests on subject (the client times out).
func (f *Fake) Drop(subject string, drop bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drop[subject] = drop
}

// Batches returns the number of jobs in each submit request received.
func (f *Fake) Batches() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.batches...)
}

// Requests returns how many requests on subject the fake has answered (or
// dropped) so far.
func (f *Fake) Requests(subject string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[subject]
}

// Job returns a copy of the job with the given ID.
func (f *Fake) Job(id string) (jobs.Job, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	if !ok {
		return jobs.Job{}, false
	}
	return *j, true
}

// Jobs returns copies of all jobs in submission order.
func (f *Fake) Jobs() []jobs.Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]jobs.Job, 0, len(f.order))
	for _, id := range f.order {
		out = append(out, *f.jobs[id])
	}
	return out
}

// Finish moves a job to state (an end state, or running) with the given
// result or error text, and publishes the event.
func (f *Fake) Finish(id string, state jobs.State, result json.RawMessage, lastErr string) error {
	f.mu.Lock()
	j, ok := f.jobs[id]
	if !ok {
		f.mu.Unlock()
		return fmt.Errorf("clienttest: no job %s", id)
	}
	f.transition(j, state)
	j.Result, j.LastError = result, lastErr
	ev := f.event(j)
	f.mu.Unlock()
	f.publish(ev)
	return nil
}

// Publish sends an arbitrary event on subject, as a worker would.
func (f *Fake) Publish(subject string, ev client.Event) {
	b, _ := json.Marshal(ev)
	_ = f.nc.Publish(subject, b)
	_ = f.nc.Flush()
}

func (f *Fake) transition(j *jobs.Job, state jobs.State) {
	now := time.Now().UTC()
	j.State, j.UpdatedAt = state, now
	switch {
	case state == jobs.StateRunning:
		j.Attempt++
		j.StartedAt, j.Runner = now, NodeName
	case client.EndState(state):
		j.FinishedAt = now
	}
}

type pendingEvent struct {
	subject string
	ev      client.Event
}

func (f *Fake) event(j *jobs.Job) pendingEvent {
	return pendingEvent{
		subject: client.SubjectJobEvents + "." + string(j.State),
		ev: client.Event{Time: j.UpdatedAt, Kind: "job." + string(j.State), Node: NodeName,
			JobID: j.ID, Type: j.Type, State: j.State, Detail: j.LastError},
	}
}

func (f *Fake) publish(evs ...pendingEvent) {
	if f.opts.NoEvents {
		return
	}
	for _, e := range evs {
		f.Publish(e.subject, e.ev)
	}
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return client.ReplyError(client.CodeInternal, err.Error())
	}
	return b
}

func (f *Fake) submit(data []byte) ([]byte, []func()) {
	req, err := client.DecodeSubmitRequest(data, client.MaxBatch)
	if err != nil {
		return client.ReplyFromError(err), nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, len(req.Jobs))
	reply := client.SubmitReply{Results: make([]client.SubmitResult, len(req.Jobs))}
	var evs []pendingEvent
	var run []string
	for i, s := range req.Jobs {
		if err := s.Validate(); err != nil {
			var e *client.Error
			_ = errors.As(err, &e) // Validate returns *client.Error
			reply.Results[i] = client.SubmitResult{Error: &client.ErrorBody{Code: e.Code, Message: e.Message}}
			continue
		}
		if !f.types[s.Type] {
			reply.Results[i] = client.SubmitResult{Error: &client.ErrorBody{Code: client.CodeUnknownType, Message: fmt.Sprintf("no handler for job type %q in the cluster", s.Type)}}
			continue
		}
		if len(s.Payload) > f.opts.MaxPayload {
			reply.Results[i] = client.SubmitResult{Error: &client.ErrorBody{Code: client.CodeTooLarge, Message: fmt.Sprintf("payload is %d bytes, over the limit of %d", len(s.Payload), f.opts.MaxPayload)}}
			continue
		}
		queue := s.Queue
		if queue == "" {
			queue = "default"
		}
		ukey := s.Type + "\x00" + queue + "\x00" + s.UniqueKey
		if s.UniqueKey != "" {
			if holder, ok := f.unique[ukey]; ok {
				reply.Results[i] = client.SubmitResult{ID: holder, Error: &client.ErrorBody{Code: client.CodeDuplicate, Message: "unique key " + s.UniqueKey + " is held by job " + holder}}
				continue
			}
		}
		f.seq++
		now := time.Now().UTC()
		j := &jobs.Job{
			ID: fmt.Sprintf("%032x", f.seq), Type: s.Type, Queue: queue, Payload: s.Payload,
			Priority: s.Priority, MaxAttempts: s.MaxAttempts, Timeout: s.Timeout.Std(),
			UniqueKey: s.UniqueKey, UniqueTTL: s.UniqueTTL.Std(), State: jobs.StateQueued,
			CreatedAt: now, UpdatedAt: now,
		}
		if j.MaxAttempts == 0 {
			j.MaxAttempts = 3
		}
		switch {
		case !s.RunAt.IsZero():
			j.RunAt, j.State = s.RunAt, jobs.StateScheduled
		case s.Delay > 0:
			j.RunAt, j.State = now.Add(s.Delay.Std()), jobs.StateScheduled
		}
		if s.UniqueKey != "" {
			f.unique[ukey] = j.ID
		}
		f.jobs[j.ID] = j
		f.order = append(f.order, j.ID)
		reply.Results[i] = client.SubmitResult{ID: j.ID}
		evs = append(evs, f.event(j))
		if j.State == jobs.StateQueued && (j.Type == "echo" || j.Type == "fail") {
			run = append(run, j.ID)
		}
	}
	return marshal(reply), []func(){func() { f.publish(evs...) }, func() { go f.run(run) }}
}

// run executes echo and fail jobs after their submission was answered.
func (f *Fake) run(ids []string) {
	for _, id := range ids {
		f.mu.Lock()
		j, ok := f.jobs[id]
		if !ok || j.State != jobs.StateQueued {
			f.mu.Unlock()
			continue
		}
		f.transition(j, jobs.StateRunning)
		started := f.event(j)
		if j.Type == "echo" {
			f.transition(j, jobs.StateSucceeded)
			j.Result = j.Payload
			if len(j.Result) == 0 {
				j.Result = json.RawMessage(`{}`)
			}
		} else {
			f.transition(j, jobs.StateDead)
			j.LastError = "fail: asked to fail"
		}
		ended := f.event(j)
		f.mu.Unlock()
		f.publish(started, ended)
	}
}

func (f *Fake) status(data []byte) ([]byte, []func()) {
	req, err := client.DecodeStatusRequest(data)
	if err != nil {
		return client.ReplyFromError(err), nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[req.ID]
	if !ok {
		return client.ReplyError(client.CodeNotFound, "no job "+req.ID), nil
	}
	return marshal(client.JobReply{Job: *j}), nil
}

func (f *Fake) cancel(data []byte) ([]byte, []func()) {
	req, err := client.DecodeCancelRequest(data)
	if err != nil {
		return client.ReplyFromError(err), nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[req.ID]
	if !ok {
		return client.ReplyError(client.CodeNotFound, "no job "+req.ID), nil
	}
	if client.EndState(j.State) {
		return marshal(client.JobReply{Job: *j}), nil
	}
	f.transition(j, jobs.StateCancelled)
	ev := f.event(j)
	return marshal(client.JobReply{Job: *j}), []func(){func() { f.publish(ev) }}
}

func (f *Fake) list(data []byte) ([]byte, []func()) {
	req, err := client.DecodeListRequest(data)
	if err != nil {
		return client.ReplyFromError(err), nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := client.ListReply{Jobs: []jobs.Job{}}
	for i := len(f.order) - 1; i >= 0; i-- {
		j := f.jobs[f.order[i]]
		if (req.State != "" && j.State != req.State) || (req.Queue != "" && j.Queue != req.Queue) {
			continue
		}
		if len(reply.Jobs) == req.Limit {
			reply.Truncated = true
			break
		}
		reply.Jobs = append(reply.Jobs, *j)
	}
	return marshal(reply), nil
}

func (f *Fake) stats([]byte) ([]byte, []func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	counts := map[jobs.State]int{}
	for _, st := range []jobs.State{jobs.StateQueued, jobs.StateScheduled, jobs.StateRunning, jobs.StateSucceeded, jobs.StateDead, jobs.StateCancelled} {
		counts[st] = 0
	}
	for _, j := range f.jobs {
		counts[j.State]++
	}
	node := map[jobs.State]int{}
	for k, v := range counts {
		node[k] = v
	}
	return marshal(client.StatsReply{Counts: counts, Nodes: map[string]map[jobs.State]int{NodeName: node}}), nil
}

func (f *Fake) members([]byte) ([]byte, []func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	running := 0
	for _, j := range f.jobs {
		if j.State == jobs.StateRunning {
			running++
		}
	}
	reply := client.MembersReply{Shards: 16, Members: []client.Member{
		{Name: NodeName, Address: DefaultHost, State: "active", Shards: 16, Running: running},
	}}
	return marshal(reply), nil
}
