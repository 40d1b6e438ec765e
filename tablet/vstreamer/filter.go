package vstreamer

import (
	"context"
	"fmt"
	"strings"

	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/vindex"
)

// Filter keeps the rows of a receiver's key range.
type Filter struct {
	keyRange vindex.KeyRange
	tables   map[string]*tableSharding // lower-cased table name
}

// tableSharding is how one table's rows map to keyspace ids.
type tableSharding struct {
	reference bool
	columns   []string // lower-cased
	vindex    vindex.Vindex
}

// NewFilter builds a filter; the vindexes must map without a database
// (functional ones: a lookup cannot be a resharded table's primary vindex).
func NewFilter(f *replicationpb.Filter) (*Filter, error) {
	out := &Filter{tables: map[string]*tableSharding{}}
	if kr := f.GetKeyRange(); kr != nil {
		out.keyRange = vindex.KeyRange{Start: kr.Start, End: kr.End}
	}
	for _, t := range f.GetTables() {
		ts := &tableSharding{reference: t.Reference}
		if !t.Reference {
			v, err := vindex.Create(t.VindexType, t.Table+"_vindex", t.VindexParams)
			if err != nil {
				return nil, fmt.Errorf("table %s: %w", t.Table, err)
			}
			if v.NeedsCursor() {
				return nil, fmt.Errorf("table %s: its primary vindex (%s) needs a database to map rows; resharding needs a functional one", t.Table, t.VindexType)
			}
			ts.vindex = v
			for _, c := range t.Columns {
				ts.columns = append(ts.columns, strings.ToLower(c))
			}
		}
		out.tables[strings.ToLower(t.Table)] = ts
	}
	return out, nil
}

// Has reports whether the filter streams the table.
func (f *Filter) Has(table string) bool {
	_, ok := f.tables[strings.ToLower(table)]
	return ok
}

// rowFilter decides, for the rows of one table with these fields, whether
// each is in the key range.
type rowFilter struct {
	keyRange  vindex.KeyRange
	sharding  *tableSharding
	positions []int // of the vindex columns in the row
}

func (f *Filter) forTable(table string, fields []*vquerypb.Field) (*rowFilter, error) {
	ts, ok := f.tables[strings.ToLower(table)]
	if !ok {
		return nil, fmt.Errorf("table %s is not in the workflow", table)
	}
	rf := &rowFilter{keyRange: f.keyRange, sharding: ts}
	for _, col := range ts.columns {
		pos := -1
		for i, fld := range fields {
			if strings.EqualFold(fld.Name, col) {
				pos = i
			}
		}
		if pos < 0 {
			return nil, fmt.Errorf("table %s has no column %s (its primary vindex column)", table, col)
		}
		rf.positions = append(rf.positions, pos)
	}
	return rf, nil
}

// keep reports whether row's keyspace id is in the range.
func (rf *rowFilter) keep(row []sqltypes.Value) (bool, error) {
	if rf.sharding.reference {
		return true, nil
	}
	vals := make([]sqltypes.Value, len(rf.positions))
	for i, p := range rf.positions {
		vals[i] = row[p]
	}
	dests, err := vindex.Map(context.Background(), rf.sharding.vindex, nil, [][]sqltypes.Value{vals})
	if err != nil {
		return false, err
	}
	switch d := dests[0].(type) {
	case vindex.DestinationKeyspaceID:
		return rf.keyRange.Contains(vindex.KeyspaceID(d)), nil
	case vindex.DestinationNone:
		return false, nil
	}
	return false, fmt.Errorf("vindex maps a row to %s, not one keyspace id", dests[0].String())
}
