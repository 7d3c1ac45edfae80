package olricstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/olric-data/olric"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// Key layout of the shard log in the DMap (every key under "L|"):
//
//	L|<shard>|<epoch>|w                    writers index: the writers of (shard, epoch), one per line
//	L|<shard>|<epoch>|w#lock               Olric lock serializing updates of the index
//	L|<shard>|<epoch>|<writer>|lo          floor: every seq below it is deleted (absent: 1)
//	L|<shard>|<epoch>|<writer>|<seq>       segment (inline data, a chunk manifest, or a tombstone)
//	L|<shard>|snap                         the shard's snapshot (header + inline data or manifest)
//	L|c|<nonce>|<i>                        chunk i of a large segment or snapshot
//
// <writer> is URL query-escaped, so "|" cannot occur in it. ListSegments
// reads the index, then per writer probes seqs from the floor up with Gets
// until the first absent seq: no Scan. DeleteSegments keeps that walk
// correct: it raises the floor over the deleted prefix before deleting
// those keys, and replaces a segment deleted out of order (a hole) by a
// tiny tombstone that the walk steps over.
const logPrefix = "L|"

const (
	kindInline    byte = 1
	kindChunked   byte = 2
	kindTombstone byte = 3
)

// maxKeyLen is Olric's key limit.
const maxKeyLen = 256

// LogStore is the jobs.LogStore on Olric. See the key layout above.
type LogStore struct {
	dm        olric.DMap
	chunkSize int

	mu         sync.Mutex
	registered map[string]*registration // writers known to be in their index, by index key + writer
}

var _ jobs.LogStore = (*LogStore)(nil)

func newLogStore(dm olric.DMap, tableSize uint64) *LogStore {
	return &LogStore{dm: dm, chunkSize: int(tableSize / 4), registered: make(map[string]*registration)}
}

func shardEpochPrefix(shard int, epoch uint64) string {
	return logPrefix + strconv.Itoa(shard) + "|" + strconv.FormatUint(epoch, 10) + "|"
}

func indexKey(shard int, epoch uint64) string { return shardEpochPrefix(shard, epoch) + "w" }

func writerPrefix(shard int, epoch uint64, writer string) string {
	return shardEpochPrefix(shard, epoch) + url.QueryEscape(writer) + "|"
}

func floorKey(shard int, epoch uint64, writer string) string {
	return writerPrefix(shard, epoch, writer) + "lo"
}

func segKey(k jobs.SegmentKey) string {
	return writerPrefix(k.Shard, k.Epoch, k.Writer) + strconv.FormatUint(k.Seq, 10)
}

func snapKey(shard int) string { return logPrefix + strconv.Itoa(shard) + "|snap" }

func chunkKey(nonce []byte, i int) string {
	return logPrefix + "c|" + hex.EncodeToString(nonce) + "|" + strconv.Itoa(i)
}

func checkKey(k jobs.SegmentKey) error {
	switch {
	case k.Shard < 0:
		return fmt.Errorf("olricstore: segment %+v: negative shard", k)
	case k.Writer == "":
		return fmt.Errorf("olricstore: segment %+v: empty writer", k)
	case k.Seq == 0:
		return fmt.Errorf("olricstore: segment %+v: Seq starts at 1", k)
	case len(segKey(k))+8 > maxKeyLen:
		return fmt.Errorf("olricstore: segment %+v: writer name too long for a %d-byte Olric key", k, maxKeyLen)
	}
	return nil
}

// get returns a key's value, (nil, false, nil) if absent.
func get(ctx context.Context, dm olric.DMap, key string) ([]byte, bool, error) {
	r, err := dm.Get(ctx, key)
	if errors.Is(err, olric.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("olricstore: get %q: %w", key, err)
	}
	b, err := r.Byte()
	if err != nil {
		return nil, false, fmt.Errorf("olricstore: get %q: %w", key, err)
	}
	// On the key's owner, Olric returns a slice of its own storage table:
	// writing to it would change the stored value. Copy.
	return append([]byte(nil), b...), true, nil
}

