package k8s_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
	"github.com/shoal-dev/shoal/test/k8s/agent"
	"github.com/shoal-dev/shoal/test/k8s/harness"
)

// The end-to-end test of the Kubernetes story: deploy/ applied as is, the
// stand-in kubelet running the real worker binary for every Pod (its own
// address on harness.PodNetwork, the Pod's environment: downward API, the
// Secret, a ServiceAccount token), jobs submitted all along, and
// `kubectl scale` 3 -> 5 -> 2. After each scale every worker's /v1/members
// must list exactly the Deployment's Pods, all active, holding all the
// shards between them, and each worker's log must carry a rebalance line that
// ends on that membership. The Pods removed by the scale-down must exit 0 on
// SIGTERM within their grace period (the drain). At the end every
// acknowledged job must be in an end state (none lost); jobs that ran more
// than once (at-least-once delivery across a hand-off) are counted and
// reported.
//
// Figures (convergence times, RSS per worker idle and after the load,
// submit errors, duplicates) are logged with "e2e:" prefixes.
func TestKubectlScaleRealWorkerUnderLoad(t *testing.T) {
	c := needPods(t)
	ctx := t.Context()
	const ns = "e2e"
	newNamespace(t, c, ns, nil)
	bin := buildShoal(t)
	if mem := os.Getenv("SHOAL_K8S_E2E_MEMORY"); mem != "" {
		applyDeployWithMemory(t, c, ns, mem)
	} else {
		applyDeploy(t, c, ns)
	}
	secret := deploySecret(t, c, ns)

	cfg := agent.DefaultConfig()
	cfg.Namespace, cfg.Node, cfg.WorkerBin = ns, "stand-in-e2e", filepath.Join(bin, "worker")
	cfg.Dir = filepath.Join(c.Dir(), "agent-"+ns)
	cfg.APIServer, cfg.CAData = c.URL, c.CAPEM()
	cfg.IPPrefix, cfg.FirstIP, cfg.LastIP = harness.PodNetwork, 101, 200
	cfg.ProbePeriod = 500 * time.Millisecond
	cfg.ExtraEnv = []string{"SHOAL_LOG_FORMAT=json"}
	// SHOAL_K8S_E2E_ENV="K=V K2=V2" adds worker settings the Pod does not set
	// (the Pod's own env wins), for experiments such as a longer
	// SHOAL_LEAVE_TIMEOUT.
	if extra := strings.Fields(os.Getenv("SHOAL_K8S_E2E_ENV")); len(extra) > 0 {
		cfg.ExtraEnv = append(cfg.ExtraEnv, extra...)
		t.Logf("e2e: extra worker environment %v", extra)
	}
	a, err := agent.New(cfg, c.Admin, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("e2e: worker logs in %s (kept: the run failed)", cfg.Dir)
			logProblems(t, cfg.Dir)
		}
	})

	e := &e2e{t: t, c: c, a: a, ns: ns, logDir: cfg.Dir}
	e.converge(3, 3*time.Minute)
	e.measureIdle(10 * time.Second)

	cl, err := client.Dial(ctx, client.Config{Servers: e.natsURLs(), Secret: secret, Timeout: 10 * time.Second, Name: "e2e-load"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ld := startLoad(cl, 40, 500*time.Millisecond, 8000)

	ld.burst(1000)
	e.scale(5)
	e.converge(5, 3*time.Minute)
	e.rebalanced(60 * time.Second)
	e.logRSS("after 3 -> 5 under load")
	// A few thousand jobs in all: let the load run on the five workers.
	eventually(t, 90*time.Second, "2500 jobs acknowledged", func() (bool, string) {
		n := ld.acked()
		return n >= 2500, fmt.Sprintf("%d acknowledged", n)
	})

	ld.burst(1000)
	before := a.Processes()
	e.scale(2)
	e.converge(2, 3*time.Minute)
	e.rebalanced(60 * time.Second)
	e.logRSS("after 5 -> 2 under load")
	ld.stop()

	// The Pods the scale-down removed were drained: SIGTERM, exit 0, within
	// the grace period.
	stops := a.Stops()
	for _, p := range before {
		if slices.ContainsFunc(a.Processes(), func(q agent.Process) bool { return q.Pod == p.Pod }) {
			continue
		}
		i := slices.IndexFunc(stops, func(s agent.Stop) bool { return s.Pod == p.Pod })
		if i < 0 {
			t.Errorf("e2e: %s is gone but the agent recorded no stop", p.Pod)
			continue
		}
		s := stops[i]
		t.Logf("e2e: %s drained: exit %d after %v (killed %v)", s.Pod, s.Exit, s.Took.Round(time.Millisecond), s.Killed)
		if s.Killed || s.Exit != 0 {
			t.Errorf("e2e: %s did not drain cleanly on SIGTERM: exit %d after %v, SIGKILLed %v", s.Pod, s.Exit, s.Took.Round(time.Millisecond), s.Killed)
		}
	}
	for _, p := range a.Processes() {
		if p.Restarts != 0 {
			t.Errorf("e2e: %s restarted %d times", p.Pod, p.Restarts)
		}
	}

	acked, errs, examples := ld.result()
	t.Logf("e2e: %d jobs acknowledged; submit errors (not acknowledged, so not counted as lost): %v %v", len(acked), errs, examples)
	if len(acked) < 2500 {
		t.Errorf("e2e: only %d jobs acknowledged: the load did not get through", len(acked))
	}
	e.verifyJobs(secret, acked, 3*time.Minute)
	e.submitMembers(filepath.Join(bin, "submit"), secret)
	logWarnings(t, cfg.Dir)
}

// submitMembers runs the submit binary (`submit members`) against a worker,
// as a user inside the cluster would, and checks it lists the current Pods.
func (e *e2e) submitMembers(submit, secret string) {
	t := e.t
	procs := e.a.Processes()
	if len(procs) == 0 {
		t.Fatal("no worker left to ask")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, submit, "members", "--server", "nats://"+procs[0].IP+":4222")
	cmd.Env = append(os.Environ(), "SHOAL_SECRET="+secret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("e2e: submit members: %v\n%s", err, out)
	}
	for _, p := range procs {
		if !strings.Contains(string(out), p.Pod) {
			t.Errorf("e2e: submit members does not list %s:\n%s", p.Pod, out)
		}
	}
	t.Logf("e2e: submit members:\n%s", out)
}

// e2e holds the end-to-end test's pieces.
type e2e struct {
	t      *testing.T
	c      *harness.Cluster
	a      *agent.Agent
	ns     string
	logDir string
	// want is the Deployment's current replica count.
	want int
	// scaledAt is when the last `kubectl scale` ran.
	scaledAt time.Time
}

func (e *e2e) scale(n int) {
	e.t.Helper()
	e.scaledAt = time.Now()
	if _, _, err := e.c.Kubectl(e.t.Context(), "scale", "-n", e.ns, "deployment/shoal-worker", "--replicas="+strconv.Itoa(n)); err != nil {
		e.t.Fatal(err)
	}
}

// converge waits until the Deployment has n ready Pods, the agent runs n
// processes, terminated Pods are finalized, and every worker's /v1/members
// lists exactly those n Pods, active, holding all the shards.
func (e *e2e) converge(n int, within time.Duration) {
	t := e.t
	t.Helper()
	ctx := t.Context()
	e.want = n
	t0 := e.scaledAt
	if t0.IsZero() {
		t0 = time.Now()
	}
	var readyAt time.Duration
	eventually(t, within, fmt.Sprintf("%d workers ready, each listing the %d as active members holding all shards", n, n), func() (bool, string) {
		d, err := e.c.Admin.AppsV1().Deployments(e.ns).Get(ctx, "shoal-worker", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if d.Status.ReadyReplicas != int32(n) || d.Status.Replicas != int32(n) {
			return false, fmt.Sprintf("deployment: %d replicas, %d ready", d.Status.Replicas, d.Status.ReadyReplicas)
		}
		if readyAt == 0 {
			readyAt = time.Since(t0)
		}
		procs := e.a.Processes()
		if len(procs) != n {
			return false, fmt.Sprintf("%d processes", len(procs))
		}
		var names []string
		for _, p := range procs {
			names = append(names, p.Pod)
		}
		sort.Strings(names)
		for _, p := range procs {
			m, err := fetchMembers(ctx, p.IP)
			if err != nil {
				return false, fmt.Sprintf("%s: /v1/members: %v", p.Pod, err)
			}
			if why := membersProblem(m, names); why != "" {
				return false, fmt.Sprintf("%s (%s): %s", p.Pod, p.IP, why)
			}
		}
		pods, err := e.c.Admin.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) != n {
			return false, fmt.Sprintf("%d pods (terminating ones not finalized yet), %v", len(pods.Items), err)
		}
		return true, ""
	})
	t.Logf("e2e: %d workers: Deployment ready after %v, members and all shards converged after %v",
		n, readyAt.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
}

// membersProblem says what is wrong with a worker's view of the cluster, or "".
func membersProblem(m client.MembersReply, want []string) string {
	var got []string
	held := 0
	for _, mm := range m.Members {
		got = append(got, mm.Name)
		if mm.State != "active" {
			return fmt.Sprintf("member %s is %s", mm.Name, mm.State)
		}
		held += mm.Shards
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		return fmt.Sprintf("members %v, want %v", got, want)
	}
	if m.Shards == 0 || held != m.Shards {
		return fmt.Sprintf("members hold %d of %d shards: %+v", held, m.Shards, m.Members)
	}
	if m.Shards != 256 {
		return fmt.Sprintf("%d shards, deploy/ runs the default 256", m.Shards)
	}
	return ""
}

func fetchMembers(ctx context.Context, ip string) (client.MembersReply, error) {
	var m client.MembersReply
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ip+":8080/v1/members", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("%s", resp.Status)
	}
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

// rebalanced waits until every running worker's log has a rebalance line
// whose members_after is the current set of Pods, and logs those lines.
func (e *e2e) rebalanced(within time.Duration) {
	t := e.t
	t.Helper()
	var lines map[string]rebalanceLine
	eventually(t, within, "a rebalance line ending on the current members in every worker's log", func() (bool, string) {
		procs := e.a.Processes()
		var names []string
		for _, p := range procs {
			names = append(names, p.Pod)
		}
		sort.Strings(names)
		lines = map[string]rebalanceLine{}
		var missing []string
		for _, p := range procs {
			rl, ok := lastRebalance(filepath.Join(e.logDir, p.Pod+".log"), names)
			if !ok {
				missing = append(missing, p.Pod)
				continue
			}
			lines[p.Pod] = rl
		}
		return len(missing) == 0, fmt.Sprintf("no rebalance to %v in the logs of %v", names, missing)
	})
	for pod, rl := range lines {
		t.Logf("e2e: %s rebalance: %d -> %d members, gained %d shards, lost %d, jobs in %d out %d, took %dms",
			pod, len(rl.Before), len(rl.After), rl.Gained, rl.Lost, rl.JobsIn, rl.JobsOut, rl.TookMS)
	}
}

// rebalanceLine is the part of a worker's "event":"rebalance" log line the
// test reads.
type rebalanceLine struct {
	Event   string   `json:"event"`
	Before  []string `json:"members_before"`
	After   []string `json:"members_after"`
	Gained  int      `json:"gained"`
	Lost    int      `json:"lost"`
	JobsIn  int      `json:"jobs_moved_in"`
	JobsOut int      `json:"jobs_moved_out"`
	TookMS  int64    `json:"took_ms"`
}

// lastRebalance returns the last rebalance line of a log whose members_after
// is members.
func lastRebalance(path string, members []string) (rebalanceLine, bool) {
	f, err := os.Open(path)
	if err != nil {
		return rebalanceLine{}, false
	}
	defer f.Close()
	var last rebalanceLine
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), `"event":"rebalance"`) {
			continue
		}
		var rl rebalanceLine
		if json.Unmarshal(line, &rl) != nil || rl.Event != "rebalance" {
			continue
		}
		after := slices.Clone(rl.After)
		sort.Strings(after)
		if slices.Equal(after, members) {
			last, found = rl, true
		}
	}
	return last, found
}

