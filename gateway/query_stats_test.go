package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/querystats"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// rowsTablet answers every read with n rows of one column.
func rowsTablet(n int) *scriptedTablet {
	return &scriptedTablet{execute: func(_ context.Context, sql string) (*querypb.QueryResult, error) {
		if strings.Contains(sql, "missing") {
			return nil, sqlerr.New(1146, "42S02", "Table 'ks.missing' doesn't exist")
		}
		res := &querypb.QueryResult{Fields: []*querypb.Field{{Name: "id", Type: querypb.Type_INT64}}}
		for i := 0; i < n; i++ {
			res.Rows = append(res.Rows, &querypb.Row{Lengths: []int64{1}, Values: []byte("1")})
		}
		return res, nil
	}}
}

func statsByQuery(t *testing.T, e *Executor) map[string]querystats.Statement {
	t.Helper()
	out := map[string]querystats.Statement{}
	for _, s := range e.stats.store.Snapshot() {
		out[s.Keyspace+" "+s.Query] = s
	}
	return out
}

func TestQueryStatsCountStatements(t *testing.T) {
	e := testExecutor(t, map[string]unaryClient{"ks/-80": rowsTablet(3), "ks/80-": rowsTablet(3), "main/0": rowsTablet(1)})
	s := NewSession(1, "app")
	s.Keyspace = "ks"
	ctx := context.Background()
	for _, sql := range []string{
		"select id from acct where id = 1", "select id from acct where id = 2", // one statement, two values
		"select id from acct where id > 5 limit 1", // both shards, 6 rows read, 1 returned
		"begin", "select id from acct where id = 3", "commit",
		"set @x = 'secret'",
	} {
		if _, err := e.Execute(ctx, s, sql, nil); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if _, err := e.Execute(ctx, s, "select id from missing", nil); err == nil {
		t.Fatal("a read of a table not in the sharded vschema succeeded")
	}
	if _, err := e.Execute(ctx, s, "selec nonsense", nil); err == nil {
		t.Fatal("a syntax error succeeded")
	}
	got := statsByQuery(t, e)

	point := got["ks select id from acct where id = :vtg1"]
	// The fake's BeginExecute answers no rows and 1 affected: 3+3+1.
	if point.Calls != 3 || point.ShardCalls != 3 || point.RowsRead != 7 || point.RowsReturned != 7 || point.Plan != "select_equalunique" {
		t.Errorf("point select: %+v", point)
	}
	if len(point.Tables) != 1 || point.Tables[0] != "acct" {
		t.Errorf("point select tables %v, want [acct]", point.Tables)
	}
	scatter := got["ks select id from acct where id > :vtg1 limit 1"]
	if scatter.Calls != 1 || scatter.ShardCalls != 2 || scatter.RowsRead != 6 || scatter.RowsReturned != 1 || scatter.RowsReadPerReturned() != 6 {
		t.Errorf("scatter with limit: %+v", scatter)
	}
	if got["ks begin"].Calls != 1 || got["ks commit"].Calls != 1 {
		t.Errorf("begin and commit not counted: %v", keys(got))
	}
	set, ok := got["ks set @x = :vtg1"]
	if !ok || strings.Contains(set.Query, "secret") {
		t.Errorf("SET not counted with its value replaced: %v", keys(got))
	}
	missing := got["ks select id from missing"]
	if missing.Calls != 1 || missing.Errors != 1 || missing.ErrorCodes[1146] != 1 {
		t.Errorf("failed statement: %+v", missing)
	}
	if bad := got["ks "+unparsedText]; bad.Errors != 1 || bad.ErrorCodes[1064] != 1 {
		t.Errorf("syntax error not counted: %+v (have %v)", bad, keys(got))
	}
	for _, st := range got {
		if strings.Contains(st.Query, "nonsense") {
			t.Errorf("the text of a statement that did not parse was kept: %q", st.Query)
		}
	}
}

func keys(m map[string]querystats.Statement) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestShowQueryStats(t *testing.T) {
	e := testExecutor(t, map[string]unaryClient{"ks/-80": rowsTablet(1), "ks/80-": rowsTablet(1)})
	s := NewSession(1, "app")
	s.Keyspace = "ks"
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := e.Execute(ctx, s, "select id from acct where id = 7", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Execute(ctx, s, "select id from acct", nil); err != nil {
		t.Fatal(err)
	}
	res, err := e.Execute(ctx, s, "SHOW QUERY STATS WHERE keyspace = 'ks' AND calls >= 1 ORDER BY calls DESC LIMIT 2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 {
		t.Fatalf("%d rows, want 2 (LIMIT 2)", len(res.Rows))
	}
	col := func(name string) int {
		for i, f := range res.Fields {
			if f.Name == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	if q := res.Rows[0][col("query")].ToString(); q != "select id from acct where id = :vtg1" || res.Rows[0][col("calls")].ToString() != "5" {
		t.Errorf("first row: %v", res.Rows[0])
	}
	if shards := res.Rows[1][col("shards_per_call")].ToString(); shards != "2.000" {
		t.Errorf("scatter's shards per call %s, want 2.000 (row %v)", shards, res.Rows[1])
	}
	res, err = e.Execute(ctx, s, "show query stats like 'select id from acct where%'", nil)
	if err != nil || len(res.Rows) != 1 {
		t.Fatalf("LIKE: %v rows, %v", res, err)
	}
	for _, bad := range []string{"show query stats order by nothing", "show query stats where nothing = 1", "show query stats limit"} {
		if _, err := e.Execute(ctx, s, bad, nil); err == nil {
			t.Errorf("%s: no error", bad)
		} else if n := sqlerr.From(err).Num; n != 1054 && n != 1064 {
			t.Errorf("%s: error %d %v, want 1054 or 1064", bad, n, err)
		}
	}
}

func TestStatementTextReplacesValues(t *testing.T) {
	parser := sqlparser.NewTestParser()
	for sql, want := range map[string]string{
		"select * from t where a = 'x' and b in (1, 2)": "select * from t where a = :vtg1 and b in ::vtg4",
		"set @x = 'secret', autocommit = 1":             "set @x = :vtg1, autocommit = :vtg2",
		"begin":                                         "begin",
	} {
		stmt, err := parser.Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		before := sqlparser.String(stmt)
		if got := statementText(stmt); got != want {
			t.Errorf("statementText(%q) = %q, want %q", sql, got, want)
		}
		if sqlparser.String(stmt) != before {
			t.Errorf("statementText changed the statement %q", sql)
		}
	}
	stmt, _ := parser.Parse("select t.a, u.b from ks.t join other.u on t.id = u.id")
	if got := strings.Join(tablesOf(stmt, "ks"), ","); got != "t,other.u" {
		t.Errorf("tables %q, want t,other.u", got)
	}
}

func TestSlowLogRedactsAndBounds(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	l := newSlowLog(SlowLogConfig{Threshold: time.Millisecond, MaxPerSecond: 2}, zap.New(core), sqlparser.NewTestParser(), nil)
	s := NewSession(9, "app")
	s.ClientAddr = "127.0.0.1:5000"
	s.currentSQL = "select 'card 4111' from t where id = 5"
	r := &statementRecord{keyspace: "ks", query: "select 'card 4111' from t where id = :vtg1", digest: "d1"}
	for i := 0; i < 5; i++ {
		l.consider(s, r, querystats.Execution{Duration: time.Second, RowsReturned: 1, ShardCalls: 1})
	}
	l.consider(s, r, querystats.Execution{Duration: time.Microsecond}) // fast: never logged
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d lines, want 2 (at most 2 per second)", len(entries))
	}
	fields := entries[0].ContextMap()
	if q := fields["query"].(string); strings.Contains(q, "4111") || q != "select :redacted1 from t where id = :vtg1" {
		t.Errorf("query logged as %q, want its values replaced", q)
	}
	if fields["digest"] != "d1" || fields["user"] != "app" || fields["client"] != "127.0.0.1:5000" || fields["keyspace"] != "ks" {
		t.Errorf("fields %v", fields)
	}
	// A second later the next line says how many were left out.
	l.windowStart = l.windowStart.Add(-time.Second)
	l.consider(s, r, querystats.Execution{Duration: time.Second})
	if left := logs.All()[2].ContextMap()["not_logged_before"]; left != int64(3) {
		t.Errorf("not_logged_before = %v, want 3", left)
	}
}

// FuzzShowQueryStats feeds SHOW QUERY STATS any tail: an error or rows,
// never a panic.
func FuzzShowQueryStats(f *testing.F) {
	for _, seed := range []string{"", "order by calls desc limit 3", "where errors > 0 and query like 's%'", "like 'x'", "limit 1, 2",
		"where nosuch = 1", "order by 99", "where sleep(1)", "limit -1", ";"} {
		f.Add(seed)
	}
	e := testExecutor(f, map[string]unaryClient{"ks/-80": rowsTablet(1), "ks/80-": rowsTablet(1)})
	s := NewSession(1, "app")
	s.Keyspace = "ks"
	if _, err := e.Execute(context.Background(), s, "select id from acct where id = 1", nil); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tail string) {
		res, err := e.Execute(context.Background(), s, "show query stats "+tail, nil)
		if err == nil && res == nil {
			t.Fatal("no result and no error")
		}
	})
}
