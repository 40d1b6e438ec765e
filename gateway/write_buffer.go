package gateway

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/topo"
)

// While a resharding switches a keyspace's writes to new shards, the
// keyspace's serving graph says until when gates hold its writes. A gate
// then holds every statement that would write or open a transaction in the
// keyspace, lets the transactions already open there finish, and, once
// none is left, acknowledges in the topology. Only when every gate has
// acknowledged does the switch stop the old shards' writes, so that no
// transaction is cut in half; when the serving graph flips, the held
// statements run on the new shards. Clients see a pause, not an error.
//
// A statement that reaches a shard whose writes were stopped anyway (a
// race with the buffer's start, or a gate that joined late) gets
// sqlerr.WritesSwitching; the executor runs it again after the serving
// graph changes, as long as nothing of it took effect (retryable).

// BufferConfig bounds the write buffer.
type BufferConfig struct {
	// MaxHeld is how many statements a gate holds at once; more fail at
	// once with error 1290 (the client may retry).
	MaxHeld int
	// MaxWait bounds how long one statement is held.
	MaxWait time.Duration
}

// DefaultBufferConfig: 10,000 statements, 10 s.
func DefaultBufferConfig() BufferConfig {
	return BufferConfig{MaxHeld: 10000, MaxWait: 10 * time.Second}
}

type writeBuffer struct {
	cfg     BufferConfig
	topo    *topology
	ts      *topo.Server // nil: no acknowledgements (no topology)
	gateID  string
	log     *zap.Logger
	metrics *bufferMetrics

	held atomic.Int64
	// inFlightBy counts, per keyspace, the statements past hold that are
	// still running (*atomic.Int64).
	inFlightBy sync.Map

	mu sync.Mutex
	// open counts, per keyspace, the sessions with a transaction open on
	// some of its shards.
	open        map[string]int
	openChanged chan struct{} // closed and replaced when open changes
	// acking marks the buffers (keyspace and deadline) whose
	// acknowledgement is under way or done.
	acking map[string]int64
}

func newWriteBuffer(cfg BufferConfig, t *topology, ts *topo.Server, gateID string, log *zap.Logger, reg prometheus.Registerer) *writeBuffer {
	return &writeBuffer{cfg: cfg, topo: t, ts: ts, gateID: gateID, log: log, metrics: newBufferMetrics(reg),
		open: map[string]int{}, openChanged: make(chan struct{}), acking: map[string]int64{}}
}

// hold waits while the keyspace's writes are buffered, up to the buffer's
// deadline or MaxWait, and then counts the statement as in flight until
// release: a gate acknowledges a buffer only once no statement that got
// past hold is still running. It fails only when the buffer is full or
// ctx ends.
func (w *writeBuffer) hold(ctx context.Context, keyspace string) (release func(), err error) {
	if w == nil {
		return func() {}, nil
	}
	inFlight := w.inFlight(keyspace)
	// Counted before the check: a buffer that starts after it sees this
	// statement in flight.
	inFlight.Add(1)
	until := w.topo.bufferedUntil(keyspace)
	if until.IsZero() || !time.Now().Before(until) {
		return func() { inFlight.Add(-1) }, nil
	}
	inFlight.Add(-1) // a held statement must not delay the acknowledgement
	if w.held.Add(1) > int64(w.cfg.MaxHeld) {
		w.held.Add(-1)
		w.metrics.full.Inc()
		return nil, sqlerr.New(sqlerr.ErOptionPreventsStatement, "HY000",
			"keyspace %s is switching its writes to new shards and this gate already holds %d statements (--buffer-size): retry in a moment", keyspace, w.cfg.MaxHeld)
	}
	w.metrics.heldNow.Inc()
	start := time.Now()
	defer func() {
		w.held.Add(-1)
		w.metrics.heldNow.Dec()
		w.metrics.held.Observe(time.Since(start).Seconds())
	}()
	giveUp := start.Add(w.cfg.MaxWait)
	for {
		changed := w.topo.servingChanged()
		inFlight.Add(1)
		until := w.topo.bufferedUntil(keyspace)
		now := time.Now()
		if until.IsZero() || !now.Before(until) || !now.Before(giveUp) {
			return func() { inFlight.Add(-1) }, nil
		}
		inFlight.Add(-1)
		select {
		case <-ctx.Done():
			return nil, sqlerr.Timeout("the statement timed out while keyspace %s switched its writes to new shards", keyspace)
		case <-changed:
		case <-time.After(min(until.Sub(now), giveUp.Sub(now))):
		}
	}
}

