// Command measure takes the figures written in olricstore's package doc:
// memory, AppendSegment throughput, and the time from a kill -9 of one of
// three nodes until writes and lease acquires succeed again everywhere.
//
//	go run ./pkg/cluster/olricstore/internal/measure rss             # tuned settings
//	go run ./pkg/cluster/olricstore/internal/measure rss -defaults   # Olric's defaults
//	go run ./pkg/cluster/olricstore/internal/measure throughput
//	go run ./pkg/cluster/olricstore/internal/measure failover -trials 5
//
// It listens on 127.0.10.200-209 (olricstore's loopback block). Use a
// built binary (go build -o /tmp/measure ...) for the failover run: it
// starts copies of itself as the other nodes.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/rs/zerolog"

	"github.com/shoal-dev/shoal/pkg/cluster/olricstore"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: measure rss|throughput|failover|node [flags]")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "rss":
		err = rss(args)
	case "throughput":
		err = throughput(args)
	case "failover":
		err = failover(args)
	case "node":
		err = node(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
}

type common struct {
	defaults   bool
	partitions uint64
	tableSize  uint64
	verbose    bool
}

func (c *common) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.defaults, "defaults", false, "use Olric's own defaults (271 partitions, 1 MiB tables, 10 min compaction)")
	fs.Uint64Var(&c.partitions, "partitions", 0, "partition count (0: olricstore default)")
	fs.Uint64Var(&c.tableSize, "table", 0, "table size in bytes (0: olricstore default)")
	fs.BoolVar(&c.verbose, "v", false, "log Olric's warnings")
}

func (c *common) config(i int, peers ...string) olricstore.Config {
	cfg := olricstore.DefaultConfig()
	cfg.Name = fmt.Sprintf("m%d", i)
	cfg.BindAddr = fmt.Sprintf("127.0.10.%d", 200+i)
	cfg.Peers = peers
	if c.defaults {
		cfg.PartitionCount = 271
		cfg.TableSize = 1 << 20
		cfg.CompactionInterval = 10 * time.Minute
	}
	if c.partitions > 0 {
		cfg.PartitionCount = c.partitions
	}
	if c.tableSize > 0 {
		cfg.TableSize = c.tableSize
	}
	if c.verbose {
		cfg.Logger = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel)
	}
	return cfg
}

func mlAddr(cfg olricstore.Config) string {
	return fmt.Sprintf("%s:%d", cfg.BindAddr, cfg.MemberlistPort)
}

func start(cfg olricstore.Config) (*olricstore.Node, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return olricstore.Start(ctx, cfg)
}

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

func settle() float64 {
	for range 3 {
		runtime.GC()
		debug.FreeOSMemory()
		time.Sleep(500 * time.Millisecond)
	}
	return rssMB()
}

// segment returns a segment of n records of about 150 bytes each.
func segment(rng *rand.Rand, n int) []byte {
	var b []byte
	for i := range n {
		b = fmt.Appendf(b, `{"id":"%016x%016x","type":"sleep","queue":"default","state":"queued","attempt":0,"payload":{"ms":200},"i":%d}`+"\n", rng.Uint64(), rng.Uint64(), i)
	}
	return b
}

func rss(args []string) error {
	fs := flag.NewFlagSet("rss", flag.ExitOnError)
	var c common
	c.flags(fs)
	segs := fs.Int("segments", 500, "segments to write")
	recs := fs.Int("records", 200, "records per segment")
	nodes := fs.Int("nodes", 1, "nodes in this process")
	fs.Parse(args)

	base := settle()
	var ns []*olricstore.Node
	for i := range *nodes {
		var peers []string
		if i > 0 {
			peers = []string{mlAddr(c.config(0))}
		}
		n, err := start(c.config(i, peers...))
		if err != nil {
			return err
		}
		defer n.Shutdown(context.Background())
		ns = append(ns, n)
	}
	time.Sleep(2 * time.Second)
	idle := settle()
	cfg := c.config(0)
	fmt.Printf("settings: nodes=%d partitions=%d tableSize=%d\n", *nodes, cfg.PartitionCount, cfg.TableSize)
	fmt.Printf("RSS before start: %.1f MB; idle with Olric: %.1f MB\n", base, idle)

	ctx := context.Background()
	store := ns[0].LogStore()
	rng := rand.New(rand.NewPCG(1, 2))
	var bytes int
	t0 := time.Now()
	for i := range *segs {
		data := segment(rng, *recs)
		bytes += len(data)
		k := jobs.SegmentKey{Shard: i % 256, Epoch: 1, Writer: "m0", Seq: uint64(i/256 + 1)}
		if err := store.AppendSegment(ctx, k, data); err != nil {
			return err
		}
	}
	el := time.Since(t0)
	after := settle()
	fmt.Printf("wrote %d segments x %d records = %d records, %.1f MB in %s\n", *segs, *recs, *segs**recs, float64(bytes)/1e6, el.Round(time.Millisecond))
	fmt.Printf("RSS after writing: %.1f MB (+%.1f MB over idle)\n", after, after-idle)
	return nil
}

