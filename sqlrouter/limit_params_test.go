package sqlrouter

import (
	"context"
	"math"
	"strings"
	"testing"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// TestLimitRowCount holds the conversion to what MariaDB 10.11 returned for
// a prepared "SELECT ... LIMIT ?" with each value bound (go-sql-driver,
// binary protocol): a count of n rows of five means n, five means all.
func TestLimitRowCount(t *testing.T) {
	all := uint64(math.MaxUint64)
	for _, c := range []struct {
		bv   *querypb.BindVariable
		want uint64
	}{
		{sqltypes.Int64BindVariable(2), 2},
		{sqltypes.Int64BindVariable(-1), all}, // every row
		{sqltypes.Uint64BindVariable(math.MaxUint64), all},
		{sqltypes.NullBindVariable, 0},
		{sqltypes.Float64BindVariable(2), 2},
		{sqltypes.Float64BindVariable(2.4), 2},
		{sqltypes.Float64BindVariable(2.5), 2}, // half to even
		{sqltypes.Float64BindVariable(3.5), 4},
		{sqltypes.Float64BindVariable(2.6), 3},
		{sqltypes.Float64BindVariable(0.5), 0},
		{sqltypes.Float64BindVariable(-0.4), 0},
		{sqltypes.Float64BindVariable(-1.5), uint64(1<<64 - 2)},
		{sqltypes.Float64BindVariable(1e30), math.MaxInt64},
		{sqltypes.Float64BindVariable(-1e30), 1 << 63},
		{sqltypes.Float64BindVariable(math.NaN()), 1 << 63},
		{sqltypes.StringBindVariable("10"), 10},
		{sqltypes.StringBindVariable("02"), 2},
		{sqltypes.StringBindVariable(" 2"), 2},
		{sqltypes.StringBindVariable("+2"), 2},
		{sqltypes.StringBindVariable("2.5"), 2}, // the leading integer
		{sqltypes.StringBindVariable("3.7"), 3},
		{sqltypes.StringBindVariable("1e1"), 1},
		{sqltypes.StringBindVariable(" 3abc"), 3},
		{sqltypes.StringBindVariable("abc"), 0},
		{sqltypes.StringBindVariable(""), 0},
		{sqltypes.StringBindVariable("-0"), 0},
		{sqltypes.StringBindVariable("-1"), all},
		{sqltypes.StringBindVariable("9223372036854775808"), 1 << 63},
		{sqltypes.StringBindVariable("18446744073709551615"), all},
		{sqltypes.StringBindVariable("18446744073709551616"), all},
		{sqltypes.StringBindVariable("-9223372036854775808"), 1 << 63},
		{sqltypes.StringBindVariable("-9223372036854775809"), 1 << 63},
		{sqltypes.BytesBindVariable([]byte("7")), 7},
		{sqltypes.ValueBindVariable(sqltypes.NewDecimal("2.5")), 3}, // half away from zero
		{sqltypes.ValueBindVariable(sqltypes.NewDecimal("-2.5")), uint64(1<<64 - 3)},
		{sqltypes.ValueBindVariable(sqltypes.NewDecimal("99999999999999999999.1")), math.MaxInt64},
	} {
		got, err := limitRowCount(c.bv)
		if err != nil || got != c.want {
			t.Errorf("%s %q: got %d, %v; want %d", c.bv.Type, c.bv.Value, got, err, c.want)
		}
	}
	_, err := limitRowCount(&querypb.BindVariable{Type: querypb.Type_DATETIME, Value: []byte("2024-01-01 00:00:00")})
	if se := sqlerr.From(err); se == nil || se.Num != 1235 || !strings.Contains(se.Message, "DATETIME") {
		t.Errorf("DATETIME: got %v, want 1235 naming it", err)
	}
}

// TestLimitParamsExecute checks that LIMIT and OFFSET placeholders bound
// as strings and doubles reach the shards as integers, and that the gate
// applies them alike.
func TestLimitParamsExecute(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		sql     string
		bv      map[string]*querypb.BindVariable
		sent    string // a statement one shard, or every shard, got
		rows    string
		allSent bool // every shard got it
	}{
		{
			// Scatter: each shard sends its first offset+count rows, the
			// gate keeps count rows after offset.
			sql:     "select customer_id from customer order by customer_id limit ? offset ?",
			bv:      map[string]*querypb.BindVariable{"v1": sqltypes.StringBindVariable("2"), "v2": sqltypes.Float64BindVariable(1)},
			sent:    "select customer_id from customer order by customer_id asc limit 3",
			rows:    "0 0",
			allSent: true,
		},
		{
			// One shard: the statement as written, with integers.
			sql:  "select * from customer where customer_id = 5 limit ?, ?",
			bv:   map[string]*querypb.BindVariable{"v1": sqltypes.StringBindVariable("1"), "v2": sqltypes.Float64BindVariable(2.5)},
			sent: "select * from customer where customer_id = 5 limit 1, 2",
			rows: "0 1 2 3",
		},
		{
			// A name used outside LIMIT keeps the client's value there.
			sql:  "select :n as x from customer where customer_id = 5 limit :n",
			bv:   map[string]*querypb.BindVariable{"n": sqltypes.StringBindVariable("2abc")},
			sent: "select '2abc' as x from customer where customer_id = 5 limit 2",
			rows: "0 1 2 3",
		},
		{
			sql:  "update customer set email = 'x' where customer_id = 3 limit ?",
			bv:   map[string]*querypb.BindVariable{"v1": sqltypes.Float64BindVariable(1)},
			sent: "update customer set email = 'x' where customer_id = 3 limit 1",
			rows: "0 1 2 3",
		},
		{
			// A derived table's LIMIT, read by its own plan.
			sql:     "select d.customer_id from (select customer_id from customer order by customer_id limit ?) as d",
			bv:      map[string]*querypb.BindVariable{"v1": sqltypes.StringBindVariable("-1")},
			sent:    "select customer_id from customer order by customer_id asc limit 18446744073709551615",
			rows:    "0 0 0 0 1 1 1 1 2 2 2 2 3 3 3 3",
			allSent: true,
		},
	} {
		plan := testPlan(t, c.sql)
		vc := newFakeCursor(t)
		vc.answer = func(string, ShardQuery) (*sqltypes.Result, error) { return intRows(0, 1, 2, 3), nil }
		res, err := plan.Execute(ctx, vc, c.bv)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		sent, n := vc.sentSQL(), 0
		for _, q := range sent {
			if strings.HasSuffix(q, ": "+c.sent) {
				n++
			}
		}
		if want := map[bool]int{true: 4, false: 1}[c.allSent]; n != want {
			t.Errorf("%s: sent %q, want %q (on every shard: %v)", c.sql, sent, c.sent, c.allSent)
		}
		if got := rowsText(res); got != c.rows {
			t.Errorf("%s: rows %q, want %q", c.sql, got, c.rows)
		}
	}
}
