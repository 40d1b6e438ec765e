package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/tabletclient"
	"github.com/shardgate/shardgate/topo"
)

// unaryClient is the query calls the gate makes on every statement. The
// tablet's lean query port (internal/queryrpc) serves them when it has one,
// its gRPC QueryService otherwise (tabletclient.Conn.Unary).
type unaryClient = tabletclient.Unary

// tabletConn is the gate's link to one tablet.
type tabletConn struct {
	record *topopb.Tablet
	addr   string
	conn   *tabletclient.Conn
	client querypb.QueryServiceClient // streaming calls
	query  unaryClient                // statements and transactions
	cancel context.CancelFunc
	// healthClient streams the tablet's health; client and query are
	// guarded by its liveness (guardedQuery), healthClient is not.
	healthClient querypb.QueryServiceClient

	serving atomic.Bool
	health  atomic.Pointer[querypb.StreamHealthResponse]
	// typ is the tablet's type as its topology record says now: a
	// reparent changes it without the gate dialing the tablet again.
	typ atomic.Int32
	// canFailOver reports whether the tablet's shard has a replica that a
	// failover could promote (nil: it has none).
	canFailOver func() bool
	// calls are its call metrics.
	calls *tabletCallMetrics
	// direct is the gate's pool for reading the tablet's MariaDB directly,
	// while the tablet offers it and the gate takes it (direct_reads.go).
	direct atomic.Pointer[directPool]

	liveness
}

func (tc *tabletConn) where() string {
	return fmt.Sprintf("shard %s/%s (tablet %s)", tc.record.Keyspace, tc.record.Shard, tc.record.Alias)
}

type targetKey struct {
	keyspace, shard string
	tabletType      topopb.TabletType
}

// tabletGateway keeps a connection and a health stream to every tablet in
// the topology and picks a serving tablet for a target.
//
// A tablet whose health stream goes silent for healthTimeout (its process
// stopped, or the network to it is cut without a reset) is declared
// unhealthy: it is not picked, calls on it are refused at once, and calls
// already waiting on it are cancelled, each with an error naming the
// tablet. Its next health message makes it routable again. Nothing on the
// query path takes a lock that the health loop or a call to a tablet
// holds, so a hung tablet delays only the statements that need it.
type tabletGateway struct {
	log *zap.Logger
	// tls, when set, secures the connections to tablets (gRPC and the
	// query port alike).
	tls *tls.Config
	// healthTimeout is how long a tablet's health stream may stay silent
	// before the tablet is declared unhealthy.
	healthTimeout time.Duration
	// maxReplicaLag: a replica or rdonly tablet that reports more
	// replication lag than this is not picked (0: no bound).
	maxReplicaLag time.Duration
	metrics       *tabletMetrics
	// direct takes tablets' offers of direct reads; nil: the gate was
	// given no password for them.
	direct *directReads

	mu      sync.Mutex
	tablets map[string]*tabletConn // by alias
	// byTarget is rebuilt on every change and read without locks.
	byTarget atomic.Pointer[map[targetKey][]*tabletConn]
	// changed is closed and replaced when the tablets' types or serving
	// states change: statements held for a new primary try again.
	changedMu sync.Mutex
	changed   chan struct{}
}

// DefaultTabletHealthTimeout is three of the tablets' default health
// intervals (1 s): a tablet sends a health message at least once per
// interval, and one or two late messages (a GC pause, a busy machine) must
// not take it out of service.
const DefaultTabletHealthTimeout = 3 * time.Second

// tabletGatewayOption sets a rarely changed property of a tabletGateway.
type tabletGatewayOption func(*tabletGateway)

// withHealthTimeout sets how long a tablet's health stream may be silent
// (DefaultTabletHealthTimeout).
func withHealthTimeout(d time.Duration) tabletGatewayOption {
	return func(g *tabletGateway) { g.healthTimeout = d }
}

// withMaxReplicaLag sets the replication lag beyond which a replica or
// rdonly tablet is not picked (DefaultMaxReplicaLag).
func withMaxReplicaLag(d time.Duration) tabletGatewayOption {
	return func(g *tabletGateway) { g.maxReplicaLag = d }
}

// DefaultMaxReplicaLag is Vitess's default bound on the lag of replicas
// it serves from (--discovery_low_replication_lag, 30 s).
const DefaultMaxReplicaLag = 30 * time.Second

// withDirectReads makes the gate take tablets' offers of direct reads.
func withDirectReads(d *directReads) tabletGatewayOption {
	return func(g *tabletGateway) { g.direct = d }
}

// withMetrics registers the tablets' metrics with reg.
func withMetrics(reg prometheus.Registerer) tabletGatewayOption {
	return func(g *tabletGateway) { g.metrics = newTabletMetrics(reg) }
}

