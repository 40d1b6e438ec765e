package gateway

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// fakeTablet is one shard's tablet as the coordinator sees it: it records
// the calls it gets; prepareErr fails Prepare, and onPrepare runs first.
type fakeTablet struct {
	mu         sync.Mutex
	calls      []string
	prepareErr error
	onPrepare  func()
}

func (f *fakeTablet) note(call string) {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
}

func (f *fakeTablet) called() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ",")
}

func (f *fakeTablet) Execute(context.Context, *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	return &querypb.ExecuteResponse{}, nil
}

func (f *fakeTablet) BeginExecute(context.Context, *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	return &querypb.BeginExecuteResponse{TransactionId: 1}, nil
}

func (f *fakeTablet) Commit(context.Context, *querypb.CommitRequest) (*querypb.CommitResponse, error) {
	f.note("commit")
	return &querypb.CommitResponse{}, nil
}

func (f *fakeTablet) Rollback(context.Context, *querypb.RollbackRequest) (*querypb.RollbackResponse, error) {
	f.note("rollback")
	return &querypb.RollbackResponse{}, nil
}

func (f *fakeTablet) Prepare(context.Context, *querypb.PrepareRequest) (*querypb.PrepareResponse, error) {
	if f.onPrepare != nil {
		f.onPrepare()
	}
	f.note("prepare")
	return &querypb.PrepareResponse{}, f.prepareErr
}

func (f *fakeTablet) CommitPrepared(context.Context, *querypb.CommitPreparedRequest) (*querypb.CommitPreparedResponse, error) {
	f.note("commit_prepared")
	return &querypb.CommitPreparedResponse{}, nil
}

func (f *fakeTablet) ReserveExecute(context.Context, *querypb.ReserveExecuteRequest) (*querypb.ReserveExecuteResponse, error) {
	f.note("reserve")
	return &querypb.ReserveExecuteResponse{ReservedId: 1, Result: &querypb.QueryResult{}}, nil
}

func (f *fakeTablet) Release(context.Context, *querypb.ReleaseRequest) (*querypb.ReleaseResponse, error) {
	f.note("release")
	return &querypb.ReleaseResponse{}, nil
}

func (f *fakeTablet) RollbackPrepared(context.Context, *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error) {
	f.note("rollback_prepared")
	return &querypb.RollbackPreparedResponse{}, nil
}

// twoPCFixture is a coordinator on an in-memory topology whose gateway
// knows a serving primary tablet per shard.
type twoPCFixture struct {
	ts      *topo.Server
	c       *twoPC
	tablets map[string]*fakeTablet // by shard
	conns   map[string]*tabletConn
}

