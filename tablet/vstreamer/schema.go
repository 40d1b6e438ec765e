package vstreamer

import (
	"fmt"
	"strings"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/sqlescape"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"
)

// table is what the streamer knows of a table: its columns (as MySQL
// reports them for SELECT *, in definition order, which is the order of
// the binlog's row images) and its primary key.
type table struct {
	name   string
	fields []*vquerypb.Field
	pk     []string // lower-cased primary key columns, in key order
	pkPos  []int    // their positions in fields
}

// loadTable reads a table's definition on conn, in database db.
func loadTable(conn *mysql.Conn, db, name string) (*table, error) {
	res, err := conn.ExecuteFetch("SELECT * FROM "+sqlescape.EscapeID(db)+"."+sqlescape.EscapeID(name)+" LIMIT 0", 0, true)
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", name, err)
	}
	t := &table{name: name, fields: res.Fields}
	pk, err := conn.ExecuteFetch("SELECT column_name FROM information_schema.key_column_usage WHERE table_schema = "+
		sqltypes.EncodeStringSQL(db)+" AND table_name = "+sqltypes.EncodeStringSQL(name)+
		" AND constraint_name = 'PRIMARY' ORDER BY ordinal_position", 100, false)
	if err != nil {
		return nil, fmt.Errorf("read the primary key of %s: %w", name, err)
	}
	for _, row := range pk.Rows {
		col := strings.ToLower(row[0].ToString())
		pos := -1
		for i, f := range t.fields {
			if strings.ToLower(f.Name) == col {
				pos = i
			}
		}
		if pos < 0 {
			return nil, fmt.Errorf("table %s: primary key column %s is not among its columns", name, col)
		}
		t.pk, t.pkPos = append(t.pk, col), append(t.pkPos, pos)
	}
	if len(t.pk) == 0 {
		return nil, fmt.Errorf("table %s has no primary key: resharding needs one to copy its rows in order", name)
	}
	return t, nil
}

// pkOf returns the primary key values of a row.
func (t *table) pkOf(row []sqltypes.Value) []sqltypes.Value {
	out := make([]sqltypes.Value, len(t.pkPos))
	for i, p := range t.pkPos {
		out[i] = row[p]
	}
	return out
}
