// Package vschema is the model of a keyspace's vschema: the Vitess-format
// JSON a user writes (VSchemaJSON) and the checked form the planner routes
// with (Keyspace, Table, ColumnVindex), built with the vindexes the vindex
// registry provides. It is apart from the planner so that the topology
// store, the control plane and the gate can read a vschema without
// importing the planner.
package vschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/shardgate/shardgate/vindex"
)

// VSchemaJSON is a keyspace's vschema in Vitess's JSON format.
type VSchemaJSON struct {
	Sharded  bool                  `json:"sharded"`
	Vindexes map[string]VindexJSON `json:"vindexes,omitempty"`
	Tables   map[string]TableJSON  `json:"tables,omitempty"`
}

// VindexJSON declares a vindex.
type VindexJSON struct {
	Type   string            `json:"type"`
	Params map[string]string `json:"params,omitempty"`
	Owner  string            `json:"owner,omitempty"`
}

// TableJSON declares a table.
type TableJSON struct {
	Type           string             `json:"type,omitempty"` // "", "sequence", "reference"
	ColumnVindexes []ColumnVindexJSON `json:"column_vindexes,omitempty"`
	AutoIncrement  *AutoIncrementJSON `json:"auto_increment,omitempty"`
	Columns        []ColumnJSON       `json:"columns,omitempty"`
	Source         string             `json:"source,omitempty"`
	Pinned         string             `json:"pinned,omitempty"`
}

// ColumnVindexJSON binds a vindex to one column (or several, for multicol).
type ColumnVindexJSON struct {
	Column  string   `json:"column,omitempty"`
	Columns []string `json:"columns,omitempty"`
	Name    string   `json:"name"`
}

// AutoIncrementJSON names the sequence that fills a column.
type AutoIncrementJSON struct {
	Column   string `json:"column"`
	Sequence string `json:"sequence"`
}

// ColumnJSON declares a column's type (optional in Vitess).
type ColumnJSON struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// Keyspace is a keyspace's vschema, validated and with its vindexes built.
type Keyspace struct {
	Name     string
	Sharded  bool
	Vindexes map[string]vindex.Vindex
	Tables   map[string]*Table
}

// Table is a table of a keyspace as the router sees it.
type Table struct {
	Name     string
	Keyspace *Keyspace
	Type     string
	// ColumnVindexes lists the table's vindexes; the first is the primary
	// vindex, which decides where a row lives.
	ColumnVindexes []*ColumnVindex
	AutoIncrement  *AutoIncrementJSON
	// Owned are the lookup vindexes whose tables this table's writes keep.
	Owned []*ColumnVindex
}

// ColumnVindex is a vindex bound to columns of a table.
type ColumnVindex struct {
	Columns []string // lower-cased
	Name    string
	Vindex  vindex.Vindex
}

// PrimaryVindex returns the vindex deciding a row's shard, nil for tables
// of unsharded keyspaces.
func (t *Table) PrimaryVindex() *ColumnVindex {
	if len(t.ColumnVindexes) == 0 {
		return nil
	}
	return t.ColumnVindexes[0]
}

// ParseVSchema decodes and validates a keyspace's vschema. Every problem is
// reported with the name of the table, vindex or field at fault. Unknown
// JSON fields are errors, so a typo never silently changes routing.
func ParseVSchema(keyspace string, sharded bool, data []byte) (*Keyspace, *VSchemaJSON, error) {
	var vs VSchemaJSON
	if len(bytes.TrimSpace(data)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&vs); err != nil {
			return nil, nil, fmt.Errorf("vschema of keyspace %s: %w", keyspace, err)
		}
	} else {
		vs.Sharded = sharded
	}
	ks, err := BuildKeyspace(keyspace, sharded, &vs)
	if err != nil {
		return nil, nil, err
	}
	return ks, &vs, nil
}

