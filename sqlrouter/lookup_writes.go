package sqlrouter

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqlescape"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter/vschema"
	"github.com/shardgate/shardgate/vindex"
)

// ownedColumn is an owned lookup vindex of a table an INSERT writes, and
// the position of its column in the INSERT's column list.
type ownedColumn struct {
	cv     *vschema.ColumnVindex
	column int
}

// ownedColumns lists the lookup vindexes an INSERT into t must add rows
// to. The INSERT must name their columns; forms that may keep an existing
// row (ON DUPLICATE KEY UPDATE, IGNORE, REPLACE) are refused, as their
// lookup rows could not be kept exact.
func ownedColumns(t *vschema.Table, ins *sqlparser.Insert) ([]ownedColumn, error) {
	if len(t.Owned) == 0 {
		return nil, nil
	}
	switch {
	case len(ins.OnDup) > 0:
		return nil, sqlerr.Unsupported("INSERT ... ON DUPLICATE KEY UPDATE into table %s, which owns lookup vindex %s (whether each row is inserted or updates another is known only on the shard, so its lookup rows could not be kept exact; even col = VALUES(col) may move the updated row to another keyspace id)", t.Name, t.Owned[0].Name)
	case bool(ins.Ignore):
		return nil, sqlerr.Unsupported("INSERT IGNORE into table %s, which owns lookup vindex %s (which rows are inserted is known only on the shard, so their lookup rows could not be kept exact)", t.Name, t.Owned[0].Name)
	case ins.Action == sqlparser.ReplaceAct:
		return nil, sqlerr.Unsupported("REPLACE into table %s, which owns lookup vindex %s (the lookup rows of the rows it deletes are not known)", t.Name, t.Owned[0].Name)
	}
	var out []ownedColumn
	for _, cv := range t.Owned {
		col := columnIndex(ins.Columns, cv.Columns[0])
		if col < 0 {
			return nil, sqlerr.New(1364, "HY000", "Field '%s' doesn't have a default value: an INSERT into table %s must give it, for lookup vindex %s", cv.Columns[0], t.Name, cv.Name)
		}
		out = append(out, ownedColumn{cv: cv, column: col})
	}
	return out, nil
}

// needsAtomic reports whether lookup rows must commit with their owner's
// rows (all but consistent lookups).
func needsAtomic(owned []ownedColumn) bool {
	for _, o := range owned {
		if !o.cv.Vindex.(vindex.LookupVindex).Consistent() {
			return true
		}
	}
	return false
}

// keyspaceIDs maps the values of a unique vindex to their keyspace IDs.
func keyspaceIDs(ctx context.Context, cur vindex.Cursor, v vindex.Vindex, values []sqltypes.Value) ([]vindex.KeyspaceID, error) {
	ids := make([]vindex.KeyspaceID, len(values))
	if h, ok := v.(vindex.Hasher); ok {
		for i, val := range values {
			id, err := h.Hash(val)
			if err != nil {
				return nil, sqlerr.Internal("vindex %s cannot map %s: %v", v.String(), val.String(), err)
			}
			ids[i] = id
		}
		return ids, nil
	}
	sc, ok := v.(vindex.SingleColumn)
	if !ok {
		return nil, sqlerr.Unsupported("rows of a table sharded by multi-column vindex %s", v.String())
	}
	dests, err := sc.Map(ctx, cur, values)
	if err != nil {
		return nil, sqlerr.From(err)
	}
	for i, d := range dests {
		id, ok := d.(vindex.DestinationKeyspaceID)
		if !ok {
			return nil, sqlerr.Internal("vindex %s maps %s to %s, not to one keyspace id", v.String(), values[i].String(), d.String())
		}
		ids[i] = vindex.KeyspaceID(id)
	}
	return ids, nil
}

// createLookupRows adds lookup rows value -> id for rows of owner. A
// non-consistent lookup writes in the session's transaction. A consistent
// one writes first and on its own: if a unique value is taken, the row is
// taken over when no owner row holds the value any more (it was left by a
// failed or rolled-back write), else the insert fails as a duplicate.
func createLookupRows(ctx context.Context, vc VCursor, keyspace, owner string, cv *vschema.ColumnVindex, values []sqltypes.Value, ids []vindex.KeyspaceID) error {
	lv := cv.Vindex.(vindex.LookupVindex)
	if !lv.Consistent() {
		return lv.Create(ctx, vindexCursor{vc: vc, keyspace: keyspace}, values, ids)
	}
	cur := vindexCursor{vc: vc, keyspace: keyspace, autocommit: true}
	err := lv.Create(ctx, cur, values, ids)
	if err == nil || !lv.IsUnique() || !isDuplicateKey(err) {
		return err
	}
	for i, v := range values {
		err := lv.Create(ctx, cur, values[i:i+1], ids[i:i+1])
		if err == nil {
			continue
		}
		if !isDuplicateKey(err) {
			return err
		}
		sql := "select 1 from " + sqlescape.EscapeID(owner) + " where " + sqlescape.EscapeID(cv.Columns[0]) + " = :v limit 1"
		res, err := vc.ExecuteStatement(ctx, keyspace, sql, map[string]*querypb.BindVariable{"v": sqltypes.ValueBindVariable(v)}, false)
		if err != nil {
			return err
		}
		if len(res.Rows) > 0 {
			return sqlerr.New(sqlerror.ERDupEntry, "23000", "Duplicate entry '%s' for key '%s' (lookup vindex %s)", v.ToString(), cv.Columns[0], cv.Name)
		}
		if err := lv.Repoint(ctx, cur, v, ids[i]); err != nil {
			return err
		}
	}
	return nil
}

