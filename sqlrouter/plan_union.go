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
	m := &Merge{single: route, distinct: distinct}
	for _, o := range u.OrderBy {
		ref, ok := unionColumn(o.Expr)
		if !ok {
			return sqlerr.Unsupported("ORDER BY %s of a UNION across shards (order by a column name or position)", sqlparser.String(o.Expr))
		}
		m.orderBy = append(m.orderBy, orderKey{col: ref, desc: o.Direction == sqlparser.DescOrder})
	}
	push := sqlparser.CloneRefOfUnion(u)
	if u.Limit != nil {
		m.limit, m.offset = u.Limit.Rowcount, u.Limit.Offset
		push.Limit = &sqlparser.Limit{Rowcount: sqlparser.NewArgument(limitBindVar)}
	}
	if len(u.OrderBy) == 0 && u.Limit == nil && !distinct {
		return nil // UNION ALL: the shards' rows, concatenated
	}
	m.route = &Route{Opcode: Scatter, Keyspace: route.Keyspace, query: sqlparser.NewParsedQuery(push)}
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
