package vindex

import (
	"bytes"
	"encoding/hex"
)

// KeyspaceID is the byte string a vindex maps a row to; shards own ranges of
// them. Its bytes are read as a fraction in [0, 1), most significant byte
// first, so trailing zero bytes do not change its position in the key space.
//
// A KeyspaceID returned by this package is owned by the caller and never
// aliases a value passed in.
type KeyspaceID []byte

// String returns the ID in lowercase hex, the form used in shard names and
// logs. The empty ID is the empty string.
func (k KeyspaceID) String() string {
	return hex.EncodeToString(k)
}

// trimZeros drops trailing zero bytes, which carry no weight in a fraction,
// so that 0x40 and 0x4000 compare equal.
func trimZeros(b []byte) []byte {
	return bytes.TrimRight(b, "\x00")
}

// compareKeys orders two keyspace positions as fractions. It is the only
// comparison used between IDs and range bounds in this package.
func compareKeys(a, b []byte) int {
	return bytes.Compare(trimZeros(a), trimZeros(b))
}