func isDuplicateKey(err error) bool {
	var se *sqlerror.SQLError
	return errors.As(err, &se) && se.Number() == sqlerror.ERDupEntry
}

// OwnedDML is an UPDATE or DELETE of a table that owns lookup vindexes:
// it reads the rows the statement changes (their keyspace ids and owned
// values, locked) before running it, and removes (and, for an UPDATE of
// an owned column, adds) their lookup rows. Non-consistent lookups change
// in the statement's transaction; consistent ones gain rows before it and
// lose them after it, outside any transaction (or not at all inside an
// explicit transaction, whose rollback would leave an owner row without
// its lookup row: an extra lookup row only costs a query to one more
// shard).
type OwnedDML struct {
	dml *Route
	// table is the owner table, primaryColumn its primary vindex column.
	table, primaryColumn string
	read                 Primitive // primary vindex column, then the owned columns
	primary              vindex.Vindex
	owned                []*vschema.ColumnVindex
	// newValues gives, for an UPDATE, the value each owned column is set
	// to (nil: unchanged).
	newValues []sqlparser.Expr
	delete    bool
}

// planOwnedDML wraps an UPDATE or DELETE that writes t (called alias among
// the tables of from).
func planOwnedDML(st *planState, route *Route, t *vschema.Table, alias string, from []sqlparser.TableExpr, where *sqlparser.Where, upd *sqlparser.Update) error {
	o := &OwnedDML{dml: route, primary: t.PrimaryVindex().Vindex, delete: upd == nil, table: t.Name, primaryColumn: t.PrimaryVindex().Columns[0]}
	sel := &sqlparser.Select{
		From:        sqlparser.CloneTableExprs(from),
		SelectExprs: &sqlparser.SelectExprs{},
		Lock:        sqlparser.ForUpdateLock,
	}
	if where != nil {
		sel.Where = sqlparser.NewWhere(sqlparser.WhereClause, sqlparser.CloneExpr(where.Expr))
	}
	qualifier := sqlparser.TableName{Name: sqlparser.NewIdentifierCS(alias)}
	add := func(col string) {
		sel.SelectExprs.Exprs = append(sel.SelectExprs.Exprs, &sqlparser.AliasedExpr{Expr: sqlparser.NewColNameWithQualifier(col, qualifier)})
	}
	add(t.PrimaryVindex().Columns[0])
	for _, cv := range t.Owned {
		var newValue sqlparser.Expr
		if upd != nil {
			for _, set := range upd.Exprs {
				q := set.Name.Qualifier.Name.String()
				if set.Name.Name.Lowered() == cv.Columns[0] && (q == "" || strings.EqualFold(q, alias)) {
					if same, ok := set.Expr.(*sqlparser.ColName); ok && sameColumn(same, cv.Columns[0], alias) {
						continue // SET col = col: the lookup row stays
					}
					if !isValue(set.Expr) {
						return sqlerr.Unsupported("setting column %s of lookup vindex %s to a computed value (%s): set it to a value", cv.Columns[0], cv.Name, sqlparser.String(set.Expr))
					}
					newValue = set.Expr
				}
			}
			if newValue == nil {
				continue // the UPDATE leaves this lookup as it is
			}
		}
		o.owned = append(o.owned, cv)
		o.newValues = append(o.newValues, newValue)
		add(cv.Columns[0])
	}
	if len(o.owned) == 0 {
		return nil // an UPDATE of other columns
	}
	ctx := st.ctx
	ctx.SQL = ""
	plan, err := NewPlan(sel, ctx)
	if err != nil {
		return err
	}
	o.read = plan.Primitive
	st.primitive = o
	return nil
}

// Inputs implements Primitive.
func (o *OwnedDML) Inputs() []Primitive { return []Primitive{o.read, o.dml} }

// Describe implements Primitive.
func (o *OwnedDML) Describe() string {
	names := make([]string, len(o.owned))
	for i, cv := range o.owned {
		names[i] = cv.Name
	}
	return describeTree(fmt.Sprintf("OwnedDML lookups=[%s]", strings.Join(names, " ")), labeled{label: "read", p: o.read}, labeled{label: "then", p: o.dml})
}

