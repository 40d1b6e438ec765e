package metricsampler

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
)

// TargetKind is what a target is.
type TargetKind string

const (
	Gate       TargetKind = "gate"
	TabletKind TargetKind = "tablet"
)

// Target is a process whose metrics are scraped.
type Target struct {
	Kind TargetKind
	// Name is stable across restarts: a gate's name, a tablet's alias.
	Name string
	// URL is where its Prometheus text is: http://host:port/metrics.
	URL string
}

// Targets lists what to scrape now; the sampler calls it before every
// round of scrapes.
type Targets func(ctx context.Context) ([]Target, error)

// Config says how often to sample and how much to keep. Zero fields take
// their defaults (Defaults).
type Config struct {
	// Interval is the time between samples (5 s).
	Interval time.Duration
	// ShortWindow is how long points at Interval are kept (1 h).
	ShortWindow time.Duration
	// LongStep is the step of the long window (1 min), LongWindow its
	// length (24 h).
	LongStep   time.Duration
	LongWindow time.Duration
	// Timeout bounds one scrape (Interval, at most 5 s).
	Timeout time.Duration
	// Client makes the requests (a client of its own without keep-alive
	// limits).
	Client *http.Client
}

// DefaultInterval is the sampling interval unless configured.
const DefaultInterval = 5 * time.Second

// Defaults fills the zero fields of c.
func (c Config) Defaults() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.ShortWindow <= 0 {
		c.ShortWindow = time.Hour
	}
	if c.LongStep <= 0 {
		c.LongStep = time.Minute
	}
	if c.LongWindow <= 0 {
		c.LongWindow = 24 * time.Hour
	}
	if c.Timeout <= 0 {
		c.Timeout = min(c.Interval, 5*time.Second)
	}
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	return c
}

// TargetStatus is how the last scrape of a target went.
type TargetStatus struct {
	Target Target
	// At is when it was last scraped successfully; zero: never.
	At time.Time
	// Err is the last scrape's error; nil when it succeeded.
	Err error
	// Gauges are the gauges of the last successful scrape (tablets):
	// "shardtablet_pool_connections_in_use", "shardtablet_backup_running{op=backup}".
	Gauges map[string]float64
}

type targetState struct {
	status TargetStatus
	last   *scrape
	lastAt time.Time
}

// Sampler scrapes targets and keeps the series of rates. It is safe for
// concurrent use.
type Sampler struct {
	cfg     Config
	targets Targets
	log     *zap.Logger

	mu        sync.Mutex
	state     map[string]*targetState // by Kind/Name
	series    map[Scope]*history
	shardSrc  string
	lastTick  time.Time
	listError error
}

// New returns a sampler of the targets that targets lists.
func New(targets Targets, cfg Config, log *zap.Logger) *Sampler {
	return &Sampler{cfg: cfg.Defaults(), targets: targets, log: log,
		state: map[string]*targetState{}, series: map[Scope]*history{}}
}

// Config is the sampler's configuration, defaults filled.
func (s *Sampler) Config() Config { return s.cfg }

// Run samples every interval until ctx ends.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		s.Sample(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type result struct {
	target Target
	sc     *scrape
	err    error
}

// Sample scrapes every target once and records a point per scope, at
// now. Run calls it; tests call it with times of their own.
func (s *Sampler) Sample(ctx context.Context, now time.Time) {
	targets, err := s.targets(ctx)
	s.mu.Lock()
	s.listError = err
	s.mu.Unlock()
	results := make([]result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			sc, err := s.scrape(ctx, t)
			results[i] = result{target: t, sc: sc, err: err}
		})
	}
	wg.Wait()
	s.record(now, results, err == nil)
}

func (s *Sampler) scrape(ctx context.Context, t Target) (*scrape, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, fmt.Errorf("GET %s: %s", t.URL, resp.Status)
	}
	fams, err := parseText(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.URL, err)
	}
	if t.Kind == Gate {
		return gateScrape(fams), nil
	}
	return tabletScrape(fams, t.Name), nil
}

func key(t Target) string { return string(t.Kind) + "/" + t.Name }

