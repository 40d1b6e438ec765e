package gateway

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/gatepb"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/sqlrouter/vschema"
)

// scriptedTablet is a tablet whose answers the test chooses; it records
// the calls it gets.
type scriptedTablet struct {
	fakeTablet
	execute      func(ctx context.Context, sql string) (*querypb.QueryResult, error)
	beginExecute func(ctx context.Context) error
}

func (s *scriptedTablet) Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	s.note("execute:" + string(req.Sql))
	if s.execute == nil {
		return &querypb.ExecuteResponse{Result: &querypb.QueryResult{}}, nil
	}
	res, err := s.execute(ctx, string(req.Sql))
	return &querypb.ExecuteResponse{Result: res}, err
}

func (s *scriptedTablet) BeginExecute(ctx context.Context, req *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	s.note("begin_execute:" + string(req.Sql))
	if s.beginExecute != nil {
		if err := s.beginExecute(ctx); err != nil {
			return nil, err
		}
	}
	return &querypb.BeginExecuteResponse{TransactionId: 77, Result: &querypb.QueryResult{RowsAffected: 1}}, nil
}

// testExecutor is an executor over an in-memory topology: an unsharded
// keyspace main (shard 0) and a sharded keyspace ks (-80, 80-), with one
// primary tablet per shard, the given fakes (by "keyspace/shard").
func testExecutor(t testing.TB, tablets map[string]unaryClient) *Executor {
	t.Helper()
	mainKs, _, err := vschema.ParseVSchema("main", false, []byte(`{"tables": {"t": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	ks, _, err := vschema.ParseVSchema("ks", true, []byte(`{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
		"tables": {"acct": {"column_vindexes": [{"column": "id", "name": "hash"}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	tp := newTopology(nil, "zone1", zap.NewNop())
	tp.vschema.Store(&vschema.VSchema{Keyspaces: map[string]*vschema.Keyspace{"main": mainKs, "ks": ks}, Version: "1"})
	graph := servingGraph{
		"main": {topopb.TabletType_PRIMARY: {{Name: "0"}}},
		"ks":   {topopb.TabletType_PRIMARY: {{Name: "-80"}, {Name: "80-"}}},
	}
	tp.serving.Store(&graph)
	g := newTabletGateway(zap.NewNop(), nil)
	uid := 100
	for _, target := range []string{"main/0", "ks/-80", "ks/80-"} {
		keyspace, shard, _ := strings.Cut(target, "/")
		fake := tablets[target]
		if fake == nil {
			fake = &fakeTablet{}
		}
		rec := &topopb.Tablet{Alias: "zone1-" + strconv.Itoa(uid), Cell: "zone1", Keyspace: keyspace, Shard: shard, Type: topopb.TabletType_PRIMARY}
		uid++
		tc := &tabletConn{record: rec, query: fake, cancel: func() {}}
		tc.serving.Store(true)
		g.tablets[rec.Alias] = tc
	}
	g.reindexLocked()
	e := &Executor{
		topo: tp, tablets: g, parser: sqlparser.NewTestParser(), log: zap.NewNop(), metrics: newMetrics(nil),
		plans: newPlanCache(100, 1<<20, nil), queryTimeout: time.Minute, maxResultBytes: 64 << 20,
		buffer: newWriteBuffer(DefaultBufferConfig(), tp, nil, "test-gate", zap.NewNop(), nil),
	}
	e.stats = newQueryStats(100, e.metrics, nil, nil)
	e.schema = newSchemaTracker(func(context.Context, string) (map[string][]string, error) {
		return map[string][]string{"t": {"id", "v"}}, nil
	}, 0, zap.NewNop())
	return e
}

func TestSessionRoundTrip(t *testing.T) {
	e := testExecutor(t, nil)
	in := &gatepb.Session{
		Keyspace: "ks", TabletType: topopb.TabletType_PRIMARY,
		Autocommit: false, InTransaction: true,
		ShardSessions: []*gatepb.ShardSession{
			{Keyspace: "ks", Shard: "80-", TransactionId: 5, TabletAlias: "zone1-102"},
			{Keyspace: "main", Shard: "0", TransactionId: 9, TabletAlias: "zone1-100"},
		},
		TransactionMode:         gatepb.TransactionMode_TWOPC,
		Dtid:                    "abc-1",
		TransactionIsolation:    "READ COMMITTED",
		Workload:                "olap",
		NoScatter:               true,
		LastInsertId:            42,
		FoundRows:               7,
		Variables:               []*gatepb.SessionVariable{{Name: "sql_mode", Value: "'ANSI'"}, {Name: "time_zone", Value: "'+05:00'"}},
		ConnectionId:            1<<31 | 3,
		TransactionReadOnly:     true,
		ReadYourWrites:          true,
		ReadYourWritesTimeoutMs: 250,
		WritePositions:          map[string]string{"ks/80-": "0-100-17", "main/0": "0-101-3,1-101-9"},
	}
	s, err := e.sessionFromProto(in, "app")
	if err != nil {
		t.Fatal(err)
	}
	if s.settingsPrefix != "SET STATEMENT sql_mode='ANSI', time_zone='+05:00' FOR " {
		t.Errorf("settings prefix %q", s.settingsPrefix)
	}
	if s.shards[0].tablet != e.tablets.tablets["zone1-102"] {
		t.Error("the shard's transaction is not bound to its tablet's connection")
	}
	if out := sessionToProto(s); !proto.Equal(in, out) {
		t.Fatalf("round trip changed the session:\n in:  %v\n out: %v", in, out)
	}

	// A call without a session starts a new one: autocommit, no keyspace,
	// a connection id of its own.
	s, err = e.sessionFromProto(nil, "app")
	if err != nil || !s.Autocommit || s.Keyspace != "" || s.ConnectionID&(1<<31) == 0 || s.TabletType != topopb.TabletType_PRIMARY {
		t.Fatalf("new session: %+v, %v", s, err)
	}
}

func TestSessionFromProtoRefuses(t *testing.T) {
	e := testExecutor(t, nil)
	for name, c := range map[string]struct {
		session *gatepb.Session
		code    int
		text    string
	}{
		"unknown keyspace":     {&gatepb.Session{Keyspace: "nope"}, 1049, "Unknown database 'nope'"},
		"shard not serving":    {&gatepb.Session{Keyspace: "ks", Shard: "-40"}, 1049, "no serving shard \"-40\""},
		"shard, no keyspace":   {&gatepb.Session{Shard: "0"}, 1046, "No database selected"},
		"tablet type":          {&gatepb.Session{Keyspace: "ks", TabletType: 9}, 1049, "tablet type 9"},
		"workload":             {&gatepb.Session{Workload: "dss"}, 1231, "'dss'"},
		"variable name":        {&gatepb.Session{Variables: []*gatepb.SessionVariable{{Name: "x; drop", Value: "1"}}}, 1193, "x; drop"},
		"shards, no tx":        {&gatepb.Session{ShardSessions: []*gatepb.ShardSession{{Keyspace: "ks", Shard: "-80", TransactionId: 1}}}, 1105, "not in a transaction"},
		"shard session, no id": {&gatepb.Session{InTransaction: true, ShardSessions: []*gatepb.ShardSession{{Keyspace: "ks", Shard: "-80"}}}, 1105, "transaction id 0"},
	} {
		_, err := e.sessionFromProto(c.session, "")
		se := sqlerrFrom(err)
		if err == nil || int(se.Num) != c.code || !strings.Contains(se.Message, c.text) {
			t.Errorf("%s: %v; want error %d containing %q", name, err, c.code, c.text)
		}
	}
}

// A session's transaction on a tablet the gate does not know (or that now
// serves another shard) fails its statements, naming the tablet; a
// rollback goes through.
func TestGoneTablet(t *testing.T) {
	e := testExecutor(t, nil)
	for _, alias := range []string{"zone1-999", "zone1-100"} { // unknown; serves main/0, not ks/-80
		s, err := e.sessionFromProto(&gatepb.Session{Keyspace: "ks", InTransaction: true, ShardSessions: []*gatepb.ShardSession{
			{Keyspace: "ks", Shard: "-80", TransactionId: 3, TabletAlias: alias},
		}}, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Execute(context.Background(), s, "update acct set v = 1 where id = 1", nil)
		if err == nil || !strings.Contains(err.Error(), "tablet "+alias) || !strings.Contains(err.Error(), "ROLLBACK") {
			t.Fatalf("%s: %v; want an error naming the tablet", alias, err)
		}
		if _, err := e.Execute(context.Background(), s, "rollback", nil); err != nil || s.InTransaction || len(s.shards) != 0 {
			t.Fatalf("%s: rollback: %v (in transaction %v, %d shards)", alias, err, s.InTransaction, len(s.shards))
		}
	}
}

func TestChunkResult(t *testing.T) {
	fields := []*vquerypb.Field{{Name: "id", Type: sqltypes.Int64}, {Name: "v", Type: sqltypes.VarChar}}
	res := &sqltypes.Result{Fields: fields, RowsAffected: 3, InsertID: 9, Info: "info"}
	big := strings.Repeat("x", 1000)
	for i := range 1000 {
		res.Rows = append(res.Rows, sqltypes.Row{sqltypes.NewInt64(int64(i)), sqltypes.NewVarChar(big)})
	}
	msgs := chunkResult(res)
	if len(msgs) < 3 {
		t.Fatalf("1 MB of rows in %d messages, want several of at most %d bytes", len(msgs), streamChunkBytes)
	}
	first := msgs[0].Result
	if len(first.Fields) != 2 || first.RowsAffected != 3 || first.InsertId != 9 || string(first.Info) != "info" {
		t.Fatalf("first message %v", first)
	}
	next := 0
	for i, m := range msgs {
		if i > 0 && len(m.Result.Fields) > 0 {
			t.Fatalf("message %d repeats the fields", i)
		}
		rows, err := queryconv.RowsFromProto(fields, m.Result.Rows)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if n, _ := r[0].ToInt64(); n != int64(next) {
				t.Fatalf("row %d where %d was due", n, next)
			}
			next++
		}
	}
	if next != 1000 {
		t.Fatalf("%d rows in the messages, want 1000", next)
	}
	if msgs := chunkResult(&sqltypes.Result{RowsAffected: 2}); len(msgs) != 1 || msgs[0].Result.RowsAffected != 2 {
		t.Fatalf("a write's result: %v", msgs)
	}
}

// serveGate serves e's Gate API on a loopback port (the default users
// admit root without a password from loopback only) and returns a client.
func serveGate(t *testing.T, e *Executor) gatepb.GateClient {
	t.Helper()
	auth, err := NewAuthenticator(DefaultUsers())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	gatepb.RegisterGateServer(srv, &grpcHandler{executor: e, auth: auth, log: zap.NewNop(), metrics: e.metrics})
	go func() { _ = srv.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	return gatepb.NewGateClient(conn)
}

func asRoot(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, MetadataUser, "root", MetadataPassword, "")
}

func TestGRPCAuthentication(t *testing.T) {
	gate := serveGate(t, testExecutor(t, nil))
	q := &gatepb.Query{Sql: []byte("select 1 from dual")}
	for _, md := range [][]string{nil, {MetadataUser, "root", MetadataPassword, "x"}, {MetadataUser, "bob"}} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), md...)
		_, err := gate.Execute(ctx, &gatepb.ExecuteRequest{Query: q})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("login %v: %v, want Unauthenticated", md, err)
		}
		var se interface{ Error() string }
		if se = queryconv.ErrorFromStatus(err); !strings.Contains(se.Error(), "Access denied") || !strings.Contains(se.Error(), "errno 1045") {
			t.Fatalf("login %v: %v, want MySQL's access denied", md, se)
		}
	}
	if _, err := gate.Execute(asRoot(context.Background()), &gatepb.ExecuteRequest{Query: q}); err != nil {
		t.Fatalf("root from loopback: %v", err)
	}
}

// openTransactions is what the write buffer counts open per keyspace.
func openTransactions(e *Executor) map[string]int {
	e.buffer.mu.Lock()
	defer e.buffer.mu.Unlock()
	return maps.Clone(e.buffer.open)
}

// A transaction through the API: the session the answers carry names the
// shard's transaction and tablet; COMMIT with it commits there. The write
// buffer counts the transaction open while a call of it runs, and only
// then.
func TestGRPCTransaction(t *testing.T) {
	var e *Executor
	var duringCall map[string]int
	tab := &scriptedTablet{execute: func(context.Context, string) (*querypb.QueryResult, error) {
		duringCall = openTransactions(e)
		return &querypb.QueryResult{RowsAffected: 1}, nil
	}}
	e = testExecutor(t, map[string]unaryClient{"main/0": tab})
	gate := serveGate(t, e)
	ctx := asRoot(context.Background())
	session := &gatepb.Session{Keyspace: "main", Autocommit: true}
	run := func(sql string) *gatepb.ExecuteResponse {
		t.Helper()
		resp, err := gate.Execute(ctx, &gatepb.ExecuteRequest{Session: session, Query: &gatepb.Query{Sql: []byte(sql)}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Error != nil {
			t.Fatalf("%s: %d %s", sql, resp.Error.Code, resp.Error.Message)
		}
		session = resp.Session
		if open := openTransactions(e); len(open) != 0 {
			t.Fatalf("after %s the write buffer counts open transactions %v; want none between calls", sql, open)
		}
		return resp
	}
	run("begin")
	if !session.InTransaction || len(session.ShardSessions) != 0 {
		t.Fatalf("after BEGIN: %v", session)
	}
	if resp := run("insert into t (id, v) values (1, 'a')"); resp.Result.RowsAffected != 1 {
		t.Fatalf("insert: %v", resp.Result)
	}
	want := &gatepb.ShardSession{Keyspace: "main", Shard: "0", TransactionId: 77, TabletAlias: "zone1-100"}
	if len(session.ShardSessions) != 1 || !proto.Equal(session.ShardSessions[0], want) {
		t.Fatalf("shard sessions %v, want %v", session.ShardSessions, want)
	}
	run("update t set v = 'b' where id = 1")
	if duringCall["main"] != 1 {
		t.Fatalf("during a call of the transaction the write buffer counted %v open; want main: 1", duringCall)
	}
	run("commit")
	if session.InTransaction || len(session.ShardSessions) != 0 {
		t.Fatalf("after COMMIT: %v", session)
	}
	if got := tab.called(); got != "begin_execute:insert into t(id, v) values (1, 'a'),execute:update t set v = 'b' where id = 1,commit" {
		t.Fatalf("tablet calls: %s", got)
	}

	// A statement's error comes in the answer, with the session.
	resp, err := gate.Execute(ctx, &gatepb.ExecuteRequest{Session: session, Query: &gatepb.Query{Sql: []byte("select from")}})
	if err != nil || resp.Error == nil || resp.Error.Code != 1064 || resp.Session == nil {
		t.Fatalf("syntax error: %v, %v", resp, err)
	}
	// Parameters are checked against their types.
	resp, err = gate.Execute(ctx, &gatepb.ExecuteRequest{Session: session, Query: &gatepb.Query{
		Sql:           []byte("select v from t where id = :id"),
		BindVariables: map[string]*gatepb.BindVariable{"id": {Type: querypb.Type_INT64, Value: []byte("1 or 1=1")}},
	}})
	if err != nil || resp.Error == nil || resp.Error.Code != 1210 {
		t.Fatalf("a malformed INT64 parameter: %v, %v; want error 1210", resp, err)
	}
}

// A streamed result arrives in chunks; the first and the last message
// carry the session.
func TestGRPCStreamExecute(t *testing.T) {
	tab := &scriptedTablet{execute: func(context.Context, string) (*querypb.QueryResult, error) {
		res := &sqltypes.Result{Fields: []*vquerypb.Field{{Name: "id", Type: sqltypes.Int64}, {Name: "v", Type: sqltypes.VarChar}}}
		for i := range 2000 {
			res.Rows = append(res.Rows, sqltypes.Row{sqltypes.NewInt64(int64(i)), sqltypes.NewVarChar(strings.Repeat("v", 500))})
		}
		return queryconv.ResultToProto(res), nil
	}}
	gate := serveGate(t, testExecutor(t, map[string]unaryClient{"main/0": tab}))
	stream, err := gate.StreamExecute(asRoot(context.Background()), &gatepb.StreamExecuteRequest{
		Session: &gatepb.Session{Keyspace: "main", Autocommit: true},
		Query:   &gatepb.Query{Sql: []byte("select id, v from t")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*gatepb.StreamExecuteResponse
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) < 3 {
		t.Fatalf("%d messages for 1 MB of rows", len(msgs))
	}
	rows := 0
	for i, m := range msgs {
		if m.Error != nil {
			t.Fatalf("message %d: error %v", i, m.Error)
		}
		if (i == 0 || i == len(msgs)-1) != (m.Session != nil) {
			t.Fatalf("message %d of %d: session %v; want one in the first and the last only", i, len(msgs), m.Session)
		}
		rows += len(m.Result.Rows)
	}
	if rows != 2000 || len(msgs[0].Result.Fields) != 2 {
		t.Fatalf("%d rows, fields %v", rows, msgs[0].Result.Fields)
	}
	if last := msgs[len(msgs)-1].Session; last.FoundRows != 2000 {
		t.Fatalf("the last session says FOUND_ROWS() = %d, want 2000", last.FoundRows)
	}
}

// When the caller of a statement goes away, the shard transactions the
// statement began are rolled back: the caller never got a session naming
// them.
func TestGRPCUnreportedShardsRollBack(t *testing.T) {
	var once sync.Once
	begun := make(chan struct{})
	tab := &scriptedTablet{beginExecute: func(ctx context.Context) error {
		once.Do(func() { close(begun) })
		<-ctx.Done() // the caller gives up; the tablet's work is done anyway
		return nil
	}}
	gate := serveGate(t, testExecutor(t, map[string]unaryClient{"main/0": tab}))
	ctx, cancel := context.WithCancel(asRoot(context.Background()))
	done := make(chan error, 1)
	go func() {
		_, err := gate.Execute(ctx, &gatepb.ExecuteRequest{
			Session: &gatepb.Session{Keyspace: "main", InTransaction: true},
			Query:   &gatepb.Query{Sql: []byte("insert into t (id, v) values (2, 'b')")},
		})
		done <- err
	}()
	<-begun
	cancel()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled call: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.HasSuffix(tab.called(), ",rollback") {
		if time.Now().After(deadline) {
			t.Fatalf("tablet calls %q: the transaction the lost answer named was not rolled back", tab.called())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sqlerrFrom(err error) *sqlerr.Error { return sqlerr.From(err) }
