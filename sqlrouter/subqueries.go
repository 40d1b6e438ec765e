package sqlrouter

import (
	"context"
	"strings"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// Subqueries runs a statement's uncorrelated subqueries, then the
// statement with their answers bound.
type Subqueries struct {
	subqueries []subquery
	outer      Primitive
}

// Describe implements Primitive.
func (s *Subqueries) Describe() string {
	parts := make([]string, len(s.subqueries))
	for i, sq := range s.subqueries {
		parts[i] = ":" + sq.value + " = " + sq.plan.Primitive.Describe()
	}
	return "Subqueries [" + strings.Join(parts, "; ") + "] then " + s.outer.Describe()
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
