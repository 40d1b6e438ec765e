package sqlrouter

import (
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// inlineCTEs replaces every reference to a common table expression by the
// derived table it stands for, so that the rest of the planner sees only
// tables and derived tables. A non-recursive CTE means exactly that in
// MySQL (each reference is evaluated as if written in place). Statements
// on unsharded keyspaces keep their WITH: the shard runs them whole.
func inlineCTEs(st *planState) error {
	var with *sqlparser.With
	switch s := st.stmt.(type) {
	case *sqlparser.Select:
		with = s.With
	case *sqlparser.Union:
		with = s.With
	}
	if with == nil || len(with.CTEs) == 0 {
		return nil
	}
	names := map[string]bool{}
	for _, cte := range with.CTEs {
		names[strings.ToLower(cte.ID.String())] = true
	}
	if !touchesSharded(st, names) {
		return nil
	}
	if with.Recursive {
		return sqlerr.Unsupported("WITH RECURSIVE on tables of a sharded keyspace")
	}
	defs := map[string]*sqlparser.CommonTableExpr{}
	for _, cte := range with.CTEs {
		// A CTE may read the ones defined before it.
		body := replaceCTERefs(sqlparser.Clone(cte.Subquery), defs).(sqlparser.TableStatement)
		defs[strings.ToLower(cte.ID.String())] = &sqlparser.CommonTableExpr{ID: cte.ID, Columns: cte.Columns, Subquery: body}
	}
	switch s := st.stmt.(type) {
	case *sqlparser.Select:
		s.With = nil
	case *sqlparser.Union:
		s.With = nil
	}
	st.stmt = replaceCTERefs(st.stmt, defs).(sqlparser.Statement)
	st.rewritten = true
	return nil
}

// replaceCTERefs rewrites node's unqualified table references named after
// a CTE of defs into derived tables holding a copy of its definition.
func replaceCTERefs(node sqlparser.SQLNode, defs map[string]*sqlparser.CommonTableExpr) sqlparser.SQLNode {
	if len(defs) == 0 {
		return node
	}
	return sqlparser.SafeRewrite(node, nil, func(c *sqlparser.Cursor) bool {
		ate, ok := c.Node().(*sqlparser.AliasedTableExpr)
		if !ok {
			return true
		}
		tn, ok := ate.Expr.(sqlparser.TableName)
		if !ok || !tn.Qualifier.IsEmpty() {
			return true
		}
		def, ok := defs[strings.ToLower(tn.Name.String())]
		if !ok {
			return true
		}
		repl := &sqlparser.AliasedTableExpr{
			Expr:    &sqlparser.DerivedTable{Select: sqlparser.Clone(def.Subquery)},
			As:      ate.As,
			Columns: ate.Columns,
		}
		if repl.As.IsEmpty() {
			repl.As = def.ID
		}
		if len(repl.Columns) == 0 {
			repl.Columns = def.Columns
		}
		c.Replace(repl)
		return true
	})
}

// touchesSharded reports whether a statement reads a table (not one of
// the CTE names) of a sharded keyspace.
func touchesSharded(st *planState, cteNames map[string]bool) bool {
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch t := n.(type) {
		case *sqlparser.ColName:
			return false, nil
		case sqlparser.TableName:
			if t.Name.IsEmpty() || (t.Qualifier.IsEmpty() && cteNames[strings.ToLower(t.Name.String())]) {
				return true, nil
			}
			ks := t.Qualifier.String()
			if ks == "" {
				ks = st.ctx.Keyspace
			}
			if k, ok := st.ctx.VSchema.Keyspace(ks); ok && k.Sharded {
				found = true
			}
		}
		return !found, nil
	}, st.stmt)
	return found
}
