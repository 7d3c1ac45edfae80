package jobs

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// The log's binary format.
//
// A segment is: version byte (1), kind byte ('R'), uvarint record count,
// the records. A snapshot is: version byte (1), kind byte ('S'), uvarint job
// count, the jobs. A record is its Op byte followed by a job (OpUpsert) or
// an ID (OpForget).
//
// A job is: ID; uvarint bit set of the optional fields present; Type and
// Queue (interned); state byte (1..6, or 0 followed by the state string);
// varint Attempt and MaxAttempts; CreatedAt; UpdatedAt; then the optional
// fields present, in bit order: Payload, Result, LastError, UniqueKey,
// UniqueTTL, Runner (interned), Timeout, Priority, RunAt, StartedAt,
// FinishedAt.
//
// An ID of 32 lowercase hex characters is a 0 byte and its 16 raw bytes;
// any other ID is uvarint(len+1) and its bytes. A string or byte slice is
// uvarint length and bytes. An interned string is uvarint 0 followed by the
// string (which joins the buffer's table while it has fewer than 32
// entries), or uvarint i >= 1 for the table's entry i-1. A time is uvarint 0
// for the zero time, or uvarint(nanoseconds+1) and varint seconds since the
// Unix epoch (CreatedAt) or since CreatedAt's second (the other times).
const (
	codecVersion   = 1
	kindRecords    = 'R'
	kindSnapshot   = 'S'
	internTableCap = 32
)

const (
	fPayload = 1 << iota
	fResult
	fLastError
	fUniqueKey
	fUniqueTTL
	fRunner
	fTimeout
	fPriority
	fRunAt
	fStartedAt
	fFinishedAt
	fAll = 1<<iota - 1
)

// ErrCorrupt is matched by every decoding error of malformed data.
var ErrCorrupt = errors.New("jobs: corrupt log data")

// ErrUnsupportedVersion is matched by the decoding error of data written in
// a format version this build does not know.
var ErrUnsupportedVersion = errors.New("jobs: unsupported log format version")

var stateByCode = [...]State{1: StateQueued, 2: StateScheduled, 3: StateRunning, 4: StateSucceeded, 5: StateDead, 6: StateCancelled}

// EncodeRecords appends the encoding of a segment holding recs to dst and
// returns the extended buffer.
func EncodeRecords(dst []byte, recs []Record) []byte {
	var e encoder
	e.buf = append(dst, codecVersion, kindRecords)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(recs)))
	for i := range recs {
		r := &recs[i]
		e.buf = append(e.buf, byte(r.Op))
		if r.Op == OpUpsert {
			e.job(&r.Job)
		} else {
			e.id(r.Job.ID)
		}
	}
	return e.buf
}

// DecodeRecords decodes a segment written by EncodeRecords. It never panics,
// and allocates in proportion to len(data) at most.
func DecodeRecords(data []byte) ([]Record, error) {
	d := decoder{data: data}
	n, err := d.header(kindRecords)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, 0, min(n, 256))
	for i := uint64(0); i < n; i++ {
		op := Op(d.byte())
		var r Record
		r.Op = op
		switch op {
		case OpUpsert:
			d.job(&r.Job)
		case OpForget:
			r.Job.ID = d.id()
		default:
			if d.err == nil {
				d.fail("record %d has unknown op %d", i, uint8(op))
			}
		}
		if d.err != nil {
			return nil, d.err
		}
		recs = append(recs, r)
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return recs, nil
}

// EncodeSnapshot encodes a shard's jobs (Shard.Jobs) as a snapshot.
func EncodeSnapshot(jobs []Job) []byte {
	var e encoder
	e.buf = make([]byte, 0, 16+len(jobs)*96)
	e.buf = append(e.buf, codecVersion, kindSnapshot)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(jobs)))
	for i := range jobs {
		e.job(&jobs[i])
	}
	return e.buf
}