func (e *e2e) natsURLs() string {
	var urls []string
	for _, p := range e.a.Processes() {
		urls = append(urls, "nats://"+p.IP+":4222")
	}
	sort.Strings(urls)
	return strings.Join(urls, ",")
}

// measureIdle samples the workers' RSS for a while with no jobs and logs the
// range per worker, compared with the Pod's memory limit.
func (e *e2e) measureIdle(window time.Duration) {
	t := e.t
	lo, hi := map[string]int64{}, map[string]int64{}
	end := time.Now().Add(window)
	for time.Now().Before(end) {
		for _, p := range e.a.Processes() {
			if p.RSS == 0 {
				continue
			}
			if lo[p.Pod] == 0 || p.RSS < lo[p.Pod] {
				lo[p.Pod] = p.RSS
			}
			hi[p.Pod] = max(hi[p.Pod], p.RSS)
		}
		time.Sleep(500 * time.Millisecond) // a sampling interval, not a wait for a condition
	}
	for pod := range hi {
		t.Logf("e2e: RSS idle, %d workers: %s %.1f-%.1f MiB over %v", e.want, pod, mib(lo[pod]), mib(hi[pod]), window)
	}
	e.logRSS("idle")
}

func (e *e2e) logRSS(when string) {
	for _, p := range e.a.Processes() {
		heap, sys := goMemory(e.t.Context(), p.IP)
		e.t.Logf("e2e: RSS %s, %d workers: %s %.1f MiB now, %.1f MiB peak (Go heap in use %.1f MiB, Go runtime total %.1f MiB)",
			when, e.want, p.Pod, mib(p.RSS), mib(p.PeakRSS), mib(heap), mib(sys))
	}
}

