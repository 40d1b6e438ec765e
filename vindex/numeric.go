package vindex

import (
	"context"
	"encoding/binary"
	"fmt"

	"vitess.io/vitess/go/sqltypes"
)

// Numeric is the "numeric" vindex: the value as a big-endian unsigned 64-bit
// integer is its keyspace ID, so rows are placed in numeric order. Useful
// when the application chooses IDs to place rows deliberately.
// Byte-compatible with Vitess.
//
// Every value, whatever its type, must be the decimal text of an unsigned
// 64-bit integer (spaces or tabs around it are allowed). Negative numbers,
// even of signed types, NULL, fractions and other text cannot be mapped:
// Hash returns an error and Map reports DestinationNone, as in Vitess.
type Numeric struct {
	name string
}

var (
	_ SingleColumn = (*Numeric)(nil)
	_ Reversible   = (*Numeric)(nil)
	_ Hasher       = (*Numeric)(nil)
)

func init() {
	Register("numeric", newNumeric)
}

func newNumeric(name string, params map[string]string) (Vindex, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	return &Numeric{name: name}, nil
}

// String implements Vindex.
func (n *Numeric) String() string { return n.name }

// Cost implements Vindex.
func (*Numeric) Cost() int { return 0 }

// IsUnique implements Vindex.
func (*Numeric) IsUnique() bool { return true }

// NeedsCursor implements Vindex.
func (*Numeric) NeedsCursor() bool { return false }

// Map implements SingleColumn; values Hash rejects map to DestinationNone.
func (n *Numeric) Map(_ context.Context, _ Cursor, values []sqltypes.Value) ([]Destination, error) {
	return mapValues(n, n.Hash, mapToNone, values)
}

// Verify implements SingleColumn. A value that cannot be mapped is an error.
func (n *Numeric) Verify(_ context.Context, _ Cursor, values []sqltypes.Value, ids []KeyspaceID) ([]bool, error) {
	return verifyValues(n, n.Hash, values, ids)
}

// Hash implements Hasher.
func (*Numeric) Hash(v sqltypes.Value) (KeyspaceID, error) {
	u, err := v.ToCastUint64()
	if err != nil {
		return nil, &mapError{vindexType: "numeric", value: v, cause: err}
	}
	return binary.BigEndian.AppendUint64(make(KeyspaceID, 0, 8), u), nil
}

// ReverseMap implements Reversible: each 8-byte id comes back as the UINT64
// it encodes. An id of any other length is an error.
func (n *Numeric) ReverseMap(_ Cursor, ids []KeyspaceID) ([]sqltypes.Value, error) {
	out := make([]sqltypes.Value, len(ids))
	for i, id := range ids {
		if len(id) != 8 {
			return nil, fmt.Errorf("vindex %q: cannot reverse keyspace id %q: numeric ids are 8 bytes, not %d", n.name, id.String(), len(id))
		}
		out[i] = sqltypes.NewUint64(binary.BigEndian.Uint64(id))
	}
	return out, nil
}
