package sqlrouter

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
	"vitess.io/vitess/go/vt/vtgate/evalengine"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// GateSelect is a SELECT the gate evaluates itself over the rows it reads
// from the shards (see planGate): it joins the reads (from), then groups
// and aggregates, filters by HAVING, computes the select list, removes
// duplicates, sorts and applies LIMIT. The result's columns are those the
// shards report for the statement (fields).
type GateSelect struct {
	from     *gateFrom
	keyspace string
	// fields is the statement with an impossible WHERE.
	fields *sqlparser.ParsedQuery

	aggregating bool
	keys        []*gateExpr // over joined rows
	slots       []*aggSlot
	// groupPlanner is used while planning only.
	groupPlanner *groupPlanner

	// outputs are over group rows when aggregating, else joined rows;
	// direct marks those that are a column sent as read.
	outputs  []*gateExpr
	direct   []bool
	width    int
	having   *gateExpr
	distinct bool
	order    []gateOrder
	limit    sqlparser.Expr
	offset   sqlparser.Expr
}

// gateOrder is an ORDER BY key: an output column, or an expression
// computed for sorting only.
type gateOrder struct {
	output int // -1: expr
	expr   *gateExpr
	desc   bool
}

// Describe implements Primitive.
func (g *GateSelect) Describe() string {
	var parts []string
	if g.aggregating {
		kinds := make([]string, len(g.slots))
		for i, s := range g.slots {
			kinds[i] = gateAggNames[s.kind]
			if s.distinct {
				kinds[i] += "_distinct"
			}
		}
		keys := make([]string, len(g.keys))
		for i, k := range g.keys {
			keys[i] = sqlparser.String(k.ast)
		}
		parts = append(parts, fmt.Sprintf("aggregate(group=[%s] aggs=[%s])", strings.Join(keys, ", "), strings.Join(kinds, " ")))
	}
	if g.having != nil {
		parts = append(parts, "having("+g.having.describe()+")")
	}
	outs := make([]string, len(g.outputs))
	for i, o := range g.outputs {
		outs[i] = o.describe()
	}
	parts = append(parts, "project("+strings.Join(outs, ", ")+")")
	if g.distinct {
		parts = append(parts, "distinct")
	}
	if len(g.order) > 0 {
		keys := make([]string, len(g.order))
		for i, o := range g.order {
			if o.output >= 0 {
				keys[i] = fmt.Sprintf("out%d", o.output)
			} else {
				keys[i] = sqlparser.String(o.expr.ast)
			}
			if o.desc {
				keys[i] += " desc"
			}
		}
		parts = append(parts, "sort("+strings.Join(keys, ", ")+")")
	}
	if g.offset != nil {
		parts = append(parts, "offset="+sqlparser.String(g.offset))
	}
	if g.limit != nil {
		parts = append(parts, "limit="+sqlparser.String(g.limit))
	}
	return "GateSelect " + strings.Join(parts, " ") + " <- " + g.from.describe()
}

