package metricsampler

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
)

func parseFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustParse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := parseText(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func checkCounts(t *testing.T, s *scrape, sc Scope, calls, errs, observed float64) {
	t.Helper()
	c := s.scopes[sc]
	if c == nil {
		c = s.tabletShards[sc]
	}
	if c == nil {
		t.Errorf("%v: no such scope (have %v)", sc, scopeNames(s))
		return
	}
	if !near(c.calls, calls) || !near(c.errors, errs) || !near(c.observed, observed) {
		t.Errorf("%v: calls %v errors %v observed %v, want %v %v %v", sc, c.calls, c.errors, c.observed, calls, errs, observed)
	}
}

func scopeNames(s *scrape) []string {
	var out []string
	for sc := range s.scopes {
		out = append(out, sc.String())
	}
	return out
}

// TestGateMetricsOldLabels: a gate whose errors and latencies carry no
// keyspace label counts them in the cluster scope only.
func TestGateMetricsOldLabels(t *testing.T) {
	s := gateScrape(mustParse(t, parseFixture(t, "gate_old.prom")))
	checkCounts(t, s, Scope{Kind: Cluster}, 155, 3, 100)
	checkCounts(t, s, Scope{Kind: Keyspace, Name: "ks"}, 120, 0, 0)
	checkCounts(t, s, Scope{Kind: Keyspace, Name: "main"}, 30, 0, 0)
	for sc := range s.scopes {
		if sc.Kind == Shard || sc.Name == "" && sc.Kind != Cluster {
			t.Errorf("unexpected scope %v", sc)
		}
	}
	if s.started != 1.7e9 {
		t.Errorf("process start %v", s.started)
	}
}

func TestGateMetricsNewLabels(t *testing.T) {
	s := gateScrape(mustParse(t, parseFixture(t, "gate_new.prom")))
	checkCounts(t, s, Scope{Kind: Cluster}, 150, 4, 130)
	checkCounts(t, s, Scope{Kind: Keyspace, Name: "ks"}, 120, 3, 100)
	checkCounts(t, s, Scope{Kind: Keyspace, Name: "main"}, 30, 1, 30)
	checkCounts(t, s, Scope{Kind: Shard, Name: "ks/-80"}, 75, 2, 70)
	checkCounts(t, s, Scope{Kind: Shard, Name: "ks/80-"}, 54, 0, 0)
}

func TestTabletMetrics(t *testing.T) {
	s := tabletScrape(mustParse(t, parseFixture(t, "tablet.prom")), "zone1-100")
	checkCounts(t, s, Scope{Kind: Tablet, Name: "zone1-100"}, 80, 2, 75)
	checkCounts(t, s, Scope{Kind: Shard, Name: "ks/-80"}, 80, 2, 75)
	for k, want := range map[string]float64{
		"shardtablet_pool_connections_in_use":          3,
		"shardtablet_tx_pool_connections_in_use":       1,
		"shardtablet_transactions_open":                1,
		"shardtablet_backup_running{op=backup}":        1,
		"shardtablet_backup_progress_ratio{op=backup}": 0.25,
	} {
		if got, ok := s.gauges[k]; !ok || got != want {
			t.Errorf("gauge %s = %v (%v), want %v; gauges %v", k, got, ok, want, s.gauges)
		}
	}
}

func TestQuantileInterpolatesWithinABucket(t *testing.T) {
	c := newCounts()
	// 60 under 1 ms, 40 between 1 and 10 ms, none above.
	c.buckets = map[float64]float64{0.001: 60, 0.01: 100, math.Inf(1): 100}
	c.observed = 100
	for _, tc := range []struct{ q, want float64 }{
		{0.3, 0.0005},               // half of the first bucket, from 0
		{0.5, 0.001 * 50 / 60},      // within the first bucket
		{0.8, 0.001 + 0.009*20/40},  // halfway through the second
		{0.99, 0.001 + 0.009*39/40}, // near its top
	} {
		if got := c.quantile(tc.q); !near(got, tc.want) {
			t.Errorf("q%v = %v, want %v", tc.q, got, tc.want)
		}
	}
	// Past the last finite bound: that bound.
	c.buckets = map[float64]float64{0.001: 10, math.Inf(1): 100}
	if got := c.quantile(0.99); got != 0.001 {
		t.Errorf("q0.99 past the last bound = %v, want 0.001", got)
	}
	if got := newCounts().quantile(0.5); !math.IsNaN(got) {
		t.Errorf("quantile of nothing = %v, want NaN", got)
	}
}

// fakeTarget serves Prometheus text that a test changes between samples.
type fakeTarget struct {
	mu   sync.Mutex
	text string
	down bool
}

func (f *fakeTarget) set(text string) { f.mu.Lock(); f.text = text; f.down = false; f.mu.Unlock() }
func (f *fakeTarget) fail()           { f.mu.Lock(); f.down = true; f.mu.Unlock() }

func (f *fakeTarget) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprint(w, f.text)
}

