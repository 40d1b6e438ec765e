package sqlrouter

import (
	"context"
	"fmt"
	"sort"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/vindex"
)

// Insert splits a multi-row INSERT into a sharded table by the shard each
// row's primary vindex value maps to, and sends each shard its rows.
type Insert struct {
	Keyspace string
	Table    string
	Vindex   vindex.Vindex
	// column is the position of the primary vindex column in the INSERT's
	// column list.
	column int
	ast    *sqlparser.Insert
	rows   sqlparser.Values
	// whole sends the statement unchanged when every row goes to one shard.
	whole *Route
}

func routeInsert(st *planState, ins *sqlparser.Insert) error {
	ref, err := singleTable(st)
	if err != nil {
		return err
	}
	t := ref.table
	if t.Type == "reference" {
		st.primitive = &Route{Opcode: AllShards, Keyspace: st.keyspace.Name, Write: true, original: st.ctx.SQL, query: st.primitive.(*Route).query}
		return nil
	}
	rows, ok := ins.Rows.(sqlparser.Values)
	if !ok {
		return sqlerr.Unsupported("INSERT ... SELECT into sharded table %s", t.Name)
	}
	if len(ins.Columns) == 0 {
		return sqlerr.Unsupported("INSERT without a column list into sharded table %s (name the columns)", t.Name)
	}
	cv := t.PrimaryVindex()
	if len(cv.Columns) != 1 {
		return sqlerr.Unsupported("INSERT into table %s sharded by multi-column vindex %s", t.Name, cv.Name)
	}
	column := -1
	for i, c := range ins.Columns {
		if c.Lowered() == cv.Columns[0] {
			column = i
		}
	}
	if column < 0 {
		return sqlerr.Unsupported("INSERT into sharded table %s without its primary vindex column %s (sequences are not supported yet: supply the value)", t.Name, cv.Columns[0])
	}
	for _, upd := range ins.OnDup {
		if upd.Name.Name.Lowered() == cv.Columns[0] {
			return sqlerr.Unsupported("ON DUPLICATE KEY UPDATE of vindex column %s of sharded table %s", cv.Columns[0], t.Name)
		}
	}
	for i, row := range rows {
		if len(row) != len(ins.Columns) {
			return sqlerr.New(1136, "21S01", "Column count doesn't match value count at row %d", i+1)
		}
		if !isValue(row[column]) {
			return sqlerr.Unsupported("INSERT with a computed value (%s) for vindex column %s of sharded table %s", sqlparser.String(row[column]), cv.Columns[0], t.Name)
		}
	}
	whole := st.primitive.(*Route)
	whole.Opcode, whole.Write = AllShards, true
	st.primitive = &Insert{Keyspace: st.keyspace.Name, Table: t.Name, Vindex: cv.Vindex, column: column, ast: ins, rows: rows, whole: whole}
	return nil
}

// Describe implements Primitive.
func (ins *Insert) Describe() string {
	return fmt.Sprintf("Insert keyspace=%s table=%s vindex=%s rows=%d", ins.Keyspace, ins.Table, ins.Vindex.String(), len(ins.rows))
}

// Execute implements Primitive.
func (ins *Insert) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	shards, err := vc.Shards(ins.Keyspace)
	if err != nil {
		return nil, err
	}
	byShard := map[string][]int{}
	for i, row := range ins.rows {
		v, err := evalValue(row[ins.column], bv)
		if err != nil {
			return nil, sqlerr.Internal("row %d: %v", i+1, err)
		}
		if v.IsNull() {
			return nil, sqlerr.New(1048, "23000", "Column '%s' cannot be null: it is the primary vindex column of sharded table %s (row %d)", ins.ast.Columns[ins.column].String(), ins.Table, i+1)
		}
		names, err := shardsForValue(ctx, ins.Vindex, v, shards)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i+1, err)
		}
		if len(names) != 1 {
			return nil, sqlerr.Internal("row %d: vindex %s maps %s to %d shards", i+1, ins.Vindex.String(), v.String(), len(names))
		}
		byShard[names[0]] = append(byShard[names[0]], i)
	}
	order := make([]string, 0, len(byShard))
	for name := range byShard {
		order = append(order, name)
	}
	sort.Strings(order)

	queries := make([]ShardQuery, 0, len(order))
	for _, name := range order {
		var sql string
		if len(order) == 1 {
			// Every row goes to one shard: send the statement as it came.
			if sql, err = ins.whole.sql(bv); err != nil {
				return nil, sqlerr.Internal("generate insert: %v", err)
			}
		} else {
			part := *ins.ast
			subset := make(sqlparser.Values, 0, len(byShard[name]))
			for _, i := range byShard[name] {
				subset = append(subset, ins.rows[i])
			}
			part.Rows = subset
			if sql, err = sqlparser.NewParsedQuery(&part).GenerateQuery(bv, nil); err != nil {
				return nil, sqlerr.Internal("generate insert for shard %s: %v", name, err)
			}
		}
		queries = append(queries, ShardQuery{Shard: name, SQL: sql})
	}
	results, err := vc.ExecuteShards(ctx, ins.Keyspace, queries, true)
	if err != nil {
		return nil, err
	}
	return combine(results), nil
}
