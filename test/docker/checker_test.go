package docker

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// jobIDPattern matches the IDs submit prints, one per acknowledged job.
var jobIDPattern = regexp.MustCompile(`(?m)^[0-9a-f]{32}$`)

// ackedIDs returns the job IDs in submit's standard output: every line that
// is an ID is an acknowledged job (refusals go to standard error).
func ackedIDs(stdout string) []string {
	return jobIDPattern.FindAllString(stdout, -1)
}

// verdict is the lost/duplicate check over one set of acknowledged jobs.
type verdict struct {
	Acked      int
	Succeeded  int
	Dead       int
	Cancelled  int
	Unfinished []string // acknowledged, found, not in an end state
	Lost       []string // acknowledged, not found in the cluster at all
	Duplicates []string // ran more than once (attempt > 1)
	MaxAttempt int
	ByRunner   map[string]int // finished jobs by the node that ran them
}

// check compares the acknowledged IDs with the jobs the cluster lists. It is
// pure: the scenarios feed it what `submit list -o json` returned.
func check(acked []string, found []jobs.Job) verdict {
	byID := make(map[string]jobs.Job, len(found))
	for _, j := range found {
		byID[j.ID] = j
	}
	v := verdict{Acked: len(acked), ByRunner: map[string]int{}}
	seen := make(map[string]bool, len(acked))
	for _, id := range acked {
		if seen[id] {
			continue // submit printed it twice: still one job
		}
		seen[id] = true
		j, ok := byID[id]
		if !ok {
			v.Lost = append(v.Lost, id)
			continue
		}
		if j.Attempt > 1 {
			v.Duplicates = append(v.Duplicates, id)
		}
		v.MaxAttempt = max(v.MaxAttempt, j.Attempt)
		switch j.State {
		case jobs.StateSucceeded:
			v.Succeeded++
		case jobs.StateDead:
			v.Dead++
		case jobs.StateCancelled:
			v.Cancelled++
		default:
			v.Unfinished = append(v.Unfinished, id+" ("+string(j.State)+")")
			continue
		}
		if j.Runner != "" {
			v.ByRunner[j.Runner]++
		}
	}
	return v
}

// done reports whether every acknowledged job was found in an end state.
func (v verdict) done() bool { return len(v.Lost) == 0 && len(v.Unfinished) == 0 }

func (v verdict) String() string {
	runners := make([]string, 0, len(v.ByRunner))
	for r, n := range v.ByRunner {
		runners = append(runners, fmt.Sprintf("%s=%d", r, n))
	}
	sort.Strings(runners)
	return fmt.Sprintf("acked %d: succeeded %d, dead %d, cancelled %d, unfinished %d, lost %d, duplicates %d (max attempt %d); ran on: %s",
		v.Acked, v.Succeeded, v.Dead, v.Cancelled, len(v.Unfinished), len(v.Lost), len(v.Duplicates), v.MaxAttempt, strings.Join(runners, " "))
}

func TestCheckerCountsLostUnfinishedAndDuplicates(t *testing.T) {
	id := func(n int) string { return fmt.Sprintf("%032x", n) }
	acked := []string{id(1), id(2), id(3), id(4), id(5), id(5)}
	found := []jobs.Job{
		{ID: id(1), State: jobs.StateSucceeded, Attempt: 1, Runner: "a"},
		{ID: id(2), State: jobs.StateSucceeded, Attempt: 2, Runner: "b"},
		{ID: id(3), State: jobs.StateRunning, Attempt: 1, Runner: "a"},
		{ID: id(5), State: jobs.StateDead, Attempt: 3},
		{ID: id(9), State: jobs.StateSucceeded, Attempt: 1}, // not ours: ignored
	}
	v := check(acked, found)
	if v.Acked != 6 || v.Succeeded != 2 || v.Dead != 1 || len(v.Unfinished) != 1 || len(v.Lost) != 1 || v.Lost[0] != id(4) {
		t.Fatalf("verdict %s; lost %v unfinished %v", v, v.Lost, v.Unfinished)
	}
	if len(v.Duplicates) != 2 || v.MaxAttempt != 3 || v.done() {
		t.Fatalf("duplicates %v max %d done %v", v.Duplicates, v.MaxAttempt, v.done())
	}
	if v.ByRunner["a"] != 1 || v.ByRunner["b"] != 1 {
		t.Fatalf("by runner %v", v.ByRunner)
	}
}

func TestAckedIDsReadsOnlyIDLines(t *testing.T) {
	out := "0123456789abcdef0123456789abcdef\nsubmitted 1 of 2 jobs\nfedcba9876543210fedcba9876543210\nnot-an-id\n"
	got := ackedIDs(out)
	if len(got) != 2 || got[1] != "fedcba9876543210fedcba9876543210" {
		t.Fatalf("ackedIDs = %v", got)
	}
}
