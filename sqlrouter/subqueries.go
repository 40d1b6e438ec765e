package sqlrouter

import (
	"context"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/sqlerr"
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
	all := make(map[string]*querypb.BindVariable, len(bv)+2*len(s.subqueries))
	for k, v := range bv {
		all[k] = v
	}
	for _, sq := range s.subqueries {
		res, err := sq.plan.Execute(ctx, vc, bv)
		if err != nil {
			return nil, err
		}
		has := int64(0)
		if len(res.Rows) > 0 {
			has = 1
		}
		all[sq.hasValues] = sqltypes.Int64BindVariable(has)
		switch sq.kind {
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
			all[sq.value] = list
		case subqueryScalar:
			switch {
			case len(res.Rows) > 1:
				return nil, sqlerr.New(sqlerror.ERSubqueryNo1Row, "21000", "Subquery returns more than 1 row")
			case len(res.Rows) == 1 && len(res.Rows[0]) != 1:
				return nil, sqlerr.New(sqlerror.EROperandColumns, "21000", "Operand should contain 1 column(s)")
			case len(res.Rows) == 1:
				all[sq.value] = sqltypes.ValueBindVariable(res.Rows[0][0])
			default:
				all[sq.value] = sqltypes.NullBindVariable
			}
		}
	}
	return s.outer.Execute(ctx, vc, all)
}
