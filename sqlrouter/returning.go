package sqlrouter

import (
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// MariaDB 10.5+ returns the rows an INSERT, REPLACE or DELETE wrote when
// the statement ends in RETURNING <select list> (GORM uses it once the
// server version says MariaDB 10.5). Vitess's parser does not know the
// clause, so the gate parses the statement without it (WithoutReturning)
// and the planner finds it in the statement's text (findReturning): the
// statement is planned as usual, and every statement the plan sends to a
// shard for it gets the clause back (see Route.returning, Insert and
// InsertSelect), so that each shard returns the rows it wrote. Route
// concatenates them; Insert puts them in the order of the VALUES list,
// by which ORMs map returned ids to their objects.

// WithoutReturning returns an INSERT, REPLACE or DELETE without its
// RETURNING clause, and whether it had one. The clause is found with the
// parser's tokenizer: the first RETURNING keyword outside parentheses
// (MariaDB reserves the word), not one in a string, a comment or a
// quoted name.
func WithoutReturning(sql string) (string, bool) {
	head, _, ok := splitReturning(sql)
	return head, ok
}

// splitReturning splits an INSERT, REPLACE or DELETE into the statement
// before RETURNING and the select list after it (without a trailing
// semicolon).
func splitReturning(sql string) (head, list string, ok bool) {
	if !containsWord(sql, "returning") {
		return "", "", false // most statements: no tokenizing
	}
	tkn := tokenizer.NewStringTokenizer(sql)
	depth, first := 0, true
	for {
		before := tkn.Pos
		typ, _ := tkn.Scan()
		switch {
		case typ == 0 || typ == sqlparser.LEX_ERROR || tkn.LastError != nil:
			return "", "", false
		case typ == sqlparser.COMMENT:
			continue
		case first:
			first = false
			if typ != sqlparser.INSERT && typ != sqlparser.REPLACE && typ != sqlparser.DELETE {
				return "", "", false
			}
		case typ == '(':
			depth++
		case typ == ')':
			depth--
		case typ == sqlparser.RETURNING && depth == 0:
			list = strings.TrimSpace(sql[tkn.Pos:])
			list = strings.TrimSpace(strings.TrimSuffix(list, ";"))
			return sql[:before], list, true
		}
	}
}

// containsWord reports whether s contains word (lower case), in any case.
func containsWord(s, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		if s[i]|0x20 == word[0] && strings.EqualFold(s[i:i+len(word)], word) {
			return true
		}
	}
	return false
}

// findReturning finds the RETURNING clause of an INSERT, REPLACE or
// DELETE in the statement's text and checks that every shard can answer
// its part: expressions the gate answers itself (LAST_INSERT_ID(),
// @@version, ...) would be the shard's own values there, placeholders
// would be numbered after the statement's, and a subquery would read only
// the shard's rows of a sharded table. Those are refused (1235).
func findReturning(st *planState) error {
	switch st.stmt.(type) {
	case *sqlparser.Insert, *sqlparser.Delete:
	default:
		return nil
	}
	_, list, ok := splitReturning(st.ctx.SQL)
	if !ok {
		return nil
	}
	sel, err := returningSelect(list, nil)
	if err != nil {
		return err
	}
	var refused string
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch n.(type) {
		case *sqlparser.Argument, sqlparser.ListArg:
			refused = "placeholders in RETURNING"
		case *sqlparser.Subquery:
			if st.keyspace != nil && st.keyspace.Sharded {
				refused = "subqueries in RETURNING on tables of sharded keyspace " + st.keyspace.Name + " (a shard would read only its own rows)"
			}
		}
		return refused == "", nil
	}, sel.SelectExprs)
	if refused != "" {
		return sqlerr.Unsupported("%s", refused)
	}
	// What the gate substitutes in a statement (rewriteGateFunctions) it
	// would have to substitute here too, where a row's values are not
	// yet known: refused.
	probe := &planState{ctx: st.ctx, stmt: sel}
	if err := rewriteGateFunctions(probe); err != nil || probe.rewritten {
		return sqlerr.Unsupported("RETURNING %s: it names what the gate answers itself (LAST_INSERT_ID(), ROW_COUNT(), @@version, user variables, ...), which a shard would answer with its own", list)
	}
	st.returning = " returning " + list
	return nil
}

// returningSelect parses a RETURNING list as "SELECT <list> FROM <from>"
// (no FROM when from is nil), each expression named as the client wrote
// it, as MariaDB names RETURNING's columns.
func returningSelect(list string, from sqlparser.TableExpr) (*sqlparser.Select, error) {
	sql := "select " + list
	if from != nil {
		sql += " from " + sqlparser.String(from)
	}
	stmt, err := tokenizer.Parse(sql)
	sel, ok := stmt.(*sqlparser.Select)
	if err != nil || !ok {
		return nil, sqlerr.New(sqlerror.ERParseError, sqlerror.SSClientError, "You have an error in your SQL syntax in 'RETURNING %s'", list)
	}
	keepColumnNames(sel, sql)
	return sel, nil
}

// ReturningFields returns, for an INSERT, REPLACE or DELETE with a
// RETURNING clause (sql is its text), a SELECT of the same expressions
// from its table: its columns are the ones the statement returns (names,
// types and flags, as MariaDB gives them), which a prepared statement
// reports before it runs. Nil for other statements.
func ReturningFields(stmt sqlparser.Statement, sql string) *sqlparser.Select {
	var table sqlparser.TableExpr
	switch s := stmt.(type) {
	case *sqlparser.Insert:
		table = s.Table
	case *sqlparser.Delete:
		if len(s.TableExprs) != 1 {
			return nil
		}
		table = s.TableExprs[0]
	default:
		return nil
	}
	_, list, ok := splitReturning(sql)
	if !ok {
		return nil
	}
	sel, err := returningSelect(list, table)
	if err != nil {
		return nil
	}
	return sel
}
