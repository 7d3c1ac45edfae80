package jobs

import (
	"strings"
	"testing"
)

func TestNewID(t *testing.T) {
	seen := make(map[string]bool)
	for i := 0; i < 1000; i++ {
		id := NewID()
		if !ValidID(id) {
			t.Fatalf("NewID() = %q, not a valid ID", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestUniqueIDSameShard(t *testing.T) {
	a := UniqueID("default", "email", "user-42")
	b := UniqueID("default", "email", "user-42")
	if !ValidID(a) || !ValidID(b) {
		t.Fatalf("invalid unique IDs %q %q", a, b)
	}
	if a == b {
		t.Fatalf("two UniqueIDs for one key are equal: %q", a)
	}
	if a[:16] != b[:16] || a[:16] != uniquePrefix("default", "email", "user-42") {
		t.Fatalf("prefixes differ: %q %q", a, b)
	}
	for _, shards := range []int{1, 7, 256, 271} {
		if ShardOf(a, shards) != ShardOf(b, shards) {
			t.Fatalf("same key, different shards at %d", shards)
		}
	}
	// The separators keep the three parts apart.
	if uniquePrefix("ab", "c", "d") == uniquePrefix("a", "bc", "d") {
		t.Fatal("(ab, c) and (a, bc) hash alike")
	}
	if uniquePrefix("q", "t", "k1") == uniquePrefix("q", "t", "k2") {
		t.Fatal("different keys hash alike")
	}
}

func TestShardOf(t *testing.T) {
	const shards = 64
	counts := make([]int, shards)
	for i := 0; i < 64000; i++ {
		s := ShardOf(NewID(), shards)
		if s < 0 || s >= shards {
			t.Fatalf("ShardOf out of range: %d", s)
		}
		counts[s]++
	}
	for s, n := range counts {
		if n < 700 || n > 1300 { // mean 1000
			t.Errorf("shard %d got %d of 64000 IDs: poor spread", s, n)
		}
	}
	id := NewID()
	if ShardOf(id, 100) != ShardOf(id[:16]+strings.Repeat("0", 16), 100) {
		t.Error("ShardOf depends on more than the first 16 characters")
	}
	if ShardOf("short", 10) != ShardOf("short", 10) || ShardOf("short", 10) >= 10 {
		t.Error("short IDs")
	}
	if ShardOf(id, 0) != 0 || ShardOf(id, -3) != 0 {
		t.Error("ShardOf with no shards should be 0")
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"0123456789abcdef0123456789abcdef", true},
		{"0123456789ABCDEF0123456789abcdef", false},
		{"0123456789abcdef0123456789abcde", false},
		{"0123456789abcdef0123456789abcdef0", false},
		{"0123456789abcdeg0123456789abcdef", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}