// inFlight is the keyspace's count of statements past hold.
func (w *writeBuffer) inFlight(keyspace string) *atomic.Int64 {
	if c, ok := w.inFlightBy.Load(keyspace); ok {
		return c.(*atomic.Int64)
	}
	c, _ := w.inFlightBy.LoadOrStore(keyspace, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// waitSwitch waits for the serving graph or the tablets (routing) to
// change, at most until deadline: the statement that a shard refused runs
// again after it.
func (w *writeBuffer) waitSwitch(ctx context.Context, deadline time.Time, routing <-chan struct{}) bool {
	if w == nil {
		return false
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return false
	}
	// Poll as well: the change may have come before the refusal.
	select {
	case <-ctx.Done():
		return false
	case <-w.topo.servingChanged():
	case <-routing:
	case <-time.After(min(wait, 50*time.Millisecond)):
	}
	return true
}

// transactionOpened and transactionEnded count a session's transaction
// on a keyspace's shards.
func (w *writeBuffer) transactionOpened(keyspace string) { w.changeOpen(keyspace, 1) }
func (w *writeBuffer) transactionEnded(keyspace string)  { w.changeOpen(keyspace, -1) }

func (w *writeBuffer) changeOpen(keyspace string, delta int) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open[keyspace] += delta
	if w.open[keyspace] <= 0 {
		delete(w.open, keyspace)
	}
	close(w.openChanged)
	w.openChanged = make(chan struct{})
}

// buffering is called by the topology when a keyspace's writes become
// buffered until the given time: once the keyspace's open transactions
// are over, the gate acknowledges.
func (w *writeBuffer) buffering(ctx context.Context, keyspace string, until time.Time) {
	if w.ts == nil {
		return
	}
	w.mu.Lock()
	if w.acking[keyspace] == until.UnixMilli() {
		w.mu.Unlock()
		return
	}
	w.acking[keyspace] = until.UnixMilli()
	w.mu.Unlock()
	go w.acknowledge(ctx, keyspace, until)
}

func (w *writeBuffer) acknowledge(ctx context.Context, keyspace string, until time.Time) {
	start := time.Now()
	inFlight := w.inFlight(keyspace)
	for {
		// In flight first: a statement that finishes between the two reads
		// has registered its transaction (if it opened one) before.
		running := inFlight.Load()
		w.mu.Lock()
		open, changed := w.open[keyspace], w.openChanged
		w.mu.Unlock()
		if open == 0 && running == 0 {
			break
		}
		if !time.Now().Before(until) {
			w.log.Warn("transactions still open at the end of a write buffer: the switch of writes will be undone",
				zap.String("keyspace", keyspace), zap.Int("open", open), zap.Int64("statements_running", running))
			return
		}
		// Transactions that end say so (changed); statements do not: while
		// only those run, look again every millisecond.
		var poll <-chan time.Time
		if open == 0 {
			poll = time.After(time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-poll:
		case <-time.After(time.Until(until)):
		}
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := w.ts.AckWriteBuffer(actx, keyspace, w.gateID, until.UnixMilli()); err != nil {
		w.log.Warn("cannot acknowledge the write buffer; the switch of writes will wait for it and then be undone", zap.String("keyspace", keyspace), zap.Error(err))
		return
	}
	w.log.Info("holding writes for a switch of shards", zap.String("keyspace", keyspace),
		zap.Duration("drained_in", time.Since(start)), zap.Time("until", until))
}

// status describes the keyspaces whose writes are held now, for
// /debug/status.
func (w *writeBuffer) status() []string {
	buffers := *w.topo.buffers.Load()
	if len(buffers) == 0 {
		return nil
	}
	out := []string{"", "writes held (a resharding switches them):"}
	keyspaces := make([]string, 0, len(buffers))
	for ks := range buffers {
		keyspaces = append(keyspaces, ks)
	}
	sort.Strings(keyspaces)
	for _, ks := range keyspaces {
		w.mu.Lock()
		open := w.open[ks]
		w.mu.Unlock()
		out = append(out, fmt.Sprintf("  %s: until %s, %d transactions still open, %d statements held on this gate",
			ks, buffers[ks].Format(time.RFC3339Nano), open, w.held.Load()))
	}
	return out
}

type bufferMetrics struct {
	heldNow prometheus.Gauge
	held    prometheus.Histogram
	full    prometheus.Counter
	retries prometheus.Counter
}

func newBufferMetrics(reg prometheus.Registerer) *bufferMetrics {
	m := &bufferMetrics{
		heldNow: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shardgate_buffer_held_statements", Help: "Statements held now while their keyspace switches its writes to new shards.",
		}),
		held: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "shardgate_buffer_hold_seconds", Help: "How long statements were held while their keyspace switched its writes.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		full: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardgate_buffer_full_total", Help: "Statements refused because the write buffer was full (--buffer-size).",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardgate_buffer_retries_total", Help: "Statements run again because a shard had stopped its writes for a switch.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.heldNow, m.held, m.full, m.retries)
	}
	return m
}

// addShard, removeShard and takeShards change a session's transaction and
// keep the count of transactions open per keyspace.
func (e *Executor) addShard(s *Session, ss *shardSession) {
	if s.addShard(ss) {
		e.buffer.transactionOpened(ss.keyspace)
	}
}

func (e *Executor) removeShard(s *Session, ss *shardSession) {
	if s.removeShard(ss) {
		e.buffer.transactionEnded(ss.keyspace)
	}
}

// takeShards ends the session's transaction; ended, called once its
// shards have committed or rolled back, takes it off the count (a
// transaction committing is still open for a switch of writes).
func (e *Executor) takeShards(s *Session) (shards []*shardSession, dtid string, ended func()) {
	shards, dtid = s.takeShards()
	return shards, dtid, func() {
		seen := map[string]bool{}
		for _, ss := range shards {
			if !seen[ss.keyspace] {
				seen[ss.keyspace] = true
				e.buffer.transactionEnded(ss.keyspace)
			}
		}
	}
}
