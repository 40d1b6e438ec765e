package sqlrouter

import (
	"sort"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/vindex"
)

// chooseRoute decides which shards run the statement and how their results
// combine. Unsharded keyspaces take any statement as is; sharded ones get
// the routing the statement's shape allows, or a 1235 error naming what
// cannot be answered correctly yet.
func chooseRoute(st *planState) error {
	ks := st.keyspace
	if ks == nil {
		// Neither a table nor a session keyspace: SELECT 1, SELECT @@x,
		// or a read of system tables. Any shard of any keyspace answers.
		names := make([]string, 0, len(st.ctx.VSchema.Keyspaces))
		for name := range st.ctx.VSchema.Keyspaces {
			names = append(names, name)
		}
		if len(names) == 0 {
			return sqlerr.New(sqlerror.ERNoDb, sqlerror.SSNoDB, "No database selected and no keyspace exists to run the statement in")
		}
		sort.Strings(names)
		ks = st.ctx.VSchema.Keyspaces[names[0]]
	}
	st.routeKeyspace = ks.Name
	route := &Route{Keyspace: ks.Name, original: st.ctx.SQL, returning: st.returning}
	if st.rewritten || hasArguments(st.stmt) || route.original == "" {
		// A regenerated statement names its columns as the client wrote
		// them, as the original would.
		if sel := leftmostSelect(st.stmt); sel != nil {
			keepColumnNames(sel, st.ctx.SQL)
		}
		route.query = sqlparser.NewParsedQuery(st.stmt)
	}
	st.primitive = route

	if ins, ok := st.stmt.(*sqlparser.Insert); ok {
		if src, isSelect := ins.Rows.(sqlparser.TableStatement); isSelect && insertSourceElsewhere(st, ins, src) {
			return routeInsert(st, ins)
		}
	}
	if !ks.Sharded {
		route.Opcode = Unsharded
		route.Write = sqlparser.IsDMLStatement(st.stmt)
		return nil
	}
	if len(st.tables) == 0 {
		route.Opcode = AnyShard
		if _, isRead := st.stmt.(sqlparser.TableStatement); !isRead {
			return sqlerr.Unsupported("%s without a table in sharded keyspace %s", statementName(st.stmt), ks.Name)
		}
		return nil
	}

	switch stmt := st.stmt.(type) {
	case *sqlparser.Select:
		return routeSelect(st, route, stmt)
	case *sqlparser.Insert:
		return routeInsert(st, stmt)
	case *sqlparser.Update:
		return routeUpdate(st, route, stmt)
	case *sqlparser.Delete:
		return routeDelete(st, route, stmt)
	case sqlparser.DDLStatement, *sqlparser.OtherAdmin, *sqlparser.Analyze:
		route.Opcode = AllShards
		return nil
	case *sqlparser.Union:
		return routeUnion(st, route, stmt)
	}
	return sqlerr.Unsupported("%s on tables of sharded keyspace %s", statementName(st.stmt), ks.Name)
}

func statementName(stmt sqlparser.Statement) string {
	return strings.ToUpper(sqlparser.ASTToStatementType(stmt).String())
}

func hasArguments(node sqlparser.SQLNode) bool {
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch n.(type) {
		case *sqlparser.Argument, sqlparser.ListArg:
			found = true
		}
		return !found, nil
	}, node)
	return found
}

func hasDerivedTable(node sqlparser.SQLNode) bool {
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if _, ok := n.(*sqlparser.DerivedTable); ok {
			found = true
		}
		return !found, nil
	}, node)
	return found
}

func hasSubquery(node sqlparser.SQLNode) bool {
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch n.(type) {
		case *sqlparser.Subquery, *sqlparser.DerivedTable:
			found = true
		}
		return !found, nil
	}, node)
	return found
}

// singleTable returns the statement's one table, or a 1235 error for joins.
func singleTable(st *planState) (tableRef, error) {
	if len(st.tables) != 1 {
		names := make([]string, len(st.tables))
		for i, t := range st.tables {
			names[i] = t.name.Name.String()
		}
		return tableRef{}, sqlerr.Unsupported("joins of tables in sharded keyspace %s (%s)", st.keyspace.Name, strings.Join(names, ", "))
	}
	return st.tables[0], nil
}

