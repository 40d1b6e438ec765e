package client

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/gatepb"
	"github.com/shardgate/shardgate/proto/querypb"
)

// fakeGate answers the Gate API as the test scripts it and records what
// it was sent.
type fakeGate struct {
	gatepb.UnimplementedGateServer

	mu       sync.Mutex
	requests []string          // "Execute: sql" or "StreamExecute: sql"
	sessions []*gatepb.Session // the session each request carried
	// streamEnded is closed when a StreamExecute handler returns.
	streamEnded chan error
	// rows is how many batches of 10 rows "select many" streams; it then
	// waits for the caller to go away.
	rows int
	// lostCommit makes COMMIT fail as if the gate's answer were lost.
	lostCommit bool
}

func (f *fakeGate) record(method string, s *gatepb.Session, q *gatepb.Query) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, method+": "+string(q.GetSql()))
	f.sessions = append(f.sessions, proto.Clone(s).(*gatepb.Session))
}

func (f *fakeGate) last() (string, *gatepb.Session) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1], f.sessions[len(f.sessions)-1]
}

var testFields = []*vquerypb.Field{
	{Name: "id", Type: sqltypes.Int64, Flags: 1, Charset: 63},
	{Name: "name", Type: sqltypes.VarChar, Charset: 45},
}

// Execute: statements change the session as a gate would, roughly: begin
// and commit flip in_transaction, "insert" returns counts, "fail" fails.
func (f *fakeGate) Execute(ctx context.Context, req *gatepb.ExecuteRequest) (*gatepb.ExecuteResponse, error) {
	f.record("Execute", req.Session, req.Query)
	if f.lostCommit && string(req.Query.Sql) == "commit" {
		return nil, status.Error(codes.Unavailable, "connection reset by peer")
	}
	s := proto.Clone(req.Session).(*gatepb.Session)
	s.ConnectionId = 5
	resp := &gatepb.ExecuteResponse{Session: s, Result: &querypb.QueryResult{}}
	switch sql := string(req.Query.Sql); {
	case sql == "begin":
		s.InTransaction = true
	case sql == "commit" || sql == "rollback":
		s.InTransaction = false
		s.ShardSessions = nil
	case strings.HasPrefix(sql, "insert"):
		resp.Result = &querypb.QueryResult{RowsAffected: 2, InsertId: 41}
		if s.InTransaction {
			s.ShardSessions = append(s.ShardSessions, &gatepb.ShardSession{Keyspace: "ks", Shard: "-80", TransactionId: 8, TabletAlias: "zone1-100"})
		}
	case sql == "fail":
		resp.Error = &querypb.MySQLError{Code: 1062, SqlState: "23000", Message: []byte("Duplicate entry '1' for key 'PRIMARY'")}
	}
	return resp, nil
}

func (f *fakeGate) StreamExecute(req *gatepb.StreamExecuteRequest, stream grpc.ServerStreamingServer[gatepb.StreamExecuteResponse]) (err error) {
	f.record("StreamExecute", req.Session, req.Query)
	defer func() {
		if f.streamEnded != nil {
			f.streamEnded <- stream.Context().Err()
		}
	}()
	s := proto.Clone(req.Session).(*gatepb.Session)
	batch := func(from int) []*querypb.Row {
		res := &sqltypes.Result{}
		for i := from; i < from+10; i++ {
			res.Rows = append(res.Rows, sqltypes.Row{sqltypes.NewInt64(int64(i)), sqltypes.NewVarChar("n")})
		}
		return queryconv.RowsToProto(res.Rows)
	}
	switch string(req.Query.Sql) {
	case "select many", "select then fail":
		s.FoundRows = 1
		if err := stream.Send(&gatepb.StreamExecuteResponse{Session: s, Result: &querypb.QueryResult{Fields: queryconv.FieldsToProto(testFields), Rows: batch(0)}}); err != nil {
			return err
		}
		for i := 1; i < f.rows; i++ {
			if err := stream.Send(&gatepb.StreamExecuteResponse{Result: &querypb.QueryResult{Rows: batch(i * 10)}}); err != nil {
				return err
			}
		}
		if string(req.Query.Sql) == "select then fail" {
			s.FoundRows = 2
			return stream.Send(&gatepb.StreamExecuteResponse{Session: s, Error: &querypb.MySQLError{Code: 1317, SqlState: "70100", Message: []byte("Query execution was interrupted")}})
		}
		<-stream.Context().Done()
		return stream.Context().Err()
	case "denied":
		return queryconv.ErrorToStatus(errAccessDenied)
	}
	return stream.Send(&gatepb.StreamExecuteResponse{Session: s, Result: &querypb.QueryResult{Fields: queryconv.FieldsToProto(testFields[:1]), Rows: batch(0)[:1]}})
}

var errAccessDenied = &Error{Num: 1045, State: "28000", Message: "Access denied for user 'root'@'10.0.0.1' (using password: NO)"}

// startFakeGate serves f and returns a database/sql DB using the driver.
func startFakeGate(t *testing.T, f *fakeGate, options string) *sql.DB {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	gatepb.RegisterGateServer(srv, f)
	go func() { _ = srv.Serve(ln) }()
	db, err := sql.Open(DriverName, "shardgate://"+ln.Addr().String()+"/ks?"+options)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() {
		db.Close()
		srv.Stop()
	})
	return db
}