// DecodeSnapshot decodes a snapshot written by EncodeSnapshot. It never
// panics, and allocates in proportion to len(data) at most.
func DecodeSnapshot(data []byte) ([]Job, error) {
	d := decoder{data: data}
	n, err := d.header(kindSnapshot)
	if err != nil {
		return nil, err
	}
	jobs := make([]Job, 0, min(n, 256))
	for i := uint64(0); i < n; i++ {
		var j Job
		d.job(&j)
		if d.err != nil {
			return nil, d.err
		}
		jobs = append(jobs, j)
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return jobs, nil
}

type encoder struct {
	buf    []byte
	intern [internTableCap]string
	n      int
}

func (e *encoder) id(id string) {
	if ValidID(id) {
		e.buf = append(e.buf, 0)
		e.buf, _ = hex.AppendDecode(e.buf, []byte(id)) // cannot fail: ValidID
		return
	}
	e.buf = binary.AppendUvarint(e.buf, uint64(len(id))+1)
	e.buf = append(e.buf, id...)
}

func (e *encoder) str(s string) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *encoder) interned(s string) {
	for i := 0; i < e.n; i++ {
		if e.intern[i] == s {
			e.buf = binary.AppendUvarint(e.buf, uint64(i)+1)
			return
		}
	}
	e.buf = append(e.buf, 0)
	e.str(s)
	if e.n < internTableCap {
		e.intern[e.n] = s
		e.n++
	}
}

func (e *encoder) time(t time.Time, baseSec int64) {
	if t.IsZero() {
		e.buf = append(e.buf, 0)
		return
	}
	e.buf = binary.AppendUvarint(e.buf, uint64(t.Nanosecond())+1)
	e.buf = binary.AppendVarint(e.buf, t.Unix()-baseSec) // wraps consistently with the decoder
}

func (e *encoder) job(j *Job) {
	var flags uint64
	set := func(bit uint64, present bool) {
		if present {
			flags |= bit
		}
	}
	set(fPayload, len(j.Payload) > 0)
	set(fResult, len(j.Result) > 0)
	set(fLastError, j.LastError != "")
	set(fUniqueKey, j.UniqueKey != "")
	set(fUniqueTTL, j.UniqueTTL != 0)
	set(fRunner, j.Runner != "")
	set(fTimeout, j.Timeout != 0)
	set(fPriority, j.Priority != 0)
	set(fRunAt, !j.RunAt.IsZero())
	set(fStartedAt, !j.StartedAt.IsZero())
	set(fFinishedAt, !j.FinishedAt.IsZero())

	e.id(j.ID)
	e.buf = binary.AppendUvarint(e.buf, flags)
	e.interned(j.Type)
	e.interned(j.Queue)
	if c := stateCode(j.State); c != 0 {
		e.buf = append(e.buf, c)
	} else {
		e.buf = append(e.buf, 0)
		e.str(string(j.State))
	}
	e.buf = binary.AppendVarint(e.buf, int64(j.Attempt))
	e.buf = binary.AppendVarint(e.buf, int64(j.MaxAttempts))
	e.time(j.CreatedAt, 0)
	base := j.CreatedAt.Unix()
	e.time(j.UpdatedAt, base)
	if flags&fPayload != 0 {
		e.str(string(j.Payload))
	}
	if flags&fResult != 0 {
		e.str(string(j.Result))
	}
	if flags&fLastError != 0 {
		e.str(j.LastError)
	}
	if flags&fUniqueKey != 0 {
		e.str(j.UniqueKey)
	}
	if flags&fUniqueTTL != 0 {
		e.buf = binary.AppendVarint(e.buf, int64(j.UniqueTTL))
	}
	if flags&fRunner != 0 {
		e.interned(j.Runner)
	}
	if flags&fTimeout != 0 {
		e.buf = binary.AppendVarint(e.buf, int64(j.Timeout))
	}
	if flags&fPriority != 0 {
		e.buf = binary.AppendVarint(e.buf, int64(j.Priority))
	}
	if flags&fRunAt != 0 {
		e.time(j.RunAt, base)
	}
	if flags&fStartedAt != 0 {
		e.time(j.StartedAt, base)
	}
	if flags&fFinishedAt != 0 {
		e.time(j.FinishedAt, base)
	}
}

