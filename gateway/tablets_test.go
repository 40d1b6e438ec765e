package gateway

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// metricValue reads a gauge or counter.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

// TestLivenessTimeout walks the health-timeout logic on a clock the test
// moves: silence while a stream is open (or being opened) for the timeout
// declares the tablet unhealthy, a message revives it, and a stream that
// ended is not silence.
func TestLivenessTimeout(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	clock := t0
	rec := &topopb.Tablet{Alias: "zone1-0000000101", Keyspace: "ks", Shard: "-40", Type: topopb.TabletType_PRIMARY}
	m := newTabletMetrics(nil)
	tc := &tabletConn{record: rec}
	tc.startLiveness(t0, 3*time.Second, m)
	tc.now = func() time.Time { return clock }
	gauge := func() float64 { return metricValue(t, m.unhealthy.WithLabelValues("ks", "-40", rec.Alias)) }
	check := func(d, wantNext time.Duration, wantDeclared bool) {
		t.Helper()
		next, declared := tc.checkLiveness(at(d))
		if next != wantNext || declared != wantDeclared {
			t.Fatalf("check at +%v: next %v, declared %v; want %v, %v", d, next, declared, wantNext, wantDeclared)
		}
	}

	tc.streamStarting(at(0))
	check(time.Second, 2*time.Second, false)
	if was, revived, _ := tc.heard(at(1500*time.Millisecond), true); was || revived || !tc.serving.Load() {
		t.Fatalf("first message: was %v, revived %v, serving %v", was, revived, tc.serving.Load())
	}
	check(4*time.Second, 500*time.Millisecond, false)
	check(4500*time.Millisecond, 3*time.Second, true)
	if !tc.unhealthy() || tc.serving.Load() || gauge() != 1 {
		t.Fatalf("after the timeout: unhealthy %v, serving %v, gauge %v", tc.unhealthy(), tc.serving.Load(), gauge())
	}
	check(5*time.Second, 3*time.Second, false) // declared once

	clock = at(4700 * time.Millisecond)
	err := tc.refuse(false)
	se := sqlerrFrom(err)
	want := "tablet zone1-0000000101 of ks/-40 stopped answering health checks 3.2s ago (--tablet-health-timeout 3s)"
	if se.Num != 1105 || se.State != "HY000" || !strings.Contains(se.Message, want) {
		t.Fatalf("refusal: %v; want 1105 (HY000) containing %q", err, want)
	}
	if got := metricValue(t, m.refusals.WithLabelValues("ks", "-40", rec.Alias, "new")); got != 1 {
		t.Fatalf("refusals counted: %v, want 1", got)
	}

	// The next message makes it routable again.
	if _, revived, silent := tc.heard(at(6*time.Second), true); !revived || silent != 4500*time.Millisecond {
		t.Fatalf("message after the timeout: revived %v after %v; want revived after 4.5s", revived, silent)
	}
	if tc.unhealthy() || !tc.serving.Load() || gauge() != 0 {
		t.Fatalf("after a new message: unhealthy %v, serving %v, gauge %v", tc.unhealthy(), tc.serving.Load(), gauge())
	}

	// A stream that ended is not silence: the tablet (or its host)
	// answered; it only does not serve.
	if !tc.streamEnded() || tc.serving.Load() {
		t.Fatal("a stream that ended must leave the tablet not serving")
	}
	check(100*time.Second, 3*time.Second, false)
	// A stream that cannot be opened (the tablet accepts the connection
	// and says nothing) is.
	tc.streamStarting(at(100 * time.Second))
	check(102*time.Second, time.Second, false)
	check(103*time.Second, 3*time.Second, true)

	// A tablet never heard from.
	quiet := &tabletConn{record: rec}
	quiet.startLiveness(t0, 3*time.Second, m)
	quiet.now = func() time.Time { return at(3 * time.Second) }
	quiet.streamStarting(t0)
	if _, declared := quiet.checkLiveness(at(3 * time.Second)); !declared {
		t.Fatal("a tablet silent since the gate connected must be declared unhealthy")
	}
	if msg := quiet.refuse(true).Error(); !strings.Contains(msg, "has not answered health checks since the gate connected to it 3s ago") ||
		!strings.Contains(msg, "stopped waiting") {
		t.Fatalf("refusal of a call in flight on a tablet never heard from: %s", msg)
	}
}