func routeSelect(st *planState, route *Route, sel *sqlparser.Select) error {
	switch {
	case sel.Into != nil:
		return sqlerr.Unsupported("SELECT ... INTO on tables of sharded keyspace %s", st.keyspace.Name)
	case sel.With != nil || hasDerivedTable(sel):
		return planGate(st, sel)
	}
	if err := checkColocated(st, sel); err != nil {
		// The shards cannot answer it whole: the gate joins their rows.
		return planGate(st, sel)
	}
	route.Opcode = AnyShard // only reference tables: any shard has them all
	var where *sqlparser.Where
	if sel.Where != nil {
		where = sel.Where
	}
	for _, ref := range st.tables {
		if ref.table.Type == "reference" {
			continue
		}
		// Every row of a co-located read lives where each of its sharded
		// tables' rows do: an equality on any of their vindex columns
		// in WHERE routes the whole read.
		op, v, values, inCmp := vindexPredicate(ref, where, len(st.tables) > 1)
		if op < route.Opcode { // EqualUnique beats IN beats Scatter beats AnyShard
			route.Opcode, route.Vindex, route.Values, route.inCmp = op, v, values, inCmp
		}
		if op == EqualUnique {
			break
		}
	}
	if route.Opcode == EqualUnique || route.Opcode == AnyShard {
		return nil // one shard answers everything exactly
	}
	route.pruneIn(st.stmt)
	planMerge(st, route, sel)
	if route.mergeBlocker != "" && st.ctx.Schema != nil {
		// What the merge of the shards' answers cannot compute, the gate
		// computes from their rows.
		return planGate(st, sel)
	}
	return nil
}

func containsWindowFunc(node sqlparser.SQLNode) bool {
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if _, ok := n.(*sqlparser.OverClause); ok {
			found = true
		}
		return !found, nil
	}, node)
	return found
}

// vindexPredicate finds the best routing condition on the table's vindex
// columns among the WHERE clause's AND-ed conditions: an equality on a
// unique vindex (one shard), else an equality on a non-unique one (the
// shards it maps the value to), else an IN list (the shards of its
// values), else a scatter; between vindexes of one kind, the cheaper (a
// hash before a lookup, which costs a query). With several tables, only
// qualified columns count: an unqualified name could belong to another
// table. For an IN route it also returns the comparison that holds the
// list.
func vindexPredicate(ref tableRef, where *sqlparser.Where, qualified bool) (Opcode, vindex.Vindex, []sqlparser.Expr, *sqlparser.ComparisonExpr) {
	best, bestCost := Scatter, 0
	var bestVindex vindex.Vindex
	var bestValues []sqlparser.Expr
	var bestCmp *sqlparser.ComparisonExpr
	if where == nil {
		return Scatter, nil, nil, nil
	}
	for _, cv := range ref.table.ColumnVindexes {
		if len(cv.Columns) != 1 {
			continue
		}
		op, values, cmp := columnPredicate(ref, cv.Columns[0], where, qualified)
		if op == EqualUnique && !cv.Vindex.IsUnique() {
			op = Equal
		}
		if op == Scatter {
			continue
		}
		if op < best || (op == best && cv.Vindex.Cost() < bestCost) {
			best, bestCost, bestVindex, bestValues, bestCmp = op, cv.Vindex.Cost(), cv.Vindex, values, cmp
		}
	}
	return best, bestVindex, bestValues, bestCmp
}

// columnPredicate finds an equality (EqualUnique) or IN list on column col
// of ref among where's AND-ed conditions.
func columnPredicate(ref tableRef, col string, where *sqlparser.Where, qualified bool) (Opcode, []sqlparser.Expr, *sqlparser.ComparisonExpr) {
	var in []sqlparser.Expr
	var inCmp *sqlparser.ComparisonExpr
	for _, cond := range sqlparser.SplitAndExpression(nil, where.Expr) {
		cmp, ok := cond.(*sqlparser.ComparisonExpr)
		if !ok {
			continue
		}
		left, right := cmp.Left, cmp.Right
		if !isColumn(left, col, ref) {
			left, right = right, left
			if cmp.Operator != sqlparser.EqualOp || !isColumn(left, col, ref) {
				continue
			}
		}
		if c := left.(*sqlparser.ColName); qualified && c.Qualifier.IsEmpty() {
			continue
		}
		switch cmp.Operator {
		case sqlparser.EqualOp:
			if isValue(right) {
				return EqualUnique, []sqlparser.Expr{right}, nil
			}
		case sqlparser.InOp:
			if list, ok := right.(sqlparser.ListArg); ok && in == nil {
				in, inCmp = []sqlparser.Expr{list}, cmp // a list bound at execution
				continue
			}
			tuple, ok := right.(sqlparser.ValTuple)
			if !ok || in != nil {
				continue
			}
			all := true
			for _, e := range tuple {
				all = all && isValue(e)
			}
			if all {
				in, inCmp = tuple, cmp
			}
		}
	}
	if in != nil {
		return In, in, inCmp
	}
	return Scatter, nil, nil
}

