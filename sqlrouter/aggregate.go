package sqlrouter

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/mysql/decimal"
	"vitess.io/vitess/go/mysql/format"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
	"vitess.io/vitess/go/vt/vtgate/evalengine"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// Aggregate groups its input's rows and folds each group into one row.
// It is the one aggregation engine of the gate, in two uses:
//
//   - over rows (a SELECT the gate evaluates): COUNT, SUM, AVG, MIN, MAX,
//     GROUP_CONCAT, with or without DISTINCT, of expressions of the rows;
//   - over the shards' partial aggregates (a read merged from several
//     shards, each of which grouped and aggregated its own rows): counts
//     are summed, sums added, minimums and maximums compared, AVG divides
//     the combined SUM and COUNT the shards sent in hidden columns, and
//     the DISTINCT aggregates fold the distinct values the shards sent.
//
// An output row is the grouping keys' values (when keysOut), then one
// value per aggregate. Without grouping keys every row is one group, and
// there is a row even when there are none (counts of zero, the rest NULL).
type Aggregate struct {
	input Primitive
	keys  []*gateExpr
	// keysOut puts the keys' values first in each output row; without it
	// the output is the aggregates alone (a grouping column appears as an
	// aggAnyValue of its column).
	keysOut bool
	aggs    []*aggregate
	// sortKeys are the output columns the groups come out ordered by, as
	// MariaDB orders GROUP BY results (none: in the order they appeared,
	// for a Sort above that orders them anyway).
	sortKeys []int
	partial  bool // combines the shards' partial aggregates (for Describe)
}

// aggOp is how an aggregate folds a group's values.
type aggOp int

const (
	// Of rows:
	aggCountStar aggOp = iota
	aggCount
	aggSum // exact (DECIMAL) until a value of another type, as MySQL
	aggAvg
	aggMin
	aggMax
	aggGroupConcat
	// aggAnyValue is a value of the group: a grouping column, or a column
	// read outside any aggregate (MariaDB without ONLY_FULL_GROUP_BY
	// answers a value of the group).
	aggAnyValue
	// Of the shards' partial aggregates, typed as the shards typed the
	// column:
	aggSumOfCounts
	aggSumPartial
	aggMinPartial
	aggMaxPartial
	// aggAvgOfParts is SUM / COUNT of its two arguments, the hidden
	// columns holding a shard's SUM and COUNT of the AVG's argument.
	aggAvgOfParts
	// The DISTINCT aggregates of the distinct values of their argument the
	// shards sent (a row per value and group).
	aggCountDistinctValues
	aggSumDistinctValues
	aggAvgDistinctValues
)

var aggOpNames = [...]string{"count(*)", "count", "sum", "avg", "min", "max", "group_concat", "any",
	"sum_of_counts", "sum", "min", "max", "avg_of_parts", "count_distinct", "sum_distinct", "avg_distinct"}

func (o aggOp) String() string { return aggOpNames[o] }

// keepsField reports whether the aggregate's value is one of its
// argument column's values, or typed as that column: its output takes the
// column's metadata.
func (o aggOp) keepsField() bool {
	switch o {
	case aggMin, aggMax, aggAnyValue:
		return true
	}
	return o >= aggSumOfCounts
}

// aggregate is one aggregate of an Aggregate.
type aggregate struct {
	op       aggOp
	args     []*gateExpr // over the input rows
	distinct bool
	// For GROUP_CONCAT: its own ORDER BY and separator.
	order     []gateSortKey
	separator string
	// argField is the input column of a single-column argument (for the
	// partial aggregates, of the column itself): its collation is the one
	// MIN and MAX compare by, its metadata the output's (-1: computed).
	argField int
}

// gateSortKey is one key of an ORDER BY the gate sorts by.
type gateSortKey struct {
	expr *gateExpr
	desc bool
}

func (a *aggregate) describe() string {
	s := a.op.String()
	if a.distinct {
		s += "_distinct"
	}
	if len(a.args) > 0 && a.op != aggCountStar {
		args := make([]string, len(a.args))
		for i, e := range a.args {
			args[i] = e.describe()
		}
		s += "(" + strings.Join(args, ", ") + ")"
	}
	return s
}

