package sqlrouter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
)

// TestDescribeShowsInputs checks, for every plan of testdata/plans.txt,
// that each primitive's Describe shows each of its Inputs beneath it.
func TestDescribeShowsInputs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "plans.txt"))
	if err != nil {
		t.Fatal(err)
	}
	vs := testVSchema(t)
	var check func(sql string, p Primitive)
	check = func(sql string, p Primitive) {
		desc := p.Describe()
		for _, in := range p.Inputs() {
			first, _, _ := strings.Cut(in.Describe(), "\n")
			if !strings.Contains(desc, "\n") || !strings.Contains(desc, first) {
				t.Errorf("%s: %T's description does not show its input %T (%s)", sql, p, in, first)
			}
			check(sql, in)
		}
	}
	for _, block := range strings.Split(strings.TrimSpace(string(data)), "\n\n") {
		lines := strings.Split(block, "\n")
		for len(lines) > 0 && strings.HasPrefix(lines[0], "#") {
			lines = lines[1:]
		}
		keyspace := "user"
		if ks, ok := strings.CutPrefix(lines[0], "keyspace:"); ok {
			keyspace, lines = strings.TrimSpace(ks), lines[1:]
		}
		stmt, err := sqlparser.NewTestParser().Parse(lines[0])
		if err != nil {
			continue
		}
		plan, err := NewPlan(stmt, PlanContext{VSchema: vs, Keyspace: keyspace, SQL: lines[0], ServerVersion: "5.5.5-v", VersionComment: "c", Schema: testSchema})
		if err != nil {
			continue
		}
		check(lines[0], plan.Primitive)
	}
}

// TestDryRunSendsEveryRead: in a dry run the primitives combine nothing
// but still send every read, the right side of a join with an IN list of
// NULL, and the count of SQL_CALC_FOUND_ROWS.
func TestDryRunSendsEveryRead(t *testing.T) {
	for sql, want := range map[string][]string{
		"select c.email, o.id from customer c join corder o on c.customer_id = o.amount order by o.id": {
			"-40: select c.email, o.id from customer as c join corder as o on c.customer_id = o.amount where 1 != 1",
			"-40: select c.customer_id, c.email from customer as c",
			"c0-: select c.customer_id, c.email from customer as c",
			"-40: select o.id, o.amount from corder as o where o.amount in (null)",
		},
		"select sql_calc_found_rows email, count(*) from customer group by email limit 2": {
			"c0-: select sql_calc_found_rows email, count(*) as `count(*)` from customer group by email",
			"-40: select count(*) from (select email, count(*) from customer where 1 != 1 group by email) as __sg_found where 1 != 1",
			"c0-: select email, count(*) from customer group by email",
		},
	} {
		plan := testPlan(t, sql)
		fc := newFakeCursor(t)
		dry := NewDryRun(fc.Shards)
		res, err := plan.Execute(context.Background(), dry, map[string]*querypb.BindVariable{})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if len(res.Rows) != 0 || len(res.Fields) != 0 {
			t.Errorf("%s: a dry run answered %v", sql, res)
		}
		var sent []string
		for _, q := range dry.Sent() {
			sent = append(sent, q.Shard+": "+q.SQL)
		}
		all := strings.Join(sent, "\n")
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: dry run did not send %q; sent:\n%s", sql, w, all)
			}
		}
	}
}

// TestFoundRowsWithoutSetter: a cursor that keeps no session runs the
// statement only for its rows.
func TestFoundRowsWithoutSetter(t *testing.T) {
	plan := testPlan(t, "select sql_calc_found_rows email from customer where customer_id = 1 limit 1")
	fc := newFakeCursor(t)
	fc.answer = func(string, ShardQuery) (*sqltypes.Result, error) { return intRows(5), nil }
	res, err := plan.Execute(context.Background(), fc, nil)
	if err != nil || rowsText(res) != "5" {
		t.Fatalf("%v, %v", res, err)
	}
	if !plan.CalcFoundRows || !strings.HasPrefix(plan.Primitive.Describe(), "FoundRows") {
		t.Errorf("plan %s", plan.Primitive.Describe())
	}
}

func TestNumericPrefix(t *testing.T) {
	for in, want := range map[string]float64{
		"1.5": 1.5, "  12abc": 12, "abc": 0, "": 0, ".": 0, "-.5": -0.5, "+3": 3,
		"1e3": 1000, "1e": 1, "2E-1x": 0.2, "1.5.6": 1.5, "- 1": 0,
	} {
		if got := numericPrefix(in); got != want {
			t.Errorf("numericPrefix(%q) = %v, want %v", in, got, want)
		}
	}
}
