package sqlrouter

import (
	"context"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// Subqueries runs a statement's uncorrelated subqueries, then the
// statement with their answers bound.
type Subqueries struct {
	subqueries []subquery
	outer      Primitive
}

// Inputs implements Primitive: the subqueries, then the statement.
func (s *Subqueries) Inputs() []Primitive {
	out := make([]Primitive, 0, len(s.subqueries)+1)
	for _, sq := range s.subqueries {
		out = append(out, sq.plan.Primitive)
	}
	return append(out, s.outer)
}

// Describe implements Primitive.
func (s *Subqueries) Describe() string {
	ins := make([]labeled, 0, len(s.subqueries)+1)
	for _, sq := range s.subqueries {
		ins = append(ins, labeled{label: ":" + sq.value, p: sq.plan.Primitive})
	}
	ins = append(ins, labeled{label: "then", p: s.outer})
	return describeTree("Subqueries", ins...)
}

// Execute implements Primitive.
func (s *Subqueries) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	all, err := s.bind(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	return s.outer.Execute(ctx, vc, all)
}

// bind runs the subqueries and returns bv with their answers.
func (s *Subqueries) bind(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (map[string]*querypb.BindVariable, error) {
	all := make(map[string]*querypb.BindVariable, len(bv)+2*len(s.subqueries))
	for k, v := range bv {
		all[k] = v
	}
	for _, sq := range s.subqueries {
		res, err := sq.plan.Execute(ctx, vc, bv)
		if err != nil {
			return nil, err
		}
		if err := bindSubqueryAnswer(all, sq.kind, sq.value, sq.hasValues, res); err != nil {
			return nil, err
		}
	}
	return all, nil
}
