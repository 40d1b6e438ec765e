package sqlrouter

import (
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"
)

// rewriteGateFunctions replaces what only the gate can answer: a shard's
// connection is pooled and shared, so LAST_INSERT_ID() and CONNECTION_ID()
// must be the client session's values, and @@version / @@version_comment
// describe the gate. Values become bind variables or literals; a select
// column keeps its original name as its alias, as MySQL would name it.
func rewriteGateFunctions(st *planState) error {
	st.stmt = sqlparser.SafeRewrite(st.stmt, nil, func(c *sqlparser.Cursor) bool {
		var repl sqlparser.Expr
		switch n := c.Node().(type) {
		case *sqlparser.FuncExpr:
			if !n.Qualifier.IsEmpty() || len(n.Exprs) != 0 {
				return true
			}
			switch n.Name.Lowered() {
			case "last_insert_id":
				repl = sqlparser.NewArgument(LastInsertIDBindVar)
				st.needs.LastInsertID = true
			case "connection_id":
				repl = sqlparser.NewArgument(ConnectionIDBindVar)
				st.needs.ConnectionID = true
			}
		case *sqlparser.Variable:
			if n.Scope != sqlparser.SessionScope && n.Scope != sqlparser.GlobalScope && n.Scope != sqlparser.NoScope {
				return true
			}
			switch strings.ToLower(n.Name.String()) {
			case "version":
				repl = sqlparser.NewStrLiteral(st.ctx.ServerVersion)
			case "version_comment":
				repl = sqlparser.NewStrLiteral(st.ctx.VersionComment)
			}
		}
		if repl == nil {
			return true
		}
		c.Replace(repl)
		st.rewritten = true
		return true
	}).(sqlparser.Statement)
	if sel, ok := st.stmt.(*sqlparser.Select); ok && st.rewritten {
		keepColumnNames(sel, st.ctx.SQL)
	}
	return nil
}