func newTabletGateway(log *zap.Logger, tlsConfig *tls.Config, opts ...tabletGatewayOption) *tabletGateway {
	g := &tabletGateway{log: log, tls: tlsConfig, healthTimeout: DefaultTabletHealthTimeout, maxReplicaLag: DefaultMaxReplicaLag,
		tablets: map[string]*tabletConn{}, changed: make(chan struct{})}
	for _, o := range opts {
		o(g)
	}
	if g.metrics == nil {
		g.metrics = newTabletMetrics(nil)
	}
	empty := map[targetKey][]*tabletConn{}
	g.byTarget.Store(&empty)
	return g
}

// run follows the tablet list until ctx ends.
func (g *tabletGateway) run(ctx context.Context, ts *topo.Server) {
	go retryWatch(ctx, g.log, "tablets", func() error {
		ch, err := ts.WatchTablets(ctx)
		if err != nil {
			return err
		}
		for tablets := range ch {
			g.update(ctx, tablets)
		}
		return nil
	})
	go func() {
		<-ctx.Done()
		g.mu.Lock()
		defer g.mu.Unlock()
		for alias, tc := range g.tablets {
			tc.close()
			delete(g.tablets, alias)
		}
	}()
}

func (g *tabletGateway) update(ctx context.Context, records []*topopb.Tablet) {
	g.mu.Lock()
	defer g.mu.Unlock()
	seen := map[string]bool{}
	for _, rec := range records {
		seen[rec.Alias] = true
		addr := tabletclient.GRPCAddr(rec)
		if tc, ok := g.tablets[rec.Alias]; ok {
			if tc.addr == addr && tc.record.QueryPort == rec.QueryPort && tc.record.Keyspace == rec.Keyspace && tc.record.Shard == rec.Shard {
				tc.typ.Store(int32(rec.Type))
				continue
			}
			g.drop(tc)
		}
		tc, err := g.dial(ctx, rec, addr)
		if err != nil {
			g.log.Error("cannot create a connection to a tablet", zap.String("tablet", rec.Alias), zap.String("addr", addr), zap.Error(err))
			continue
		}
		g.tablets[rec.Alias] = tc
	}
	for alias, tc := range g.tablets {
		if !seen[alias] {
			g.drop(tc)
		}
	}
	g.reindexLocked()
}

func (g *tabletGateway) drop(tc *tabletConn) {
	tc.close()
	delete(g.tablets, tc.record.Alias)
	g.metrics.forget(tc.record)
}

func (tc *tabletConn) close() {
	tc.mu.Lock()
	tc.closed = true
	tc.mu.Unlock()
	tc.cancel()
	_ = tc.conn.Close()
	tc.closeDirect()
}

func (g *tabletGateway) reindexLocked() {
	idx := map[targetKey][]*tabletConn{}
	for _, tc := range g.tablets {
		k := targetKey{tc.record.Keyspace, tc.record.Shard, tc.tabletType()}
		idx[k] = append(idx[k], tc)
	}
	g.byTarget.Store(&idx)
	g.signalChange()
}

// tabletType is the tablet's type now (the record's until an update
// changed it).
func (tc *tabletConn) tabletType() topopb.TabletType {
	if t := tc.typ.Load(); t != 0 {
		return topopb.TabletType(t)
	}
	return tc.record.Type
}

// routingChanged returns a channel closed at the next change of the
// tablets' types or serving states.
func (g *tabletGateway) routingChanged() <-chan struct{} {
	g.changedMu.Lock()
	defer g.changedMu.Unlock()
	return g.changed
}

func (g *tabletGateway) signalChange() {
	g.changedMu.Lock()
	close(g.changed)
	g.changed = make(chan struct{})
	g.changedMu.Unlock()
}

func (g *tabletGateway) dial(ctx context.Context, rec *topopb.Tablet, addr string) (*tabletConn, error) {
	conn, err := tabletclient.Dial(rec, tabletclient.WithTLS(g.tls))
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithCancel(ctx)
	tc := &tabletConn{record: rec, addr: addr, conn: conn, cancel: cancel}
	tc.typ.Store(int32(rec.Type))
	tc.canFailOver = func() bool { return g.canFailOver(rec.Keyspace, rec.Shard) }
	g.follow(hctx, tc, conn.QueryService(), conn.Unary())
	return tc, nil
}

// follow makes tc's calls (client's streams and query's unary calls) go
// through its liveness guard, and follows its health over client until ctx
// ends.
func (g *tabletGateway) follow(ctx context.Context, tc *tabletConn, client querypb.QueryServiceClient, query unaryClient) {
	tc.healthClient = client
	tc.startLiveness(time.Now(), g.healthTimeout, g.metrics)
	tc.calls = g.metrics.callsOf(tc.record)
	tc.query = guardedQuery{tc: tc, next: query}
	tc.client = guardedStreams{QueryServiceClient: client, tc: tc}
	go g.watchHealth(ctx, tc)
	go g.watchLiveness(ctx, tc)
}

