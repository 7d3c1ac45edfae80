package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/pkg/builtin"
	"github.com/shoal-dev/shoal/pkg/cluster"
)

// options is everything the command line and the environment set.
type options struct {
	node    cluster.Config
	builtin builtin.Config

	discovery     string
	peers         string
	dnsName       string
	dnsServer     string
	k8sService    string
	k8sSelector   string
	k8sNamespace  string
	k8sKubeconfig string
	execAllow     string
	httpAllow     string
	retryBase     time.Duration
	retryMax      time.Duration
	maxPayload    int
	retention     time.Duration
	logFormat     string
	logLevel      string
}

// envName maps a flag name to its environment variable: --drain-timeout ->
// SHOAL_DRAIN_TIMEOUT.
func envName(flagName string) string {
	return "SHOAL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags reads flags, with SHOAL_* environment variables (and the
// downward API's POD_IP, POD_NAME, POD_NAMESPACE) as defaults.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{node: cluster.DefaultConfig(), builtin: builtin.DefaultConfig()}
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "worker: a shoal node. Every flag can also be set as SHOAL_<FLAG> (for example SHOAL_DRAIN_TIMEOUT=25s).\n\nUsage: worker [flags]\n\n")
		fs.PrintDefaults()
	}
	c := &o.node
	// Identity and addresses.
	fs.StringVar(&c.Name, "name", firstNonEmpty(getenv("POD_NAME")), "node name, unique in the cluster (default: POD_NAME, else the advertise address)")
	fs.StringVar(&c.AdvertiseAddr, "advertise-addr", firstNonEmpty(getenv("POD_IP"), c.AdvertiseAddr), "IP address the other nodes reach this one at, or \"auto\" for the address of the default route's interface (default: POD_IP, else 127.0.0.1)")
	fs.StringVar(&c.BindAddr, "bind-addr", "", "address to listen on (default: the advertise address; 0.0.0.0 in containers)")
	fs.IntVar(&c.OlricPort, "olric-port", c.OlricPort, "Olric port")
	fs.IntVar(&c.MemberlistPort, "memberlist-port", c.MemberlistPort, "memberlist (gossip) port, TCP and UDP")
	fs.IntVar(&c.NATSPort, "nats-port", c.NATSPort, "NATS client port (submit connects here)")
	fs.IntVar(&c.NATSClusterPort, "nats-cluster-port", c.NATSClusterPort, "NATS route port between nodes")
	fs.IntVar(&c.HTTPPort, "http-port", c.HTTPPort, "HTTP port: /healthz /readyz /metrics")
	fs.StringVar(&c.Secret, "secret", "", "cluster secret: gossip encryption, Olric and NATS authentication (empty: an OPEN cluster)")
	// Discovery.
	fs.StringVar(&o.discovery, "discovery", "static", "how peers are found: static, dns, dnssrv or kubernetes")
	fs.StringVar(&o.peers, "peers", "", "static: comma-separated peer addresses (host or host:http-port), e.g. 127.0.0.1,127.0.0.2,127.0.0.3")
	fs.StringVar(&o.dnsName, "dns-name", "", "dns/dnssrv: the name to resolve (a headless service or a compose service name)")
	fs.StringVar(&o.dnsServer, "dns-server", "", "dns/dnssrv: ip:port of the DNS server to ask (default: the system resolver)")
	fs.StringVar(&o.k8sService, "k8s-service", "", "kubernetes: the headless Service whose EndpointSlices list the peers (default shoal-cluster)")
	fs.StringVar(&o.k8sSelector, "k8s-selector", "", "kubernetes: list Pods by this label selector instead of EndpointSlices")
	fs.StringVar(&o.k8sNamespace, "k8s-namespace", getenv("POD_NAMESPACE"), "kubernetes: namespace (default: POD_NAMESPACE, else the pod's own)")
	fs.StringVar(&o.k8sKubeconfig, "k8s-kubeconfig", "", "kubernetes: kubeconfig path when running outside the cluster")
	fs.DurationVar(&c.DiscoveryInterval, "discovery-interval", c.DiscoveryInterval, "how often peers are looked up again")
	fs.DurationVar(&c.FormationTimeout, "formation-timeout", c.FormationTimeout, "how long to wait for the peer whose turn it is to bootstrap")
	// Cluster behaviour.
	fs.IntVar(&c.Shards, "shards", c.Shards, "shard count, the same on every node")
	fs.IntVar(&c.ReplicaCount, "replicas", c.ReplicaCount, "copies Olric keeps of each key")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "jobs this node runs at once")
	fs.DurationVar(&c.DefaultTimeout, "job-timeout", c.DefaultTimeout, "timeout of an attempt whose job sets none")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "on SIGTERM, how long running jobs may finish before they are handed back")
	fs.DurationVar(&c.LeaveTimeout, "leave-timeout", c.LeaveTimeout, "bound on the hand-off after the drain")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", c.LeaseTTL, "shard lease TTL (a crashed node's shards move after at most this)")
	fs.DurationVar(&c.HeartbeatInterval, "heartbeat-interval", c.HeartbeatInterval, "how often a node announces itself")
	fs.DurationVar(&c.HeartbeatTimeout, "heartbeat-timeout", c.HeartbeatTimeout, "silence after which a node is treated as gone")
	fs.IntVar(&o.maxPayload, "max-payload", c.Limits.MaxPayload, "largest job payload accepted, bytes")
	fs.DurationVar(&o.retryBase, "retry-base", c.Shard.Retry.Base, "first retry delay (doubles each attempt, with jitter)")
	fs.DurationVar(&o.retryMax, "retry-max", c.Shard.Retry.Max, "longest retry delay")
	fs.DurationVar(&o.retention, "retention", c.Shard.Retention, "how long finished jobs stay visible to status and list")
	// Built-in handlers.
	fs.StringVar(&o.execAllow, "exec-allow", "", "exec handler: comma-separated commands it may run, as name or name=/absolute/path (empty: exec disabled)")
	fs.StringVar(&o.httpAllow, "http-allow-hosts", "", "http handler: comma-separated hosts it may POST to (empty: any)")
	// Logs.
	fs.StringVar(&o.logFormat, "log-format", "", "json or console (default: console on a terminal, json otherwise)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")

	// Environment variables are the flags' defaults.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %v", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: worker takes flags only (see worker -h)", fs.Arg(0))
	}
	if c.AdvertiseAddr == autoAdvertise {
		addr, err := autoAdvertiseAddr()
		if err != nil {
			return nil, fmt.Errorf("--advertise-addr auto: %w: give the address explicitly (or POD_IP)", err)
		}
		c.AdvertiseAddr = addr
	}
	c.Limits.MaxPayload = o.maxPayload
	c.Shard.Retry.Base = o.retryBase
	c.Shard.Retry.Max = o.retryMax
	c.Shard.Retention = o.retention
	if o.execAllow != "" {
		allow, err := builtin.ResolveExecAllow(splitList(o.execAllow))
		if err != nil {
			return nil, err
		}
		o.builtin.ExecAllow = allow
	}
	o.builtin.HTTPAllowHosts = splitList(o.httpAllow)
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
