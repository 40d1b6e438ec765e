package sqlrouter

import (
	"fmt"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"
)

// subquery is a subquery planned on its own and run before its statement;
// its answer reaches the statement as bind variables.
type subquery struct {
	plan *Plan
	kind subqueryKind
	// value names the bind variable with the answer (a value, or a list
	// for IN); hasValues the one that says whether there were rows.
	value, hasValues string
}

type subqueryKind int

const (
	subqueryScalar subqueryKind = iota // (SELECT x ...): one value or NULL
	subqueryIn                         // x [NOT] IN (SELECT ...): a list
	subqueryExists                     // EXISTS (SELECT ...): rows or not
)

// extractSubqueries plans every uncorrelated subquery of a statement on a
// sharded keyspace (or on another keyspace than its statement) by itself
// and replaces it by bind variables, so that the statement plans as if it
// had literal values there. Correlated subqueries stay in place: they run
// with their statement, which is allowed only when their tables are
// co-located with the statement's.
func extractSubqueries(st *planState) error {
	outer := outerTables(st.stmt)
	if !needsExtraction(st, outer) {
		return nil
	}
	var failed error
	n := 0
	st.stmt = sqlparser.SafeRewrite(st.stmt, func(node, _ sqlparser.SQLNode) bool {
		// A subquery is replaced whole (its own subqueries are planned
		// with it); a derived table is not an expression.
		switch node.(type) {
		case *sqlparser.Subquery, *sqlparser.DerivedTable:
			return false
		}
		return failed == nil
	}, func(c *sqlparser.Cursor) bool {
		if failed != nil {
			return false
		}
		sq, kind, cmp := subqueryAt(c.Node(), c.Parent())
		if sq == nil || correlated(sq, outer) {
			return true
		}
		n++
		sub := st.ctx
		sub.SQL = ""
		plan, err := NewPlan(sq.Select, sub)
		if err != nil {
			failed = fmt.Errorf("subquery %s: %w", sqlparser.String(sq), err)
			return false
		}
		s := subquery{plan: plan, kind: kind, value: fmt.Sprintf("__sq%d", n), hasValues: fmt.Sprintf("__sq_has_values%d", n)}
		st.subqueries = append(st.subqueries, s)
		st.needs.add(plan.Needs)
		c.Replace(subqueryReplacement(kind, cmp, s.value, s.hasValues))
		st.rewritten = true
		return true
	}).(sqlparser.Statement)
	return failed
}

// outerTables lists the names (aliases) the statement's own FROM clause
// defines, not counting those inside subqueries.
func outerTables(stmt sqlparser.Statement) map[string]bool {
	names := map[string]bool{}
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch t := n.(type) {
		case *sqlparser.Subquery, *sqlparser.DerivedTable:
			return false, nil
		case *sqlparser.AliasedTableExpr:
			if a := tableAlias(t); a != "" {
				names[strings.ToLower(a)] = true
			}
		}
		return true, nil
	}, stmt)
	return names
}

// correlated reports whether a subquery refers to a table of its
// statement: a qualified column naming an outer table that the subquery
// does not define itself. (Unqualified columns are taken as the
// subquery's own, as MySQL resolves them first.)
func correlated(sq *sqlparser.Subquery, outer map[string]bool) bool {
	inner := outerTables(sq.Select)
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if c, ok := n.(*sqlparser.ColName); ok && !c.Qualifier.IsEmpty() {
			q := strings.ToLower(c.Qualifier.Name.String())
			if outer[q] && !inner[q] {
				found = true
			}
		}
		return !found, nil
	}, sq.Select)
	return found
}

// needsExtraction reports whether subqueries are worth planning on their
// own: an unsharded keyspace answers its statements whole.
func needsExtraction(st *planState, outer map[string]bool) bool {
	hasSub := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if _, ok := n.(*sqlparser.Subquery); ok {
			hasSub = true
		}
		return !hasSub, nil
	}, st.stmt)
	if !hasSub {
		return false
	}
	keyspaces := map[string]bool{}
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if t, ok := n.(sqlparser.TableName); ok && !t.Name.IsEmpty() {
			ks := t.Qualifier.String()
			if ks == "" {
				ks = st.ctx.Keyspace
			}
			keyspaces[ks] = true
		}
		if _, ok := n.(*sqlparser.ColName); ok {
			return false, nil
		}
		return true, nil
	}, st.stmt)
	if len(keyspaces) > 1 {
		return true
	}
	for ks := range keyspaces {
		if k, ok := st.ctx.VSchema.Keyspace(ks); ok && !k.Sharded {
			return false
		}
	}
	return true
}

// subqueryAt recognizes the node that stands for a subquery in an
// expression: EXISTS (subquery), x [NOT] IN (subquery) (the comparison,
// cmp), or a scalar subquery elsewhere. A subquery whose parent is one of
// the first two is not one by itself (sq is nil).
func subqueryAt(node, parent sqlparser.SQLNode) (sq *sqlparser.Subquery, kind subqueryKind, cmp *sqlparser.ComparisonExpr) {
	isIn := func(c *sqlparser.ComparisonExpr) bool {
		return c.Operator == sqlparser.InOp || c.Operator == sqlparser.NotInOp
	}
	switch n := node.(type) {
	case *sqlparser.ExistsExpr:
		return n.Subquery, subqueryExists, nil
	case *sqlparser.ComparisonExpr:
		if s, ok := n.Right.(*sqlparser.Subquery); ok && isIn(n) {
			return s, subqueryIn, n
		}
	case *sqlparser.Subquery:
		switch p := parent.(type) {
		case *sqlparser.ExistsExpr:
			return nil, 0, nil
		case *sqlparser.ComparisonExpr:
			if p.Right == n && isIn(p) {
				return nil, 0, nil // handled with its comparison
			}
		}
		return n, subqueryScalar, nil
	}
	return nil, 0, nil
}