// watchHealth follows a tablet's health stream, reconnecting with backoff
// (100 ms doubling to 1 s).
// A tablet counts as serving only while its stream is up and says so.
func (g *tabletGateway) watchHealth(ctx context.Context, tc *tabletConn) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		tc.streamStarting(tc.now())
		stream, err := tc.healthClient.StreamHealth(ctx, &querypb.StreamHealthRequest{})
		if err == nil {
			for {
				resp, rerr := stream.Recv()
				if rerr != nil {
					err = rerr
					break
				}
				backoff = 100 * time.Millisecond
				g.healthMessage(tc, resp, tc.now())
			}
		}
		if tc.streamEnded() {
			g.log.Warn("lost health stream of tablet", zap.String("tablet", tc.record.Alias), zap.Error(err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		// At most a second between attempts: a call on a channel that is
		// not connected fails at once, and the channel's own reconnect
		// backoff (tabletclient) is bounded too, so a returning tablet
		// is followed again within about 3 s however long it was away.
		backoff = min(backoff*2, time.Second)
	}
}

// healthMessage records a message of a tablet's health stream, which also
// makes a tablet declared unhealthy routable again.
func (g *tabletGateway) healthMessage(tc *tabletConn, resp *querypb.StreamHealthResponse, now time.Time) {
	tc.health.Store(resp)
	if g.direct != nil {
		g.direct.follow(tc, resp.GetDirectRead())
	}
	was, revived, silent := tc.heard(now, resp.Serving)
	if revived || was != resp.Serving {
		g.signalChange()
	}
	if revived {
		g.log.Info("tablet answers health checks again", zap.String("tablet", tc.record.Alias),
			zap.String("shard", tc.record.Keyspace+"/"+tc.record.Shard), zap.Duration("silent_for", silent), zap.Bool("serving", resp.Serving))
	} else if was != resp.Serving {
		g.log.Info("tablet serving state changed", zap.String("tablet", tc.record.Alias), zap.Bool("serving", resp.Serving),
			zap.String("health_error", resp.GetStats().GetHealthError()))
	}
}

// watchLiveness declares the tablet unhealthy when its health stream stays
// silent for the health timeout, until ctx ends.
func (g *tabletGateway) watchLiveness(ctx context.Context, tc *tabletConn) {
	timer := time.NewTimer(g.healthTimeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next, declared := tc.checkLiveness(tc.now())
		if declared {
			g.log.Warn("tablet stopped answering health checks: not routing to it, cancelling the calls waiting on it",
				zap.String("tablet", tc.record.Alias), zap.String("shard", tc.record.Keyspace+"/"+tc.record.Shard),
				zap.Duration("health_timeout", g.healthTimeout))
		}
		timer.Reset(next)
	}
}

// pick returns a serving tablet for the target. A replica target with no
// serving replica falls back to an rdonly tablet, and the other way round
// (as Vitess's --gateway_route_replica_to_rdonly does), never to the
// primary, whose load the client asked to spare.
func (g *tabletGateway) pick(keyspace, shard string, tabletType topopb.TabletType) (*tabletConn, error) {
	tc, err := g.pickType(keyspace, shard, tabletType)
	if err != nil && tabletType != topopb.TabletType_PRIMARY {
		other := topopb.TabletType_RDONLY
		if tabletType == topopb.TabletType_RDONLY {
			other = topopb.TabletType_REPLICA
		}
		if fallback, ferr := g.pickType(keyspace, shard, other); ferr == nil {
			g.metrics.fallbacks.WithLabelValues(keyspace, shard, strings.ToLower(tabletType.String())).Inc()
			return fallback, nil
		}
	}
	return tc, err
}

func (g *tabletGateway) pickType(keyspace, shard string, tabletType topopb.TabletType) (*tabletConn, error) {
	candidates := (*g.byTarget.Load())[targetKey{keyspace, shard, tabletType}]
	var serving []*tabletConn
	for _, tc := range candidates {
		if tc.serving.Load() && !g.lagging(tc) && !g.demoted(tc, tabletType) {
			if len(candidates) == 1 {
				return tc, nil
			}
			serving = append(serving, tc)
		}
	}
	if len(serving) > 0 {
		return serving[rand.IntN(len(serving))], nil
	}
	return nil, g.noTabletError(keyspace, shard, tabletType, candidates)
}

// canFailOver reports whether the shard has a replica tablet: only then
// may a primary that is gone be replaced, and statements wait for it
// rather than fail at once.
func (g *tabletGateway) canFailOver(keyspace, shard string) bool {
	return len((*g.byTarget.Load())[targetKey{keyspace, shard, topopb.TabletType_REPLICA}]) > 0
}

// demoted reports whether a tablet the topology still lists as the
// primary says in its health that it is not (any more): a reparent
// demoted it and its record has not caught up.
func (g *tabletGateway) demoted(tc *tabletConn, tabletType topopb.TabletType) bool {
	if tabletType != topopb.TabletType_PRIMARY {
		return false
	}
	reported := tc.health.Load().GetStats().GetTabletType()
	return reported != topopb.TabletType_TABLET_TYPE_UNSPECIFIED && reported != topopb.TabletType_PRIMARY
}

// lagging reports whether tc is a replica or rdonly tablet whose
// replication lag exceeds the bound: its rows may be older than a client
// of the replica target accepts. A primary never lags.
func (g *tabletGateway) lagging(tc *tabletConn) bool {
	if g.maxReplicaLag <= 0 || tc.tabletType() == topopb.TabletType_PRIMARY {
		return false
	}
	h := tc.health.Load()
	return h != nil && time.Duration(h.GetStats().GetReplicationLagSeconds())*time.Second > g.maxReplicaLag
}

// noTabletError says why no tablet serves the target. For the primary it
// carries reason NOT_PRIMARY: nothing was sent, and the executor holds the
// statement until a primary serves (a failover under way).
func (g *tabletGateway) noTabletError(keyspace, shard string, tabletType topopb.TabletType, candidates []*tabletConn) error {
	err := g.describeNoTablet(keyspace, shard, tabletType, candidates)
	if tabletType == topopb.TabletType_PRIMARY && g.canFailOver(keyspace, shard) {
		return sqlerr.WithReason(sqlerr.ReasonNotPrimary, err)
	}
	return err
}

func (g *tabletGateway) describeNoTablet(keyspace, shard string, tabletType topopb.TabletType, candidates []*tabletConn) error {
	typ := strings.ToLower(tabletType.String())
	if len(candidates) == 0 {
		return sqlerr.Internal("no %s tablet for shard %s/%s: none is registered in the topology", typ, keyspace, shard)
	}
	if len(candidates) == 1 && candidates[0].unhealthy() {
		return candidates[0].refuse(false)
	}
	states := make([]string, 0, len(candidates))
	for _, tc := range candidates {
		if tc.unhealthy() {
			tc.countRefused(false)
			states = append(states, fmt.Sprintf("%s: %s", tc.record.Alias, tc.silence(tc.now())))
			continue
		}
		why := "no health report yet"
		if h := tc.health.Load(); g.demoted(tc, tabletType) {
			why = "demoted: it reports being " + strings.ToLower(h.GetStats().GetTabletType().String())
		} else if g.lagging(tc) {
			why = fmt.Sprintf("replication lag %ds exceeds --max-replica-lag %s", h.GetStats().GetReplicationLagSeconds(), g.maxReplicaLag)
		} else if h != nil {
			why = h.GetStats().GetHealthError()
			if why == "" {
				why = "not serving"
			}
		}
		states = append(states, fmt.Sprintf("%s: %s", tc.record.Alias, why))
	}
	sort.Strings(states)
	return sqlerr.Internal("no serving %s tablet for shard %s/%s (%s)", typ, keyspace, shard, strings.Join(states, "; "))
}

// byAlias returns the connection to the tablet with alias if it serves
// keyspace/shard, for a session whose transaction lives there. A tablet
// that is gone, or now serves another shard, is returned as a stand-in
// whose calls fail naming it: the transaction cannot go on, and a
// rollback of it is only logged.
func (g *tabletGateway) byAlias(alias, keyspace, shard string) *tabletConn {
	g.mu.Lock()
	tc := g.tablets[alias]
	g.mu.Unlock()
	if tc != nil && tc.record.Keyspace == keyspace && tc.record.Shard == shard {
		return tc
	}
	rec := &topopb.Tablet{Alias: alias, Keyspace: keyspace, Shard: shard, Type: topopb.TabletType_PRIMARY}
	gone := &tabletConn{record: rec, cancel: func() {}}
	gone.query = goneTablet{err: sqlerr.Internal("the session's transaction on shard %s/%s lives on tablet %s, which no longer serves that shard: the transaction cannot continue; ROLLBACK and retry it", keyspace, shard, alias)}
	return gone
}

// goneTablet answers every call of a transaction whose tablet is gone.
type goneTablet struct{ err error }

func (g goneTablet) Execute(context.Context, *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	return nil, g.err
}

func (g goneTablet) BeginExecute(context.Context, *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	return nil, g.err
}

func (g goneTablet) Commit(context.Context, *querypb.CommitRequest) (*querypb.CommitResponse, error) {
	return nil, g.err
}

func (g goneTablet) Rollback(context.Context, *querypb.RollbackRequest) (*querypb.RollbackResponse, error) {
	return nil, g.err
}

func (g goneTablet) Prepare(context.Context, *querypb.PrepareRequest) (*querypb.PrepareResponse, error) {
	return nil, g.err
}

func (g goneTablet) CommitPrepared(context.Context, *querypb.CommitPreparedRequest) (*querypb.CommitPreparedResponse, error) {
	return nil, g.err
}

func (g goneTablet) RollbackPrepared(context.Context, *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error) {
	return nil, g.err
}

func (g goneTablet) ReserveExecute(context.Context, *querypb.ReserveExecuteRequest) (*querypb.ReserveExecuteResponse, error) {
	return nil, g.err
}

func (g goneTablet) Release(context.Context, *querypb.ReleaseRequest) (*querypb.ReleaseResponse, error) {
	return nil, g.err
}

// status lists every tablet and its state for /debug/status.
func (g *tabletGateway) status() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.tablets))
	for _, tc := range g.tablets {
		state := "NOT SERVING"
		switch {
		case tc.unhealthy():
			state = "UNHEALTHY (" + tc.silence(tc.now()) + ")"
		case tc.serving.Load():
			state = "SERVING"
		}
		qps := 0.0
		if h := tc.health.Load(); h != nil {
			qps = h.GetStats().GetQps()
		}
		out = append(out, fmt.Sprintf("%-12s %s/%s %-8s %s %-11s qps=%.1f", tc.record.Alias, tc.record.Keyspace, tc.record.Shard,
			strings.ToLower(tc.tabletType().String()), tc.addr, state, qps))
	}
	sort.Strings(out)
	return out
}

