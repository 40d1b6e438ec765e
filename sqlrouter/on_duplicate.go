package sqlrouter

import (
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter/vschema"
)

// checkOnDuplicateVindex refuses an ON DUPLICATE KEY UPDATE that may
// change the primary vindex column of the row it updates: the row would
// belong to another shard.
//
// Two assignments keep the row where it is and are allowed. col = col
// changes nothing. col = VALUES(col) (MariaDB also spells it VALUE(col))
// sets the column to the value of the row being inserted, and that value
// is what sent the statement to this shard, so the updated row belongs
// where it is (ORMs send it: GORM's upserts of has-many children update
// the parent key with VALUES()). The row's keyspace id may change within
// the shard, which only lookup vindexes record: ON DUPLICATE KEY UPDATE
// into tables that own one is refused apart (ownedColumns).
func checkOnDuplicateVindex(ins *sqlparser.Insert, t *vschema.Table, col string) error {
	for _, upd := range ins.OnDup {
		if upd.Name.Name.Lowered() != col || keepsColumn(upd.Expr, col, t.Name) {
			continue
		}
		return sqlerr.Unsupported("ON DUPLICATE KEY UPDATE of vindex column %s of sharded table %s to %s (only %s = VALUES(%s) keeps the row on its shard)",
			col, t.Name, sqlparser.String(upd.Expr), col, col)
	}
	return nil
}

// keepsColumn reports whether e, assigned to column col of table, is
// col itself or (in ON DUPLICATE KEY UPDATE) VALUES(col) or VALUE(col).
func keepsColumn(e sqlparser.Expr, col, table string) bool {
	switch e := e.(type) {
	case *sqlparser.ColName:
		return sameColumn(e, col, table)
	case *sqlparser.ValuesFuncExpr:
		return sameColumn(e.Name, col, table)
	case *sqlparser.FuncExpr:
		// Vitess parses MariaDB's VALUE(col) as a plain function call.
		if !e.Qualifier.IsEmpty() || e.Name.Lowered() != "value" || len(e.Exprs) != 1 {
			return false
		}
		c, ok := e.Exprs[0].(*sqlparser.ColName)
		return ok && sameColumn(c, col, table)
	}
	return false
}

// sameColumn reports whether c names column col of table (unqualified,
// or qualified by the table's name).
func sameColumn(c *sqlparser.ColName, col, table string) bool {
	if c == nil || c.Name.Lowered() != col {
		return false
	}
	q := c.Qualifier.Name.String()
	return q == "" || strings.EqualFold(q, table)
}
