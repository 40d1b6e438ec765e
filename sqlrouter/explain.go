package sqlrouter

import (
	"context"
	"fmt"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// planExplain plans EXPLAIN <statement>: MariaDB's own EXPLAIN of what the
// shards run for it. The statement is planned as usual; when its plan is
// one statement sent to one or several shards (a Route, or the shards'
// part of a Merge), each of those shards gets EXPLAIN of its statement
// and the answer is their rows, concatenated (in the order the shards
// were asked), with MariaDB's columns and nothing added. A plan the gate evaluates itself
// (joins across shards, subqueries run first, rows split by vindex) is
// no one statement MariaDB could explain: it is refused, pointing to
// VEXPLAIN, which shows it.
func planExplain(stmt *sqlparser.ExplainStmt, ctx PlanContext) (*Plan, error) {
	// The statement's own text is not at hand (the client's is the whole
	// EXPLAIN): its routes regenerate it from the syntax tree.
	ctx.SQL = ""
	inner, err := NewPlan(stmt.Statement, ctx)
	if err != nil {
		return nil, err
	}
	switch p := inner.Primitive.(type) {
	case *Route, *Merge:
	default:
		return nil, sqlerr.Unsupported("EXPLAIN of %s: no one statement of a shard answers it, the gate evaluates it (VEXPLAIN PLAN shows its plan, VEXPLAIN QUERIES what each shard runs)", evaluatedAtGate(p))
	}
	prefix := "explain "
	switch stmt.Type {
	case sqlparser.EmptyType:
	case sqlparser.AnalyzeType:
		prefix += "analyze " // MariaDB has no EXPLAIN ANALYZE: the shard says so
	default:
		prefix += "format=" + stmt.Type.ToString() + " "
	}
	return &Plan{
		Type:        sqlparser.StmtExplain,
		Keyspace:    inner.Keyspace,
		Primitive:   &Explain{prefix: prefix, of: inner.Primitive},
		Needs:       inner.Needs,
		limitParams: inner.limitParams,
	}, nil
}

// evaluatedAtGate names, for a client, what a plan the gate evaluates does.
func evaluatedAtGate(p Primitive) string {
	switch p := p.(type) {
	case *GateSelect:
		return "a read the gate combines from several reads (joins of tables on different shards, derived tables)"
	case *Sort:
		return evaluatedAtGate(p.input)
	case *Limit:
		return evaluatedAtGate(p.input)
	case *Union:
		return "a UNION whose sides are read apart"
	case *Subqueries:
		return "a statement whose subqueries the gate runs first"
	case *Insert:
		return fmt.Sprintf("an INSERT into sharded table %s (its rows are split by shard)", p.Table)
	case *InsertSelect:
		return "an INSERT ... SELECT whose rows are read apart"
	case *OwnedDML:
		return fmt.Sprintf("a write of table %s, which owns lookup vindexes", p.table)
	}
	return "this statement"
}

// Explain runs EXPLAIN of the statements a Route or Merge sends.
type Explain struct {
	// prefix is "explain " and the format ("explain format=json ").
	prefix string
	of     Primitive
}

// Inputs implements Primitive.
func (x *Explain) Inputs() []Primitive { return []Primitive{x.of} }

// Describe implements Primitive.
func (x *Explain) Describe() string {
	return describeTree(fmt.Sprintf("Explain %q", x.prefix), input(x.of))
}

// Execute implements Primitive.
func (x *Explain) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	var route *Route
	var queries []ShardQuery
	var err error
	switch p := x.of.(type) {
	case *Route:
		route = p
		queries, err = p.shardQueries(ctx, vc, bv)
	case *Merge:
		route, queries, err = p.shardQueries(ctx, vc, bv)
	default:
		err = sqlerr.Internal("EXPLAIN of %T", x.of)
	}
	if err != nil {
		return nil, err
	}
	for i := range queries {
		queries[i].SQL = x.prefix + queries[i].SQL
	}
	// EXPLAIN changes nothing, even of a write.
	results, err := vc.ExecuteShards(ctx, route.Keyspace, queries, false)
	if err != nil {
		return nil, err
	}
	return combine(results), nil
}
