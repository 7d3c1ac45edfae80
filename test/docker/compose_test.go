package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// requireDocker skips t unless the suite is switched on.
func requireDocker(t *testing.T) {
	t.Helper()
	if os.Getenv("SHOAL_DOCKER_TESTS") != "1" {
		t.Skip("container suite off: set SHOAL_DOCKER_TESTS=1 to run it (needs a Docker engine and docker compose or docker-compose; see test/docker/doc.go)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("SHOAL_DOCKER_TESTS=1 but docker is not on PATH: %v", err)
	}
}

// repoRoot is the module root: two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Clean(filepath.Join(wd, "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "docker-compose.yml")); err != nil {
		t.Fatalf("no docker-compose.yml at the module root %s: %v", root, err)
	}
	return root
}

func imageName() string {
	if s := os.Getenv("SHOAL_IMAGE"); s != "" {
		return s
	}
	return "shoal:local"
}

var (
	buildOnce sync.Once
	buildErr  error
)

// buildImage runs scripts/build-image.sh once per test binary (unless
// SHOAL_DOCKER_SKIP_BUILD=1) and logs the image size.
func buildImage(t *testing.T, root string) {
	t.Helper()
	buildOnce.Do(func() {
		if os.Getenv("SHOAL_DOCKER_SKIP_BUILD") == "1" {
			return
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "build-image.sh"))
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("scripts/build-image.sh: %v\n%s", err, out)
			return
		}
		t.Logf("image built in %s", time.Since(start).Round(100*time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Size}}", imageName()).Output()
	if err != nil {
		t.Fatalf("image %s is missing (build it with make image, or unset SHOAL_DOCKER_SKIP_BUILD): %v", imageName(), err)
	}
	size, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	t.Logf("METRIC image_size_bytes=%d (%.1f MiB) image=%s", size, float64(size)/(1<<20), imageName())
}

// composeCommand is `docker compose` when the plugin exists, else docker-compose.
func composeCommand(t *testing.T) []string {
	t.Helper()
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	t.Fatal("neither `docker compose` nor docker-compose is installed")
	return nil
}

// project is one compose project of the suite, torn down at cleanup.
type project struct {
	t        *testing.T
	root     string
	name     string
	compose  []string
	files    []string
	env      []string
	network  string
	subnet   string
	artifact string

	logMu    sync.Mutex
	followed map[string]bool
	logProcs []*exec.Cmd
	parent   *project // set on a subtest's copy: the log followers live on the parent
}

// root0 is the project that owns the log followers.
func (p *project) root0() *project {
	for p.parent != nil {
		p = p.parent
	}
	return p
}

// newProject builds the image and prepares (does not start) a compose project
// with a unique name, a random secret and an override file: a fixed subnet
// (so a disconnected container can come back with its address) and the
// suite's worker settings.
func newProject(t *testing.T, workerEnv map[string]string) *project {
	t.Helper()
	requireDocker(t)
	root := repoRoot(t)
	buildImage(t, root)
	p := &project{t: t, root: root, compose: composeCommand(t), name: "shoaldt" + randHex(4)}
	p.network = p.name + "_default"
	secret := randHex(16)
	p.env = append(os.Environ(), "SHOAL_SECRET="+secret, "SHOAL_IMAGE="+imageName(), "COMPOSE_PROJECT_NAME="+p.name)

	dir := t.TempDir()
	p.artifact = os.Getenv("SHOAL_DOCKER_ARTIFACTS")
	if p.artifact == "" {
		p.artifact = filepath.Join(os.TempDir(), "shoal-docker-artifacts")
	}
	if err := os.MkdirAll(p.artifact, 0o755); err != nil {
		t.Fatal(err)
	}
	var env strings.Builder
	keys := make([]string, 0, len(workerEnv))
	for k := range workerEnv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&env, "      %s: %q\n", k, workerEnv[k])
	}
	// A /24 of 10.231.0.0/16 that no other network uses: try a few.
	var lastErr error
	for range 8 {
		b := make([]byte, 1)
		_, _ = rand.Read(b)
		p.subnet = fmt.Sprintf("10.231.%d.0/24", b[0])
		override := filepath.Join(dir, "docker-compose.test.yml")
		text := "services:\n  worker:\n    environment:\n" + env.String() +
			"networks:\n  default:\n    ipam:\n      config:\n        - subnet: " + p.subnet + "\n"
		if err := os.WriteFile(override, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		p.files = []string{filepath.Join(root, "docker-compose.yml"), override}
		out, err := exec.Command("docker", "network", "create", "--subnet", p.subnet, p.name+"-probe").CombinedOutput()
		if err != nil {
			lastErr = fmt.Errorf("%v: %s", err, out)
			continue
		}
		_ = exec.Command("docker", "network", "rm", p.name+"-probe").Run()
		lastErr = nil
		break
	}
	if lastErr != nil {
		t.Fatalf("no free subnet in 10.231.0.0/16 for the test network: %v", lastErr)
	}
	t.Cleanup(p.down)
	t.Logf("compose project %s (%s), subnet %s; worker logs go to %s", p.name, strings.Join(p.compose, " "), p.subnet, p.artifact)
	return p
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// run runs a command with the project's environment and a bound, returning
// its standard output; the error carries standard error.
func (p *project) run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = p.root
	cmd.Env = p.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %s", timeout)
		}
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, lastLines(stderr.String(), 20))
	}
	return stdout.String(), nil
}