// pausableTablet answers statements like a tablet until paused; then it
// stops answering anything, health included, as a SIGSTOPped process
// does, until resumed.
type pausableTablet struct {
	fakeTablet
	paused   atomic.Bool
	calls    atomic.Int64
	rollback atomic.Int64
}

func (p *pausableTablet) wait(ctx context.Context) error {
	for p.paused.Load() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("call to tablet: %w", ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

func (p *pausableTablet) Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	p.calls.Add(1)
	if err := p.wait(ctx); err != nil {
		return nil, err
	}
	res := &sqltypes.Result{Fields: []*vquerypb.Field{{Name: "id", Type: sqltypes.Int64}}, Rows: []sqltypes.Row{{sqltypes.NewInt64(1)}}}
	return &querypb.ExecuteResponse{Result: queryconv.ResultToProto(res)}, nil
}

func (p *pausableTablet) BeginExecute(ctx context.Context, req *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	p.calls.Add(1)
	if err := p.wait(ctx); err != nil {
		return nil, err
	}
	return &querypb.BeginExecuteResponse{TransactionId: 5, Result: &querypb.QueryResult{RowsAffected: 1}}, nil
}

func (p *pausableTablet) Rollback(ctx context.Context, req *querypb.RollbackRequest) (*querypb.RollbackResponse, error) {
	p.calls.Add(1)
	if err := p.wait(ctx); err != nil {
		return nil, err
	}
	p.rollback.Add(1)
	return &querypb.RollbackResponse{}, nil
}

// StreamHealth sends a serving report every 10 ms while not paused.
func (p *pausableTablet) StreamHealth(ctx context.Context, _ *querypb.StreamHealthRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[querypb.StreamHealthResponse], error) {
	return &pausableHealth{p: p, ctx: ctx}, nil
}

// StreamExecute opens a stream that sends nothing until ctx ends.
func (p *pausableTablet) StreamExecute(ctx context.Context, _ *querypb.StreamExecuteRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[querypb.StreamExecuteResponse], error) {
	return &silentStream{ctx: ctx}, nil
}

type pausableHealth struct {
	grpc.ClientStream
	p   *pausableTablet
	ctx context.Context
}

func (h *pausableHealth) Recv() (*querypb.StreamHealthResponse, error) {
	for {
		select {
		case <-h.ctx.Done():
			return nil, h.ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if !h.p.paused.Load() {
			return &querypb.StreamHealthResponse{Serving: true}, nil
		}
	}
}

type silentStream struct {
	grpc.ClientStream
	ctx context.Context
}

func (s *silentStream) Recv() (*querypb.StreamExecuteResponse, error) {
	<-s.ctx.Done()
	return nil, s.ctx.Err()
}

// streamingTablet is pausableTablet as the gRPC client of a tablet.
type streamingTablet struct {
	querypb.QueryServiceClient // other calls are not made
	*pausableTablet
}

func (s streamingTablet) StreamHealth(ctx context.Context, req *querypb.StreamHealthRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[querypb.StreamHealthResponse], error) {
	return s.pausableTablet.StreamHealth(ctx, req, opts...)
}

func (s streamingTablet) StreamExecute(ctx context.Context, req *querypb.StreamExecuteRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[querypb.StreamExecuteResponse], error) {
	return s.pausableTablet.StreamExecute(ctx, req, opts...)
}

func (s streamingTablet) Execute(ctx context.Context, req *querypb.ExecuteRequest, _ ...grpc.CallOption) (*querypb.ExecuteResponse, error) {
	return s.pausableTablet.Execute(ctx, req)
}

func (s streamingTablet) BeginExecute(ctx context.Context, req *querypb.BeginExecuteRequest, _ ...grpc.CallOption) (*querypb.BeginExecuteResponse, error) {
	return s.pausableTablet.BeginExecute(ctx, req)
}

func (s streamingTablet) Commit(ctx context.Context, req *querypb.CommitRequest, _ ...grpc.CallOption) (*querypb.CommitResponse, error) {
	return s.pausableTablet.Commit(ctx, req)
}

func (s streamingTablet) Rollback(ctx context.Context, req *querypb.RollbackRequest, _ ...grpc.CallOption) (*querypb.RollbackResponse, error) {
	return s.pausableTablet.Rollback(ctx, req)
}

func (s streamingTablet) Prepare(ctx context.Context, req *querypb.PrepareRequest, _ ...grpc.CallOption) (*querypb.PrepareResponse, error) {
	return s.pausableTablet.Prepare(ctx, req)
}

func (s streamingTablet) CommitPrepared(ctx context.Context, req *querypb.CommitPreparedRequest, _ ...grpc.CallOption) (*querypb.CommitPreparedResponse, error) {
	return s.pausableTablet.CommitPrepared(ctx, req)
}

func (s streamingTablet) RollbackPrepared(ctx context.Context, req *querypb.RollbackPreparedRequest, _ ...grpc.CallOption) (*querypb.RollbackPreparedResponse, error) {
	return s.pausableTablet.RollbackPrepared(ctx, req)
}

// TestHungTablet: through the executor, with short intervals and fake
// tablets, a tablet that stops answering (health and calls alike) fails
// the statements that need it soon after the health timeout, those that
// waited on it included, delays none of the others, and serves again with
// its next health message.
func TestHungTablet(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tablets := map[string]*pausableTablet{"main/0": {}, "ks/-80": {}, "ks/80-": {}}
	fakes := map[string]unaryClient{}
	for k, p := range tablets {
		fakes[k] = p
	}
	e := testExecutor(t, fakes)
	g := e.tablets
	g.healthTimeout = timeout
	reg := prometheus.NewRegistry()
	g.metrics = newTabletMetrics(reg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var hungAlias string
	for _, tc := range g.tablets {
		key := tc.record.Keyspace + "/" + tc.record.Shard
		tc.serving.Store(false)
		g.follow(ctx, tc, streamingTablet{pausableTablet: tablets[key]}, tc.query)
		if key == "ks/-80" {
			hungAlias = tc.record.Alias
		}
	}
	hung := tablets["ks/-80"]
	run := func(s *Session, sql string) (time.Duration, error) {
		start := time.Now()
		qctx, qcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer qcancel()
		_, err := e.Execute(qctx, s, sql, nil)
		return time.Since(start), err
	}
	eventually := func(what string, f func() error) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := f()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wantHung := func(what string, err error, inFlight bool) {
		t.Helper()
		se := sqlerrFrom(err)
		name := "tablet " + hungAlias + " of ks/-80 stopped answering health checks"
		if err == nil || se.Num != 1105 || se.State != "HY000" || !strings.Contains(se.Message, name) {
			t.Fatalf("%s: %v; want 1105 (HY000) containing %q", what, err, name)
		}
		if inFlight != strings.Contains(se.Message, "stopped waiting") {
			t.Fatalf("%s: %v; want in flight = %v", what, err, inFlight)
		}
	}
	// The fixture's shards have no key ranges, so statements for one
	// shard target it (USE ks:-80) rather than route by vindex.
	session := func(shard string) *Session {
		s := NewSession(1, "root")
		s.Keyspace, s.Shard = "ks", shard
		return s
	}
	scatter := func() (time.Duration, error) { return run(session(""), "select id from acct") }
	point := func(shard string) (time.Duration, error) {
		return run(session(shard), "select id from acct where id = 1")
	}
	eventually("every tablet serving", func() error {
		_, err := scatter()
		return err
	})

	// A transaction holding a shard session on the tablet, and a stream
	// from it, both begun while it answers.
	tx := session("")
	for _, step := range []struct{ shard, sql string }{{"", "begin"}, {"-80", "update acct set v = 1"}, {"80-", "update acct set v = 1"}} {
		tx.Shard = step.shard
		if _, err := run(tx, step.sql); err != nil {
			t.Fatalf("%s on %q: %v", step.sql, step.shard, err)
		}
	}
	hungConn, _ := g.pick("ks", "-80", topopb.TabletType_PRIMARY)
	stream, err := hungConn.client.StreamExecute(context.Background(), &querypb.StreamExecuteRequest{})
	if err != nil {
		t.Fatal(err)
	}

	// Pause, and start a statement on the tablet at once: it is in flight
	// when the tablet is declared unhealthy.
	hung.paused.Store(true)
	type outcome struct {
		took time.Duration
		err  error
	}
	inFlight := make(chan outcome, 1)
	go func() {
		took, err := point("-80")
		inFlight <- outcome{took, err}
	}()
	streamErr := make(chan error, 1)
	go func() {
		_, err := stream.Recv()
		streamErr <- err
	}()
	// Statements on the other shard do not wait for it.
	if took, err := point("80-"); err != nil || took > timeout/2 {
		t.Fatalf("point query on the other shard while the tablet hangs: %v after %v", err, took)
	}
	select {
	case o := <-inFlight:
		if o.err == nil {
			t.Fatal("a statement in flight on the hung tablet succeeded")
		}
		wantHung("statement in flight", o.err, true)
		if o.took > 5*time.Second {
			t.Fatalf("statement in flight failed after %v", o.took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a statement in flight on the hung tablet still waits after 10s")
	}
	wantHung("stream in flight", <-streamErr, true)

	// Now declared: refused at once.
	calls := hung.calls.Load()
	took, err := scatter()
	wantHung("scatter", err, false)
	_, err = point("-80")
	wantHung("point query", err, false)
	if took > timeout {
		t.Fatalf("scatter refused after %v", took)
	}
	if _, err := hungConn.client.StreamExecute(context.Background(), &querypb.StreamExecuteRequest{}); err == nil {
		t.Fatal("a stream on the hung tablet was opened")
	}
	if n := hung.calls.Load() - calls; n != 0 {
		t.Fatalf("the hung tablet got %d calls after it was declared unhealthy", n)
	}
	if _, err := point("80-"); err != nil {
		t.Fatal(err)
	}
	if st := strings.Join(g.status(), "\n"); !strings.Contains(st, "UNHEALTHY (stopped answering health checks") {
		t.Fatalf("status does not show the tablet unhealthy:\n%s", st)
	}

	// The transaction: its statement on the tablet fails naming it, and
	// ROLLBACK ends the rest at once.
	tx.Shard = "-80"
	_, err = run(tx, "update acct set v = 2")
	wantHung("statement in a transaction", err, false)
	okRollbacks := tablets["ks/80-"].rollback.Load()
	if took, err := run(tx, "rollback"); err != nil || took > timeout || tx.InTransaction || tx.hasShards() {
		t.Fatalf("rollback: %v after %v (in transaction %v)", err, took, tx.InTransaction)
	}
	if tablets["ks/80-"].rollback.Load() != okRollbacks+1 {
		t.Fatal("rollback did not reach the healthy shard")
	}

	unhealthy := metricValue(t, g.metrics.unhealthy.WithLabelValues("ks", "-80", hungAlias))
	refusedNew := metricValue(t, g.metrics.refusals.WithLabelValues("ks", "-80", hungAlias, "new"))
	refusedInFlight := metricValue(t, g.metrics.refusals.WithLabelValues("ks", "-80", hungAlias, "in_flight"))
	if unhealthy != 1 || refusedNew < 4 || refusedInFlight != 2 {
		t.Fatalf("metrics: unhealthy %v, refused new %v, in flight %v; want 1, >= 4, 2", unhealthy, refusedNew, refusedInFlight)
	}

	// Resumed: its next health message makes it routable again.
	hung.paused.Store(false)
	eventually("scatter after the tablet resumed", func() error {
		_, err := scatter()
		return err
	})
	if _, err := point("-80"); err != nil {
		t.Fatal(err)
	}
	if v := metricValue(t, g.metrics.unhealthy.WithLabelValues("ks", "-80", hungAlias)); v != 0 {
		t.Fatalf("unhealthy gauge after recovery: %v", v)
	}
}

// BenchmarkGuardedCall is what the liveness guard adds to every call on a
// tablet.
func BenchmarkGuardedCall(b *testing.B) {
	tc := &tabletConn{record: &topopb.Tablet{Alias: "a", Keyspace: "ks", Shard: "-80"}}
	tc.startLiveness(time.Now(), time.Second, newTabletMetrics(nil))
	raw := &fakeTablet{}
	g := guardedQuery{tc: tc, next: raw}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := &querypb.ExecuteRequest{}
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = raw.Execute(ctx, req)
		}
	})
	b.Run("guarded", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = g.Execute(ctx, req)
		}
	})
	b.Run("guarded-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = g.Execute(ctx, req)
			}
		})
	})
}

