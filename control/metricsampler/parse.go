package metricsampler

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Kind is what a scope covers.
type Kind string

const (
	// Cluster: every statement of every gate. Its name is empty.
	Cluster Kind = "cluster"
	// Keyspace: the statements gates ran in a keyspace; named by it.
	Keyspace Kind = "keyspace"
	// Shard: the calls to a shard's tablets; named "keyspace/shard".
	Shard Kind = "shard"
	// Tablet: the calls a tablet served; named by its alias.
	Tablet Kind = "tablet"
)

// Scope is what a series counts.
type Scope struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name"`
}

func (s Scope) String() string {
	if s.Name == "" {
		return string(s.Kind)
	}
	return string(s.Kind) + " " + s.Name
}

// ShardName names a shard scope.
func ShardName(keyspace, shard string) string { return keyspace + "/" + shard }

// Metric names the sampler reads.
const (
	gateQueries        = "shardgate_queries_total"
	gateQueryErrors    = "shardgate_query_errors_total"
	gateQueryDuration  = "shardgate_query_duration_seconds"
	gateTabletCalls    = "shardgate_tablet_calls_total"
	gateTabletErrors   = "shardgate_tablet_call_errors_total"
	gateTabletDuration = "shardgate_tablet_call_duration_seconds"

	tabletQueries       = "shardtablet_queries_total"
	tabletQueryErrors   = "shardtablet_query_errors_total"
	tabletQueryDuration = "shardtablet_query_duration_seconds"

	processStart = "process_start_time_seconds"
)

// counts are cumulative values of one scope: calls, errors and the
// latency histogram, added over the series that fall in the scope.
type counts struct {
	calls, errors float64
	// buckets maps a bucket's upper bound to its cumulative count;
	// observed is the histogram's sample count.
	buckets  map[float64]float64
	observed float64
}

func newCounts() *counts { return &counts{buckets: map[float64]float64{}} }

func (c *counts) addHistogram(h *dto.Histogram) {
	c.observed += histCount(h)
	for _, b := range h.GetBucket() {
		n := float64(b.GetCumulativeCount())
		if b.CumulativeCountFloat != nil {
			n = b.GetCumulativeCountFloat()
		}
		c.buckets[b.GetUpperBound()] += n
	}
}

func histCount(h *dto.Histogram) float64 {
	if h.SampleCountFloat != nil {
		return h.GetSampleCountFloat()
	}
	return float64(h.GetSampleCount())
}

// add adds d (scaled by f) to c.
func (c *counts) add(d *counts, f float64) {
	c.calls += d.calls * f
	c.errors += d.errors * f
	c.observed += d.observed * f
	for le, n := range d.buckets {
		c.buckets[le] += n * f
	}
}

// since returns what c counted since prev; prev nil or a reset: all of c.
func (c *counts) since(prev *counts, reset bool) *counts {
	d := newCounts()
	if prev == nil || reset || c.decreasedFrom(prev) {
		d.add(c, 1)
		return d
	}
	d.calls = c.calls - prev.calls
	d.errors = c.errors - prev.errors
	d.observed = c.observed - prev.observed
	for le, n := range c.buckets {
		d.buckets[le] = n - prev.buckets[le]
	}
	return d
}

// decreasedFrom reports whether a counter of c is below prev's: the
// process restarted in between.
func (c *counts) decreasedFrom(prev *counts) bool {
	if c.calls < prev.calls || c.errors < prev.errors || c.observed < prev.observed {
		return true
	}
	for le, n := range c.buckets {
		if n < prev.buckets[le] {
			return true
		}
	}
	return false
}

// quantile estimates the q-quantile of the latencies counted, in
// seconds, as Prometheus's histogram_quantile does: linear within the
// bucket holding the rank, from 0 for the first bucket; a rank past the
// last finite bound gives that bound. NaN when nothing was observed.
func (c *counts) quantile(q float64) float64 {
	total := c.observed
	if inf, ok := c.buckets[math.Inf(1)]; ok && inf > total {
		total = inf
	}
	if total <= 0 {
		return math.NaN()
	}
	bounds := make([]float64, 0, len(c.buckets))
	for le := range c.buckets {
		if !math.IsInf(le, 1) {
			bounds = append(bounds, le)
		}
	}
	if len(bounds) == 0 {
		return math.NaN()
	}
	sort.Float64s(bounds)
	rank := q * total
	lower, below := 0.0, 0.0
	for _, le := range bounds {
		cum := c.buckets[le]
		if cum >= rank && cum > below {
			return lower + (le-lower)*(rank-below)/(cum-below)
		}
		lower, below = le, max(below, cum)
	}
	return bounds[len(bounds)-1]
}

// scrape is what one read of a target's metrics gave.
type scrape struct {
	// started is process_start_time_seconds; 0: not exported.
	started float64
	scopes  map[Scope]*counts
	// tabletShards are the shard scopes a tablet's own metrics give,
	// used for shards when no gate exports its calls per tablet.
	tabletShards map[Scope]*counts
	gauges       map[string]float64
}

