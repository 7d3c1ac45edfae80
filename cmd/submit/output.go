package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoal-dev/shoal/pkg/client"
	"github.com/shoal-dev/shoal/pkg/jobs"
)

// stateOrder is the column order of the stats table.
var stateOrder = []jobs.State{jobs.StateQueued, jobs.StateScheduled, jobs.StateRunning, jobs.StateSucceeded, jobs.StateDead, jobs.StateCancelled}

const timeLayout = "2006-01-02 15:04:05"

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (a *app) printJob(j jobs.Job) error {
	if a.jsonOut() {
		return writeJSON(a.stdout, j)
	}
	return writeJobDetail(a.stdout, j)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(timeLayout)
}

// writeJobDetail writes one job as "FIELD  value" lines, leaving out empty fields.
func writeJobDetail(w io.Writer, j jobs.Job) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, strings.ReplaceAll(v, "\n", " "))
		}
	}
	dur := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.String()
	}
	row("ID", j.ID)
	row("TYPE", j.Type)
	row("QUEUE", j.Queue)
	row("STATE", string(j.State))
	row("ATTEMPT", fmt.Sprintf("%d/%d", j.Attempt, j.MaxAttempts))
	if j.Priority != 0 {
		row("PRIORITY", fmt.Sprint(j.Priority))
	}
	row("RUNNER", j.Runner)
	row("RUN AT", fmtTime(j.RunAt))
	row("TIMEOUT", dur(j.Timeout))
	row("UNIQUE KEY", j.UniqueKey)
	row("CREATED", fmtTime(j.CreatedAt))
	row("STARTED", fmtTime(j.StartedAt))
	row("FINISHED", fmtTime(j.FinishedAt))
	row("PAYLOAD", string(j.Payload))
	row("RESULT", string(j.Result))
	row("LAST ERROR", j.LastError)
	return tw.Flush()
}

// writeJobTable writes jobs as a table, one row each.
func writeJobTable(w io.Writer, js []jobs.Job) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tQUEUE\tSTATE\tATTEMPT\tRUNNER\tUPDATED\tLAST ERROR")
	for _, j := range js {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", j.ID, j.Type, j.Queue, j.State,
			j.Attempt, j.MaxAttempts, dash(j.Runner), fmtTime(j.UpdatedAt), truncate(oneLine(j.LastError), 60))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// writeStatsTable writes one row per node and a TOTAL row, one column per
// state (states the client does not know are added at the end).
func writeStatsTable(w io.Writer, s client.StatsReply) error {
	cols := append([]jobs.State(nil), stateOrder...)
	known := map[jobs.State]bool{}
	for _, st := range cols {
		known[st] = true
	}
	var extra []jobs.State
	add := func(m map[jobs.State]int) {
		for st := range m {
			if !known[st] {
				known[st] = true
				extra = append(extra, st)
			}
		}
	}
	add(s.Counts)
	nodes := make([]string, 0, len(s.Nodes))
	for n, m := range s.Nodes {
		nodes = append(nodes, n)
		add(m)
	}
	sort.Strings(nodes)
	sort.Slice(extra, func(i, j int) bool { return extra[i] < extra[j] })
	cols = append(cols, extra...)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	header := []string{"NODE"}
	for _, st := range cols {
		header = append(header, strings.ToUpper(string(st)))
	}
	header = append(header, "TOTAL")
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	row := func(name string, m map[jobs.State]int) {
		cells := []string{name}
		total := 0
		for _, st := range cols {
			cells = append(cells, fmt.Sprint(m[st]))
			total += m[st]
		}
		cells = append(cells, fmt.Sprint(total))
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	for _, n := range nodes {
		row(n, s.Nodes[n])
	}
	row("TOTAL", s.Counts)
	return tw.Flush()
}

// writeMembersTable writes one row per member, sorted by name.
func writeMembersTable(w io.Writer, m client.MembersReply) error {
	ms := append([]client.Member(nil), m.Members...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATE\tSHARDS\tRUNNING")
	for _, x := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", x.Name, x.Address, x.State, x.Shards, x.Running)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d member(s), %d shards\n", len(ms), m.Shards)
	return err
}

// formatEvent renders an event as one line: time, kind, node, then the job
// (ID, type) and detail when present.
func formatEvent(ev client.Event) string {
	t := ev.Time
	if t.IsZero() {
		t = time.Now()
	}
	parts := []string{t.Local().Format("15:04:05.000"), fmt.Sprintf("%-16s", ev.Kind), dash(ev.Node)}
	if ev.JobID != "" {
		parts = append(parts, ev.JobID)
	}
	if ev.Type != "" {
		parts = append(parts, ev.Type)
	}
	if ev.Detail != "" {
		parts = append(parts, oneLine(ev.Detail))
	}
	return strings.Join(parts, "  ")
}
