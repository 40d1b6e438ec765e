package vindex

import (
	"context"
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
	"vitess.io/vitess/go/sqltypes"
)

// XXHash is the "xxhash" vindex: the 64-bit xxHash of the value's bytes,
// stored little-endian (as Vitess does; the byte order matters for which
// shard a value lands on). It is byte-compatible with Vitess's xxhash.
//
// The bytes hashed are the value as MySQL would return it: the text of
// numbers, the decoded bytes of hex and bit literals, and no bytes at all
// for NULL, which therefore maps like the empty string. Only values that
// have no bytes (expressions, malformed hex literals) cannot be mapped; Map
// reports them as an error.
type XXHash struct {
	name string
}

var (
	_ SingleColumn = (*XXHash)(nil)
	_ Hasher       = (*XXHash)(nil)
)

func init() {
	Register("xxhash", newXXHash)
}

func newXXHash(name string, params map[string]string) (Vindex, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	return &XXHash{name: name}, nil
}

// String implements Vindex.
func (x *XXHash) String() string { return x.name }

// Cost implements Vindex.
func (*XXHash) Cost() int { return 1 }

// IsUnique implements Vindex.
func (*XXHash) IsUnique() bool { return true }

// NeedsCursor implements Vindex.
func (*XXHash) NeedsCursor() bool { return false }

// Map implements SingleColumn; a value Hash rejects is an error.
func (x *XXHash) Map(_ context.Context, _ Cursor, values []sqltypes.Value) ([]Destination, error) {
	return mapValues(x, x.Hash, failMap, values)
}

// Verify implements SingleColumn.
func (x *XXHash) Verify(_ context.Context, _ Cursor, values []sqltypes.Value, ids []KeyspaceID) ([]bool, error) {
	return verifyValues(x, x.Hash, values, ids)
}

// Hash implements Hasher.
func (*XXHash) Hash(v sqltypes.Value) (KeyspaceID, error) {
	b, err := v.ToBytes()
	if err != nil {
		return nil, &mapError{vindexType: "xxhash", value: v, cause: err}
	}
	return binary.LittleEndian.AppendUint64(make(KeyspaceID, 0, 8), xxhash.Sum64(b)), nil
}