func (s *scrape) scope(sc Scope) *counts {
	c := s.scopes[sc]
	if c == nil {
		c = newCounts()
		s.scopes[sc] = c
	}
	return c
}

func parseText(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse the metrics: %w", err)
	}
	return fams, nil
}

func label(m *dto.Metric, name string) (string, bool) {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue(), true
		}
	}
	return "", false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func newScrape(fams map[string]*dto.MetricFamily) *scrape {
	s := &scrape{scopes: map[Scope]*counts{}, tabletShards: map[Scope]*counts{}, gauges: map[string]float64{}}
	if f := fams[processStart]; f != nil && len(f.GetMetric()) > 0 {
		s.started = value(f.GetMetric()[0])
	}
	return s
}

// gateScrape reads a gate's metrics into cluster, keyspace and shard
// scopes.
func gateScrape(fams map[string]*dto.MetricFamily) *scrape {
	s := newScrape(fams)
	cluster := s.scope(Scope{Kind: Cluster})
	keyspace := func(m *dto.Metric) *counts {
		if ks, ok := label(m, "keyspace"); ok && ks != "" {
			return s.scope(Scope{Kind: Keyspace, Name: ks})
		}
		return nil
	}
	shard := func(m *dto.Metric) *counts {
		ks, ok1 := label(m, "keyspace")
		sh, ok2 := label(m, "shard")
		if !ok1 || !ok2 || ks == "" || sh == "" {
			return nil
		}
		return s.scope(Scope{Kind: Shard, Name: ShardName(ks, sh)})
	}
	for _, m := range fams[gateQueries].GetMetric() {
		cluster.calls += value(m)
		if c := keyspace(m); c != nil {
			c.calls += value(m)
		}
	}
	for _, m := range fams[gateQueryErrors].GetMetric() {
		cluster.errors += value(m)
		if c := keyspace(m); c != nil {
			c.errors += value(m)
		}
	}
	for _, m := range fams[gateQueryDuration].GetMetric() {
		if h := m.GetHistogram(); h != nil {
			cluster.addHistogram(h)
			if c := keyspace(m); c != nil {
				c.addHistogram(h)
			}
		}
	}
	for _, m := range fams[gateTabletCalls].GetMetric() {
		if c := shard(m); c != nil {
			c.calls += value(m)
		}
	}
	for _, m := range fams[gateTabletErrors].GetMetric() {
		if c := shard(m); c != nil {
			c.errors += value(m)
		}
	}
	for _, m := range fams[gateTabletDuration].GetMetric() {
		if h := m.GetHistogram(); h != nil {
			if c := shard(m); c != nil {
				c.addHistogram(h)
			}
		}
	}
	return s
}

// tabletGauges are the gauges kept of a tablet's last scrape.
var tabletGauges = []string{
	"shardtablet_pool_connections_in_use",
	"shardtablet_tx_pool_connections_in_use",
	"shardtablet_transactions_open",
	"shardtablet_transactions_prepared",
	"shardtablet_backup_running",
	"shardtablet_backup_progress_ratio",
	"shardtablet_resharding_lag_seconds",
	"shardtablet_resharding_replica_lag_seconds",
}

// tabletScrape reads a tablet's metrics into its tablet scope and its
// shard's.
func tabletScrape(fams map[string]*dto.MetricFamily, alias string) *scrape {
	s := newScrape(fams)
	self := s.scope(Scope{Kind: Tablet, Name: alias})
	shardOf := func(m *dto.Metric) *counts {
		ks, ok1 := label(m, "keyspace")
		sh, ok2 := label(m, "shard")
		if !ok1 || !ok2 {
			return nil
		}
		sc := Scope{Kind: Shard, Name: ShardName(ks, sh)}
		c := s.tabletShards[sc]
		if c == nil {
			c = newCounts()
			s.tabletShards[sc] = c
		}
		return c
	}
	for _, m := range fams[tabletQueries].GetMetric() {
		self.calls += value(m)
		if c := shardOf(m); c != nil {
			c.calls += value(m)
		}
	}
	for _, m := range fams[tabletQueryErrors].GetMetric() {
		self.errors += value(m)
		if c := shardOf(m); c != nil {
			c.errors += value(m)
		}
	}
	for _, m := range fams[tabletQueryDuration].GetMetric() {
		if h := m.GetHistogram(); h != nil {
			self.addHistogram(h)
			if c := shardOf(m); c != nil {
				c.addHistogram(h)
			}
		}
	}
	for _, name := range tabletGauges {
		for _, m := range fams[name].GetMetric() {
			s.gauges[gaugeKey(name, m)] = value(m)
		}
	}
	return s
}

// gaugeKey names a gauge by its metric name and the labels that are not
// the tablet's own keyspace and shard: "shardtablet_backup_running{op=backup}".
func gaugeKey(name string, m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		if l.GetName() == "keyspace" || l.GetName() == "shard" {
			continue
		}
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	if len(parts) == 0 {
		return name
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}
