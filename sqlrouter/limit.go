package sqlrouter

import (
	"context"
	"math"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// Limit keeps the rows a LIMIT (and OFFSET) selects: literals, or
// placeholders whose row counts the plan bound (see bindLimitParams).
type Limit struct {
	input  Primitive
	count  sqlparser.Expr
	offset sqlparser.Expr // nil: none
}

// Inputs implements Primitive.
func (l *Limit) Inputs() []Primitive { return []Primitive{l.input} }

// Describe implements Primitive.
func (l *Limit) Describe() string {
	line := "Limit"
	if l.offset != nil {
		line += " offset=" + sqlparser.String(l.offset)
	}
	line += " count=" + sqlparser.String(l.count)
	return describeTree(line, input(l.input))
}

// Execute implements Primitive.
func (l *Limit) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	res, err := l.input.Execute(ctx, vc, bv)
	if err != nil || isDryRun(vc) {
		return res, err
	}
	rows, err := applyLimit(res.Rows, l.count, l.offset, bv)
	if err != nil {
		return nil, err
	}
	return withRows(res, rows), nil
}

// limitBindVar carries a multi-shard read's OFFSET + LIMIT to the shards,
// computed at execution so that placeholders work too.
const limitBindVar = "__sg_limit"

// applyLimit keeps the rows a LIMIT (and OFFSET) selects.
func applyLimit(rows []sqltypes.Row, limit, offset sqlparser.Expr, bv map[string]*querypb.BindVariable) ([]sqltypes.Row, error) {
	off, count, err := limitWindow(limit, offset, bv)
	if err != nil {
		return nil, err
	}
	rows = rows[min(off, uint64(len(rows))):]
	return rows[:min(count, uint64(len(rows)))], nil
}

// limitWindow evaluates a LIMIT's offset and row count: literals, or
// placeholders whose row counts bindLimitParams bound.
func limitWindow(limit, offset sqlparser.Expr, bv map[string]*querypb.BindVariable) (uint64, uint64, error) {
	eval := func(e sqlparser.Expr) (uint64, error) {
		if e == nil {
			return 0, nil
		}
		v, err := evalValue(e, bv)
		if err != nil {
			return 0, sqlerr.Internal("LIMIT: %v", err)
		}
		n, err := v.ToUint64()
		if err != nil {
			return 0, sqlerr.New(1210, "HY000", "Incorrect arguments to LIMIT: %s", v.String())
		}
		return n, nil
	}
	off, err := eval(offset)
	if err != nil {
		return 0, 0, err
	}
	count, err := eval(limit)
	return off, count, err
}

func saturatingAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// withBindVar is bv with one more variable (bv itself is not changed).
func withBindVar(bv map[string]*querypb.BindVariable, name string, v *querypb.BindVariable) map[string]*querypb.BindVariable {
	out := make(map[string]*querypb.BindVariable, len(bv)+1)
	for k, x := range bv {
		out[k] = x
	}
	out[name] = v
	return out
}