// liveness is how the gate knows that a tablet still answers: while a
// health stream to it is open, or being opened, a message must come at
// least every timeout (tablets send one every health interval, changed or
// not). A stream that ended is not silence: the tablet, or the kernel of
// its host, answered, and the tablet is only not serving (a tablet that
// stops drains its statements after ending its stream). Only the health
// loop and the watchdog change it, under mu; the query path reads span
// alone, without locks.
type liveness struct {
	timeout time.Duration
	metrics *tabletMetrics
	now     func() time.Time // the clock (time.Now; tests set their own)
	// span is the tablet's current period of life. It ends when the
	// tablet is declared unhealthy, cancelling the calls bound to it (each
	// call is bound to the span it began in); a new span begins at the
	// next health message. nil for a tablet the gate did not dial (tests):
	// never unhealthy.
	span atomic.Pointer[liveSpan]

	mu sync.Mutex
	// connected is when the gate began following the tablet's health.
	connected time.Time
	// lastHealth is when the last health message came (zero: none yet).
	lastHealth time.Time
	// waitingSince is when the gate began waiting for the next message:
	// the last one, or the start of the current stream attempt. Zero while
	// no stream is open or being opened.
	waitingSince time.Time
	// closed: the gate dropped the tablet; its liveness changes no more.
	closed bool
}

