package sqlrouter

import (
	"context"
	"testing"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/vindex"
)

// fourShards answers every query with an empty result, so the benchmark
// measures the gate's own work.
type fourShards struct{ shards []Shard }

func (f *fourShards) Shards(string) ([]Shard, error) { return f.shards, nil }
func (f *fourShards) ExecuteShards(_ context.Context, _ string, qs []ShardQuery, _ bool) ([]*sqltypes.Result, error) {
	out := make([]*sqltypes.Result, len(qs))
	for i := range qs {
		out[i] = &sqltypes.Result{}
	}
	return out, nil
}

func (f *fourShards) NextSequenceValues(context.Context, string, string, int64) (int64, error) {
	return 1, nil
}

func (f *fourShards) ExecuteStatement(context.Context, string, string, map[string]*querypb.BindVariable, bool) (*sqltypes.Result, error) {
	return &sqltypes.Result{}, nil
}

func (f *fourShards) Atomically(_ context.Context, fn func() error) error { return fn() }

func (f *fourShards) InTransaction() bool { return false }

func (f *fourShards) StreamExecuteShards(context.Context, string, []ShardQuery, func(*sqltypes.Result) error) error {
	return nil
}

func newFourShards(b *testing.B) *fourShards {
	names, _ := vindex.EvenShards(4)
	f := &fourShards{}
	for _, n := range names {
		kr, err := vindex.ParseKeyRange(n)
		if err != nil {
			b.Fatal(err)
		}
		f.shards = append(f.shards, Shard{Name: n, KeyRange: kr})
	}
	return f
}

// BenchmarkParseAndPlanPointSelect is a COM_QUERY point select: parse, plan.
func BenchmarkParseAndPlanPointSelect(b *testing.B) {
	vs := testVSchema(&testing.T{})
	parser := sqlparser.NewTestParser()
	sql := "select email from customer where customer_id = 12345"
	b.ReportAllocs()
	for b.Loop() {
		stmt, err := parser.Parse(sql)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := NewPlan(stmt, PlanContext{VSchema: vs, Keyspace: "user", SQL: sql}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExecutePreparedPointSelect is a prepared point select's work at
// the gate per execution: evaluate the placeholder, hash, pick the shard,
// substitute the value into the SQL.
func BenchmarkExecutePreparedPointSelect(b *testing.B) {
	vs := testVSchema(&testing.T{})
	sql := "select email from customer where customer_id = ?"
	stmt, err := sqlparser.NewTestParser().Parse(sql)
	if err != nil {
		b.Fatal(err)
	}
	plan, err := NewPlan(stmt, PlanContext{VSchema: vs, Keyspace: "user", SQL: sql})
	if err != nil {
		b.Fatal(err)
	}
	vc := newFourShards(b)
	bv := map[string]*querypb.BindVariable{"v1": sqltypes.Int64BindVariable(12345)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := plan.Execute(context.Background(), vc, bv); err != nil {
			b.Fatal(err)
		}
	}
}
