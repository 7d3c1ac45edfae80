package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a one-line bar on a terminal, at most every 100ms. On
// anything but a terminal it draws nothing: scripts get clean stderr.
type progress struct {
	w       io.Writer
	enabled bool
	label   string
	total   int
	start   time.Time
	last    time.Time
	now     func() time.Time
	drawn   bool
}

func newProgress(w io.Writer, enabled bool, label string, total int) *progress {
	p := &progress{w: w, enabled: enabled && total > 1, label: label, total: total, now: time.Now}
	p.start = p.now()
	return p
}

// set records done items and redraws if due.
func (p *progress) set(done int) {
	if !p.enabled {
		return
	}
	now := p.now()
	if done < p.total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	fmt.Fprint(p.w, "\r"+renderBar(p.label, done, p.total, now.Sub(p.start), 30))
	p.drawn = true
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// renderBar renders "label [#####.....] done/total  pct%  rate/s".
func renderBar(label string, done, total int, elapsed time.Duration, width int) string {
	if total <= 0 {
		total = 1
	}
	done = min(max(done, 0), total)
	filled := done * width / total
	rate := ""
	if s := elapsed.Seconds(); s > 0 {
		r := float64(done) / s
		if r >= 1000 {
			rate = fmt.Sprintf("  %.1fk/s", r/1000)
		} else {
			rate = fmt.Sprintf("  %.0f/s", r)
		}
	}
	return fmt.Sprintf("%s [%s%s] %d/%d %3d%%%s", label,
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total, done*100/total, rate)
}
