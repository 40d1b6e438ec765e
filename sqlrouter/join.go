package sqlrouter

import (
	"context"
	"fmt"

	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
	"vitess.io/vitess/go/vt/vtgate/evalengine"
)

// Join pairs the rows of its left input (reads joined already) with the
// rows of a read of its own (right), side by side, by nested loop. When a
// join key is known, the right read gets the left rows' distinct keys as
// the IN list keyBindVar (so it is routed by vindex when it can be) and
// candidate pairs are found by hashing the key; every candidate pair is
// decided by the join condition, evaluated as MySQL would. A LEFT JOIN
// keeps the left rows without a match, with NULLs.
type Join struct {
	left, right Primitive
	rightWidth  int
	leftJoin    bool
	// keyLeft computes, over the left rows, the values sent to the right
	// read as the IN list keyBindVar; keySlot is the column of the right
	// rows those values are compared with (-1: no key).
	keyLeft    *gateExpr
	keySlot    int
	keyBindVar string
	cond       *gateExpr // decides which row pairs match; nil: all
}

// Inputs implements Primitive.
func (j *Join) Inputs() []Primitive {
	out := []Primitive{j.left, j.right}
	for _, e := range []*gateExpr{j.keyLeft, j.cond} {
		out = append(out, e.applyPlans()...)
	}
	return out
}

// Describe implements Primitive.
func (j *Join) Describe() string {
	line := "Join"
	if j.leftJoin {
		line = "LeftJoin"
	}
	if j.keyLeft != nil {
		line += fmt.Sprintf(" key(%s = right col%d)", sqlparser.String(j.keyLeft.ast), j.keySlot)
	}
	if j.cond != nil {
		line += " on(" + j.cond.describe() + ")"
	}
	return describeTree(line, append([]labeled{input(j.left), input(j.right)}, applyInputs(j.keyLeft, j.cond)...)...)
}

// Execute implements Primitive.
func (j *Join) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	left, err := j.left.Execute(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	if isDryRun(vc) {
		// A dry run (VEXPLAIN, shardctl explain) answers no rows: show
		// what the right read would send anyway.
		rbv := bv
		if j.keyBindVar != "" {
			rbv = withBindVar(bv, j.keyBindVar, &querypb.BindVariable{Type: querypb.Type_TUPLE, Values: []*querypb.Value{sqltypes.ValueToProto(sqltypes.NULL)}})
		}
		if _, err := j.right.Execute(ctx, vc, rbv); err != nil {
			return nil, err
		}
		return &sqltypes.Result{}, nil
	}
	fields := left.Fields
	if len(left.Rows) == 0 {
		// Nothing joins no rows, whatever the join.
		return &sqltypes.Result{Fields: append(fields[:len(fields):len(fields)], nullFields(j.rightWidth)...)}, nil
	}
	rbv := bv
	read := true
	if j.keyBindVar != "" {
		keys, err := j.keys(ctx, vc, bv, fields, left.Rows)
		if err != nil {
			return nil, err
		}
		if len(keys.Values) == 0 {
			read = false // no left row has a key that can match
		}
		rbv = withBindVar(bv, j.keyBindVar, keys)
	}
	right := &sqltypes.Result{}
	if read {
		if right, err = j.right.Execute(ctx, vc, rbv); err != nil {
			return nil, err
		}
	}
	rfields := right.Fields
	if len(rfields) != j.rightWidth {
		if len(rfields) != 0 || len(right.Rows) != 0 {
			return nil, fmt.Errorf("join: a read returned %d columns, %d expected", len(rfields), j.rightWidth)
		}
		rfields = nullFields(j.rightWidth)
	}
	fields = append(fields[:len(fields):len(fields)], rfields...)
	rows, err := j.join(ctx, vc, bv, fields, left.Rows, right.Rows)
	if err != nil {
		return nil, err
	}
	return &sqltypes.Result{Fields: fields, Rows: rows}, nil
}

func nullFields(n int) []*querypb.Field {
	out := make([]*querypb.Field, n)
	for i := range out {
		out[i] = &querypb.Field{Name: offsetName(i), Type: sqltypes.Null, Charset: uint32(collations.CollationBinaryID)}
	}
	return out
}

// keys computes the distinct non-NULL join keys of the left rows.
func (j *Join) keys(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable, fields []*querypb.Field, rows []sqltypes.Row) (*querypb.BindVariable, error) {
	list := &querypb.BindVariable{Type: querypb.Type_TUPLE}
	ev := newEvaluator(ctx, vc, bv, typedFields(fields, len(fields), rows[0]))
	seen := map[string]bool{}
	for _, row := range rows {
		v, err := ev.value(j.keyLeft, row)
		if err != nil {
			return nil, err
		}
		if v.IsNull() {
			continue // NULL equals nothing
		}
		k := v.Type().String() + "\x00" + v.ToString()
		if seen[k] {
			continue
		}
		seen[k] = true
		list.Values = append(list.Values, sqltypes.ValueToProto(v))
	}
	return list, nil
}

