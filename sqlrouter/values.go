package sqlrouter

import (
	"fmt"
	"strings"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
)

// isValue reports whether e is a value known without reading a table: a
// literal, a placeholder, NULL, or a negated literal. Only such values can
// decide routing.
func isValue(e sqlparser.Expr) bool {
	switch n := e.(type) {
	case *sqlparser.Literal, *sqlparser.Argument, *sqlparser.NullVal, sqlparser.BoolVal:
		return true
	case *sqlparser.UnaryExpr:
		if n.Operator == sqlparser.UMinusOp {
			_, lit := n.Expr.(*sqlparser.Literal)
			return lit
		}
	case *sqlparser.IntroducerExpr:
		return isValue(n.Expr)
	}
	return false
}

// evalValue computes a value isValue accepts, taking placeholders from bv.
func evalValue(e sqlparser.Expr, bv map[string]*querypb.BindVariable) (sqltypes.Value, error) {
	switch n := e.(type) {
	case *sqlparser.Literal:
		return literalValue(n)
	case *sqlparser.Argument:
		b, ok := bv[n.Name]
		if !ok {
			return sqltypes.NULL, fmt.Errorf("no value for placeholder :%s", n.Name)
		}
		return sqltypes.BindVariableToValue(b)
	case *sqlparser.NullVal:
		return sqltypes.NULL, nil
	case sqlparser.BoolVal:
		if n {
			return sqltypes.NewInt64(1), nil
		}
		return sqltypes.NewInt64(0), nil
	case *sqlparser.IntroducerExpr:
		return evalValue(n.Expr, bv)
	case *sqlparser.UnaryExpr:
		v, err := evalValue(n.Expr, bv)
		if err != nil {
			return v, err
		}
		s := v.ToString()
		if strings.HasPrefix(s, "-") {
			s = s[1:]
		} else {
			s = "-" + s
		}
		if v.IsIntegral() {
			return sqltypes.NewIntegral(s)
		}
		return sqltypes.NewDecimal(s), nil
	}
	return sqltypes.NULL, fmt.Errorf("%s is not a literal value", sqlparser.String(e))
}

// literalValue converts a literal to a value of the type MySQL gives it.
// (Vitess's LiteralToValue drops the fraction of DECIMAL literals.)
func literalValue(lit *sqlparser.Literal) (sqltypes.Value, error) {
	switch lit.Type {
	case sqlparser.DecimalVal:
		return sqltypes.NewDecimal(lit.Val), nil
	case sqlparser.StrVal:
		return sqltypes.NewVarChar(lit.Val), nil
	}
	return sqlparser.LiteralToValue(lit)
}
