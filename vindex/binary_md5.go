package vindex

import (
	"context"
	"crypto/md5"

	"vitess.io/vitess/go/sqltypes"
)

// BinaryMD5 is the "binary_md5" vindex: the 16-byte MD5 digest of the
// value's bytes. MD5 serves here as a well-spread hash, not for security.
// Byte-compatible with Vitess.
//
// The bytes hashed are those of Binary (NULL hashes as the empty string);
// values without bytes are a Map error.
type BinaryMD5 struct {
	name string
}

var (
	_ SingleColumn = (*BinaryMD5)(nil)
	_ Hasher       = (*BinaryMD5)(nil)
)

func init() {
	Register("binary_md5", newBinaryMD5)
}

func newBinaryMD5(name string, params map[string]string) (Vindex, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	return &BinaryMD5{name: name}, nil
}

// String implements Vindex.
func (b *BinaryMD5) String() string { return b.name }

// Cost implements Vindex.
func (*BinaryMD5) Cost() int { return 1 }

// IsUnique implements Vindex.
func (*BinaryMD5) IsUnique() bool { return true }

// NeedsCursor implements Vindex.
func (*BinaryMD5) NeedsCursor() bool { return false }

// Map implements SingleColumn; a value Hash rejects is an error.
func (b *BinaryMD5) Map(_ context.Context, _ Cursor, values []sqltypes.Value) ([]Destination, error) {
	return mapValues(b, b.Hash, failMap, values)
}

// Verify implements SingleColumn.
func (b *BinaryMD5) Verify(_ context.Context, _ Cursor, values []sqltypes.Value, ids []KeyspaceID) ([]bool, error) {
	return verifyValues(b, b.Hash, values, ids)
}

// Hash implements Hasher.
func (*BinaryMD5) Hash(v sqltypes.Value) (KeyspaceID, error) {
	raw, err := v.ToBytes()
	if err != nil {
		return nil, &mapError{vindexType: "binary_md5", value: v, cause: err}
	}
	sum := md5.Sum(raw)
	return KeyspaceID(sum[:]), nil
}
