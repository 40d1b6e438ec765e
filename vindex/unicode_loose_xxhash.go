package vindex

import (
	"context"
	"hash"

	"github.com/cespare/xxhash/v2"
	"vitess.io/vitess/go/sqltypes"
)

// UnicodeLooseXXHash is the "unicode_loose_xxhash" vindex: like
// UnicodeLooseMD5 but with the 8-byte xxHash (little-endian) of the
// collation weights, which is cheaper to compute. Byte-compatible with
// Vitess.
//
// NULL maps like the empty string. Text that is not valid UTF-8 and values
// without bytes are a Map error.
type UnicodeLooseXXHash struct {
	name  string
	loose *looseHasher
}

var (
	_ SingleColumn = (*UnicodeLooseXXHash)(nil)
	_ Hasher       = (*UnicodeLooseXXHash)(nil)
)

func init() {
	Register("unicode_loose_xxhash", newUnicodeLooseXXHash)
}

func newUnicodeLooseXXHash(name string, params map[string]string) (Vindex, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	newDigest := func() hash.Hash { return xxhashLittleEndian{xxhash.New()} }
	return &UnicodeLooseXXHash{name: name, loose: newLooseHasher(newDigest)}, nil
}

// String implements Vindex.
func (u *UnicodeLooseXXHash) String() string { return u.name }

// Cost implements Vindex.
func (*UnicodeLooseXXHash) Cost() int { return 1 }

// IsUnique implements Vindex.
func (*UnicodeLooseXXHash) IsUnique() bool { return true }

// NeedsCursor implements Vindex.
func (*UnicodeLooseXXHash) NeedsCursor() bool { return false }

// Map implements SingleColumn; a value Hash rejects is an error.
func (u *UnicodeLooseXXHash) Map(_ context.Context, _ Cursor, values []sqltypes.Value) ([]Destination, error) {
	return mapValues(u, u.Hash, failMap, values)
}

// Verify implements SingleColumn.
func (u *UnicodeLooseXXHash) Verify(_ context.Context, _ Cursor, values []sqltypes.Value, ids []KeyspaceID) ([]bool, error) {
	return verifyValues(u, u.Hash, values, ids)
}

// Hash implements Hasher.
func (u *UnicodeLooseXXHash) Hash(v sqltypes.Value) (KeyspaceID, error) {
	id, err := u.loose.hash(v)
	if err != nil {
		return nil, &mapError{vindexType: "unicode_loose_xxhash", value: v, cause: err}
	}
	return id, nil
}