// liveSpan is a period during which the gate deems a tablet alive, and the
// calls under way on it. (A registry of calls rather than a context that
// each call's context would follow with context.AfterFunc: that cost a
// call 1 us and 7 allocations, this 0.3 us and 4; BenchmarkGuardedCall.)
type liveSpan struct {
	ended atomic.Bool
	mu    sync.Mutex
	calls map[*boundCall]struct{}
}

func newLiveSpan() *liveSpan {
	return &liveSpan{calls: map[*boundCall]struct{}{}}
}

// end ends the span and cancels the calls bound to it.
func (s *liveSpan) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended.Store(true)
	for c := range s.calls {
		c.cut.Store(true)
		c.cancel()
	}
	s.calls = nil
}

// startLiveness begins following the tablet's liveness at now.
func (tc *tabletConn) startLiveness(now time.Time, timeout time.Duration, m *tabletMetrics) {
	tc.timeout, tc.metrics, tc.connected, tc.now = timeout, m, now, time.Now
	tc.span.Store(newLiveSpan())
	m.setUnhealthy(tc.record, false)
}

// unhealthy reports whether the tablet is declared unhealthy now.
func (tc *tabletConn) unhealthy() bool {
	span := tc.span.Load()
	return span != nil && span.ended.Load()
}

// streamStarting: the health loop opens a stream at now; the tablet must
// answer within the timeout.
func (tc *tabletConn) streamStarting(now time.Time) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.waitingSince.IsZero() {
		tc.waitingSince = now
	}
}

