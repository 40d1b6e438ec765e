package sqlrouter

import (
	"context"
	"fmt"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/vtgate/evalengine"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// Distinct keeps the first of each set of rows equal in all but their
// last hidden columns (columns only the gate uses, like sort keys), equal
// as MySQL compares them (text by its column's collation, numbers by
// value).
type Distinct struct {
	input  Primitive
	hidden int
}

// Inputs implements Primitive.
func (d *Distinct) Inputs() []Primitive { return []Primitive{d.input} }

// Describe implements Primitive.
func (d *Distinct) Describe() string {
	line := "Distinct"
	if d.hidden > 0 {
		line += fmt.Sprintf(" (not the last %d)", d.hidden)
	}
	return describeTree(line, input(d.input))
}

// Execute implements Primitive.
func (d *Distinct) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	res, err := d.input.Execute(ctx, vc, bv)
	if err != nil || isDryRun(vc) {
		return res, err
	}
	rows, err := dedupe(res.Fields, res.Rows, len(res.Fields)-d.hidden)
	if err != nil {
		return nil, err
	}
	return withRows(res, rows), nil
}

// withRows is res with other rows (res itself is not changed).
func withRows(res *sqltypes.Result, rows []sqltypes.Row) *sqltypes.Result {
	out := *res
	out.Rows = rows
	return &out
}

// dedupe keeps the first row of each set of rows equal in the first n
// columns. It reuses rows' array.
func dedupe(fields []*querypb.Field, rows []sqltypes.Row, n int) ([]sqltypes.Row, error) {
	cols := make([]int, n)
	for i := range cols {
		cols[i] = i
	}
	seen := map[string]bool{}
	out := rows[:0]
	var buf []byte
	for _, row := range rows {
		var err error
		if buf, err = key(buf[:0], fields, row, cols); err != nil {
			return nil, err
		}
		if !seen[string(buf)] {
			seen[string(buf)] = true
			out = append(out, row)
		}
	}
	return out, nil
}

// key appends a comparable, collation-aware key of the columns to dst:
// two rows get the same key exactly when MySQL finds them equal in those
// columns, compared as the columns' types.
func key(dst []byte, fields []*querypb.Field, row sqltypes.Row, cols []int) ([]byte, error) {
	for _, c := range cols {
		f := fields[c]
		if row[c].IsNull() {
			dst = append(dst, 0)
			continue
		}
		dst = append(dst, 1)
		// Decimals are keyed at MySQL's largest precision and scale, so
		// that every value keeps all of its digits.
		length, scale := 0, 0
		typ := f.Type
		switch {
		case sqltypes.IsDecimal(typ):
			length, scale = 65, 30
		case typ == sqltypes.Enum || typ == sqltypes.Set:
			// Equal exactly when their text is equal (the definition's
			// positions are not in the result).
			typ = sqltypes.VarChar
		}
		w, _, err := evalengine.WeightString(nil, row[c], typ, collationOf(f), length, scale, nil, 0)
		if err != nil {
			return nil, sqlerr.Internal("grouping key of column %s: %v", f.Name, err)
		}
		// Length-prefix each part so that keys of different splits differ.
		dst = append(dst, byte(len(w)>>24), byte(len(w)>>16), byte(len(w)>>8), byte(len(w)))
		dst = append(dst, w...)
	}
	return dst, nil
}
