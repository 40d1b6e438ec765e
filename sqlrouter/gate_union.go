package sqlrouter

import (
	"context"
	"fmt"
	"strings"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// GateUnion combines the answers of a UNION whose sides each run on their
// own plan: rows converted to the union's column types, duplicates
// removed as MySQL removes them (a UNION DISTINCT removes them from every
// side to its left), then the union's ORDER BY and LIMIT.
type GateUnion struct {
	sides []Primitive
	// distinctUpTo is the number of leading sides whose rows are
	// deduplicated together (0: UNION ALL throughout).
	distinctUpTo int
	order        []orderKey
	limit        sqlparser.Expr
	offset       sqlparser.Expr
	keyspace     string
	fields       *sqlparser.ParsedQuery
}

// planGateUnion plans each side of a UNION by itself.
func planGateUnion(st *planState, u *sqlparser.Union) error {
	var sides []sqlparser.TableStatement
	var distinct []bool // distinct[i]: the union joining side i+1 is DISTINCT
	var walk func(ts sqlparser.TableStatement)
	walk = func(ts sqlparser.TableStatement) {
		if n, ok := ts.(*sqlparser.Union); ok && len(n.OrderBy) == 0 && n.Limit == nil && n.With == nil {
			walk(n.Left)
			distinct = append(distinct, n.Distinct)
			sides = append(sides, n.Right)
			return
		}
		sides = append(sides, ts)
	}
	walk(u.Left)
	distinct = append(distinct, u.Distinct)
	sides = append(sides, u.Right)

	g := &GateUnion{keyspace: st.keyspace.Name}
	for i, d := range distinct {
		if d {
			g.distinctUpTo = i + 2
		}
	}
	ctx := st.ctx
	ctx.SQL = ""
	for _, side := range sides {
		plan, err := NewPlan(sqlparser.Clone(side).(sqlparser.Statement), ctx)
		if err != nil {
			return err
		}
		st.needs.add(plan.Needs)
		g.sides = append(g.sides, plan.Primitive)
	}
	for _, o := range u.OrderBy {
		ref, ok := unionColumn(o.Expr)
		if !ok {
			return sqlerr.Unsupported("ORDER BY %s of a UNION across shards (order by a column name or position)", sqlparser.String(o.Expr))
		}
		g.order = append(g.order, orderKey{col: ref, desc: o.Direction == sqlparser.DescOrder})
	}
	if u.Limit != nil {
		g.limit, g.offset = u.Limit.Rowcount, u.Limit.Offset
	}
	clone := sqlparser.Clone(u)
	clone.OrderBy, clone.Limit, clone.Lock, clone.Into, clone.With = nil, nil, sqlparser.NoLock, nil, nil
	if sel := leftmostSelect(clone); sel != nil {
		keepColumnNames(sel, st.ctx.SQL)
	}
	g.fields = impossibleQuery(clone)
	st.primitive = g
	return nil
}

// impossibleQuery is stmt with every WHERE impossible: run on one shard,
// it answers the result's columns, named and typed by MySQL, and no rows.
func impossibleQuery(stmt sqlparser.Statement) *sqlparser.ParsedQuery {
	impossible := &sqlparser.ComparisonExpr{Operator: sqlparser.NotEqualOp, Left: sqlparser.NewIntLiteral("1"), Right: sqlparser.NewIntLiteral("1")}
	out := sqlparser.SafeRewrite(stmt, nil, func(c *sqlparser.Cursor) bool {
		if s, ok := c.Node().(*sqlparser.Select); ok {
			s.Where = sqlparser.NewWhere(sqlparser.WhereClause, impossible)
			s.Having = nil
		}
		return true
	})
	return sqlparser.NewParsedQuery(out)
}

// Describe implements Primitive.
func (g *GateUnion) Describe() string {
	sides := make([]string, len(g.sides))
	for i, s := range g.sides {
		sides[i] = "[" + s.Describe() + "]"
	}
	extra := ""
	if g.distinctUpTo > 0 {
		extra += fmt.Sprintf(" distinct(first %d)", g.distinctUpTo)
	}
	if len(g.order) > 0 {
		extra += " " + describeSort(g.order)
	}
	if g.limit != nil {
		extra += " limit=" + sqlparser.String(g.limit)
	}
	return "GateUnion" + extra + " " + strings.Join(sides, " ")
}

// Execute implements Primitive.
func (g *GateUnion) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	shards, err := vc.Shards(g.keyspace)
	if err != nil {
		return nil, err
	}
	sql, err := g.fields.GenerateQuery(bv, nil)
	if err != nil {
		return nil, sqlerr.Internal("field query: %v", err)
	}
	fres, err := vc.ExecuteShards(ctx, g.keyspace, []ShardQuery{{Shard: shards[0].Name, SQL: sql}}, false)
	if err != nil {
		return nil, err
	}
	fields := fres[0].Fields
	var rows []sqltypes.Row
	for i, side := range g.sides {
		res, err := side.Execute(ctx, vc, bv)
		if err != nil {
			return nil, err
		}
		if len(res.Rows) > 0 && len(res.Rows[0]) != len(fields) {
			return nil, sqlerr.New(1222, "21000", "The used SELECT statements have a different number of columns")
		}
		for _, row := range res.Rows {
			out := make(sqltypes.Row, len(row))
			for c, v := range row {
				out[c] = conform(v, fields[c])
			}
			rows = append(rows, out)
		}
		if i+1 == g.distinctUpTo {
			if rows, err = dedupe(fields, rows, len(fields)); err != nil {
				return nil, err
			}
		}
	}
	if len(fields) == 0 && len(rows) == 0 {
		return &sqltypes.Result{}, nil // a dry run answers no columns
	}
	if len(g.order) > 0 {
		if err := sortRows(fields, rows, g.order, false); err != nil {
			return nil, err
		}
	}
	if g.limit != nil {
		if rows, err = applyLimit(rows, g.limit, g.offset, bv); err != nil {
			return nil, err
		}
	}
	return &sqltypes.Result{Fields: fields, Rows: rows}, nil
}