// blob encoding: kind, then for kindInline the data, for kindChunked a
// manifest: nonce[16] total[8] chunks[4] crc32[4].

const manifestLen = 16 + 8 + 4 + 4

// writeBlob returns the head value for data (with header prepended to the
// payload part), writing chunks first if data is large. cleanup deletes
// the chunks it wrote (for a head that could not be written).
func (s *LogStore) writeBlob(ctx context.Context, header, data []byte) (head []byte, cleanup func(), err error) {
	if len(data) <= s.chunkSize {
		head = make([]byte, 0, 1+len(header)+len(data))
		head = append(append(append(head, kindInline), header...), data...)
		return head, func() {}, nil
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	n := (len(data) + s.chunkSize - 1) / s.chunkSize
	cleanup = func() {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = chunkKey(nonce, i)
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = s.dm.Delete(dctx, keys...)
	}
	for i := range n {
		part := data[i*s.chunkSize : min(len(data), (i+1)*s.chunkSize)]
		if err := s.dm.Put(ctx, chunkKey(nonce, i), part); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("olricstore: put chunk %d/%d: %w", i, n, err)
		}
	}
	head = append([]byte{kindChunked}, header...)
	head = append(head, nonce...)
	head = binary.BigEndian.AppendUint64(head, uint64(len(data)))
	head = binary.BigEndian.AppendUint32(head, uint32(n))
	head = binary.BigEndian.AppendUint32(head, crc32.ChecksumIEEE(data))
	return head, cleanup, nil
}

// readBlob decodes a head value written by writeBlob (header already
// removed from rest), reading chunks if needed.
func (s *LogStore) readBlob(ctx context.Context, kind byte, rest []byte) ([]byte, error) {
	switch kind {
	case kindInline:
		return rest, nil
	case kindChunked:
		nonce, total, n, sum, err := parseManifest(rest)
		if err != nil {
			return nil, err
		}
		data := make([]byte, 0, total)
		for i := range n {
			part, ok, err := get(ctx, s.dm, chunkKey(nonce, i))
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("olricstore: chunk %d/%d of a large value is missing (lost with a member, or replaced concurrently)", i, n)
			}
			data = append(data, part...)
		}
		if uint64(len(data)) != total || crc32.ChecksumIEEE(data) != sum {
			return nil, fmt.Errorf("olricstore: large value corrupt: %d bytes, want %d, or checksum mismatch", len(data), total)
		}
		return data, nil
	}
	return nil, fmt.Errorf("olricstore: unknown value kind %d", kind)
}

func parseManifest(b []byte) (nonce []byte, total uint64, n int, sum uint32, err error) {
	if len(b) != manifestLen {
		return nil, 0, 0, 0, fmt.Errorf("olricstore: bad chunk manifest of %d bytes", len(b))
	}
	return b[:16], binary.BigEndian.Uint64(b[16:24]), int(binary.BigEndian.Uint32(b[24:28])), binary.BigEndian.Uint32(b[28:32]), nil
}

// chunkKeysOf lists the chunk keys a head value refers to (none if inline).
func chunkKeysOf(kind byte, rest []byte) []string {
	if kind != kindChunked {
		return nil
	}
	nonce, _, n, _, err := parseManifest(rest)
	if err != nil {
		return nil
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = chunkKey(nonce, i)
	}
	return keys
}

// register makes sure writer is in the index of (shard, epoch) before its
// first segment is written, so that ListSegments never misses a segment.
func (s *LogStore) register(ctx context.Context, shard int, epoch uint64, writer string) error {
	ik := indexKey(shard, epoch)
	id := ik + "\n" + writer
	s.mu.Lock()
	r, ok := s.registered[id]
	if !ok {
		r = &registration{}
		s.registered[id] = r
	}
	s.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	if err := s.addToIndex(ctx, ik, writer); err != nil {
		return err
	}
	r.done = true
	return nil
}

