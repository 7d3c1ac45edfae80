package jobs

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"

	"github.com/cespare/xxhash/v2"
)

// IDLen is the length of a job ID: 32 lowercase hex characters (128 bits).
const IDLen = 32

// shardPrefixLen is how many leading characters of an ID choose its shard.
const shardPrefixLen = 16

// NewID returns a new random job ID: 32 lowercase hex characters from
// crypto/rand.
func NewID() string {
	var b [IDLen / 2]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand.Read aborts the program instead)
	return hex.EncodeToString(b[:])
}

// UniqueID returns a job ID for a job with a unique key. Its first 16 hex
// characters are a hash of (queue, typ, uniqueKey), so every job with the same
// key lands in the same shard, whose owner alone then decides whether the key
// is free; the last 16 are random, so the IDs of successive jobs with one key
// differ.
func UniqueID(queue, typ, uniqueKey string) string {
	var b [IDLen / 2]byte
	binary.BigEndian.PutUint64(b[:8], uniqueHash(queue, typ, uniqueKey))
	_, _ = rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

// uniquePrefix is the first 16 characters of every UniqueID for the key.
func uniquePrefix(queue, typ, uniqueKey string) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uniqueHash(queue, typ, uniqueKey))
	return hex.EncodeToString(b[:])
}

func uniqueHash(queue, typ, uniqueKey string) uint64 {
	d := xxhash.New()
	// Separators keep ("ab","c") and ("a","bc") apart; none of the three
	// may contain a NUL byte once validated.
	_, _ = d.WriteString(queue)
	_, _ = d.WriteString("\x00")
	_, _ = d.WriteString(typ)
	_, _ = d.WriteString("\x00")
	_, _ = d.WriteString(uniqueKey)
	return d.Sum64()
}

// ShardOf returns the shard, in [0, shards), of a job ID: xxhash of its
// first 16 characters (of the whole ID if shorter) modulo shards. It returns
// 0 when shards < 1.
func ShardOf(id string, shards int) int {
	if shards < 1 {
		return 0
	}
	if len(id) > shardPrefixLen {
		id = id[:shardPrefixLen]
	}
	return int(xxhash.Sum64String(id) % uint64(shards))
}

// ValidID reports whether id has the form of a job ID: exactly 32 lowercase
// hex characters.
func ValidID(id string) bool {
	if len(id) != IDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
