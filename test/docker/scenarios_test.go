package docker

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The suite's worker settings: few concurrent jobs per worker, so that a
// few thousand short jobs keep the cluster busy for tens of seconds (the
// "under load" of the scenarios), and a short drain so that scale-downs fit
// the suite's time budget.
var suiteWorkerEnv = map[string]string{
	"SHOAL_CONCURRENCY":   "8",
	"SHOAL_DRAIN_TIMEOUT": "10s",
}

// sleepPayload is the job every scenario submits.
const sleepPayload = `{"ms":400}`

// load submits batches in the background, one queue per batch (each under
// the list limit, so that the checker can list a queue whole).
type load struct {
	mu        sync.Mutex
	acked     []string
	errs      []error
	firstDone chan struct{}
	done      chan struct{}
}

func (p *project) submitAsync(queues []string, perQueue int) *load {
	l := &load{firstDone: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for i, q := range queues {
			ids, err := p.submit("sleep", sleepPayload, "--count", fmt.Sprint(perQueue), "--queue", q)
			l.mu.Lock()
			l.acked = append(l.acked, ids...)
			if err != nil {
				l.errs = append(l.errs, err)
			}
			l.mu.Unlock()
			if i == 0 {
				close(l.firstDone)
			}
		}
	}()
	return l
}

// wait returns the acknowledged IDs once every batch was sent. Refusals are
// logged, not failures: only acknowledged jobs are promised. It fails the
// test when nothing at all was acknowledged.
func (l *load) wait(t *testing.T, want int) []string {
	t.Helper()
	ids := l.waitSoft(t, want)
	if len(ids) == 0 {
		t.Fatalf("no job was acknowledged: %v", l.errs)
	}
	return ids
}

// waitSoft is wait for a scenario that goes on without acknowledged jobs
// (the partition: its main check is about the jobs acknowledged before).
func (l *load) waitSoft(t *testing.T, want int) []string {
	t.Helper()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.errs {
		t.Logf("submit failed (its acknowledged IDs still count): %s", lastLines(err.Error(), 3))
	}
	t.Logf("acknowledged %d of %d jobs", len(l.acked), want)
	return l.acked
}

func ranOn(v verdict, ip string) int {
	n := 0
	for runner, c := range v.ByRunner {
		if runner == ip || strings.HasPrefix(runner, ip+"#") {
			n += c
		}
	}
	return n
}

