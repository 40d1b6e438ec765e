package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/control/metricsampler"
	"github.com/shardgate/shardgate/control/ui/svgchart"
)

// targets lists what the sampler scrapes: every registered gate and
// every tablet with an HTTP port.
func (s *Server) targets(ctx context.Context) ([]metricsampler.Target, error) {
	var out []metricsampler.Target
	gates, gerr := s.ts.ListGates(ctx)
	for _, g := range gates {
		if g.HttpPort > 0 {
			out = append(out, metricsampler.Target{Kind: metricsampler.Gate, Name: gateName(g.Name, g.Id),
				URL: fmt.Sprintf("http://%s/metrics", hostPort(g.Hostname, g.HttpPort))})
		}
	}
	tablets, terr := s.ts.ListTablets(ctx)
	for _, t := range tablets {
		if t.HttpPort > 0 {
			out = append(out, metricsampler.Target{Kind: metricsampler.TabletKind, Name: t.Alias,
				URL: fmt.Sprintf("http://%s/metrics", hostPort(t.Hostname, t.HttpPort))})
		}
	}
	if gerr != nil {
		return out, fmt.Errorf("list gates: %w", gerr)
	}
	if terr != nil {
		return out, fmt.Errorf("list tablets: %w", terr)
	}
	return out, nil
}

func gateName(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

func hostPort(host string, port int32) string {
	h := hostOf(host)
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return h + ":" + strconv.Itoa(int(port))
}

// SetSampleInterval sets how often the UI scrapes the gates' and
// tablets' metrics for its charts (metricsampler.DefaultInterval). Call
// it before Run and before serving.
func (s *Server) SetSampleInterval(d time.Duration) {
	s.sampler = metricsampler.New(s.targets, metricsampler.Config{Interval: d}, s.log)
}

// Run samples the cluster's metrics for the charts until ctx ends.
func (s *Server) Run(ctx context.Context) {
	s.log.Info("admin UI: sampling metrics", zap.Duration("interval", s.sampler.Config().Interval))
	s.sampler.Run(ctx)
}

// windows are the chart windows pages offer.
var windows = []struct {
	Param string
	D     time.Duration
}{{"5m", 5 * time.Minute}, {"1h", time.Hour}, {"24h", 24 * time.Hour}}

// window reads ?window=, 5m unless it names one of windows (or another
// duration up to 24 h).
func window(r *http.Request) (string, time.Duration) {
	v := r.URL.Query().Get("window")
	for _, w := range windows {
		if w.Param == v {
			return w.Param, w.D
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 && d <= 24*time.Hour {
		return v, d
	}
	return windows[0].Param, windows[0].D
}

// chartLine is one series of a chart: a scope and what to read of it.
type chartLine struct {
	name  string
	scope metricsampler.Scope
}

// chartSet draws the three charts of a page (queries per second,
// latency, errors per second) for the given lines, over window.
func (s *Server) chartSet(id string, lines []chartLine, win time.Duration) []template.HTML {
	now := time.Now()
	from := now.Add(-win)
	empty := fmt.Sprintf("No samples yet: the UI scrapes /metrics every %s; a line starts after two scrapes.", s.sampler.Config().Interval)
	if st, _ := s.sampler.Status(); len(st) > 0 {
		empty = "No traffic sampled in this window."
	}
	qps := svgchart.Chart{ID: id + "-qps", Title: "Queries per second", Unit: svgchart.PerSecond, From: from, To: now, Empty: empty}
	lat := svgchart.Chart{ID: id + "-latency", Title: "Latency (p50, p99)", Unit: svgchart.Seconds, From: from, To: now, Empty: empty}
	errs := svgchart.Chart{ID: id + "-errors", Title: "Errors per second", Unit: svgchart.PerSecond, From: from, To: now, Empty: empty}
	for _, l := range lines {
		series := s.sampler.Series(l.scope, win)
		var q, e, p50, p99 []svgchart.Point
		for _, p := range series.Points {
			q = append(q, svgchart.Point{T: p.T, V: p.QPS})
			e = append(e, svgchart.Point{T: p.T, V: p.ErrorsPerSec})
			if p.HasLatency() {
				p50 = append(p50, svgchart.Point{T: p.T, V: p.P50})
				p99 = append(p99, svgchart.Point{T: p.T, V: p.P99})
			}
		}
		qps.Series = append(qps.Series, svgchart.Series{Name: l.name, Points: q})
		errs.Series = append(errs.Series, svgchart.Series{Name: l.name, Points: e})
		if len(p50) > 0 || len(lines) == 1 {
			lat.Series = append(lat.Series, svgchart.Series{Name: l.name + " p50", Points: p50}, svgchart.Series{Name: l.name + " p99", Points: p99})
		}
	}
	out := make([]template.HTML, 0, 3)
	for _, c := range []svgchart.Chart{qps, lat, errs} {
		// The charts escape every text they draw.
		out = append(out, template.HTML(c.String()))
	}
	return out
}

// samplerProblems names the targets whose last scrape failed.
func (s *Server) samplerProblems() []string {
	st, err := s.sampler.Status()
	var out []string
	if err != nil {
		out = append(out, "metrics sampler: "+err.Error())
	}
	for _, t := range st {
		if t.Err != nil {
			out = append(out, fmt.Sprintf("metrics of %s %s: %v", t.Target.Kind, t.Target.Name, t.Err))
		}
	}
	return out
}

// seriesJSON serves a scope's series: /api/series?scope=keyspace&name=ks&window=5m.
func (s *Server) seriesJSON(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind := metricsampler.Kind(q.Get("scope"))
	switch kind {
	case metricsampler.Cluster, metricsampler.Keyspace, metricsampler.Shard, metricsampler.Tablet:
	case "":
		kind = metricsampler.Cluster
	default:
		http.Error(w, fmt.Sprintf("scope %q: want cluster, keyspace, shard (name keyspace/shard) or tablet", kind), http.StatusBadRequest)
		return
	}
	_, win := window(r)
	s.writeJSON(w, s.sampler.Series(metricsampler.Scope{Kind: kind, Name: q.Get("name")}, win))
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		s.log.Debug("admin UI: write JSON", zap.Error(err))
	}
}

// page is what every page's layout reads.
type page struct {
	Title string
	// Nav is the nav bar entry to mark: overview, queries, operations.
	Nav string
	// Refresh reloads the whole page every so many seconds (the older
	// pages); Live instead has a script fetch the page's live part
	// (?fragment=1) every so many seconds.
	Refresh, Live int
	// Window is the chart window's parameter; Windows those offered.
	Window  string
	Windows []string
	Path    string
}

func (s *Server) livePage(r *http.Request, title, nav string) page {
	p := page{Title: title, Nav: nav, Live: int(max(s.refresh/time.Second, 1)), Path: r.URL.Path}
	p.Window, _ = window(r)
	for _, w := range windows {
		p.Windows = append(p.Windows, w.Param)
	}
	return p
}

// renderLive renders a console page, or only its live part when the
// page's script asks for it (?fragment=1).
func (s *Server) renderLive(w http.ResponseWriter, r *http.Request, name string, data any) {
	if r.URL.Query().Get("fragment") == "1" {
		s.render(w, name+"-live", data)
		return
	}
	s.render(w, name+".html", data)
}
