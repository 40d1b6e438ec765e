package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/vindex"
)

// loadTablet is a shard that knows the tables t (main) and acct (ks) as
// MariaDB would describe them, and answers an INSERT with as many affected
// rows as it has rows (fewer when skip says so); fail makes a statement
// fail.
type loadTablet struct {
	fakeTablet
	mu     sync.Mutex
	fail   func(sql string) error
	skip   func(sql string) uint64
	writes []string
}

func (f *loadTablet) answer(sql string) (*querypb.QueryResult, error) {
	if strings.Contains(sql, "information_schema") {
		fields := []*vquerypb.Field{{Name: "column_name", Type: sqltypes.VarChar}, {Name: "is_nullable", Type: sqltypes.VarChar},
			{Name: "column_default", Type: sqltypes.VarChar}, {Name: "data_type", Type: sqltypes.VarChar}, {Name: "extra", Type: sqltypes.VarChar},
			{Name: "sql_mode", Type: sqltypes.VarChar}, {Name: "charset", Type: sqltypes.VarChar}}
		res := &sqltypes.Result{Fields: fields}
		mode, cs := sqltypes.NewVarChar("STRICT_TRANS_TABLES"), sqltypes.NewVarChar("utf8mb4")
		switch {
		case strings.Contains(sql, "'t'"), strings.Contains(sql, "'acct'"):
			res.Rows = []sqltypes.Row{
				{sqltypes.NewVarChar("id"), sqltypes.NewVarChar("NO"), sqltypes.NULL, sqltypes.NewVarChar("bigint"), sqltypes.NewVarChar(""), mode, cs},
				{sqltypes.NewVarChar("v"), sqltypes.NewVarChar("YES"), sqltypes.NewVarChar("NULL"), sqltypes.NewVarChar("varchar"), sqltypes.NewVarChar(""), mode, cs},
			}
		default: // the database, not the table
			res.Rows = []sqltypes.Row{{sqltypes.NULL, sqltypes.NULL, sqltypes.NULL, sqltypes.NULL, sqltypes.NULL, mode, cs}}
		}
		return queryconv.ResultToProto(res), nil
	}
	f.mu.Lock()
	f.writes = append(f.writes, sql)
	f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(sql); err != nil {
			return nil, queryconv.ErrorToStatus(err)
		}
	}
	if !strings.HasPrefix(sql, "insert") && !strings.HasPrefix(sql, "replace") {
		return &querypb.QueryResult{}, nil
	}
	rows := uint64(strings.Count(sql, "), (") + 1)
	if f.skip != nil {
		rows -= f.skip(sql)
	}
	return &querypb.QueryResult{RowsAffected: rows}, nil
}

func (f *loadTablet) Execute(_ context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	if req.TransactionId != 0 {
		f.note("execute")
	}
	res, err := f.answer(string(req.Sql))
	return &querypb.ExecuteResponse{Result: res}, err
}

func (f *loadTablet) BeginExecute(_ context.Context, req *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	f.note("begin")
	res, err := f.answer(string(req.Sql))
	if err != nil {
		return nil, err
	}
	return &querypb.BeginExecuteResponse{TransactionId: 77, Result: res}, nil
}

// clientFile is a client's file as the front end hands it over: it
// records whether it was read to its end and closed.
type clientFile struct {
	r           io.Reader
	name        string
	eof, closed bool
}

func (f *clientFile) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		f.eof = true
	}
	return n, err
}

func (f *clientFile) Close() error { f.closed = true; return nil }

func loadSession(keyspace string, data io.Reader) (*Session, *clientFile) {
	s := NewSession(1, "root")
	s.Keyspace = keyspace
	f := &clientFile{r: data}
	s.LocalFiles = func(name string) (io.ReadCloser, error) {
		f.name = name
		return f, nil
	}
	return s, f
}

// withKeyRanges gives the test executor's shards of ks their key ranges,
// so that rows split between them by vindex.
func withKeyRanges(e *Executor) *Executor {
	graph := servingGraph{
		"main": {topopb.TabletType_PRIMARY: {{Name: "0"}}},
		"ks": {topopb.TabletType_PRIMARY: {
			{Name: "-80", KeyRange: vindex.MustParseKeyRange("-80")},
			{Name: "80-", KeyRange: vindex.MustParseKeyRange("80-")},
		}},
	}
	e.topo.serving.Store(&graph)
	return e
}

