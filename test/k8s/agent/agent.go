package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
)

// Config configures the agent.
type Config struct {
	// Namespace whose Pods the agent runs. Required.
	Namespace string
	// Node is the Node the agent creates and binds Pods to. Default
	// "stand-in-1".
	Node string
	// WorkerBin is the program started for every Pod. Default: the
	// SHOAL_WORKER_BIN environment variable. The container's args are passed
	// to it; its command is ignored (the image's entrypoint is the worker).
	WorkerBin string
	// IPPrefix and the range FirstIP..LastIP give the Pods' addresses.
	// Default "127.0.51.", 1..254.
	IPPrefix        string
	FirstIP, LastIP int
	// Dir receives each process's log (<pod>.log) and kubeconfig. Required.
	Dir string
	// APIServer and CAData are what the per-Pod kubeconfigs point at.
	// Required for Pods that mount their ServiceAccount token.
	APIServer string
	CAData    []byte
	// ExtraEnv is added to every process's environment before the Pod's own.
	ExtraEnv []string
	// ProbePeriod overrides the readiness probe's period (0: the Pod's).
	ProbePeriod time.Duration
}

// DefaultConfig returns the defaults; set Namespace, Dir and APIServer.
func DefaultConfig() Config {
	return Config{Node: "stand-in-1", WorkerBin: os.Getenv("SHOAL_WORKER_BIN"), IPPrefix: "127.0.51.", FirstIP: 1, LastIP: 254}
}

// Validate reports what is missing.
func (c Config) Validate() error {
	switch {
	case c.Namespace == "":
		return errors.New("agent: Namespace is required")
	case c.Dir == "":
		return errors.New("agent: Dir is required")
	case c.WorkerBin == "":
		return errors.New("agent: no worker program: set SHOAL_WORKER_BIN (or Config.WorkerBin) to the worker binary")
	case c.Node == "" || c.IPPrefix == "" || c.FirstIP < 1 || c.LastIP < c.FirstIP:
		return errors.New("agent: Node, IPPrefix and FirstIP..LastIP must be set (start from DefaultConfig)")
	}
	if _, err := os.Stat(c.WorkerBin); err != nil {
		return fmt.Errorf("agent: worker program: %w", err)
	}
	return nil
}

// Agent is a running stand-in kubelet.
type Agent struct {
	cfg    Config
	client kubernetes.Interface
	log    zerolog.Logger
	pods   cache.SharedIndexInformer
	queue  workqueue.TypedRateLimitingInterface[string]

	mu    sync.Mutex
	procs map[string]*worker // by pod name
	ips   map[string]string  // ip -> pod name
	stops []Stop             // processes stopped for a Pod's deletion, in order
}

// Stop records how a Pod's process ended after the agent asked it to stop.
type Stop struct {
	Pod  string
	IP   string
	Exit int
	// Took is the time from SIGTERM to the process's exit.
	Took time.Duration
	// Killed: the process outlived the grace period and was SIGKILLed.
	Killed bool
}

// Process is what the agent runs for a Pod.
type Process struct {
	Pod      string
	IP       string
	PID      int
	Restarts int
	Ready    bool
	// RSS is the process's resident memory in bytes (0 if unknown), to
	// compare with the Pod's memory limit.
	RSS int64
	// PeakRSS is the highest RSS the process has had (VmHWM), in bytes.
	PeakRSS int64
}

// New creates the agent; Run starts it.
func New(cfg Config, client kubernetes.Interface, log zerolog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, client: client, log: log.With().Str("component", "stand-in-kubelet").Logger(),
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		procs: map[string]*worker{}, ips: map[string]string{},
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(cfg.Namespace))
	a.pods = f.Core().V1().Pods().Informer()
	enqueue := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			a.queue.Add(p.Name)
		} else if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			if p, ok := d.Obj.(*corev1.Pod); ok {
				a.queue.Add(p.Name)
			}
		}
	}
	if _, err := a.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: enqueue,
	}); err != nil {
		return nil, err
	}
	return a, nil
}

// Run creates the Node and runs until ctx ends; then it stops every process
// (SIGTERM, the Pod's grace period, SIGKILL) before returning.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.ensureNode(ctx); err != nil {
		return err
	}
	go a.pods.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), a.pods.HasSynced) {
		return ctx.Err()
	}
	a.log.Info().Str("namespace", a.cfg.Namespace).Str("node", a.cfg.Node).Str("worker", a.cfg.WorkerBin).Msg("stand-in kubelet running")
	go func() {
		<-ctx.Done()
		a.queue.ShutDown()
	}()
	for a.processNext(ctx) {
	}
	a.mu.Lock()
	ws := make([]*worker, 0, len(a.procs))
	for _, w := range a.procs {
		ws = append(ws, w)
	}
	a.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	for _, w := range ws {
		<-w.done
	}
	return nil
}

