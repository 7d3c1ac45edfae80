package harness

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the results as plain-text tables: one section per
// scenario, one row per system with the median, the range and the number
// of runs, and the subject's ratio to that system (the median of the
// per-pair ratios of runs made side by side).
func WriteTable(w io.Writer, res *Results) error {
	var b strings.Builder
	fmt.Fprintf(&b, "shoal bench, %s mode: %d runs per scenario, systems alternating; medians, min-max over runs\n",
		res.Mode, res.Config.Reps)
	if res.Elapsed > 0 {
		fmt.Fprintf(&b, "wall time %s\n", res.Elapsed.Round(time.Second))
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "%s\n", n)
	}
	b.WriteString("\nsystems:\n")
	for _, s := range res.Systems {
		fmt.Fprintf(&b, "  %-8s %s\n", s.Name, s.Config)
	}
	skipped := make([]string, 0, len(res.Skipped))
	for name := range res.Skipped {
		skipped = append(skipped, name)
	}
	slices.Sort(skipped)
	for _, name := range skipped {
		fmt.Fprintf(&b, "  %-8s SKIPPED: %s\n", name, res.Skipped[name])
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}

	names := res.Names()
	subjects := res.Subjects
	if len(subjects) == 0 && res.Subject != "" {
		subjects = []string{res.Subject}
	}
	var ratioHdr string
	for _, sub := range subjects {
		ratioHdr += "ratio " + sub + "/system\t"
	}
	// ratios returns one cell per subject: the median of the per-pair
	// ratios of subject's runs to name's runs (aligned by run).
	ratios := func(name string, of func(system string) []float64) string {
		var cells string
		for _, sub := range subjects {
			cells += ratio(sub, name, PairRatios(of(sub), of(name))) + "\t"
		}
		return cells
	}
	var tw *tabwriter.Writer
	section := func(title string) {
		if tw != nil {
			_ = tw.Flush()
		}
		fmt.Fprintf(w, "\n%s\n", title)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "system\tmedian\tmin\tmax\truns\t%s\n", ratioHdr)
	}
	throughput := func(title string, data map[string][]ThroughputRun) {
		if len(data) == 0 {
			return
		}
		section(title)
		of := func(sys string) []float64 { return alignedThroughputs(data[sys]) }
		for _, n := range names {
			v := Throughputs(data[n])
			lo, hi := MinMax(v)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n, jobsps(Median(v)), jobsps(lo), jobsps(hi),
				runs(len(v), len(data[n])), ratios(n, of))
		}
	}
	throughput(fmt.Sprintf("no-op throughput, burn-down (N=%d), jobs/s", res.Config.N), res.BurnDown)
	throughput(fmt.Sprintf("no-op throughput, steady (N=%d), jobs/s", res.Config.N), res.Steady)

	lat := func(title string, pick func(LatencyRun) time.Duration) {
		if len(res.Latency) == 0 {
			return
		}
		section(title)
		of := func(sys string) []float64 { return alignedLatency(res.Latency[sys], pick) }
		for _, n := range names {
			all := of(n)
			v := dropNaN(all)
			lo, hi := MinMax(v)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n, ms(Median(v)), ms(lo), ms(hi), runs(len(v), len(all)),
				ratios(n, of))
		}
	}
	lat(fmt.Sprintf("enqueue-to-start latency p50 at %.0f%% of burn-down peak, ms", res.Config.LatencyLoad*100),
		func(l LatencyRun) time.Duration { return l.P50 })
	lat(fmt.Sprintf("enqueue-to-start latency p99 at %.0f%% of burn-down peak, ms", res.Config.LatencyLoad*100),
		func(l LatencyRun) time.Duration { return l.P99 })
	if tw != nil {
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	// Achieved rates, so a producer that could not keep up is visible.
	if len(res.Latency) > 0 {
		fmt.Fprintf(w, "\nlatency runs, target -> achieved enqueue rate (jobs/s):\n")
	}
	for _, n := range names {
		if len(res.Latency[n]) == 0 {
			continue
		}
		var parts []string
		for _, l := range res.Latency[n] {
			if l.Err != "" {
				parts = append(parts, "failed: "+l.Err)
				continue
			}
			parts = append(parts, fmt.Sprintf("%.0f->%.0f (%d jobs, max %s)", l.Rate, l.Achieved, l.Jobs, l.Max.Round(time.Millisecond)))
		}
		fmt.Fprintf(w, "  %-8s %s\n", n, strings.Join(parts, "; "))
	}

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(res.Scale) > 0 {
		fmt.Fprintf(w, "\ncost per job as N grows (burn-down), microseconds of wall time per job, medians\n")
		fmt.Fprintf(tw, "system\tN\tenqueue\twork\tjobs/s\t%s\n", ratioHdr)
		for _, n := range names {
			for _, size := range res.Config.Sizes {
				data := res.Scale[n][size]
				var enq, work []float64
				for _, t := range data {
					if t.Err == "" {
						enq = append(enq, float64(t.Enqueue.Microseconds())/float64(t.N))
						work = append(work, float64(t.Work.Microseconds())/float64(t.N))
					}
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", n, size, num(Median(enq), 1), num(Median(work), 1),
					jobsps(Median(Throughputs(data))),
					ratios(n, func(sys string) []float64 { return alignedThroughputs(res.Scale[sys][size]) }))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(res.Failover) > 0 {
		fmt.Fprintf(w, "\nfailover: a killed worker's running job until it starts again\n")
		for _, n := range names {
			f, ok := res.Failover[n]
			if !ok {
				continue
			}
			e := f.Estimate
			line := fmt.Sprintf("  %-8s", n)
			if len(f.Measured) > 0 {
				v := durs(f.Measured)
				line += fmt.Sprintf(" measured median %s, max %s over %d kills;", sec(Median(v)), sec(slices.Max(v)), len(v))
			}
			if e.Max > 0 {
				line += fmt.Sprintf(" computed from defaults %s typical (%s-%s): %s", e.Typical.Round(time.Second), e.Min.Round(time.Second), e.Max.Round(time.Second), e.How)
			}
			if f.Note != "" {
				line += " [" + f.Note + "]"
			}
			fmt.Fprintln(w, line)
		}
	}
	if m := res.RSS; m != nil {
		fmt.Fprintf(w, "\nresident memory (RSS) per node of %s (%s nodes), MiB\n", m.System, strconv.Itoa(m.Nodes))
		if m.Err != "" {
			fmt.Fprintf(w, "  failed: %s\n", m.Err)
		} else {
			fmt.Fprintf(w, "  idle                 %s\n", mibs(m.Idle))
			fmt.Fprintf(w, "  with %7d queued   %s  (submitted in %s)\n", m.Queued, mibs(m.Loaded), m.Submit.Round(time.Millisecond))
		}
		if m.Note != "" {
			fmt.Fprintf(w, "  %s\n", m.Note)
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

func mibs(bs []int64) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("%.0f", float64(b)/(1<<20))
	}
	return strings.Join(parts, " / ")
}

func alignedLatency(runs []LatencyRun, pick func(LatencyRun) time.Duration) []float64 {
	out := make([]float64, len(runs))
	for i, l := range runs {
		if l.Err != "" {
			out[i] = math.NaN()
			continue
		}
		out[i] = float64(pick(l)) / float64(time.Millisecond)
	}
	return out
}

func dropNaN(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}

func durs(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

func runs(ok, all int) string {
	if ok == all {
		return fmt.Sprint(all)
	}
	return fmt.Sprintf("%d (%d failed)", ok, all-ok)
}

func ratio(subject, name string, rs []float64) string {
	if name == subject {
		return "-"
	}
	if len(rs) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", Median(rs))
}

func jobsps(x float64) string { return num(x, 0) }
func ms(x float64) string     { return num(x, 2) }
func sec(x float64) string    { return num(x, 2) + "s" }

func num(x float64, prec int) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, x)
}