// Execute implements Primitive.
func (o *OwnedDML) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	var res *sqltypes.Result
	// after are the consistent lookups' deletes, run once the statement
	// committed.
	var after []func() error
	run := func() error {
		rows, err := o.read.Execute(ctx, vc, bv)
		if err != nil {
			return err
		}
		rows.Rows = distinctRows(rows.Rows) // a join may read a row more than once
		primaries := make([]sqltypes.Value, len(rows.Rows))
		for i, r := range rows.Rows {
			primaries[i] = r[0]
		}
		ids, err := keyspaceIDs(ctx, vindexCursor{vc: vc, keyspace: o.dml.Keyspace}, o.primary, primaries)
		if err != nil {
			return err
		}
		var deletes []func(autocommit bool) error
		for k, cv := range o.owned {
			lv := cv.Vindex.(vindex.LookupVindex)
			var newValue sqltypes.Value
			if o.newValues[k] != nil {
				if newValue, err = evalValue(o.newValues[k], bv); err != nil {
					return sqlerr.Internal("new value of %s: %v", cv.Columns[0], err)
				}
			}
			var oldVals, newVals, oldPrimaries []sqltypes.Value
			var oldIDs, newIDs []vindex.KeyspaceID
			for i, r := range rows.Rows {
				old := r[1+k]
				if !o.delete && old.ToString() == newValue.ToString() && old.IsNull() == newValue.IsNull() {
					continue // unchanged
				}
				oldVals, oldIDs, oldPrimaries = append(oldVals, old), append(oldIDs, ids[i]), append(oldPrimaries, r[0])
				if !o.delete {
					newVals, newIDs = append(newVals, newValue), append(newIDs, ids[i])
				}
			}
			if len(newVals) > 0 {
				if err := createLookupRows(ctx, vc, o.dml.Keyspace, o.table, cv, newVals, newIDs); err != nil {
					return err
				}
			}
			if len(oldVals) > 0 {
				deletes = append(deletes, func(autocommit bool) error {
					return o.deleteLookupRows(ctx, vc, cv, oldVals, oldIDs, oldPrimaries, autocommit)
				})
				if lv.Consistent() {
					d := deletes[len(deletes)-1]
					deletes = deletes[:len(deletes)-1]
					after = append(after, func() error { return d(true) })
				}
			}
		}
		// The statement runs before the lookup rows go: it may be routed
		// by them.
		if res, err = o.dml.Execute(ctx, vc, bv); err != nil {
			return err
		}
		for _, d := range deletes {
			if err := d(false); err != nil {
				return err
			}
		}
		return nil
	}
	explicit := vc.InTransaction()
	if err := vc.Atomically(ctx, run); err != nil {
		return nil, err
	}
	if !explicit {
		for _, f := range after {
			if err := f(); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// deleteLookupRows removes the lookup rows value -> id of changed rows.
// A non-unique lookup's row is shared by every owner row with the value
// and keyspace id (rows of one primary vindex value): it stays while one
// of them is left.
func (o *OwnedDML) deleteLookupRows(ctx context.Context, vc VCursor, cv *vschema.ColumnVindex, values []sqltypes.Value, ids []vindex.KeyspaceID, primaries []sqltypes.Value, autocommit bool) error {
	lv := cv.Vindex.(vindex.LookupVindex)
	if !lv.IsUnique() {
		keepV, keepID := values[:0:0], ids[:0:0]
		for i, v := range values {
			if v.IsNull() {
				continue
			}
			sql := "select 1 from " + sqlescape.EscapeID(o.table) + " where " + sqlescape.EscapeID(cv.Columns[0]) + " = :v and " +
				sqlescape.EscapeID(o.primaryColumn) + " = :p limit 1"
			res, err := vc.ExecuteStatement(ctx, o.dml.Keyspace, sql, map[string]*querypb.BindVariable{
				"v": sqltypes.ValueBindVariable(v), "p": sqltypes.ValueBindVariable(primaries[i])}, autocommit)
			if err != nil {
				return err
			}
			if len(res.Rows) == 0 {
				keepV, keepID = append(keepV, v), append(keepID, ids[i])
			}
		}
		values, ids = keepV, keepID
	}
	if len(values) == 0 {
		return nil
	}
	return lv.Delete(ctx, vindexCursor{vc: vc, keyspace: o.dml.Keyspace, autocommit: autocommit}, values, ids)
}

// distinctRows drops repeated rows.
func distinctRows(rows []sqltypes.Row) []sqltypes.Row {
	seen := map[string]bool{}
	out := rows[:0:0]
	for _, r := range rows {
		k := fmt.Sprint(r)
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}
