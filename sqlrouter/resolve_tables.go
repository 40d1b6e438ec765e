package sqlrouter

import (
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// systemSchemas are MySQL's own databases; statements reading only them go
// to any one shard.
var systemSchemas = map[string]bool{
	"information_schema": true, "mysql": true, "performance_schema": true, "sys": true,
}

// resolveTables finds every table the statement names, the keyspace each
// belongs to, and its vschema entry. A statement must stay within one
// keyspace.
func resolveTables(st *planState) error {
	var refs []sqlparser.TableName
	aliases := map[int]string{} // refs index -> alias
	roots := []sqlparser.SQLNode{st.stmt}
	switch s := st.stmt.(type) {
	case *sqlparser.Insert:
		if src, isSelect := s.Rows.(sqlparser.TableStatement); isSelect && insertSourceElsewhere(st, s, src) {
			// The SELECT of INSERT ... SELECT is planned on its own (it
			// may read another keyspace): the statement is the target's.
			roots = []sqlparser.SQLNode{s.Table}
		}
	case *sqlparser.Delete:
		// DELETE t1 FROM t1 JOIN t2: the targets name aliases of the
		// table list, not tables.
		roots = []sqlparser.SQLNode{sqlparser.TableExprs(s.TableExprs), s.Where, s.OrderBy}
	}
	walk := func(visit func(sqlparser.SQLNode) (bool, error)) {
		for _, r := range roots {
			_ = sqlparser.Walk(visit, r)
		}
	}
	walk(func(node sqlparser.SQLNode) (bool, error) {
		switch n := node.(type) {
		case *sqlparser.AliasedTableExpr:
			if tn, ok := n.Expr.(sqlparser.TableName); ok {
				if !n.As.IsEmpty() {
					aliases[len(refs)] = n.As.String()
				}
				refs = append(refs, tn)
				return false, nil // its TableName is this reference
			}
		case sqlparser.TableName:
			if !n.Name.IsEmpty() {
				refs = append(refs, n)
			}
		case *sqlparser.ColName, *sqlparser.StarExpr:
			return false, nil // a column's or star's qualifier is not a table reference
		}
		return true, nil
	})

	// One reference per alias: a table read twice under two names (a
	// self-join, a correlated subquery) is two references.
	seen := map[string]bool{}
	userTables := 0
	for i, tn := range refs {
		ksName := tn.Qualifier.String()
		if ksName == "" {
			ksName = st.ctx.Keyspace
		}
		alias := aliases[i]
		if alias == "" {
			alias = tn.Name.String()
		}
		key := ksName + "." + tn.Name.String() + " " + strings.ToLower(alias)
		if seen[key] {
			continue
		}
		seen[key] = true
		if systemSchemas[strings.ToLower(tn.Qualifier.String())] {
			continue
		}
		if tn.Qualifier.IsEmpty() && strings.EqualFold(tn.Name.String(), "dual") {
			continue // SELECT ... FROM DUAL names no table
		}
		if ksName == "" {
			return sqlerr.New(sqlerror.ERNoDb, sqlerror.SSNoDB, "No database selected: USE a keyspace or qualify table %s with one", tn.Name.String())
		}
		ks, ok := st.ctx.VSchema.Keyspace(ksName)
		if !ok {
			return sqlerr.New(sqlerror.ERBadDb, sqlerror.SSClientError, "Unknown database '%s'", ksName)
		}
		if st.keyspace != nil && st.keyspace != ks {
			return sqlerr.Unsupported("statements that span keyspaces (%s and %s)", st.keyspace.Name, ks.Name)
		}
		st.keyspace = ks
		userTables++
		t := ks.Tables[strings.ToLower(tn.Name.String())]
		if _, ddl := st.stmt.(sqlparser.DDLStatement); ks.Sharded && t == nil && !ddl {
			return sqlerr.New(sqlerror.ERNoSuchTable, sqlerror.SSUnknownTable,
				"Table '%s.%s' is not in the vschema of sharded keyspace %s: add it with `shardctl vschema apply`", ks.Name, tn.Name.String(), ks.Name)
		}
		st.tables = append(st.tables, tableRef{name: tn, alias: alias, table: t})
	}
	st.system = userTables == 0 && len(refs) > 0
	if st.keyspace == nil && st.ctx.Keyspace != "" {
		// No table named (SELECT 1, SELECT @@x): run in the session's keyspace.
		ks, ok := st.ctx.VSchema.Keyspace(st.ctx.Keyspace)
		if !ok {
			return sqlerr.New(sqlerror.ERBadDb, sqlerror.SSClientError, "Unknown database '%s'", st.ctx.Keyspace)
		}
		st.keyspace = ks
	}
	return nil
}

// insertSourceElsewhere reports whether the SELECT of an INSERT ... SELECT
// must run apart from the INSERT: the target is sharded (its rows are
// split by vindex at the gate), or the SELECT reads another keyspace than
// the unsharded target's.
func insertSourceElsewhere(st *planState, ins *sqlparser.Insert, src sqlparser.TableStatement) bool {
	tn, ok := ins.Table.Expr.(sqlparser.TableName)
	if !ok {
		return false
	}
	target := tn.Qualifier.String()
	if target == "" {
		target = st.ctx.Keyspace
	}
	if ks, ok := st.ctx.VSchema.Keyspace(target); !ok || ks.Sharded {
		return ok
	}
	elsewhere := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch t := n.(type) {
		case *sqlparser.ColName:
			return false, nil
		case sqlparser.TableName:
			ks := t.Qualifier.String()
			if ks == "" {
				ks = st.ctx.Keyspace
			}
			if !t.Name.IsEmpty() && ks != target && !systemSchemas[strings.ToLower(ks)] {
				elsewhere = true
			}
		}
		return !elsewhere, nil
	}, src)
	return elsewhere
}