// streamEnded: the health stream ended (or could not be opened); the
// tablet is not serving until the next message. It reports whether the
// tablet was serving.
func (tc *tabletConn) streamEnded() (wasServing bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.waitingSince = time.Time{}
	return tc.serving.Swap(false)
}

// heard records a health message that came at now, saying serving. It
// reports the serving state before it, and whether the message ended the
// tablet's unhealthy state (revived) after silent without messages.
func (tc *tabletConn) heard(now time.Time, serving bool) (was, revived bool, silent time.Duration) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	since := tc.lastHealth
	if since.IsZero() {
		since = tc.connected
	}
	tc.lastHealth, tc.waitingSince = now, now
	if tc.unhealthy() && !tc.closed {
		tc.span.Store(newLiveSpan())
		tc.metrics.setUnhealthy(tc.record, false)
		revived, silent = true, now.Sub(since)
	}
	return tc.serving.Swap(serving), revived, silent
}

// checkLiveness declares the tablet unhealthy if the gate has waited for a
// health message for the timeout at now: it stops serving and the calls
// bound to its live span are cancelled. It returns how long until the
// next check, and whether it declared the tablet unhealthy.
func (tc *tabletConn) checkLiveness(now time.Time) (next time.Duration, declared bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.closed || tc.waitingSince.IsZero() || tc.unhealthy() {
		return tc.timeout, false
	}
	if silent := now.Sub(tc.waitingSince); silent < tc.timeout {
		return tc.timeout - silent, false
	}
	// Not picked from now on, before the calls under way are cancelled.
	tc.serving.Store(false)
	tc.span.Load().end()
	tc.metrics.setUnhealthy(tc.record, true)
	return tc.timeout, true
}

// silence says how long the tablet has not answered, for messages.
func (tc *tabletConn) silence(now time.Time) string {
	tc.mu.Lock()
	last, connected := tc.lastHealth, tc.connected
	tc.mu.Unlock()
	if last.IsZero() {
		return fmt.Sprintf("has not answered health checks since the gate connected to it %s ago", now.Sub(connected).Round(100*time.Millisecond))
	}
	return fmt.Sprintf("stopped answering health checks %s ago", now.Sub(last).Round(100*time.Millisecond))
}

// refuse counts and returns the error of a call the gate does not make, or
// stopped waiting for (inFlight), because the tablet is unhealthy. It is
// ER_UNKNOWN_ERROR (1105, HY000), as every "no serving tablet" error of
// the gate (and Vitess's "no healthy tablet available") is: MySQL has no
// code for a part of the server being unreachable, and the codes that
// come close say something false: 2013 and 2006 mean the client's own
// connection was lost (drivers then drop a connection that is fine), 1317
// a KILL, 1205 and 1213 lock contention that clients retry as such (1213
// with the transaction rolled back, which it is not here).
func (tc *tabletConn) refuse(inFlight bool) error {
	tc.countRefused(inFlight)
	msg := fmt.Sprintf("tablet %s of %s/%s %s (--tablet-health-timeout %s)", tc.record.Alias, tc.record.Keyspace, tc.record.Shard,
		tc.silence(tc.now()), tc.timeout)
	if inFlight {
		err := sqlerr.Internal("%s: the gate stopped waiting for its answer to this statement; whether it took effect on the shard is unknown", msg)
		if tc.canFailOver != nil && tc.canFailOver() {
			// A read may run again on the tablet that replaces it.
			return sqlerr.WithReason(sqlerr.ReasonOutcomeUnknown, err)
		}
		return err
	}
	err := sqlerr.Internal("%s: the gate sends it nothing until it answers again", msg)
	if tc.tabletType() == topopb.TabletType_PRIMARY && tc.canFailOver != nil && tc.canFailOver() {
		// Nothing was sent: the statement may wait for the shard's next
		// primary (a failover under way).
		return sqlerr.WithReason(sqlerr.ReasonNotPrimary, err)
	}
	return err
}

func (tc *tabletConn) countRefused(inFlight bool) {
	if tc.metrics == nil {
		return
	}
	when := "new"
	if inFlight {
		when = "in_flight"
	}
	tc.metrics.refusals.WithLabelValues(tc.record.Keyspace, tc.record.Shard, tc.record.Alias, when).Inc()
}

// boundCall is a call on a tablet bound to the tablet's live span: its
// context is cancelled when the span ends.
type boundCall struct {
	tc     *tabletConn
	span   *liveSpan
	ctx    context.Context
	cancel context.CancelFunc
	cut    atomic.Bool // the span's end cancelled it
}

