package sqlrouter

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter/vschema"
	"github.com/shardgate/shardgate/vindex"
)

// Insert splits a multi-row INSERT into a sharded table by the shard each
// row's primary vindex value maps to, and sends each shard its rows. A
// table with an auto_increment sequence gets its missing, NULL or 0 ids
// from the sequence first, so they route like given ones.
type Insert struct {
	Keyspace string
	Table    string
	Vindex   vindex.Vindex
	// column is the position of the primary vindex column in the INSERT's
	// column list.
	column int
	ast    *sqlparser.Insert
	rows   sqlparser.Values
	// seq, when set, fills the auto_increment column from a sequence.
	seq *sequenceRef
	// whole sends the statement unchanged when every row goes to one shard
	// and no id was generated.
	whole *Route
	// owned are the table's lookup vindexes the insert adds rows to.
	owned []ownedColumn
	// returning is the statement's RETURNING clause, which each shard's
	// statement ends in; the rows come back in the VALUES list's order.
	returning string
}

// sequenceRef names the sequence filling a column.
type sequenceRef struct {
	column   int // position in the INSERT's column list
	keyspace string
	table    string
}

func routeInsert(st *planState, ins *sqlparser.Insert) error {
	ref, err := singleTable(st)
	if err != nil {
		return err
	}
	t := ref.table
	if src, isSelect := ins.Rows.(sqlparser.TableStatement); isSelect {
		return routeInsertSelect(st, ins, t, src)
	}
	if t.Type == "reference" {
		st.primitive = &Route{Opcode: AllShards, Keyspace: st.keyspace.Name, Write: true, original: st.ctx.SQL, query: st.primitive.(*Route).query, returning: st.returning}
		return nil
	}
	rows, ok := ins.Rows.(sqlparser.Values)
	if !ok {
		return sqlerr.Unsupported("INSERT of %T into sharded table %s", ins.Rows, t.Name)
	}
	if err := fillInsertColumns(st, ins, t); err != nil {
		return err
	}
	for i, row := range rows {
		if len(row) != len(ins.Columns) {
			return sqlerr.New(1136, "21S01", "Column count doesn't match value count at row %d", i+1)
		}
	}
	var seq *sequenceRef
	if t.AutoIncrement != nil {
		if seq, ins, rows, err = planSequence(st, t, ins, rows); err != nil {
			return err
		}
	}
	cv := t.PrimaryVindex()
	if len(cv.Columns) != 1 {
		return sqlerr.Unsupported("INSERT into table %s sharded by multi-column vindex %s", t.Name, cv.Name)
	}
	column := columnIndex(ins.Columns, cv.Columns[0])
	if column < 0 {
		return sqlerr.New(1364, "HY000", "Field '%s' doesn't have a default value: it is the primary vindex column of sharded table %s; supply it or declare an auto_increment sequence for it in the vschema", cv.Columns[0], t.Name)
	}
	if err := checkOnDuplicateVindex(ins, t, cv.Columns[0]); err != nil {
		return err
	}
	for _, row := range rows {
		if !isValue(row[column]) {
			return sqlerr.Unsupported("INSERT with a computed value (%s) for vindex column %s of sharded table %s", sqlparser.String(row[column]), cv.Columns[0], t.Name)
		}
	}
	whole := st.primitive.(*Route)
	whole.Opcode, whole.Write = AllShards, true
	owned, err := ownedColumns(t, ins)
	if err != nil {
		return err
	}
	st.primitive = &Insert{Keyspace: st.keyspace.Name, Table: t.Name, Vindex: cv.Vindex, column: column, ast: ins, rows: rows, seq: seq, whole: whole, owned: owned, returning: st.returning}
	return nil
}

