package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// codeNotOwner is the internal answer of a node asked about a shard it does
// not serve (any more, or yet): the asker routes again.
const codeNotOwner = "not_owner"

// maxJobsPerRequest bounds one submit request.
const maxJobsPerRequest = 10000

// routeDeadline bounds how long a request waits for a shard to have a
// serving owner (during a takeover). It stays below the client's default
// request timeout (10 s) so that a batch answers for the jobs that went
// through and says "unavailable" for the others, rather than timing out
// as a whole.
const routeDeadline = 7 * time.Second

type enqueueRequest struct {
	Jobs   []jobs.Job `json:"jobs"`
	Import bool       `json:"import,omitempty"`
}

type enqueueReply struct {
	Results []client.SubmitResult `json:"results"`
}

func (n *Node) subscribeAPI() error {
	nc := n.bus.conn
	handlers := map[string]nats.MsgHandler{
		client.SubjectSubmit:  n.async(n.onSubmit),
		client.SubjectStatus:  n.async(n.onAPIStatus),
		client.SubjectCancel:  n.async(n.onAPICancel),
		client.SubjectList:    n.async(n.onAPIList),
		client.SubjectStats:   n.async(n.onAPIStats),
		client.SubjectMembers: n.async(n.onAPIMembers),
	}
	for subj, h := range handlers {
		s, err := nc.QueueSubscribe(subj, client.QueueGroup, h)
		if err != nil {
			return fmt.Errorf("cluster: subscribe %s: %w", subj, err)
		}
		_ = s.SetPendingLimits(-1, -1)
		n.subs = append(n.subs, s)
	}
	return nc.Flush()
}

func respondJSON(m *nats.Msg, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		data = client.ReplyError(client.CodeInternal, err.Error())
	}
	_ = m.Respond(data)
}

func respondErr(m *nats.Msg, code, msg string) {
	_ = m.Respond(client.ReplyError(code, msg))
}

func errBody(code, format string, args ...any) *client.ErrorBody {
	return &client.ErrorBody{Code: code, Message: fmt.Sprintf(format, args...)}
}

// jobFromSpec builds a job from what a client sent; the owner's shard
// validates it again.
func (n *Node) jobFromSpec(s client.JobSpec, now time.Time) jobs.Job {
	j := jobs.Job{
		Type:        s.Type,
		Queue:       s.Queue,
		Payload:     s.Payload,
		Priority:    s.Priority,
		RunAt:       s.RunAt,
		MaxAttempts: s.MaxAttempts,
		Timeout:     time.Duration(s.Timeout),
		UniqueKey:   s.UniqueKey,
		UniqueTTL:   time.Duration(s.UniqueTTL),
	}
	if s.Delay > 0 {
		j.RunAt = now.Add(time.Duration(s.Delay))
	}
	if j.Queue == "" {
		j.Queue = "default"
	}
	if j.UniqueKey != "" {
		j.ID = jobs.UniqueID(j.Queue, j.Type, j.UniqueKey)
	} else {
		j.ID = jobs.NewID()
	}
	return j
}

func (n *Node) onSubmit(m *nats.Msg) {
	req, err := client.DecodeSubmitRequest(m.Data, maxJobsPerRequest)
	if err != nil {
		respondErr(m, client.CodeBadRequest, err.Error())
		return
	}
	now := n.now()
	types := n.clusterTypes()
	results := make([]client.SubmitResult, len(req.Jobs))
	var accepted []jobs.Job
	var at []int
	for i, spec := range req.Jobs {
		if err := spec.Validate(); err != nil {
			results[i].Error = errBody(client.CodeBadRequest, "%v", err)
			continue
		}
		if !types[spec.Type] {
			known := make([]string, 0, len(types))
			for t := range types {
				known = append(known, t)
			}
			sort.Strings(known)
			results[i].Error = errBody(client.CodeUnknownType, "no worker in the cluster has a handler for job type %q (known: %s)", spec.Type, strings.Join(known, ", "))
			continue
		}
		j := n.jobFromSpec(spec, now)
		if err := j.Normalize(now, n.cfg.Limits); err != nil {
			code := client.CodeBadRequest
			if errors.Is(err, jobs.ErrPayloadTooLarge) {
				code = client.CodeTooLarge
			}
			results[i].Error = errBody(code, "%v", err)
			continue
		}
		accepted = append(accepted, j)
		at = append(at, i)
	}
	if len(accepted) > 0 {
		ctx, cancel := context.WithTimeout(n.ctx, routeDeadline)
		res := n.routeEnqueue(ctx, accepted, false)
		cancel()
		for k, r := range res {
			results[at[k]] = r
		}
	}
	n.met.submitted.Add(float64(len(accepted)))
	respondJSON(m, client.SubmitReply{Results: results})
}

