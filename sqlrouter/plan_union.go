package sqlrouter

import (
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// routeUnion runs a UNION of reads of a sharded keyspace on every shard as
// a whole: each shard's answer covers its own rows of every side, so the
// shards' answers concatenated are UNION ALL's, and with duplicates
// removed UNION's. The union's own ORDER BY and LIMIT are applied to the
// merged rows. A side that could not run shard by shard is refused.
func routeUnion(st *planState, route *Route, u *sqlparser.Union) error {
	if u.Into != nil {
		return sqlerr.Unsupported("INTO on a UNION in sharded keyspace %s", st.keyspace.Name)
	}
	sides, distinct, err := unionSides(u)
	if err != nil {
		return planGateUnion(st, u)
	}
	for _, side := range sides {
		if err := checkUnionSide(st, side); err != nil {
			// Not answerable shard by shard: each side runs on its own
			// and the gate combines their rows.
			return planGateUnion(st, u)
		}
	}
	route.Opcode = Scatter
	var order []orderKey
	for _, o := range u.OrderBy {
		ref, ok := unionColumn(o.Expr)
		if !ok {
			return sqlerr.Unsupported("ORDER BY %s of a UNION across shards (order by a column name or position)", sqlparser.String(o.Expr))
		}
		order = append(order, orderKey{col: ref, desc: o.Direction == sqlparser.DescOrder})
	}
	if len(u.OrderBy) == 0 && u.Limit == nil && !distinct {
		return nil // UNION ALL: the shards' rows, concatenated
	}
	push := sqlparser.CloneRefOfUnion(u)
	if u.Limit != nil {
		push.Limit = &sqlparser.Limit{Rowcount: sqlparser.NewArgument(limitBindVar)}
	}
	leaf := &Route{Opcode: Scatter, Keyspace: route.Keyspace, query: sqlparser.NewParsedQuery(push), merged: true}
	m := &Merge{single: route, route: leaf}
	var p Primitive = leaf
	if distinct {
		p = &Distinct{input: p}
		m.steps = append(m.steps, "distinct")
	}
	if len(order) > 0 {
		p = &Sort{input: p, keys: order}
		m.steps = append(m.steps, "sort")
	}
	if u.Limit != nil {
		p = &Limit{input: p, count: u.Limit.Rowcount, offset: u.Limit.Offset}
		m.steps = append(m.steps, "limit")
		m.pushLimit, m.limit, m.offset = true, u.Limit.Rowcount, u.Limit.Offset
	}
	m.input = p
	st.primitive = m
	return nil
}

// unionSides flattens a tree of UNIONs into its SELECTs. Mixing UNION and
// UNION ALL is refused: which duplicates survive then depends on the
// grouping.
func unionSides(u *sqlparser.Union) ([]*sqlparser.Select, bool, error) {
	var sides []*sqlparser.Select
	distinct := u.Distinct
	var walk func(sqlparser.TableStatement) error
	walk = func(ts sqlparser.TableStatement) error {
		switch n := ts.(type) {
		case *sqlparser.Select:
			sides = append(sides, n)
		case *sqlparser.Union:
			if n.Distinct != distinct {
				return sqlerr.Unsupported("mixing UNION and UNION ALL across shards")
			}
			if len(n.OrderBy) > 0 || n.Limit != nil {
				return sqlerr.Unsupported("ORDER BY or LIMIT inside a nested UNION across shards")
			}
			if err := walk(n.Left); err != nil {
				return err
			}
			return walk(n.Right)
		default:
			return sqlerr.Unsupported("%T in a UNION across shards", ts)
		}
		return nil
	}
	if err := walk(u.Left); err != nil {
		return nil, false, err
	}
	if err := walk(u.Right); err != nil {
		return nil, false, err
	}
	return sides, distinct, nil
}

// checkUnionSide accepts a SELECT that each shard answers for its own rows
// alone.
func checkUnionSide(st *planState, sel *sqlparser.Select) error {
	side := &planState{ctx: st.ctx, stmt: sel}
	if err := resolveTables(side); err != nil {
		return err
	}
	sharded := 0
	for _, t := range side.tables {
		if t.table != nil && t.table.Type != "reference" {
			sharded++
		}
	}
	switch {
	case sharded == 0:
		return sqlerr.Unsupported("a UNION side that reads no sharded table (its rows would repeat once per shard): %s", sqlparser.String(sel))
	case sel.Distinct || sel.GroupBy != nil || sel.Having != nil || containsAggregate(sel.SelectExprs):
		return sqlerr.Unsupported("DISTINCT, GROUP BY, HAVING or aggregates inside a UNION side across shards: %s", sqlparser.String(sel))
	case sel.Limit != nil || len(sel.OrderBy) > 0:
		return sqlerr.Unsupported("ORDER BY or LIMIT inside a UNION side across shards: %s", sqlparser.String(sel))
	case hasSubquery(sel) || sel.With != nil:
		return sqlerr.Unsupported("subqueries inside a UNION side across shards")
	}
	return checkColocated(side, sel)
}

// unionColumn reads an ORDER BY item of a UNION: a column name or a
// position.
func unionColumn(e sqlparser.Expr) (colRef, bool) {
	switch n := e.(type) {
	case *sqlparser.ColName:
		if n.Qualifier.IsEmpty() {
			return colRef{index: -1, name: n.Name.Lowered()}, true
		}
	case *sqlparser.Literal:
		if n.Type == sqlparser.IntVal {
			var i int
			for _, c := range n.Val {
				i = i*10 + int(c-'0')
			}
			if i >= 1 {
				return colRef{index: i - 1}, true
			}
		}
	}
	return colRef{}, false
}

// planGateUnion plans each side of a UNION by itself: a Union of the
// sides' plans, then the union's ORDER BY (Sort) and LIMIT.
func planGateUnion(st *planState, u *sqlparser.Union) error {
	sides, distinct := flattenUnion(u)
	g := &Union{}
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
	var order []orderKey
	for _, o := range u.OrderBy {
		ref, ok := unionColumn(o.Expr)
		if !ok {
			return sqlerr.Unsupported("ORDER BY %s of a UNION across shards (order by a column name or position)", sqlparser.String(o.Expr))
		}
		order = append(order, orderKey{col: ref, desc: o.Direction == sqlparser.DescOrder})
	}
	clone := sqlparser.Clone(u)
	clone.OrderBy, clone.Limit, clone.Lock, clone.Into, clone.With = nil, nil, sqlparser.NoLock, nil, nil
	if sel := leftmostSelect(clone); sel != nil {
		keepColumnNames(sel, st.ctx.SQL)
	}
	g.columns = &Route{Opcode: AnyShard, Keyspace: st.keyspace.Name, query: impossibleQuery(clone)}
	var p Primitive = g
	if len(order) > 0 {
		p = &Sort{input: p, keys: order}
	}
	if u.Limit != nil {
		p = &Limit{input: p, count: u.Limit.Rowcount, offset: u.Limit.Offset}
	}
	st.primitive = p
	return nil
}

// flattenUnion lists a UNION's sides, left to right, and whether the
// union joining each side after the first to those before is DISTINCT
// (distinct[i] for side i+1). Nested unions without their own ORDER BY,
// LIMIT or WITH are flattened.
func flattenUnion(u *sqlparser.Union) (sides []sqlparser.TableStatement, distinct []bool) {
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
	return sides, distinct
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