func TestDriverSessionTravels(t *testing.T) {
	f := &fakeGate{}
	db := startFakeGate(t, f, "workload=olap")
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.ExecContext(ctx, "insert into t values (?, ?)", 1, "a")
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := res.LastInsertId(); id != 41 {
		t.Fatalf("LastInsertId %d", id)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Fatalf("RowsAffected %d", n)
	}
	_, sent := f.last()
	if sent.Keyspace != "ks" || !sent.Autocommit || sent.Workload != "olap" || sent.ConnectionId != 0 {
		t.Fatalf("first session sent: %v", sent)
	}
	if _, err := conn.ExecContext(ctx, "select 1"); err != nil {
		t.Fatal(err)
	}
	if _, sent := f.last(); sent.ConnectionId != 5 {
		t.Fatalf("the next call did not send the session the gate returned: %v", sent)
	}

	// A transaction: BEGIN costs no call, the isolation level travels with
	// the session and is restored after it.
	before := len(f.requests)
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.requests) != before {
		t.Fatalf("BeginTx made a call: %v", f.requests[before:])
	}
	if _, err := tx.ExecContext(ctx, "insert into t values (2, 'b')"); err != nil {
		t.Fatal(err)
	}
	if _, sent := f.last(); !sent.InTransaction || sent.TransactionIsolation != "READ COMMITTED" {
		t.Fatalf("a statement in the transaction sent %v", sent)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	req, sent := f.last()
	if req != "Execute: commit" || len(sent.ShardSessions) != 1 || sent.ShardSessions[0].TabletAlias != "zone1-100" {
		t.Fatalf("commit: %s with %v", req, sent)
	}
	if _, err := conn.ExecContext(ctx, "select 1"); err != nil {
		t.Fatal(err)
	}
	if _, sent := f.last(); sent.InTransaction || sent.TransactionIsolation != "" {
		t.Fatalf("after the transaction: %v", sent)
	}

	// A COMMIT whose answer is lost leaves the outcome unknown, but the
	// connection out of the transaction.
	f.lostCommit = true
	tx, err = conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "insert into t values (3, 'c')"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("a lost commit: %v", err)
	}
	f.lostCommit = false
	if _, err := conn.ExecContext(ctx, "select 1"); err != nil {
		t.Fatal(err)
	}
	if _, sent := f.last(); sent.InTransaction || len(sent.ShardSessions) != 0 {
		t.Fatalf("after a lost commit the session is still in the transaction: %v", sent)
	}

	// A MySQL error in the answer is an *Error.
	_, err = conn.ExecContext(ctx, "fail")
	var se *Error
	if !errors.As(err, &se) || se.Num != 1062 || se.State != "23000" || !strings.Contains(se.Message, "Duplicate entry") {
		t.Fatalf("error %#v", err)
	}
	// A refused login carried as a status is one too.
	_, err = conn.QueryContext(ctx, "denied")
	if !errors.As(err, &se) || se.Num != 1045 {
		t.Fatalf("access denied: %#v", err)
	}
	// A connection closed in a transaction rolls it back.
	if _, err := conn.ExecContext(ctx, "begin"); err != nil {
		t.Fatal(err)
	}
	conn.Close() // back to the pool
	db.Close()   // closes the pooled connection
	if req, _ := f.last(); req != "Execute: rollback" {
		t.Fatalf("closing a connection in a transaction sent %q, want a rollback", req)
	}
}

// Rows come in as the caller reads them; closing them early, or
// cancelling the context, ends the call at the gate.
func TestDriverStreamsRows(t *testing.T) {
	f := &fakeGate{rows: 5, streamEnded: make(chan error, 1)}
	db := startFakeGate(t, f, "")
	rows, err := db.Query("select many")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.ColumnTypes()
	if len(cols) != 2 || cols[0].DatabaseTypeName() != "BIGINT" || cols[1].DatabaseTypeName() != "VARCHAR" {
		t.Fatalf("columns %v", cols)
	}
	n := 0
	for n < 50 && rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil || id != int64(n) || name != "n" {
			t.Fatalf("row %d: %d %q %v", n, id, name, err)
		}
		n++
	}
	if n != 50 {
		t.Fatalf("read %d rows of 50 (%v)", n, rows.Err())
	}
	// The gate still streams (it waits for more to send): close early.
	rows.Close()
	select {
	case err := <-f.streamEnded:
		if status.Code(err) != codes.Canceled && !errors.Is(err, context.Canceled) {
			t.Fatalf("the gate's call ended with %v, want canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("closing the rows did not end the call at the gate")
	}

	ctx, cancel := context.WithCancel(context.Background())
	rows, err = db.QueryContext(ctx, "select many")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10 && rows.Next(); i++ {
	}
	cancel()
	for rows.Next() {
	}
	if !errors.Is(rows.Err(), context.Canceled) {
		t.Fatalf("rows after cancel: %v", rows.Err())
	}
	select {
	case <-f.streamEnded:
	case <-time.After(30 * time.Second):
		t.Fatal("cancelling the context did not end the call at the gate")
	}

	// An error after some rows reaches rows.Err; the session that came
	// with it is kept.
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f.rows = 2
	rows, err = conn.QueryContext(context.Background(), "select then fail")
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	for rows.Next() {
		n++
	}
	var se *Error
	if !errors.As(rows.Err(), &se) || se.Num != 1317 || n != 20 {
		t.Fatalf("%d rows, then %v; want 20 rows, then error 1317", n, rows.Err())
	}
	<-f.streamEnded
	if _, err := conn.ExecContext(context.Background(), "select 1"); err != nil {
		t.Fatal(err)
	}
	if _, sent := f.last(); sent.FoundRows != 2 {
		t.Fatalf("the session of the last message was not kept: %v", sent)
	}
}
