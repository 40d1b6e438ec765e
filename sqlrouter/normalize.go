package sqlrouter

import (
	"strconv"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
)

// Normalize replaces the literal values of a statement's conditions,
// inserted rows and assignments by bind variables, so that statements
// differing only in those values share one plan. A literal IN list becomes
// one list variable, so lists of any length share it too.
//
// Literals that shape the result stay as written: the select list (a
// literal's column is named by its text), ORDER BY and GROUP BY (where a
// number is a column position) and LIMIT. So do literals whose text
// carries a type a bind variable would lose (hex, bit, dates, floats).
//
// It reports whether anything was replaced. The statement is modified in
// place; bindVars receives the values.
func Normalize(stmt sqlparser.Statement, bindVars map[string]*querypb.BindVariable) bool {
	switch stmt.(type) {
	case *sqlparser.Select, *sqlparser.Union, *sqlparser.Insert, *sqlparser.Update, *sqlparser.Delete:
	default:
		return false
	}
	n := 0
	next := func() string {
		n++
		return "vtg" + strconv.Itoa(n)
	}
	sqlparser.SafeRewrite(stmt, func(node, _ sqlparser.SQLNode) bool {
		switch n := node.(type) {
		case *sqlparser.SelectExprs, sqlparser.OrderBy, *sqlparser.GroupBy, *sqlparser.Limit:
			return false
		case *sqlparser.UnaryExpr:
			// -5 is folded whole into one value below.
			return negatedLiteral(n) == nil
		}
		return true
	}, func(c *sqlparser.Cursor) bool {
		switch node := c.Node().(type) {
		case *sqlparser.UnaryExpr:
			if lit := negatedLiteral(node); lit != nil {
				v, err := evalValue(node, nil)
				if err != nil {
					return true
				}
				name := next()
				bindVars[name] = sqltypes.ValueBindVariable(v)
				c.Replace(sqlparser.NewArgument(name))
			}
		case *sqlparser.ComparisonExpr:
			if node.Operator != sqlparser.InOp && node.Operator != sqlparser.NotInOp {
				return true
			}
			tuple, ok := node.Right.(sqlparser.ValTuple)
			if !ok || len(tuple) == 0 {
				return true
			}
			list := &querypb.BindVariable{Type: querypb.Type_TUPLE}
			for _, e := range tuple {
				arg, isArg := e.(*sqlparser.Argument)
				if !isArg || bindVars[arg.Name] == nil {
					return true // not all literals (already replaced below)
				}
				list.Values = append(list.Values, sqltypes.ValueToProto(mustValue(bindVars[arg.Name])))
			}
			for _, e := range tuple {
				delete(bindVars, e.(*sqlparser.Argument).Name)
			}
			name := next()
			bindVars[name] = list
			node.Right = sqlparser.NewListArg(name)
		case *sqlparser.Literal:
			switch node.Type {
			case sqlparser.StrVal, sqlparser.IntVal, sqlparser.DecimalVal:
			default:
				return true
			}
			v, err := literalValue(node)
			if err != nil {
				return true
			}
			name := next()
			bindVars[name] = sqltypes.ValueBindVariable(v)
			c.Replace(sqlparser.NewArgument(name))
		}
		return true
	})
	return n > 0
}

// negatedLiteral returns the number of -<number>, or nil.
func negatedLiteral(u *sqlparser.UnaryExpr) *sqlparser.Literal {
	lit, ok := u.Expr.(*sqlparser.Literal)
	if ok && u.Operator == sqlparser.UMinusOp && (lit.Type == sqlparser.IntVal || lit.Type == sqlparser.DecimalVal) {
		return lit
	}
	return nil
}

func mustValue(bv *querypb.BindVariable) sqltypes.Value {
	v, _ := sqltypes.BindVariableToValue(bv)
	return v
}
