package vindex

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"vitess.io/vitess/go/sqltypes"
)

// MultiCol is the "multicol" vindex: a keyspace ID built from several
// columns, each hashed by its own functional vindex and contributing a fixed
// number of leading bytes. Rows that agree on the first columns therefore
// share a keyspace ID prefix, which confines a query that fixes only those
// columns to a key range rather than every shard. Byte-compatible with
// Vitess.
//
// Params, as in Vitess:
//
//   - column_count (required): the number of columns, 1 to 8.
//   - column_vindex: a comma-separated list of vindex types, one per column
//     in order; missing or empty entries mean "hash". Each must be a unique
//     Hasher that needs no cursor.
//   - column_bytes: a comma-separated list of how many keyspace ID bytes
//     each column takes; missing or empty entries share the bytes left of 8
//     among themselves, earlier columns taking the larger share (3 columns:
//     3, 3, 2).
//
// Other params are passed to every column vindex, which rejects those it
// does not know (all built-ins take none).
//
// Column i contributes the first column_bytes[i] bytes of its hash, placed
// at the offset the earlier columns' byte counts add up to; if an earlier
// hash was shorter than its share (binary of a short value), the gap is
// filled with zero bytes. A row that cannot be hashed maps to
// DestinationNone.
type MultiCol struct {
	name     string
	cost     int
	hashers  []Hasher // one per column
	colBytes []int    // one per column
}

var _ MultiColumn = (*MultiCol)(nil)

const (
	paramColumnCount  = "column_count"
	paramColumnVindex = "column_vindex"
	paramColumnBytes  = "column_bytes"

	// defaultColumnVindex is the column vindex type when none is named.
	defaultColumnVindex = "hash"
	// multiColKeyBytes is the keyspace ID length the columns share.
	multiColKeyBytes = 8
	// maxMultiColColumns is the most columns a multicol vindex takes: each
	// needs at least one of the 8 bytes.
	maxMultiColColumns = 8
)

func init() {
	Register("multicol", newMultiCol)
}

func newMultiCol(name string, params map[string]string) (Vindex, error) {
	count, err := multiColCount(params)
	if err != nil {
		return nil, err
	}
	colBytes, err := multiColBytes(params, count)
	if err != nil {
		return nil, err
	}
	// Params multicol does not use itself belong to the column vindexes.
	sub := maps.Clone(params)
	delete(sub, paramColumnCount)
	delete(sub, paramColumnVindex)
	delete(sub, paramColumnBytes)
	hashers, cost, err := multiColHashers(params, count, sub)
	if err != nil {
		return nil, err
	}
	return &MultiCol{name: name, cost: cost, hashers: hashers, colBytes: colBytes}, nil
}

func multiColCount(params map[string]string) (int, error) {
	s, ok := params[paramColumnCount]
	if !ok {
		return 0, fmt.Errorf("param %q is required", paramColumnCount)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("param %q: %w", paramColumnCount, err)
	}
	if n < 1 || n > maxMultiColColumns {
		return 0, fmt.Errorf("param %q is %d; it must be from 1 to %d", paramColumnCount, n, maxMultiColColumns)
	}
	return n, nil
}

// splitList splits a comma-separated param; an absent param is no entries.
func splitList(params map[string]string, key string, count int) ([]string, error) {
	s, ok := params[key]
	if !ok {
		return nil, nil
	}
	entries := strings.Split(s, ",")
	if len(entries) > count {
		return nil, fmt.Errorf("param %q lists %d entries but %q is %d", key, len(entries), paramColumnCount, count)
	}
	return entries, nil
}

// multiColBytes works out each column's share of the keyspace ID as Vitess
// does, except that it also rejects shares Vitess lets through by accident:
// a share below one byte, and explicit shares adding up to more than 8.
func multiColBytes(params map[string]string, count int) ([]int, error) {
	entries, err := splitList(params, paramColumnBytes, count)
	if err != nil {
		return nil, err
	}
	colBytes := make([]int, count)
	used, pending := 0, count
	for i, e := range entries {
		if e == "" {
			continue
		}
		n, err := strconv.Atoi(e)
		if err != nil {
			return nil, fmt.Errorf("param %q: entry %d: %w", paramColumnBytes, i+1, err)
		}
		if n < 1 {
			return nil, fmt.Errorf("param %q: entry %d is %d; a column needs at least one byte", paramColumnBytes, i+1, n)
		}
		colBytes[i] = n
		used += n
		pending--
	}
	remaining := multiColKeyBytes - used
	if remaining < pending {
		return nil, fmt.Errorf("param %q: the columns need more than the %d bytes of a keyspace id", paramColumnBytes, multiColKeyBytes)
	}
	for i := range colBytes {
		if colBytes[i] != 0 {
			continue
		}
		// Round up so that earlier columns get the larger share.
		share := (remaining + pending - 1) / pending
		colBytes[i] = share
		remaining -= share
		pending--
	}
	return colBytes, nil
}

