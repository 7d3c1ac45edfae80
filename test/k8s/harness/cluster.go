package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configure a control plane.
type Options struct {
	// IP is the loopback address every component listens on (127.0.50.x -
	// 127.0.59.x). Required.
	IP string
	// Dir holds data, certificates, kubeconfigs and logs. Required.
	Dir string
	// Bin are the programs (FindBinaries).
	Bin Binaries
	// Log receives progress lines (nil: discarded).
	Log io.Writer
	// StartTimeout bounds each component's start. Default 90s (the machine
	// may be busy).
	StartTimeout time.Duration
}

// Cluster is a running control plane.
type Cluster struct {
	opts Options
	pki  *pki

	// URL is the API server's address (https://IP:6443).
	URL string
	// AdminKubeconfig is a kubeconfig for a system:masters client.
	AdminKubeconfig string
	// Admin is a client with that identity.
	Admin kubernetes.Interface

	mu    sync.Mutex
	procs map[string]*proc
}

type proc struct {
	name string
	args []string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

const (
	apiPort = "6443"
	kcmPort = "10257"
)

// Start runs etcd, kube-apiserver and kube-controller-manager and waits until
// they serve: the API server's /readyz, and the controller manager's
// service-account controller having created the "default" ServiceAccount.
// On error everything started is stopped again.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if net.ParseIP(o.IP) == nil || o.Dir == "" {
		return nil, errors.New("harness: Options.IP (a loopback IP) and Options.Dir are required")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 90 * time.Second
	}
	for _, port := range []string{"2379", "2380", apiPort, kcmPort} {
		l, err := net.Listen("tcp", net.JoinHostPort(o.IP, port))
		if err != nil {
			return nil, fmt.Errorf("harness: %s:%s is taken (another control plane on this IP? pick another 127.0.5x.y): %w", o.IP, port, err)
		}
		l.Close()
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	p, err := makePKI(o.Dir, net.ParseIP(o.IP))
	if err != nil {
		return nil, fmt.Errorf("harness: certificates: %w", err)
	}
	c = &Cluster{opts: o, pki: p, URL: "https://" + net.JoinHostPort(o.IP, apiPort), procs: map[string]*proc{}}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()

	c.AdminKubeconfig = filepath.Join(o.Dir, "admin.kubeconfig")
	if err := c.writeKubeconfig(c.AdminKubeconfig, "admin", &clientcmdapi.AuthInfo{
		ClientCertificateData: p.adminCertPEM, ClientKeyData: p.adminKeyPEM,
	}, ""); err != nil {
		return nil, err
	}
	adminCfg, err := clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig)
	if err != nil {
		return nil, err
	}
	if c.Admin, err = kubernetes.NewForConfig(adminCfg); err != nil {
		return nil, err
	}

	t0 := time.Now()
	if err := c.start("etcd", o.Bin.Etcd, c.etcdArgs()...); err != nil {
		return nil, err
	}
	if err := c.waitHTTP(ctx, "etcd", "http://"+net.JoinHostPort(o.IP, "2379")+"/health", nil); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "harness: etcd ready after %v\n", time.Since(t0).Round(time.Millisecond))
	if err := c.StartAPIServer(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "harness: kube-apiserver ready after %v\n", time.Since(t0).Round(time.Millisecond))
	if err := c.start("kube-controller-manager", o.Bin.ControllerManager, c.kcmArgs()...); err != nil {
		return nil, err
	}
	if err := c.poll(ctx, "kube-controller-manager", func(ctx context.Context) error {
		_, err := c.Admin.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "harness: kube-controller-manager working after %v\n", time.Since(t0).Round(time.Millisecond))
	return c, nil
}

func (c *Cluster) etcdArgs() []string {
	ip := c.opts.IP
	client, peer := "http://"+net.JoinHostPort(ip, "2379"), "http://"+net.JoinHostPort(ip, "2380")
	return []string{
		"--name=shoal-test", "--data-dir=" + filepath.Join(c.opts.Dir, "etcd"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=shoal-test=" + peer,
		"--unsafe-no-fsync", "--log-level=warn",
	}
}

func (c *Cluster) apiServerArgs() []string {
	ip, p := c.opts.IP, c.pki
	return []string{
		"--etcd-servers=http://" + net.JoinHostPort(ip, "2379"),
		"--bind-address=" + ip, "--advertise-address=" + ip, "--secure-port=" + apiPort,
		"--cert-dir=" + filepath.Join(c.opts.Dir, "apiserver-certs"),
		"--tls-cert-file=" + p.servingCert, "--tls-private-key-file=" + p.servingKey,
		"--client-ca-file=" + p.caCert,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.saPub,
		"--service-account-signing-key-file=" + p.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		// Loopback addresses are refused as the "kubernetes" Service's
		// endpoint; nothing here needs that endpoint.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
}

func (c *Cluster) kcmArgs() []string {
	p := c.pki
	return []string{
		"--kubeconfig=" + c.AdminKubeconfig,
		"--authentication-kubeconfig=" + c.AdminKubeconfig,
		"--authorization-kubeconfig=" + c.AdminKubeconfig,
		"--bind-address=" + c.opts.IP, "--secure-port=" + kcmPort,
		"--cert-dir=" + filepath.Join(c.opts.Dir, "kcm-certs"),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		// The CA certificate alone (a bundle makes it complain forever).
		"--root-ca-file=" + p.caCert,
		"--service-account-private-key-file=" + p.saKey,
		// No kubelet: the node lifecycle controller would mark the stand-in
		// Node NotReady and taint it after a minute.
		"--controllers=*,-node-lifecycle-controller",
		"--profiling=false",
	}
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer) and waits
// for its /readyz. etcd keeps the data in between.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if err := c.start("kube-apiserver", c.opts.Bin.APIServer, c.apiServerArgs()...); err != nil {
		return err
	}
	return c.poll(ctx, "kube-apiserver", func(ctx context.Context) error {
		body, err := c.Admin.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%w: %s", err, body)
		}
		return nil
	})
}

