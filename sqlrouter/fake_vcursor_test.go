package sqlrouter

import (
	"context"
	"strings"
	"sync"
	"testing"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/vindex"
)

// fakeCursor is a VCursor over four shards of every keyspace that records
// the statements sent and answers each with what answer returns (no rows
// when answer is nil).
type fakeCursor struct {
	t      *testing.T
	answer func(keyspace string, q ShardQuery) (*sqltypes.Result, error)

	mu   sync.Mutex
	sent []SentQuery
	seq  int64
}

func newFakeCursor(t *testing.T) *fakeCursor {
	return &fakeCursor{t: t, seq: 100}
}

func (f *fakeCursor) Shards(string) ([]Shard, error) {
	var out []Shard
	for _, name := range []string{"-40", "40-80", "80-c0", "c0-"} {
		kr, err := vindex.ParseKeyRange(name)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, Shard{Name: name, KeyRange: kr})
	}
	return out, nil
}

func (f *fakeCursor) ExecuteShards(_ context.Context, keyspace string, queries []ShardQuery, _ bool) ([]*sqltypes.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*sqltypes.Result, len(queries))
	for i, q := range queries {
		f.sent = append(f.sent, SentQuery{Keyspace: keyspace, ShardQuery: q})
		out[i] = &sqltypes.Result{}
		if f.answer != nil {
			res, err := f.answer(keyspace, q)
			if err != nil {
				return nil, err
			}
			out[i] = res
		}
	}
	return out, nil
}

func (f *fakeCursor) StreamExecuteShards(ctx context.Context, keyspace string, queries []ShardQuery, callback func(*sqltypes.Result) error) error {
	results, err := f.ExecuteShards(ctx, keyspace, queries, false)
	if err != nil {
		return err
	}
	for _, r := range results {
		if err := callback(r); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeCursor) NextSequenceValues(_ context.Context, _, _ string, count int64) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.seq
	f.seq += count
	return first, nil
}

// ExecuteStatement answers the router's own statements (lookup reads and
// writes) with no rows, recording them.
func (f *fakeCursor) ExecuteStatement(_ context.Context, keyspace, sql string, bv map[string]*querypb.BindVariable, _ bool) (*sqltypes.Result, error) {
	q, err := sqlparser.NewParsedQuery(mustParse(f.t, sql)).GenerateQuery(bv, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, SentQuery{Keyspace: keyspace, ShardQuery: ShardQuery{Shard: "lookup", SQL: q}})
	return &sqltypes.Result{}, nil
}

func (f *fakeCursor) Atomically(_ context.Context, fn func() error) error { return fn() }

func (f *fakeCursor) InTransaction() bool { return false }

// sentSQL lists the statements sent, as "shard: sql".
func (f *fakeCursor) sentSQL() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.sent))
	for i, q := range f.sent {
		out[i] = q.Shard + ": " + q.SQL
	}
	return out
}

func mustParse(t *testing.T, sql string) sqlparser.Statement {
	t.Helper()
	if head, ok := WithoutReturning(sql); ok {
		sql = head // as the gate parses RETURNING
	}
	stmt, err := sqlparser.NewTestParser().Parse(sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return stmt
}

// testPlan plans sql in keyspace user of testVSchema.
func testPlan(t *testing.T, sql string) *Plan {
	t.Helper()
	plan, err := NewPlan(mustParse(t, sql), PlanContext{VSchema: testVSchema(t), Keyspace: "user", SQL: sql, ServerVersion: "5.5.5-v", VersionComment: "c", Schema: testSchema})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return plan
}

// intRows answers with one BIGINT column "n" holding the values.
func intRows(values ...int64) *sqltypes.Result {
	res := &sqltypes.Result{Fields: []*querypb.Field{{Name: "n", Type: sqltypes.Int64}}}
	for _, v := range values {
		res.Rows = append(res.Rows, sqltypes.Row{sqltypes.NewInt64(v)})
	}
	return res
}

func rowsText(res *sqltypes.Result) string {
	var parts []string
	for _, r := range res.Rows {
		var vals []string
		for _, v := range r {
			vals = append(vals, v.ToString())
		}
		parts = append(parts, strings.Join(vals, ","))
	}
	return strings.Join(parts, " ")
}
