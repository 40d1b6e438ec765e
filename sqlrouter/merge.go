package sqlrouter

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/mysql/decimal"
	"vitess.io/vitess/go/mysql/format"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
	"vitess.io/vitess/go/vt/vtenv"
	"vitess.io/vitess/go/vt/vtgate/evalengine"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// evalEnv is the environment HAVING is evaluated in.
var evalEnv = func() *vtenv.Environment {
	env, err := vtenv.New(vtenv.Options{MySQLServerVersion: "8.0.40"})
	if err != nil {
		panic(fmt.Sprintf("vitess environment: %v", err))
	}
	return env
}()

// collationEnv knows the collation IDs MariaDB and MySQL report in column
// metadata; comparisons and grouping keys of text use the column's own.
var collationEnv = collations.NewEnvironment("8.0.40")

// limitBindVar carries a multi-shard read's OFFSET + LIMIT to the shards,
// computed at execution so that placeholders work too.
const limitBindVar = "__sg_limit"

// aggKind is how a column's per-shard values combine into one.
type aggKind int

const (
	aggNone  aggKind = iota // a grouping column, or any value of the group
	aggCount                // COUNT: the sum of the shards' counts
	aggSum
	aggMin
	aggMax
	aggAvg // SUM / COUNT of two hidden columns (avgParts)
	// The DISTINCT aggregates combine the group's distinct values of the
	// hidden column distinctCol.
	aggCountDistinct
	aggSumDistinct
	aggAvgDistinct
)

// colRef finds a column of the combined result: by position, or by name
// when the select list has a * and positions are known only at execution.
type colRef struct {
	index int    // -1: find by name
	name  string // lower-cased
}

type orderKey struct {
	col  colRef
	desc bool
}

// Merge combines the per-shard results of a read that spans shards the way
// one MySQL server would answer it: grouping and aggregating, removing
// duplicates, sorting, then OFFSET and LIMIT. The shards run a rewritten
// query (route); when the route resolves to a single shard at execution,
// the original query runs there unchanged.
type Merge struct {
	route *Route
	// single is the statement as the client sent it, for one shard.
	single *Route

	hidden      int // trailing columns added for the gate's own use
	aggregating bool
	groupBy     []colRef
	aggs        []aggKind // per output column when aggregating
	// avgParts gives, for each AVG column, its hidden SUM and COUNT columns.
	avgParts map[int][2]int
	// distinctCol is the hidden column holding the argument of the
	// DISTINCT aggregates; the shards group by it too.
	distinctCol int
	distinct    bool
	having      evalengine.Expr // over merged groups; nil: none
	// computed are select columns evaluated on the merged groups.
	computed map[int]evalengine.Expr
	// havingText is the HAVING condition as written, for Describe.
	havingText string
	orderBy    []orderKey
	limit      sqlparser.Expr
	offset     sqlparser.Expr
}

// Describe implements Primitive.
func (m *Merge) Describe() string {
	var parts []string
	if m.aggregating {
		kinds := make([]string, len(m.aggs))
		for i, k := range m.aggs {
			kinds[i] = [...]string{"-", "count", "sum", "min", "max", "avg", "count_distinct", "sum_distinct", "avg_distinct"}[k]
		}
		parts = append(parts, fmt.Sprintf("aggregate(group=%s cols=[%s])", refs(m.groupBy), strings.Join(kinds, " ")))
	}
	if len(m.computed) > 0 {
		parts = append(parts, fmt.Sprintf("compute(%d)", len(m.computed)))
	}
	if m.having != nil {
		parts = append(parts, "having("+m.havingText+")")
	}
	if m.distinct {
		parts = append(parts, "distinct")
	}
	if len(m.orderBy) > 0 {
		parts = append(parts, describeSort(m.orderBy))
	}
	if m.offset != nil {
		parts = append(parts, "offset="+sqlparser.String(m.offset))
	}
	if m.limit != nil {
		parts = append(parts, "limit="+sqlparser.String(m.limit))
	}
	if m.hidden > 0 {
		parts = append(parts, fmt.Sprintf("drop %d hidden", m.hidden))
	}
	return "Merge " + strings.Join(parts, " ") + " <- " + m.route.Describe()
}

// describeSort renders ORDER BY keys as "sort(0, name desc)".
func describeSort(keys []orderKey) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = ref(k.col)
		if k.desc {
			parts[i] += " desc"
		}
	}
	return "sort(" + strings.Join(parts, ", ") + ")"
}

