package gateway

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// notPrimaryTablet refuses its first refusals statements as a demoted
// primary would, then runs them.
type notPrimaryTablet struct {
	fakeTablet
	refusals atomic.Int32
	ran      atomic.Int32
}

func (f *notPrimaryTablet) Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	if f.refusals.Add(-1) >= 0 {
		return nil, sqlerr.WithReason(sqlerr.ReasonNotPrimary, sqlerr.New(sqlerr.ErOptionPreventsStatement, "HY000", "tablet zone1-100 is not the primary of its shard"))
	}
	f.ran.Add(1)
	return &querypb.ExecuteResponse{Result: &querypb.QueryResult{RowsAffected: 1}}, nil
}

// An autocommit write that a shard refused because its tablet was not the
// primary runs again, and the client sees it succeed: a reparent is a
// pause, not an error.
func TestWriteRefusedByADemotedPrimaryRunsAgain(t *testing.T) {
	tablet := &notPrimaryTablet{}
	tablet.refusals.Store(3)
	e := testExecutor(t, map[string]unaryClient{"main/0": tablet})
	s := NewSession(1, "u")
	s.Keyspace = "main"
	res, err := e.Execute(context.Background(), s, "insert into t (id) values (1)", nil)
	if err != nil {
		t.Fatalf("the write failed: %v", err)
	}
	if res.RowsAffected != 1 || tablet.ran.Load() != 1 {
		t.Fatalf("rows affected %d, ran %d times; want 1 and 1", res.RowsAffected, tablet.ran.Load())
	}

	// A refusal that says nothing of whether the statement ran is never
	// retried.
	other := &failingTablet{err: sqlerr.Internal("lost connection to MySQL during query")}
	e = testExecutor(t, map[string]unaryClient{"main/0": other})
	if _, err := e.Execute(context.Background(), s, "insert into t (id) values (2)", nil); err == nil || other.calls.Load() != 1 {
		t.Fatalf("ambiguous failure: %v after %d calls; want the error after one call", err, other.calls.Load())
	}
}

type failingTablet struct {
	fakeTablet
	err   error
	calls atomic.Int32
}

func (f *failingTablet) Execute(context.Context, *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	f.calls.Add(1)
	return nil, f.err
}

// The gate stops picking a primary whose health says it was demoted, and
// waits for a new primary only where a replica could become one.
func TestPickDuringAReparent(t *testing.T) {
	tablet := func(alias string, typ, reported topopb.TabletType) *tabletConn {
		tc := &tabletConn{record: &topopb.Tablet{Alias: alias, Keyspace: "ks", Shard: "-80", Type: typ}}
		tc.startLiveness(time.Now(), time.Minute, newTabletMetrics(nil))
		tc.serving.Store(true)
		tc.health.Store(&querypb.StreamHealthResponse{Serving: true, Stats: &querypb.RealtimeStats{TabletType: reported}})
		return tc
	}
	g := newTabletGateway(zap.NewNop(), nil)
	demoted := tablet("zone1-100", topopb.TabletType_PRIMARY, topopb.TabletType_REPLICA)
	idx := map[targetKey][]*tabletConn{{"ks", "-80", topopb.TabletType_PRIMARY}: {demoted}}
	g.byTarget.Store(&idx)
	_, err := g.pick("ks", "-80", topopb.TabletType_PRIMARY)
	if err == nil || !strings.Contains(err.Error(), "demoted") {
		t.Fatalf("pick a demoted primary: %v", err)
	}
	if sqlerr.ReasonOf(err) != querypb.ErrorReason_REASON_UNSPECIFIED {
		t.Fatalf("no replica could replace it, yet the refusal asks to wait: %v", err)
	}
	replica := tablet("zone1-101", topopb.TabletType_REPLICA, topopb.TabletType_REPLICA)
	idx = map[targetKey][]*tabletConn{
		{"ks", "-80", topopb.TabletType_PRIMARY}: {demoted},
		{"ks", "-80", topopb.TabletType_REPLICA}: {replica},
	}
	g.byTarget.Store(&idx)
	if _, err := g.pick("ks", "-80", topopb.TabletType_PRIMARY); sqlerr.ReasonOf(err) != sqlerr.ReasonNotPrimary {
		t.Fatalf("pick a primary while a replica may replace it: %v, want NOT_PRIMARY so the statement waits", err)
	}
	// A replica target falls back to rdonly, never to the primary.
	rdonly := tablet("zone1-102", topopb.TabletType_RDONLY, topopb.TabletType_RDONLY)
	replica.serving.Store(false)
	idx[targetKey{"ks", "-80", topopb.TabletType_RDONLY}] = []*tabletConn{rdonly}
	if tc, err := g.pick("ks", "-80", topopb.TabletType_REPLICA); err != nil || tc != rdonly {
		t.Fatalf("replica target with no serving replica: %v, %v; want the rdonly tablet", tc, err)
	}
}