// TestComposeCluster walks issue 5's four scenarios on one compose project,
// in order: up 4 and scale to 6 under load; kill one; scale 6 -> 1; a
// 15-second network partition of one of 3 workers.
func TestComposeCluster(t *testing.T) {
	p := newProject(t, suiteWorkerEnv)
	suiteStart := time.Now()

	upStart := time.Now()
	p.mustCompose(3*time.Minute, "up", "-d", "--scale", "worker=4", "worker")
	upReturned := time.Since(upStart)
	p.followLogs()
	p.waitReady(4, 3*time.Minute)
	t.Logf("METRIC up_to_ready_4_workers=%s (compose up returned after %s)", time.Since(upStart).Round(100*time.Millisecond), upReturned.Round(100*time.Millisecond))

	t.Run("1_scale_4_to_6_under_load", func(t *testing.T) {
		p := p.with(t)
		queues := []string{"s1a", "s1b"}
		l := p.submitAsync(queues, 1000)
		<-l.firstDone
		before := map[string]bool{}
		for _, c := range p.workers() {
			before[c.ID] = true
		}
		took := p.scale(6)
		p.root0().followLogs()
		ready, err := p.awaitReady(6, 2*time.Minute)
		if err != nil {
			t.Errorf("after scaling to 6: %v", err)
		}
		t.Logf("METRIC scale_4_to_6: compose %s, then ready after %s", took.Round(100*time.Millisecond), ready.Round(100*time.Millisecond))
		acked := l.wait(t, 2000)
		v := p.verify(acked, queues, 2*time.Minute)
		p.assertNothingLost("scenario 1", v)
		for _, c := range p.workers() {
			if before[c.ID] {
				continue
			}
			gained := 0
			for _, r := range rebalances(p.logsOf(c)) {
				gained += r.Gained
			}
			if gained == 0 {
				t.Errorf("new worker %s (%s) logged no rebalance that gained shards", c.Name, c.IP)
			}
			if n := ranOn(v, c.IP); n == 0 {
				t.Errorf("new worker %s (%s) ran none of the scenario's jobs", c.Name, c.IP)
			} else {
				t.Logf("new worker %s (%s): gained %d shards in rebalances, ran %d jobs", c.Name, c.IP, gained, n)
			}
		}
	})

	t.Run("2_kill_one_under_load", func(t *testing.T) {
		p := p.with(t)
		p.ensure(6)
		queues := []string{"s2"}
		l := p.submitAsync(queues, 1000)
		acked := l.wait(t, 1000)
		cs := p.running()
		victim := cs[len(cs)/2]
		if _, err := p.run(30*time.Second, "docker", "kill", victim.ID); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed %s (%s) with SIGKILL", victim.Name, victim.IP)
		ready, err := p.awaitReady(len(cs)-1, 2*time.Minute)
		if err != nil {
			t.Errorf("after the kill: %v", err)
		}
		t.Logf("METRIC kill_takeover: %d workers hold every shard %s after the kill", len(cs)-1, ready.Round(100*time.Millisecond))
		v := p.verify(acked, queues, 2*time.Minute)
		p.assertNothingLost("scenario 2", v)
	})

	t.Run("3_scale_6_to_1", func(t *testing.T) {
		p := p.with(t)
		p.ensure(6)
		queues := []string{"s3"}
		l := p.submitAsync(queues, 600)
		acked := l.wait(t, 600)
		took := p.scale(1)
		t.Logf("METRIC scale_6_to_1: compose returned after %s (every stopped worker drained and exited)", took.Round(100*time.Millisecond))
		for _, c := range p.workers() {
			if !c.Running {
				t.Errorf("%s is stopped, not removed", c.Name)
			}
		}
		ready, err := p.awaitReady(1, 2*time.Minute)
		if err != nil {
			t.Errorf("after scaling to 1: %v", err)
		}
		t.Logf("last worker holds every shard %s later", ready.Round(100*time.Millisecond))
		v := p.verify(acked, queues, 2*time.Minute)
		p.assertNothingLost("scenario 3", v)
		last := p.running()[0]
		if n := ranOn(v, last.IP); n == 0 {
			t.Errorf("the last worker %s ran none of the jobs", last.IP)
		}
	})

	t.Run("4_partition_one_of_3_for_15s", func(t *testing.T) {
		p := p.with(t)
		p.ensure(3)
		l := p.submitAsync([]string{"s4a"}, 600)
		acked := l.wait(t, 600)
		cs := p.running()
		victim := cs[len(cs)-1]
		if _, err := p.run(30*time.Second, "docker", "network", "disconnect", p.network, victim.ID); err != nil {
			t.Fatal(err)
		}
		cut := time.Now()
		t.Logf("disconnected %s (%s) from %s", victim.Name, victim.IP, p.network)
		// Jobs submitted to the majority side while the partition lasts, in
		// batches, as a client that retries would: the batches sent before
		// the majority has noticed the cut (its failure detector and Olric's
		// routing table take a few seconds) may be refused; the later ones
		// must be taken.
		queues := []string{"s4a"}
		var during []string
		tookAfter := time.Duration(-1)
		for i := 0; time.Since(cut) < 12*time.Second; i++ {
			q := fmt.Sprintf("s4b%d", i)
			queues = append(queues, q)
			sent := time.Since(cut)
			ids, err := p.submit("sleep", sleepPayload, "--count", "50", "--queue", q)
			if err != nil {
				t.Logf("batch %s sent %s into the cut: %d of 50 acknowledged: %s", q, sent.Round(100*time.Millisecond), len(ids), lastLines(err.Error(), 2))
			}
			if len(ids) == 50 && tookAfter < 0 {
				tookAfter = sent
			}
			during = append(during, ids...)
		}
		t.Logf("the majority side acknowledged %d jobs during the cut; the first whole batch was sent %s into it", len(during), tookAfter.Round(100*time.Millisecond))
		if tookAfter < 0 {
			t.Errorf("the majority side (2 of 3) took no whole batch of 50 jobs in the 12 s after one worker was cut off")
		}
		acked = append(acked, during...)
		if left := 15*time.Second - time.Since(cut); left > 0 {
			time.Sleep(left) // the partition's length is the scenario, not a wait for a condition
		}
		if _, err := p.run(30*time.Second, "docker", "network", "connect", "--ip", victim.IP, "--alias", "worker", p.network, victim.ID); err != nil {
			t.Fatal(err)
		}
		t.Logf("reconnected %s after %s", victim.Name, time.Since(cut).Round(100*time.Millisecond))
		ready, err := p.awaitReady(3, 2*time.Minute)
		if err != nil {
			t.Errorf("after the reconnect: %v", err)
		}
		t.Logf("METRIC partition_heal: one cluster of 3 holding every shard %s after the reconnect", ready.Round(100*time.Millisecond))
		heals := strings.Count(p.logsOf(victim), `"event":"healed"`)
		t.Logf("the partitioned worker logged %d healed event(s)", heals)
		v := p.verify(acked, queues, 2*time.Minute)
		p.assertNothingLost("scenario 4", v)
		t.Logf("METRIC partition_duplicates=%d of %d acknowledged", len(v.Duplicates), v.Acked)
	})

	t.Logf("METRIC suite_compose_time=%s", time.Since(suiteStart).Round(time.Second))
}

// with returns a copy of the project whose failures go to t (a subtest).
func (p *project) with(t *testing.T) *project {
	q := &project{t: t, root: p.root, name: p.name, compose: p.compose, files: p.files, env: p.env,
		network: p.network, subnet: p.subnet, artifact: p.artifact}
	q.parent = p
	return q
}

// ensure brings the cluster to n ready workers (a subtest may follow a
// failed one).
func (p *project) ensure(n int) {
	p.t.Helper()
	if len(p.running()) != n {
		p.scale(n)
		p.root0().followLogs()
	}
	p.waitReady(n, 2*time.Minute)
}
