package vindex

import (
	"bytes"
	"context"

	"vitess.io/vitess/go/sqltypes"
)

// Null is the "null" vindex: every value, NULL included, maps to the
// keyspace ID 0x00, so all rows of a table using it as primary vindex land on
// the first shard. It is meant for small tables that must live in a sharded
// keyspace. Byte-compatible with Vitess, including its cost of 100, which
// keeps the planner from routing by it when any other vindex will do.
//
// Like Vitess's, it is not a Hasher, so multicol does not accept it as a
// column vindex.
type Null struct {
	name string
}

var _ SingleColumn = (*Null)(nil)

// nullKeyspaceID is the keyspace ID of every value under the null vindex.
const nullKeyspaceID = "\x00"

func init() {
	Register("null", newNull)
}

func newNull(name string, params map[string]string) (Vindex, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	return &Null{name: name}, nil
}

// String implements Vindex.
func (n *Null) String() string { return n.name }

// Cost implements Vindex.
func (*Null) Cost() int { return 100 }

// IsUnique implements Vindex.
func (*Null) IsUnique() bool { return true }

// NeedsCursor implements Vindex.
func (*Null) NeedsCursor() bool { return false }

// Map implements SingleColumn; it never fails.
func (*Null) Map(_ context.Context, _ Cursor, values []sqltypes.Value) ([]Destination, error) {
	out := make([]Destination, len(values))
	for i := range values {
		out[i] = DestinationKeyspaceID(nullKeyspaceID)
	}
	return out, nil
}

// Verify implements SingleColumn: an id verifies if it is 0x00.
func (n *Null) Verify(_ context.Context, _ Cursor, values []sqltypes.Value, ids []KeyspaceID) ([]bool, error) {
	if err := checkVerifyLengths(n, len(values), len(ids)); err != nil {
		return nil, err
	}
	out := make([]bool, len(values))
	for i, id := range ids {
		out[i] = bytes.Equal(id, []byte(nullKeyspaceID))
	}
	return out, nil
}
