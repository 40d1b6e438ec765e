package sqlrouter

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/mysql/decimal"
	"vitess.io/vitess/go/mysql/format"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
	"vitess.io/vitess/go/vt/vtgate/evalengine"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// defaultCollation is MariaDB's default collation of utf8mb4, used for
// text the gate computes itself (its columns' own collations are used
// where they are known).
var defaultCollation = collationEnv.LookupByName("utf8mb4_general_ci")

// gateExpr is an expression the gate evaluates over rows it holds. Its
// columns are offsets into the row (sqlparser.Offset nodes). It is
// translated for evaluation once the columns' types are known, at the
// first execution, and kept per set of column types.
//
// Correlated subqueries in it run once per row (applies): their answers
// reach the expression as bind variables.
type gateExpr struct {
	ast     sqlparser.Expr
	applies []*rowApply
	// fixed, when set, is the expression compiled once at planning for
	// rows of any types (an expression over merged aggregates); ast is
	// then the expression as written, for Describe.
	fixed evalengine.Expr

	mu      sync.Mutex
	byTypes map[string]evalengine.Expr
}

// describe renders the expression and names the subqueries it runs per
// row (applyInputs shows their plans).
func (g *gateExpr) describe() string {
	s := sqlparser.String(g.ast)
	for _, a := range g.applies {
		s += fmt.Sprintf(" [per row :%s]", a.value)
	}
	return s
}

// applyPlans are the plans of the subqueries g runs per row (none for a
// nil g).
func (g *gateExpr) applyPlans() []Primitive {
	if g == nil {
		return nil
	}
	out := make([]Primitive, len(g.applies))
	for i, a := range g.applies {
		out[i] = a.plan.Primitive
	}
	return out
}

// applyInputs labels the plans of the subqueries the expressions run per
// row, for Describe.
func applyInputs(exprs ...*gateExpr) []labeled {
	var out []labeled
	for _, g := range exprs {
		if g == nil {
			continue
		}
		for _, a := range g.applies {
			out = append(out, labeled{label: "per row :" + a.value, p: a.plan.Primitive})
		}
	}
	return out
}

// offsetName names the column an Offset stands for, so that type
// resolution can find its field again.
func offsetName(i int) string { return "__sg_off" + strconv.Itoa(i) }

// newOffset returns the node for column i of the row.
func newOffset(i int) *sqlparser.Offset {
	return sqlparser.NewOffset(i, sqlparser.NewColName(offsetName(i)))
}

// compile translates the expression for rows with these fields.
func (g *gateExpr) compile(fields []*querypb.Field) (evalengine.Expr, error) {
	if g.fixed != nil {
		return g.fixed, nil
	}
	var sig strings.Builder
	for _, f := range fields {
		fmt.Fprintf(&sig, "%d/%d/%d/%d,", f.Type, f.Charset, f.Flags&uint32(querypb.MySqlFlag_NOT_NULL_FLAG), f.Decimals)
	}
	key := sig.String()
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.byTypes[key]; ok {
		return e, nil
	}
	e, err := translate(g.ast, &evalengine.Config{
		Environment: evalEnv,
		Collation:   defaultCollation,
		ResolveType: func(e sqlparser.Expr) (evalengine.Type, bool) {
			c, ok := e.(*sqlparser.ColName)
			if !ok {
				return evalengine.Type{}, false
			}
			i, err := strconv.Atoi(strings.TrimPrefix(c.Name.String(), "__sg_off"))
			if err != nil || i < 0 || i >= len(fields) || fields[i].Type == sqltypes.Null {
				return evalengine.Type{}, false
			}
			return evalengine.NewTypeFromField(fields[i]), true
		},
	})
	if err != nil {
		return nil, sqlerr.Unsupported("evaluating %s at the gate: %v", sqlparser.String(g.ast), err)
	}
	if g.byTypes == nil {
		g.byTypes = map[string]evalengine.Expr{}
	}
	g.byTypes[key] = e
	return e, nil
}

// translate is evalengine.Translate, with a panic inside it (it panics
// on some malformed literals the parser lets through, such as 0X) turned
// into the statement's error.
func translate(expr sqlparser.Expr, cfg *evalengine.Config) (out evalengine.Expr, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("cannot evaluate %s: %v", sqlparser.String(expr), r)
		}
	}()
	return evalengine.Translate(expr, cfg)
}

// evaluator evaluates gate expressions over the rows of one execution.
type evaluator struct {
	ctx    context.Context
	vc     VCursor
	bv     map[string]*querypb.BindVariable
	fields []*querypb.Field
	env    *evalengine.ExpressionEnv
}