func numberedRows(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%d\tv%d\n", i, i)
	}
	return b.String()
}

func TestLoadDataUnsharded(t *testing.T) {
	tab := &loadTablet{}
	e := testExecutor(t, map[string]unaryClient{"main/0": tab})
	s, f := loadSession("main", strings.NewReader(numberedRows(1, 2500)))
	res, err := e.Execute(context.Background(), s, "load data local infile '/data/t.tsv' into table t", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.RowsAffected != 2500 || res.Info != "Records: 2500  Deleted: 0  Skipped: 0  Warnings: 0" || res.InsertID != 0 {
		t.Fatalf("result: %d rows, info %q, insert id %d", res.RowsAffected, res.Info, res.InsertID)
	}
	if f.name != "/data/t.tsv" || !f.eof || !f.closed {
		t.Fatalf("file %q: read to the end %v, closed %v", f.name, f.eof, f.closed)
	}
	// Three batches in one transaction, committed.
	if got := tab.called(); got != "begin,execute,execute,commit" {
		t.Fatalf("tablet calls %s", got)
	}
	if len(tab.writes) != 3 || !strings.HasPrefix(tab.writes[0], "insert ignore into t(id, v) values ('1', 'v1'), ('2', 'v2')") ||
		!strings.HasSuffix(tab.writes[2], "('2500', 'v2500')") {
		t.Fatalf("batches: %.80q", tab.writes)
	}
	if s.InTransaction || s.hasShards() {
		t.Fatal("the load's transaction is still open")
	}
}

func TestLoadDataShardedSkipsAndWarns(t *testing.T) {
	lo, hi := &loadTablet{}, &loadTablet{}
	// The high shard already has one of its rows: INSERT IGNORE skips it.
	hi.skip = func(string) uint64 { return 1 }
	e := withKeyRanges(testExecutor(t, map[string]unaryClient{"ks/-80": lo, "ks/80-": hi}))
	s, _ := loadSession("ks", strings.NewReader(numberedRows(1, 10)+"11\n12\t\\N\textra\n"))
	res, err := e.Execute(context.Background(), s, "load data local infile 'f' into table acct", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Row 11 has no v (1261), row 12 a field too many (1262).
	if res.RowsAffected != 11 || res.Info != "Records: 12  Deleted: 0  Skipped: 1  Warnings: 2" || s.WarningCount() != 2 {
		t.Fatalf("result: %d rows, %q, %d warnings", res.RowsAffected, res.Info, s.WarningCount())
	}
	w, _ := s.showWarnings(false, nil)
	if len(w.Rows) != 2 || w.Rows[0][1].ToString() != "1261" || w.Rows[0][2].ToString() != "Row 11 doesn't contain data for all columns" ||
		w.Rows[1][1].ToString() != "1262" {
		t.Fatalf("warnings %v", w.Rows)
	}
	for _, tab := range []*loadTablet{lo, hi} {
		if got := tab.called(); got != "begin,commit" {
			t.Fatalf("tablet calls %s", got)
		}
	}
}

func TestLoadDataFailureLoadsNothing(t *testing.T) {
	lo, hi := &loadTablet{}, &loadTablet{}
	boom := sqlerr.New(sqlerror.ERDataTooLong, "22001", "Data too long for column 'v' at row 3")
	fail := func(sql string) error {
		if strings.Contains(sql, "'v1500'") {
			return boom
		}
		return nil
	}
	lo.fail, hi.fail = fail, fail
	e := withKeyRanges(testExecutor(t, map[string]unaryClient{"ks/-80": lo, "ks/80-": hi}))
	s, f := loadSession("ks", strings.NewReader(numberedRows(1, 3000)))
	_, err := e.Execute(context.Background(), s, "load data local infile 'f' replace into table acct", nil)
	se := sqlerr.From(err)
	if se.Num != sqlerror.ERDataTooLong || !strings.Contains(se.Message, "in the batch of rows 1001 to 2000") {
		t.Fatalf("error %v, want 1406 naming the batch", err)
	}
	if !f.eof || !f.closed {
		t.Fatalf("after the error the file was read to the end %v, closed %v", f.eof, f.closed)
	}
	for _, tab := range []*loadTablet{lo, hi} {
		if got := tab.called(); strings.Contains(got, "commit") || !strings.HasSuffix(got, "rollback") {
			t.Fatalf("tablet calls %s, want a rollback and no commit", got)
		}
	}
	if s.InTransaction || s.hasShards() {
		t.Fatal("the failed load left its transaction open")
	}
}

func TestLoadDataInTransactionUndoesItself(t *testing.T) {
	tab := &loadTablet{}
	tab.fail = func(sql string) error {
		if strings.Contains(sql, "'bad'") {
			return sqlerr.New(sqlerror.ERDupEntry, "23000", "Duplicate entry")
		}
		return nil
	}
	e := testExecutor(t, map[string]unaryClient{"main/0": tab})
	ctx := context.Background()
	s, _ := loadSession("main", strings.NewReader("1\ta\n2\tbad\n"))
	for _, sql := range []string{"begin", "insert into t (id, v) values (0, 'z')"} {
		if _, err := e.Execute(ctx, s, sql, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Execute(ctx, s, "load data local infile 'f' into table t", nil); err == nil {
		t.Fatal("the load did not fail")
	}
	if !s.InTransaction || len(s.savepoints) != 0 {
		t.Fatalf("after the failed load: in transaction %v, savepoints %v", s.InTransaction, s.savepoints)
	}
	want := []string{
		"insert into t(id, v) values (0, 'z')",
		"savepoint _shardgate_load_data_",
		"insert ignore into t(id, v) values ('1', 'a'), ('2', 'bad')",
		"rollback to savepoint _shardgate_load_data_",
		"release savepoint _shardgate_load_data_",
	}
	if strings.Join(tab.writes, "\n") != strings.Join(want, "\n") {
		t.Fatalf("statements:\n%s\nwant\n%s", strings.Join(tab.writes, "\n"), strings.Join(want, "\n"))
	}
	if got := tab.called(); strings.Contains(got, "commit") || strings.Contains(got, "rollback") {
		t.Fatalf("the transaction ended: %s", got)
	}

	// A load that succeeds releases its savepoint and leaves the
	// transaction to its COMMIT.
	tab.writes = nil
	s.LocalFiles = func(string) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("3\tc\n")), nil }
	res, err := e.Execute(ctx, s, "load data local infile 'f' into table t", nil)
	if err != nil || res.RowsAffected != 1 || !s.InTransaction {
		t.Fatalf("load: %v, %v (in transaction %v)", res, err, s.InTransaction)
	}
	want = []string{
		"savepoint _shardgate_load_data_",
		"insert ignore into t(id, v) values ('3', 'c')",
		"release savepoint _shardgate_load_data_",
	}
	if strings.Join(tab.writes, "\n") != strings.Join(want, "\n") {
		t.Fatalf("statements:\n%s\nwant\n%s", strings.Join(tab.writes, "\n"), strings.Join(want, "\n"))
	}
	if _, err := e.Execute(ctx, s, "commit", nil); err != nil || !strings.HasSuffix(tab.called(), "commit") {
		t.Fatalf("commit: %v, %s", err, tab.called())
	}
}

// With autocommit off, a load begins the transaction and leaves it open.
func TestLoadDataAutocommitOff(t *testing.T) {
	tab := &loadTablet{}
	e := testExecutor(t, map[string]unaryClient{"main/0": tab})
	s, _ := loadSession("main", strings.NewReader("1\ta\n"))
	s.Autocommit = false
	if _, err := e.Execute(context.Background(), s, "load data local infile 'f' into table t", nil); err != nil {
		t.Fatal(err)
	}
	if !s.InTransaction || !s.hasShards() || tab.called() != "begin,execute,execute" { // savepoint, insert, release
		t.Fatalf("in transaction %v, calls %s", s.InTransaction, tab.called())
	}
}

// A client whose file breaks off midway (its connection dropped) loads
// nothing.
func TestLoadDataBrokenFile(t *testing.T) {
	tab := &loadTablet{}
	e := testExecutor(t, map[string]unaryClient{"main/0": tab})
	in := io.MultiReader(strings.NewReader(numberedRows(1, 1500)), iotest.ErrReader(errors.New("connection reset by peer")))
	s, _ := loadSession("main", in)
	_, err := e.Execute(context.Background(), s, "load data local infile 'f' into table t", nil)
	if se := sqlerr.From(err); se.Num != 1158 || !strings.Contains(se.Message, "connection reset by peer") {
		t.Fatalf("error %v, want 1158", err)
	}
	if got := tab.called(); got != "begin,rollback" {
		t.Fatalf("tablet calls %s", got)
	}
}

func TestLoadDataRefusals(t *testing.T) {
	e := testExecutor(t, map[string]unaryClient{"main/0": &loadTablet{}, "ks/-80": &loadTablet{}})
	cases := []struct {
		name     string
		sql      string
		session  func(*Session)
		code     sqlerror.ErrorCode
		msg      string
		askFiles bool
	}{
		{name: "no local files", sql: "load data local infile 'f' into table t", session: func(s *Session) { s.LocalFiles = nil },
			code: sqlerror.ERNotAllowedCommand, msg: "The used command is not allowed with this MariaDB version"},
		{name: "not local", sql: "load data infile '/etc/passwd' into table t", code: sqlerror.ERNotSupportedYet, msg: "without LOCAL"},
		{name: "no such table", sql: "load data local infile 'f' into table nope", code: sqlerror.ERNoSuchTable, msg: "Table 'main.nope' doesn't exist"},
		{name: "no such column", sql: "load data local infile 'f' into table t (id, w)", code: sqlerror.ERBadFieldError, msg: "Unknown column 'w'"},
		{name: "no keyspace", sql: "load data local infile 'f' into table t", session: func(s *Session) { s.Keyspace = "" }, code: sqlerror.ERNoDb, msg: "No database selected"},
		{name: "unknown keyspace", sql: "load data local infile 'f' into table x.t", code: sqlerror.ERBadDb, msg: "Unknown database 'x'"},
		{name: "read-only transaction", sql: "load data local infile 'f' into table t", session: func(s *Session) { s.startTransaction(nil); s.TxReadOnly = true },
			code: 1792, msg: "READ ONLY"},
		{name: "replica", sql: "load data local infile 'f' into table t", session: func(s *Session) { s.TabletType = topopb.TabletType_REPLICA },
			code: sqlerror.ERNotSupportedYet, msg: "on replica tablets"},
		{name: "vindex column computed", sql: "load data local infile 'f' into table ks.acct (@i, v) set id = @i + 1", code: sqlerror.ERNotSupportedYet, msg: "computed value"},
		{name: "syntax", sql: "load data local infile 'f' into table t fields", code: sqlerror.ERParseError, msg: "syntax"},
	}
	for _, c := range cases {
		s, f := loadSession("main", strings.NewReader("1\ta\n"))
		asked := false
		open := s.LocalFiles
		s.LocalFiles = func(name string) (io.ReadCloser, error) { asked = true; return open(name) }
		if c.session != nil {
			c.session(s)
		}
		_, err := e.Execute(context.Background(), s, c.sql, nil)
		se := sqlerr.From(err)
		if err == nil || se.Num != c.code || !strings.Contains(se.Message, c.msg) {
			t.Errorf("%s: %v, want %d containing %q", c.name, err, c.code, c.msg)
		}
		if asked || f.closed {
			t.Errorf("%s: the client was asked for its file", c.name)
		}
	}
}

// A session that targets one shard (USE ks:-80) loads into that shard
// only, the statements unchanged, still in one transaction.
func TestLoadDataTargetedShard(t *testing.T) {
	lo, hi := &loadTablet{}, &loadTablet{}
	e := withKeyRanges(testExecutor(t, map[string]unaryClient{"ks/-80": lo, "ks/80-": hi}))
	s, _ := loadSession("ks", strings.NewReader(numberedRows(1, 1200)))
	s.Shard = "-80"
	res, err := e.Execute(context.Background(), s, "load data local infile 'f' into table acct", nil)
	if err != nil || res.RowsAffected != 1200 {
		t.Fatalf("load: %v, %v", res, err)
	}
	if got := lo.called(); got != "begin,execute,commit" || hi.called() != "" {
		t.Fatalf("tablet calls: -80 %s, 80- %s", got, hi.called())
	}
}