// enter binds a call to the tablet's live span, or refuses it when the
// tablet is unhealthy.
func (tc *tabletConn) enter(ctx context.Context) (*boundCall, error) {
	span := tc.span.Load()
	if span == nil {
		return &boundCall{ctx: ctx}, nil
	}
	if span.ended.Load() {
		return nil, tc.refuse(false)
	}
	c := &boundCall{tc: tc, span: span}
	c.ctx, c.cancel = context.WithCancel(ctx)
	span.mu.Lock()
	if span.calls == nil { // ended meanwhile
		span.mu.Unlock()
		c.cancel()
		return nil, tc.refuse(false)
	}
	span.calls[c] = struct{}{}
	span.mu.Unlock()
	return c, nil
}

// unbind takes the call out of its span.
func (c *boundCall) unbind() {
	c.span.mu.Lock()
	delete(c.span.calls, c)
	c.span.mu.Unlock()
}

// end unbinds the call and returns its error: the unhealthy tablet's when
// the span's end is what ended it.
func (c *boundCall) end(err error) error {
	if c.span == nil {
		return err
	}
	c.unbind()
	c.cancel()
	if err != nil && c.cut.Load() {
		return c.tc.refuse(true)
	}
	return err
}

func guarded[Req, Resp any](ctx context.Context, tc *tabletConn, kind callKind, req Req, call func(context.Context, Req) (Resp, error)) (Resp, error) {
	start := time.Now()
	c, err := tc.enter(ctx)
	if err != nil {
		tc.calls.observe(kind, start, err)
		var none Resp
		return none, err
	}
	resp, err := call(c.ctx, req)
	err = c.end(err)
	tc.calls.observe(kind, start, err)
	return resp, err
}

// guardedQuery is a tablet's unary calls as the query path makes them:
// refused at once while the tablet is unhealthy, cancelled when it is
// declared so while they wait.
type guardedQuery struct {
	tc   *tabletConn
	next unaryClient
}

func (q guardedQuery) Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	return guarded(ctx, q.tc, callExecute, req, q.next.Execute)
}

func (q guardedQuery) BeginExecute(ctx context.Context, req *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	return guarded(ctx, q.tc, callBeginExecute, req, q.next.BeginExecute)
}

func (q guardedQuery) Commit(ctx context.Context, req *querypb.CommitRequest) (*querypb.CommitResponse, error) {
	return guarded(ctx, q.tc, callCommit, req, q.next.Commit)
}

func (q guardedQuery) Rollback(ctx context.Context, req *querypb.RollbackRequest) (*querypb.RollbackResponse, error) {
	return guarded(ctx, q.tc, callRollback, req, q.next.Rollback)
}

func (q guardedQuery) Prepare(ctx context.Context, req *querypb.PrepareRequest) (*querypb.PrepareResponse, error) {
	return guarded(ctx, q.tc, callPrepare, req, q.next.Prepare)
}

func (q guardedQuery) CommitPrepared(ctx context.Context, req *querypb.CommitPreparedRequest) (*querypb.CommitPreparedResponse, error) {
	return guarded(ctx, q.tc, callCommitPrepared, req, q.next.CommitPrepared)
}

func (q guardedQuery) RollbackPrepared(ctx context.Context, req *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error) {
	return guarded(ctx, q.tc, callRollbackPrepared, req, q.next.RollbackPrepared)
}

func (q guardedQuery) ReserveExecute(ctx context.Context, req *querypb.ReserveExecuteRequest) (*querypb.ReserveExecuteResponse, error) {
	return guarded(ctx, q.tc, callReserveExecute, req, q.next.ReserveExecute)
}

func (q guardedQuery) Release(ctx context.Context, req *querypb.ReleaseRequest) (*querypb.ReleaseResponse, error) {
	return guarded(ctx, q.tc, callRelease, req, q.next.Release)
}

// guardedStreams is the tablet's gRPC client with StreamExecute guarded as
// guardedQuery guards unary calls: a stream is bound to the live span
// until it ends.
type guardedStreams struct {
	querypb.QueryServiceClient
	tc *tabletConn
}

func (g guardedStreams) StreamExecute(ctx context.Context, req *querypb.StreamExecuteRequest, opts ...grpc.CallOption) (querypb.QueryService_StreamExecuteClient, error) {
	c, err := g.tc.enter(ctx)
	if err != nil {
		return nil, err
	}
	if c.span != nil {
		// A caller that stops reading early cancels its context: unbind
		// then too.
		context.AfterFunc(c.ctx, c.unbind)
	}
	stream, err := g.QueryServiceClient.StreamExecute(c.ctx, req, opts...)
	if err != nil {
		return nil, c.end(err)
	}
	return &guardedStream{QueryService_StreamExecuteClient: stream, call: c}, nil
}

type guardedStream struct {
	querypb.QueryService_StreamExecuteClient
	call  *boundCall
	ended bool
}

func (s *guardedStream) Recv() (*querypb.StreamExecuteResponse, error) {
	resp, err := s.QueryService_StreamExecuteClient.Recv()
	if err != nil && !s.ended {
		s.ended = true
		err = s.call.end(err)
	}
	return resp, err
}