// Execute implements Primitive.
func (g *GateSelect) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	outFields, err := g.resultFields(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	inFields, rows, err := g.from.execute(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	if len(outFields) == 0 && len(rows) == 0 {
		return &sqltypes.Result{}, nil // a dry run answers no columns
	}
	if len(outFields) != g.width {
		return nil, sqlerr.Internal("the shards describe %d result columns, the gate computes %d", len(outFields), g.width)
	}
	evFields := inFields
	if g.aggregating {
		if rows, evFields, err = g.group(ctx, vc, bv, inFields, rows); err != nil {
			return nil, err
		}
	}
	out := &sqltypes.Result{Fields: outFields}
	if len(rows) == 0 {
		return out, nil
	}
	ev := newEvaluator(ctx, vc, bv, typedFields(evFields, len(evFields), rows[0]))
	if g.having != nil {
		kept := rows[:0:0]
		for _, row := range rows {
			ok, err := ev.truth(g.having, row)
			if err != nil {
				return nil, err
			}
			if ok {
				kept = append(kept, row)
			}
		}
		rows = kept
	}
	// Project: the outputs, then the hidden sort keys.
	hidden := 0
	for _, o := range g.order {
		if o.output < 0 {
			hidden++
		}
	}
	projected := make([]sqltypes.Row, 0, len(rows))
	for _, row := range rows {
		pr := make(sqltypes.Row, g.width, g.width+hidden)
		for i, o := range g.outputs {
			v, err := ev.value(o, row)
			if err != nil {
				return nil, err
			}
			if !g.direct[i] {
				v = conform(v, outFields[i])
			}
			pr[i] = v
		}
		for _, o := range g.order {
			if o.output < 0 {
				v, err := ev.value(o.expr, row)
				if err != nil {
					return nil, err
				}
				pr = append(pr, v)
			}
		}
		projected = append(projected, pr)
	}
	rows = projected
	if g.distinct {
		if rows, err = dedupe(outFields, rows, g.width); err != nil {
			return nil, err
		}
	}
	if len(g.order) > 0 {
		if err := g.sort(outFields, rows); err != nil {
			return nil, err
		}
	}
	if g.limit != nil {
		if rows, err = applyLimit(rows, g.limit, g.offset, bv); err != nil {
			return nil, err
		}
	}
	if hidden > 0 {
		for i, r := range rows {
			rows[i] = r[:g.width]
		}
	}
	out.Rows = rows
	return out, nil
}

// resultFields runs the statement with an impossible WHERE on one shard.
func (g *GateSelect) resultFields(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) ([]*querypb.Field, error) {
	shards, err := vc.Shards(g.keyspace)
	if err != nil {
		return nil, err
	}
	if len(shards) == 0 {
		return nil, sqlerr.Internal("keyspace %s has no serving shard", g.keyspace)
	}
	sql, err := g.fields.GenerateQuery(bv, nil)
	if err != nil {
		return nil, sqlerr.Internal("field query: %v", err)
	}
	res, err := vc.ExecuteShards(ctx, g.keyspace, []ShardQuery{{Shard: shards[0].Name, SQL: sql}}, false)
	if err != nil {
		return nil, err
	}
	return res[0].Fields, nil
}

// group folds the joined rows into one row per group: the grouping keys,
// then each slot's result. Groups come out ordered by their keys, as
// MariaDB orders GROUP BY results.
func (g *GateSelect) group(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable, inFields []*querypb.Field, rows []sqltypes.Row) ([]sqltypes.Row, []*querypb.Field, error) {
	keyFields := make([]*querypb.Field, len(g.keys))
	for i, k := range g.keys {
		if off, ok := k.ast.(*sqlparser.Offset); ok && off.V < len(inFields) {
			keyFields[i] = inFields[off.V]
		}
	}
	type group struct {
		keys sqltypes.Row
		accs []accumulator
	}
	newGroup := func(keys sqltypes.Row) *group {
		gr := &group{keys: keys, accs: make([]accumulator, len(g.slots))}
		for i, s := range g.slots {
			gr.accs[i] = s.newAccumulator(inFields)
		}
		return gr
	}
	groups := map[string]*group{}
	var order []*group
	if len(rows) > 0 {
		ev := newEvaluator(ctx, vc, bv, typedFields(inFields, g.from.width, rows[0]))
		var buf []byte
		for _, row := range rows {
			keys := make(sqltypes.Row, len(g.keys))
			buf = buf[:0]
			for i, k := range g.keys {
				v, err := ev.value(k, row)
				if err != nil {
					return nil, nil, err
				}
				keys[i] = v
				coll := defaultCollation
				if keyFields[i] != nil {
					coll = collationOf(keyFields[i])
				}
				if v.IsNull() {
					buf = append(buf, 0)
					continue
				}
				w, err := weight(v, coll)
				if err != nil {
					return nil, nil, err
				}
				buf = append(buf, 1, byte(len(w)>>24), byte(len(w)>>16), byte(len(w)>>8), byte(len(w)))
				buf = append(buf, w...)
			}
			gr, ok := groups[string(buf)]
			if !ok {
				gr = newGroup(keys)
				groups[string(buf)] = gr
				order = append(order, gr)
			}
			for i, s := range g.slots {
				args := make([]sqltypes.Value, len(s.args))
				for j, a := range s.args {
					v, err := ev.value(a, row)
					if err != nil {
						return nil, nil, err
					}
					args[j] = v
				}
				var sortVals []sqltypes.Value
				for _, o := range s.order {
					v, err := ev.value(o.expr, row)
					if err != nil {
						return nil, nil, err
					}
					sortVals = append(sortVals, v)
				}
				if err := gr.accs[i].add(args, sortVals); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	if len(order) == 0 && len(g.keys) == 0 {
		// Aggregates without GROUP BY answer one row even over no rows.
		order = append(order, newGroup(nil))
	}
	out := make([]sqltypes.Row, len(order))
	for i, gr := range order {
		row := make(sqltypes.Row, 0, len(g.keys)+len(g.slots))
		row = append(row, gr.keys...)
		for _, a := range gr.accs {
			row = append(row, a.result())
		}
		out[i] = row
	}
	fields := make([]*querypb.Field, len(g.keys)+len(g.slots))
	copy(fields, keyFields)
	for i, s := range g.slots {
		if (s.kind == gaMin || s.kind == gaMax || s.kind == gaFirst) && s.argField >= 0 && s.argField < len(inFields) {
			fields[len(g.keys)+i] = inFields[s.argField]
		}
	}
	if len(g.keys) > 0 {
		slices.SortStableFunc(out, func(a, b sqltypes.Row) int {
			for i := range g.keys {
				coll := defaultCollation
				if keyFields[i] != nil {
					coll = collationOf(keyFields[i])
				}
				if c, err := evalengine.NullsafeCompare(a[i], b[i], collationEnv, coll, nil); err == nil && c != 0 {
					return c
				}
			}
			return 0
		})
	}
	return out, fields, nil
}

// sort orders the projected rows by the ORDER BY keys: output columns
// compare under their result column's collation, hidden keys (after the
// outputs, in order) as the values they are, text under the default
// collation.
func (g *GateSelect) sort(fields []*querypb.Field, rows []sqltypes.Row) error {
	all := slices.Clone(fields)
	keys := make([]orderKey, len(g.order))
	hidden := g.width
	for i, o := range g.order {
		if o.output >= 0 {
			keys[i] = orderKey{col: colRef{index: o.output}, desc: o.desc}
			continue
		}
		all = append(all, &querypb.Field{Name: offsetName(hidden), Type: sqltypes.VarChar, Charset: uint32(defaultCollation)})
		keys[i] = orderKey{col: colRef{index: hidden}, desc: o.desc}
		hidden++
	}
	return sortRows(all, rows, keys, false)
}
