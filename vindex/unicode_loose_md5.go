package vindex

import (
	"context"
	"crypto/md5"
	"hash"

	"vitess.io/vitess/go/sqltypes"
)

// UnicodeLooseMD5 is the "unicode_loose_md5" vindex: the 16-byte MD5 of the
// text's case- and accent-insensitive collation weights, ignoring trailing
// spaces, so "Test", "test " and "tést" map to the same keyspace ID, as they
// compare equal in a MySQL *_ci collation. Byte-compatible with Vitess.
//
// NULL maps like the empty string. Text that is not valid UTF-8 and values
// without bytes (expressions, malformed hex literals) are a Map error.
type UnicodeLooseMD5 struct {
	name  string
	loose *looseHasher
}

var (
	_ SingleColumn = (*UnicodeLooseMD5)(nil)
	_ Hasher       = (*UnicodeLooseMD5)(nil)
)

func init() {
	Register("unicode_loose_md5", newUnicodeLooseMD5)
}

func newUnicodeLooseMD5(name string, params map[string]string) (Vindex, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	return &UnicodeLooseMD5{name: name, loose: newLooseHasher(func() hash.Hash { return md5.New() })}, nil
}

// String implements Vindex.
func (u *UnicodeLooseMD5) String() string { return u.name }

// Cost implements Vindex.
func (*UnicodeLooseMD5) Cost() int { return 1 }

// IsUnique implements Vindex.
func (*UnicodeLooseMD5) IsUnique() bool { return true }

// NeedsCursor implements Vindex.
func (*UnicodeLooseMD5) NeedsCursor() bool { return false }

// Map implements SingleColumn; a value Hash rejects is an error.
func (u *UnicodeLooseMD5) Map(_ context.Context, _ Cursor, values []sqltypes.Value) ([]Destination, error) {
	return mapValues(u, u.Hash, failMap, values)
}

// Verify implements SingleColumn.
func (u *UnicodeLooseMD5) Verify(_ context.Context, _ Cursor, values []sqltypes.Value, ids []KeyspaceID) ([]bool, error) {
	return verifyValues(u, u.Hash, values, ids)
}

// Hash implements Hasher.
func (u *UnicodeLooseMD5) Hash(v sqltypes.Value) (KeyspaceID, error) {
	id, err := u.loose.hash(v)
	if err != nil {
		return nil, &mapError{vindexType: "unicode_loose_md5", value: v, cause: err}
	}
	return id, nil
}