// composeRun runs `docker compose -p NAME -f ... ARGS`.
func (p *project) composeRun(timeout time.Duration, args ...string) (string, error) {
	full := slices.Clone(p.compose[1:])
	full = append(full, "-p", p.name)
	for _, f := range p.files {
		full = append(full, "-f", f)
	}
	full = append(full, args...)
	return p.run(timeout, p.compose[0], full...)
}

func (p *project) mustCompose(timeout time.Duration, args ...string) string {
	p.t.Helper()
	out, err := p.composeRun(timeout, args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// scale brings the worker service to n replicas and returns when compose
// does (for a scale-down: once the stopped containers drained and exited).
func (p *project) scale(n int) time.Duration {
	p.t.Helper()
	start := time.Now()
	p.mustCompose(3*time.Minute, "up", "-d", "--no-recreate", "--scale", fmt.Sprintf("worker=%d", n), "worker")
	return time.Since(start)
}

// submit runs `docker compose run --rm submit ARGS` and returns the
// acknowledged IDs it printed.
func (p *project) submit(args ...string) ([]string, error) {
	out, err := p.composeRun(3*time.Minute, append([]string{"run", "--rm", "-T", "submit"}, args...)...)
	return ackedIDs(out), err
}

// container is one worker container.
type container struct {
	ID, Name, IP string
	Running      bool
	Started      string // when this run of the container started: a restart is a new run
}

// workers lists the worker containers of the project, by compose number.
func (p *project) workers() []container {
	p.t.Helper()
	out, err := p.run(30*time.Second, "docker", "ps", "-a", "-q",
		"--filter", "label=com.docker.compose.project="+p.name,
		"--filter", "label=com.docker.compose.service=worker")
	if err != nil {
		p.t.Fatal(err)
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil
	}
	format := `{{.Id}} {{.Name}} {{.State.Running}} {{index .Config.Labels "com.docker.compose.container-number"}} {{.State.StartedAt}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}`
	out, err = p.run(30*time.Second, "docker", append([]string{"inspect", "--format", format}, ids...)...)
	if err != nil {
		p.t.Fatal(err)
	}
	type numbered struct {
		c container
		n int
	}
	var list []numbered
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		c := container{ID: f[0][:12], Name: strings.TrimPrefix(f[1], "/"), Running: f[2] == "true", Started: f[4]}
		if len(f) > 5 {
			c.IP = f[5]
		}
		n, _ := strconv.Atoi(f[3])
		list = append(list, numbered{c, n})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].n < list[j].n })
	out2 := make([]container, len(list))
	for i, x := range list {
		out2[i] = x.c
	}
	return out2
}

func (p *project) running() []container {
	var out []container
	for _, c := range p.workers() {
		if c.Running {
			out = append(out, c)
		}
	}
	return out
}

// execSubmit runs the image's /submit inside a running worker container,
// against that worker's own NATS port (the container has the secret).
func (p *project) execSubmit(c container, timeout time.Duration, args ...string) (string, error) {
	return p.run(timeout, "docker", append([]string{"exec", c.ID, "/submit"}, args...)...)
}

// execJSON runs execSubmit with -o json and decodes the reply into out.
func (p *project) execJSON(c container, out any, args ...string) error {
	s, err := p.execSubmit(c, 20*time.Second, append(args, "-o", "json", "--timeout", "5s")...)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(s), out)
}

