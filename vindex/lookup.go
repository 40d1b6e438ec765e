package vindex

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/sqlescape"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/vtgate/evalengine"
)

// LookupVindex is the capability of vindexes backed by a lookup table that
// maps each value of a column to the keyspace IDs of the rows holding it
// (lookup, lookup_unique, consistent_lookup, consistent_lookup_unique,
// with Vitess's names, params and table layout). Mapping reads the table
// through a Cursor; the writes of the owner table keep it up to date
// (Create when rows are inserted, Delete when they are deleted or the
// column changes).
type LookupVindex interface {
	SingleColumn
	// Owner names the table whose rows the lookup table maps (the
	// vschema's "owner"); "" when the application maintains the table.
	Owner() string
	// Table returns the lookup table's keyspace ("" when unqualified:
	// the owner's) and name.
	Table() (keyspace, table string)
	// Consistent reports Vitess's consistent_lookup protocol: lookup rows
	// are written outside the owner's transaction, before the owner's row
	// is inserted and after it is deleted, so that a lookup row may be
	// left without an owner row (which only sends a query to one more
	// shard) but an owner row never lacks its lookup row.
	Consistent() bool
	// Create adds a lookup row for each value -> id. A value that is
	// already there fails with MySQL's duplicate-key error for unique
	// lookups.
	Create(ctx context.Context, cur Cursor, values []sqltypes.Value, ids []KeyspaceID) error
	// Delete removes the lookup rows of each value -> id.
	Delete(ctx context.Context, cur Cursor, values []sqltypes.Value, ids []KeyspaceID) error
	// Repoint makes value map to id instead of whatever it mapped to (a
	// consistent lookup taking over a row left without an owner).
	Repoint(ctx context.Context, cur Cursor, value sqltypes.Value, id KeyspaceID) error
}

// lookup implements the four lookup vindex types; they differ only in
// uniqueness and in the order in which writes reach the lookup table,
// which the caller (the planner) handles through Consistent.
type lookup struct {
	name       string
	unique     bool
	consistent bool
	owner      string
	keyspace   string
	table      string
	from, to   string
	ignoreNull bool
}

var _ LookupVindex = (*lookup)(nil)

func init() {
	for _, t := range []struct {
		name               string
		unique, consistent bool
	}{
		{"lookup", false, false},
		{"lookup_unique", true, false},
		{"consistent_lookup", false, true},
		{"consistent_lookup_unique", true, true},
	} {
		Register(t.name, func(name string, params map[string]string) (Vindex, error) {
			return newLookup(name, params, t.unique, t.consistent)
		})
	}
}

func newLookup(name string, params map[string]string, unique, consistent bool) (Vindex, error) {
	// write_only, autocommit and batch_lookup are accepted for vschemas
	// written for Vitess; the owner's writes always keep the table, in the
	// owner's transaction (or before/after it for consistent lookups).
	if err := checkParams(params, "table", "from", "to", "ignore_nulls", "autocommit", "write_only", "batch_lookup", "read_lock", "no_verify"); err != nil {
		return nil, err
	}
	l := &lookup{name: name, unique: unique, consistent: consistent, from: params["from"], to: params["to"]}
	table := params["table"]
	if table == "" || l.from == "" || l.to == "" {
		return nil, fmt.Errorf("params \"table\", \"from\" and \"to\" are required")
	}
	if strings.Contains(l.from, ",") {
		return nil, fmt.Errorf("param \"from\" names several columns (%s): lookups of several columns are not supported", l.from)
	}
	if ks, t, ok := strings.Cut(table, "."); ok {
		l.keyspace, l.table = ks, t
	} else {
		l.table = table
	}
	if v := params["ignore_nulls"]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("param \"ignore_nulls\": %q is not true or false", v)
		}
		l.ignoreNull = b
	}
	return l, nil
}

// SetOwner records the owner table; the vschema names it beside the
// params.
func (l *lookup) SetOwner(owner string) { l.owner = owner }

// String implements Vindex.
func (l *lookup) String() string { return l.name }

// Cost implements Vindex: a lookup costs a query, more when non-unique
// (the values may live on several shards), as in Vitess.
func (l *lookup) Cost() int {
	if l.unique {
		return 10
	}
	return 20
}

// IsUnique implements Vindex.
func (l *lookup) IsUnique() bool { return l.unique }

// NeedsCursor implements Vindex.
func (l *lookup) NeedsCursor() bool { return true }

// Owner implements LookupVindex.
func (l *lookup) Owner() string { return l.owner }

// Table implements LookupVindex.
func (l *lookup) Table() (string, string) { return l.keyspace, l.table }

// Consistent implements LookupVindex.
func (l *lookup) Consistent() bool { return l.consistent }

func (l *lookup) qualifiedTable() string {
	if l.keyspace == "" {
		return sqlescape.EscapeID(l.table)
	}
	return sqlescape.EscapeID(l.keyspace) + "." + sqlescape.EscapeID(l.table)
}