// tabletMetrics are the gate's metrics of its tablets' health.
type tabletMetrics struct {
	unhealthy *prometheus.GaugeVec
	refusals  *prometheus.CounterVec
	fallbacks *prometheus.CounterVec

	calls        *prometheus.CounterVec
	callErrors   *prometheus.CounterVec
	callDuration *prometheus.HistogramVec
}

func newTabletMetrics(reg prometheus.Registerer) *tabletMetrics {
	m := &tabletMetrics{
		unhealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shardgate_tablet_unhealthy",
			Help: "1 while a tablet has stopped answering health checks (no message for --tablet-health-timeout) and gets no statements, 0 otherwise.",
		}, []string{"keyspace", "shard", "tablet"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardgate_tablet_unhealthy_refusals_total",
			Help: "Calls on a tablet (a statement's part, a commit, a rollback) that failed because it had stopped answering health checks: refused at once (when=new) or cancelled while waiting on it (when=in_flight).",
		}, []string{"keyspace", "shard", "tablet", "when"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardgate_tablet_type_fallbacks_total",
			Help: "Reads for a replica (or rdonly) target served by an rdonly (or replica) tablet because no tablet of the asked type served.",
		}, []string{"keyspace", "shard", "tablet_type"}),
	}
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shardgate_tablet_calls_total",
		Help: "Calls from this gate to tablets (a statement's part, a transaction's begin, commit or rollback, ...), by tablet and call.",
	}, []string{"keyspace", "shard", "tablet", "call"})
	m.callErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shardgate_tablet_call_errors_total",
		Help: "Calls from this gate to tablets that returned an error (MySQL's included), by tablet and call.",
	}, []string{"keyspace", "shard", "tablet", "call"})
	m.callDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "shardgate_tablet_call_duration_seconds", Help: "Time of calls from this gate to tablets, by tablet.",
		Buckets: latencyBuckets,
	}, []string{"keyspace", "shard", "tablet"})
	if reg != nil {
		reg.MustRegister(m.unhealthy, m.refusals, m.fallbacks, m.calls, m.callErrors, m.callDuration)
	}
	return m
}

// callKind names a unary call to a tablet in the metrics.
type callKind int

const (
	callExecute callKind = iota
	callBeginExecute
	callCommit
	callRollback
	callPrepare
	callCommitPrepared
	callRollbackPrepared
	callReserveExecute
	callRelease
	numCallKinds
)

var callNames = [numCallKinds]string{"execute", "begin_execute", "commit", "rollback", "prepare", "commit_prepared", "rollback_prepared", "reserve_execute", "release"}

// tabletCallMetrics are one tablet's call metrics, resolved once so that a
// call does not look its labels up.
type tabletCallMetrics struct {
	calls, errors [numCallKinds]prometheus.Counter
	duration      prometheus.Observer
}

func (m *tabletMetrics) callsOf(rec *topopb.Tablet) *tabletCallMetrics {
	t := &tabletCallMetrics{duration: m.callDuration.WithLabelValues(rec.Keyspace, rec.Shard, rec.Alias)}
	for k, name := range callNames {
		t.calls[k] = m.calls.WithLabelValues(rec.Keyspace, rec.Shard, rec.Alias, name)
		t.errors[k] = m.callErrors.WithLabelValues(rec.Keyspace, rec.Shard, rec.Alias, name)
	}
	return t
}

// observe counts one call; t may be nil (tablets faked in tests).
func (t *tabletCallMetrics) observe(kind callKind, start time.Time, err error) {
	if t == nil {
		return
	}
	t.calls[kind].Inc()
	t.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		t.errors[kind].Inc()
	}
}

func (m *tabletMetrics) setUnhealthy(rec *topopb.Tablet, unhealthy bool) {
	v := 0.0
	if unhealthy {
		v = 1
	}
	m.unhealthy.WithLabelValues(rec.Keyspace, rec.Shard, rec.Alias).Set(v)
}

// forget removes a tablet that left the topology from the metrics.
func (m *tabletMetrics) forget(rec *topopb.Tablet) {
	m.unhealthy.DeleteLabelValues(rec.Keyspace, rec.Shard, rec.Alias)
	m.refusals.DeletePartialMatch(prometheus.Labels{"keyspace": rec.Keyspace, "shard": rec.Shard, "tablet": rec.Alias})
	tablet := prometheus.Labels{"keyspace": rec.Keyspace, "shard": rec.Shard, "tablet": rec.Alias}
	m.calls.DeletePartialMatch(tablet)
	m.callErrors.DeletePartialMatch(tablet)
	m.callDuration.DeletePartialMatch(tablet)
}