// goMemory reads go_memstats_heap_inuse_bytes and go_memstats_sys_bytes from
// a worker's /metrics (0 when unavailable).
func goMemory(ctx context.Context, ip string) (heapInuse, sys int64) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ip+":8080/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_heap_inuse_bytes":
			heapInuse = int64(f)
		case "go_memstats_sys_bytes":
			sys = int64(f)
		}
	}
	return heapInuse, sys
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// load submits jobs at a steady pace until stopped, keeping the IDs of the
// acknowledged ones.
type load struct {
	cl   *client.Client
	max  int
	quit chan struct{}
	done chan struct{}

	mu       sync.Mutex
	ids      []string
	errs     map[string]int
	examples map[string]string // an error message per code
	tried    int
	stopOnce sync.Once
}

// startLoad submits batch jobs every period, at most max in all.
func startLoad(cl *client.Client, batch int, period time.Duration, max int) *load {
	l := &load{cl: cl, max: max, quit: make(chan struct{}), done: make(chan struct{}), errs: map[string]int{}, examples: map[string]string{}}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-l.quit:
				return
			case <-tick.C:
				l.submit(batch)
			}
		}
	}()
	return l
}

// burst submits n jobs at once (in batches of at most client.MaxBatch).
func (l *load) burst(n int) {
	for n > 0 {
		k := min(n, client.MaxBatch)
		l.submit(k)
		n -= k
	}
}