func throughput(args []string) error {
	fs := flag.NewFlagSet("throughput", flag.ExitOnError)
	var c common
	c.flags(fs)
	writers := fs.Int("writers", 16, "concurrent writers (one shard each)")
	recs := fs.Int("records", 200, "records per segment")
	dur := fs.Duration("duration", 10*time.Second, "how long to write")
	nodes := fs.Int("nodes", 3, "nodes in this process")
	fs.Parse(args)

	var ns []*olricstore.Node
	for i := range *nodes {
		var peers []string
		if i > 0 {
			peers = []string{mlAddr(c.config(0))}
		}
		n, err := start(c.config(i, peers...))
		if err != nil {
			return err
		}
		defer n.Shutdown(context.Background())
		ns = append(ns, n)
	}
	for {
		ms, _ := ns[0].Members(context.Background())
		if len(ms) == *nodes {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	data := segment(rand.New(rand.NewPCG(3, 4)), *recs)
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var count atomic.Int64
	var lat sync.Mutex
	var worst time.Duration
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range *writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			store := ns[w%len(ns)].LogStore() // each node writes its shards
			for seq := uint64(1); ctx.Err() == nil; seq++ {
				s := time.Now()
				err := store.AppendSegment(ctx, jobs.SegmentKey{Shard: w, Epoch: 1, Writer: fmt.Sprintf("m%d", w%len(ns)), Seq: seq}, data)
				if err != nil {
					if ctx.Err() == nil {
						fmt.Fprintln(os.Stderr, "append:", err)
					}
					return
				}
				d := time.Since(s)
				lat.Lock()
				worst = max(worst, d)
				lat.Unlock()
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0).Seconds()
	n := float64(count.Load())
	cfg := c.config(0)
	fmt.Printf("settings: nodes=%d replicas=%d partitions=%d tableSize=%d writers=%d segment=%d records, %d bytes\n",
		*nodes, cfg.ReplicaCount, cfg.PartitionCount, cfg.TableSize, *writers, *recs, len(data))
	fmt.Printf("AppendSegment: %.0f segments/s = %.0f records/s = %.1f MB/s (worst latency %s)\n",
		n/el, n*float64(*recs)/el, n*float64(len(data))/el/1e6, worst.Round(time.Millisecond))
	fmt.Printf("RSS (all %d nodes in this process): %.1f MB\n", *nodes, settle())
	return nil
}

// node runs one node as a child process of failover.
func node(args []string) error {
	fs := flag.NewFlagSet("node", flag.ExitOnError)
	var c common
	c.flags(fs)
	i := fs.Int("i", 1, "node index")
	peer := fs.String("peer", "", "memberlist address to join")
	fs.Parse(args)
	n, err := start(c.config(*i, *peer))
	if err != nil {
		return err
	}
	fmt.Println("READY", n.Addr())
	select {} // until killed
}

func failover(args []string) error {
	fs := flag.NewFlagSet("failover", flag.ExitOnError)
	var c common
	c.flags(fs)
	trials := fs.Int("trials", 3, "kill -9 trials")
	fs.Parse(args)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	obsCfg := c.config(0)
	obs, err := start(obsCfg)
	if err != nil {
		return err
	}
	defer obs.Shutdown(context.Background())

	spawn := func(i int) (*exec.Cmd, error) {
		argv := []string{"node", "-i", strconv.Itoa(i), "-peer", mlAddr(obsCfg)}
		if c.defaults {
			argv = append(argv, "-defaults")
		}
		cmd := exec.Command(self, argv...)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "READY") {
			cmd.Process.Kill()
			return nil, fmt.Errorf("node %d did not start: %q %v", i, line, err)
		}
		return cmd, nil
	}
	waitMembers := func(want int) time.Time {
		for {
			ms, _ := obs.Members(context.Background())
			if len(ms) == want {
				return time.Now()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Probe keys: one KV key and one lease shard per partition.
	parts := obsCfg.PartitionCount
	kvKeys := make([]string, parts)
	leaseShards := make([]int, parts)
	for i, found := 0, uint64(0); found < parts; i++ {
		k := "probe/" + strconv.Itoa(i)
		p := xxhash.Sum64String("shoal"+"K|"+k) % parts
		if kvKeys[p] == "" {
			kvKeys[p] = k
			found++
		}
	}
	for s, found := 100000, uint64(0); found < parts; s++ {
		p := xxhash.Sum64String("shoal"+"S|"+strconv.Itoa(s)) % parts
		if leaseShards[p] == 0 {
			leaseShards[p] = s
			found++
		}
	}

	b, err := spawn(1)
	if err != nil {
		return err
	}
	defer b.Process.Kill()
	victim, err := spawn(2)
	if err != nil {
		return err
	}
	fmt.Printf("settings: partitions=%d timing=%+v\n", parts, obsCfg.Timing)
	for trial := 1; trial <= *trials; trial++ {
		waitMembers(3)
		time.Sleep(3 * time.Second) // let the routing table settle
		// Warm: every probe works before the kill.
		ctx := context.Background()
		for _, k := range kvKeys {
			if err := obs.KV().Put(ctx, k, []byte("x"), 0); err != nil {
				return fmt.Errorf("probe before kill: %w", err)
			}
		}
		kill := time.Now()
		victim.Process.Signal(syscall.SIGKILL)
		victim.Wait()
		var detected time.Time
		putsOK, leasesOK := time.Time{}, time.Time{}
		pendingKV := map[int]bool{}
		pendingLease := map[int]bool{}
		for i := range kvKeys {
			pendingKV[i] = true
			pendingLease[i] = true
		}
		failures := 0
		for (putsOK.IsZero() || leasesOK.IsZero()) && time.Since(kill) < 30*time.Second {
			if detected.IsZero() {
				if ms, _ := obs.Members(ctx); len(ms) == 2 {
					detected = time.Now()
				}
			}
			for i := range pendingKV {
				pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				err := obs.KV().Put(pctx, kvKeys[i], []byte("y"), 0)
				cancel()
				if err == nil {
					delete(pendingKV, i)
				} else {
					failures++
				}
			}
			if len(pendingKV) == 0 && putsOK.IsZero() {
				putsOK = time.Now()
			}
			for i := range pendingLease {
				pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				l, err := obs.Leases().Acquire(pctx, leaseShards[i], "m0", 2*time.Second)
				cancel()
				if err == nil {
					delete(pendingLease, i)
					_ = obs.Leases().Release(ctx, l)
				} else if c.verbose {
					fmt.Fprintf(os.Stderr, "%s lease probe %d: %v\n", time.Since(kill).Round(time.Millisecond), i, err)
				}
			}
			if len(pendingLease) == 0 && leasesOK.IsZero() {
				leasesOK = time.Now()
			}
			time.Sleep(10 * time.Millisecond)
		}
		for detected.IsZero() && time.Since(kill) < 30*time.Second {
			if ms, _ := obs.Members(ctx); len(ms) == 2 {
				detected = time.Now()
			}
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Printf("trial %d: kill -9 -> declared dead %s; every partition's Put OK %s; every partition's lease Acquire OK %s (%d failed puts meanwhile)\n",
			trial, detected.Sub(kill).Round(time.Millisecond), putsOK.Sub(kill).Round(time.Millisecond), leasesOK.Sub(kill).Round(time.Millisecond), failures)
		if trial < *trials {
			if victim, err = spawn(2); err != nil {
				return err
			}
		}
	}
	return nil
}