// routeEnqueue hands jobs to the owners of their shards, retrying the ones
// whose owner is moving, and returns one result per job in order.
func (n *Node) routeEnqueue(ctx context.Context, js []jobs.Job, imp bool) []client.SubmitResult {
	return n.routeJobs(ctx, js, imp, n.ownerOf)
}

// routeJobs is routeEnqueue with the owner lookup given (healing routes
// by the other cluster's placement).
func (n *Node) routeJobs(ctx context.Context, js []jobs.Job, imp bool, ownerOf func(shard int) (string, bool, bool)) []client.SubmitResult {
	results := make([]client.SubmitResult, len(js))
	pending := make([]int, len(js))
	for i := range js {
		pending[i] = i
	}
	for len(pending) > 0 {
		byOwner := map[string][]int{}
		var unrouted []int
		for _, i := range pending {
			id, _, ok := ownerOf(jobs.ShardOf(js[i].ID, n.cfg.Shards))
			if !ok {
				unrouted = append(unrouted, i)
				continue
			}
			byOwner[id] = append(byOwner[id], i)
		}
		var mu sync.Mutex
		var retry []int
		retry = append(retry, unrouted...)
		var wg sync.WaitGroup
		for owner, idx := range byOwner {
			wg.Add(1)
			go func(owner string, idx []int) {
				defer wg.Done()
				batch := make([]jobs.Job, len(idx))
				for k, i := range idx {
					batch[k] = js[i]
				}
				var res []client.SubmitResult
				if owner == n.id {
					res = n.enqueueLocal(batch, imp)
				} else {
					res = n.enqueueRemote(ctx, owner, batch, imp)
				}
				mu.Lock()
				defer mu.Unlock()
				for k, i := range idx {
					r := res[k]
					if r.Error != nil && (r.Error.Code == codeNotOwner || r.Error.Code == client.CodeUnavailable) {
						retry = append(retry, i)
						continue
					}
					results[i] = r
				}
			}(owner, idx)
		}
		wg.Wait()
		pending = retry
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			for _, i := range pending {
				results[i] = client.SubmitResult{Error: errBody(client.CodeUnavailable,
					"no node could take job %s in time (the cluster is moving shards or lost its quorum): retry shortly", js[i].ID)}
			}
			return results
		case <-time.After(25 * time.Millisecond):
		}
	}
	return results
}

func (n *Node) enqueueRemote(ctx context.Context, owner string, batch []jobs.Job, imp bool) []client.SubmitResult {
	fail := func(code, msg string) []client.SubmitResult {
		out := make([]client.SubmitResult, len(batch))
		for i := range out {
			out[i].Error = &client.ErrorBody{Code: code, Message: msg}
		}
		return out
	}
	data, err := json.Marshal(enqueueRequest{Jobs: batch, Import: imp})
	if err != nil {
		return fail(client.CodeInternal, err.Error())
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	msg, err := n.bus.conn.RequestWithContext(rctx, nodeSubject(owner, "enqueue"), data)
	if err != nil {
		return fail(codeNotOwner, err.Error())
	}
	var rep enqueueReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil || len(rep.Results) != len(batch) {
		return fail(codeNotOwner, "bad reply from owner")
	}
	return rep.Results
}

func (n *Node) onEnqueue(m *nats.Msg) {
	var req enqueueRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		respondErr(m, client.CodeBadRequest, err.Error())
		return
	}
	respondJSON(m, enqueueReply{Results: n.enqueueLocal(req.Jobs, req.Import)})
}