func (l *load) submit(n int) {
	l.mu.Lock()
	n = min(n, l.max-l.tried)
	l.tried += max(n, 0)
	l.mu.Unlock()
	if n <= 0 {
		return
	}
	specs := make([]client.JobSpec, n)
	for i := range specs {
		specs[i] = client.JobSpec{Type: "sleep", Payload: json.RawMessage(fmt.Sprintf(`{"ms":%d}`, 20+rand.IntN(31)))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := l.cl.Submit(ctx, specs)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.fail(err, n)
		return
	}
	for _, r := range res {
		if r.ID != "" && r.Error == nil {
			l.ids = append(l.ids, r.ID)
		} else {
			l.fail(r.Err(), 1)
		}
	}
}

// fail counts n jobs refused with err (l.mu held).
func (l *load) fail(err error, n int) {
	k := errKey(err)
	l.errs[k] += n
	if _, ok := l.examples[k]; !ok {
		l.examples[k] = time.Now().Format("15:04:05.000") + " " + err.Error()
	}
}

// acked is how many jobs were acknowledged so far.
func (l *load) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

func errKey(err error) string {
	if code := client.CodeOf(err); code != "" {
		return code
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

func (l *load) stop() {
	l.stopOnce.Do(func() { close(l.quit) })
	<-l.done
}

func (l *load) result() ([]string, map[string]int, map[string]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids), maps.Clone(l.errs), maps.Clone(l.examples)
}

// verifyJobs waits until every acknowledged job is in an end state and
// reports lost jobs (never found, or never ending) as failures, and jobs
// that ran more than once as figures.
func (e *e2e) verifyJobs(secret string, ids []string, within time.Duration) {
	t := e.t
	ctx := t.Context()
	cl, err := client.Dial(ctx, client.Config{Servers: e.natsURLs(), Secret: secret, Timeout: 10 * time.Second, Name: "e2e-verify"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	t0 := time.Now()
	final := map[string]jobs.Job{}
	lastErr := map[string]string{}
	pending := slices.Clone(ids)
	for len(pending) > 0 && time.Since(t0) < within {
		var mu sync.Mutex
		var next []string
		work := make(chan string)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for id := range work {
					j, err := cl.Status(ctx, id)
					mu.Lock()
					switch {
					case err == nil && client.EndState(j.State):
						final[id] = j
					case err == nil:
						lastErr[id] = "state " + string(j.State)
						next = append(next, id)
					default:
						lastErr[id] = err.Error()
						next = append(next, id)
					}
					mu.Unlock()
				}
			})
		}
		for _, id := range pending {
			work <- id
		}
		close(work)
		wg.Wait()
		pending = next
		if len(pending) > 0 {
			time.Sleep(time.Second) // poll period
		}
	}
	states := map[jobs.State]int{}
	dups, maxAttempt := 0, 0
	var dupExamples []string
	for _, j := range final {
		states[j.State]++
		if j.Attempt > 1 {
			dups++
			if len(dupExamples) < 5 {
				dupExamples = append(dupExamples, fmt.Sprintf("%s attempt %d runner %s", j.ID, j.Attempt, j.Runner))
			}
		}
		maxAttempt = max(maxAttempt, j.Attempt)
	}
	t.Logf("e2e: %d acknowledged jobs checked in %v: end states %v; ran more than once (attempt > 1): %d (max attempt %d) %v",
		len(ids), time.Since(t0).Round(time.Millisecond), states, dups, maxAttempt, dupExamples)
	if len(pending) > 0 {
		why := map[string]int{}
		for _, id := range pending {
			why[lastErr[id]]++
		}
		ex := pending[:min(5, len(pending))]
		t.Errorf("e2e: LOST %d of %d acknowledged jobs (not in an end state after %v): %v; e.g. %v", len(pending), len(ids), within, why, ex)
	}
	if n := states[jobs.StateSucceeded]; n != len(final) {
		t.Errorf("e2e: %d of %d finished sleep jobs did not succeed: %v", len(final)-n, len(final), states)
	}
}

// buildShoal builds cmd/worker and cmd/submit as static binaries, as the
// image ships them, into a directory it returns.
func buildShoal(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t0 := time.Now()
	cmd := exec.Command("go", "build", "-trimpath", "-o", dir+string(filepath.Separator), "./cmd/worker", "./cmd/submit")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the worker: %v\n%s", err, out)
	}
	t.Logf("e2e: built worker and submit in %v", time.Since(t0).Round(time.Millisecond))
	return dir
}

