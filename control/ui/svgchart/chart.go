// Package svgchart draws line charts of time series as SVG, on the
// server: the admin UI embeds them in its pages, so that a chart shows
// without any script, the build needs no JavaScript toolchain, and what a
// chart contains can be checked in Go tests.
//
// A chart has a time x-axis, a value y-axis from 0 with "nice" ticks
// (1, 2 or 5 times a power of ten) labelled in the chart's unit, one line
// per series with a legend, and a tooltip (<title>) per point. Every data
// point is an element of class "pt" (a circle) when a series has few
// enough points to mark, and every line carries data-points="N", so that
// a test (or a script) can count what was drawn. A chart without any
// point shows its empty-state message instead of axes.
package svgchart

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Point is a value at a time.
type Point struct {
	T time.Time
	V float64
}

// Series is one line.
type Series struct {
	Name   string
	Points []Point
}

// Unit formats the values of a chart.
type Unit func(v float64) string

// PerSecond formats rates: "12/s", "1.5k/s".
func PerSecond(v float64) string { return Number(v) + "/s" }

// Seconds formats durations given in seconds: "250µs", "12ms", "1.5s".
func Seconds(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1e-3:
		return trim(v*1e6) + "µs"
	case v < 1:
		return trim(v*1e3) + "ms"
	}
	return trim(v) + "s"
}