// Inputs implements Primitive.
func (g *Aggregate) Inputs() []Primitive { return append([]Primitive{g.input}, g.applies()...) }

func (g *Aggregate) applies() []Primitive {
	var out []Primitive
	for _, k := range g.keys {
		out = append(out, k.applyPlans()...)
	}
	return out
}

// Describe implements Primitive.
func (g *Aggregate) Describe() string {
	keys := make([]string, len(g.keys))
	for i, k := range g.keys {
		keys[i] = k.describe()
	}
	aggs := make([]string, len(g.aggs))
	for i, a := range g.aggs {
		aggs[i] = a.describe()
	}
	line := "Aggregate"
	if g.partial {
		line += " partial"
	}
	line += fmt.Sprintf(" group=[%s] aggs=[%s]", strings.Join(keys, ", "), strings.Join(aggs, " "))
	if len(g.sortKeys) > 0 {
		line += fmt.Sprintf(" ordered=%v", g.sortKeys)
	}
	return describeTree(line, append([]labeled{input(g.input)}, applyInputs(g.keys...)...)...)
}

// Execute implements Primitive.
func (g *Aggregate) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	in, err := g.input.Execute(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	if isDryRun(vc) {
		return &sqltypes.Result{}, nil
	}
	return g.aggregate(ctx, vc, bv, in.Fields, in.Rows)
}

// group is one group's keys and accumulators.
type group struct {
	keys sqltypes.Row
	accs []accumulator
}