func ref(c colRef) string {
	if c.index >= 0 {
		return fmt.Sprint(c.index)
	}
	return c.name
}

func refs(cs []colRef) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = ref(c)
	}
	return "[" + strings.Join(out, " ") + "]"
}

// shardQueries resolves the shards the read runs on and the statement
// each gets: on one shard the statement as the client sent it (single),
// which answers exactly; on several the rewritten one (route).
func (m *Merge) shardQueries(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*Route, []ShardQuery, error) {
	shards, err := vc.Shards(m.route.Keyspace)
	if err != nil {
		return nil, nil, err
	}
	targets, err := m.route.targets(ctx, vc, shards, bv)
	if err != nil {
		return nil, nil, err
	}
	if len(targets) <= 1 {
		queries, err := m.single.shardQueries(ctx, vc, bv)
		return m.single, queries, err
	}
	if m.limit != nil && !m.aggregating {
		offset, count, err := m.window(bv)
		if err != nil {
			return nil, nil, err
		}
		// Each shard sends the first offset+count rows of its own; the
		// sum saturates, as MariaDB takes counts beyond the range as "all".
		bv = withBindVar(bv, limitBindVar, sqltypes.Uint64BindVariable(saturatingAdd(offset, count)))
	}
	queries, err := m.route.queriesOn(ctx, vc, targets, bv)
	return m.route, queries, err
}

// Execute implements Primitive.
func (m *Merge) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	route, queries, err := m.shardQueries(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	results, err := vc.ExecuteShards(ctx, route.Keyspace, queries, route.Write)
	if err != nil {
		return nil, err
	}
	res := combine(results)
	if route == m.single {
		return res, nil // one shard answers exactly
	}
	if len(res.Fields) == 0 && len(res.Rows) == 0 {
		return res, nil // nothing to merge (a dry run answers no columns)
	}
	res.Fields = slices.Clone(res.Fields)
	rows := res.Rows
	if m.aggregating {
		if rows, err = m.aggregate(res.Fields, rows); err != nil {
			return nil, err
		}
	}
	if len(m.computed) > 0 {
		if err := m.compute(ctx, bv, res.Fields, rows); err != nil {
			return nil, err
		}
	}
	if m.having != nil {
		if rows, err = m.filter(ctx, bv, rows); err != nil {
			return nil, err
		}
	}
	if m.distinct {
		if rows, err = dedupe(res.Fields, rows, len(res.Fields)-m.hidden); err != nil {
			return nil, err
		}
	}
	if len(m.orderBy) > 0 {
		if err := m.sort(res.Fields, rows); err != nil {
			return nil, err
		}
	}
	if m.limit != nil {
		if rows, err = applyLimit(rows, m.limit, m.offset, bv); err != nil {
			return nil, err
		}
	}
	if m.hidden > 0 {
		visible := len(res.Fields) - m.hidden
		res.Fields = res.Fields[:visible]
		for i, r := range rows {
			rows[i] = r[:visible]
		}
	}
	res.Rows = rows
	return res, nil
}

func saturatingAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

func withBindVar(bv map[string]*querypb.BindVariable, name string, v *querypb.BindVariable) map[string]*querypb.BindVariable {
	out := make(map[string]*querypb.BindVariable, len(bv)+1)
	for k, x := range bv {
		out[k] = x
	}
	out[name] = v
	return out
}

// window evaluates OFFSET and LIMIT.
func (m *Merge) window(bv map[string]*querypb.BindVariable) (offset, count uint64, err error) {
	return limitWindow(m.limit, m.offset, bv)
}

// applyLimit keeps the rows a LIMIT (and OFFSET) selects.
func applyLimit(rows []sqltypes.Row, limit, offset sqlparser.Expr, bv map[string]*querypb.BindVariable) ([]sqltypes.Row, error) {
	off, count, err := limitWindow(limit, offset, bv)
	if err != nil {
		return nil, err
	}
	rows = rows[min(off, uint64(len(rows))):]
	return rows[:min(count, uint64(len(rows)))], nil
}