// record turns the scrapes of one round into points. complete says the
// results cover every target: the state of the others is dropped (a
// target listed again later starts over).
func (s *Sampler) record(now time.Time, results []result, complete bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	step := s.cfg.Interval
	if !s.lastTick.IsZero() {
		step = now.Sub(s.lastTick)
	}
	s.lastTick = now
	if step <= 0 {
		return
	}

	sums := map[Scope]*counts{}
	tabletShardSums := map[Scope]*counts{}
	gateShards := false
	seen := map[string]bool{}
	for _, r := range results {
		k := key(r.target)
		seen[k] = true
		st := s.state[k]
		if st == nil {
			st = &targetState{}
			s.state[k] = st
		}
		st.status.Target = r.target
		if r.err != nil {
			st.status.Err = r.err
			continue
		}
		st.status.Err, st.status.At, st.status.Gauges = nil, now, r.sc.gauges
		prev, prevAt := st.last, st.lastAt
		st.last, st.lastAt = r.sc, now
		if r.target.Kind == Gate {
			for sc := range r.sc.scopes {
				if sc.Kind == Shard {
					gateShards = true
				}
			}
		}
		if prev == nil || !now.After(prevAt) {
			continue
		}
		// The increase since the previous scrape, scaled to this step.
		f := step.Seconds() / now.Sub(prevAt).Seconds()
		reset := prev.started != 0 && r.sc.started != 0 && prev.started != r.sc.started
		addSince(sums, r.sc.scopes, prev.scopes, reset, f)
		addSince(tabletShardSums, r.sc.tabletShards, prev.tabletShards, reset, f)
	}
	for k := range s.state {
		if complete && !seen[k] {
			delete(s.state, k)
		}
	}
	s.shardSrc = "gates"
	if !gateShards {
		s.shardSrc = "tablets"
		maps.Copy(sums, tabletShardSums)
	}
	for sc, c := range sums {
		h := s.series[sc]
		if h == nil {
			h = &history{short: newRing(int(s.cfg.ShortWindow / s.cfg.Interval)), long: newRing(int(s.cfg.LongWindow / s.cfg.LongStep))}
			s.series[sc] = h
		}
		h.short.push(point(now, c, step))
		start := now.Truncate(s.cfg.LongStep)
		if h.acc.counts != nil && !h.acc.start.Equal(start) {
			h.long.push(point(h.acc.start.Add(s.cfg.LongStep), h.acc.counts, time.Duration(h.acc.seconds*float64(time.Second))))
			h.acc.counts = nil
		}
		if h.acc.counts == nil {
			h.acc = minute{start: start, counts: newCounts()}
		}
		h.acc.counts.add(c, 1)
		h.acc.seconds += step.Seconds()
	}
}

func addSince(sums, cur, prev map[Scope]*counts, reset bool, f float64) {
	for sc, c := range cur {
		d := c.since(prev[sc], reset)
		sum := sums[sc]
		if sum == nil {
			sum = newCounts()
			sums[sc] = sum
		}
		sum.add(d, f)
	}
}

// Series returns a scope's points of the last window: at the sampling
// interval for windows up to the short window, else at the long step
// (the minute under way included).
func (s *Sampler) Series(sc Scope, window time.Duration) Series {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Series{Scope: sc, Window: window, Step: s.cfg.Interval}
	if sc.Kind == Shard {
		out.Source = s.shardSrc
	} else if sc.Kind != Tablet {
		out.Source = "gates"
	} else {
		out.Source = "tablets"
	}
	h := s.series[sc]
	if h == nil {
		return out
	}
	from := s.lastTick.Add(-window)
	if window <= s.cfg.ShortWindow {
		out.Points = h.short.since(from)
		return out
	}
	out.Step = s.cfg.LongStep
	out.Points = h.long.since(from)
	if h.acc.counts != nil && h.acc.seconds > 0 {
		out.Points = append(out.Points, point(s.lastTick, h.acc.counts, time.Duration(h.acc.seconds*float64(time.Second))))
	}
	return out
}

// Scopes lists the scopes of a kind that have points, by name.
func (s *Sampler) Scopes(kind Kind) []Scope {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Scope
	for sc := range s.series {
		if sc.Kind == kind {
			out = append(out, sc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Status returns how the last scrape of each target went, by kind and
// name, and the error of listing the targets.
func (s *Sampler) Status() ([]TargetStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TargetStatus, 0, len(s.state))
	for _, k := range slices.Sorted(maps.Keys(s.state)) {
		out = append(out, s.state[k].status)
	}
	return out, s.listError
}

// TargetStatus returns how the last scrape of a target went.
func (s *Sampler) TargetStatus(kind TargetKind, name string) (TargetStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state[string(kind)+"/"+name]
	if st == nil {
		return TargetStatus{}, false
	}
	return st.status, true
}
