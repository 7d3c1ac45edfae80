package discovery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// ErrWatcherStarted is returned by Start when the Watcher was started before.
var ErrWatcherStarted = errors.New("discovery: watcher already started")

// WatcherConfig configures a Watcher. Zero fields take their defaults.
type WatcherConfig struct {
	// Interval between periodic lookups, for the node's whole life (default
	// 5s, like libcluster's polling strategies). Strategies that implement
	// Notifier are also looked up again at once on every notification.
	Interval time.Duration
	// Settle is the coalescing window (default 500ms): after a lookup finds a
	// set different from the published one, the Watcher waits Settle, looks
	// up once more and publishes the newest set. Lookups asked for inside the
	// window (notifications, Refresh, ticks) are folded into that last one, so
	// a burst of changes (a rolling update) is one update.
	Settle time.Duration
	// EmptyGrace is how long an empty answer (ErrEmptyAnswer: NXDOMAIN or no
	// records) must persist before the Watcher believes it and publishes an
	// empty set (default 1m). Until then it is a failed lookup: the last set
	// is kept. A negative value never believes an empty answer.
	EmptyGrace time.Duration
	// LookupTimeout bounds one Lookup call (default 10s), on top of the
	// strategy's own timeout.
	LookupTimeout time.Duration
	// Now is the clock used for EmptyGrace and failure streaks (default
	// time.Now).
	Now func() time.Time
}

// DefaultWatcherConfig returns Interval 5s, Settle 500ms, EmptyGrace 1m,
// LookupTimeout 10s and time.Now.
func DefaultWatcherConfig() WatcherConfig {
	return WatcherConfig{
		Interval:      5 * time.Second,
		Settle:        500 * time.Millisecond,
		EmptyGrace:    time.Minute,
		LookupTimeout: 10 * time.Second,
		Now:           time.Now,
	}
}

// withDefaults fills zero fields.
func (c WatcherConfig) withDefaults() WatcherConfig {
	d := DefaultWatcherConfig()
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.Settle == 0 {
		c.Settle = d.Settle
	}
	if c.EmptyGrace == 0 {
		c.EmptyGrace = d.EmptyGrace
	}
	if c.LookupTimeout == 0 {
		c.LookupTimeout = d.LookupTimeout
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	return c
}

// Validate reports a negative duration (EmptyGrace may be negative).
func (c WatcherConfig) Validate() error {
	switch {
	case c.Interval < 0:
		return fmt.Errorf("discovery: watcher Interval is %v, want > 0 (default 5s)", c.Interval)
	case c.Settle < 0:
		return fmt.Errorf("discovery: watcher Settle is %v, want > 0 (default 500ms)", c.Settle)
	case c.LookupTimeout < 0:
		return fmt.Errorf("discovery: watcher LookupTimeout is %v, want > 0 (default 10s)", c.LookupTimeout)
	}
	return nil
}

// Watcher looks a strategy up periodically and on demand, and publishes the
// peer set when it changes. See the package doc for the failure rules.
type Watcher struct {
	s        Strategy
	cfg      WatcherConfig
	log      zerolog.Logger
	updates  chan []Peer
	refresh  chan struct{}
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}

	mu      sync.Mutex
	started bool
	peers   []Peer // published set
	known   bool   // a set was published

	// Owned by the run goroutine.
	candidate  []Peer    // newest set seen by a successful lookup
	failures   int       // failed lookups in the current streak
	failSince  time.Time // start of the failure streak
	emptySince time.Time // start of the empty-answer streak
}

// NewWatcher returns a Watcher of s; call Start to run it.
func NewWatcher(s Strategy, cfg WatcherConfig, log zerolog.Logger) (*Watcher, error) {
	if s == nil {
		return nil, errors.New("discovery: NewWatcher needs a strategy")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Watcher{
		s:       s,
		cfg:     cfg.withDefaults(),
		log:     log.With().Str("component", "discovery").Str("strategy", s.Name()).Logger(),
		updates: make(chan []Peer, 1),
		refresh: make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}, nil
}

// Start runs the Watcher until ctx ends or Stop is called. The first lookup
// happens at once and its result is published without waiting for Settle.
func (w *Watcher) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return ErrWatcherStarted
	}
	w.started = true
	go w.run(ctx)
	return nil
}

// Stop stops the Watcher, waits for its goroutine and closes Updates. It is
// safe to call twice, and without Start.
func (w *Watcher) Stop() {
	w.stopOnce.Do(func() {
		close(w.stop)
		w.mu.Lock()
		started := w.started
		w.started = true // a Start after Stop fails
		w.mu.Unlock()
		if !started {
			close(w.updates)
			return
		}
		<-w.done
	})
}

// Peers returns the last published set (sorted, deduplicated by Host+Port),
// or nil before the first one.
func (w *Watcher) Peers() []Peer {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.peers == nil {
		return nil
	}
	return append([]Peer(nil), w.peers...)
}

