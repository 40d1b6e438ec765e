package vindex

import (
	"bytes"
	"context"
	"fmt"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// Vindex is the core interface every vindex implements. A Vindex is created
// by Create from a vschema declaration and is immutable afterwards: all
// methods, and those of the capability interfaces below, may be called
// concurrently.
//
// A Vindex maps values through one of the two shapes SingleColumn or
// MultiColumn; optional capabilities (Reversible, Hasher) are discovered by
// type assertion.
type Vindex interface {
	// String returns the vindex's name as declared in the vschema (not its
	// type).
	String() string
	// Cost ranks vindexes when the planner may route by more than one:
	// lower is cheaper. The values follow Vitess: functional vindexes
	// cost 0 (the value is its own keyspace ID) or 1 (a hash), multicol
	// the sum of its columns', null 100 (so it is chosen only when
	// nothing else applies); database-backed ones cost more.
	Cost() int
	// IsUnique reports whether each value maps to at most one keyspace ID.
	IsUnique() bool
	// NeedsCursor reports whether mapping must query a database through a
	// Cursor. It is false for every built-in vindex of this package, which
	// accept a nil Cursor.
	NeedsCursor() bool
}

// Cursor lets database-backed vindexes run queries. Functional vindexes
// ignore it; callers may pass nil to them.
type Cursor interface {
	// Execute runs sql with bindVars in keyspace and returns its result.
	Execute(ctx context.Context, keyspace, sql string, bindVars map[string]*querypb.BindVariable) (*sqltypes.Result, error)
}

// SingleColumn vindexes map one column's values.
type SingleColumn interface {
	Vindex
	// Map returns one Destination per value, in order. Whether a value
	// that cannot be mapped yields DestinationNone or an error depends on
	// the vindex type (following Vitess) and is documented on it.
	Map(ctx context.Context, cur Cursor, values []sqltypes.Value) ([]Destination, error)
	// Verify reports, for each i, whether values[i] maps to ids[i]. The two
	// slices must have the same length.
	Verify(ctx context.Context, cur Cursor, values []sqltypes.Value, ids []KeyspaceID) ([]bool, error)
}

// MultiColumn vindexes map several columns together (multicol).
type MultiColumn interface {
	Vindex
	// MapMulti returns one Destination per row, in order. A row holds the
	// values of the vindex's columns in declaration order; if
	// PartialVindex is true a row may hold only a prefix of them, which
	// maps to a DestinationKeyRange covering every completion.
	MapMulti(ctx context.Context, cur Cursor, rows [][]sqltypes.Value) ([]Destination, error)
	// VerifyMulti reports, for each i, whether rows[i] maps to ids[i]. The
	// two slices must have the same length.
	VerifyMulti(ctx context.Context, cur Cursor, rows [][]sqltypes.Value, ids []KeyspaceID) ([]bool, error)
	// PartialVindex reports whether rows may hold only a prefix of the
	// columns.
	PartialVindex() bool
}

// Reversible is an optional capability: keyspace ID -> column value, for
// vindexes whose mapping is a bijection (the planner uses it to fill in a
// column from a known keyspace ID).
type Reversible interface {
	SingleColumn
	// ReverseMap returns the value that maps to each id, in order. An id
	// that no value maps to is an error.
	ReverseMap(cur Cursor, ids []KeyspaceID) ([]sqltypes.Value, error)
}

// Hasher is an optional capability of unique single-column vindexes that
// map a value without any I/O; the query hot path and multicol use it.
//
// Hash returns the keyspace ID of v, owned by the caller. An error means v
// cannot be mapped; note that Map of the same vindex may report such a value
// as DestinationNone rather than an error (as hash, numeric and
// reverse_bits do, like Vitess), so a caller that needs Map's routing
// outcome for bad values must translate the error the same way.
type Hasher interface {
	Hash(v sqltypes.Value) (KeyspaceID, error)
}

// Map maps rows of column values through v whichever shape it has: a
// SingleColumn vindex gets the first value of each row, a MultiColumn
// vindex the whole row.
func Map(ctx context.Context, v Vindex, cur Cursor, rows [][]sqltypes.Value) ([]Destination, error) {
	switch v := v.(type) {
	case MultiColumn:
		return v.MapMulti(ctx, cur, rows)
	case SingleColumn:
		values, err := firstColumn(v, rows)
		if err != nil {
			return nil, err
		}
		return v.Map(ctx, cur, values)
	}
	return nil, fmt.Errorf("vindex %q (%T) has no Map method", v.String(), v)
}

// Verify checks rows against ids through v whichever shape it has, like
// Map.
func Verify(ctx context.Context, v Vindex, cur Cursor, rows [][]sqltypes.Value, ids []KeyspaceID) ([]bool, error) {
	switch v := v.(type) {
	case MultiColumn:
		return v.VerifyMulti(ctx, cur, rows, ids)
	case SingleColumn:
		values, err := firstColumn(v, rows)
		if err != nil {
			return nil, err
		}
		return v.Verify(ctx, cur, values, ids)
	}
	return nil, fmt.Errorf("vindex %q (%T) has no Verify method", v.String(), v)
}

func firstColumn(v Vindex, rows [][]sqltypes.Value) ([]sqltypes.Value, error) {
	values := make([]sqltypes.Value, len(rows))
	for i, row := range rows {
		if len(row) == 0 {
			return nil, fmt.Errorf("vindex %q: row %d has no column value", v.String(), i)
		}
		values[i] = row[0]
	}
	return values, nil
}

// hashFunc is the pure mapping of a functional single-column vindex.
type hashFunc func(sqltypes.Value) (KeyspaceID, error)

// onHashError says what Map does with a value its hash function rejects.
// Vitess is not uniform here and compatibility means following it per type.
type onHashError int

const (
	// failMap makes Map fail with the hash error.
	failMap onHashError = iota
	// mapToNone makes Map route the value to DestinationNone.
	mapToNone
)

// mapValues implements SingleColumn.Map for functional vindexes.
func mapValues(v Vindex, hash hashFunc, onErr onHashError, values []sqltypes.Value) ([]Destination, error) {
	out := make([]Destination, len(values))
	for i, val := range values {
		id, err := hash(val)
		switch {
		case err == nil:
			out[i] = DestinationKeyspaceID(id)
		case onErr == mapToNone:
			out[i] = DestinationNone{}
		default:
			return nil, fmt.Errorf("vindex %q: %w", v.String(), err)
		}
	}
	return out, nil
}

// verifyValues implements SingleColumn.Verify for functional vindexes: a
// value verifies if it hashes to its ID; one that cannot be hashed is an
// error, as in Vitess.
func verifyValues(v Vindex, hash hashFunc, values []sqltypes.Value, ids []KeyspaceID) ([]bool, error) {
	if err := checkVerifyLengths(v, len(values), len(ids)); err != nil {
		return nil, err
	}
	out := make([]bool, len(values))
	for i, val := range values {
		id, err := hash(val)
		if err != nil {
			return nil, fmt.Errorf("vindex %q: verifying: %w", v.String(), err)
		}
		out[i] = bytes.Equal(id, ids[i])
	}
	return out, nil
}

func checkVerifyLengths(v Vindex, values, ids int) error {
	if values != ids {
		return fmt.Errorf("vindex %q: cannot verify %d values against %d keyspace ids", v.String(), values, ids)
	}
	return nil
}

// mapError reports that a vindex type cannot map a value. It renders its
// cause with Error() rather than through %v/%w formatting, because Vitess's
// vterrors values print their code and a newline under %v.
type mapError struct {
	vindexType string
	value      sqltypes.Value
	cause      error
}

func (e *mapError) Error() string {
	return fmt.Sprintf("cannot map %s with %s: %s", e.value.String(), e.vindexType, e.cause.Error())
}

func (e *mapError) Unwrap() error { return e.cause }
