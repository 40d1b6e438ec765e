package sqlrouter

import (
	"context"
	"fmt"
	"strings"

	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
	"vitess.io/vitess/go/vt/vtgate/evalengine"
)

// gateFrom reads the fetch groups of a gate-evaluated SELECT and joins
// their rows by nested loop: each row of the result is the groups' rows
// side by side.
type gateFrom struct {
	groups []*gateGroup
	width  int
}

// gateGroup is one group's read and how its rows join the rows before it.
type gateGroup struct {
	read         Primitive
	width, start int
	left         bool // LEFT JOIN: rows before it without a match stay, with NULLs
	// keyLeft computes, over the rows before this group, the values sent to
	// its read as the IN list keyBindVar; keySlot is the column of its own
	// rows those values are compared with (-1: no key).
	keyLeft    *gateExpr
	keySlot    int
	keyBindVar string
	cond       *gateExpr // decides which row pairs match
	post       *gateExpr // filters the joined rows
}

func (f *gateFrom) describe() string {
	parts := make([]string, len(f.groups))
	for i, g := range f.groups {
		var b strings.Builder
		if i > 0 {
			if g.left {
				b.WriteString("LeftJoin ")
			} else {
				b.WriteString("Join ")
			}
		}
		if g.keyLeft != nil {
			fmt.Fprintf(&b, "key(%s = col%d) ", sqlparser.String(g.keyLeft.ast), g.start+g.keySlot)
		}
		if g.cond != nil {
			fmt.Fprintf(&b, "on(%s) ", g.cond.describe())
		}
		if g.post != nil {
			fmt.Fprintf(&b, "filter(%s) ", g.post.describe())
		}
		b.WriteString("[" + g.read.Describe() + "]")
		parts[i] = b.String()
	}
	return strings.Join(parts, " ")
}

// execute returns the joined rows and their fields (a group that answered
// without fields contributes NULL-typed ones).
func (f *gateFrom) execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) ([]*querypb.Field, []sqltypes.Row, error) {
	var fields []*querypb.Field
	var rows []sqltypes.Row
	dryRun := false
	for gi, g := range f.groups {
		if gi > 0 && len(rows) == 0 && dryRun {
			// A dry run (VEXPLAIN, shardctl explain) answers no rows: show
			// what the later reads would send anyway.
			gbv := bv
			if g.keyBindVar != "" {
				gbv = withBindVar(bv, g.keyBindVar, &querypb.BindVariable{Type: querypb.Type_TUPLE, Values: []*querypb.Value{sqltypes.ValueToProto(sqltypes.NULL)}})
			}
			if _, err := g.read.Execute(ctx, vc, gbv); err != nil {
				return nil, nil, err
			}
			fields = append(fields, nullFields(g.width)...)
			continue
		}
		if gi > 0 && len(rows) == 0 {
			// Nothing joins no rows, whatever the join.
			for _, later := range f.groups[gi:] {
				fields = append(fields, nullFields(later.width)...)
			}
			return fields, nil, nil
		}
		gbv := bv
		read := true
		if g.keyBindVar != "" {
			keys, err := f.keys(ctx, vc, bv, fields, rows, g)
			if err != nil {
				return nil, nil, err
			}
			if len(keys.Values) == 0 {
				read = false // no row before has a key that can match
			}
			gbv = withBindVar(bv, g.keyBindVar, keys)
		}
		res := &sqltypes.Result{}
		if read {
			var err error
			if res, err = g.read.Execute(ctx, vc, gbv); err != nil {
				return nil, nil, err
			}
		}
		gfields := res.Fields
		if gi == 0 && len(gfields) == 0 && len(res.Rows) == 0 {
			dryRun = true // a real read always reports its columns
		}
		if len(gfields) != g.width {
			if len(gfields) != 0 || len(res.Rows) != 0 {
				return nil, nil, fmt.Errorf("join: a read returned %d columns, %d expected", len(gfields), g.width)
			}
			gfields = nullFields(g.width)
		}
		fields = append(fields, gfields...)
		if gi == 0 {
			rows = res.Rows
		} else {
			var err error
			if rows, err = f.join(ctx, vc, bv, fields, rows, res.Rows, g); err != nil {
				return nil, nil, err
			}
		}
		if g.post != nil && len(rows) > 0 {
			ev := newEvaluator(ctx, vc, bv, typedFields(fields, len(fields), rows[0]))
			kept := rows[:0]
			for _, row := range rows {
				ok, err := ev.truth(g.post, row)
				if err != nil {
					return nil, nil, err
				}
				if ok {
					kept = append(kept, row)
				}
			}
			rows = kept
		}
	}
	return fields, rows, nil
}