// Number formats a plain value with k and M for thousands and millions.
func Number(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

// trim prints at most three significant digits, without trailing zeros.
func trim(v float64) string {
	s := strconv.FormatFloat(v, 'f', max(0, 2-int(math.Floor(math.Log10(math.Max(math.Abs(v), 1e-9))))), 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Chart is a line chart over [From, To].
type Chart struct {
	// ID is the svg element's id (optional).
	ID       string
	Title    string
	Unit     Unit
	From, To time.Time
	Series   []Series
	// Width and Height in pixels (640 by 200).
	Width, Height int
	// Empty is shown when no series has a point.
	Empty string
}

// MaxMarkedPoints: a series with more points is drawn as a line only,
// without a circle (and tooltip) per point, to keep pages small.
const MaxMarkedPoints = 400

// colors are the series' colors, in order (a palette readable by the
// colour-blind: Okabe and Ito's).
var colors = []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442"}

const (
	marginLeft   = 58
	marginRight  = 12
	marginTop    = 28
	marginBottom = 22
)

// Render writes the chart as an <svg> element.
func (c Chart) Render(w io.Writer) error {
	b := &strings.Builder{}
	c.render(b)
	_, err := io.WriteString(w, b.String())
	return err
}

// String is the chart's SVG.
func (c Chart) String() string {
	b := &strings.Builder{}
	c.render(b)
	return b.String()
}

func (c Chart) render(b *strings.Builder) {
	width, height := c.Width, c.Height
	if width <= 0 {
		width = 640
	}
	if height <= 0 {
		height = 200
	}
	unit := c.Unit
	if unit == nil {
		unit = Number
	}
	id := ""
	if c.ID != "" {
		id = ` id="` + html.EscapeString(c.ID) + `"`
	}

	// The legend flows in rows under the title; the plot starts below it
	// and the chart grows by the rows past the first.
	type legendItem struct {
		label, color string
		x, y         float64
	}
	var legend []legendItem
	lx, ly := 4.0, 32.0
	for i, s := range c.Series {
		label := s.Name
		if p, ok := lastValid(s.Points, c.From, c.To); ok {
			label += " " + unit(p.V)
		}
		w := float64(len([]rune(label)))*6 + 24
		if lx > 4 && lx+w > float64(width) {
			lx, ly = 4, ly+15
		}
		legend = append(legend, legendItem{label, colors[i%len(colors)], lx, ly})
		lx += w
	}
	top := marginTop
	if len(legend) > 0 {
		top = int(ly) + 10
	}
	height += top - marginTop
	fmt.Fprintf(b, `<svg%s class="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		id, width, height, width, height, html.EscapeString(c.Title))
	fmt.Fprintf(b, `<text class="title" x="4" y="16" font-size="13" font-weight="600">%s</text>`, html.EscapeString(c.Title))
	for _, l := range legend {
		fmt.Fprintf(b, `<g class="legend"><rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/><text x="%.1f" y="%.1f" font-size="11">%s</text></g>`,
			l.x, l.y-9, l.color, l.x+14, l.y, html.EscapeString(l.label))
	}

	var n int
	highest := 0.0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if !inWindow(p, c.From, c.To) {
				continue
			}
			n++
			highest = math.Max(highest, p.V)
		}
	}
	if n == 0 || !c.To.After(c.From) {
		msg := c.Empty
		if msg == "" {
			msg = "No data."
		}
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fafafa" stroke="#ddd"/>`, marginLeft, top, width-marginLeft-marginRight, height-top-marginBottom)
		fmt.Fprintf(b, `<text class="empty" x="%d" y="%d" text-anchor="middle" font-size="12" fill="#777">%s</text></svg>`,
			marginLeft+(width-marginLeft-marginRight)/2, top+(height-top-marginBottom)/2, html.EscapeString(msg))
		return
	}

	plotW, plotH := float64(width-marginLeft-marginRight), float64(height-top-marginBottom)
	ticks := NiceTicks(highest, 4)
	yMax := ticks[len(ticks)-1]
	span := c.To.Sub(c.From).Seconds()
	x := func(t time.Time) float64 { return marginLeft + plotW*t.Sub(c.From).Seconds()/span }
	y := func(v float64) float64 { return float64(top) + plotH*(1-v/yMax) }

	// Axes and grid.
	b.WriteString(`<g class="axis" font-size="10" fill="#555">`)
	for _, v := range ticks {
		fmt.Fprintf(b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>`, marginLeft, marginLeft+plotW, y(v), y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, marginLeft-4, y(v)+3, html.EscapeString(unit(v)))
	}
	step, layout := timeStep(c.To.Sub(c.From))
	for t := c.From.Truncate(step).Add(step); !t.After(c.To); t = t.Add(step) {
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#eee"/>`, x(t), x(t), top, float64(top)+plotH)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x(t), float64(top)+plotH+14, t.UTC().Format(layout))
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" fill="none" stroke="#ccc"/>`, marginLeft, top, plotW, plotH)
	b.WriteString(`</g>`)

	// Lines and points; the first series is drawn last, on top.
	for i := len(c.Series) - 1; i >= 0; i-- {
		s := c.Series[i]
		color := colors[i%len(colors)]
		var pts []Point
		for _, p := range s.Points {
			if inWindow(p, c.From, c.To) {
				pts = append(pts, p)
			}
		}
		fmt.Fprintf(b, `<g class="series" data-series="%s">`, html.EscapeString(s.Name))
		var line strings.Builder
		for j, p := range pts {
			if j > 0 {
				line.WriteByte(' ')
			}
			fmt.Fprintf(&line, "%.1f,%.1f", x(p.T), y(p.V))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.6" data-points="%d" points="%s"/>`, color, len(pts), line.String())
		if len(pts) <= MaxMarkedPoints {
			for _, p := range pts {
				fmt.Fprintf(b, `<circle class="pt" cx="%.1f" cy="%.1f" r="2.2" fill="%s"><title>%s %s at %s</title></circle>`,
					x(p.T), y(p.V), color, html.EscapeString(s.Name), html.EscapeString(unit(p.V)), p.T.UTC().Format("15:04:05"))
			}
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
}

func inWindow(p Point, from, to time.Time) bool {
	return !p.T.Before(from) && !p.T.After(to) && !math.IsNaN(p.V) && !math.IsInf(p.V, 0)
}

// lastValid returns the latest point of ps in the window.
func lastValid(ps []Point, from, to time.Time) (Point, bool) {
	for i := len(ps) - 1; i >= 0; i-- {
		if inWindow(ps[i], from, to) {
			return ps[i], true
		}
	}
	return Point{}, false
}

// NiceTicks returns about n+1 evenly spaced values from 0 to at least
// top, spaced by 1, 2 or 5 times a power of ten.
func NiceTicks(top float64, n int) []float64 {
	if top <= 0 || math.IsNaN(top) || math.IsInf(top, 0) {
		top = 1
	}
	n = max(n, 1)
	raw := top / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for i := 0; ; i++ {
		v := float64(i) * step
		// Round away float noise (0.30000000000000004).
		v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
		out = append(out, v)
		if v >= top {
			return out
		}
	}
}

// timeSteps are the spacings of x-axis ticks, smallest first.
var timeSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// timeStep picks the tick spacing that puts at most 6 ticks on span, and
// the time layout of their labels.
func timeStep(span time.Duration) (time.Duration, string) {
	for _, s := range timeSteps {
		if span/s <= 6 {
			if s < time.Minute {
				return s, "15:04:05"
			}
			return s, "15:04"
		}
	}
	return 24 * time.Hour, "01-02"
}
