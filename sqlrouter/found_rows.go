package sqlrouter

import (
	"context"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
)

// FoundRows runs a SELECT SQL_CALC_FOUND_ROWS: the statement (input),
// then count, which counts the rows it returns without its LIMIT, and
// hands that number to the session (FoundRowsSetter) as what FOUND_ROWS()
// answers next. The statement's own answer is the result.
type FoundRows struct {
	input Primitive
	count *Plan
}

// FoundRowsSetter is implemented by a VCursor whose session answers
// FOUND_ROWS(). Without it, FoundRows only runs the statement.
type FoundRowsSetter interface {
	// SetFoundRows records what FOUND_ROWS() answers next.
	SetFoundRows(n uint64)
}

// Inputs implements Primitive.
func (f *FoundRows) Inputs() []Primitive { return []Primitive{f.input, f.count.Primitive} }

// Describe implements Primitive.
func (f *FoundRows) Describe() string {
	return describeTree("FoundRows", input(f.input), labeled{label: "count", p: f.count.Primitive})
}

// Execute implements Primitive.
func (f *FoundRows) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	res, err := f.input.Execute(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	count, err := f.count.Execute(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	if setter, ok := vc.(FoundRowsSetter); ok {
		n := uint64(len(res.Rows))
		if len(count.Rows) == 1 && len(count.Rows[0]) == 1 {
			n, _ = count.Rows[0][0].ToUint64()
		}
		setter.SetFoundRows(n)
	}
	return res, nil
}

// planFoundRows wraps the plan of a SELECT SQL_CALC_FOUND_ROWS in a
// FoundRows whose count is a COUNT(*) of the same tables and conditions
// when each row of them is a row of the result, else a COUNT(*) over the
// statement as a derived table. (The flag itself is dropped from the
// statement the shards run: their FOUND_ROWS() is not the client's.)
func planFoundRows(plan *Plan, sel *sqlparser.Select, ctx PlanContext) error {
	sel.SQLCalcFoundRows = false
	inner := sqlparser.CloneRefOfSelect(sel)
	inner.Limit, inner.OrderBy, inner.Lock, inner.Into = nil, nil, sqlparser.NoLock, nil
	countStar := &sqlparser.SelectExprs{Exprs: []sqlparser.SelectExpr{&sqlparser.AliasedExpr{Expr: &sqlparser.CountStar{}}}}
	var count *sqlparser.Select
	if !inner.Distinct && inner.GroupBy == nil && inner.Having == nil && !containsAggregate(inner.SelectExprs) {
		count = inner
		count.SelectExprs = countStar
	} else {
		count = &sqlparser.Select{
			SelectExprs: countStar,
			From:        []sqlparser.TableExpr{&sqlparser.AliasedTableExpr{Expr: &sqlparser.DerivedTable{Select: inner}, As: sqlparser.NewIdentifierCS("__sg_found")}},
		}
	}
	ctx.SQL = ""
	countPlan, err := NewPlan(count, ctx)
	if err != nil {
		return err
	}
	plan.Primitive = &FoundRows{input: plan.Primitive, count: countPlan}
	plan.CalcFoundRows = true
	plan.Needs.add(countPlan.Needs)
	return nil
}
