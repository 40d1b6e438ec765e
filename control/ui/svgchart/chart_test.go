package svgchart

import (
	"encoding/xml"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func wellFormed(t *testing.T, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
	}
}

func TestChartDrawsEveryPointWithATooltip(t *testing.T) {
	c := Chart{
		ID: "qps", Title: "Queries per second", Unit: PerSecond, From: t0, To: t0.Add(5 * time.Minute),
		Series: []Series{
			{Name: "ks", Points: []Point{{t0.Add(time.Minute), 10}, {t0.Add(2 * time.Minute), 40}, {t0.Add(3 * time.Minute), 25}}},
			{Name: "<main>", Points: []Point{{t0.Add(time.Minute), 1}, {t0.Add(2 * time.Minute), 2}}},
			// Outside the window: not drawn.
			{Name: "old", Points: []Point{{t0.Add(-time.Minute), 1000}}},
		},
	}
	svg := c.String()
	wellFormed(t, svg)
	for _, want := range []string{
		`<svg id="qps" class="chart"`,
		`>Queries per second</text>`,
		`data-series="ks"`, `data-points="3"`, `data-points="2"`, `data-points="0"`,
		`<title>ks 40/s at 12:02:00</title>`, `<title>&lt;main&gt; 2/s at 12:02:00</title>`,
		`>ks 25/s</text>`, // the legend shows the latest value
		`>40/s</text>`,    // the top tick: steps of 10 up to the highest point
		`>12:01</text>`,   // x ticks every minute
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("the chart lacks %q:\n%s", want, svg)
		}
	}
	if n := strings.Count(svg, `class="pt"`); n != 5 {
		t.Errorf("%d points drawn, want 5", n)
	}
	if strings.Contains(svg, "1k/s") || strings.Contains(svg, "<main>") {
		t.Errorf("a point outside the window scaled the axis, or a name went unescaped:\n%s", svg)
	}
}

func TestChartWithoutPointsShowsItsEmptyMessage(t *testing.T) {
	svg := Chart{Title: "Latency", From: t0, To: t0.Add(time.Hour), Empty: "No traffic sampled yet.",
		Series: []Series{{Name: "p99"}}}.String()
	wellFormed(t, svg)
	if !strings.Contains(svg, `class="empty"`) || !strings.Contains(svg, "No traffic sampled yet.") || strings.Contains(svg, "polyline") {
		t.Errorf("empty chart:\n%s", svg)
	}
}

func TestLongSeriesAreLinesOnly(t *testing.T) {
	var pts []Point
	for i := range MaxMarkedPoints + 1 {
		pts = append(pts, Point{t0.Add(time.Duration(i) * time.Second), float64(i % 7)})
	}
	svg := Chart{Title: "x", From: t0, To: t0.Add(time.Hour), Series: []Series{{Name: "a", Points: pts}}}.String()
	wellFormed(t, svg)
	if strings.Contains(svg, `class="pt"`) || !strings.Contains(svg, `data-points="401"`) {
		t.Errorf("a series of %d points: circles drawn, or the count missing", len(pts))
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		top  float64
		want []float64
	}{
		{40, []float64{0, 10, 20, 30, 40}},
		{41, []float64{0, 20, 40, 60}},
		{0.0031, []float64{0, 0.001, 0.002, 0.003, 0.004}},
		{0, []float64{0, 0.5, 1}},
		{7, []float64{0, 2, 4, 6, 8}},
	} {
		if got := NiceTicks(c.top, 4); !reflect.DeepEqual(got, c.want) {
			t.Errorf("NiceTicks(%v) = %v, want %v", c.top, got, c.want)
		}
	}
}

func TestUnits(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{Seconds(0.00025), "250µs"}, {Seconds(0.0123), "12.3ms"}, {Seconds(1.5), "1.5s"}, {Seconds(0), "0"},
		{PerSecond(1500), "1.5k/s"}, {PerSecond(0.25), "0.25/s"}, {Number(2e6), "2M"}, {Number(123.456), "123"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// TestLegendWraps: a legend too wide for one row flows into more, and the
// chart grows to keep its plot.
func TestLegendWraps(t *testing.T) {
	c := Chart{Title: "Latency", Unit: Seconds, From: t0, To: t0.Add(time.Minute), Width: 400}
	for _, s := range []string{"-40", "40-80", "80-c0", "c0-"} {
		for _, q := range []string{"p50", "p99"} {
			c.Series = append(c.Series, Series{Name: s + " " + q, Points: []Point{{t0.Add(30 * time.Second), 0.002}}})
		}
	}
	svg := c.String()
	wellFormed(t, svg)
	rows := map[string]bool{}
	for _, part := range strings.Split(svg, `<g class="legend"><rect x="`)[1:] {
		x, rest, _ := strings.Cut(part, `"`)
		var xv float64
		if _, err := fmt.Sscan(x, &xv); err != nil || xv < 0 || xv > 400 {
			t.Errorf("legend item at x=%s", x)
		}
		y, _, _ := strings.Cut(strings.TrimPrefix(rest, ` y="`), `"`)
		rows[y] = true
	}
	if len(rows) < 2 || !strings.Contains(svg, `height="`) || strings.Contains(svg, `height="200"`) {
		t.Errorf("the legend of 8 series on 400 px takes %d rows, chart %s", len(rows), svg[:200])
	}
}
