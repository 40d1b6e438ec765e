package sqlrouter

import (
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"
)

// tokenizer is only used to find where select items start and end.
var tokenizer, _ = sqlparser.New(sqlparser.Options{MySQLServerVersion: "8.0.40"})

// maxColumnName is how long a generated alias may be; MySQL refuses
// longer aliases (and truncates names it makes itself).
const maxColumnName = 256

// selectItemTexts returns the text of each item of the first SELECT's
// select list as the client wrote it, or nil when it cannot tell. MySQL
// names a column without an alias by exactly this text ("MIN(name)",
// "1+1"), while SQL regenerated from the syntax tree would read
// "min(`name`)" and "1 + 1".
func selectItemTexts(sql string) []string {
	tkn := tokenizer.NewStringTokenizer(sql)
	depth, start := 0, -1
	with, outer := false, 0
	var items []string
	for {
		before := tkn.Pos
		typ, _ := tkn.Scan()
		if typ == 0 || tkn.LastError != nil {
			if start >= 0 && depth == 0 {
				return append(items, itemText(sql[start:before]))
			}
			return nil
		}
		if start < 0 {
			// After WITH, the statement's own SELECT is the first outside
			// the parentheses of the common table expressions.
			switch {
			case typ == sqlparser.WITH && before == 0:
				with = true
			case typ == '(':
				outer++
			case typ == ')':
				outer--
			case typ == sqlparser.SELECT && (!with || outer == 0):
				start = tkn.Pos
			}
			continue
		}
		switch typ {
		case '(':
			depth++
			continue
		case ')':
			depth--
			continue
		}
		if depth > 0 {
			continue
		}
		if len(items) == 0 && itemText(sql[start:before]) == "" && selectModifier(typ) {
			start = tkn.Pos // DISTINCT, SQL_NO_CACHE, ...: not part of the item
			continue
		}
		switch typ {
		case ',':
			items = append(items, itemText(sql[start:before]))
			start = tkn.Pos
		case sqlparser.FROM, sqlparser.WHERE, sqlparser.GROUP, sqlparser.HAVING, sqlparser.ORDER,
			sqlparser.LIMIT, sqlparser.INTO, sqlparser.FOR, sqlparser.LOCK, sqlparser.UNION, sqlparser.WINDOW, ';':
			return append(items, itemText(sql[start:before]))
		}
	}
}

// itemText trims blanks and leading comments, which are not part of a
// column's name.
func itemText(s string) string {
	for {
		s = strings.TrimSpace(s)
		if !strings.HasPrefix(s, "/*") {
			return s
		}
		end := strings.Index(s, "*/")
		if end < 0 {
			return s
		}
		s = s[end+2:]
	}
}

func selectModifier(typ int) bool {
	switch typ {
	case sqlparser.DISTINCT, sqlparser.ALL, sqlparser.DISTINCTROW, sqlparser.STRAIGHT_JOIN, sqlparser.SQL_CALC_FOUND_ROWS,
		sqlparser.SQL_NO_CACHE, sqlparser.SQL_CACHE, sqlparser.HIGH_PRIORITY, sqlparser.SQL_SMALL_RESULT,
		sqlparser.SQL_BIG_RESULT, sqlparser.SQL_BUFFER_RESULT:
		return true
	}
	return false
}

// keepColumnNames aliases every unaliased, non-column select expression of
// sel with the text the client wrote, so that the regenerated query the
// shards run names its columns as the original would.
func keepColumnNames(sel *sqlparser.Select, sql string) {
	texts := selectItemTexts(sql)
	exprs := sel.SelectExprs.Exprs
	if len(texts) != len(exprs) {
		return
	}
	for i, se := range exprs {
		ae, ok := se.(*sqlparser.AliasedExpr)
		if !ok || !ae.As.IsEmpty() || len(texts[i]) > maxColumnName || texts[i] == "" {
			continue
		}
		switch ae.Expr.(type) {
		case *sqlparser.ColName, *sqlparser.Literal:
			// A column keeps its name whatever its qualifier; a literal is
			// named by its value, which regeneration does not change.
			continue
		}
		ae.As = sqlparser.NewIdentifierCI(texts[i])
	}
}

// ColumnNameKey returns the texts that name a SELECT's columns (joined),
// or "" when no column is named by its text: statements that plan alike
// but name their columns differently ("COUNT(*)", "count(*)") need
// different plans. An INSERT, REPLACE or DELETE returns columns only with
// a RETURNING clause, which the parsed statement lacks: its text is the
// key.
func ColumnNameKey(stmt sqlparser.Statement, sql string) string {
	switch stmt.(type) {
	case *sqlparser.Insert, *sqlparser.Delete:
		if _, list, ok := splitReturning(sql); ok {
			return "returning\x00" + list
		}
		return ""
	}
	sel := leftmostSelect(stmt)
	if sel == nil {
		return ""
	}
	named := false
	for _, se := range sel.SelectExprs.Exprs {
		if ae, ok := se.(*sqlparser.AliasedExpr); ok && ae.As.IsEmpty() {
			switch ae.Expr.(type) {
			case *sqlparser.ColName, *sqlparser.Literal:
			default:
				named = true
			}
		}
	}
	if !named {
		return ""
	}
	return strings.Join(selectItemTexts(sql), "\x00")
}

// leftmostSelect is the SELECT that names a statement's result columns.
func leftmostSelect(stmt sqlparser.Statement) *sqlparser.Select {
	for {
		switch s := stmt.(type) {
		case *sqlparser.Select:
			return s
		case *sqlparser.Union:
			stmt = s.Left
		default:
			return nil
		}
	}
}