// StopAPIServer stops kube-apiserver only (clients see connection errors).
func (c *Cluster) StopAPIServer() error { return c.stopProc("kube-apiserver") }

// Stop ends every component, newest first. Safe to call more than once.
func (c *Cluster) Stop() {
	for _, n := range []string{"kube-controller-manager", "kube-apiserver", "etcd"} {
		_ = c.stopProc(n)
	}
}

// LogTail returns the last n lines of a component's log (for failure
// messages).
func (c *Cluster) LogTail(name string, n int) string {
	b, err := os.ReadFile(filepath.Join(c.opts.Dir, name+".log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Dir is the directory holding the cluster's files.
func (c *Cluster) Dir() string { return c.opts.Dir }

// IP is the control plane's address.
func (c *Cluster) IP() string { return c.opts.IP }

// Kubectl runs the pinned kubectl with the admin kubeconfig (or the
// kubeconfig given as an explicit --kubeconfig argument).
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	if !hasKubeconfigFlag(args) {
		args = append([]string{"--kubeconfig=" + c.AdminKubeconfig}, args...)
	}
	cmd := exec.CommandContext(ctx, c.opts.Bin.Kubectl, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, e.String())
	}
	return o.String(), e.String(), err
}

func hasKubeconfigFlag(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "--kubeconfig") {
			return true
		}
	}
	return false
}

// ServiceAccountConfig returns a client configuration that acts as the
// ServiceAccount namespace/name, with a token from the TokenRequest API.
func (c *Cluster) ServiceAccountConfig(ctx context.Context, namespace, name string) (*rest.Config, error) {
	tok, err := c.ServiceAccountToken(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host:            c.URL,
		BearerToken:     tok,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.pki.caPEM},
	}, nil
}

// ServiceAccountToken asks the TokenRequest API for a one-hour token.
func (c *Cluster) ServiceAccountToken(ctx context.Context, namespace, name string) (string, error) {
	ttl := int64(3600)
	tr, err := c.Admin.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("harness: TokenRequest for %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}

// WriteServiceAccountKubeconfig writes a kubeconfig acting as the
// ServiceAccount (a TokenRequest token), with namespace as its default.
func (c *Cluster) WriteServiceAccountKubeconfig(ctx context.Context, path, namespace, name string) error {
	tok, err := c.ServiceAccountToken(ctx, namespace, name)
	if err != nil {
		return err
	}
	return c.writeKubeconfig(path, namespace+"-"+name, &clientcmdapi.AuthInfo{Token: tok}, namespace)
}

// CAPEM is the cluster CA certificate.
func (c *Cluster) CAPEM() []byte { return c.pki.caPEM }

func (c *Cluster) writeKubeconfig(path, user string, auth *clientcmdapi.AuthInfo, namespace string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["shoal-test"] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthorityData: c.pki.caPEM}
	cfg.AuthInfos[user] = auth
	cfg.Contexts["shoal-test"] = &clientcmdapi.Context{Cluster: "shoal-test", AuthInfo: user, Namespace: namespace}
	cfg.CurrentContext = "shoal-test"
	return clientcmd.WriteToFile(*cfg, path)
}

func (c *Cluster) start(name, bin string, args ...string) error {
	logPath := filepath.Join(c.opts.Dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group, and die with the test process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("harness: starting %s: %w", name, err)
	}
	p := &proc{name: name, args: args, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs[name] = p
	c.mu.Unlock()
	return nil
}

func (c *Cluster) stopProc(name string) error {
	c.mu.Lock()
	p := c.procs[name]
	delete(c.procs, name)
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	return nil
}

func (c *Cluster) exited(name string) error {
	c.mu.Lock()
	p := c.procs[name]
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return fmt.Errorf("harness: %s exited (%v); last lines of %s:\n%s", name, p.err, p.log, c.LogTail(name, 30))
	default:
		return nil
	}
}

// poll calls check until it succeeds, the component exits, or the start
// timeout passes.
func (c *Cluster) poll(ctx context.Context, name string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	var last error
	for {
		if err := c.exited(name); err != nil {
			return err
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: %s not ready within %v: %v; last lines of its log:\n%s", name, c.opts.StartTimeout, last, c.LogTail(name, 30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) waitHTTP(ctx context.Context, name, url string, client *http.Client) error {
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	return c.poll(ctx, name, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
}