func nullFields(n int) []*querypb.Field {
	out := make([]*querypb.Field, n)
	for i := range out {
		out[i] = &querypb.Field{Name: offsetName(i), Type: sqltypes.Null, Charset: uint32(collations.CollationBinaryID)}
	}
	return out
}

// keys computes the distinct non-NULL join keys of the rows before g.
func (f *gateFrom) keys(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable, fields []*querypb.Field, rows []sqltypes.Row, g *gateGroup) (*querypb.BindVariable, error) {
	list := &querypb.BindVariable{Type: querypb.Type_TUPLE}
	if len(rows) == 0 {
		return list, nil
	}
	ev := newEvaluator(ctx, vc, bv, typedFields(fields, len(fields), rows[0]))
	seen := map[string]bool{}
	for _, row := range rows {
		v, err := ev.value(g.keyLeft, row)
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

// join pairs the rows before g (left, of len(fields)-g.width columns) with
// g's rows (right). Candidates are found by hashing the join key when both
// sides' keys compare alike; every candidate pair is decided by the join
// condition, evaluated as MySQL would.
func (f *gateFrom) join(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable, fields []*querypb.Field, left, right []sqltypes.Row, g *gateGroup) ([]sqltypes.Row, error) {
	leftWidth := len(fields) - g.width
	var sample sqltypes.Row
	if len(right) > 0 {
		sample = concatRows(left[0], right[0], leftWidth, g.width)
	} else {
		sample = concatRows(left[0], nil, leftWidth, g.width)
	}
	ev := newEvaluator(ctx, vc, bv, typedFields(fields, len(fields), sample))
	var hasher *keyHasher
	if g.keyLeft != nil && len(right) > 0 {
		hasher = newKeyHasher(g, fields, leftWidth, left[0], right[0])
	}
	var buckets map[string][]int
	if hasher != nil {
		buckets = map[string][]int{}
		for i, r := range right {
			if k, ok := hasher.right(r[g.keySlot]); ok {
				buckets[k] = append(buckets[k], i)
			}
		}
	}
	leftEv := newEvaluator(ctx, vc, bv, typedFields(fields[:leftWidth], leftWidth, left[0]))
	var out []sqltypes.Row
	for _, l := range left {
		matched := false
		try := func(r sqltypes.Row) error {
			row := concatRows(l, r, leftWidth, g.width)
			if g.cond != nil {
				ok, err := ev.truth(g.cond, row)
				if err != nil || !ok {
					return err
				}
			}
			matched = true
			out = append(out, row)
			return nil
		}
		if hasher != nil {
			v, err := leftEv.value(g.keyLeft, l)
			if err != nil {
				return nil, err
			}
			if k, ok := hasher.left(v); ok {
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
		if !matched && g.left {
			out = append(out, concatRows(l, nil, leftWidth, g.width))
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

func newKeyHasher(g *gateGroup, fields []*querypb.Field, leftWidth int, sampleLeft, sampleRight sqltypes.Row) *keyHasher {
	rf := fields[leftWidth+g.keySlot]
	// The left key's type: its column's when it is one, else its value's.
	var lt sqltypes.Type
	lcoll := collations.Unknown
	if off, ok := g.keyLeft.ast.(*sqlparser.Offset); ok && off.V < leftWidth && fields[off.V].Type != sqltypes.Null {
		lt, lcoll = fields[off.V].Type, collations.ID(fields[off.V].Charset)
	} else {
		return nil
	}
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

func (h *keyHasher) left(v sqltypes.Value) (string, bool)  { return h.key(v) }
func (h *keyHasher) right(v sqltypes.Value) (string, bool) { return h.key(v) }
