package vreplication

import (
	"fmt"
	"strings"

	"vitess.io/vitess/go/sqlescape"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/rowkey"
)

// tableInfo is a table as the sender describes it: its columns (typed as
// the values arrive) and its primary key.
type tableInfo struct {
	name   string
	fields []*vquerypb.Field
	pk     []int // positions of the primary key columns
	// qualified is `db`.`table`; columns the escaped column list.
	qualified, columns string
}

func newTableInfo(db, name string, fields []*vquerypb.Field, pkColumns []string) (*tableInfo, error) {
	t := &tableInfo{name: name, fields: fields, qualified: sqlescape.EscapeID(db) + "." + sqlescape.EscapeID(name)}
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = sqlescape.EscapeID(f.Name)
	}
	t.columns = strings.Join(cols, ", ")
	key, err := rowkey.Named(fields, pkColumns)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", name, err)
	}
	t.pk = key.Columns()
	return t, nil
}

func literal(b *strings.Builder, v sqltypes.Value) { v.EncodeSQL(b) }

// insert is one INSERT of rows.
func (t *tableInfo) insert(rows [][]sqltypes.Value) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + t.qualified + " (" + t.columns + ") VALUES ")
	for i, row := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, v := range row {
			if j > 0 {
				b.WriteString(", ")
			}
			literal(&b, v)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// where is the primary key condition of row.
func (t *tableInfo) where(b *strings.Builder, row []sqltypes.Value) {
	b.WriteString(" WHERE ")
	for i, p := range t.pk {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString(sqlescape.EscapeID(t.fields[p].Name) + " = ")
		literal(b, row[p])
	}
}

// update sets every column of the row before to after.
func (t *tableInfo) update(before, after []sqltypes.Value) string {
	var b strings.Builder
	b.WriteString("UPDATE " + t.qualified + " SET ")
	for i, v := range after {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(sqlescape.EscapeID(t.fields[i].Name) + " = ")
		literal(&b, v)
	}
	t.where(&b, before)
	return b.String()
}

func (t *tableInfo) delete(before []sqltypes.Value) string {
	var b strings.Builder
	b.WriteString("DELETE FROM " + t.qualified)
	t.where(&b, before)
	return b.String()
}

// pkFields are the fields of the primary key columns.
func (t *tableInfo) pkFields() []*vquerypb.Field {
	out := make([]*vquerypb.Field, len(t.pk))
	for i, p := range t.pk {
		out[i] = t.fields[p]
	}
	return out
}