func (g *Aggregate) aggregate(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable, inFields []*querypb.Field, rows []sqltypes.Row) (*sqltypes.Result, error) {
	keyFields := make([]*querypb.Field, len(g.keys))
	keyColls := make([]collations.ID, len(g.keys))
	for i, k := range g.keys {
		keyColls[i] = defaultCollation
		if off, ok := k.ast.(*sqlparser.Offset); ok && off.V < len(inFields) {
			keyFields[i] = inFields[off.V]
			keyColls[i] = collationOf(inFields[off.V])
		}
	}
	newGroup := func(keys sqltypes.Row) *group {
		gr := &group{keys: keys, accs: make([]accumulator, len(g.aggs))}
		for i, a := range g.aggs {
			gr.accs[i] = a.newAccumulator(inFields)
		}
		return gr
	}
	groups := map[string]*group{}
	var order []*group
	if len(rows) > 0 {
		ev := newEvaluator(ctx, vc, bv, typedFields(inFields, len(inFields), rows[0]))
		keys := make(sqltypes.Row, len(g.keys))
		args := make([][]sqltypes.Value, len(g.aggs))
		for i, a := range g.aggs {
			args[i] = make([]sqltypes.Value, len(a.args))
		}
		var buf []byte
		for _, row := range rows {
			buf = buf[:0]
			for i, k := range g.keys {
				v, err := ev.value(k, row)
				if err != nil {
					return nil, err
				}
				keys[i] = v
				if buf, err = appendKey(buf, v, keyColls[i]); err != nil {
					return nil, err
				}
			}
			gr, ok := groups[string(buf)]
			if !ok {
				gr = newGroup(slices.Clone(keys))
				groups[string(buf)] = gr
				order = append(order, gr)
			}
			for i, a := range g.aggs {
				for j, e := range a.args {
					v, err := ev.value(e, row)
					if err != nil {
						return nil, err
					}
					args[i][j] = v
				}
				var sortVals []sqltypes.Value
				for _, o := range a.order {
					v, err := ev.value(o.expr, row)
					if err != nil {
						return nil, err
					}
					sortVals = append(sortVals, v)
				}
				if err := gr.accs[i].add(args[i], sortVals); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(order) == 0 && len(g.keys) == 0 {
		// Aggregates without GROUP BY answer one row even over no rows.
		order = append(order, newGroup(nil))
	}
	width := len(g.aggs)
	if g.keysOut {
		width += len(g.keys)
	}
	out := make([]sqltypes.Row, len(order))
	for i, gr := range order {
		row := make(sqltypes.Row, 0, width)
		if g.keysOut {
			row = append(row, gr.keys...)
		}
		for _, a := range gr.accs {
			v, err := a.result()
			if err != nil {
				return nil, err
			}
			row = append(row, v)
		}
		out[i] = row
	}
	fields := make([]*querypb.Field, 0, width)
	if g.keysOut {
		fields = append(fields, keyFields...)
	}
	for _, a := range g.aggs {
		var f *querypb.Field
		if a.op.keepsField() && a.argField >= 0 && a.argField < len(inFields) {
			f = inFields[a.argField]
		}
		fields = append(fields, f)
	}
	if len(g.sortKeys) > 0 && len(out) > 1 {
		// Columns the gate computed compare as their values, text under
		// the default collation.
		sortFields := slices.Clone(fields)
		keys := make([]orderKey, len(g.sortKeys))
		for i, c := range g.sortKeys {
			if sortFields[c] == nil {
				sortFields[c] = &querypb.Field{Name: offsetName(c), Type: sqltypes.VarChar, Charset: uint32(defaultCollation)}
			}
			keys[i] = orderKey{col: colRef{index: c}}
		}
		if err := sortRows(sortFields, out, keys, true); err != nil {
			return nil, err
		}
	}
	return &sqltypes.Result{Fields: fields, Rows: out}, nil
}

// appendKey appends v's grouping key to dst: two values get the same key
// exactly when MySQL would group them together.
func appendKey(dst []byte, v sqltypes.Value, coll collations.ID) ([]byte, error) {
	if v.IsNull() {
		return append(dst, 0), nil
	}
	w, err := weight(v, coll)
	if err != nil {
		return nil, err
	}
	// Length-prefix each part so that keys of different splits differ.
	dst = append(dst, 1, byte(len(w)>>24), byte(len(w)>>16), byte(len(w)>>8), byte(len(w)))
	return append(dst, w...), nil
}

// groupConcatMaxLen is MariaDB's default group_concat_max_len.
const groupConcatMaxLen = 1 << 20

// accumulator folds one group's values of an aggregate.
type accumulator interface {
	// add takes a row's argument values (and, for GROUP_CONCAT, its
	// ORDER BY values). It must not keep args, which the caller reuses.
	add(args, order []sqltypes.Value) error
	result() (sqltypes.Value, error)
}

func (a *aggregate) newAccumulator(fields []*querypb.Field) accumulator {
	coll := defaultCollation
	var field *querypb.Field
	if a.argField >= 0 && a.argField < len(fields) && fields[a.argField] != nil {
		field = fields[a.argField]
		coll = collationOf(field)
	} else {
		// A computed argument: typed by its values.
		field = &querypb.Field{Name: "?", Type: sqltypes.Null}
	}
	var distinct *distinctSet
	if a.distinct {
		distinct = &distinctSet{seen: map[string]bool{}, coll: coll}
	}
	switch a.op {
	case aggCountStar:
		return &countAcc{star: true}
	case aggCount:
		return &countAcc{distinct: distinct}
	case aggSum:
		return &sumAcc{distinct: distinct}
	case aggAvg:
		return &avgAcc{sum: sumAcc{distinct: distinct}}
	case aggMin, aggMax:
		return &minMaxAcc{max: a.op == aggMax, coll: coll}
	case aggGroupConcat:
		return &groupConcatAcc{distinct: distinct, separator: a.separator, desc: a.order}
	case aggSumOfCounts:
		return &partialAcc{sum: evalengine.NewSumOfCounts(), field: field}
	case aggSumPartial:
		return &partialAcc{sum: evalengine.NewAggregationSum(field.Type), field: field}
	case aggMinPartial, aggMaxPartial:
		return &partialAcc{minMax: evalengine.NewAggregationMinMax(field.Type, collationEnv, coll, nil), max: a.op == aggMaxPartial, field: field}
	case aggAvgOfParts:
		sumField := field
		if off, ok := a.args[0].ast.(*sqlparser.Offset); ok && off.V < len(fields) && fields[off.V] != nil {
			sumField = fields[off.V]
		}
		return &avgOfPartsAcc{field: field, sum: evalengine.NewAggregationSum(sumField.Type), count: evalengine.NewSumOfCounts()}
	case aggCountDistinctValues, aggSumDistinctValues, aggAvgDistinctValues:
		valueColl := coll
		if off, ok := a.args[0].ast.(*sqlparser.Offset); ok && off.V < len(fields) && fields[off.V] != nil {
			valueColl = collationOf(fields[off.V])
		}
		return &distinctValuesAcc{op: a.op, field: field, coll: valueColl, values: map[string]sqltypes.Value{}}
	}
	return &firstAcc{}
}

// distinctSet remembers argument tuples already counted.
type distinctSet struct {
	seen map[string]bool
	coll collations.ID
}

// first reports whether args were not seen before (and records them).
func (d *distinctSet) first(args []sqltypes.Value) (bool, error) {
	var k []byte
	for _, v := range args {
		w, err := weight(v, d.coll)
		if err != nil {
			return false, err
		}
		k = append(k, byte(len(w)>>24), byte(len(w)>>16), byte(len(w)>>8), byte(len(w)))
		k = append(k, w...)
	}
	if d.seen[string(k)] {
		return false, nil
	}
	d.seen[string(k)] = true
	return true, nil
}

// weight is a key under which values MySQL finds equal coincide.
func weight(v sqltypes.Value, coll collations.ID) ([]byte, error) {
	typ := v.Type()
	length, scale := 0, 0
	switch {
	case sqltypes.IsDecimal(typ), sqltypes.IsIntegral(typ):
		typ, length, scale = sqltypes.Decimal, 65, 30
	case sqltypes.IsText(typ):
	case typ == sqltypes.Enum || typ == sqltypes.Set:
		// Equal exactly when their text is equal (the definition's
		// positions are not in the result).
		typ = sqltypes.VarChar
	default:
		coll = collations.CollationBinaryID
	}
	w, _, err := evalengine.WeightString(nil, v, typ, coll, length, scale, nil, 0)
	if err != nil {
		return nil, sqlerr.Internal("comparing %s: %v", v.String(), err)
	}
	return w, nil
}

func anyNull(vs []sqltypes.Value) bool {
	for _, v := range vs {
		if v.IsNull() {
			return true
		}
	}
	return false
}

type countAcc struct {
	star     bool
	distinct *distinctSet
	n        int64
}

func (a *countAcc) add(args, _ []sqltypes.Value) error {
	if !a.star && anyNull(args) {
		return nil
	}
	if a.distinct != nil {
		first, err := a.distinct.first(args)
		if err != nil || !first {
			return err
		}
	}
	a.n++
	return nil
}

func (a *countAcc) result() (sqltypes.Value, error) { return sqltypes.NewInt64(a.n), nil }

// sumAcc adds exactly, as DECIMAL, until a value that is not a number of
// exact type arrives (a float, a string); then, as MySQL, in floating
// point.
type sumAcc struct {
	distinct *distinctSet
	float    bool
	dec      decimal.Decimal
	f        float64
	n        int64
}

func (a *sumAcc) add(args, _ []sqltypes.Value) error {
	v := args[0]
	if v.IsNull() {
		return nil
	}
	if a.distinct != nil {
		first, err := a.distinct.first(args)
		if err != nil || !first {
			return err
		}
	}
	if a.n == 0 {
		a.dec = decimal.NewFromInt(0)
	}
	a.n++
	if !a.float && (v.IsIntegral() || sqltypes.IsDecimal(v.Type())) {
		d, err := decimal.NewFromString(v.ToString())
		if err != nil {
			return sqlerr.Internal("SUM of %s: %v", v.String(), err)
		}
		a.dec = a.dec.Add(d)
		return nil
	}
	if !a.float {
		a.float = true
		a.f, _ = a.dec.Float64()
	}
	f, err := v.ToFloat64()
	if err != nil {
		f = numericPrefix(v.ToString())
	}
	a.f += f
	return nil
}

// numericPrefix is a string's value in arithmetic as MySQL takes it: its
// longest prefix that reads as a number after leading spaces ("1.5" is
// 1.5, "12abc" is 12, "abc" is 0).
func numericPrefix(s string) float64 {
	s = strings.TrimLeft(s, " \t\n\r")
	end, digits := 0, false
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end, digits = end+1, true
	}
	if end < len(s) && s[end] == '.' {
		end++
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end, digits = end+1, true
		}
	}
	if !digits {
		return 0
	}
	if end < len(s) && (s[end] == 'e' || s[end] == 'E') {
		exp := end + 1
		if exp < len(s) && (s[exp] == '+' || s[exp] == '-') {
			exp++
		}
		if exp < len(s) && s[exp] >= '0' && s[exp] <= '9' {
			for exp < len(s) && s[exp] >= '0' && s[exp] <= '9' {
				exp++
			}
			end = exp
		}
	}
	f, _ := strconv.ParseFloat(s[:end], 64)
	return f
}

func (a *sumAcc) result() (sqltypes.Value, error) {
	switch {
	case a.n == 0:
		return sqltypes.NULL, nil
	case a.float:
		return sqltypes.MakeTrusted(sqltypes.Float64, format.FormatFloat(a.f)), nil
	}
	return sqltypes.MakeTrusted(sqltypes.Decimal, []byte(a.dec.String())), nil
}

type avgAcc struct {
	sum sumAcc
}

func (a *avgAcc) add(args, order []sqltypes.Value) error { return a.sum.add(args, order) }

func (a *avgAcc) result() (sqltypes.Value, error) {
	switch {
	case a.sum.n == 0:
		return sqltypes.NULL, nil
	case a.sum.float:
		return sqltypes.MakeTrusted(sqltypes.Float64, format.FormatFloat(a.sum.f/float64(a.sum.n))), nil
	}
	q, _ := a.sum.dec.QuoRem(decimal.NewFromInt(a.sum.n), 30)
	return sqltypes.MakeTrusted(sqltypes.Decimal, []byte(q.String())), nil
}

type minMaxAcc struct {
	max  bool
	coll collations.ID
	v    sqltypes.Value
	set  bool
}

func (a *minMaxAcc) add(args, _ []sqltypes.Value) error {
	v := args[0]
	if v.IsNull() {
		return nil
	}
	if !a.set {
		a.v, a.set = v, true
		return nil
	}
	c, err := evalengine.NullsafeCompare(v, a.v, collationEnv, a.coll, nil)
	if err != nil {
		return sqlerr.Internal("MIN/MAX: %v", err)
	}
	if (a.max && c > 0) || (!a.max && c < 0) {
		a.v = v
	}
	return nil
}

func (a *minMaxAcc) result() (sqltypes.Value, error) {
	if !a.set {
		return sqltypes.NULL, nil
	}
	return a.v, nil
}

type firstAcc struct {
	v   sqltypes.Value
	set bool
}

func (a *firstAcc) add(args, _ []sqltypes.Value) error {
	if !a.set {
		a.v, a.set = args[0], true
	}
	return nil
}

func (a *firstAcc) result() (sqltypes.Value, error) {
	if !a.set {
		return sqltypes.NULL, nil
	}
	return a.v, nil
}

// groupConcatAcc collects a group's values, sorts them by its ORDER BY
// and joins them with its separator, cut at group_concat_max_len.
type groupConcatAcc struct {
	distinct  *distinctSet
	separator string
	desc      []gateSortKey
	items     []concatItem
}

type concatItem struct {
	text  string
	order []sqltypes.Value
}

func (a *groupConcatAcc) add(args, order []sqltypes.Value) error {
	if anyNull(args) {
		return nil
	}
	if a.distinct != nil {
		first, err := a.distinct.first(args)
		if err != nil || !first {
			return err
		}
	}
	var b strings.Builder
	for _, v := range args {
		b.Write(v.Raw())
	}
	a.items = append(a.items, concatItem{text: b.String(), order: order})
	return nil
}

func (a *groupConcatAcc) result() (sqltypes.Value, error) {
	if len(a.items) == 0 {
		return sqltypes.NULL, nil
	}
	if len(a.desc) > 0 {
		slices.SortStableFunc(a.items, func(x, y concatItem) int {
			for i, k := range a.desc {
				c, err := evalengine.NullsafeCompare(x.order[i], y.order[i], collationEnv, defaultCollation, nil)
				if err != nil || c == 0 {
					continue
				}
				if k.desc {
					return -c
				}
				return c
			}
			return 0
		})
	}
	var b strings.Builder
	for i, it := range a.items {
		if i > 0 {
			b.WriteString(a.separator)
		}
		b.WriteString(it.text)
		if b.Len() >= groupConcatMaxLen {
			break
		}
	}
	s := b.String()
	if len(s) > groupConcatMaxLen {
		s = s[:groupConcatMaxLen]
	}
	return sqltypes.NewVarChar(s), nil
}

// partialAcc combines the shards' COUNT, SUM, MIN or MAX of a group.
type partialAcc struct {
	sum    evalengine.Sum
	minMax evalengine.MinMax
	max    bool
	field  *querypb.Field
}

func (a *partialAcc) add(args, _ []sqltypes.Value) error {
	var err error
	switch {
	case a.sum != nil:
		err = a.sum.Add(args[0])
	case a.max:
		err = a.minMax.Max(args[0])
	default:
		err = a.minMax.Min(args[0])
	}
	if err != nil {
		return sqlerr.Internal("combining column %s: %v", a.field.Name, err)
	}
	return nil
}

func (a *partialAcc) result() (sqltypes.Value, error) {
	if a.sum != nil {
		return a.sum.Result(), nil
	}
	return a.minMax.Result(), nil
}

// avgOfPartsAcc combines the shards' SUM and COUNT of an AVG's argument.
type avgOfPartsAcc struct {
	field      *querypb.Field
	sum, count evalengine.Sum
}

func (a *avgOfPartsAcc) add(args, _ []sqltypes.Value) error {
	if err := a.sum.Add(args[0]); err != nil {
		return sqlerr.Internal("combining column %s: %v", a.field.Name, err)
	}
	if err := a.count.Add(args[1]); err != nil {
		return sqlerr.Internal("combining column %s: %v", a.field.Name, err)
	}
	return nil
}

func (a *avgOfPartsAcc) result() (sqltypes.Value, error) {
	return average(a.field, a.sum.Result(), a.count.Result())
}

// distinctValuesAcc computes COUNT, SUM or AVG of DISTINCT from a group's
// distinct values, typed as the shards typed the column.
type distinctValuesAcc struct {
	op     aggOp
	field  *querypb.Field
	coll   collations.ID
	values map[string]sqltypes.Value
}

func (a *distinctValuesAcc) add(args, _ []sqltypes.Value) error {
	v := args[0]
	if v.IsNull() {
		return nil
	}
	k, err := weight(v, a.coll)
	if err != nil {
		return err
	}
	if _, ok := a.values[string(k)]; !ok {
		a.values[string(k)] = v
	}
	return nil
}

func (a *distinctValuesAcc) result() (sqltypes.Value, error) {
	if a.op == aggCountDistinctValues {
		return sqltypes.NewInt64(int64(len(a.values))), nil
	}
	if len(a.values) == 0 {
		return sqltypes.NULL, nil
	}
	sumType := a.field.Type
	if a.op == aggAvgDistinctValues && !sqltypes.IsFloat(a.field.Type) {
		sumType = sqltypes.Decimal
	}
	sum := evalengine.NewAggregationSum(sumType)
	for _, v := range a.values {
		if err := sum.Add(v); err != nil {
			return sqltypes.NULL, sqlerr.Internal("DISTINCT aggregate of %s: %v", a.field.Name, err)
		}
	}
	if a.op == aggSumDistinctValues {
		return sum.Result(), nil
	}
	return average(a.field, sum.Result(), sqltypes.NewInt64(int64(len(a.values))))
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
