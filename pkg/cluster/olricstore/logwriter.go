package olricstore

import (
	"bytes"
	"strings"
	"sync"

	"github.com/rs/zerolog"
)

// logWriter turns the lines Olric and memberlist print through a standard
// *log.Logger ("[LEVEL] text") into zerolog events, and keeps the few lines
// Start needs to explain a failed join.
type logWriter struct {
	log zerolog.Logger

	mu        sync.Mutex
	joinErrs  []string // last join errors, most recent last
	secretErr string   // a line that points at a secret mismatch
}

// Write takes one message per call (as log.Logger writes them); a message
// spanning lines (Olric's multi-errors) becomes one line.
func (w *logWriter) Write(p []byte) (int, error) {
	var parts []string
	for line := range bytes.Lines(p) {
		if l := strings.TrimSpace(string(line)); l != "" {
			parts = append(parts, l)
		}
	}
	w.line(strings.Join(parts, " "))
	return len(p), nil
}

func (w *logWriter) line(s string) {
	if s == "" {
		return
	}
	level, msg := "", s
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i > 0 {
			level, msg = s[1:i], strings.TrimSpace(s[i+1:])
		}
	}
	source := "olric"
	if strings.HasPrefix(msg, "memberlist:") {
		source = "memberlist"
		msg = strings.TrimSpace(strings.TrimPrefix(msg, "memberlist:"))
	}
	w.note(msg)
	var ev *zerolog.Event
	switch level {
	case "WARN", "ERR", "ERROR":
		ev = w.log.Warn()
	default:
		ev = w.log.Debug()
	}
	ev.Str("source", source).Msg(msg)
}

// secretHints are memberlist's words when two members use different keys,
// or one uses none.
var secretHints = []string{
	"No installed keys could decrypt",
	"Encryption is configured but remote state is not encrypted",
	"remote state is encrypted and encryption is not configured",
	"encryption is configured",
	"failed to decrypt",
}

func (w *logWriter) note(msg string) {
	isJoin := strings.Contains(msg, "Join attempt returned error") || strings.Contains(msg, "Failed to join")
	var secret bool
	for _, h := range secretHints {
		if strings.Contains(strings.ToLower(msg), strings.ToLower(h)) {
			secret = true
		}
	}
	if !isJoin && !secret {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if isJoin {
		w.joinErrs = append(w.joinErrs, msg)
		if len(w.joinErrs) > 3 {
			w.joinErrs = w.joinErrs[1:]
		}
	}
	if secret {
		w.secretErr = msg
	}
}

func (w *logWriter) joinDiagnosis() (lastJoinErr, secretErr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.joinErrs); n > 0 {
		lastJoinErr = w.joinErrs[n-1]
	}
	return lastJoinErr, w.secretErr
}
