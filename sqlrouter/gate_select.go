package sqlrouter

import (
	"context"
	"fmt"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// GateSelect is the root of a SELECT the gate evaluates itself over the
// rows it reads from the shards (see planGate): beneath it the reads and
// their joins, then Aggregate, Filter (HAVING), Project, Distinct, Sort
// and Limit as the statement needs them. The Project's trailing hidden
// columns are sort keys that are no output column; GateSelect drops them.
type GateSelect struct {
	input  Primitive
	hidden int
}

// Inputs implements Primitive.
func (g *GateSelect) Inputs() []Primitive { return []Primitive{g.input} }

// Describe implements Primitive.
func (g *GateSelect) Describe() string {
	line := "GateSelect"
	if g.hidden > 0 {
		line += fmt.Sprintf(" (drop %d sort keys)", g.hidden)
	}
	return describeTree(line, input(g.input))
}

// Execute implements Primitive.
func (g *GateSelect) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	res, err := g.input.Execute(ctx, vc, bv)
	if err != nil || g.hidden == 0 || isDryRun(vc) {
		return res, err
	}
	width := len(res.Fields) - g.hidden
	res.Fields = res.Fields[:width]
	for i, r := range res.Rows {
		res.Rows[i] = r[:width]
	}
	return res, nil
}
