package sqlrouter

import (
	"context"
	"fmt"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// rowApply is a correlated subquery the gate runs once per row of its
// statement: the outer columns it reads are bound from the row as bind
// variables, so the subquery is planned (and routed) like any statement
// with placeholders.
type rowApply struct {
	plan *Plan
	kind subqueryKind
	// outer maps the bind variables standing for outer columns to their
	// offsets in the row.
	outer map[string]int
	// value and hasValues name the bind variables of the answer, as for
	// uncorrelated subqueries.
	value, hasValues string
}

// runApplies runs each apply for one row and returns bv with their answers
// added.
func runApplies(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable, applies []*rowApply, row sqltypes.Row) (map[string]*querypb.BindVariable, error) {
	out := make(map[string]*querypb.BindVariable, len(bv)+2*len(applies))
	for k, v := range bv {
		out[k] = v
	}
	for _, a := range applies {
		in := make(map[string]*querypb.BindVariable, len(bv)+len(a.outer))
		for k, v := range bv {
			in[k] = v
		}
		for name, off := range a.outer {
			in[name] = sqltypes.ValueBindVariable(row[off])
		}
		res, err := a.plan.Execute(ctx, vc, in)
		if err != nil {
			return nil, err
		}
		if err := bindSubqueryAnswer(out, a.kind, a.value, a.hasValues, res); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// bindSubqueryAnswer adds a subquery's answer to bv under the names its
// replacement in the statement refers to.
func bindSubqueryAnswer(bv map[string]*querypb.BindVariable, kind subqueryKind, value, hasValues string, res *sqltypes.Result) error {
	has := int64(0)
	if len(res.Rows) > 0 {
		has = 1
	}
	bv[hasValues] = sqltypes.Int64BindVariable(has)
	switch kind {
	case subqueryIn:
		list := &querypb.BindVariable{Type: querypb.Type_TUPLE}
		for _, row := range res.Rows {
			list.Values = append(list.Values, sqltypes.ValueToProto(row[0]))
		}
		if len(list.Values) == 0 {
			// An empty list cannot be written; the has-values flag
			// decides the condition then.
			list.Values = []*querypb.Value{sqltypes.ValueToProto(sqltypes.NULL)}
		}
		bv[value] = list
	case subqueryScalar:
		switch {
		case len(res.Rows) > 1:
			return sqlerr.New(sqlerror.ERSubqueryNo1Row, "21000", "Subquery returns more than 1 row")
		case len(res.Rows) == 1 && len(res.Rows[0]) != 1:
			return sqlerr.New(sqlerror.EROperandColumns, "21000", "Operand should contain 1 column(s)")
		case len(res.Rows) == 1:
			bv[value] = sqltypes.ValueBindVariable(res.Rows[0][0])
		default:
			bv[value] = sqltypes.NullBindVariable
		}
	}
	return nil
}

// subqueryReplacement is the expression that stands for a subquery once
// its answer is bound: the has-values flag for EXISTS, a list for IN (the
// flag decides when the list is empty, which SQL cannot write), the value
// for a scalar subquery. cmp is the IN comparison for subqueryIn.
func subqueryReplacement(kind subqueryKind, cmp *sqlparser.ComparisonExpr, value, hasValues string) sqlparser.Expr {
	switch kind {
	case subqueryExists:
		return sqlparser.NewArgument(hasValues)
	case subqueryIn:
		in := &sqlparser.ComparisonExpr{Operator: cmp.Operator, Left: cmp.Left, Right: sqlparser.NewListArg(value)}
		flag := &sqlparser.ComparisonExpr{Operator: sqlparser.EqualOp, Left: sqlparser.NewArgument(hasValues), Right: sqlparser.NewIntLiteral("1")}
		if cmp.Operator == sqlparser.InOp {
			return &sqlparser.AndExpr{Left: flag, Right: in}
		}
		flag.Right = sqlparser.NewIntLiteral("0")
		return &sqlparser.OrExpr{Left: flag, Right: in}
	}
	return sqlparser.NewArgument(value)
}

// rowScope resolves the columns of the rows a gate expression is
// evaluated over.
type rowScope interface {
	// offset returns the row offset of a column of this scope; ok is false
	// for a column of no table of the scope.
	offset(c *sqlparser.ColName) (off int, ok bool, err error)
	// aliases are the names the scope's tables are qualified by
	// (lower-cased), for finding correlated columns in subqueries.
	aliases() map[string]bool
}

// applyBuilder turns correlated subqueries into row applies, naming their
// bind variables uniquely within one statement.
type applyBuilder struct {
	ctx   PlanContext
	next  *int
	needs *Needs // the session values the subqueries' plans need
}

func (b applyBuilder) name(prefix string) string {
	*b.next++
	return fmt.Sprintf("%s%d", prefix, *b.next)
}

// toGateExpr rewrites e for evaluation over rows of scope: its columns
// become offsets and its subqueries row applies (every subquery left in a
// statement the gate evaluates is correlated: extractSubqueries ran the
// others first).
func (b applyBuilder) toGateExpr(e sqlparser.Expr, scope rowScope) (*gateExpr, error) {
	g := &gateExpr{}
	var failed error
	rewritten := sqlparser.CopyOnRewrite(sqlparser.CloneExpr(e), func(node, _ sqlparser.SQLNode) bool {
		switch node.(type) {
		case *sqlparser.Subquery, *sqlparser.Offset:
			return false
		}
		return failed == nil
	}, func(c *sqlparser.CopyOnWriteCursor) {
		if failed != nil {
			return
		}
		if n, ok := c.Node().(*sqlparser.ColName); ok {
			off, ok, err := scope.offset(n)
			if err != nil {
				failed = err
				return
			}
			if !ok {
				failed = sqlerr.New(sqlerror.ERBadFieldError, sqlerror.SSBadFieldError, "Unknown column '%s' in 'field list'", sqlparser.String(n))
				return
			}
			c.Replace(newOffset(off))
			return
		}
		sq, kind, cmp := subqueryAt(c.Node(), c.Parent())
		if sq == nil {
			return
		}
		a, err := b.apply(sq, kind, scope)
		if err != nil {
			failed = err
			return
		}
		g.applies = append(g.applies, a)
		c.Replace(subqueryReplacement(kind, cmp, a.value, a.hasValues))
	}, nil)
	if failed != nil {
		return nil, failed
	}
	g.ast = rewritten.(sqlparser.Expr)
	return g, nil
}

// apply plans a correlated subquery with its outer columns as bind
// variables.
func (b applyBuilder) apply(sq *sqlparser.Subquery, kind subqueryKind, scope rowScope) (*rowApply, error) {
	outerAliases := scope.aliases()
	inner := outerTables(sq.Select)
	a := &rowApply{kind: kind, outer: map[string]int{}, value: b.name("__sg_ap"), hasValues: b.name("__sg_ap_has")}
	var failed error
	body := sqlparser.CopyOnRewrite(sqlparser.Clone(sq.Select), nil, func(c *sqlparser.CopyOnWriteCursor) {
		col, ok := c.Node().(*sqlparser.ColName)
		if !ok || col.Qualifier.IsEmpty() {
			return
		}
		q := strings.ToLower(col.Qualifier.Name.String())
		if !outerAliases[q] || inner[q] {
			return
		}
		off, found, err := scope.offset(col)
		if err != nil || !found {
			failed = fmt.Errorf("correlated column %s: %v", sqlparser.String(col), err)
			return
		}
		name := b.name("__sg_outer")
		a.outer[name] = off
		c.Replace(sqlparser.NewArgument(name))
	}, nil)
	if failed != nil {
		return nil, failed
	}
	stmt, ok := body.(sqlparser.Statement)
	if !ok {
		return nil, sqlerr.Internal("subquery %s is not a statement", sqlparser.String(sq))
	}
	ctx := b.ctx
	ctx.SQL = ""
	plan, err := NewPlan(stmt, ctx)
	if err != nil {
		return nil, fmt.Errorf("subquery %s: %w", sqlparser.String(sq), err)
	}
	a.plan = plan
	b.needs.add(plan.Needs)
	return a, nil
}