// splitInsert checks an INSERT into a sharded table and returns the
// primitive splitting its rows by shard (its rows are set per execution
// for INSERT ... SELECT).
func splitInsert(st *planState, ins *sqlparser.Insert, t *vschema.Table) (*Insert, error) {
	var seq *sequenceRef
	var err error
	if t.AutoIncrement != nil {
		if seq, ins, _, err = planSequence(st, t, ins, nil); err != nil {
			return nil, err
		}
	}
	cv := t.PrimaryVindex()
	if len(cv.Columns) != 1 {
		return nil, sqlerr.Unsupported("INSERT into table %s sharded by multi-column vindex %s", t.Name, cv.Name)
	}
	column := columnIndex(ins.Columns, cv.Columns[0])
	if column < 0 {
		return nil, sqlerr.New(1364, "HY000", "Field '%s' doesn't have a default value: it is the primary vindex column of sharded table %s; supply it or declare an auto_increment sequence for it in the vschema", cv.Columns[0], t.Name)
	}
	if err := checkOnDuplicateVindex(ins, t, cv.Columns[0]); err != nil {
		return nil, err
	}
	owned, err := ownedColumns(t, ins)
	if err != nil {
		return nil, err
	}
	return &Insert{Keyspace: t.Keyspace.Name, Table: t.Name, Vindex: cv.Vindex, column: column, ast: ins, seq: seq, owned: owned, returning: st.returning}, nil
}

// routeInsertSelect plans INSERT ... SELECT whose SELECT runs apart: its
// rows come to the gate, which inserts them as an INSERT ... VALUES.
func routeInsertSelect(st *planState, ins *sqlparser.Insert, t *vschema.Table, src sqlparser.TableStatement) error {
	ctx := st.ctx
	ctx.SQL = ""
	source, err := NewPlan(sqlparser.Clone(src).(sqlparser.Statement), ctx)
	if err != nil {
		return fmt.Errorf("the SELECT of INSERT ... SELECT: %w", err)
	}
	st.needs.add(source.Needs)
	is := &InsertSelect{source: source.Primitive, keyspace: st.keyspace.Name, returning: st.returning}
	if st.returning != "" {
		// With no rows to insert the client still gets the columns.
		sel, err := returningSelect(strings.TrimPrefix(st.returning, " returning "), ins.Table)
		if err != nil {
			return err
		}
		buf := sqlparser.NewTrackedBuffer(sqlparser.FormatImpossibleQuery)
		buf.Myprintf("%v", sel)
		is.returningFields = buf.String()
	}
	switch {
	case t != nil && t.Keyspace.Sharded && t.Type != "reference":
		if err := fillInsertColumns(st, ins, t); err != nil {
			return err
		}
		is.columns = len(ins.Columns)
		if is.split, err = splitInsert(st, ins, t); err != nil {
			return err
		}
		is.ast = is.split.ast
	case t != nil && t.Type == "reference":
		is.ast, is.opcode = ins, AllShards
	default:
		is.ast, is.opcode = ins, Unsharded
	}
	st.primitive = is
	return nil
}

// InsertSelect runs the SELECT of an INSERT ... SELECT, then inserts its
// rows: split by vindex into a sharded table, into every shard for a
// reference table, into the one shard of an unsharded keyspace. The
// inserts are one statement per shard, so rows per shard are bounded by
// MariaDB's max_allowed_packet.
type InsertSelect struct {
	source   Primitive
	keyspace string
	ast      *sqlparser.Insert
	split    *Insert // sharded target
	opcode   Opcode  // otherwise: AllShards or Unsharded
	// columns is the number of columns the SELECT must return (0: not
	// checked here; the shard checks it).
	columns int
	// returning is the statement's RETURNING clause; returningFields
	// reads its columns without rows, the answer when the SELECT has none.
	returning, returningFields string
}

// Inputs implements Primitive.
func (is *InsertSelect) Inputs() []Primitive {
	if is.split != nil {
		return []Primitive{is.source, is.split}
	}
	return []Primitive{is.source}
}

// Describe implements Primitive.
func (is *InsertSelect) Describe() string {
	if is.split != nil {
		return describeTree("InsertSelect", labeled{label: "from", p: is.source}, labeled{label: "into", p: is.split})
	}
	return describeTree(fmt.Sprintf("InsertSelect into Route %s keyspace=%s", is.opcode, is.keyspace), labeled{label: "from", p: is.source})
}