type registration struct {
	mu   sync.Mutex
	done bool
}

func (s *LogStore) addToIndex(ctx context.Context, ik, writer string) error {
	// Fast path: already listed (a restarted writer, another store instance).
	if cur, _, err := get(ctx, s.dm, ik); err == nil && slices.Contains(splitIndex(cur), writer) {
		return nil
	}
	lc, err := s.dm.LockWithTimeout(ctx, ik+"#lock", 10*time.Second, 10*time.Second)
	if err != nil {
		return fmt.Errorf("olricstore: lock writers index %q: %w", ik, err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = lc.Unlock(uctx)
	}()
	cur, _, err := get(ctx, s.dm, ik)
	if err != nil {
		return err
	}
	ws := splitIndex(cur)
	if slices.Contains(ws, writer) {
		return nil
	}
	ws = append(ws, writer)
	slices.Sort(ws)
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(url.QueryEscape(w))
		b.WriteByte('\n')
	}
	if err := s.dm.Put(ctx, ik, []byte(b.String())); err != nil {
		return fmt.Errorf("olricstore: put writers index %q: %w", ik, err)
	}
	return nil
}

func splitIndex(b []byte) []string {
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "" {
			continue
		}
		if w, err := url.QueryUnescape(line); err == nil {
			out = append(out, w)
		}
	}
	return out
}

// AppendSegment implements jobs.LogStore. The segment is written with
// Olric's NX (only if absent) on the key's primary owner and replicated
// synchronously before it returns.
func (s *LogStore) AppendSegment(ctx context.Context, key jobs.SegmentKey, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.register(ctx, key.Shard, key.Epoch, key.Writer); err != nil {
		return err
	}
	head, cleanup, err := s.writeBlob(ctx, nil, data)
	if err != nil {
		return err
	}
	err = s.dm.Put(ctx, segKey(key), head, olric.NX())
	if errors.Is(err, olric.ErrKeyFound) {
		cleanup()
		return fmt.Errorf("olricstore: append segment %+v: %w", key, jobs.ErrSegmentExists)
	}
	if err != nil {
		cleanup()
		return fmt.Errorf("olricstore: append segment %+v: %w", key, err)
	}
	return nil
}

// floor reads the first seq of (shard, epoch, writer) that may exist.
func (s *LogStore) floor(ctx context.Context, shard int, epoch uint64, writer string) (uint64, error) {
	b, ok, err := get(ctx, s.dm, floorKey(shard, epoch, writer))
	if err != nil || !ok {
		return 1, err
	}
	lo, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil || lo == 0 {
		return 1, fmt.Errorf("olricstore: bad floor %q for shard %d epoch %d writer %s", b, shard, epoch, writer)
	}
	return lo, nil
}

// ListSegments implements jobs.LogStore: it reads the writers index and
// probes each writer's seqs from its floor up to the first absent one.
func (s *LogStore) ListSegments(ctx context.Context, shard int, epoch uint64) ([]jobs.SegmentKey, error) {
	idx, _, err := get(ctx, s.dm, indexKey(shard, epoch))
	if err != nil {
		return nil, err
	}
	writers := splitIndex(idx)
	slices.Sort(writers)
	var out []jobs.SegmentKey
	for _, w := range writers {
		lo, err := s.floor(ctx, shard, epoch, w)
		if err != nil {
			return nil, err
		}
		for seq := lo; ; seq++ {
			k := jobs.SegmentKey{Shard: shard, Epoch: epoch, Writer: w, Seq: seq}
			v, ok, err := get(ctx, s.dm, segKey(k))
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			if len(v) > 0 && v[0] == kindTombstone {
				continue
			}
			out = append(out, k)
		}
	}
	return out, nil
}

