// Package rowkey compares primary keys the way MySQL orders them (each
// text column by its collation), so that rows read in ORDER BY primary
// key from different servers can be merged and matched.
package rowkey

import (
	"fmt"
	"strings"

	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/vtgate/evalengine"
)

var collationEnv = collations.MySQL8()

// Key says which columns of a row make its primary key.
type Key struct {
	fields []*querypb.Field
	cols   []int
}

// New returns the key of rows with fields, made of the columns at cols.
func New(fields []*querypb.Field, cols []int) Key {
	return Key{fields: fields, cols: cols}
}

// Named returns the key made of the columns named (case-insensitively,
// as MySQL names columns) among fields.
func Named(fields []*querypb.Field, names []string) (Key, error) {
	if len(names) == 0 {
		return Key{}, fmt.Errorf("no primary key")
	}
	cols := make([]int, len(names))
	for i, name := range names {
		cols[i] = -1
		for j, f := range fields {
			if strings.EqualFold(f.Name, name) {
				cols[i] = j
			}
		}
		if cols[i] < 0 {
			return Key{}, fmt.Errorf("primary key column %s is not among the columns", name)
		}
	}
	return New(fields, cols), nil
}

// Compare orders two full rows by their keys.
func (k Key) Compare(a, b []sqltypes.Value) (int, error) {
	for _, c := range k.cols {
		if c >= len(a) || c >= len(b) {
			return 0, fmt.Errorf("row has %d and %d values, key column %d", len(a), len(b), c)
		}
		r, err := compareValues(k.fields[c], a[c], b[c])
		if err != nil || r != 0 {
			return r, err
		}
	}
	return 0, nil
}

// CompareKey orders a full row's key against key values alone (in key
// column order).
func (k Key) CompareKey(row, key []sqltypes.Value) (int, error) {
	for i, c := range k.cols {
		r, err := compareValues(k.fields[c], row[c], key[i])
		if err != nil || r != 0 {
			return r, err
		}
	}
	return 0, nil
}

func compareValues(f *querypb.Field, a, b sqltypes.Value) (int, error) {
	coll := collations.ID(collations.CollationBinaryID)
	if sqltypes.IsText(f.Type) {
		coll = collations.ID(f.Charset)
	}
	return evalengine.NullsafeCompare(a, b, collationEnv, coll, nil)
}

// Columns are the positions of the key's columns in a row.
func (k Key) Columns() []int { return k.cols }