// limitWindow evaluates a LIMIT's offset and row count: literals, or
// placeholders whose row counts bindLimitParams bound.
func limitWindow(limit, offset sqlparser.Expr, bv map[string]*querypb.BindVariable) (uint64, uint64, error) {
	eval := func(e sqlparser.Expr) (uint64, error) {
		if e == nil {
			return 0, nil
		}
		v, err := evalValue(e, bv)
		if err != nil {
			return 0, sqlerr.Internal("LIMIT: %v", err)
		}
		n, err := v.ToUint64()
		if err != nil {
			return 0, sqlerr.New(1210, "HY000", "Incorrect arguments to LIMIT: %s", v.String())
		}
		return n, nil
	}
	off, err := eval(offset)
	if err != nil {
		return 0, 0, err
	}
	count, err := eval(limit)
	return off, count, err
}

// resolve turns a colRef into a column index of fields.
func resolve(c colRef, fields []*querypb.Field) (int, error) {
	if c.index >= 0 {
		if c.index >= len(fields) {
			return 0, sqlerr.Internal("merge: column %d of %d", c.index, len(fields))
		}
		return c.index, nil
	}
	for i, f := range fields {
		if strings.EqualFold(f.Name, c.name) {
			return i, nil
		}
	}
	return 0, sqlerr.New(1054, "42S22", "Unknown column '%s' in 'order clause'", c.name)
}

// collationOf is the collation a column's values compare under.
func collationOf(f *querypb.Field) collations.ID {
	if sqltypes.IsText(f.Type) || sqltypes.IsBinary(f.Type) {
		return collations.ID(f.Charset)
	}
	return collations.CollationBinaryID
}

// key appends a comparable, collation-aware key of the columns to dst:
// two rows get the same key exactly when MySQL would group them together.
func key(dst []byte, fields []*querypb.Field, row sqltypes.Row, cols []int) ([]byte, error) {
	for _, c := range cols {
		f := fields[c]
		if row[c].IsNull() {
			dst = append(dst, 0)
			continue
		}
		dst = append(dst, 1)
		// Decimals are keyed at MySQL's largest precision and scale, so
		// that every value keeps all of its digits.
		length, scale := 0, 0
		typ := f.Type
		switch {
		case sqltypes.IsDecimal(typ):
			length, scale = 65, 30
		case typ == sqltypes.Enum || typ == sqltypes.Set:
			// Equal exactly when their text is equal (the definition's
			// positions are not in the result).
			typ = sqltypes.VarChar
		}
		w, _, err := evalengine.WeightString(nil, row[c], typ, collationOf(f), length, scale, nil, 0)
		if err != nil {
			return nil, sqlerr.Internal("grouping key of column %s: %v", f.Name, err)
		}
		// Length-prefix each part so that keys of different splits differ.
		dst = append(dst, byte(len(w)>>24), byte(len(w)>>16), byte(len(w)>>8), byte(len(w)))
		dst = append(dst, w...)
	}
	return dst, nil
}