// Execute implements Primitive.
func (is *InsertSelect) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	res, err := is.source.Execute(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	if len(res.Rows) == 0 {
		if is.returning != "" {
			return is.noRowsReturned(ctx, vc)
		}
		return &sqltypes.Result{}, nil
	}
	all := make(map[string]*querypb.BindVariable, len(bv)+len(res.Rows)*len(res.Rows[0]))
	for k, v := range bv {
		all[k] = v
	}
	width := len(is.ast.Columns)
	rows := make(sqlparser.Values, len(res.Rows))
	for i, row := range res.Rows {
		if is.columns > 0 && len(row) != is.columns {
			return nil, sqlerr.New(1136, "21S01", "Column count doesn't match value count at row %d", i+1)
		}
		tuple := make(sqlparser.ValTuple, 0, max(width, len(row)))
		for j, v := range row {
			name := "__sg_r" + strconv.Itoa(i) + "_" + strconv.Itoa(j)
			all[name] = sqltypes.ValueBindVariable(v)
			tuple = append(tuple, sqlparser.NewArgument(name))
		}
		for len(tuple) < width {
			tuple = append(tuple, &sqlparser.NullVal{}) // the sequence fills it
		}
		rows[i] = tuple
	}
	if is.split != nil {
		split := *is.split
		ast := *is.split.ast
		ast.Rows = rows
		split.ast, split.rows = &ast, rows
		return split.Execute(ctx, vc, all)
	}
	ast := *is.ast
	ast.Rows = rows
	sql, err := sqlparser.NewParsedQuery(&ast).GenerateQuery(all, nil)
	if err != nil {
		return nil, sqlerr.Internal("generate insert: %v", err)
	}
	sql += is.returning
	shards, err := vc.Shards(is.keyspace)
	if err != nil {
		return nil, err
	}
	var queries []ShardQuery
	for _, s := range shards {
		queries = append(queries, ShardQuery{Shard: s.Name, SQL: sql})
		if is.opcode == Unsharded {
			break
		}
	}
	results, err := vc.ExecuteShards(ctx, is.keyspace, queries, true)
	if err != nil {
		return nil, err
	}
	if is.opcode == AllShards {
		return results[0], nil // every shard inserted the same rows
	}
	return combine(results), nil
}

// noRowsReturned answers an INSERT ... SELECT ... RETURNING whose SELECT
// found no rows: the RETURNING columns, as any shard of the target types
// them, and no rows.
func (is *InsertSelect) noRowsReturned(ctx context.Context, vc VCursor) (*sqltypes.Result, error) {
	shards, err := vc.Shards(is.keyspace)
	if err != nil {
		return nil, err
	}
	if len(shards) == 0 {
		return nil, sqlerr.Internal("keyspace %s has no serving shard", is.keyspace)
	}
	results, err := vc.ExecuteShards(ctx, is.keyspace, []ShardQuery{{Shard: shards[0].Name, SQL: is.returningFields}}, false)
	if err != nil {
		return nil, err
	}
	return &sqltypes.Result{Fields: results[0].Fields}, nil
}

// fillInsertColumns gives an INSERT without a column list the table's
// columns, which the gate needs to find the vindex column's values.
func fillInsertColumns(st *planState, ins *sqlparser.Insert, t *vschema.Table) error {
	if len(ins.Columns) > 0 {
		return nil
	}
	var cols []string
	ok := false
	if st.ctx.Schema != nil {
		cols, ok = st.ctx.Schema.Columns(t.Keyspace.Name, t.Name)
	}
	if !ok {
		return sqlerr.Unsupported("INSERT without a column list into sharded table %s (name the columns)", t.Name)
	}
	for _, c := range cols {
		ins.Columns = append(ins.Columns, sqlparser.NewIdentifierCI(c))
	}
	return nil
}

func columnIndex(cols sqlparser.Columns, name string) int {
	for i, c := range cols {
		if c.Lowered() == name {
			return i
		}
	}
	return -1
}

// planSequence finds the sequence of the table's auto_increment column and
// makes sure the INSERT names that column: when it does not, the column is
// added with NULL values, which the sequence fills at execution.
func planSequence(st *planState, t *vschema.Table, ins *sqlparser.Insert, rows sqlparser.Values) (*sequenceRef, *sqlparser.Insert, sqlparser.Values, error) {
	seqKs, seqTable, err := findSequence(st.ctx.VSchema, t)
	if err != nil {
		return nil, nil, nil, err
	}
	col := strings.ToLower(t.AutoIncrement.Column)
	idx := columnIndex(ins.Columns, col)
	if idx < 0 {
		withCol := *ins
		withCol.Columns = append(append(sqlparser.Columns{}, ins.Columns...), sqlparser.NewIdentifierCI(col))
		extended := make(sqlparser.Values, len(rows))
		for i, row := range rows {
			extended[i] = append(append(sqlparser.ValTuple{}, row...), &sqlparser.NullVal{})
		}
		withCol.Rows = extended
		ins, rows, idx = &withCol, extended, len(withCol.Columns)-1
	}
	for _, row := range rows {
		if !isValue(row[idx]) {
			return nil, nil, nil, sqlerr.Unsupported("INSERT with a computed value (%s) for auto_increment column %s of sharded table %s", sqlparser.String(row[idx]), col, t.Name)
		}
	}
	return &sequenceRef{column: idx, keyspace: seqKs, table: seqTable}, ins, rows, nil
}

