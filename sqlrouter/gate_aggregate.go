package sqlrouter

import (
	"slices"
	"strings"

	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/mysql/decimal"
	"vitess.io/vitess/go/mysql/format"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/vtgate/evalengine"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// groupConcatMaxLen is MariaDB's default group_concat_max_len.
const groupConcatMaxLen = 1 << 20

// gateAggKind is an aggregate function the gate computes over raw rows.
type gateAggKind int

const (
	gaCountStar gateAggKind = iota
	gaCount
	gaSum
	gaAvg
	gaMin
	gaMax
	gaGroupConcat
	// gaFirst is a column read outside any aggregate in a grouped query:
	// MariaDB (without ONLY_FULL_GROUP_BY) answers a value of the group.
	gaFirst
)

var gateAggNames = [...]string{"count(*)", "count", "sum", "avg", "min", "max", "group_concat", "any"}

// aggSlot is one aggregate of a grouped gate query.
type aggSlot struct {
	kind     gateAggKind
	args     []*gateExpr // over the input rows
	distinct bool
	// For GROUP_CONCAT: its own ORDER BY and separator.
	order     []gateSortKey
	separator string
	// argField is the input column of a single-column argument, whose
	// collation MIN and MAX compare by (nil: computed).
	argField int
}

// gateSortKey is one key of an ORDER BY the gate sorts by.
type gateSortKey struct {
	expr *gateExpr
	desc bool
}

// accumulator folds one group's values of an aggregate.
type accumulator interface {
	// add takes a row's argument values (and, for GROUP_CONCAT, its
	// ORDER BY values).
	add(args, order []sqltypes.Value) error
	result() sqltypes.Value
}

func (s *aggSlot) newAccumulator(fields []*querypb.Field) accumulator {
	coll := defaultCollation
	if s.argField >= 0 && s.argField < len(fields) {
		coll = collationOf(fields[s.argField])
	}
	var distinct *distinctSet
	if s.distinct {
		distinct = &distinctSet{seen: map[string]bool{}, coll: coll}
	}
	switch s.kind {
	case gaCountStar:
		return &countAcc{star: true}
	case gaCount:
		return &countAcc{distinct: distinct}
	case gaSum:
		return &sumAcc{distinct: distinct}
	case gaAvg:
		return &avgAcc{sum: sumAcc{distinct: distinct}}
	case gaMin, gaMax:
		return &minMaxAcc{max: s.kind == gaMax, coll: coll}
	case gaGroupConcat:
		return &groupConcatAcc{distinct: distinct, separator: s.separator, desc: s.order}
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

func (a *countAcc) result() sqltypes.Value { return sqltypes.NewInt64(a.n) }

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
		f = 0 // MySQL sums a string that is no number as 0
	}
	a.f += f
	return nil
}

func (a *sumAcc) result() sqltypes.Value {
	switch {
	case a.n == 0:
		return sqltypes.NULL
	case a.float:
		return sqltypes.MakeTrusted(sqltypes.Float64, format.FormatFloat(a.f))
	}
	return sqltypes.MakeTrusted(sqltypes.Decimal, []byte(a.dec.String()))
}

type avgAcc struct {
	sum sumAcc
}

func (a *avgAcc) add(args, order []sqltypes.Value) error { return a.sum.add(args, order) }

func (a *avgAcc) result() sqltypes.Value {
	switch {
	case a.sum.n == 0:
		return sqltypes.NULL
	case a.sum.float:
		return sqltypes.MakeTrusted(sqltypes.Float64, format.FormatFloat(a.sum.f/float64(a.sum.n)))
	}
	q, _ := a.sum.dec.QuoRem(decimal.NewFromInt(a.sum.n), 30)
	return sqltypes.MakeTrusted(sqltypes.Decimal, []byte(q.String()))
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

func (a *minMaxAcc) result() sqltypes.Value {
	if !a.set {
		return sqltypes.NULL
	}
	return a.v
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

func (a *firstAcc) result() sqltypes.Value {
	if !a.set {
		return sqltypes.NULL
	}
	return a.v
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

func (a *groupConcatAcc) result() sqltypes.Value {
	if len(a.items) == 0 {
		return sqltypes.NULL
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
	return sqltypes.NewVarChar(s)
}