// isColumn reports whether e names column col of the table ref.
func isColumn(e sqlparser.Expr, col string, ref tableRef) bool {
	c, ok := e.(*sqlparser.ColName)
	if !ok || c.Name.Lowered() != col {
		return false
	}
	q := c.Qualifier.Name.String()
	return q == "" || strings.EqualFold(q, ref.alias) || strings.EqualFold(q, ref.name.Name.String())
}

func routeUpdate(st *planState, route *Route, upd *sqlparser.Update) error {
	if upd.With != nil {
		return sqlerr.Unsupported("UPDATE with WITH in sharded keyspace %s", st.keyspace.Name)
	}
	written := map[string]bool{}
	for _, set := range upd.Exprs {
		q := strings.ToLower(set.Name.Qualifier.Name.String())
		for _, ref := range st.tables {
			if !dmlTarget(ref, upd.TableExprs) || (q != "" && !strings.EqualFold(q, ref.alias)) {
				continue
			}
			if q == "" && len(st.tables) > 1 && !tableHasColumn(st, ref, set.Name.Name.String()) {
				continue
			}
			written[strings.ToLower(ref.alias)] = true
			// The primary vindex column places the row: changing it would
			// have to move the row to another shard (SET col = col does
			// not change it). (Owned lookup columns are kept by OwnedDML.)
			if cv := ref.table.PrimaryVindex(); cv != nil {
				for _, c := range cv.Columns {
					if same, ok := set.Expr.(*sqlparser.ColName); ok && sameColumn(same, c, ref.alias) {
						continue
					}
					if set.Name.Name.Lowered() == c {
						return sqlerr.Unsupported("changing primary vindex column %s of sharded table %s (delete the row and insert it again)", c, ref.alias)
					}
				}
			}
		}
	}
	if len(st.tables) == 1 && len(upd.TableExprs) == 1 && !hasSubquery(upd) {
		ref := st.tables[0]
		if err := routeDML(st.stmt, route, ref, upd.Where, len(upd.OrderBy) > 0, upd.Limit != nil); err != nil {
			return err
		}
		if len(ref.table.Owned) > 0 {
			if len(upd.OrderBy) > 0 || upd.Limit != nil {
				return sqlerr.Unsupported("UPDATE with ORDER BY or LIMIT of table %s, which owns lookup vindexes", ref.alias)
			}
			return planOwnedDML(st, route, ref.table, ref.alias, upd.TableExprs, upd.Where, upd)
		}
		return nil
	}
	var values []sqlparser.Expr
	for _, set := range upd.Exprs {
		values = append(values, set.Expr)
	}
	return routeMultiTableDML(st, route, upd.TableExprs, upd.Where, values, written, "UPDATE")
}

func routeDelete(st *planState, route *Route, del *sqlparser.Delete) error {
	if del.With != nil {
		return sqlerr.Unsupported("DELETE with WITH in sharded keyspace %s", st.keyspace.Name)
	}
	if len(st.tables) == 1 && len(del.TableExprs) == 1 && len(del.Targets) == 0 && !hasSubquery(del) {
		ref := st.tables[0]
		if err := routeDML(st.stmt, route, ref, del.Where, len(del.OrderBy) > 0, del.Limit != nil); err != nil {
			return err
		}
		if len(ref.table.Owned) > 0 {
			if len(del.OrderBy) > 0 || del.Limit != nil {
				return sqlerr.Unsupported("DELETE with ORDER BY or LIMIT from table %s, which owns lookup vindexes", ref.alias)
			}
			return planOwnedDML(st, route, ref.table, ref.alias, del.TableExprs, del.Where, nil)
		}
		return nil
	}
	written := map[string]bool{}
	for _, t := range del.Targets {
		written[strings.ToLower(t.Name.String())] = true
	}
	if len(del.Targets) == 0 {
		for _, ref := range st.tables {
			if dmlTarget(ref, del.TableExprs) {
				written[strings.ToLower(ref.alias)] = true
			}
		}
	}
	return routeMultiTableDML(st, route, del.TableExprs, del.Where, nil, written, "DELETE")
}

