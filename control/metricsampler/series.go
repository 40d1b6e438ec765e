package metricsampler

import (
	"math"
	"time"
)

// Point is a scope's traffic over one step that ended at T.
type Point struct {
	T time.Time `json:"t"`
	// QPS and ErrorsPerSec are rates over the step.
	QPS          float64 `json:"qps"`
	ErrorsPerSec float64 `json:"errors_per_sec"`
	// Observed counts the latencies measured in the step; P50 and P99
	// (seconds) mean something only when it is above zero (they are 0
	// otherwise).
	Observed float64 `json:"observed"`
	P50      float64 `json:"p50_seconds"`
	P99      float64 `json:"p99_seconds"`
}

// HasLatency reports whether the step measured latencies.
func (p Point) HasLatency() bool { return p.Observed > 0 }

// point turns the counts of a step of the given length into a Point.
func point(t time.Time, c *counts, step time.Duration) Point {
	secs := step.Seconds()
	p := Point{T: t}
	if secs <= 0 {
		return p
	}
	p.QPS = max(c.calls/secs, 0)
	p.ErrorsPerSec = max(c.errors/secs, 0)
	if q := c.quantile(0.5); !math.IsNaN(q) {
		p.Observed = c.observed
		p.P50 = q
		p.P99 = c.quantile(0.99)
	}
	return p
}

// ring keeps the last len(buf) points, oldest first once read.
type ring struct {
	buf  []Point
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]Point, max(n, 1))} }

func (r *ring) push(p Point) {
	r.buf[r.next] = p
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// since returns the points later than t, oldest first, as a new slice.
func (r *ring) since(t time.Time) []Point {
	var out []Point
	add := func(ps []Point) {
		for _, p := range ps {
			if p.T.After(t) {
				out = append(out, p)
			}
		}
	}
	if r.full {
		add(r.buf[r.next:])
	}
	add(r.buf[:r.next])
	return out
}

// minute accumulates the counts of the samples in one long step.
type minute struct {
	start   time.Time
	seconds float64
	counts  *counts
}

// history is one scope's two windows.
type history struct {
	short, long *ring
	acc         minute
}

// Series is a scope's points over a window, oldest first.
type Series struct {
	Scope  Scope         `json:"scope"`
	Window time.Duration `json:"window_ns"`
	// Step is the time between points: the sampling interval, or the
	// long step (a minute) for windows longer than the short one.
	Step   time.Duration `json:"step_ns"`
	Points []Point       `json:"points"`
	// Source says what was scraped for the series ("gates", "tablets").
	Source string `json:"source,omitempty"`
}
