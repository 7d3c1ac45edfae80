package jobs

import (
	"testing"
	"time"
)

func TestAdoptKeepsTheFurtherVersion(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewShard(0, DefaultShardConfig())
	j := Job{ID: NewID(), Type: "t", Queue: "q", MaxAttempts: 3, State: StateQueued, CreatedAt: now, UpdatedAt: now}
	if _, err := s.Enqueue(j, now); err != nil {
		t.Fatal(err)
	}
	running, _, err := s.Start(j.ID, "n1#a", now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// A fresh shard loaded from an older log: the job is queued there.
	loaded := NewShard(0, DefaultShardConfig())
	if _, err := loaded.Enqueue(j, now); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		offer   Job
		changed bool
		want    State
	}{
		{"running beats queued and stays running", running, true, StateRunning},
		{"the same version again changes nothing", running, false, StateRunning},
		{"an older queued version loses", j, false, StateRunning},
	}
	for _, c := range cases {
		if _, changed := loaded.Adopt(c.offer); changed != c.changed {
			t.Fatalf("%s: changed %v, want %v", c.name, changed, c.changed)
		}
		got, _ := loaded.Get(j.ID)
		if got.State != c.want {
			t.Fatalf("%s: state %s, want %s", c.name, got.State, c.want)
		}
	}
	if len(loaded.Running()) != 1 {
		t.Fatalf("running index not updated: %v", loaded.Running())
	}
	// An unknown job is taken as is.
	other := Job{ID: NewID(), Type: "t", Queue: "q", MaxAttempts: 3, State: StateSucceeded, CreatedAt: now, UpdatedAt: now, FinishedAt: now}
	if _, changed := loaded.Adopt(other); !changed || loaded.Len() != 2 {
		t.Fatalf("unknown job not adopted")
	}
}