// join pairs the left rows (of len(fields)-rightWidth columns) with the
// right ones.
func (j *Join) join(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable, fields []*querypb.Field, left, right []sqltypes.Row) ([]sqltypes.Row, error) {
	leftWidth := len(fields) - j.rightWidth
	var sample sqltypes.Row
	if len(right) > 0 {
		sample = concatRows(left[0], right[0], leftWidth, j.rightWidth)
	} else {
		sample = concatRows(left[0], nil, leftWidth, j.rightWidth)
	}
	ev := newEvaluator(ctx, vc, bv, typedFields(fields, len(fields), sample))
	var hasher *keyHasher
	if j.keyLeft != nil && len(right) > 0 {
		hasher = newKeyHasher(j, fields, leftWidth)
	}
	var buckets map[string][]int
	if hasher != nil {
		buckets = map[string][]int{}
		for i, r := range right {
			if k, ok := hasher.key(r[j.keySlot]); ok {
				buckets[k] = append(buckets[k], i)
			}
		}
	}
	leftEv := newEvaluator(ctx, vc, bv, typedFields(fields[:leftWidth], leftWidth, left[0]))
	var out []sqltypes.Row
	for _, l := range left {
		matched := false
		try := func(r sqltypes.Row) error {
			row := concatRows(l, r, leftWidth, j.rightWidth)
			if j.cond != nil {
				ok, err := ev.truth(j.cond, row)
				if err != nil || !ok {
					return err
				}
			}
			matched = true
			out = append(out, row)
			return nil
		}
		if hasher != nil {
			v, err := leftEv.value(j.keyLeft, l)
			if err != nil {
				return nil, err
			}
			if k, ok := hasher.key(v); ok {
				for _, i := range buckets[k] {
					if err := try(right[i]); err != nil {
						return nil, err
					}
				}
			}
		} else {
			for _, r := range right {
				if err := try(r); err != nil {
					return nil, err
				}
			}
		}
		if !matched && j.leftJoin {
			out = append(out, concatRows(l, nil, leftWidth, j.rightWidth))
		}
	}
	return out, nil
}

// concatRows is l then r (or NULLs when r is nil).
func concatRows(l, r sqltypes.Row, lw, rw int) sqltypes.Row {
	row := make(sqltypes.Row, lw+rw)
	copy(row, l)
	if r == nil {
		for i := lw; i < lw+rw; i++ {
			row[i] = sqltypes.NULL
		}
	} else {
		copy(row[lw:], r)
	}
	return row
}

// keyHasher hashes join key values so that values MySQL finds equal get
// the same key. It exists only when both sides' keys are of one kind
// (integers, decimals, text of one collation, or one temporal type);
// otherwise the join compares every pair.
type keyHasher struct {
	kind keyKind
	coll collations.ID
}

type keyKind int

const (
	keyInt keyKind = iota
	keyDecimal
	keyText
	keyExact
)

func newKeyHasher(j *Join, fields []*querypb.Field, leftWidth int) *keyHasher {
	rf := fields[leftWidth+j.keySlot]
	// The left key's type: its column's when it is one.
	off, ok := j.keyLeft.ast.(*sqlparser.Offset)
	if !ok || off.V >= leftWidth || fields[off.V].Type == sqltypes.Null {
		return nil
	}
	lt, lcoll := fields[off.V].Type, collations.ID(fields[off.V].Charset)
	rt := rf.Type
	switch {
	case sqltypes.IsIntegral(lt) && sqltypes.IsIntegral(rt):
		return &keyHasher{kind: keyInt}
	case sqltypes.IsDecimal(lt) && sqltypes.IsDecimal(rt):
		return &keyHasher{kind: keyDecimal}
	case sqltypes.IsText(lt) && sqltypes.IsText(rt) && lcoll == collations.ID(rf.Charset):
		return &keyHasher{kind: keyText, coll: lcoll}
	case lt == rt && (sqltypes.IsDate(lt) || lt == sqltypes.Time):
		return &keyHasher{kind: keyExact}
	}
	return nil
}

func (h *keyHasher) key(v sqltypes.Value) (string, bool) {
	if v.IsNull() {
		return "", false
	}
	switch h.kind {
	case keyInt:
		if !v.IsIntegral() {
			return "", false
		}
		return v.ToString(), true
	case keyDecimal:
		w, _, err := evalengine.WeightString(nil, v, sqltypes.Decimal, collations.CollationBinaryID, 65, 30, nil, 0)
		return string(w), err == nil
	case keyText:
		w, _, err := evalengine.WeightString(nil, v, sqltypes.VarChar, h.coll, 0, 0, nil, 0)
		return string(w), err == nil
	}
	return v.ToString(), true
}