// findSequence resolves "ks.seq" or an unqualified "seq" (which must name
// a sequence table of exactly one keyspace).
func findSequence(vs *vschema.VSchema, t *vschema.Table) (string, string, error) {
	name := t.AutoIncrement.Sequence
	if ks, table, ok := strings.Cut(name, "."); ok {
		k, found := vs.Keyspace(ks)
		if found {
			if seq, ok := k.Tables[strings.ToLower(table)]; ok && seq.Type == "sequence" {
				return ks, seq.Name, nil
			}
		}
		return "", "", sqlerr.Internal("sequence %s of table %s is not a table of type \"sequence\" in the vschema", name, t.Name)
	}
	var hits []string
	for ksName, k := range vs.Keyspaces {
		if seq, ok := k.Tables[strings.ToLower(name)]; ok && seq.Type == "sequence" {
			hits = append(hits, ksName+"."+seq.Name)
		}
	}
	if len(hits) != 1 {
		return "", "", sqlerr.Internal("sequence %s of table %s must name exactly one table of type \"sequence\" (found %d: %s); qualify it as keyspace.table",
			name, t.Name, len(hits), strings.Join(hits, ", "))
	}
	ks, table, _ := strings.Cut(hits[0], ".")
	return ks, table, nil
}

// Inputs implements Primitive: an Insert is a leaf.
func (ins *Insert) Inputs() []Primitive { return nil }

// Describe implements Primitive.
func (ins *Insert) Describe() string {
	seq := ""
	if ins.seq != nil {
		seq = fmt.Sprintf(" sequence=%s.%s", ins.seq.keyspace, ins.seq.table)
	}
	for _, o := range ins.owned {
		seq += " lookup=" + o.cv.Name
	}
	if ins.returning != "" {
		seq += " returning(" + strings.TrimPrefix(ins.returning, " returning ") + ")"
	}
	return fmt.Sprintf("Insert keyspace=%s table=%s vindex=%s rows=%d%s", ins.Keyspace, ins.Table, ins.Vindex.String(), len(ins.rows), seq)
}

