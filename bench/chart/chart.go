// Package chart draws the benchmark's results as one PNG of four panels:
// throughput, latency, cost per job as N grows, and failover. It uses
// gonum.org/v1/plot, which is pure Go (no cgo, no gnuplot or Python), so
// the chart comes out of `make bench` on any machine with a Go toolchain.
package chart

import (
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/shoal-dev/shoal/bench/harness"
)

// WritePNG draws res into a PNG file at path.
func WritePNG(path string, res *harness.Results) error {
	panels := [][]*plot.Plot{
		{throughput(res), latency(res)},
		{scale(res), failover(res)},
	}
	img := vgimg.New(28*vg.Centimeter, 20*vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 2, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Centimeter / 2, PadBottom: vg.Centimeter / 2, PadLeft: vg.Centimeter / 2, PadRight: vg.Centimeter / 2}
	canvases := plot.Align(panels, tiles, dc)
	for i := range panels {
		for j := range panels[i] {
			panels[i][j].Draw(canvases[i][j])
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// groupedBars adds one bar series per system over the given categories.
func groupedBars(p *plot.Plot, names []string, categories []string, value func(system string, cat int) float64) {
	w := vg.Points(14)
	top := 0.0
	for i, n := range names {
		vals := make(plotter.Values, len(categories))
		for c := range categories {
			v := value(n, c)
			if math.IsNaN(v) {
				v = 0
			}
			vals[c] = v
			top = max(top, v)
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			continue
		}
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = vg.Length(float64(i)-float64(len(names)-1)/2) * w
		p.Add(bars)
		p.Legend.Add(n, bars)
	}
	if len(names) > 0 {
		p.NominalX(categories...)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Y.Min = 0
	if top > 0 {
		p.Y.Max = top * 1.35 // room for the legend above the bars
	}
}

func throughput(res *harness.Results) *plot.Plot {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("No-op throughput (N=%d), median jobs/s", res.Config.N)
	p.Y.Label.Text = "jobs/s"
	groupedBars(p, res.Names(), []string{"burn-down", "steady"}, func(s string, c int) float64 {
		if c == 0 {
			return harness.Median(harness.Throughputs(res.BurnDown[s]))
		}
		return harness.Median(harness.Throughputs(res.Steady[s]))
	})
	return p
}

func latency(res *harness.Results) *plot.Plot {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Enqueue-to-start latency at %.0f%% of peak, median ms", res.Config.LatencyLoad*100)
	p.Y.Label.Text = "ms"
	groupedBars(p, res.Names(), []string{"p50", "p99"}, func(s string, c int) float64 {
		var v []float64
		for _, l := range res.Latency[s] {
			if l.Err != "" {
				continue
			}
			d := l.P50
			if c == 1 {
				d = l.P99
			}
			v = append(v, float64(d)/float64(time.Millisecond))
		}
		return harness.Median(v)
	})
	return p
}

func scale(res *harness.Results) *plot.Plot {
	p := plot.New()
	p.Title.Text = "Cost per job as N grows (burn-down), median"
	p.X.Label.Text = "jobs (N)"
	p.Y.Label.Text = "microseconds per job"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	for i, n := range res.Names() {
		var pts plotter.XYs
		for _, size := range res.Config.Sizes {
			var work []float64
			for _, t := range res.Scale[n][size] {
				if t.Err == "" {
					work = append(work, float64(t.Work.Microseconds())/float64(t.N))
				}
			}
			if m := harness.Median(work); !math.IsNaN(m) {
				pts = append(pts, plotter.XY{X: float64(size), Y: m})
			}
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		line.Color = plotutil.Color(i)
		points.Color = plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(n, line, points)
	}
	p.Y.Min = 0
	return p // legend at the bottom right, under the lines
}

func failover(res *harness.Results) *plot.Plot {
	p := plot.New()
	p.Title.Text = "Failover: killed worker's job restarts after (s, log)"
	p.Y.Label.Text = "seconds"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var names []string
	for _, n := range res.Names() {
		if _, ok := res.Failover[n]; ok {
			names = append(names, n)
		}
	}
	for i, n := range names {
		f := res.Failover[n]
		var pts plotter.XYs
		var label string
		if len(f.Measured) > 0 {
			v := make([]float64, len(f.Measured))
			for k, d := range f.Measured {
				v[k] = d.Seconds()
			}
			pts = append(pts, plotter.XY{X: float64(i), Y: harness.Median(v)})
			label = fmt.Sprintf("%.1fs measured (max %.1fs)", harness.Median(v), slices.Max(v))
		} else if f.Estimate.Typical > 0 {
			pts = append(pts, plotter.XY{X: float64(i), Y: f.Estimate.Typical.Seconds()})
			label = fmt.Sprintf("%s computed", f.Estimate.Typical.Round(time.Second))
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			continue
		}
		sc.Color = plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		sc.Radius = vg.Points(5)
		p.Add(sc)
		if e := f.Estimate; e.Max > 0 {
			rng := plotter.XYs{{X: float64(i), Y: max(e.Min.Seconds(), 0.1)}, {X: float64(i), Y: e.Max.Seconds()}}
			if l, err := plotter.NewLine(rng); err == nil {
				l.Color = plotutil.Color(i)
				l.Width = vg.Points(2)
				p.Add(l)
			}
		}
		if lb, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: []string{"  " + label}}); err == nil {
			p.Add(lb)
		}
	}
	if len(names) == 0 {
		return p
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5+1.5
	p.Y.Min, p.Y.Max = 0.1, 10_000
	return p
}