// enqueueLocal adds jobs to shards this node serves and waits until the
// segments holding them are written: only then are they acknowledged.
func (n *Node) enqueueLocal(js []jobs.Job, imp bool) []client.SubmitResult {
	results := make([]client.SubmitResult, len(js))
	byShard := map[int][]int{}
	for i, j := range js {
		byShard[jobs.ShardOf(j.ID, n.cfg.Shards)] = append(byShard[jobs.ShardOf(j.ID, n.cfg.Shards)], i)
	}
	type wait struct {
		ch  chan error
		idx []int
	}
	var waits []wait
	now := n.now()
	for s, idx := range byShard {
		sr := n.served(s)
		if sr == nil {
			for _, i := range idx {
				results[i].Error = errBody(codeNotOwner, "shard %d is not served here", s)
			}
			continue
		}
		sr.mu.Lock()
		if !sr.serving || sr.shard == nil {
			sr.mu.Unlock()
			for _, i := range idx {
				results[i].Error = errBody(codeNotOwner, "shard %d is not served here", s)
			}
			continue
		}
		var recs []jobs.Record
		var waitIdx []int
		for _, i := range idx {
			j := js[i]
			if imp {
				if rec, changed := sr.shard.Merge(j, now); changed {
					recs = append(recs, rec)
				}
				results[i].ID = j.ID
				waitIdx = append(waitIdx, i)
				continue
			}
			rec, err := sr.shard.Enqueue(j, now)
			var uc *jobs.UniqueConflictError
			switch {
			case err == nil:
				recs = append(recs, rec)
				results[i].ID = j.ID
				waitIdx = append(waitIdx, i)
			case errors.Is(err, jobs.ErrDuplicateID):
				// A retried forward: the first one went through.
				results[i].ID = j.ID
				waitIdx = append(waitIdx, i)
			case errors.As(err, &uc):
				results[i] = client.SubmitResult{ID: uc.ExistingID, Error: errBody(client.CodeDuplicate,
					"a job with unique key %q already exists (%s): wait for its unique TTL to pass or use another key", j.UniqueKey, uc.ExistingID)}
			default:
				results[i].Error = errBody(client.CodeBadRequest, "%v", err)
			}
		}
		if len(waitIdx) > 0 {
			waits = append(waits, wait{ch: sr.appendLocked(recs...), idx: waitIdx})
		}
		sr.mu.Unlock()
		n.markReady(s)
	}
	n.kickDispatch()
	timeout := time.NewTimer(4 * time.Second)
	defer timeout.Stop()
	for _, w := range waits {
		var err error
		select {
		case err = <-w.ch:
		case <-timeout.C:
			err = errors.New("timed out writing the shard log")
		}
		if err != nil {
			for _, i := range w.idx {
				results[i] = client.SubmitResult{Error: errBody(client.CodeUnavailable,
					"not acknowledged (%v): the job may still run; submit again with --unique-key to be safe from a duplicate", err)}
			}
		}
	}
	return results
}

