package sqlrouter

import (
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"
)

// rewriteGateFunctions replaces what only the gate can answer: a shard's
// connection is pooled and shared, so LAST_INSERT_ID(), CONNECTION_ID()
// and FOUND_ROWS() must be the client session's values, @@version /
// @@version_comment and VERSION() describe the gate, and
// @@transaction_mode is a setting of the gate's session. Values
// become bind variables or literals; a select column keeps its original
// name as its alias, as MySQL would name it.
func rewriteGateFunctions(st *planState) error {
	st.stmt = sqlparser.SafeRewrite(st.stmt, nil, func(c *sqlparser.Cursor) bool {
		var repl sqlparser.Expr
		switch n := c.Node().(type) {
		case *sqlparser.FuncExpr:
			if !n.Qualifier.IsEmpty() || len(n.Exprs) != 0 {
				return true
			}
			switch n.Name.Lowered() {
			// Each takes the type MariaDB gives the function, which a
			// bare literal would not have (5 is an INT): COALESCE with
			// the type's largest value widens it, and is the value.
			case "last_insert_id":
				repl = typedAs(castTo(sqlparser.NewArgument(LastInsertIDBindVar), "unsigned"), "18446744073709551615") // BIGINT UNSIGNED
				st.needs.LastInsertID = true
			case "connection_id":
				repl = castTo(sqlparser.NewArgument(ConnectionIDBindVar), "unsigned") // INT UNSIGNED
				st.needs.ConnectionID = true
			case "found_rows":
				repl = typedAs(sqlparser.NewArgument(FoundRowsBindVar), "9223372036854775807") // BIGINT
				st.needs.FoundRows = true
			case "version":
				// MariaDB's VERSION() is a NOT NULL VARCHAR; COALESCE of one
				// literal is too, and, unlike a bare literal, is named by
				// the client's text ("VERSION()"), not by its value.
				repl = &sqlparser.FuncExpr{Name: sqlparser.NewIdentifierCI("coalesce"), Exprs: []sqlparser.Expr{sqlparser.NewStrLiteral(mariaDBVersion(st.ctx.ServerVersion))}}
			case "row_count":
				// What the session's previous statement changed (-1 after a
				// result set): a pooled shard connection cannot know.
				bv := SystemVariableBindVar("row_count")
				repl = typedAs(sqlparser.NewArgument(bv), "9223372036854775807") // BIGINT
				st.needs.addVariable(bv)
			}
		case *sqlparser.Variable:
			if n.Scope == sqlparser.VariableScope {
				bv := UserVariableBindVar(n.Name.String())
				repl = sqlparser.NewArgument(bv)
				st.needs.addVariable(bv)
				break
			}
			if n.Scope != sqlparser.SessionScope && n.Scope != sqlparser.GlobalScope && n.Scope != sqlparser.NoScope {
				return true
			}
			if name, ok := SessionVariables[strings.ToLower(n.Name.String())]; ok && n.Scope != sqlparser.GlobalScope {
				bv := SystemVariableBindVar(name)
				repl = sqlparser.NewArgument(bv)
				if widest, ok := integerVariables[name]; ok {
					repl = typedAs(repl, widest) // BIGINT, as MariaDB types them
				}
				st.needs.addVariable(bv)
				break
			}
			switch strings.ToLower(n.Name.String()) {
			case "version":
				repl = nullableString(mariaDBVersion(st.ctx.ServerVersion))
			case "version_comment":
				repl = nullableString(st.ctx.VersionComment)
			case "transaction_mode":
				// A session setting: a bind variable, so that the cached
				// plan serves every session.
				repl = sqlparser.NewArgument(TransactionModeBindVar)
				st.needs.TransactionMode = true
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

// nullableString is a string literal typed as MariaDB types a string
// system variable: a VARCHAR that may be NULL (NULLIF(s, NULL) is s). It
// is named by the client's text ("@@version"), as the variable would be.
func nullableString(s string) sqlparser.Expr {
	return &sqlparser.FuncExpr{Name: sqlparser.NewIdentifierCI("nullif"), Exprs: []sqlparser.Expr{sqlparser.NewStrLiteral(s), &sqlparser.NullVal{}}}
}

// mariaDBVersion is the server version as @@version and VERSION() give it:
// MariaDB adds the "5.5.5-" prefix in the handshake only (so that old
// clients do not take 10.x for a MySQL 10), never in the variable.
func mariaDBVersion(handshake string) string {
	return strings.TrimPrefix(handshake, "5.5.5-")
}

// integerVariables are the SessionVariables MariaDB types as BIGINT
// (UNSIGNED), with the widest value of the type.
var integerVariables = map[string]string{
	"autocommit": "9223372036854775807", "in_transaction": "9223372036854775807", "tx_read_only": "9223372036854775807",
	"wait_timeout": "9223372036854775807", "interactive_timeout": "9223372036854775807",
	"warning_count": "18446744073709551615", "error_count": "18446744073709551615", "last_insert_id": "18446744073709551615",
}

// typedAs is COALESCE(e, widest), whose type is wide enough for widest.
func typedAs(e sqlparser.Expr, widest string) sqlparser.Expr {
	return &sqlparser.FuncExpr{Name: sqlparser.NewIdentifierCI("coalesce"), Exprs: []sqlparser.Expr{e, sqlparser.NewIntLiteral(widest)}}
}

// castTo is CAST(e AS typ).
func castTo(e sqlparser.Expr, typ string) sqlparser.Expr {
	return &sqlparser.CastExpr{Expr: e, Type: &sqlparser.ConvertType{Type: typ}}
}