// clusterState asks one worker for the members: n members all active and
// every shard held is a ready cluster.
func (p *project) clusterState(via container) (client.MembersReply, error) {
	var m client.MembersReply
	err := p.execJSON(via, &m, "members")
	return m, err
}

func readyProblem(m client.MembersReply, want int) string {
	held := 0
	for _, mem := range m.Members {
		if mem.State != "active" {
			return fmt.Sprintf("member %s is %s", mem.Name, mem.State)
		}
		held += mem.Shards
	}
	if len(m.Members) != want {
		return fmt.Sprintf("%d members, want %d", len(m.Members), want)
	}
	if m.Shards == 0 || held != m.Shards {
		return fmt.Sprintf("%d of %d shards held", held, m.Shards)
	}
	return ""
}

func describeMembers(m client.MembersReply) string {
	var parts []string
	for _, mem := range m.Members {
		parts = append(parts, fmt.Sprintf("%s:%s:%d", mem.Name, mem.State, mem.Shards))
	}
	return strings.Join(parts, " ")
}

// waitReady waits until every running worker sees want active members
// holding all the shards, twice in a row a second apart, and returns how
// long that took. It fails the test at the timeout; use awaitReady where the
// scenario should go on to its lost/duplicate check anyway.
func (p *project) waitReady(want int, timeout time.Duration) time.Duration {
	p.t.Helper()
	d, err := p.awaitReady(want, timeout)
	if err != nil {
		p.t.Fatal(err)
	}
	return d
}

// awaitReady is waitReady returning the failure.
func (p *project) awaitReady(want int, timeout time.Duration) (time.Duration, error) {
	p.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	streak := 0
	last := ""
	for {
		problem := ""
		cs := p.running()
		if len(cs) != want {
			problem = fmt.Sprintf("%d worker containers running, want %d", len(cs), want)
		}
		for _, c := range cs {
			if problem != "" {
				break
			}
			m, err := p.clusterState(c)
			if err != nil {
				problem = fmt.Sprintf("%s: %v", c.Name, firstLine(err.Error()))
			} else if pr := readyProblem(m, want); pr != "" {
				problem = fmt.Sprintf("%s sees %s [%s]", c.Name, pr, describeMembers(m))
			}
		}
		if problem == "" {
			streak++
			if streak >= 2 {
				return time.Since(start), nil
			}
		} else {
			streak = 0
			last = problem
		}
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("cluster of %d not ready after %s: %s", want, timeout, last)
		}
		time.Sleep(time.Second)
	}
}

// listQueue lists every job of a queue (at most client.MaxListLimit).
func (p *project) listQueue(via container, queue string) ([]jobs.Job, error) {
	var l client.ListReply
	if err := p.execJSON(via, &l, "list", "--queue", queue, "--limit", strconv.Itoa(client.MaxListLimit)); err != nil {
		return nil, err
	}
	if l.Truncated {
		return l.Jobs, fmt.Errorf("queue %s has more than %d jobs: the suite keeps each queue under the list limit", queue, client.MaxListLimit)
	}
	return l.Jobs, nil
}

// verify waits until every acknowledged job of the queues is in an end
// state (or the timeout), then returns the verdict.
func (p *project) verify(acked []string, queues []string, timeout time.Duration) verdict {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var v verdict
	// Stop early when only lost jobs remain and the verdict has not moved
	// for a while: they are not coming back, and the suite has a budget.
	lastChange, lastSeen := time.Now(), ""
	for {
		cs := p.running()
		var found []jobs.Job
		var err error
		if len(cs) == 0 {
			err = errors.New("no worker running")
		}
		for _, q := range queues {
			if err != nil {
				break
			}
			var js []jobs.Job
			js, err = p.listQueue(cs[0], q)
			found = append(found, js...)
		}
		if err == nil {
			v = check(acked, found)
			if v.done() {
				return v
			}
			if seen := v.String(); seen != lastSeen {
				lastChange, lastSeen = time.Now(), seen
			} else if len(v.Unfinished) == 0 && time.Since(lastChange) > 40*time.Second {
				return v
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				p.t.Errorf("listing jobs: %v", err)
			}
			return v
		}
		time.Sleep(2 * time.Second)
	}
}

