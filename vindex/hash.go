package vindex

import (
	"context"
	"crypto/cipher"
	"crypto/des"
	"encoding/binary"
	"fmt"
	"strconv"

	"vitess.io/vitess/go/sqltypes"
)

// Hash is the "hash" vindex: the value, read as a 64-bit integer, encrypted
// with DES under an all-zero key. DES is a permutation of 64-bit blocks, so
// the mapping spreads sequential IDs evenly over the key space and is
// reversible. It is byte-compatible with Vitess's hash vindex.
//
// Values are read as in Vitess: signed integer types by their decimal
// text, negative numbers as their two's complement (-1 is 0xffff...ff);
// every other type (unsigned integers, strings, decimals, ...) must be the
// decimal text of an unsigned 64-bit integer, optionally surrounded by spaces
// or tabs. Anything else, including NULL, negative strings and fractions,
// cannot be mapped: Hash returns an error and Map reports DestinationNone.
type Hash struct {
	name string
	// block is DES with the all-zero key, built once per vindex because
	// key scheduling is far dearer than one block encryption. A DES block
	// only reads its subkeys, so it is safe for concurrent use.
	block cipher.Block
}

var (
	_ SingleColumn = (*Hash)(nil)
	_ Reversible   = (*Hash)(nil)
	_ Hasher       = (*Hash)(nil)
)

func init() {
	Register("hash", newHash)
}

func newHash(name string, params map[string]string) (Vindex, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	block, err := des.NewCipher(make([]byte, des.BlockSize))
	if err != nil {
		return nil, fmt.Errorf("building the DES cipher: %w", err)
	}
	return &Hash{name: name, block: block}, nil
}

// String implements Vindex.
func (h *Hash) String() string { return h.name }

// Cost implements Vindex.
func (*Hash) Cost() int { return 1 }

// IsUnique implements Vindex.
func (*Hash) IsUnique() bool { return true }

// NeedsCursor implements Vindex.
func (*Hash) NeedsCursor() bool { return false }

// Map implements SingleColumn; values Hash rejects map to DestinationNone.
func (h *Hash) Map(_ context.Context, _ Cursor, values []sqltypes.Value) ([]Destination, error) {
	return mapValues(h, h.Hash, mapToNone, values)
}

// Verify implements SingleColumn. A value that cannot be mapped is an error.
//
// Vitess's Verify reads every value as unsigned and so fails for negative
// signed integers that its own Map accepts; here Verify agrees with Map.
func (h *Hash) Verify(_ context.Context, _ Cursor, values []sqltypes.Value, ids []KeyspaceID) ([]bool, error) {
	return verifyValues(h, h.Hash, values, ids)
}

// Hash implements Hasher. It allocates only the 8-byte result.
func (h *Hash) Hash(v sqltypes.Value) (KeyspaceID, error) {
	n, err := hashInput(v)
	if err != nil {
		return nil, &mapError{vindexType: "hash", value: v, cause: err}
	}
	return h.HashUint64(n), nil
}

// HashUint64 returns the keyspace ID of the integer n (a signed integer is
// passed as its two's complement, uint64(i)). It allocates only the result.
func (h *Hash) HashUint64(n uint64) KeyspaceID {
	id := make(KeyspaceID, des.BlockSize)
	binary.BigEndian.PutUint64(id, n)
	// Encrypting in place is allowed (the slices overlap entirely) and
	// saves a second buffer.
	h.block.Encrypt(id, id)
	return id
}

// hashInput reads v as the 64-bit block that hash encrypts, exactly as
// Vitess does: signed integer types through strconv.ParseInt, everything
// else through sqltypes' unsigned cast (which rejects a leading '-').
func hashInput(v sqltypes.Value) (uint64, error) {
	if v.IsSigned() {
		i, err := strconv.ParseInt(v.ToString(), 10, 64)
		return uint64(i), err
	}
	return v.ToCastUint64()
}

// ReverseMap implements Reversible: each 8-byte id is decrypted back to the
// integer it came from, returned as UINT64 (a negative signed input comes
// back as its two's complement). An id of any other length is an error.
func (h *Hash) ReverseMap(_ Cursor, ids []KeyspaceID) ([]sqltypes.Value, error) {
	out := make([]sqltypes.Value, len(ids))
	for i, id := range ids {
		if len(id) != des.BlockSize {
			return nil, fmt.Errorf("vindex %q: cannot reverse keyspace id %q: hash ids are 8 bytes, not %d", h.name, id.String(), len(id))
		}
		var plain [des.BlockSize]byte
		h.block.Decrypt(plain[:], id)
		out[i] = sqltypes.NewUint64(binary.BigEndian.Uint64(plain[:]))
	}
	return out, nil
}