// Map implements SingleColumn: one query for all the values. NULL maps
// nowhere; a value without a lookup row maps nowhere (no row has it).
func (l *lookup) Map(ctx context.Context, cur Cursor, values []sqltypes.Value) ([]Destination, error) {
	out := make([]Destination, len(values))
	list := &querypb.BindVariable{Type: querypb.Type_TUPLE}
	for i, v := range values {
		out[i] = DestinationNone{}
		if !v.IsNull() {
			list.Values = append(list.Values, sqltypes.ValueToProto(v))
		}
	}
	if len(list.Values) == 0 {
		return out, nil
	}
	if cur == nil {
		return nil, fmt.Errorf("vindex %q: mapping needs a cursor to read lookup table %s", l.name, l.table)
	}
	sql := "select " + sqlescape.EscapeID(l.from) + ", " + sqlescape.EscapeID(l.to) + " from " + l.qualifiedTable() +
		" where " + sqlescape.EscapeID(l.from) + " in ::vals"
	res, err := cur.Execute(ctx, l.keyspace, sql, map[string]*querypb.BindVariable{"vals": list})
	if err != nil {
		return nil, fmt.Errorf("vindex %q: reading lookup table %s: %w", l.name, l.table, err)
	}
	coll := collations.ID(collations.CollationUtf8mb4ID)
	if len(res.Fields) > 0 && res.Fields[0].Charset != 0 {
		coll = collations.ID(res.Fields[0].Charset)
	}
	env := collations.MySQL8()
	for i, v := range values {
		if v.IsNull() {
			continue
		}
		var ids []KeyspaceID
		for _, row := range res.Rows {
			// The lookup table compares values as MySQL does (under the
			// column's collation): so does the match here.
			c, err := evalengine.NullsafeCompare(row[0], v, env, coll, nil)
			if err != nil || c != 0 || row[1].IsNull() {
				continue
			}
			ids = append(ids, KeyspaceID(bytes.Clone(row[1].Raw())))
		}
		switch {
		case len(ids) == 0:
		case l.unique && len(ids) > 1:
			return nil, fmt.Errorf("vindex %q: lookup table %s maps %s to %d keyspace ids, but the vindex is unique", l.name, l.table, v.String(), len(ids))
		case l.unique:
			out[i] = DestinationKeyspaceID(ids[0])
		default:
			out[i] = DestinationKeyspaceIDs(ids)
		}
	}
	return out, nil
}

// Verify implements SingleColumn: a value verifies if the lookup table
// maps it to the id.
func (l *lookup) Verify(ctx context.Context, cur Cursor, values []sqltypes.Value, ids []KeyspaceID) ([]bool, error) {
	if err := checkVerifyLengths(l, len(values), len(ids)); err != nil {
		return nil, err
	}
	dests, err := l.Map(ctx, cur, values)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(values))
	for i, d := range dests {
		switch d := d.(type) {
		case DestinationKeyspaceID:
			out[i] = bytes.Equal(d, ids[i])
		case DestinationKeyspaceIDs:
			for _, id := range d {
				out[i] = out[i] || bytes.Equal(id, ids[i])
			}
		}
	}
	return out, nil
}

// Create implements LookupVindex: one INSERT for all the rows. NULL
// values get no row when ignore_nulls is set. A non-unique lookup keeps
// a row that is already there.
func (l *lookup) Create(ctx context.Context, cur Cursor, values []sqltypes.Value, ids []KeyspaceID) error {
	if err := checkVerifyLengths(l, len(values), len(ids)); err != nil {
		return err
	}
	var b strings.Builder
	bv := map[string]*querypb.BindVariable{}
	// A non-unique lookup's row is shared by every owner row with the
	// value and keyspace id: it may be there already.
	verb := "insert into "
	if !l.unique {
		verb = "insert ignore into "
	}
	b.WriteString(verb + l.qualifiedTable() + " (" + sqlescape.EscapeID(l.from) + ", " + sqlescape.EscapeID(l.to) + ") values ")
	n := 0
	for i, v := range values {
		if v.IsNull() && l.ignoreNull {
			continue
		}
		if n > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(:f%d, :t%d)", i, i)
		bv["f"+strconv.Itoa(i)] = sqltypes.ValueBindVariable(v)
		bv["t"+strconv.Itoa(i)] = sqltypes.BytesBindVariable(ids[i])
		n++
	}
	if n == 0 {
		return nil
	}
	if _, err := cur.Execute(ctx, l.keyspace, b.String(), bv); err != nil {
		return fmt.Errorf("vindex %q: writing lookup table %s: %w", l.name, l.table, err)
	}
	return nil
}

// Delete implements LookupVindex.
func (l *lookup) Delete(ctx context.Context, cur Cursor, values []sqltypes.Value, ids []KeyspaceID) error {
	if err := checkVerifyLengths(l, len(values), len(ids)); err != nil {
		return err
	}
	for i, v := range values {
		if v.IsNull() {
			continue
		}
		sql := "delete from " + l.qualifiedTable() + " where " + sqlescape.EscapeID(l.from) + " = :f and " + sqlescape.EscapeID(l.to) + " = :t"
		bv := map[string]*querypb.BindVariable{"f": sqltypes.ValueBindVariable(v), "t": sqltypes.BytesBindVariable(ids[i])}
		if _, err := cur.Execute(ctx, l.keyspace, sql, bv); err != nil {
			return fmt.Errorf("vindex %q: deleting from lookup table %s: %w", l.name, l.table, err)
		}
	}
	return nil
}

// Repoint implements LookupVindex.
func (l *lookup) Repoint(ctx context.Context, cur Cursor, value sqltypes.Value, id KeyspaceID) error {
	sql := "update " + l.qualifiedTable() + " set " + sqlescape.EscapeID(l.to) + " = :t where " + sqlescape.EscapeID(l.from) + " = :f"
	bv := map[string]*querypb.BindVariable{"f": sqltypes.ValueBindVariable(value), "t": sqltypes.BytesBindVariable(id)}
	if _, err := cur.Execute(ctx, l.keyspace, sql, bv); err != nil {
		return fmt.Errorf("vindex %q: repointing lookup table %s: %w", l.name, l.table, err)
	}
	return nil
}