// applyDeployWithMemory applies deploy/ through an overlay that sets the
// worker's memory request and limit (and so GOMEMLIMIT) to mem: for
// measuring whether a smaller limit fits (SHOAL_K8S_E2E_MEMORY=128Mi).
func applyDeployWithMemory(t *testing.T, c *harness.Cluster, namespace, mem string) {
	t.Helper()
	overlay := t.TempDir()
	base, err := filepath.Rel(overlay, filepath.Join(repoRoot, "deploy"))
	if err != nil {
		t.Fatal(err)
	}
	k := fmt.Sprintf(`resources:
  - %s
patches:
  - target: {kind: Deployment, name: shoal-worker}
    patch: |
      - op: replace
        path: /spec/template/spec/containers/0/resources/limits/memory
        value: %q
      - op: replace
        path: /spec/template/spec/containers/0/resources/requests/memory
        value: %q
`, base, mem, mem)
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Kubectl(t.Context(), "apply", "--server-side", "--field-manager=shoal-test", "-n", namespace, "-k", overlay); err != nil {
		t.Fatalf("deploy/ with memory %s rejected: %v", mem, err)
	}
	t.Logf("e2e: deploy/ applied with the worker's memory request and limit (GOMEMLIMIT) set to %s", mem)
}

// deploySecret returns SHOAL_SECRET from the Secret deploy/'s
// secretGenerator made in namespace.
func deploySecret(t *testing.T, c *harness.Cluster, namespace string) string {
	t.Helper()
	list, err := c.Admin.CoreV1().Secrets(namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		if v, ok := s.Data["SHOAL_SECRET"]; ok && strings.HasPrefix(s.Name, "shoal-secret-") {
			return string(v)
		}
	}
	t.Fatal(errors.New("no shoal-secret-* Secret with SHOAL_SECRET: deploy/'s secretGenerator changed?"))
	return ""
}