// Updates delivers each newly published set. It is buffered 1 and keeps only
// the newest set: a slow reader skips intermediate sets, never the last one.
// It is closed when the Watcher stops.
func (w *Watcher) Updates() <-chan []Peer { return w.updates }

// Refresh asks for a lookup at once (inside a Settle window: at its end).
func (w *Watcher) Refresh() {
	select {
	case w.refresh <- struct{}{}:
	default:
	}
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	defer close(w.updates)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-w.stop:
			cancel()
		case <-ctx.Done():
		}
	}()

	var changes <-chan struct{}
	if n, ok := w.s.(Notifier); ok {
		changes = n.Changes()
	}
	ticker := time.NewTicker(w.cfg.Interval)
	defer ticker.Stop()
	var settle *time.Timer
	var settleC <-chan time.Time
	defer func() {
		if settle != nil {
			settle.Stop()
		}
	}()

	// poll looks up; it arms the settle window when the set changed.
	poll := func() {
		if settleC != nil {
			return // folded into the lookup at the end of the window
		}
		set, ok := w.lookup(ctx)
		if !ok {
			return
		}
		w.candidate = set
		w.mu.Lock()
		known, same := w.known, Equal(set, w.peers)
		w.mu.Unlock()
		switch {
		case !known:
			w.publish(set)
		case !same:
			settle = time.NewTimer(w.cfg.Settle)
			settleC = settle.C
		}
	}

	poll()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			poll()
		case <-w.refresh:
			poll()
		case _, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			poll()
		case <-settleC:
			settle, settleC = nil, nil
			if set, ok := w.lookup(ctx); ok {
				w.candidate = set
			}
			w.mu.Lock()
			same := Equal(w.candidate, w.peers)
			w.mu.Unlock()
			if !same {
				w.publish(w.candidate)
			}
		}
	}
}

// lookup runs one Lookup and applies the failure rules: it returns the
// normalized set and true when the result is to be believed.
func (w *Watcher) lookup(ctx context.Context) ([]Peer, bool) {
	if ctx.Err() != nil {
		return nil, false
	}
	lctx, cancel := context.WithTimeout(ctx, w.cfg.LookupTimeout)
	peers, err := w.s.Lookup(lctx)
	cancel()
	if ctx.Err() != nil {
		return nil, false // stopping: not a failure
	}
	now := w.cfg.Now()
	if err == nil && len(peers) == 0 {
		err = ErrEmptyAnswer // a strategy must not do that; do not trust it
	}
	if errors.Is(err, ErrEmptyAnswer) {
		if w.emptySince.IsZero() {
			w.emptySince = now
		}
		if g := w.cfg.EmptyGrace; g >= 0 && now.Sub(w.emptySince) >= g {
			w.recovered(now)
			return []Peer{}, true
		}
		w.failed(now, fmt.Errorf("%w; keeping the last peers until it has lasted %v", err, w.cfg.EmptyGrace))
		return nil, false
	}
	if err != nil {
		w.failed(now, err)
		return nil, false
	}
	w.emptySince = time.Time{}
	w.recovered(now)
	return Normalize(peers), true
}

func (w *Watcher) failed(now time.Time, err error) {
	w.failures++
	if w.failures == 1 {
		w.failSince = now
		w.log.Warn().Err(err).Int("kept_peers", len(w.Peers())).
			Msg("discovery lookup failed; keeping the last known peers (logged once until lookups work again)")
		return
	}
	w.log.Debug().Err(err).Int("failures", w.failures).Msg("discovery lookup failed again")
}

func (w *Watcher) recovered(now time.Time) {
	if w.failures == 0 {
		return
	}
	w.log.Info().Int("failures", w.failures).Dur("after", now.Sub(w.failSince)).Msg("discovery lookups work again")
	w.failures = 0
}

// publish makes set the published set and offers it on Updates, replacing
// an unread older set.
func (w *Watcher) publish(set []Peer) {
	if set == nil {
		set = []Peer{}
	}
	w.mu.Lock()
	prev := w.peers
	w.peers, w.known = set, true
	w.mu.Unlock()
	w.log.Info().Int("peers", len(set)).Int("before", len(prev)).Str("hosts", hostList(set)).Msg("discovery peers changed")
	out := append([]Peer(nil), set...)
	select {
	case <-w.updates:
	default:
	}
	w.updates <- out
}

func hostList(peers []Peer) string {
	const limit = 16
	var b []byte
	for i, p := range peers {
		if i == limit {
			b = fmt.Appendf(b, " ... (%d more)", len(peers)-limit)
			break
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p.Host...)
		if p.Port != 0 {
			b = fmt.Appendf(b, ":%d", p.Port)
		}
	}
	return string(b)
}
