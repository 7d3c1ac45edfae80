package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/client/clienttest"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

func dial(t *testing.T, url, secret string) *client.Client {
	t.Helper()
	cfg := client.DefaultConfig()
	cfg.Servers, cfg.Secret, cfg.Timeout = url, secret, 5*time.Second
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSubmitBatchesKeepOrder(t *testing.T) {
	f := clienttest.Start(t, clienttest.Options{})
	c := dial(t, f.URL, "")
	specs := make([]client.JobSpec, 1201)
	for i := range specs {
		specs[i] = client.JobSpec{Type: "sleep", Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
	}
	specs[7].Type = "no-such-type"      // refused by the server
	specs[600].Type = "has space"       // refused locally, not sent
	specs[601].Payload = []byte(`{"x"`) // refused locally, not sent
	var progress []int
	res, err := c.SubmitProgress(ctxT(t), specs, func(done int) { progress = append(progress, done) })
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if len(res) != len(specs) {
		t.Fatalf("%d results for %d specs", len(res), len(specs))
	}
	if got := f.Batches(); fmt.Sprint(got) != "[500 500 199]" {
		t.Fatalf("batches = %v, want [500 500 199]", got)
	}
	if fmt.Sprint(progress) != "[500 1000 1201]" && fmt.Sprint(progress) != "[500 1002 1201]" {
		t.Logf("progress = %v", progress)
	}
	if progress[len(progress)-1] != len(specs) {
		t.Fatalf("last progress = %v", progress)
	}
	for i, r := range res {
		switch i {
		case 7:
			if !errors.Is(r.Err(), client.ErrUnknownType) {
				t.Fatalf("result 7 = %+v, want unknown_type", r)
			}
		case 600, 601:
			if !errors.Is(r.Err(), client.ErrBadRequest) || r.ID != "" {
				t.Fatalf("result %d = %+v, want bad_request", i, r)
			}
		default:
			j, ok := f.Job(r.ID)
			if !ok || string(j.Payload) != fmt.Sprintf(`{"n":%d}`, i) {
				t.Fatalf("result %d = %+v: job %+v does not match the spec", i, r, j)
			}
		}
	}
}

func TestSubmitSplitsBySize(t *testing.T) {
	f := clienttest.Start(t, clienttest.Options{MaxPayload: 200 << 10})
	c := dial(t, f.URL, "")
	big := json.RawMessage(`"` + strings.Repeat("x", 150<<10) + `"`)
	specs := make([]client.JobSpec, 20) // 3 MB in all, over the 1 MB message limit
	for i := range specs {
		specs[i] = client.JobSpec{Type: "sleep", Payload: big}
	}
	res, err := c.Submit(ctxT(t), specs)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	for i, r := range res {
		if r.Err() != nil {
			t.Fatalf("result %d: %v", i, r.Err())
		}
	}
	if b := f.Batches(); len(b) < 3 {
		t.Fatalf("batches = %v, want at least 3 requests", b)
	}
	huge := client.JobSpec{Type: "sleep", Payload: json.RawMessage(`"` + strings.Repeat("x", 2<<20) + `"`)}
	_, err = c.SubmitOne(ctxT(t), huge)
	if !errors.Is(err, client.ErrTooLarge) {
		t.Fatalf("huge job: err = %v, want ErrTooLarge", err)
	}
}

func TestSubmitOneAndDuplicate(t *testing.T) {
	f := clienttest.Start(t, clienttest.Options{})
	c := dial(t, f.URL, "")
	spec := client.JobSpec{Type: "sleep", UniqueKey: "k1"}
	id, err := c.SubmitOne(ctxT(t), spec)
	if err != nil || !client.ValidID(id) {
		t.Fatalf("submit: %q %v", id, err)
	}
	id2, err := c.SubmitOne(ctxT(t), spec)
	if !errors.Is(err, client.ErrDuplicate) || id2 != id {
		t.Fatalf("duplicate: %q %v, want ErrDuplicate naming %s", id2, err, id)
	}
}

func TestErrorMapping(t *testing.T) {
	f := clienttest.Start(t, clienttest.Options{})
	c := dial(t, f.URL, "")
	id := strings.Repeat("0", 32)
	for code, want := range map[string]error{
		client.CodeNotFound: client.ErrNotFound, client.CodeUnavailable: client.ErrUnavailable,
		client.CodeBadRequest: client.ErrBadRequest, client.CodeInternal: client.ErrInternal,
	} {
		f.SetError(client.SubjectStatus, code, "from the fake")
		_, err := c.Status(ctxT(t), id)
		var e *client.Error
		if !errors.Is(err, want) || !errors.As(err, &e) || e.Message != "from the fake" {
			t.Errorf("%s: err = %#v, want %v", code, err, want)
		}
	}
	f.SetError(client.SubjectStatus, "", "")
	if _, err := c.Status(ctxT(t), id); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("unknown job: err = %v", err)
	}
	if _, err := c.Status(ctxT(t), "nope"); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("bad id: err = %v", err)
	}
	f.SetError(client.SubjectSubmit, client.CodeUnavailable, "rebalancing")
	if _, err := c.Submit(ctxT(t), []client.JobSpec{{Type: "echo"}}); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("submit: err = %v", err)
	}
}