// Stops lists the processes stopped so far (SIGTERM, then SIGKILL after the
// grace period), in the order they ended.
func (a *Agent) Stops() []Stop {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Stop(nil), a.stops...)
}

func (a *Agent) recordStop(s Stop) {
	a.mu.Lock()
	a.stops = append(a.stops, s)
	a.mu.Unlock()
}

// Processes lists the running processes.
func (a *Agent) Processes() []Process {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Process, 0, len(a.procs))
	for _, w := range a.procs {
		out = append(out, w.snapshot())
	}
	return out
}

func (a *Agent) processNext(ctx context.Context) bool {
	name, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(name)
	if err := a.sync(ctx, name); err != nil {
		if ctx.Err() == nil {
			a.log.Warn().Err(err).Str("pod", name).Msg("retrying")
		}
		a.queue.AddRateLimited(name)
		return true
	}
	a.queue.Forget(name)
	return true
}

func (a *Agent) sync(ctx context.Context, name string) error {
	obj, exists, err := a.pods.GetStore().GetByKey(a.cfg.Namespace + "/" + name)
	if err != nil {
		return err
	}
	a.mu.Lock()
	w := a.procs[name]
	a.mu.Unlock()
	if !exists {
		// Deleted outright (grace 0, or a force delete): stop what still runs.
		if w != nil {
			go w.stop()
		}
		return nil
	}
	p := obj.(*corev1.Pod)
	if w != nil && w.uid != p.UID {
		go w.stop() // a new Pod with the name of an old one: the old process goes
		return fmt.Errorf("old process of %s still stopping", name)
	}
	running, stopping := w != nil, w != nil && w.stopping()
	switch act := decide(p, a.cfg.Node, running, stopping); act {
	case actBind:
		return a.bind(ctx, p)
	case actStart:
		return a.start(ctx, p)
	case actStop:
		go w.stop()
	case actFinalize:
		// The kubelet's last word: delete with grace 0, for this UID only.
		err := a.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
			GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &p.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

func (a *Agent) ensureNode(ctx context.Context) error {
	_, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.Node, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.Node, Labels: map[string]string{corev1.LabelHostname: a.cfg.Node}}}
	_, err = a.client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// Controllers touch a new Node too, hence the retry on conflict.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.Node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "StandIn", LastHeartbeatTime: now, LastTransitionTime: now}}
		_, err = a.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

func (a *Agent) bind(ctx context.Context, p *corev1.Pod) error {
	err := a.client.CoreV1().Pods(p.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: a.cfg.Node},
	}, metav1.CreateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // bound meanwhile, or gone
	}
	return err
}

func (a *Agent) allocIP(pod string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := a.cfg.FirstIP; i <= a.cfg.LastIP; i++ {
		ip := a.cfg.IPPrefix + strconv.Itoa(i)
		if _, used := a.ips[ip]; !used {
			a.ips[ip] = pod
			return ip, nil
		}
	}
	return "", fmt.Errorf("agent: no free IP in %s%d-%d", a.cfg.IPPrefix, a.cfg.FirstIP, a.cfg.LastIP)
}