// aggregate groups rows by the grouping columns and combines each group's
// aggregate columns. Groups come out ordered by their keys, as MariaDB
// orders GROUP BY results.
func (m *Merge) aggregate(fields []*querypb.Field, rows []sqltypes.Row) ([]sqltypes.Row, error) {
	groupCols := make([]int, len(m.groupBy))
	for i, g := range m.groupBy {
		var err error
		if groupCols[i], err = resolve(g, fields); err != nil {
			return nil, err
		}
	}
	type group struct {
		first sqltypes.Row
		sums  map[int]evalengine.Sum
		mins  map[int]evalengine.MinMax
		// distinct holds the group's distinct non-NULL values of
		// distinctCol, by collation key.
		distinct map[string]sqltypes.Value
	}
	groups := map[string]*group{}
	var order []*group
	var buf []byte
	for _, row := range rows {
		var err error
		if buf, err = key(buf[:0], fields, row, groupCols); err != nil {
			return nil, err
		}
		g, ok := groups[string(buf)]
		if !ok {
			g = &group{first: row, sums: map[int]evalengine.Sum{}, mins: map[int]evalengine.MinMax{}, distinct: map[string]sqltypes.Value{}}
			groups[string(buf)] = g
			order = append(order, g)
		}
		if m.distinctCol > 0 && !row[m.distinctCol].IsNull() {
			k, err := key(nil, fields, row, []int{m.distinctCol})
			if err != nil {
				return nil, err
			}
			g.distinct[string(k)] = row[m.distinctCol]
		}
		for col, kind := range m.aggs {
			v := row[col]
			var err error
			switch kind {
			case aggCount, aggSum:
				s, ok := g.sums[col]
				if !ok {
					if kind == aggCount {
						s = evalengine.NewSumOfCounts()
					} else {
						s = evalengine.NewAggregationSum(fields[col].Type)
					}
					g.sums[col] = s
				}
				err = s.Add(v)
			case aggMin, aggMax:
				mm, ok := g.mins[col]
				if !ok {
					mm = evalengine.NewAggregationMinMax(fields[col].Type, collationEnv, collationOf(fields[col]), nil)
					g.mins[col] = mm
				}
				if kind == aggMin {
					err = mm.Min(v)
				} else {
					err = mm.Max(v)
				}
			}
			if err != nil {
				return nil, sqlerr.Internal("combining column %s: %v", fields[col].Name, err)
			}
		}
	}
	if len(groupCols) == 0 && len(order) == 0 {
		// Aggregates without GROUP BY answer one row even over no rows:
		// counts of zero, everything else NULL.
		row := make(sqltypes.Row, len(fields))
		for i := range row {
			row[i] = sqltypes.NULL
			if i < len(m.aggs) && (m.aggs[i] == aggCount || m.aggs[i] == aggCountDistinct) {
				row[i] = sqltypes.NewInt64(0)
			}
		}
		return []sqltypes.Row{row}, nil
	}
	out := make([]sqltypes.Row, 0, len(order))
	for _, g := range order {
		row := slices.Clone(g.first)
		for col, s := range g.sums {
			row[col] = s.Result()
		}
		for col, mm := range g.mins {
			row[col] = mm.Result()
		}
		for col, parts := range m.avgParts {
			v, err := average(fields[col], row[parts[0]], row[parts[1]])
			if err != nil {
				return nil, err
			}
			row[col] = v
		}
		for col, kind := range m.aggs {
			if kind < aggCountDistinct {
				continue
			}
			v, err := combineDistinct(kind, fields[col], g.distinct)
			if err != nil {
				return nil, err
			}
			row[col] = v
		}
		out = append(out, row)
	}
	if len(groupCols) > 0 && len(m.orderBy) == 0 {
		keys := make([]orderKey, len(groupCols))
		for i, c := range groupCols {
			keys[i] = orderKey{col: colRef{index: c}}
		}
		if err := sortRows(fields, out, keys, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// combineDistinct computes COUNT, SUM or AVG of a group's distinct
// values, typed as the shards typed the column.
func combineDistinct(kind aggKind, field *querypb.Field, values map[string]sqltypes.Value) (sqltypes.Value, error) {
	if kind == aggCountDistinct {
		return sqltypes.NewInt64(int64(len(values))), nil
	}
	if len(values) == 0 {
		return sqltypes.NULL, nil
	}
	sumType := field.Type
	if kind == aggAvgDistinct && !sqltypes.IsFloat(field.Type) {
		sumType = sqltypes.Decimal
	}
	sum := evalengine.NewAggregationSum(sumType)
	for _, v := range values {
		if err := sum.Add(v); err != nil {
			return sqltypes.NULL, sqlerr.Internal("DISTINCT aggregate of %s: %v", field.Name, err)
		}
	}
	if kind == aggSumDistinct {
		return sum.Result(), nil
	}
	return average(field, sum.Result(), sqltypes.NewInt64(int64(len(values))))
}

// compute evaluates the columns that are expressions over aggregates.
func (m *Merge) compute(ctx context.Context, bv map[string]*querypb.BindVariable, fields []*querypb.Field, rows []sqltypes.Row) error {
	env := evalengine.NewExpressionEnv(ctx, bv, evalengine.NewEmptyVCursor(evalEnv, time.Local))
	for _, row := range rows {
		env.Row = row
		for col, expr := range m.computed {
			res, err := env.Evaluate(expr)
			if err != nil {
				return sqlerr.Internal("evaluating column %s: %v", fields[col].Name, err)
			}
			v := res.Value(collationOf(fields[col]))
			if sqltypes.IsDecimal(fields[col].Type) && !v.IsNull() {
				// MySQL reports the expression at the column's scale.
				d, err := decimal.NewFromMySQL(v.Raw())
				if err == nil {
					v = sqltypes.MakeTrusted(fields[col].Type, []byte(d.StringFixed(int32(fields[col].Decimals))))
				}
			}
			row[col] = v
		}
	}
	return nil
}

// filter keeps the merged groups HAVING accepts.
func (m *Merge) filter(ctx context.Context, bv map[string]*querypb.BindVariable, rows []sqltypes.Row) ([]sqltypes.Row, error) {
	env := evalengine.NewExpressionEnv(ctx, bv, evalengine.NewEmptyVCursor(evalEnv, time.Local))
	out := rows[:0]
	for _, row := range rows {
		env.Row = row
		res, err := env.Evaluate(m.having)
		if err != nil {
			return nil, sqlerr.Internal("HAVING: %v", err)
		}
		if res.ToBoolean() {
			out = append(out, row)
		}
	}
	return out, nil
}

// average is SUM / COUNT as MySQL's AVG computes it: for DECIMAL at the
// scale the shards reported for AVG (the argument's scale plus
// div_precision_increment), rounded half away from zero; for DOUBLE in
// floating point, formatted as MySQL formats doubles.
func average(field *querypb.Field, sum, count sqltypes.Value) (sqltypes.Value, error) {
	n, err := count.ToInt64()
	if err != nil {
		return sqltypes.NULL, sqlerr.Internal("AVG: count %s: %v", count.String(), err)
	}
	if n == 0 || sum.IsNull() {
		return sqltypes.NULL, nil
	}
	if sqltypes.IsFloat(field.Type) {
		f, err := sum.ToFloat64()
		if err != nil {
			return sqltypes.NULL, sqlerr.Internal("AVG: sum %s: %v", sum.String(), err)
		}
		return sqltypes.MakeTrusted(field.Type, format.FormatFloat(f/float64(n))), nil
	}
	d, err := decimal.NewFromMySQL(sum.Raw())
	if err != nil {
		return sqltypes.NULL, sqlerr.Internal("AVG: sum %s: %v", sum.String(), err)
	}
	scale := int32(field.Decimals)
	q, _ := d.QuoRem(decimal.NewFromInt(n), scale+9)
	return sqltypes.MakeTrusted(field.Type, []byte(q.StringFixed(scale))), nil
}

// dedupe keeps the first row of each set of rows equal in the first n
// columns.
func dedupe(fields []*querypb.Field, rows []sqltypes.Row, n int) ([]sqltypes.Row, error) {
	cols := make([]int, n)
	for i := range cols {
		cols[i] = i
	}
	seen := map[string]bool{}
	out := rows[:0]
	var buf []byte
	for _, row := range rows {
		var err error
		if buf, err = key(buf[:0], fields, row, cols); err != nil {
			return nil, err
		}
		if !seen[string(buf)] {
			seen[string(buf)] = true
			out = append(out, row)
		}
	}
	return out, nil
}

func (m *Merge) sort(fields []*querypb.Field, rows []sqltypes.Row) error {
	return sortRows(fields, rows, m.orderBy, false)
}

// sortRows sorts rows stably by keys with MySQL's comparison: NULL first,
// numbers as numbers, text by the column's collation. ENUM and SET columns
// are sorted by their text only when implicit (GROUP BY's order, which
// MySQL does not promise): an ORDER BY of them is refused.
func sortRows(fields []*querypb.Field, rows []sqltypes.Row, keys []orderKey, implicit bool) error {
	idx := make([]int, len(keys))
	for i, k := range keys {
		var err error
		if idx[i], err = resolve(k.col, fields); err != nil {
			return err
		}
		switch fields[idx[i]].Type {
		case sqltypes.Enum, sqltypes.Set:
			if implicit {
				continue
			}
			// MySQL orders these by their position in the definition,
			// which the result does not carry.
			return sqlerr.Unsupported("ORDER BY an ENUM or SET column (%s) across shards", fields[idx[i]].Name)
		}
	}
	var cmpErr error
	slices.SortStableFunc(rows, func(a, b sqltypes.Row) int {
		for i, k := range keys {
			c := idx[i]
			r, err := evalengine.NullsafeCompare(a[c], b[c], collationEnv, collationOf(fields[c]), nil)
			if err != nil && cmpErr == nil {
				cmpErr = err
			}
			if r != 0 {
				if k.desc {
					return -r
				}
				return r
			}
		}
		return 0
	})
	if cmpErr != nil {
		return sqlerr.Internal("sorting merged rows: %v", cmpErr)
	}
	return nil
}
