package cluster

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// routeUser is the user name of NATS routes; the password is the secret.
const routeUser = "shoal"

// bus is the node's embedded NATS server and its in-process connection.
type bus struct {
	log    zerolog.Logger
	mu     sync.Mutex
	opts   *natsserver.Options
	srv    *natsserver.Server
	conn   *nats.Conn
	routes []string // host:port of the peers' route listeners, sorted
	secret string
}

func startBus(cfg *Config, log zerolog.Logger) (*bus, error) {
	opts := &natsserver.Options{
		ServerName:            cfg.Name,
		Host:                  cfg.BindAddr,
		Port:                  cfg.NATSPort,
		NoSigs:                true,
		MaxPayload:            8 << 20,
		MaxPending:            64 << 20,
		PingInterval:          2 * time.Second,
		MaxPingsOut:           3,
		WriteDeadline:         5 * time.Second,
		DisableShortFirstPing: true,
		Cluster: natsserver.ClusterOpts{
			Name:        "shoal",
			Host:        cfg.BindAddr,
			Port:        cfg.NATSClusterPort,
			Advertise:   net.JoinHostPort(cfg.AdvertiseAddr, strconv.Itoa(cfg.NATSClusterPort)),
			PoolSize:    -1,
			Compression: natsserver.CompressionOpts{Mode: natsserver.CompressionOff},
		},
	}
	if cfg.BindAddr != cfg.AdvertiseAddr {
		opts.ClientAdvertise = net.JoinHostPort(cfg.AdvertiseAddr, strconv.Itoa(cfg.NATSPort))
	}
	if cfg.Secret != "" {
		opts.Authorization = cfg.Secret
		opts.Cluster.Username = routeUser
		opts.Cluster.Password = cfg.Secret
	}
	srv, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: NATS server options: %w", err)
	}
	srv.SetLoggerV2(natsLogger{log: log}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("cluster: NATS server did not start on %s:%d (client) / %d (routes): is the port taken? pick others with --nats-port / --nats-cluster-port",
			cfg.BindAddr, cfg.NATSPort, cfg.NATSClusterPort)
	}
	copts := []nats.Option{
		nats.InProcessServer(srv),
		nats.Name("shoal-node " + cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50 * time.Millisecond),
	}
	if cfg.Secret != "" {
		copts = append(copts, nats.Token(cfg.Secret))
	}
	nc, err := nats.Connect("", copts...)
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("cluster: connect to the embedded NATS server: %w", err)
	}
	return &bus{log: log, opts: opts, srv: srv, conn: nc, secret: cfg.Secret}, nil
}

// setRoutes points the NATS server's routes at the given peers (host:port of
// their route listeners). It reloads only when the set changed.
func (b *bus) setRoutes(peers []string) {
	sort.Strings(peers)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv == nil || strings.Join(peers, ",") == strings.Join(b.routes, ",") {
		return
	}
	urls := make([]*url.URL, 0, len(peers))
	for _, p := range peers {
		u := &url.URL{Scheme: "nats-route", Host: p}
		if b.secret != "" {
			u.User = url.UserPassword(routeUser, b.secret)
		}
		urls = append(urls, u)
	}
	next := b.opts.Clone()
	next.Routes = urls
	if err := b.srv.ReloadOptions(next); err != nil {
		b.log.Warn().Err(err).Strs("routes", peers).Msg("could not update NATS routes; will retry on the next discovery round")
		return
	}
	b.opts = next
	b.routes = peers
	b.log.Debug().Strs("routes", peers).Msg("NATS routes updated")
}

func (b *bus) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		_ = b.conn.Drain()
		b.conn.Close()
		b.conn = nil
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
		b.srv = nil
	}
}

// natsLogger sends the embedded server's log lines to zerolog.
type natsLogger struct{ log zerolog.Logger }

func (l natsLogger) Noticef(format string, v ...any) {
	l.log.Debug().Str("component", "nats").Msgf(format, v...)
}
func (l natsLogger) Warnf(format string, v ...any) {
	l.log.Warn().Str("component", "nats").Msgf(format, v...)
}
func (l natsLogger) Fatalf(format string, v ...any) {
	l.log.Error().Str("component", "nats").Msgf(format, v...)
}
func (l natsLogger) Errorf(format string, v ...any) {
	// Route connection errors to absent peers are routine while a cluster
	// forms or after a peer left; keep them at debug.
	l.log.Debug().Str("component", "nats").Msgf(format, v...)
}
func (l natsLogger) Debugf(format string, v ...any) {}
func (l natsLogger) Tracef(format string, v ...any) {}