func TestTimeout(t *testing.T) {
	f := clienttest.Start(t, clienttest.Options{})
	cfg := client.DefaultConfig()
	cfg.Servers, cfg.Timeout = f.URL, 200*time.Millisecond
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f.Drop(client.SubjectStats, true)
	_, err = c.Stats(ctxT(t))
	if !errors.Is(err, client.ErrTimeout) || !strings.Contains(err.Error(), "--timeout") {
		t.Fatalf("err = %v, want ErrTimeout mentioning --timeout", err)
	}
}

func TestNoResponders(t *testing.T) {
	_, url := clienttest.StartNATS(t, "127.0.12.2", "")
	c := dial(t, url, "")
	_, err := c.Stats(ctxT(t))
	if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), "no worker is serving") {
		t.Fatalf("err = %v, want ErrUnavailable saying no worker is serving", err)
	}
}

func TestAuthRefused(t *testing.T) {
	_, url := clienttest.StartNATS(t, "127.0.12.3", "s3cret")
	for _, secret := range []string{"", "wrong"} {
		cfg := client.DefaultConfig()
		cfg.Servers, cfg.Secret = url, secret
		_, err := client.Dial(ctxT(t), cfg)
		if !errors.Is(err, client.ErrUnauthorized) || !strings.Contains(err.Error(), "SHOAL_SECRET") {
			t.Fatalf("secret %q: err = %v, want ErrUnauthorized mentioning SHOAL_SECRET", secret, err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Fatalf("error leaks the secret: %v", err)
		}
	}
	c := dial(t, url, "s3cret")
	if _, err := c.Stats(ctxT(t)); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("with the secret: err = %v, want ErrUnavailable (no fake)", err)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.12.4:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	cfg := client.DefaultConfig()
	cfg.Servers, cfg.Timeout = "nats://"+addr, 2*time.Second
	_, err = client.Dial(ctxT(t), cfg)
	if !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	for _, want := range []string{addr, "--server", "SHOAL_SERVER"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestWaitByEvent(t *testing.T) {
	f := clienttest.Start(t, clienttest.Options{})
	c := dial(t, f.URL, "")
	id, err := c.SubmitOne(ctxT(t), client.JobSpec{Type: "sleep"})
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		j   jobs.Job
		err error
	}
	done := make(chan res, 1)
	go func() {
		j, err := c.Wait(ctxT(t), id, time.Hour) // no polling: only the event can end it
		done <- res{j, err}
	}()
	// Wait subscribes before its first Status; once the fake has answered
	// that Status, only the event can tell Wait that the job ended.
	deadline := time.Now().Add(10 * time.Second)
	for f.Requests(client.SubjectStatus) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Wait never asked for the status")
		}
		time.Sleep(5 * time.Millisecond) // poll interval while waiting for a condition
	}
	if err := f.Finish(id, jobs.StateSucceeded, json.RawMessage(`{"ok":true}`), ""); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.j.State != jobs.StateSucceeded || string(r.j.Result) != `{"ok":true}` {
		t.Fatalf("wait: %+v %v", r.j, r.err)
	}
}

func TestWaitByPolling(t *testing.T) {
	f := clienttest.Start(t, clienttest.Options{NoEvents: true})
	c := dial(t, f.URL, "")
	id, err := c.SubmitOne(ctxT(t), client.JobSpec{Type: "sleep"})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.Finish(id, jobs.StateDead, nil, "boom") }()
	j, err := c.Wait(ctxT(t), id, 10*time.Millisecond)
	if err != nil || j.State != jobs.StateDead || j.LastError != "boom" {
		t.Fatalf("wait: %+v %v", j, err)
	}
}