// gateText is a gate's metrics: calls statements in keyspace ks, errs of
// them failed, fast of them under 1 ms and the rest under 100 ms.
func gateText(calls, errs, fast float64, started float64) string {
	return fmt.Sprintf(`# TYPE shardgate_queries_total counter
shardgate_queries_total{keyspace="ks",plan="select_equal"} %[1]v
# TYPE shardgate_query_errors_total counter
shardgate_query_errors_total{keyspace="ks",code="1062"} %[2]v
# TYPE shardgate_query_duration_seconds histogram
shardgate_query_duration_seconds_bucket{keyspace="ks",plan="select_equal",le="0.001"} %[3]v
shardgate_query_duration_seconds_bucket{keyspace="ks",plan="select_equal",le="0.1"} %[1]v
shardgate_query_duration_seconds_bucket{keyspace="ks",plan="select_equal",le="+Inf"} %[1]v
shardgate_query_duration_seconds_sum{keyspace="ks",plan="select_equal"} 1
shardgate_query_duration_seconds_count{keyspace="ks",plan="select_equal"} %[1]v
# TYPE process_start_time_seconds gauge
process_start_time_seconds %[4]v
`, calls, errs, fast, started)
}

func newTestSampler(t *testing.T, cfg Config, targets ...Target) *Sampler {
	t.Helper()
	return New(func(context.Context) ([]Target, error) { return targets, nil }, cfg, zap.NewNop())
}

