package sqlrouter

import (
	"context"
	"slices"
	"strings"
	"testing"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// TestExplainExecute checks what EXPLAIN sends (each shard's EXPLAIN of
// its own statement) and returns (the shards' rows, concatenated, nothing
// added).
func TestExplainExecute(t *testing.T) {
	for _, c := range []struct {
		sql  string
		bv   map[string]*querypb.BindVariable
		sent []string
	}{
		{
			sql:  "explain select * from customer where customer_id = 5",
			sent: []string{"40-80: explain select * from customer where customer_id = 5"},
		},
		{
			sql: "explain select * from customer where email = 'x'",
			sent: []string{"-40: explain select * from customer where email = 'x'", "40-80: explain select * from customer where email = 'x'",
				"80-c0: explain select * from customer where email = 'x'", "c0-: explain select * from customer where email = 'x'"},
		},
		{
			// Each shard's IN list holds only its values.
			sql:  "explain format=json select email from customer where customer_id in (5, 1)",
			sent: []string{"-40: explain format=json select email from customer where customer_id in (1)", "40-80: explain format=json select email from customer where customer_id in (5)"},
		},
		{
			// The shards' part of a merge, with its pushed-down LIMIT.
			sql: "explain select email from customer order by email limit ?, ?",
			bv:  map[string]*querypb.BindVariable{"v1": sqltypes.StringBindVariable("2"), "v2": sqltypes.Float64BindVariable(3)},
			sent: []string{"-40: explain select email from customer order by email asc limit 5", "40-80: explain select email from customer order by email asc limit 5",
				"80-c0: explain select email from customer order by email asc limit 5", "c0-: explain select email from customer order by email asc limit 5"},
		},
		{
			// A merge that one shard answers sends the statement as written.
			sql:  "explain select count(*) from customer where customer_id = 5",
			sent: []string{"40-80: explain select count(*) from customer where customer_id = 5"},
		},
	} {
		plan := testPlan(t, c.sql)
		vc := newFakeCursor(t)
		vc.answer = func(_ string, q ShardQuery) (*sqltypes.Result, error) {
			return &sqltypes.Result{
				Fields: []*querypb.Field{{Name: "id", Type: sqltypes.Int64}, {Name: "table", Type: sqltypes.VarChar}},
				Rows:   []sqltypes.Row{{sqltypes.NewInt64(1), sqltypes.NewVarChar(q.Shard)}},
			}, nil
		}
		res, err := plan.Execute(context.Background(), vc, c.bv)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		sent := vc.sentSQL()
		slices.Sort(sent)
		if !slices.Equal(sent, c.sent) {
			t.Errorf("%s: sent\n %q\nwant\n %q", c.sql, sent, c.sent)
		}
		var shards []string
		for _, s := range c.sent {
			shard, _, _ := strings.Cut(s, ":")
			shards = append(shards, "1,"+shard)
		}
		got := strings.Fields(rowsText(res))
		slices.Sort(got)
		if want := strings.Join(shards, " "); strings.Join(got, " ") != want || len(res.Fields) != 2 {
			t.Errorf("%s: rows %q, want %q (and the shards' two columns)", c.sql, got, want)
		}
	}
}