func TestWaitAllAndErrors(t *testing.T) {
	f := clienttest.Start(t, clienttest.Options{})
	c := dial(t, f.URL, "")
	specs := []client.JobSpec{{Type: "echo", Payload: json.RawMessage(`1`)}, {Type: "fail"}, {Type: "echo"}}
	res, err := c.Submit(ctxT(t), specs)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{res[0].ID, res[1].ID, res[2].ID}
	got := map[string]jobs.State{}
	if err := c.WaitAll(ctxT(t), ids, 50*time.Millisecond, func(j jobs.Job) { got[j.ID] = j.State }); err != nil {
		t.Fatal(err)
	}
	if got[ids[0]] != jobs.StateSucceeded || got[ids[1]] != jobs.StateDead || got[ids[2]] != jobs.StateSucceeded {
		t.Fatalf("states = %v", got)
	}
	// Unknown job: not found at once, not a wait until the deadline.
	if _, err := c.Wait(ctxT(t), strings.Repeat("f", 32), time.Second); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("unknown: err = %v", err)
	}
	// A wait that ends with its context reports the last transient error.
	f.SetError(client.SubjectStatus, client.CodeUnavailable, "shard moving")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Wait(ctx, ids[0], 20*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "shard moving") {
		t.Fatalf("err = %v", err)
	}
}

func TestCancelListStatsMembers(t *testing.T) {
	f := clienttest.Start(t, clienttest.Options{})
	c := dial(t, f.URL, "")
	res, err := c.Submit(ctxT(t), []client.JobSpec{{Type: "sleep", Queue: "a"}, {Type: "sleep", Queue: "b"}, {Type: "sleep", Queue: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.Cancel(ctxT(t), strings.ToUpper(res[0].ID)) // IDs are normalized
	if err != nil || j.State != jobs.StateCancelled {
		t.Fatalf("cancel: %+v %v", j, err)
	}
	l, err := c.List(ctxT(t), client.ListRequest{Queue: "a"})
	if err != nil || len(l.Jobs) != 2 || l.Jobs[0].ID != res[2].ID {
		t.Fatalf("list: %+v %v", l, err)
	}
	l, err = c.List(ctxT(t), client.ListRequest{State: jobs.StateQueued, Limit: 1})
	if err != nil || len(l.Jobs) != 1 || !l.Truncated {
		t.Fatalf("list limit: %+v %v", l, err)
	}
	if _, err := c.List(ctxT(t), client.ListRequest{State: "zombie"}); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("list bad state: %v", err)
	}
	s, err := c.Stats(ctxT(t))
	if err != nil || s.Counts[jobs.StateQueued] != 2 || s.Counts[jobs.StateCancelled] != 1 || s.Nodes[clienttest.NodeName][jobs.StateQueued] != 2 {
		t.Fatalf("stats: %+v %v", s, err)
	}
	m, err := c.Members(ctxT(t))
	if err != nil || len(m.Members) != 1 || m.Members[0].Name != clienttest.NodeName {
		t.Fatalf("members: %+v %v", m, err)
	}
}

func TestWatch(t *testing.T) {
	f := clienttest.Start(t, clienttest.Options{})
	c := dial(t, f.URL, "")
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var mu sync.Mutex
	var seen []client.Event
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(ctx, func(ev client.Event) {
			mu.Lock()
			seen = append(seen, ev)
			mu.Unlock()
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.Publish(client.SubjectClusterEvents+".rebalance", client.Event{Node: "n1", Detail: "moved 3 shards"})
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no event seen")
		}
		time.Sleep(10 * time.Millisecond) // poll interval while waiting for the subscription
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch ended with %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen[0].Kind != "cluster.rebalance" || seen[0].Detail != "moved 3 shards" {
		t.Fatalf("event %+v", seen[0])
	}
}

func TestDialContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := client.Dial(ctx, client.Config{Servers: "nats://127.0.12.5:4222"})
	if err == nil {
		t.Fatal("dial with a cancelled context succeeded")
	}
	if err := (client.Config{Servers: "::nonsense", Timeout: time.Second}).Validate(); err == nil {
		t.Fatal("bad server URL accepted")
	}
}

func TestWaitAllPollsManyInRotation(t *testing.T) {
	f := clienttest.Start(t, clienttest.Options{NoEvents: true})
	c := dial(t, f.URL, "")
	specs := make([]client.JobSpec, 600)
	for i := range specs {
		specs[i] = client.JobSpec{Type: "sleep"}
	}
	res, err := c.Submit(ctxT(t), specs)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(res))
	for i, r := range res {
		ids[i] = r.ID
		if err := f.Finish(r.ID, jobs.StateSucceeded, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	if err := c.WaitAll(ctxT(t), append(ids, ids[0]), 5*time.Millisecond, func(jobs.Job) { n++ }); err != nil || n != len(ids) {
		t.Fatalf("WaitAll: %d jobs reported, %v", n, err)
	}
	if got := f.Requests(client.SubjectStatus); got != len(ids) {
		t.Fatalf("%d status requests for %d finished jobs", got, len(ids))
	}
}