// ReadSegment implements jobs.LogStore.
func (s *LogStore) ReadSegment(ctx context.Context, key jobs.SegmentKey) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	v, ok, err := get(ctx, s.dm, segKey(key))
	if err != nil {
		return nil, err
	}
	if !ok || len(v) == 0 || v[0] == kindTombstone {
		return nil, fmt.Errorf("olricstore: read segment %+v: %w", key, jobs.ErrNotFound)
	}
	lo, err := s.floor(ctx, key.Shard, key.Epoch, key.Writer)
	if err != nil {
		return nil, err
	}
	if key.Seq < lo { // logically deleted, physically not yet
		return nil, fmt.Errorf("olricstore: read segment %+v: %w", key, jobs.ErrNotFound)
	}
	data, err := s.readBlob(ctx, v[0], v[1:])
	if err != nil {
		return nil, fmt.Errorf("olricstore: read segment %+v: %w", key, err)
	}
	return data, nil
}

// DeleteSegments implements jobs.LogStore. Per (shard, epoch, writer) it
// raises the floor over the deleted prefix first, then deletes; a segment
// deleted out of order becomes a tombstone until the prefix reaches it.
func (s *LogStore) DeleteSegments(ctx context.Context, keys []jobs.SegmentKey) error {
	type group struct {
		shard  int
		epoch  uint64
		writer string
	}
	groups := make(map[group]map[uint64]bool)
	for _, k := range keys {
		if checkKey(k) != nil {
			continue // cannot exist
		}
		g := group{k.Shard, k.Epoch, k.Writer}
		if groups[g] == nil {
			groups[g] = make(map[uint64]bool)
		}
		groups[g][k.Seq] = true
	}
	for g, seqs := range groups {
		if err := s.deleteGroup(ctx, g.shard, g.epoch, g.writer, seqs); err != nil {
			return err
		}
	}
	return nil
}

func (s *LogStore) deleteGroup(ctx context.Context, shard int, epoch uint64, writer string, seqs map[uint64]bool) error {
	lo, err := s.floor(ctx, shard, epoch, writer)
	if err != nil {
		return err
	}
	heads := make(map[uint64][]byte) // present segments among seqs >= lo, and tombstones passed
	for seq := range seqs {
		if seq < lo {
			continue
		}
		v, ok, err := get(ctx, s.dm, segKey(jobs.SegmentKey{Shard: shard, Epoch: epoch, Writer: writer, Seq: seq}))
		if err != nil {
			return err
		}
		if ok && len(v) > 0 {
			heads[seq] = v
		}
	}
	// The new floor: step over deleted segments and tombstones from lo.
	newLo := lo
	for {
		if _, ok := heads[newLo]; ok {
			newLo++
			continue
		}
		if seqs[newLo] {
			break // asked to delete but absent: the end, or never written
		}
		v, ok, err := get(ctx, s.dm, segKey(jobs.SegmentKey{Shard: shard, Epoch: epoch, Writer: writer, Seq: newLo}))
		if err != nil {
			return err
		}
		if !ok || len(v) == 0 || v[0] != kindTombstone {
			break
		}
		heads[newLo] = v
		newLo++
	}
	if newLo > lo {
		if err := s.dm.Put(ctx, floorKey(shard, epoch, writer), []byte(strconv.FormatUint(newLo, 10))); err != nil {
			return fmt.Errorf("olricstore: raise floor of shard %d epoch %d writer %s: %w", shard, epoch, writer, err)
		}
	}
	var drop, chunks []string
	for seq, v := range heads {
		k := segKey(jobs.SegmentKey{Shard: shard, Epoch: epoch, Writer: writer, Seq: seq})
		chunks = append(chunks, chunkKeysOf(v[0], v[1:])...)
		if seq < newLo {
			drop = append(drop, k)
		} else if v[0] != kindTombstone {
			if err := s.dm.Put(ctx, k, []byte{kindTombstone}); err != nil {
				return fmt.Errorf("olricstore: tombstone %s: %w", k, err)
			}
		}
	}
	// Heads first, then chunks: a crash in between leaves unreachable
	// chunks (garbage), never a head without its chunks.
	for _, batch := range [][]string{drop, chunks} {
		if len(batch) == 0 {
			continue
		}
		if _, err := s.dm.Delete(ctx, batch...); err != nil {
			return fmt.Errorf("olricstore: delete %d keys: %w", len(batch), err)
		}
	}
	return nil
}

