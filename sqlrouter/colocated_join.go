package sqlrouter

import (
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// checkColocated accepts a read of several tables of a sharded keyspace
// when every shard can answer it with its own rows: reference tables are
// on every shard, and sharded tables joined by equality of their primary
// vindex columns, under the same vindex, keep matching rows on the same
// shard. Anything else would need rows from several shards in one join.
func checkColocated(st *planState, sel *sqlparser.Select) error {
	var sharded []tableRef
	for _, t := range st.tables {
		if t.table.Type != "reference" {
			sharded = append(sharded, t)
		}
	}
	if err := checkOuterJoins(st, sel); err != nil {
		return err
	}
	if len(sharded) <= 1 && !hasSubquery(sel) {
		return nil
	}
	// Union-find over the sharded tables, joined by vindex-column equalities.
	parent := make([]int, len(sharded))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	join := func(a, b int) { parent[find(a)] = find(b) }
	indexOf := func(c *sqlparser.ColName) int {
		for i, t := range sharded {
			if isColumn(c, t.table.PrimaryVindex().Columns[0], t) && !c.Qualifier.IsEmpty() {
				return i
			}
		}
		return -1
	}
	sameVindex := func(a, b int) bool {
		va, vb := sharded[a].table.PrimaryVindex(), sharded[b].table.PrimaryVindex()
		return va.Name == vb.Name && len(va.Columns) == 1 && len(vb.Columns) == 1
	}
	for _, cond := range joinConditions(sel) {
		cmp, ok := cond.(*sqlparser.ComparisonExpr)
		if !ok || cmp.Operator != sqlparser.EqualOp {
			continue
		}
		l, lok := cmp.Left.(*sqlparser.ColName)
		r, rok := cmp.Right.(*sqlparser.ColName)
		if !lok || !rok {
			continue
		}
		if a, b := indexOf(l), indexOf(r); a >= 0 && b >= 0 && sameVindex(a, b) {
			join(a, b)
		}
	}
	for _, using := range usingPairs(sel) {
		a, b := -1, -1
		for i, t := range sharded {
			if strings.EqualFold(t.alias, using.left) && t.table.PrimaryVindex().Columns[0] == using.column {
				a = i
			}
			if strings.EqualFold(t.alias, using.right) && t.table.PrimaryVindex().Columns[0] == using.column {
				b = i
			}
		}
		if a >= 0 && b >= 0 && sameVindex(a, b) {
			join(a, b)
		}
	}
	for i := range sharded {
		if find(i) != find(0) {
			names := make([]string, len(sharded))
			for j, t := range sharded {
				names[j] = t.alias
			}
			return sqlerr.Unsupported("joins of sharded tables that are not joined on their primary vindex columns under the same vindex (%s)", strings.Join(names, ", "))
		}
	}
	return nil
}

// joinConditions returns the AND-ed conditions of every WHERE and ON
// clause, those of correlated subqueries included: a subquery correlated
// by vindex columns reads rows of its statement's shard.
func joinConditions(sel *sqlparser.Select) []sqlparser.Expr {
	var conds []sqlparser.Expr
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch x := n.(type) {
		case *sqlparser.Where:
			if x.Type == sqlparser.WhereClause {
				conds = sqlparser.SplitAndExpression(conds, x.Expr)
			}
		case *sqlparser.JoinTableExpr:
			if x.Condition != nil && x.Condition.On != nil {
				conds = sqlparser.SplitAndExpression(conds, x.Condition.On)
			}
		}
		return true, nil
	}, sel)
	return conds
}

type usingPair struct{ left, right, column string }

// usingPairs lists the column equalities that JOIN ... USING (col) states
// between two plain tables.
func usingPairs(sel *sqlparser.Select) []usingPair {
	var out []usingPair
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		j, ok := n.(*sqlparser.JoinTableExpr)
		if !ok || j.Condition == nil || len(j.Condition.Using) == 0 {
			return true, nil
		}
		l, r := tableAlias(j.LeftExpr), tableAlias(j.RightExpr)
		if l == "" || r == "" {
			return true, nil
		}
		for _, c := range j.Condition.Using {
			out = append(out, usingPair{left: l, right: r, column: c.Lowered()})
		}
		return true, nil
	}, sqlparser.TableExprs(sel.From))
	return out
}

// tableAlias is the name a plain table is referred to by ("" otherwise).
func tableAlias(e sqlparser.TableExpr) string {
	ate, ok := e.(*sqlparser.AliasedTableExpr)
	if !ok {
		return ""
	}
	if !ate.As.IsEmpty() {
		return ate.As.String()
	}
	if tn, ok := ate.Expr.(sqlparser.TableName); ok {
		return tn.Name.String()
	}
	return ""
}

// checkOuterJoins refuses, as not co-located, an outer join whose
// preserved side has only reference tables while its other side has a
// sharded one: every shard would return every preserved row, with the
// matches of its own rows only.
func checkOuterJoins(st *planState, sel *sqlparser.Select) error {
	shardedIn := func(te sqlparser.TableExpr) bool {
		found := false
		_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
			if ate, ok := n.(*sqlparser.AliasedTableExpr); ok {
				alias := strings.ToLower(tableAlias(ate))
				for _, t := range st.tables {
					if strings.EqualFold(t.alias, alias) && t.table != nil && t.table.Type != "reference" {
						found = true
					}
				}
				if _, derived := ate.Expr.(*sqlparser.DerivedTable); derived {
					found = true
				}
				return false, nil
			}
			return true, nil
		}, te)
		return found
	}
	var failed error
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		j, ok := n.(*sqlparser.JoinTableExpr)
		if !ok {
			return true, nil
		}
		preserved, nullable := j.LeftExpr, j.RightExpr
		switch j.Join {
		case sqlparser.LeftJoinType, sqlparser.NaturalLeftJoinType:
		case sqlparser.RightJoinType, sqlparser.NaturalRightJoinType:
			preserved, nullable = nullable, preserved
		default:
			return true, nil
		}
		if shardedIn(nullable) && !shardedIn(preserved) {
			failed = sqlerr.Unsupported("an outer join that keeps every row of reference tables (%s) joined with a sharded table on each shard", sqlparser.String(preserved))
		}
		return failed == nil, nil
	}, sqlparser.TableExprs(sel.From))
	return failed
}
