package sqlrouter

import (
	"context"
	"fmt"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// Union concatenates the answers of a UNION's sides, each run by its own
// plan, converted to the union's column types, and removes duplicates as
// MySQL removes them: a UNION DISTINCT removes them from every side to
// its left. (The union's ORDER BY and LIMIT are a Sort and a Limit
// above it.) The columns come from columns: the union run on one shard
// with every WHERE impossible.
type Union struct {
	sides []Primitive
	// distinctUpTo is the number of leading sides whose rows are
	// deduplicated together (0: UNION ALL throughout).
	distinctUpTo int
	columns      Primitive
}

// Inputs implements Primitive.
func (u *Union) Inputs() []Primitive { return append([]Primitive{u.columns}, u.sides...) }

// Describe implements Primitive.
func (u *Union) Describe() string {
	line := "Union"
	if u.distinctUpTo > 0 {
		line += fmt.Sprintf(" distinct(first %d)", u.distinctUpTo)
	}
	ins := []labeled{{label: "columns", p: u.columns}}
	for _, s := range u.sides {
		ins = append(ins, input(s))
	}
	return describeTree(line, ins...)
}

// Execute implements Primitive.
func (u *Union) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	fres, err := u.columns.Execute(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	fields := fres.Fields
	var rows []sqltypes.Row
	for i, side := range u.sides {
		res, err := side.Execute(ctx, vc, bv)
		if err != nil {
			return nil, err
		}
		if len(res.Rows) > 0 && len(res.Rows[0]) != len(fields) {
			return nil, sqlerr.New(1222, "21000", "The used SELECT statements have a different number of columns")
		}
		for _, row := range res.Rows {
			out := make(sqltypes.Row, len(row))
			for c, v := range row {
				out[c] = conform(v, fields[c])
			}
			rows = append(rows, out)
		}
		if i+1 == u.distinctUpTo {
			if rows, err = dedupe(fields, rows, len(fields)); err != nil {
				return nil, err
			}
		}
	}
	if isDryRun(vc) {
		return &sqltypes.Result{}, nil
	}
	return &sqltypes.Result{Fields: fields, Rows: rows}, nil
}