func newEvaluator(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable, fields []*querypb.Field) *evaluator {
	env := evalengine.NewExpressionEnv(ctx, bv, evalengine.NewEmptyVCursor(evalEnv, time.Local))
	env.Fields = fields
	return &evaluator{ctx: ctx, vc: vc, bv: bv, fields: fields, env: env}
}

// eval computes g over row.
func (ev *evaluator) eval(g *gateExpr, row sqltypes.Row) (evalengine.EvalResult, error) {
	expr, err := g.compile(ev.fields)
	if err != nil {
		return evalengine.EvalResult{}, err
	}
	ev.env.Row = row
	ev.env.BindVars = ev.bv
	if g.fixed != nil {
		// Compiled without column types, it reads none from the fields.
		ev.env.Fields = nil
		defer func() { ev.env.Fields = ev.fields }()
	}
	if len(g.applies) > 0 {
		bv, err := runApplies(ev.ctx, ev.vc, ev.bv, g.applies, row)
		if err != nil {
			return evalengine.EvalResult{}, err
		}
		ev.env.BindVars = bv
	}
	res, err := ev.env.Evaluate(expr)
	if err != nil {
		return evalengine.EvalResult{}, sqlerr.From(err)
	}
	return res, nil
}

// value computes g over row.
func (ev *evaluator) value(g *gateExpr, row sqltypes.Row) (sqltypes.Value, error) {
	if off, ok := g.ast.(*sqlparser.Offset); ok && len(g.applies) == 0 {
		return row[off.V], nil // a column, as read
	}
	res, err := ev.eval(g, row)
	if err != nil {
		return sqltypes.NULL, err
	}
	return res.Value(defaultCollation), nil
}

// truth computes g over row as a condition: NULL is false.
func (ev *evaluator) truth(g *gateExpr, row sqltypes.Row) (bool, error) {
	res, err := ev.eval(g, row)
	if err != nil {
		return false, err
	}
	return res.ToBoolean(), nil
}

// typedFields returns fields with every unknown column (no field, or a
// NULL-typed one from a read that returned nothing) typed from the values
// of row, so that expressions over it translate.
func typedFields(fields []*querypb.Field, width int, row sqltypes.Row) []*querypb.Field {
	out := make([]*querypb.Field, width)
	for i := range out {
		if i < len(fields) && fields[i] != nil && fields[i].Type != sqltypes.Null {
			out[i] = fields[i]
			continue
		}
		typ := sqltypes.Null
		if i < len(row) {
			typ = row[i].Type()
		}
		f := &querypb.Field{Name: offsetName(i), Type: typ, Charset: uint32(collations.CollationBinaryID)}
		if sqltypes.IsText(typ) {
			f.Charset = uint32(defaultCollation)
		}
		out[i] = f
	}
	return out
}

// conform renders a value the gate computed as MySQL renders a value of
// the result column f: DECIMAL at the column's scale, floating point in
// MySQL's shortest form, temporal values at the column's precision.
func conform(v sqltypes.Value, f *querypb.Field) sqltypes.Value {
	if v.IsNull() || f == nil {
		return v
	}
	switch {
	case sqltypes.IsDecimal(f.Type):
		d, err := decimal.NewFromString(v.ToString())
		if err != nil {
			return v
		}
		return sqltypes.MakeTrusted(f.Type, []byte(d.StringFixed(int32(f.Decimals))))
	case sqltypes.IsFloat(f.Type):
		x, err := v.ToFloat64()
		if err != nil {
			return v
		}
		if f.Decimals > 0 && f.Decimals < 31 {
			return sqltypes.MakeTrusted(f.Type, []byte(strconv.FormatFloat(x, 'f', int(f.Decimals), 64)))
		}
		return sqltypes.MakeTrusted(f.Type, format.FormatFloat(x))
	case sqltypes.IsIntegral(f.Type):
		if v.IsIntegral() {
			return sqltypes.MakeTrusted(f.Type, v.Raw())
		}
		if d, err := decimal.NewFromString(v.ToString()); err == nil {
			return sqltypes.MakeTrusted(f.Type, []byte(d.Round(0).String()))
		}
	case f.Type == sqltypes.Datetime || f.Type == sqltypes.Timestamp || f.Type == sqltypes.Time:
		s := v.ToString()
		if dot := strings.IndexByte(s, '.'); dot >= 0 && f.Decimals == 0 {
			s = s[:dot]
		} else if dot < 0 && f.Decimals > 0 && f.Decimals <= 6 {
			s += "." + strings.Repeat("0", int(f.Decimals))
		}
		return sqltypes.MakeTrusted(f.Type, []byte(s))
	}
	return sqltypes.MakeTrusted(f.Type, v.Raw())
}
