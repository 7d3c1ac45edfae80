package olricstore

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"
)

func TestStartPortInUse(t *testing.T) {
	cfg := testConfig(t)
	l, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Start(t.Context(), cfg)
	if !errors.Is(err, ErrPortInUse) {
		t.Fatalf("Start on a taken port = %v, want ErrPortInUse", err)
	}
	t.Log(err)
}

func TestStartPeerWithOtherSecret(t *testing.T) {
	a := testConfig(t)
	a.Secret = "one secret"
	na := startNode(t, a)
	b := testConfig(t, na.MemberlistAddr())
	b.Secret = "another secret"
	b.JoinTimeout = time.Second
	_, err := Start(t.Context(), b)
	if !errors.Is(err, ErrSecretMismatch) {
		t.Fatalf("Start with another secret = %v, want ErrSecretMismatch", err)
	}
	t.Log(err)
	// The right secret joins.
	c := testConfig(t, na.MemberlistAddr())
	c.Secret = "one secret"
	nc := startNode(t, c)
	waitMembers(t, []*Node{na, nc}, 2)
}

func TestStartNoPeerAnswers(t *testing.T) {
	dead := testConfig(t) // nobody listens there
	cfg := testConfig(t, memberlistAddr(dead))
	cfg.JoinTimeout = 500 * time.Millisecond
	_, err := Start(t.Context(), cfg)
	if !errors.Is(err, ErrJoinFailed) {
		t.Fatalf("Start with an unreachable peer = %v, want ErrJoinFailed", err)
	}
	t.Log(err)
	cfg.FormAloneIfJoinFails = true
	n := startNode(t, cfg)
	if ms, _ := n.Members(t.Context()); len(ms) != 1 {
		t.Fatalf("formed alone with %d members", len(ms))
	}
}

func memberlistAddr(c Config) string {
	return net.JoinHostPort(c.BindAddr, strconv.Itoa(c.MemberlistPort))
}

func TestMembersClusterIDShutdown(t *testing.T) {
	nodes := startCluster(t, 3)
	ids := map[string]bool{}
	for _, n := range nodes {
		ms, err := n.Members(t.Context())
		if err != nil || len(ms) != 3 {
			t.Fatalf("Members = %v, %v", ms, err)
		}
		coords := 0
		for _, m := range ms {
			if m.Coordinator {
				coords++
			}
		}
		if coords != 1 || !ms[0].Coordinator {
			t.Fatalf("want exactly one coordinator, the oldest: %+v", ms)
		}
		id, err := n.ClusterID(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	if len(ids) != 1 {
		t.Fatalf("members of one cluster see different cluster IDs: %v", ids)
	}
	// A node that formed its own cluster has another identity.
	alone := startNode(t, testConfig(t))
	other, _ := alone.ClusterID(t.Context())
	if ids[other] {
		t.Fatalf("two clusters share the ID %s", other)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nodes[2].Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := nodes[2].Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if _, err := nodes[2].Members(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Members after Shutdown = %v, want ErrClosed", err)
	}
	waitMembers(t, nodes[:2], 2)
}

func TestKV(t *testing.T) {
	nodes := startCluster(t, 2)
	ctx := t.Context()
	a, b := nodes[0].KV(), nodes[1].KV()
	if err := a.Put(ctx, "node/n1", []byte("draining"), 0); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "node/n1"); err != nil || string(v) != "draining" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if err := b.Delete(ctx, "node/n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "node/n1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := a.Delete(ctx, "never"); err != nil {
		t.Fatalf("Delete of an absent key: %v", err)
	}
	if err := a.Put(ctx, "hb/n1", []byte("x"), 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := b.Get(ctx, "hb/n1"); errors.Is(err, ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a record with a 100ms TTL still there after 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Take turns: b waits for a's unlock.
	h, err := a.Lock(ctx, "leave", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = b.Lock(short, "leave", 10*time.Second)
	cancel()
	if err == nil {
		t.Fatalf("second Lock succeeded while the first is held")
	}
	got := make(chan error, 1)
	go func() {
		h2, err := b.Lock(ctx, "leave", 10*time.Second)
		if err == nil {
			err = b.Unlock(ctx, h2)
		}
		got <- err
	}()
	if err := a.Unlock(ctx, h); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("waiting Lock: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("waiting Lock did not get the lock after Unlock")
	}
	if err := a.Unlock(ctx, h); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
}