// Execute implements Primitive.
func (ins *Insert) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	rows, firstID, err := ins.fillSequence(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	shards, err := vc.Shards(ins.Keyspace)
	if err != nil {
		return nil, err
	}
	values := make([]sqltypes.Value, len(rows))
	for i, row := range rows {
		v, err := evalValue(row[ins.column], bv)
		if err != nil {
			return nil, sqlerr.Internal("row %d: %v", i+1, err)
		}
		if v.IsNull() {
			return nil, sqlerr.New(1048, "23000", "Column '%s' cannot be null: it is the primary vindex column of sharded table %s (row %d)", ins.ast.Columns[ins.column].String(), ins.Table, i+1)
		}
		values[i] = v
	}
	ids, err := keyspaceIDs(ctx, vindexCursor{vc: vc, keyspace: ins.Keyspace}, ins.Vindex, values)
	if err != nil {
		return nil, err
	}
	byShard := map[string][]int{}
	for i, id := range ids {
		names, err := shardForID(id, shards)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i+1, err)
		}
		byShard[names[0]] = append(byShard[names[0]], i)
	}
	order := make([]string, 0, len(byShard))
	for name := range byShard {
		order = append(order, name)
	}
	sort.Strings(order)
	if ins.returning != "" && len(order) > 1 && bool(ins.ast.Ignore) {
		// A shard returns the rows it did not ignore, which cannot be
		// told apart: they could not be put in the VALUES list's order.
		return nil, sqlerr.Unsupported("INSERT IGNORE ... RETURNING whose rows go to several shards (%d) of table %s", len(order), ins.Table)
	}

	queries := make([]ShardQuery, 0, len(order))
	for _, name := range order {
		var sql string
		if len(order) == 1 && firstID == 0 && ins.seq == nil && ins.whole != nil {
			// Every row goes to one shard as written: send the statement
			// as it came.
			if sql, err = ins.whole.sql(bv); err != nil {
				return nil, sqlerr.Internal("generate insert: %v", err)
			}
		} else {
			part := *ins.ast
			subset := make(sqlparser.Values, 0, len(byShard[name]))
			for _, i := range byShard[name] {
				subset = append(subset, rows[i])
			}
			part.Rows = subset
			if sql, err = sqlparser.NewParsedQuery(&part).GenerateQuery(bv, nil); err != nil {
				return nil, sqlerr.Internal("generate insert for shard %s: %v", name, err)
			}
			sql += ins.returning
		}
		queries = append(queries, ShardQuery{Shard: name, SQL: sql})
	}
	var results []*sqltypes.Result
	write := func() error {
		// Lookup rows first: a consistent lookup's row must exist
		// before its owner's (the others commit with it).
		for _, o := range ins.owned {
			vals := make([]sqltypes.Value, len(rows))
			for i, row := range rows {
				if o.column >= 0 {
					if vals[i], err = evalValue(row[o.column], bv); err != nil {
						return sqlerr.Internal("row %d: %v", i+1, err)
					}
				}
			}
			if err := createLookupRows(ctx, vc, ins.Keyspace, ins.Table, o.cv, vals, ids); err != nil {
				return err
			}
		}
		var err error
		results, err = vc.ExecuteShards(ctx, ins.Keyspace, queries, true)
		return err
	}
	if needsAtomic(ins.owned) {
		err = vc.Atomically(ctx, write)
	} else {
		err = write()
	}
	if err != nil {
		return nil, err
	}
	res := combine(results)
	if len(rows) > 1 && len(order) > 1 {
		res.Info = insertInfo(ins.ast, results, order, byShard)
	}
	if ins.returning != "" && len(order) > 1 {
		res.Rows = inValuesOrder(results, order, byShard, len(rows))
	}
	if firstID != 0 {
		// Like MySQL, the first id generated by the statement.
		res.InsertID = uint64(firstID)
	}
	return res, nil
}

// inValuesOrder puts the rows the shards returned (results[i] from shard
// order[i], which got the rows byShard names, in that order) in the order
// of the VALUES list: MariaDB returns one row per row of an INSERT,
// REPLACE or INSERT ... ON DUPLICATE KEY UPDATE, in the list's order, and
// clients (GORM) map the returned ids to their objects by position. A
// shard that returned another number of rows (none does) keeps its rows
// together, after the others.
func inValuesOrder(results []*sqltypes.Result, order []string, byShard map[string][]int, n int) []sqltypes.Row {
	out := make([]sqltypes.Row, n)
	var odd []sqltypes.Row
	for i, name := range order {
		rows := results[i].Rows
		if len(rows) != len(byShard[name]) {
			odd = append(odd, rows...)
			continue
		}
		for k, at := range byShard[name] {
			out[at] = rows[k]
		}
	}
	if odd == nil {
		return out
	}
	kept := out[:0]
	for _, r := range out {
		if r != nil {
			kept = append(kept, r)
		}
	}
	return append(kept, odd...)
}

// fillSequence replaces missing (NULL) and 0 values of the auto_increment
// column with ids from the sequence. It returns the rows to insert and the
// first generated id (0 when none was).
func (ins *Insert) fillSequence(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (sqlparser.Values, int64, error) {
	if ins.seq == nil {
		return ins.rows, 0, nil
	}
	col := ins.seq.column
	var need []int
	for i, row := range ins.rows {
		v, err := evalValue(row[col], bv)
		if err != nil {
			return nil, 0, sqlerr.Internal("row %d: %v", i+1, err)
		}
		if v.IsNull() || v.ToString() == "0" {
			need = append(need, i)
		}
	}
	if len(need) == 0 {
		return ins.rows, 0, nil
	}
	first, err := vc.NextSequenceValues(ctx, ins.seq.keyspace, ins.seq.table, int64(len(need)))
	if err != nil {
		return nil, 0, err
	}
	rows := make(sqlparser.Values, len(ins.rows))
	copy(rows, ins.rows)
	for n, i := range need {
		row := append(sqlparser.ValTuple{}, rows[i]...)
		row[col] = sqlparser.NewIntLiteral(strconv.FormatInt(first+int64(n), 10))
		rows[i] = row
	}
	return rows, first, nil
}