func serve(t *testing.T, f *fakeTarget) string {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

func lastPoint(t *testing.T, s *Sampler, sc Scope) Point {
	t.Helper()
	ps := s.Series(sc, time.Hour).Points
	if len(ps) == 0 {
		t.Fatalf("%v has no point", sc)
	}
	return ps[len(ps)-1]
}

func TestRatesAndCounterResets(t *testing.T) {
	gate := &fakeTarget{}
	s := newTestSampler(t, Config{Interval: 5 * time.Second}, Target{Kind: Gate, Name: "g1", URL: serve(t, gate)})
	ctx := context.Background()
	ks := Scope{Kind: Keyspace, Name: "ks"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	gate.set(gateText(1000, 10, 900, 100))
	s.Sample(ctx, t0)
	if ps := s.Series(ks, time.Hour).Points; len(ps) != 0 {
		t.Fatalf("a first scrape gave points: %+v", ps)
	}
	// 500 calls in 5 s, 5 errors; all 500 slow.
	gate.set(gateText(1500, 15, 900, 100))
	s.Sample(ctx, t0.Add(5*time.Second))
	p := lastPoint(t, s, ks)
	if !near(p.QPS, 100) || !near(p.ErrorsPerSec, 1) || !p.HasLatency() || p.P50 < 0.001 || p.P50 > 0.1 {
		t.Errorf("after 500 slow calls in 5 s: %+v, want 100 qps, 1 error/s, p50 within 1-100 ms", p)
	}
	// The process restarted: counters start again from 0 and stand at 200.
	gate.set(gateText(200, 0, 200, 100))
	s.Sample(ctx, t0.Add(10*time.Second))
	p = lastPoint(t, s, ks)
	if !near(p.QPS, 40) || p.ErrorsPerSec != 0 || p.P99 > 0.001 {
		t.Errorf("after a restart (counters at 200): %+v, want 40 qps, no errors, p99 under 1 ms", p)
	}
	// A restart found by its start time although the counters grew.
	gate.set(gateText(300, 0, 300, 200))
	s.Sample(ctx, t0.Add(15*time.Second))
	if p = lastPoint(t, s, ks); !near(p.QPS, 60) {
		t.Errorf("after a restart with higher counters: %+v, want 60 qps", p)
	}
	for _, p := range s.Series(ks, time.Hour).Points {
		if p.QPS < 0 || p.ErrorsPerSec < 0 || p.P50 < 0 || p.P99 < 0 {
			t.Errorf("negative rate: %+v", p)
		}
	}
}

// TestMissedScrapeMakesNoSpike: an increase over two intervals is spread
// over both.
func TestMissedScrapeMakesNoSpike(t *testing.T) {
	gate := &fakeTarget{}
	s := newTestSampler(t, Config{Interval: time.Second}, Target{Kind: Gate, Name: "g1", URL: serve(t, gate)})
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gate.set(gateText(0, 0, 0, 1))
	s.Sample(ctx, t0)
	gate.fail()
	s.Sample(ctx, t0.Add(time.Second))
	if st, _ := s.TargetStatus(Gate, "g1"); st.Err == nil {
		t.Error("a failed scrape left no error")
	}
	gate.set(gateText(20, 0, 20, 1))
	s.Sample(ctx, t0.Add(2*time.Second))
	if p := lastPoint(t, s, Scope{Kind: Cluster}); !near(p.QPS, 10) {
		t.Errorf("20 calls over 2 s with a missed scrape: %+v, want 10 qps", p)
	}
}

// TestDownsampling: the long window has a point per minute whose rate is
// the minute's and whose quantiles come from the minute's buckets.
func TestDownsampling(t *testing.T) {
	gate := &fakeTarget{}
	s := newTestSampler(t, Config{Interval: time.Second, ShortWindow: time.Minute}, Target{Kind: Gate, Name: "g1", URL: serve(t, gate)})
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var calls, fast float64
	for i := 0; i <= 150; i++ {
		gate.set(gateText(calls, 0, fast, 1))
		s.Sample(ctx, t0.Add(time.Duration(i)*time.Second))
		// 10 calls a second; in the second minute all slow.
		calls += 10
		if i < 60 {
			fast += 10
		}
	}
	short := s.Series(Scope{Kind: Keyspace, Name: "ks"}, time.Minute)
	if short.Step != time.Second || len(short.Points) != 60 {
		t.Errorf("the short window has %d points at %v, want 60 at 1s", len(short.Points), short.Step)
	}
	long := s.Series(Scope{Kind: Keyspace, Name: "ks"}, 24*time.Hour)
	if long.Step != time.Minute || len(long.Points) != 3 {
		t.Fatalf("the long window has %d points at %v, want 2 minutes and the one under way", len(long.Points), long.Step)
	}
	for i, p := range long.Points {
		if !near(p.QPS, 10) {
			t.Errorf("minute %d: %v qps, want 10", i, p.QPS)
		}
	}
	if first, second := long.Points[0], long.Points[1]; first.P99 > 0.001 || second.P50 < 0.001 {
		t.Errorf("minute quantiles: first %+v (want fast), second %+v (want slow)", first, second)
	}
	if !long.Points[0].T.Equal(t0.Add(time.Minute)) {
		t.Errorf("the first minute's point is at %v, want its end %v", long.Points[0].T, t0.Add(time.Minute))
	}
}

// TestShardsFromTabletsWhenGatesLackThem: gates without per-tablet call
// metrics leave the shard series to the tablets' own counts.
func TestShardsFromTabletsWhenGatesLackThem(t *testing.T) {
	gate, tablet := &fakeTarget{}, &fakeTarget{}
	s := newTestSampler(t, Config{Interval: time.Second},
		Target{Kind: Gate, Name: "g1", URL: serve(t, gate)},
		Target{Kind: TabletKind, Name: "zone1-100", URL: serve(t, tablet)})
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gate.set(parseFixture(t, "gate_old.prom"))
	tabletText := parseFixture(t, "tablet.prom")
	tablet.set(tabletText)
	s.Sample(ctx, t0)
	tablet.set(strings.Replace(tabletText, `{call="execute",keyspace="ks",shard="-80"} 75`, `{call="execute",keyspace="ks",shard="-80"} 95`, 1))
	s.Sample(ctx, t0.Add(time.Second))
	sh := s.Series(Scope{Kind: Shard, Name: "ks/-80"}, time.Hour)
	if sh.Source != "tablets" || len(sh.Points) != 1 || !near(sh.Points[0].QPS, 20) {
		t.Errorf("shard series %+v, want 20 qps from the tablets", sh)
	}
	if p := lastPoint(t, s, Scope{Kind: Tablet, Name: "zone1-100"}); !near(p.QPS, 20) {
		t.Errorf("tablet point %+v, want 20 qps", p)
	}
	st, ok := s.TargetStatus(TabletKind, "zone1-100")
	if !ok || st.Gauges["shardtablet_pool_connections_in_use"] != 3 {
		t.Errorf("tablet status %+v", st)
	}

	// Once a gate exports calls per tablet, shards come from the gates.
	gate.set(parseFixture(t, "gate_new.prom"))
	s.Sample(ctx, t0.Add(2*time.Second))
	if sh := s.Series(Scope{Kind: Shard, Name: "ks/-80"}, time.Hour); sh.Source != "gates" {
		t.Errorf("shard series source %q after the gate exports calls per tablet, want gates", sh.Source)
	}
}

func TestRingKeepsTheLastPoints(t *testing.T) {
	r := newRing(3)
	t0 := time.Unix(0, 0)
	for i := 1; i <= 5; i++ {
		r.push(Point{T: t0.Add(time.Duration(i) * time.Second), QPS: float64(i)})
	}
	got := r.since(t0)
	if len(got) != 3 || got[0].QPS != 3 || got[2].QPS != 5 {
		t.Errorf("ring holds %+v, want points 3, 4, 5", got)
	}
	if got := r.since(t0.Add(4 * time.Second)); len(got) != 1 || got[0].QPS != 5 {
		t.Errorf("since 4s: %+v", got)
	}
}

// TestTopologyOutageKeepsTargets: a round whose target list failed keeps
// the state of the targets it could not list, so the next round has rates.
func TestTopologyOutageKeepsTargets(t *testing.T) {
	gate := &fakeTarget{}
	url := serve(t, gate)
	var mu sync.Mutex
	down := false
	s := New(func(context.Context) ([]Target, error) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return nil, fmt.Errorf("etcd is down")
		}
		return []Target{{Kind: Gate, Name: "g1", URL: url}}, nil
	}, Config{Interval: time.Second}, zap.NewNop())
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gate.set(gateText(0, 0, 0, 1))
	s.Sample(ctx, t0)
	mu.Lock()
	down = true
	mu.Unlock()
	s.Sample(ctx, t0.Add(time.Second))
	if _, err := s.Status(); err == nil {
		t.Error("the failed listing is not reported")
	}
	mu.Lock()
	down = false
	mu.Unlock()
	gate.set(gateText(20, 0, 20, 1))
	s.Sample(ctx, t0.Add(2*time.Second))
	if p := lastPoint(t, s, Scope{Kind: Cluster}); !near(p.QPS, 10) {
		t.Errorf("after a failed listing: %+v, want 10 qps", p)
	}
}
