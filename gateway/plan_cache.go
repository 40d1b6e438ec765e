package gateway

import (
	"container/list"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardgate/shardgate/sqlrouter"
)

// planCache keeps plans of normalized statements, least recently used
// first out, bounded by a number of entries and by an estimate of their
// bytes. It is safe for concurrent use; plans are immutable and shared.
type planCache struct {
	mu         sync.Mutex
	maxEntries int
	maxBytes   int64
	bytes      int64
	order      *list.List // front: most recently used
	entries    map[string]*list.Element

	hits, misses prometheus.Counter
}

type cachedPlan struct {
	key  string
	plan *sqlrouter.Plan
	size int64
	// record is the statement's statistics (query_stats.go); access
	// what it needs of its user's rights (authorize.go).
	record recordSlot
	access accessSlot
}

func newPlanCache(maxEntries int, maxBytes int64, reg prometheus.Registerer) *planCache {
	c := &planCache{
		maxEntries: maxEntries, maxBytes: maxBytes, order: list.New(), entries: map[string]*list.Element{},
		hits:   prometheus.NewCounter(prometheus.CounterOpts{Name: "shardgate_plan_cache_hits_total", Help: "Statements whose plan came from the cache."}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{Name: "shardgate_plan_cache_misses_total", Help: "Statements planned anew."}),
	}
	if reg != nil {
		reg.MustRegister(c.hits, c.misses,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shardgate_plan_cache_entries", Help: "Plans in the cache."},
				func() float64 { c.mu.Lock(); defer c.mu.Unlock(); return float64(len(c.entries)) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shardgate_plan_cache_bytes", Help: "Estimated bytes of the cached plans."},
				func() float64 { c.mu.Lock(); defer c.mu.Unlock(); return float64(c.bytes) }))
	}
	return c
}

func (c *planCache) get(key string) (*cachedPlan, bool) {
	if c.maxEntries <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		c.misses.Inc()
		return nil, false
	}
	c.hits.Inc()
	c.order.MoveToFront(el)
	return el.Value.(*cachedPlan), true
}

// put adds a plan and returns its entry (the one cached before, when
// another session planned the statement meanwhile; a new one, not kept,
// when the plan does not fit). Its size is estimated from its key, which
// is the statement's text (a plan holds a few copies of the statement's
// tree).
func (c *planCache) put(key string, plan *sqlrouter.Plan) *cachedPlan {
	entry := &cachedPlan{key: key, plan: plan, size: int64(4*len(key) + 1024)}
	if c.maxEntries <= 0 || entry.size > c.maxBytes {
		return entry
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*cachedPlan)
	}
	c.entries[key] = c.order.PushFront(entry)
	c.bytes += entry.size
	for len(c.entries) > c.maxEntries || c.bytes > c.maxBytes {
		old := c.order.Remove(c.order.Back()).(*cachedPlan)
		delete(c.entries, old.key)
		c.bytes -= old.size
	}
	return entry
}