func newTwoPCFixture(t *testing.T, shards ...string) *twoPCFixture {
	t.Helper()
	f := &twoPCFixture{ts: topo.NewServer(topo.NewMemoryStore(), ""), tablets: map[string]*fakeTablet{}, conns: map[string]*tabletConn{}}
	g := newTabletGateway(zap.NewNop(), nil)
	for i, shard := range shards {
		ft := &fakeTablet{}
		rec := &topopb.Tablet{Alias: "zone1-" + string(rune('a'+i)), Keyspace: "ks", Shard: shard, Type: topopb.TabletType_PRIMARY}
		tc := &tabletConn{record: rec, query: ft}
		tc.serving.Store(true)
		g.tablets[rec.Alias] = tc
		f.tablets[shard], f.conns[shard] = ft, tc
	}
	g.reindexLocked()
	c, err := newTwoPC(f.ts, g, zap.NewNop(), newMetrics(nil), &topopb.Gate{Name: "test:15306"}, "")
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

func (f *twoPCFixture) session(shards ...string) []*shardSession {
	out := make([]*shardSession, len(shards))
	for i, shard := range shards {
		out[i] = &shardSession{keyspace: "ks", shard: shard, txID: int64(i + 1), tablet: f.conns[shard]}
	}
	return out
}

func (f *twoPCFixture) records(t *testing.T) int {
	t.Helper()
	txs, err := f.ts.ListTransactions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(txs)
}

func TestTwoPCCommitsEveryShard(t *testing.T) {
	f := newTwoPCFixture(t, "-40", "40-80", "80-")
	// While the shards prepare, the decision record exists, undecided.
	f.tablets["40-80"].onPrepare = func() {
		txs, _ := f.ts.ListTransactions(context.Background())
		if len(txs) != 1 || txs[0].Record.State != topopb.TransactionRecord_PREPARE || len(txs[0].Record.Participants) != 3 {
			t.Errorf("records while preparing: %v, want one in PREPARE naming 3 shards", txs)
		}
	}
	if err := f.c.commit(context.Background(), f.c.newDTID(), f.session("-40", "40-80", "80-")); err != nil {
		t.Fatal(err)
	}
	for shard, ft := range f.tablets {
		if got := ft.called(); got != "prepare,commit_prepared" {
			t.Errorf("shard %s got %q, want prepare then commit_prepared", shard, got)
		}
	}
	if n := f.records(t); n != 0 {
		t.Fatalf("%d records left after the commit, want none", n)
	}
	if got := counterValue(t, f.c.metrics.twopcCommits); got != 1 {
		t.Fatalf("shardgate_twopc_commits_total = %v, want 1", got)
	}
}

func TestTwoPCPrepareFailureRollsBackEveryShard(t *testing.T) {
	f := newTwoPCFixture(t, "-80", "80-")
	f.tablets["80-"].prepareErr = errors.New("connection refused")
	err := f.c.commit(context.Background(), "d-1", f.session("-80", "80-"))
	se := sqlerr.From(err)
	if err == nil || se.Num != sqlerr.ERXARBRollback || se.State != sqlerr.SSXARBRollback ||
		!strings.Contains(se.Message, "ks/80-") || !strings.Contains(se.Message, "rolled back on every shard") {
		t.Fatalf("err = %v, want XA_RBROLLBACK naming shard ks/80- and saying everything rolled back", err)
	}
	for shard, ft := range f.tablets {
		if got := ft.called(); got != "prepare,rollback_prepared" {
			t.Errorf("shard %s got %q, want prepare then rollback_prepared", shard, got)
		}
	}
	if n := f.records(t); n != 0 {
		t.Fatalf("%d records left after the rollback, want none", n)
	}
}

func TestTwoPCFollowsADecisionTakenByRecovery(t *testing.T) {
	f := newTwoPCFixture(t, "-80", "80-")
	// Another gate, believing this one dead, rolls the record back while
	// the shards prepare.
	f.tablets["-80"].onPrepare = func() {
		txs, err := f.ts.ListTransactions(context.Background())
		if err != nil || len(txs) != 1 {
			t.Errorf("records = %v, %v", txs, err)
			return
		}
		if _, err := f.ts.DecideTransaction(context.Background(), txs[0], topopb.TransactionRecord_ROLLBACK); err != nil {
			t.Error(err)
		}
	}
	err := f.c.commit(context.Background(), "d-2", f.session("-80", "80-"))
	if se := sqlerr.From(err); err == nil || se.Num != sqlerr.ERXARBRollback || !strings.Contains(se.Message, "rolled back by recovery") {
		t.Fatalf("err = %v, want the transaction reported rolled back by recovery", err)
	}
	for shard, ft := range f.tablets {
		if strings.Contains(ft.called(), "commit") {
			t.Errorf("shard %s got %q: nothing may commit against the record", shard, ft.called())
		}
	}
}

func TestRecoveryFinishesOnlyOrphanedRecords(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newTwoPCFixture(t, "-80", "80-")
	record := func(dtid, gate string, state topopb.TransactionRecord_State) {
		_, err := f.ts.CreateTransaction(ctx, &topopb.TransactionRecord{Dtid: dtid, GateId: gate, State: state,
			Participants: []*topopb.TransactionParticipant{{Keyspace: "ks", Shard: "-80"}, {Keyspace: "ks", Shard: "80-"}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	register := func(id, name string, started int64) {
		if _, err := f.ts.RegisterGate(ctx, &topopb.Gate{Id: id, Name: name, StartedUnixNanos: started}, 0); err != nil {
			t.Fatal(err)
		}
	}
	register("other:15306/1", "other:15306", 1)
	// An earlier process of this gate, still registered.
	register("test:15306/0", "test:15306", f.c.gate.StartedUnixNanos-1)
	record("prepared-of-dead", "gone:15306/1", topopb.TransactionRecord_PREPARE)
	record("live", "other:15306/1", topopb.TransactionRecord_PREPARE)
	f.c.track("mine-in-flight", true)
	record("mine-in-flight", f.c.gate.Id, topopb.TransactionRecord_PREPARE)
	if !f.c.recoverPass(ctx) {
		t.Fatal("the pass reported work left undone")
	}
	if got := f.tablets["-80"].called(); got != "rollback_prepared" {
		t.Fatalf("calls after rolling back the dead gate's record: %q, want one rollback_prepared", got)
	}
	record("committed-of-predecessor", "test:15306/0", topopb.TransactionRecord_COMMIT)
	f.c.recoverPass(ctx)
	if got := f.tablets["80-"].called(); got != "rollback_prepared,commit_prepared" {
		t.Fatalf("calls after the predecessor's committed record: %q", got)
	}
	txs, err := f.ts.ListTransactions(ctx)
	if err != nil || len(txs) != 2 || txs[0].Record.Dtid != "live" || txs[1].Record.Dtid != "mine-in-flight" {
		t.Fatalf("records left = %v, %v; want those of the live gate and the one in flight", txs, err)
	}
	if got := counterValue(t, f.c.metrics.twopcRecovered.WithLabelValues("rollback")) + counterValue(t, f.c.metrics.twopcRecovered.WithLabelValues("commit")); got != 2 {
		t.Fatalf("shardgate_twopc_recovered_total = %v, want 2", got)
	}
	// Once this gate's commit is no longer in flight, its leftover record
	// is recovered too.
	f.c.track("mine-in-flight", false)
	f.c.recoverPass(ctx)
	if n := f.records(t); n != 1 {
		t.Fatalf("%d records left, want only the live gate's", n)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	m := &dto.Metric{}
	if err := c.Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// unansweredStore is a topology store that never answers a write, as etcd
// does while it is down (its client waits for a connection until the
// context ends).
type unansweredStore struct{ topo.Store }

func (unansweredStore) Create(ctx context.Context, _ string, _ []byte) (int64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func TestTwoPCFailsFastAndRollsBackWhenTheTopologyDoesNotAnswer(t *testing.T) {
	f := newTwoPCFixture(t, "-80", "80-")
	f.c.ts = topo.NewServer(unansweredStore{topo.NewMemoryStore()}, "")
	start := time.Now()
	err := f.c.commit(context.Background(), "d-3", f.session("-80", "80-"))
	took := time.Since(start)
	se := sqlerr.From(err)
	if err == nil || se.Num != sqlerr.ERXARBRollback || se.State != sqlerr.SSXARBRollback ||
		!strings.Contains(se.Message, "topology store (etcd) is unreachable") || !strings.Contains(se.Message, "rolled back on every shard") {
		t.Fatalf("err = %v, want XA_RBROLLBACK saying the topology store is unreachable and everything rolled back", err)
	}
	if took < recordTimeout || took > recordTimeout+2*time.Second {
		t.Errorf("the commit failed after %v, want about %v", took, recordTimeout)
	}
	for shard, ft := range f.tablets {
		if got := ft.called(); got != "rollback" {
			t.Errorf("shard %s got %q, want only a rollback (nothing prepared)", shard, got)
		}
	}
}