type decoder struct {
	data   []byte
	pos    int
	err    error
	intern []string
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrCorrupt, d.pos, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) header(kind byte) (uint64, error) {
	if len(d.data) < 2 {
		return 0, fmt.Errorf("%w: %d bytes is too short for a header", ErrCorrupt, len(d.data))
	}
	if v := d.data[0]; v != codecVersion {
		return 0, fmt.Errorf("%w %d (this build reads %d): upgrade this node to the version of the cluster's newest node",
			ErrUnsupportedVersion, v, codecVersion)
	}
	if k := d.data[1]; k != kind {
		return 0, fmt.Errorf("%w: kind %q, expected %q (a snapshot read as a segment, or the reverse)", ErrCorrupt, k, kind)
	}
	d.pos = 2
	n := d.uvarint()
	// Every item takes at least two bytes: refuse counts the data cannot hold.
	if d.err == nil && n > uint64(len(d.data)-d.pos)/2 {
		d.fail("count %d is larger than the data", n)
	}
	return n, d.err
}

func (d *decoder) end() error {
	if d.err == nil && d.pos != len(d.data) {
		d.fail("%d trailing bytes", len(d.data)-d.pos)
	}
	return d.err
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.pos >= len(d.data) {
		d.fail("unexpected end of data")
		return 0
	}
	b := d.data[d.pos]
	d.pos++
	return b
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.data[d.pos:])
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.data[d.pos:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.pos += n
	return v
}

// take returns the next n bytes, aliasing the input.
func (d *decoder) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.data)-d.pos) {
		d.fail("length %d runs past the end", n)
		return nil
	}
	b := d.data[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b
}

func (d *decoder) str() string { return string(d.take(d.uvarint())) }

// raw returns a copy of the next length-prefixed bytes, nil if empty.
func (d *decoder) raw() []byte {
	b := d.take(d.uvarint())
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func (d *decoder) id() string {
	tag := d.uvarint()
	if tag == 0 {
		b := d.take(IDLen / 2)
		if d.err != nil {
			return ""
		}
		return hex.EncodeToString(b)
	}
	return string(d.take(tag - 1))
}

func (d *decoder) interned() string {
	i := d.uvarint()
	if d.err != nil {
		return ""
	}
	if i == 0 {
		s := d.str()
		if len(d.intern) < internTableCap {
			d.intern = append(d.intern, s)
		}
		return s
	}
	if i > uint64(len(d.intern)) {
		d.fail("string table index %d of %d", i, len(d.intern))
		return ""
	}
	return d.intern[i-1]
}

func (d *decoder) time(baseSec int64) time.Time {
	ns := d.uvarint()
	if ns == 0 || d.err != nil {
		return time.Time{}
	}
	if ns > 1e9 {
		d.fail("nanoseconds %d out of range", ns-1)
		return time.Time{}
	}
	sec := d.varint() + baseSec
	return time.Unix(sec, int64(ns-1)).UTC()
}

func (d *decoder) job(j *Job) {
	j.ID = d.id()
	flags := d.uvarint()
	if flags&^fAll != 0 {
		d.fail("unknown field flags %#x", flags&^fAll)
	}
	j.Type = d.interned()
	j.Queue = d.interned()
	if c := d.byte(); c == 0 {
		j.State = State(d.str())
	} else if int(c) < len(stateByCode) {
		j.State = stateByCode[c]
	} else {
		d.fail("state code %d", c)
	}
	j.Attempt = int(d.varint())
	j.MaxAttempts = int(d.varint())
	j.CreatedAt = d.time(0)
	base := j.CreatedAt.Unix()
	j.UpdatedAt = d.time(base)
	if flags&fPayload != 0 {
		j.Payload = d.raw()
	}
	if flags&fResult != 0 {
		j.Result = d.raw()
	}
	if flags&fLastError != 0 {
		j.LastError = d.str()
	}
	if flags&fUniqueKey != 0 {
		j.UniqueKey = d.str()
	}
	if flags&fUniqueTTL != 0 {
		j.UniqueTTL = time.Duration(d.varint())
	}
	if flags&fRunner != 0 {
		j.Runner = d.interned()
	}
	if flags&fTimeout != 0 {
		j.Timeout = time.Duration(d.varint())
	}
	if flags&fPriority != 0 {
		j.Priority = int(d.varint())
	}
	if flags&fRunAt != 0 {
		j.RunAt = d.time(base)
	}
	if flags&fStartedAt != 0 {
		j.StartedAt = d.time(base)
	}
	if flags&fFinishedAt != 0 {
		j.FinishedAt = d.time(base)
	}
}
