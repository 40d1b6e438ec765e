package gateway

import (
	"context"
	"strconv"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter"
)

// vexplain answers VEXPLAIN PLAN (the plan's steps) and VEXPLAIN QUERIES
// (the statement each shard would run), without running the statement:
// a dry-run cursor records what the plan would send and answers with no
// rows.
func (e *Executor) vexplain(ctx context.Context, s *Session, stmt *sqlparser.VExplainStmt, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	inner := sqlparser.String(stmt.Statement)
	plan, err := e.plan(s, stmt.Statement, inner)
	if err != nil {
		return nil, err
	}
	switch stmt.Type {
	case sqlparser.PlanVExplainType, sqlparser.AllVExplainType:
		return &sqltypes.Result{
			Fields: []*querypb.Field{{Name: "plan", Type: sqltypes.VarChar, Charset: 45}},
			Rows:   []sqltypes.Row{{sqltypes.NewVarChar(plan.Primitive.Describe())}},
		}, nil
	case sqlparser.QueriesVExplainType:
		dry := sqlrouter.NewDryRun(func(ks string) ([]sqlrouter.Shard, error) { return e.topo.shards(ks, s.TabletType) })
		if _, err := plan.Execute(ctx, dry, e.sessionBindVars(s, plan, bv)); err != nil {
			return nil, err
		}
		res := &sqltypes.Result{Fields: []*querypb.Field{
			{Name: "#", Type: sqltypes.Int64}, {Name: "keyspace", Type: sqltypes.VarChar, Charset: 45},
			{Name: "shard", Type: sqltypes.VarChar, Charset: 45}, {Name: "query", Type: sqltypes.VarChar, Charset: 45},
		}}
		for i, q := range dry.Sent() {
			res.Rows = append(res.Rows, sqltypes.Row{sqltypes.NewInt64(int64(i)), sqltypes.NewVarChar(q.Keyspace),
				sqltypes.NewVarChar(q.Shard), sqltypes.NewVarChar(q.SQL)})
		}
		return res, nil
	}
	return nil, sqlerr.Unsupported("VEXPLAIN %s (use VEXPLAIN PLAN or VEXPLAIN QUERIES)", strconv.Itoa(int(stmt.Type)))
}
