package olricstore

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/olric-data/olric"
	"github.com/rs/zerolog"
)

// Tests listen on 127.0.10.x (this package's block), on free ports.

var nextIP atomic.Int32

// freePort returns a port free for TCP and UDP on ip.
func freePort(t testing.TB, ip string) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("listen on %s: %v", ip, err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	t.Fatalf("no free port on %s", ip)
	return 0
}

func testLogger(t testing.TB) zerolog.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(w.stop)
	level := zerolog.WarnLevel
	if os.Getenv("OLRICSTORE_TEST_LOG") != "" {
		level = zerolog.DebugLevel
	}
	return zerolog.New(w).Level(level)
}

// testLogWriter logs through t while the test runs and drops what Olric's
// and memberlist's goroutines still print after it ended (t.Log then is a
// race and a panic).
type testLogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}

// testConfig returns a config for a node on its own 127.0.10.x address.
func testConfig(t testing.TB, peers ...string) Config {
	ip := fmt.Sprintf("127.0.10.%d", 1+nextIP.Add(1)%250)
	cfg := DefaultConfig()
	cfg.Name = "test-" + ip
	cfg.BindAddr = ip
	cfg.Port = freePort(t, ip)
	cfg.MemberlistPort = freePort(t, ip)
	for cfg.MemberlistPort == cfg.Port {
		cfg.MemberlistPort = freePort(t, ip)
	}
	cfg.Peers = peers
	cfg.JoinTimeout = 3 * time.Second
	cfg.Logger = testLogger(t)
	return cfg
}

func startNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start %s: %v", cfg.BindAddr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

// startCluster starts n nodes joined to the first and waits until every
// node sees all n members.
func startCluster(t testing.TB, n int) []*Node {
	t.Helper()
	first := startNode(t, testConfig(t))
	nodes := []*Node{first}
	for range n - 1 {
		nodes = append(nodes, startNode(t, testConfig(t, first.MemberlistAddr())))
	}
	waitMembers(t, nodes, n)
	return nodes
}

func waitMembers(t testing.TB, nodes []*Node, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, nd := range nodes {
		for {
			ms, err := nd.Members(context.Background())
			if err == nil && len(ms) == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s sees %d members, want %d (err %v)", nd.Addr(), len(ms), want, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

var dmapSeq atomic.Int64

// freshDMap opens a new DMap with the same name on every node given.
func freshDMap(t testing.TB, nodes ...*Node) []olric.DMap {
	t.Helper()
	name := fmt.Sprintf("test-%d", dmapSeq.Add(1))
	var out []olric.DMap
	for _, n := range nodes {
		dm, err := n.client.NewDMap(name)
		if err != nil {
			t.Fatalf("NewDMap: %v", err)
		}
		out = append(out, dm)
	}
	return out
}