// TestReplicaLagBound checks that a replica target avoids replicas whose
// reported lag exceeds --max-replica-lag, says why when none is left, and
// that the bound never applies to a primary.
func TestReplicaLagBound(t *testing.T) {
	replica := func(alias string, lagSeconds uint32, typ topopb.TabletType) *tabletConn {
		tc := &tabletConn{record: &topopb.Tablet{Alias: alias, Keyspace: "ks", Shard: "-80", Type: typ}}
		tc.startLiveness(time.Now(), time.Minute, newTabletMetrics(nil))
		tc.serving.Store(true)
		tc.health.Store(&querypb.StreamHealthResponse{Serving: true, Stats: &querypb.RealtimeStats{ReplicationLagSeconds: lagSeconds}})
		return tc
	}
	g := newTabletGateway(zap.NewNop(), nil, withMaxReplicaLag(10*time.Second))
	fresh, stale := replica("fresh", 2, topopb.TabletType_REPLICA), replica("stale", 60, topopb.TabletType_REPLICA)
	primary := replica("primary", 60, topopb.TabletType_PRIMARY)
	idx := map[targetKey][]*tabletConn{
		{"ks", "-80", topopb.TabletType_REPLICA}: {fresh, stale},
		{"ks", "-80", topopb.TabletType_PRIMARY}: {primary},
	}
	g.byTarget.Store(&idx)
	for range 50 {
		tc, err := g.pick("ks", "-80", topopb.TabletType_REPLICA)
		if err != nil || tc != fresh {
			t.Fatalf("pick replica = %v, %v; want the replica within the bound", tc, err)
		}
	}
	if tc, err := g.pick("ks", "-80", topopb.TabletType_PRIMARY); err != nil || tc != primary {
		t.Fatalf("pick primary = %v, %v; a primary's lag field never excludes it", tc, err)
	}
	fresh.health.Store(&querypb.StreamHealthResponse{Serving: true, Stats: &querypb.RealtimeStats{ReplicationLagSeconds: 11}})
	_, err := g.pick("ks", "-80", topopb.TabletType_REPLICA)
	if err == nil || !strings.Contains(err.Error(), "fresh: replication lag 11s exceeds --max-replica-lag 10s") ||
		!strings.Contains(err.Error(), "stale: replication lag 60s") {
		t.Fatalf("no replica within the bound: %v", err)
	}
	g.maxReplicaLag = 0
	if _, err := g.pick("ks", "-80", topopb.TabletType_REPLICA); err != nil {
		t.Fatalf("with no bound a lagging replica serves: %v", err)
	}
}
