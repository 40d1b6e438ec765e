package sqlrouter

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/vtgate/evalengine"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// Sort orders its input's rows stably by keys, with MySQL's comparison:
// NULL first, numbers as numbers, text by the column's collation.
type Sort struct {
	input Primitive
	keys  []orderKey
}

// colRef finds a column of a result: by position, or by name when the
// select list has a * and positions are known only at execution.
type colRef struct {
	index int    // -1: find by name
	name  string // lower-cased
}

type orderKey struct {
	col  colRef
	desc bool
}

// Inputs implements Primitive.
func (s *Sort) Inputs() []Primitive { return []Primitive{s.input} }

// Describe implements Primitive.
func (s *Sort) Describe() string {
	return describeTree("Sort "+describeKeys(s.keys), input(s.input))
}

// Execute implements Primitive.
func (s *Sort) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	res, err := s.input.Execute(ctx, vc, bv)
	if err != nil || isDryRun(vc) {
		return res, err
	}
	if err := sortRows(res.Fields, res.Rows, s.keys, false); err != nil {
		return nil, err
	}
	return res, nil
}

// describeKeys renders ORDER BY keys as "0, name desc".
func describeKeys(keys []orderKey) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = ref(k.col)
		if k.desc {
			parts[i] += " desc"
		}
	}
	return strings.Join(parts, ", ")
}

func ref(c colRef) string {
	if c.index >= 0 {
		return fmt.Sprint(c.index)
	}
	return c.name
}

// resolve turns a colRef into a column index of fields.
func resolve(c colRef, fields []*querypb.Field) (int, error) {
	if c.index >= 0 {
		if c.index >= len(fields) {
			return 0, sqlerr.Internal("merge: column %d of %d", c.index, len(fields))
		}
		return c.index, nil
	}
	for i, f := range fields {
		if strings.EqualFold(f.Name, c.name) {
			return i, nil
		}
	}
	return 0, sqlerr.New(1054, "42S22", "Unknown column '%s' in 'order clause'", c.name)
}

// collationOf is the collation a column's values compare under.
func collationOf(f *querypb.Field) collations.ID {
	if sqltypes.IsText(f.Type) || sqltypes.IsBinary(f.Type) {
		return collations.ID(f.Charset)
	}
	return collations.CollationBinaryID
}

// sortRows sorts rows stably by keys with MySQL's comparison: NULL first,
// numbers as numbers, text by the column's collation. ENUM and SET columns
// are sorted by their text only when implicit (GROUP BY's order, which
// MySQL does not promise): an ORDER BY of them is refused.
func sortRows(fields []*querypb.Field, rows []sqltypes.Row, keys []orderKey, implicit bool) error {
	idx := make([]int, len(keys))
	for i, k := range keys {
		var err error
		if idx[i], err = resolve(k.col, fields); err != nil {
			return err
		}
		switch fields[idx[i]].Type {
		case sqltypes.Enum, sqltypes.Set:
			if implicit {
				continue
			}
			// MySQL orders these by their position in the definition,
			// which the result does not carry.
			return sqlerr.Unsupported("ORDER BY an ENUM or SET column (%s) across shards", fields[idx[i]].Name)
		}
	}
	var cmpErr error
	slices.SortStableFunc(rows, func(a, b sqltypes.Row) int {
		for i, k := range keys {
			c := idx[i]
			r, err := evalengine.NullsafeCompare(a[c], b[c], collationEnv, collationOf(fields[c]), nil)
			if err != nil && cmpErr == nil {
				cmpErr = err
			}
			if r != 0 {
				if k.desc {
					return -r
				}
				return r
			}
		}
		return 0
	})
	if cmpErr != nil {
		return sqlerr.Internal("sorting merged rows: %v", cmpErr)
	}
	return nil
}