// shardCall runs fn on the owner of the job's shard (locally or over
// NATS), retrying while the shard moves.
func (n *Node) shardCall(id, op string, local func(sr *shardRun) (jobs.Job, *client.ErrorBody)) (jobs.Job, *client.ErrorBody) {
	if !jobs.ValidID(id) {
		return jobs.Job{}, errBody(client.CodeBadRequest, "%q is not a job ID (32 hex characters, as printed by submit)", id)
	}
	shard := jobs.ShardOf(id, n.cfg.Shards)
	deadline := time.Now().Add(routeDeadline)
	for {
		owner, self, ok := n.ownerOf(shard)
		if ok {
			if self {
				if sr := n.served(shard); sr != nil {
					return local(sr)
				}
			} else {
				data, _ := json.Marshal(client.StatusRequest{ID: id})
				msg, err := n.bus.conn.Request(nodeSubject(owner, op), data, 5*time.Second)
				if err == nil {
					var rep struct {
						Job   jobs.Job          `json:"job"`
						Error *client.ErrorBody `json:"error"`
					}
					if json.Unmarshal(msg.Data, &rep) == nil && (rep.Error == nil || rep.Error.Code != codeNotOwner) {
						return rep.Job, rep.Error
					}
				}
			}
		}
		if time.Now().After(deadline) || n.ctx.Err() != nil {
			return jobs.Job{}, errBody(client.CodeUnavailable, "no node serves shard %d right now: retry shortly", shard)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (n *Node) localStatus(id string) func(sr *shardRun) (jobs.Job, *client.ErrorBody) {
	return func(sr *shardRun) (jobs.Job, *client.ErrorBody) {
		sr.mu.Lock()
		defer sr.mu.Unlock()
		if !sr.serving || sr.shard == nil {
			return jobs.Job{}, errBody(codeNotOwner, "moving")
		}
		j, ok := sr.shard.Get(id)
		if !ok {
			return jobs.Job{}, errBody(client.CodeNotFound, "no job %s (finished jobs are kept for %s)", id, n.cfg.Shard.Retention)
		}
		return j, nil
	}
}

func (n *Node) localCancel(id string) func(sr *shardRun) (jobs.Job, *client.ErrorBody) {
	return func(sr *shardRun) (jobs.Job, *client.ErrorBody) {
		sr.mu.Lock()
		if !sr.serving || sr.shard == nil {
			sr.mu.Unlock()
			return jobs.Job{}, errBody(codeNotOwner, "moving")
		}
		before, ok := sr.shard.Get(id)
		if !ok {
			sr.mu.Unlock()
			return jobs.Job{}, errBody(client.CodeNotFound, "no job %s", id)
		}
		j, rec, err := sr.shard.Cancel(id, n.now())
		if err != nil {
			sr.mu.Unlock()
			return before, errBody(client.CodeBadRequest, "job %s is %s and cannot be cancelled: %v", id, before.State, err)
		}
		ch := sr.appendLocked(rec)
		sr.mu.Unlock()
		if before.State == jobs.StateRunning {
			n.cancelRunning(id, before.Runner)
		}
		n.event(j, "cancelled")
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
		}
		return j, nil
	}
}

func replyJob(m *nats.Msg, j jobs.Job, e *client.ErrorBody) {
	if e != nil {
		respondJSON(m, struct {
			Job   jobs.Job          `json:"job"`
			Error *client.ErrorBody `json:"error"`
		}{j, e})
		return
	}
	respondJSON(m, client.JobReply{Job: j})
}

func (n *Node) onStatus(m *nats.Msg) {
	var r client.StatusRequest
	if json.Unmarshal(m.Data, &r) != nil {
		respondErr(m, client.CodeBadRequest, "bad request")
		return
	}
	sr := n.served(jobs.ShardOf(r.ID, n.cfg.Shards))
	if sr == nil {
		replyJob(m, jobs.Job{}, errBody(codeNotOwner, "moving"))
		return
	}
	j, e := n.localStatus(r.ID)(sr)
	replyJob(m, j, e)
}

func (n *Node) onCancel(m *nats.Msg) {
	var r client.CancelRequest
	if json.Unmarshal(m.Data, &r) != nil {
		respondErr(m, client.CodeBadRequest, "bad request")
		return
	}
	sr := n.served(jobs.ShardOf(r.ID, n.cfg.Shards))
	if sr == nil {
		replyJob(m, jobs.Job{}, errBody(codeNotOwner, "moving"))
		return
	}
	j, e := n.localCancel(r.ID)(sr)
	replyJob(m, j, e)
}

func (n *Node) onAPIStatus(m *nats.Msg) {
	r, err := client.DecodeStatusRequest(m.Data)
	if err != nil {
		respondErr(m, client.CodeBadRequest, err.Error())
		return
	}
	j, e := n.shardCall(r.ID, "status", n.localStatus(r.ID))
	if e != nil {
		respondErr(m, e.Code, e.Message)
		return
	}
	respondJSON(m, client.JobReply{Job: j})
}

func (n *Node) onAPICancel(m *nats.Msg) {
	r, err := client.DecodeCancelRequest(m.Data)
	if err != nil {
		respondErr(m, client.CodeBadRequest, err.Error())
		return
	}
	j, e := n.shardCall(r.ID, "cancel", n.localCancel(r.ID))
	if e != nil {
		respondErr(m, e.Code, e.Message)
		return
	}
	respondJSON(m, client.JobReply{Job: j})
}

// nodeReport is one node's part of list and stats.
type nodeReport struct {
	Name   string             `json:"name"`
	Counts map[jobs.State]int `json:"counts"`
	Jobs   []jobs.Job         `json:"jobs,omitempty"`
	More   bool               `json:"more,omitempty"`
}

func (n *Node) localReport(list *client.ListRequest) nodeReport {
	rep := nodeReport{Name: n.cfg.Name, Counts: map[jobs.State]int{}}
	for _, st := range jobs.AllStates {
		rep.Counts[st] = 0
	}
	for _, s := range n.servedShards() {
		sr := n.served(s)
		if sr == nil {
			continue
		}
		sr.mu.Lock()
		if sr.shard != nil {
			for st, c := range sr.shard.Counts() {
				rep.Counts[st] += c
			}
			if list != nil {
				got := sr.shard.List(list.State, list.Queue, list.Limit+1)
				rep.Jobs = append(rep.Jobs, got...)
			}
		}
		sr.mu.Unlock()
	}
	if list != nil {
		sortNewest(rep.Jobs)
		if len(rep.Jobs) > list.Limit {
			rep.Jobs = rep.Jobs[:list.Limit]
			rep.More = true
		}
	}
	return rep
}

func sortNewest(js []jobs.Job) {
	sort.Slice(js, func(a, b int) bool {
		if !js[a].CreatedAt.Equal(js[b].CreatedAt) {
			return js[a].CreatedAt.After(js[b].CreatedAt)
		}
		return js[a].ID < js[b].ID
	})
}

func (n *Node) onStats(m *nats.Msg) { respondJSON(m, n.localReport(nil)) }

func (n *Node) onList(m *nats.Msg) {
	var r client.ListRequest
	if json.Unmarshal(m.Data, &r) != nil {
		respondErr(m, client.CodeBadRequest, "bad request")
		return
	}
	respondJSON(m, n.localReport(&r))
}

// gather asks every fresh node of our cluster (and self) for its report.
func (n *Node) gather(op string, list *client.ListRequest) []nodeReport {
	n.mu.Lock()
	var ids []string
	now := n.now()
	for _, p := range n.peers {
		if p.hb.ClusterID == n.clusterID && now.Sub(p.seen) <= n.cfg.HeartbeatTimeout {
			ids = append(ids, p.hb.ID)
		}
	}
	n.mu.Unlock()
	out := []nodeReport{n.localReport(list)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var body []byte
	if list != nil {
		body, _ = json.Marshal(list)
	}
	for _, id := range ids {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			msg, err := n.bus.conn.Request(nodeSubject(id, op), body, 3*time.Second)
			if err != nil {
				return
			}
			var rep nodeReport
			if json.Unmarshal(msg.Data, &rep) == nil && rep.Name != "" {
				mu.Lock()
				out = append(out, rep)
				mu.Unlock()
			}
		}(id)
	}
	wg.Wait()
	return out
}

func (n *Node) onAPIStats(m *nats.Msg) {
	reps := n.gather("stats", nil)
	out := client.StatsReply{Counts: map[jobs.State]int{}, Nodes: map[string]map[jobs.State]int{}}
	for _, st := range jobs.AllStates {
		out.Counts[st] = 0
	}
	for _, r := range reps {
		out.Nodes[r.Name] = r.Counts
		for st, c := range r.Counts {
			out.Counts[st] += c
		}
	}
	respondJSON(m, out)
}

func (n *Node) onAPIList(m *nats.Msg) {
	r, err := client.DecodeListRequest(m.Data)
	if err != nil {
		respondErr(m, client.CodeBadRequest, err.Error())
		return
	}
	if r.Limit <= 0 {
		r.Limit = 100
	}
	reps := n.gather("list", &r)
	var all []jobs.Job
	more := false
	for _, rep := range reps {
		all = append(all, rep.Jobs...)
		more = more || rep.More
	}
	sortNewest(all)
	if len(all) > r.Limit {
		all = all[:r.Limit]
		more = true
	}
	respondJSON(m, client.ListReply{Jobs: all, Truncated: more})
}

func (n *Node) onAPIMembers(m *nats.Msg) {
	respondJSON(m, n.Members())
}

// Members describes the cluster as this node sees it.
func (n *Node) Members() client.MembersReply {
	n.mu.Lock()
	defer n.mu.Unlock()
	self := n.selfHeartbeatLocked()
	now := n.now()
	out := client.MembersReply{Shards: n.cfg.Shards}
	add := func(hb heartbeat) {
		out.Members = append(out.Members, client.Member{Name: hb.Name, Address: hb.Addr, State: string(hb.State), Shards: hb.Held, Running: hb.Running})
	}
	add(self)
	for _, p := range n.peers {
		if p.hb.ClusterID == self.ClusterID && now.Sub(p.seen) <= n.cfg.HeartbeatTimeout {
			add(p.hb)
		}
	}
	sort.Slice(out.Members, func(a, b int) bool { return out.Members[a].Name < out.Members[b].Name })
	return out
}