// logWarnings logs, over every worker log of the run, how often each warn or
// error message appeared (figures for the report; the test does not fail on
// them).
func logWarnings(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	counts := map[string]int{}
	for _, p := range logs {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var l struct{ Level, Message, Event, Reason string }
			if json.Unmarshal(sc.Bytes(), &l) != nil || (l.Level != "warn" && l.Level != "error") {
				continue
			}
			msg := l.Message
			if len(msg) > 90 {
				msg = msg[:90]
			}
			counts[strings.TrimSpace(l.Level+" "+l.Event+" "+l.Reason+" "+msg)]++
		}
		f.Close()
	}
	keys := slices.Collect(maps.Keys(counts))
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %5d  %s", counts[k], k)
	}
	t.Logf("e2e: warn/error lines in the %d worker logs, by message:%s", len(logs), b.String())
}

// logProblems logs, per worker log, the warn and error lines (at most 15 each).
func logProblems(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, p := range logs {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		var bad []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			l := sc.Text()
			if strings.Contains(l, `"level":"warn"`) || strings.Contains(l, `"level":"error"`) || strings.Contains(l, "panic") {
				bad = append(bad, l)
			}
		}
		f.Close()
		if len(bad) > 15 {
			bad = append(bad[:7], append([]string{fmt.Sprintf("... %d more ...", len(bad)-15)}, bad[len(bad)-8:]...)...)
		}
		t.Logf("e2e: %s: %d warn/error lines\n%s", filepath.Base(p), len(bad), strings.Join(bad, "\n"))
	}
}
