package vindex

import (
	"context"
	"fmt"
	"slices"

	"vitess.io/vitess/go/sqltypes"
)

// Binary is the "binary" vindex: the value's bytes are its keyspace ID, so
// rows are placed in the key order of the column itself. It suits columns
// that are already well spread (such as random or hashed IDs) and lets a
// range of values map to a range of shards. Byte-compatible with Vitess.
//
// The bytes are the value as MySQL would return it: the text of numbers, the
// decoded bytes of hex and bit literals, and no bytes for NULL (which maps
// to the empty keyspace ID, the start of the key space, like Vitess). Values
// without bytes (expressions, malformed hex literals) are a Map error.
type Binary struct {
	name string
}

var (
	_ SingleColumn = (*Binary)(nil)
	_ Reversible   = (*Binary)(nil)
	_ Hasher       = (*Binary)(nil)
)

func init() {
	Register("binary", newBinary)
}

func newBinary(name string, params map[string]string) (Vindex, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	return &Binary{name: name}, nil
}

// String implements Vindex.
func (b *Binary) String() string { return b.name }

// Cost implements Vindex.
func (*Binary) Cost() int { return 0 }

// IsUnique implements Vindex.
func (*Binary) IsUnique() bool { return true }

// NeedsCursor implements Vindex.
func (*Binary) NeedsCursor() bool { return false }

// Map implements SingleColumn; a value Hash rejects is an error.
func (b *Binary) Map(_ context.Context, _ Cursor, values []sqltypes.Value) ([]Destination, error) {
	return mapValues(b, b.Hash, failMap, values)
}

// Verify implements SingleColumn.
func (b *Binary) Verify(_ context.Context, _ Cursor, values []sqltypes.Value, ids []KeyspaceID) ([]bool, error) {
	return verifyValues(b, b.Hash, values, ids)
}

// Hash implements Hasher. The result is a copy: it never aliases v.
func (*Binary) Hash(v sqltypes.Value) (KeyspaceID, error) {
	raw, err := v.ToBytes()
	if err != nil {
		return nil, &mapError{vindexType: "binary", value: v, cause: err}
	}
	return KeyspaceID(slices.Clone(raw)), nil
}

// ReverseMap implements Reversible: each id comes back as the VARBINARY
// value of the same bytes. A nil id (as opposed to an empty one) is an
// error, as in Vitess.
func (b *Binary) ReverseMap(_ Cursor, ids []KeyspaceID) ([]sqltypes.Value, error) {
	out := make([]sqltypes.Value, len(ids))
	for i, id := range ids {
		if id == nil {
			return nil, fmt.Errorf("vindex %q: cannot reverse keyspace id %d: it is nil", b.name, i)
		}
		out[i] = sqltypes.MakeTrusted(sqltypes.VarBinary, slices.Clone(id))
	}
	return out, nil
}
