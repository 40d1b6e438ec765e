package sqlrouter

import (
	"context"
	"fmt"
	"strings"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
	"vitess.io/vitess/go/vt/vtgate/evalengine"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// joinKeysBindVar carries the left side's join keys to the right side.
const joinKeysBindVar = "__join_keys"

// Join is a nested-loop join of two reads that cannot run together on
// each shard: it runs the left read, sends the right read the left rows'
// distinct join keys as one IN list, and pairs rows whose keys are equal
// as MySQL compares them. With outer set, left rows without a match are
// kept with NULLs on the right (LEFT JOIN).
type Join struct {
	left, right Primitive
	outer       bool
	// leftKey and rightKey are the key columns' positions in their sides'
	// results (the last column of each, added for the join).
	leftKey, rightKey int
	// cols says where each output column comes from: side 0 left, 1 right.
	cols []joinCol
	// limit, when set, truncates the joined rows (LIMIT without ORDER BY).
	limit sqlparser.Expr
}

type joinCol struct {
	side, index int
}

// Describe implements Primitive.
func (j *Join) Describe() string {
	kind := "Join"
	if j.outer {
		kind = "LeftJoin"
	}
	cols := make([]string, len(j.cols))
	for i, c := range j.cols {
		cols[i] = fmt.Sprintf("%s%d", [2]string{"L", "R"}[c.side], c.index)
	}
	limit := ""
	if j.limit != nil {
		limit = " limit=" + sqlparser.String(j.limit)
	}
	return fmt.Sprintf("%s on L%d=R%d cols=[%s]%s (left: %s) (right: %s)", kind, j.leftKey, j.rightKey, strings.Join(cols, " "), limit,
		j.left.Describe(), j.right.Describe())
}

// Execute implements Primitive.
func (j *Join) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	left, err := j.left.Execute(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	keys := &querypb.BindVariable{Type: querypb.Type_TUPLE}
	seen := map[string]bool{}
	for _, row := range left.Rows {
		k := row[j.leftKey]
		if k.IsNull() || seen[k.String()] {
			continue // NULL equals nothing
		}
		seen[k.String()] = true
		keys.Values = append(keys.Values, sqltypes.ValueToProto(k))
	}
	if len(keys.Values) == 0 {
		// Still run the right side, for its columns: IN (NULL) matches
		// nothing.
		keys.Values = []*querypb.Value{sqltypes.ValueToProto(sqltypes.NULL)}
	}
	right, err := j.right.Execute(ctx, vc, withBindVar(bv, joinKeysBindVar, keys))
	if err != nil {
		return nil, err
	}
	if len(left.Fields) == 0 && len(left.Rows) == 0 && len(right.Fields) == 0 {
		return &sqltypes.Result{}, nil // a dry run answers no columns
	}
	if len(left.Fields) <= j.leftKey || len(right.Fields) <= j.rightKey {
		return nil, sqlerr.Internal("join: a side returned too few columns")
	}

	// Right rows by their key, compared as the left key's type compares.
	lf := left.Fields[j.leftKey]
	byKey := map[string][]sqltypes.Row{}
	for _, row := range right.Rows {
		k, ok, err := joinKey(row[j.rightKey], lf)
		if err != nil {
			return nil, err
		}
		if ok {
			byKey[k] = append(byKey[k], row)
		}
	}
	res := &sqltypes.Result{Fields: make([]*querypb.Field, len(j.cols))}
	for i, c := range j.cols {
		if c.side == 0 {
			res.Fields[i] = left.Fields[c.index]
		} else {
			res.Fields[i] = right.Fields[c.index]
		}
	}
	limit := int64(-1)
	if j.limit != nil {
		v, err := evalValue(j.limit, bv)
		if err != nil {
			return nil, sqlerr.Internal("LIMIT: %v", err)
		}
		if limit, err = v.ToInt64(); err != nil {
			return nil, sqlerr.New(1210, "HY000", "Incorrect arguments to LIMIT")
		}
	}
	emit := func(l, r sqltypes.Row) bool {
		row := make(sqltypes.Row, len(j.cols))
		for i, c := range j.cols {
			switch {
			case c.side == 0:
				row[i] = l[c.index]
			case r == nil:
				row[i] = sqltypes.NULL
			default:
				row[i] = r[c.index]
			}
		}
		res.Rows = append(res.Rows, row)
		return limit < 0 || int64(len(res.Rows)) < limit
	}
	for _, l := range left.Rows {
		var matches []sqltypes.Row
		if k, ok, err := joinKey(l[j.leftKey], lf); err != nil {
			return nil, err
		} else if ok {
			matches = byKey[k]
		}
		if len(matches) == 0 && j.outer {
			if !emit(l, nil) {
				return res, nil
			}
			continue
		}
		for _, r := range matches {
			if !emit(l, r) {
				return res, nil
			}
		}
	}
	if limit == 0 {
		res.Rows = nil
	}
	return res, nil
}

// joinKey is a key under which values MySQL finds equal coincide: the
// weight string of the value coerced to the left key's type and collation.
// NULL has no key (ok false).
func joinKey(v sqltypes.Value, like *querypb.Field) (string, bool, error) {
	if v.IsNull() {
		return "", false, nil
	}
	length, scale := 0, 0
	if sqltypes.IsDecimal(like.Type) {
		length, scale = 65, 30
	}
	w, _, err := evalengine.WeightString(nil, v, like.Type, collationOf(like), length, scale, nil, 0)
	if err != nil {
		// A value the left type cannot hold equals no left value.
		return "", false, nil
	}
	return string(w), true, nil
}