// BuildKeyspace validates a decoded vschema and builds its vindexes.
func BuildKeyspace(keyspace string, sharded bool, vs *VSchemaJSON) (*Keyspace, error) {
	b := keyspaceBuilder{ks: &Keyspace{Name: keyspace, Sharded: sharded, Vindexes: map[string]vindex.Vindex{}, Tables: map[string]*Table{}}}
	if vs.Sharded != sharded {
		if sharded {
			return nil, b.fail(`keyspace is sharded but the vschema says "sharded": false`)
		}
		return nil, b.fail(`keyspace is unsharded but the vschema says "sharded": true`)
	}
	for _, name := range sortedKeys(vs.Vindexes) {
		if err := b.addVindex(name, vs.Vindexes[name]); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedKeys(vs.Tables) {
		if err := b.addTable(name, vs.Tables[name]); err != nil {
			return nil, err
		}
	}
	if err := b.linkOwnedLookups(); err != nil {
		return nil, err
	}
	return b.ks, nil
}

// keyspaceBuilder builds one keyspace's vschema, in the order
// BuildKeyspace calls its steps: vindexes, tables, owned lookups.
type keyspaceBuilder struct {
	ks *Keyspace
}

func (b keyspaceBuilder) fail(format string, args ...any) error {
	return fmt.Errorf("vschema of keyspace %s: %s", b.ks.Name, fmt.Sprintf(format, args...))
}

// addVindex creates a declared vindex.
func (b keyspaceBuilder) addVindex(name string, decl VindexJSON) error {
	if !b.ks.Sharded {
		return b.fail("vindex %q: an unsharded keyspace has no vindexes", name)
	}
	if decl.Type == "" {
		return b.fail("vindex %q has no type", name)
	}
	v, err := vindex.Create(decl.Type, name, decl.Params)
	if err != nil {
		return b.fail("vindex %q: %v", name, err)
	}
	if decl.Owner != "" {
		o, ok := v.(interface{ SetOwner(string) })
		if !ok {
			return b.fail("vindex %q: type %s has no owner table (only lookup vindexes do)", name, decl.Type)
		}
		o.SetOwner(decl.Owner)
	}
	b.ks.Vindexes[name] = v
	return nil
}

// addTable adds a declared table with its column vindexes.
func (b keyspaceBuilder) addTable(name string, decl TableJSON) error {
	t := &Table{Name: name, Keyspace: b.ks, Type: decl.Type, AutoIncrement: decl.AutoIncrement}
	switch decl.Type {
	case "", "sequence", "reference":
	default:
		return b.fail("table %q: type %q: use \"sequence\", \"reference\" or leave it out", name, decl.Type)
	}
	for i, cv := range decl.ColumnVindexes {
		c, err := b.columnVindex(name, i, cv)
		if err != nil {
			return err
		}
		t.ColumnVindexes = append(t.ColumnVindexes, c)
	}
	if b.ks.Sharded && decl.Type == "" && len(t.ColumnVindexes) == 0 {
		return b.fail("sharded table %q has no primary vindex: add \"column_vindexes\": [{\"column\": ..., \"name\": ...}]", name)
	}
	if !b.ks.Sharded && len(t.ColumnVindexes) > 0 {
		return b.fail("table %q: tables of an unsharded keyspace have no column_vindexes", name)
	}
	b.ks.Tables[strings.ToLower(name)] = t
	return nil
}

// columnVindex resolves table's i-th column vindex (the first is the
// primary, which must be unique).
func (b keyspaceBuilder) columnVindex(table string, i int, cv ColumnVindexJSON) (*ColumnVindex, error) {
	cols := cv.Columns
	if cv.Column != "" {
		if len(cols) > 0 {
			return nil, b.fail("table %q: column_vindexes[%d] sets both column and columns", table, i)
		}
		cols = []string{cv.Column}
	}
	if len(cols) == 0 {
		return nil, b.fail("table %q: column_vindexes[%d] names no column", table, i)
	}
	v, ok := b.ks.Vindexes[cv.Name]
	if !ok {
		return nil, b.fail("table %q: column_vindexes[%d] uses vindex %q, which is not declared under \"vindexes\"", table, i, cv.Name)
	}
	lower := make([]string, len(cols))
	for j, c := range cols {
		lower[j] = strings.ToLower(c)
	}
	if _, multi := v.(vindex.MultiColumn); !multi && len(cols) != 1 {
		return nil, b.fail("table %q: vindex %q maps one column, but %d are given", table, cv.Name, len(cols))
	}
	if i == 0 && !v.IsUnique() {
		return nil, b.fail("table %q: primary vindex %q must be unique (type of %q is not)", table, cv.Name, cv.Name)
	}
	return &ColumnVindex{Columns: lower, Name: cv.Name, Vindex: v}, nil
}

// linkOwnedLookups gives each owned lookup vindex to its owner table,
// whose writes keep it, where it must be a secondary vindex of one
// column.
func (b keyspaceBuilder) linkOwnedLookups() error {
	for _, name := range sortedKeys(b.ks.Vindexes) {
		lv, ok := b.ks.Vindexes[name].(vindex.LookupVindex)
		if !ok || lv.Owner() == "" {
			continue
		}
		owner, ok := b.ks.Tables[strings.ToLower(lv.Owner())]
		if !ok {
			return b.fail("vindex %q: owner table %q is not in the vschema", name, lv.Owner())
		}
		var owned *ColumnVindex
		for i, cv := range owner.ColumnVindexes {
			if cv.Name != name {
				continue
			}
			if i == 0 {
				return b.fail("table %q: owned lookup vindex %q cannot be the primary vindex (its rows are made from the primary vindex's keyspace ids)", owner.Name, name)
			}
			owned = cv
		}
		if owned == nil {
			return b.fail("vindex %q: its owner table %q does not use it in column_vindexes", name, owner.Name)
		}
		owner.Owned = append(owner.Owned, owned)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// VSchema is every keyspace's vschema, as one gate sees it. It is
// immutable: the gate swaps in a new one when the topology changes.
type VSchema struct {
	Keyspaces map[string]*Keyspace
	// Version changes whenever any keyspace's vschema does; plans made for
	// one version are not used with another.
	Version string
}

// Keyspace returns a keyspace by name.
func (v *VSchema) Keyspace(name string) (*Keyspace, bool) {
	ks, ok := v.Keyspaces[name]
	return ks, ok
}
