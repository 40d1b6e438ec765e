package sqlrouter

import (
	"context"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// Filter keeps the rows of its input a condition holds for (NULL is
// false): HAVING over groups, or conditions the gate evaluates over
// joined rows. The result's fields are the input's, with the columns the
// input could not type typed from its first row, as the condition was
// evaluated.
type Filter struct {
	input Primitive
	cond  *gateExpr
	// label names the condition in Describe ("having", "where").
	label string
}

// Inputs implements Primitive.
func (f *Filter) Inputs() []Primitive {
	return append([]Primitive{f.input}, f.cond.applyPlans()...)
}

// Describe implements Primitive.
func (f *Filter) Describe() string {
	return describeTree("Filter "+f.label+" "+f.cond.describe(), append([]labeled{input(f.input)}, applyInputs(f.cond)...)...)
}

// Execute implements Primitive.
func (f *Filter) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	res, err := f.input.Execute(ctx, vc, bv)
	if err != nil || isDryRun(vc) || len(res.Rows) == 0 {
		return res, err
	}
	ev := newEvaluator(ctx, vc, bv, typedFields(res.Fields, len(res.Fields), res.Rows[0]))
	kept := make([]sqltypes.Row, 0, len(res.Rows))
	for _, row := range res.Rows {
		ok, err := ev.truth(f.cond, row)
		if err != nil {
			return nil, err
		}
		if ok {
			kept = append(kept, row)
		}
	}
	out := withRows(res, kept)
	out.Fields = ev.fields
	return out, nil
}