func (a *Agent) start(ctx context.Context, p *corev1.Pod) error {
	if len(p.Spec.Containers) == 0 {
		return fmt.Errorf("pod %s has no container", p.Name)
	}
	c := &p.Spec.Containers[0]
	ip, err := a.allocIP(p.Name)
	if err != nil {
		return err
	}
	release := func() {
		a.mu.Lock()
		delete(a.ips, ip)
		a.mu.Unlock()
	}
	env, err := containerEnv(p, c, ip, sources{secret: a.secretData(ctx, p.Namespace), configMap: a.configMapData(ctx, p.Namespace)})
	if err != nil {
		release()
		return fmt.Errorf("pod %s: environment: %w", p.Name, err)
	}
	dir := filepath.Join(a.cfg.Dir, p.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		release()
		return err
	}
	full := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir}, a.cfg.ExtraEnv...)
	if p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
		kc, err := a.podKubeconfig(ctx, p, dir)
		if err != nil {
			release()
			return err
		}
		full = append(full, "SHOAL_K8S_KUBECONFIG="+kc)
	}
	full = append(full, env...)

	w := &worker{
		a: a, pod: p.Name, uid: p.UID, ip: ip, env: full, args: c.Args, dir: dir,
		grace: 30 * time.Second, stopCh: make(chan struct{}), done: make(chan struct{}),
		probe: readinessURL(c, ip), period: probePeriod(c, a.cfg.ProbePeriod),
	}
	if p.Spec.TerminationGracePeriodSeconds != nil {
		w.grace = time.Duration(*p.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	a.mu.Lock()
	a.procs[p.Name] = w
	a.mu.Unlock()
	go func() {
		w.run(ctx)
		a.mu.Lock()
		if a.procs[p.Name] == w {
			delete(a.procs, p.Name)
		}
		delete(a.ips, ip)
		a.mu.Unlock()
		a.queue.Add(p.Name) // finalize the deletion, or start again
	}()
	return nil
}

func (a *Agent) secretData(ctx context.Context, ns string) func(string) (map[string]string, error) {
	return func(name string) (map[string]string, error) {
		s, err := a.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for k, v := range s.Data {
			out[k] = string(v)
		}
		for k, v := range s.StringData {
			out[k] = v
		}
		return out, nil
	}
}

func (a *Agent) configMapData(ctx context.Context, ns string) func(string) (map[string]string, error) {
	return func(name string) (map[string]string, error) {
		cm, err := a.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return cm.Data, nil
	}
}

// podKubeconfig writes a kubeconfig holding a token for the Pod's
// ServiceAccount, bound to the Pod (it dies with it), like the projected
// token a kubelet mounts.
func (a *Agent) podKubeconfig(ctx context.Context, p *corev1.Pod, dir string) (string, error) {
	if a.cfg.APIServer == "" {
		return "", errors.New("agent: Config.APIServer is required for pods that mount a service-account token")
	}
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	ttl := int64(3600)
	tr, err := a.client.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: &ttl,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("pod %s: token for service account %s: %w", p.Name, sa, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["in-cluster"] = &clientcmdapi.Cluster{Server: a.cfg.APIServer, CertificateAuthorityData: a.cfg.CAData}
	cfg.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["in-cluster"] = &clientcmdapi.Context{Cluster: "in-cluster", AuthInfo: sa, Namespace: p.Namespace}
	cfg.CurrentContext = "in-cluster"
	path := filepath.Join(dir, "kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

func readinessURL(c *corev1.Container, ip string) string {
	pr := c.ReadinessProbe
	if pr == nil || pr.HTTPGet == nil {
		return ""
	}
	port := 0
	if pr.HTTPGet.Port.Type == intstr.Int {
		port = pr.HTTPGet.Port.IntValue()
	} else {
		for _, cp := range c.Ports {
			if cp.Name == pr.HTTPGet.Port.StrVal {
				port = int(cp.ContainerPort)
			}
		}
	}
	scheme := "http"
	if pr.HTTPGet.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(ip, strconv.Itoa(port)) + pr.HTTPGet.Path
}

func probePeriod(c *corev1.Container, override time.Duration) time.Duration {
	if override > 0 {
		return override
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.PeriodSeconds > 0 {
		return time.Duration(c.ReadinessProbe.PeriodSeconds) * time.Second
	}
	return 10 * time.Second
}

// worker is one Pod's process, restarted when it exits until the Pod goes.
type worker struct {
	a      *Agent
	pod    string
	uid    types.UID
	ip     string
	env    []string
	args   []string
	dir    string
	grace  time.Duration
	probe  string
	period time.Duration

	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}

	mu       sync.Mutex
	pid      int
	restarts int
	ready    bool
}

func (w *worker) snapshot() Process {
	w.mu.Lock()
	defer w.mu.Unlock()
	cur, peak := rss(w.pid)
	return Process{Pod: w.pod, IP: w.ip, PID: w.pid, Restarts: w.restarts, Ready: w.ready, RSS: cur, PeakRSS: peak}
}

// rss reads VmRSS and VmHWM (the peak) from /proc, in bytes.
func rss(pid int) (cur, peak int64) {
	if pid == 0 {
		return 0, 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		for key, dst := range map[string]*int64{"VmRSS:": &cur, "VmHWM:": &peak} {
			if v, ok := strings.CutPrefix(line, key); ok {
				if f := strings.Fields(v); len(f) >= 1 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					*dst = kb * 1024
				}
			}
		}
	}
	return cur, peak
}

func (w *worker) stopping() bool {
	select {
	case <-w.stopCh:
		return true
	default:
		return false
	}
}

// stop asks for SIGTERM and waits until the process is gone.
func (w *worker) stop() {
	w.stopOnce.Do(func() { close(w.stopCh) })
	<-w.done
}

func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	log := w.a.log.With().Str("pod", w.pod).Str("ip", w.ip).Logger()
	backoff := time.Second
	for {
		exited, err := w.runOnce(ctx, log)
		if w.stopping() || ctx.Err() != nil {
			return
		}
		log.Warn().Err(err).Dur("restart_in", backoff).Msg("worker process exited; restarting")
		w.mu.Lock()
		w.restarts++
		w.ready = false
		w.mu.Unlock()
		_ = w.report(context.WithoutCancel(ctx), false, exited)
		select {
		case <-time.After(backoff):
		case <-w.stopCh:
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// runOnce runs the process until it exits or a stop is asked for.
func (w *worker) runOnce(ctx context.Context, log zerolog.Logger) (exitCode int32, err error) {
	logf, err := os.OpenFile(filepath.Join(w.a.cfg.Dir, w.pod+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return -1, err
	}
	defer logf.Close()
	cmd := exec.Command(w.a.cfg.WorkerBin, w.args...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = w.env, w.dir, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	w.mu.Lock()
	w.pid = cmd.Process.Pid
	w.mu.Unlock()
	log.Info().Int("pid", cmd.Process.Pid).Msg("worker process started")
	if err := w.report(ctx, false, -1); err != nil {
		log.Warn().Err(err).Msg("reporting the pod running")
	}

	tick := time.NewTicker(w.period)
	defer tick.Stop()
	probe := func() {
		ready := w.probeOnce(ctx)
		w.mu.Lock()
		changed := ready != w.ready
		w.ready = ready
		w.mu.Unlock()
		if changed {
			log.Info().Bool("ready", ready).Msg("readiness changed")
			if err := w.report(ctx, ready, -1); err != nil {
				log.Warn().Err(err).Msg("reporting readiness")
			}
		}
	}
	probe()
	for {
		select {
		case err := <-exited:
			return int32(cmd.ProcessState.ExitCode()), err
		case <-tick.C:
			probe()
		case <-w.stopCh:
			return w.terminate(cmd, exited, log)
		case <-ctx.Done():
			return w.terminate(cmd, exited, log)
		}
	}
}

// terminate sends SIGTERM, waits up to the grace period, then SIGKILLs the
// process group.
func (w *worker) terminate(cmd *exec.Cmd, exited <-chan error, log zerolog.Logger) (int32, error) {
	t0 := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		took := time.Since(t0)
		log.Info().Dur("took", took).Int("exit", cmd.ProcessState.ExitCode()).Msg("worker process stopped after SIGTERM")
		w.a.recordStop(Stop{Pod: w.pod, IP: w.ip, Exit: cmd.ProcessState.ExitCode(), Took: took})
		return int32(cmd.ProcessState.ExitCode()), err
	case <-time.After(w.grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err := <-exited
		log.Warn().Dur("grace", w.grace).Msg("worker process SIGKILLed: it outlived the grace period")
		w.a.recordStop(Stop{Pod: w.pod, IP: w.ip, Exit: cmd.ProcessState.ExitCode(), Took: time.Since(t0), Killed: true})
		return int32(cmd.ProcessState.ExitCode()), err
	}
}

func (w *worker) probeOnce(ctx context.Context) bool {
	if w.probe == "" {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.probe, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

// report writes the Pod's status as a kubelet would: Running with the IP,
// Ready as probed, the container's state and restart count. lastExit >= 0
// records the exit of the previous run.
func (w *worker) report(ctx context.Context, ready bool, lastExit int32) error {
	pods := w.a.client.CoreV1().Pods(w.a.cfg.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := pods.Get(ctx, w.pod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.UID != w.uid {
			return nil
		}
		now := metav1.Now()
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		w.mu.Lock()
		restarts := int32(w.restarts)
		w.mu.Unlock()
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP, p.Status.PodIPs = w.ip, []corev1.PodIP{{IP: w.ip}}
		p.Status.HostIP, p.Status.HostIPs = w.ip, []corev1.HostIP{{IP: w.ip}}
		if p.Status.StartTime == nil {
			p.Status.StartTime = &now
		}
		for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
			s := corev1.ConditionTrue
			if t == corev1.ContainersReady || t == corev1.PodReady {
				s = st
			}
			setCondition(&p.Status, t, s, now)
		}
		c := p.Spec.Containers[0]
		cs := corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "stand-in://" + c.Image, Ready: ready, RestartCount: restarts,
			Started: ptrTo(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}
		if lastExit >= 0 {
			cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: lastExit, FinishedAt: now}}
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
		_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func setCondition(st *corev1.PodStatus, t corev1.PodConditionType, s corev1.ConditionStatus, now metav1.Time) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			if st.Conditions[i].Status != s {
				st.Conditions[i].Status, st.Conditions[i].LastTransitionTime = s, now
			}
			return
		}
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now})
}

func ptrTo[T any](v T) *T { return &v }