// dmlTarget reports whether ref is a table of the statement's own table
// list (not one of a subquery).
func dmlTarget(ref tableRef, exprs []sqlparser.TableExpr) bool {
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if ate, ok := n.(*sqlparser.AliasedTableExpr); ok {
			if _, derived := ate.Expr.(*sqlparser.DerivedTable); derived {
				return false, nil
			}
			found = found || strings.EqualFold(tableAlias(ate), ref.alias)
			return false, nil
		}
		return true, nil
	}, sqlparser.TableExprs(exprs))
	return found
}

// tableHasColumn reports whether the schema says ref has the column (true
// when the schema does not know: the column may be its).
func tableHasColumn(st *planState, ref tableRef, col string) bool {
	if st.ctx.Schema == nil || ref.table == nil {
		return true
	}
	cols, ok := st.ctx.Schema.Columns(ref.table.Keyspace.Name, ref.table.Name)
	if !ok {
		return true
	}
	for _, c := range cols {
		if strings.EqualFold(c, col) {
			return true
		}
	}
	return false
}

// routeMultiTableDML routes an UPDATE or DELETE of several tables, or with
// correlated subqueries (in WHERE or in assigned values), when every shard can run it on its own rows: the
// tables are co-located (as for a read), and no reference table is
// written from sharded rows (each shard would change its copy
// differently).
func routeMultiTableDML(st *planState, route *Route, from []sqlparser.TableExpr, where *sqlparser.Where, values []sqlparser.Expr, written map[string]bool, verb string) error {
	// A read of the same tables and conditions (and the assigned values,
	// whose correlated subqueries count) is co-located exactly when the
	// statement is.
	probe := &sqlparser.Select{From: from, SelectExprs: &sqlparser.SelectExprs{Exprs: []sqlparser.SelectExpr{&sqlparser.AliasedExpr{Expr: sqlparser.NewIntLiteral("1")}}}, Where: where}
	for _, v := range values {
		probe.SelectExprs.Exprs = append(probe.SelectExprs.Exprs, &sqlparser.AliasedExpr{Expr: v})
	}
	if err := checkColocated(st, probe); err != nil {
		why := strings.TrimPrefix(sqlerr.From(err).Message, "Shardgate does not support ")
		return sqlerr.Unsupported("%s whose tables are not all on the same shards: %s", verb, why)
	}
	route.Write = true
	sharded := false
	for _, ref := range st.tables {
		if ref.table.Type != "reference" {
			sharded = true
		}
	}
	for _, ref := range st.tables {
		if sharded && ref.table.Type == "reference" && written[strings.ToLower(ref.alias)] {
			return sqlerr.Unsupported("%s of reference table %s from the rows of sharded tables", verb, ref.alias)
		}
	}
	if !sharded {
		route.Opcode = AllShards
		return nil
	}
	route.Opcode = Scatter
	for _, ref := range st.tables {
		if ref.table.Type == "reference" {
			continue
		}
		op, v, values, inCmp := vindexPredicate(ref, where, len(st.tables) > 1)
		if op < route.Opcode {
			route.Opcode, route.Vindex, route.Values, route.inCmp = op, v, values, inCmp
		}
	}
	route.pruneIn(st.stmt)
	// A written table that owns lookup vindexes has its changed rows read
	// first (through the same tables and conditions) to keep them.
	var owner *tableRef
	for i, ref := range st.tables {
		if written[strings.ToLower(ref.alias)] && len(ref.table.Owned) > 0 && dmlTarget(ref, from) {
			if owner != nil {
				return sqlerr.Unsupported("%s of two tables that own lookup vindexes (%s and %s)", verb, owner.alias, ref.alias)
			}
			owner = &st.tables[i]
		}
	}
	if owner != nil {
		var upd *sqlparser.Update
		if u, ok := st.stmt.(*sqlparser.Update); ok {
			upd = u
		}
		return planOwnedDML(st, route, owner.table, owner.alias, from, where, upd)
	}
	return nil
}

func routeDML(stmt sqlparser.Statement, route *Route, ref tableRef, where *sqlparser.Where, orderBy, limit bool) error {
	route.Write = true
	if ref.table.Type == "reference" {
		route.Opcode = AllShards
		return nil
	}
	route.Opcode, route.Vindex, route.Values, route.inCmp = vindexPredicate(ref, where, false)
	route.pruneIn(stmt)
	if route.Opcode != EqualUnique {
		switch {
		case limit:
			route.mergeBlocker = "LIMIT in UPDATE or DELETE"
		case orderBy:
			route.mergeBlocker = "ORDER BY in UPDATE or DELETE"
		}
	}
	return nil
}
