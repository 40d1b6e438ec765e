package sqlrouter

import (
	"context"
	"fmt"
	"strings"

	"vitess.io/vitess/go/mysql/decimal"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// Project computes its output columns over each row of its input.
//
// The output columns' metadata comes from columns when set: the statement
// run on one shard with an impossible WHERE, which answers the result's
// columns named and typed exactly as MySQL names and types them (the
// output columns past those, sort keys a Sort above uses, compare as
// text of the default collation). Without it, output column i takes the
// metadata of input column fieldOf[i].
type Project struct {
	input   Primitive
	exprs   []*gateExpr
	render  []render
	columns Primitive
	// visible is the number of output columns columns describes.
	visible int
	fieldOf []int
}

// render is how a projected value is rendered.
type render int

const (
	// renderAsIs: as evaluated (a column as read keeps its text).
	renderAsIs render = iota
	// renderConform: as MySQL renders a value of the output column (see
	// conform).
	renderConform
	// renderScale: an expression over the shards' merged aggregates, in
	// the output column's collation, a DECIMAL at the column's scale.
	renderScale
)

// Inputs implements Primitive.
func (p *Project) Inputs() []Primitive {
	out := []Primitive{p.input}
	if p.columns != nil {
		out = append(out, p.columns)
	}
	for _, e := range p.exprs {
		out = append(out, e.applyPlans()...)
	}
	return out
}

// Describe implements Primitive.
func (p *Project) Describe() string {
	cols := make([]string, len(p.exprs))
	for i, e := range p.exprs {
		cols[i] = e.describe()
	}
	line := fmt.Sprintf("Project [%s]", strings.Join(cols, ", "))
	ins := []labeled{input(p.input)}
	if p.columns != nil {
		ins = append(ins, labeled{label: "columns", p: p.columns})
	}
	return describeTree(line, append(ins, applyInputs(p.exprs...)...)...)
}

// Execute implements Primitive.
func (p *Project) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	var outFields []*querypb.Field
	if p.columns != nil {
		res, err := p.columns.Execute(ctx, vc, bv)
		if err != nil {
			return nil, err
		}
		outFields = res.Fields
	}
	in, err := p.input.Execute(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	if isDryRun(vc) {
		return &sqltypes.Result{}, nil
	}
	if p.columns != nil {
		if len(outFields) != p.visible {
			return nil, sqlerr.Internal("the shards describe %d result columns, the gate computes %d", len(outFields), p.visible)
		}
		outFields = outFields[:p.visible:p.visible]
		for i := p.visible; i < len(p.exprs); i++ {
			outFields = append(outFields, &querypb.Field{Name: offsetName(i), Type: sqltypes.VarChar, Charset: uint32(defaultCollation)})
		}
	} else {
		outFields = make([]*querypb.Field, len(p.exprs))
		for i, c := range p.fieldOf {
			outFields[i] = in.Fields[c]
		}
	}
	out := &sqltypes.Result{Fields: outFields}
	if len(in.Rows) == 0 {
		return out, nil
	}
	ev := newEvaluator(ctx, vc, bv, typedFields(in.Fields, len(in.Fields), in.Rows[0]))
	out.Rows = make([]sqltypes.Row, len(in.Rows))
	for r, row := range in.Rows {
		pr := make(sqltypes.Row, len(p.exprs))
		for i, e := range p.exprs {
			var v sqltypes.Value
			var err error
			if p.render[i] == renderScale {
				v, err = ev.scaled(e, row, outFields[i])
			} else {
				v, err = ev.value(e, row)
			}
			if err != nil {
				return nil, err
			}
			if p.render[i] == renderConform {
				v = conform(v, outFields[i])
			}
			pr[i] = v
		}
		out.Rows[r] = pr
	}
	return out, nil
}

// scaled computes an expression over merged aggregates as a value of the
// output column f: in its collation, and a DECIMAL at its scale, as MySQL
// reports the expression.
func (ev *evaluator) scaled(g *gateExpr, row sqltypes.Row, f *querypb.Field) (sqltypes.Value, error) {
	res, err := ev.eval(g, row)
	if err != nil {
		return sqltypes.NULL, sqlerr.Internal("evaluating column %s: %v", f.Name, err)
	}
	v := res.Value(collationOf(f))
	if sqltypes.IsDecimal(f.Type) && !v.IsNull() {
		d, err := decimal.NewFromMySQL(v.Raw())
		if err == nil {
			v = sqltypes.MakeTrusted(f.Type, []byte(d.StringFixed(int32(f.Decimals))))
		}
	}
	return v, nil
}