func multiColHashers(params map[string]string, count int, sub map[string]string) ([]Hasher, int, error) {
	entries, err := splitList(params, paramColumnVindex, count)
	if err != nil {
		return nil, 0, err
	}
	hashers := make([]Hasher, count)
	cost := 0
	for i := range hashers {
		typ := defaultColumnVindex
		if i < len(entries) {
			if t := strings.TrimSpace(entries[i]); t != "" {
				typ = t
			}
		}
		v, err := Create(typ, typ, sub)
		if err != nil {
			return nil, 0, fmt.Errorf("column %d: %w", i+1, err)
		}
		h, ok := v.(Hasher)
		if !ok || !v.IsUnique() || v.NeedsCursor() {
			return nil, 0, fmt.Errorf("column %d: vindex type %q cannot be a multicol column: it must be unique, need no cursor and hash values directly", i+1, typ)
		}
		hashers[i] = h
		cost += v.Cost()
	}
	return hashers, cost, nil
}

// String implements Vindex.
func (m *MultiCol) String() string { return m.name }

// Cost implements Vindex: the sum of the column vindexes' costs.
func (m *MultiCol) Cost() int { return m.cost }

// IsUnique implements Vindex.
func (*MultiCol) IsUnique() bool { return true }

// NeedsCursor implements Vindex.
func (*MultiCol) NeedsCursor() bool { return false }

// PartialVindex implements MultiColumn: a row may give a prefix of the
// columns.
func (*MultiCol) PartialVindex() bool { return true }

// ColumnCount returns the number of columns the vindex maps.
func (m *MultiCol) ColumnCount() int { return len(m.hashers) }

// MapMulti implements MultiColumn. A full row maps to a keyspace ID, a
// prefix of the columns to the DestinationKeyRange of IDs that start with
// the prefix's bytes (the whole key space for an empty row), and a row with
// a value its column vindex rejects to DestinationNone, as in Vitess. A row
// with more values than columns is a caller error.
func (m *MultiCol) MapMulti(_ context.Context, _ Cursor, rows [][]sqltypes.Value) ([]Destination, error) {
	out := make([]Destination, len(rows))
	for i, row := range rows {
		if err := m.checkRow(i, row); err != nil {
			return nil, err
		}
		id, err := m.keyspaceID(row)
		switch {
		case err != nil:
			out[i] = DestinationNone{}
		case len(row) < len(m.hashers):
			out[i] = DestinationKeyRange(KeyRangeFromPrefix(id))
		default:
			out[i] = DestinationKeyspaceID(id)
		}
	}
	return out, nil
}

// VerifyMulti implements MultiColumn. A row verifies if its keyspace ID (or
// prefix, which never equals a full ID's bytes unless the ID is that short)
// equals its id; a row that cannot be hashed is an error.
func (m *MultiCol) VerifyMulti(_ context.Context, _ Cursor, rows [][]sqltypes.Value, ids []KeyspaceID) ([]bool, error) {
	if err := checkVerifyLengths(m, len(rows), len(ids)); err != nil {
		return nil, err
	}
	out := make([]bool, len(rows))
	for i, row := range rows {
		if err := m.checkRow(i, row); err != nil {
			return nil, err
		}
		id, err := m.keyspaceID(row)
		if err != nil {
			return nil, fmt.Errorf("vindex %q: verifying row %d: %w", m.name, i, err)
		}
		out[i] = bytes.Equal(id, ids[i])
	}
	return out, nil
}

func (m *MultiCol) checkRow(i int, row []sqltypes.Value) error {
	if len(row) > len(m.hashers) {
		return fmt.Errorf("vindex %q: row %d has %d values but the vindex has %d columns", m.name, i, len(row), len(m.hashers))
	}
	return nil
}

// keyspaceID assembles the keyspace ID (or its prefix) of a row of at most
// len(m.hashers) values.
func (m *MultiCol) keyspaceID(row []sqltypes.Value) (KeyspaceID, error) {
	id := make(KeyspaceID, 0, multiColKeyBytes)
	offset := 0 // where this column's bytes start
	for i, v := range row {
		h, err := m.hashers[i].Hash(v)
		if err != nil {
			return nil, fmt.Errorf("column %d: %w", i+1, err)
		}
		// A short hash from an earlier column leaves a gap; zeros fill it
		// so that every column's bytes sit at a fixed offset.
		for len(id) < offset {
			id = append(id, 0)
		}
		id = append(id, h[:min(len(h), m.colBytes[i])]...)
		offset += m.colBytes[i]
	}
	return id, nil
}
