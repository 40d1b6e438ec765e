package sqlrouter

import (
	"context"
	"slices"
	"strings"
	"testing"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

func TestSplitReturning(t *testing.T) {
	for _, c := range []struct{ sql, head, list string }{
		{"insert into t (a) values (1) returning a", "insert into t (a) values (1)", "a"},
		{"INSERT INTO t VALUES (1) RETURNING *, a + 1 AS b;", "INSERT INTO t VALUES (1)", "*, a + 1 AS b"},
		{"replace into t values (1) returning a", "replace into t values (1)", "a"},
		{"delete from t where a = 1 returning a", "delete from t where a = 1", "a"},
		{"/* returning */ delete from t returning a", "/* returning */ delete from t", "a"},
		// The word in strings, comments, quoted names and parentheses is
		// not the clause.
		{"insert into t (`returning`) values ('returning') returning `returning`", "insert into t (`returning`) values ('returning')", "`returning`"},
		{"insert into t values (1) /* returning x */ returning a -- returning", "insert into t values (1) /* returning x */", "a -- returning"},
		{"insert into t select json_value(j, '$.a' returning signed) from u returning a", "insert into t select json_value(j, '$.a' returning signed) from u", "a"},
		{"insert into t values ('returning')", "", ""},
		{"select 1 returning", "", ""},
		{"update t set a = 1 returning a", "", ""},
		{"insert into t values (1) returning", "insert into t values (1)", ""}, // the planner says 1064
	} {
		head, list, ok := splitReturning(c.sql)
		if ok != (c.head != "") || head != c.head || list != c.list { // no head: no clause
			t.Errorf("%s: got %q, %q, %v; want %q, %q", c.sql, head, list, ok, c.head, c.list)
		}
	}
}

// valuesEcho answers an INSERT with one row per row of its VALUES list,
// holding the row's id or customer_id and the shard: a shard's RETURNING.
func valuesEcho(t *testing.T) func(string, ShardQuery) (*sqltypes.Result, error) {
	return func(_ string, q ShardQuery) (*sqltypes.Result, error) {
		res := &sqltypes.Result{Fields: []*querypb.Field{{Name: "id", Type: sqltypes.Int64}, {Name: "shard", Type: sqltypes.VarChar}}}
		ins, ok := mustParse(t, q.SQL).(*sqlparser.Insert)
		if !ok {
			return res, nil
		}
		if !strings.Contains(q.SQL, " returning ") {
			t.Errorf("%s: no RETURNING", q.SQL)
		}
		col := columnIndex(ins.Columns, "id")
		if col < 0 {
			col = columnIndex(ins.Columns, "customer_id")
		}
		for _, row := range ins.Rows.(sqlparser.Values) {
			res.Rows = append(res.Rows, sqltypes.Row{sqltypes.NewInt64(mustInt(t, row[col])), sqltypes.NewVarChar(q.Shard)})
		}
		return res, nil
	}
}

func mustInt(t *testing.T, e sqlparser.Expr) int64 {
	v, err := evalValue(e, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := v.ToInt64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReturningInValuesOrder checks that the rows an INSERT split across
// shards returns come back in the order of its VALUES list.
func TestReturningInValuesOrder(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		sql, rows string
		shards    int
	}{
		// 1 and 2 map to -40, 3 and 5 to 40-80, 4 to c0-.
		{"insert into customer (customer_id, email) values (3, 'c'), (1, 'a'), (4, 'd'), (2, 'b'), (5, 'e') returning customer_id", "3 1 4 2 5", 3},
		{"insert into customer (customer_id, email) values (2, 'b'), (1, 'a') returning customer_id", "2 1", 1},
		// The sequence's ids, in the rows' order.
		{"insert into account (name) values ('a'), ('b'), ('c'), ('d') returning id", "100 101 102 103", 0},
	} {
		vc := newFakeCursor(t)
		vc.answer = valuesEcho(t)
		res, err := testPlan(t, c.sql).Execute(ctx, vc, nil)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		var ids []string
		for _, r := range res.Rows {
			ids = append(ids, r[0].ToString())
		}
		if got := strings.Join(ids, " "); got != c.rows {
			t.Errorf("%s: returned %q, want %q", c.sql, got, c.rows)
		}
		if c.shards > 0 && len(vc.sentSQL()) != c.shards {
			t.Errorf("%s: sent %q, want %d statements", c.sql, vc.sentSQL(), c.shards)
		}
	}
}

func TestReturningRefusedAtExecution(t *testing.T) {
	vc := newFakeCursor(t)
	vc.answer = valuesEcho(t)
	// Which rows each shard ignored cannot be told: refused before any
	// shard writes.
	_, err := testPlan(t, "insert ignore into customer (customer_id, email) values (3, 'c'), (1, 'a') returning customer_id").Execute(context.Background(), vc, nil)
	if se := sqlerr.From(err); se == nil || se.Num != 1235 || len(vc.sentSQL()) != 0 {
		t.Errorf("INSERT IGNORE ... RETURNING on two shards: %v, sent %q; want 1235 and nothing sent", err, vc.sentSQL())
	}
	// On one shard the shard's rows are the answer.
	res, err := testPlan(t, "insert ignore into customer (customer_id, email) values (2, 'b'), (1, 'a') returning customer_id").Execute(context.Background(), vc, nil)
	if err != nil || rowsText(res) != "2,-40 1,-40" {
		t.Errorf("INSERT IGNORE ... RETURNING on one shard: %v, %v", res, err)
	}
}

func TestReturningReferenceAndEmptySelect(t *testing.T) {
	ctx := context.Background()
	// A reference table's rows, written on every shard, are returned once.
	vc := newFakeCursor(t)
	vc.answer = func(_ string, q ShardQuery) (*sqltypes.Result, error) {
		return &sqltypes.Result{Fields: []*querypb.Field{{Name: "sku", Type: sqltypes.VarChar}}, Rows: []sqltypes.Row{{sqltypes.NewVarChar("a")}}, RowsAffected: 1}, nil
	}
	res, err := testPlan(t, "insert into product (sku, price) values ('a', 1) returning sku").Execute(ctx, vc, nil)
	if err != nil || len(res.Rows) != 1 || len(vc.sentSQL()) != 4 {
		t.Errorf("reference INSERT ... RETURNING: %v, %v (sent %q); want one row from four shards", res, err, vc.sentSQL())
	}
	// An INSERT ... SELECT with nothing to insert still returns the columns.
	vc = newFakeCursor(t)
	vc.answer = func(_ string, q ShardQuery) (*sqltypes.Result, error) {
		return &sqltypes.Result{Fields: []*querypb.Field{{Name: "customer_id", Type: sqltypes.Int64}}}, nil
	}
	res, err = testPlan(t, "insert into customer (customer_id, email) select customer_id + 10, email from customer where customer_id = 1 returning customer_id, email as e").Execute(ctx, vc, nil)
	sent := vc.sentSQL()
	want := "-40: select customer_id, email as e from customer where 1 != 1"
	if err != nil || len(res.Fields) != 1 || len(res.Rows) != 0 || !slices.Contains(sent, want) {
		t.Errorf("INSERT ... SELECT ... RETURNING of no rows: %v, %v, sent %q; want the columns from %q", res, err, sent, want)
	}
}