// snapshot header: epoch[8] seq[8] writerLen[2] writer

func snapHeader(snap jobs.Snapshot) []byte {
	h := binary.BigEndian.AppendUint64(nil, snap.Epoch)
	h = binary.BigEndian.AppendUint64(h, snap.Seq)
	h = binary.BigEndian.AppendUint16(h, uint16(len(snap.Writer)))
	return append(h, snap.Writer...)
}

func parseSnapHead(v []byte) (kind byte, snap jobs.Snapshot, rest []byte, err error) {
	if len(v) < 1+18 {
		return 0, snap, nil, fmt.Errorf("olricstore: snapshot head too short (%d bytes)", len(v))
	}
	kind = v[0]
	snap.Epoch = binary.BigEndian.Uint64(v[1:9])
	snap.Seq = binary.BigEndian.Uint64(v[9:17])
	wl := int(binary.BigEndian.Uint16(v[17:19]))
	if len(v) < 19+wl {
		return 0, snap, nil, fmt.Errorf("olricstore: snapshot head truncated")
	}
	snap.Writer = string(v[19 : 19+wl])
	return kind, snap, v[19+wl:], nil
}

// PutSnapshot implements jobs.LogStore. A large snapshot's chunks are
// written under a new nonce before the head is replaced, and the previous
// snapshot's chunks are deleted after.
func (s *LogStore) PutSnapshot(ctx context.Context, snap jobs.Snapshot) error {
	if snap.Shard < 0 || len(snap.Writer) > 1024 {
		return fmt.Errorf("olricstore: snapshot of shard %d: bad shard or writer", snap.Shard)
	}
	key := snapKey(snap.Shard)
	old, hadOld, err := get(ctx, s.dm, key)
	if err != nil {
		return err
	}
	head, cleanup, err := s.writeBlob(ctx, snapHeader(snap), snap.Data)
	if err != nil {
		return err
	}
	if err := s.dm.Put(ctx, key, head); err != nil {
		cleanup()
		return fmt.Errorf("olricstore: put snapshot of shard %d: %w", snap.Shard, err)
	}
	if hadOld {
		if kind, _, rest, err := parseSnapHead(old); err == nil {
			if ks := chunkKeysOf(kind, rest); len(ks) > 0 {
				_, _ = s.dm.Delete(ctx, ks...)
			}
		}
	}
	return nil
}

// ReadSnapshot implements jobs.LogStore.
func (s *LogStore) ReadSnapshot(ctx context.Context, shard int) (jobs.Snapshot, error) {
	for attempt := 0; ; attempt++ {
		v, ok, err := get(ctx, s.dm, snapKey(shard))
		if err != nil {
			return jobs.Snapshot{}, err
		}
		if !ok {
			return jobs.Snapshot{}, fmt.Errorf("olricstore: snapshot of shard %d: %w", shard, jobs.ErrNotFound)
		}
		kind, snap, rest, err := parseSnapHead(v)
		if err != nil {
			return jobs.Snapshot{}, err
		}
		snap.Shard = shard
		snap.Data, err = s.readBlob(ctx, kind, rest)
		if err != nil {
			if attempt < 2 { // replaced while we read its chunks: read the new one
				continue
			}
			return jobs.Snapshot{}, fmt.Errorf("olricstore: snapshot of shard %d: %w", shard, err)
		}
		return snap, nil
	}
}