// assertNothingLost fails the test on a lost or unfinished acknowledged job
// and reports duplicates (at-least-once delivery allows them).
func (p *project) assertNothingLost(scenario string, v verdict) {
	p.t.Helper()
	p.t.Logf("METRIC %s: %s", scenario, v)
	if len(v.Lost) > 0 {
		p.t.Errorf("%s: %d acknowledged jobs LOST (not listed by the cluster), e.g. %v", scenario, len(v.Lost), head(v.Lost, 5))
		// A second opinion: `submit status` on a few of them, in case only
		// the listing missed them.
		if cs := p.running(); len(cs) > 0 {
			for _, id := range head(v.Lost, 5) {
				out, err := p.execSubmit(cs[0], 20*time.Second, "status", id, "-o", "json")
				if err != nil {
					p.t.Logf("  status %s: %s", id, lastLines(err.Error(), 1))
				} else {
					p.t.Logf("  status %s: found after all: %s", id, firstLine(out))
				}
			}
		}
	}
	if len(v.Unfinished) > 0 {
		p.t.Errorf("%s: %d acknowledged jobs never reached an end state, e.g. %v", scenario, len(v.Unfinished), head(v.Unfinished, 5))
	}
	if v.Dead+v.Cancelled > 0 {
		p.t.Errorf("%s: %d sleep jobs ended dead or cancelled", scenario, v.Dead+v.Cancelled)
	}
	if len(v.Duplicates) > 0 {
		p.t.Logf("%s: %d duplicates (attempt > 1), e.g. %v", scenario, len(v.Duplicates), head(v.Duplicates, 5))
	}
}

// logsOf returns a container's log.
func (p *project) logsOf(c container) string {
	out, _ := exec.Command("docker", "logs", c.ID).CombinedOutput()
	return string(out)
}

// followLogs streams the log of every worker container not yet followed to
// the artifacts directory, so that the logs of containers a scale-down
// removes are kept.
func (p *project) followLogs() {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	if p.followed == nil {
		p.followed = map[string]bool{}
	}
	for _, c := range p.workers() {
		key := c.ID + "@" + c.Started
		if p.followed[key] {
			continue
		}
		// A restarted container gets a new file; docker logs repeats the
		// earlier runs' lines at its top.
		run := 1
		for k := range p.followed {
			if strings.HasPrefix(k, c.ID+"@") {
				run++
			}
		}
		f, err := os.Create(filepath.Join(p.artifact, fmt.Sprintf("%s-%s-%s-run%d.log", p.name, c.Name, c.ID, run)))
		if err != nil {
			p.t.Logf("log of %s: %v", c.Name, err)
			continue
		}
		cmd := exec.Command("docker", "logs", "-f", c.ID)
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			f.Close()
			continue
		}
		p.followed[key] = true
		p.logProcs = append(p.logProcs, cmd)
		go func() { _ = cmd.Wait(); f.Close() }()
	}
}

// down saves the logs and removes the project (containers, network).
func (p *project) down() {
	p.followLogs()
	if os.Getenv("SHOAL_DOCKER_KEEP") == "1" {
		p.t.Logf("SHOAL_DOCKER_KEEP=1: project %s left running; remove it with: docker compose -p %s down -t 1", p.name, p.name)
		return
	}
	if _, err := p.composeRun(3*time.Minute, "down", "--remove-orphans", "-t", "1"); err != nil {
		p.t.Logf("cleanup: %v", err)
	}
	// docker logs -f ends with its container; make sure none outlives the test.
	p.logMu.Lock()
	for _, cmd := range p.logProcs {
		_ = cmd.Process.Kill() // an error means it already ended

	}
	p.logMu.Unlock()
}

// rebalances parses a worker log's rebalance lines.
type rebalanceLine struct {
	Event        string   `json:"event"`
	Node         string   `json:"node"`
	MembersAfter []string `json:"members_after"`
	Gained       int      `json:"gained"`
	Lost         int      `json:"lost"`
	JobsMovedIn  int      `json:"jobs_moved_in"`
	TookMS       int      `json:"took_ms"`
}

func rebalances(log string) []rebalanceLine {
	var out []rebalanceLine
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `"event":"rebalance"`) {
			continue
		}
		var r rebalanceLine
		if json.Unmarshal([]byte(line), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

func head[T any](s []T, n int) []T { return s[:min(n, len(s))] }

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
