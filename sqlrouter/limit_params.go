package sqlrouter

import (
	"math"
	"strconv"
	"strings"

	"vitess.io/vitess/go/mysql/decimal"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// limitParamPrefix names the bind variable that carries a LIMIT or OFFSET
// placeholder's row count: :v1 in "LIMIT ?" becomes :__sg_limit_v1.
const limitParamPrefix = "__sg_limit_"

// bindLimitParams gives every placeholder of a LIMIT or OFFSET (of the
// statement and of its subqueries, derived tables and CTEs) a bind
// variable of its own, which the plan fills at execution with the row
// count MariaDB makes of the client's value (see limitRowCount).
//
// Drivers bind pagination as they bind everything: node mysql2 sends
// numbers as DOUBLE, PHP PDO and Perl DBI send strings. MariaDB converts
// any of them to a row count, but text SQL only takes an integer there
// ("LIMIT '10'" is a syntax error), and shards get text. A variable of
// its own keeps the client's value intact where the same name is used
// outside LIMIT (named gRPC parameters may be).
//
// Statements planned again from parts of one already planned (subqueries,
// the count of SQL_CALC_FOUND_ROWS) see the renamed placeholders: they
// are recorded too, so that every plan converts what it sends.
func bindLimitParams(st *planState) error {
	seen := map[string]bool{}
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		lim, ok := n.(*sqlparser.Limit)
		if !ok || lim == nil {
			return true, nil
		}
		for _, e := range []*sqlparser.Expr{&lim.Offset, &lim.Rowcount} {
			arg, ok := (*e).(*sqlparser.Argument)
			if !ok {
				continue
			}
			name, renamed := strings.CutPrefix(arg.Name, limitParamPrefix)
			if !renamed {
				*e = sqlparser.NewArgument(limitParamPrefix + name)
			}
			if !seen[name] {
				seen[name] = true
				st.limitParams = append(st.limitParams, name)
			}
		}
		return true, nil
	}, st.stmt)
	return nil
}

// BindLimits returns bv with the row count of each of the plan's LIMIT and
// OFFSET placeholders added (bv itself when it has none). Execute does it
// itself; the gate calls it for statements it derives from the plan's
// syntax tree (a prepared statement's field query).
func (p *Plan) BindLimits(bv map[string]*querypb.BindVariable) (map[string]*querypb.BindVariable, error) {
	if len(p.limitParams) == 0 {
		return bv, nil
	}
	out := make(map[string]*querypb.BindVariable, len(bv)+len(p.limitParams))
	for k, v := range bv {
		out[k] = v
	}
	for _, name := range p.limitParams {
		given, ok := bv[name]
		if !ok {
			return nil, sqlerr.Internal("LIMIT: no value for placeholder :%s", name)
		}
		n, err := limitRowCount(given)
		if err != nil {
			return nil, err
		}
		out[limitParamPrefix+name] = sqltypes.Uint64BindVariable(n)
	}
	return out, nil
}

// limitRowCount is the row count MariaDB (10.5 to 11.x) makes of a value
// bound to a LIMIT or OFFSET placeholder: the parameter's integer value
// (Item_param::val_int) taken as unsigned. It never fails for numbers and
// strings:
//
//   - integers as they are; a negative one wraps to a huge count (LIMIT
//     -1 returns every row, OFFSET -1 none);
//   - DOUBLE rounded half to even (2.5 is 2, 3.5 is 4), beyond the
//     BIGINT range saturated, then taken as unsigned;
//   - DECIMAL rounded half away from zero, saturated likewise;
//   - strings by their leading integer, as my_strtoll10 reads it: blanks,
//     a sign, digits up to the first other character ('2.9' is 2, '1e3'
//     is 1, 'abc' and the empty string are 0), beyond the BIGINT UNSIGNED
//     range saturated;
//   - NULL is 0.
//
// Temporal and other values are refused (1235): MariaDB would use their
// numeric form (20240101 for a date), which no client means as a row count.
func limitRowCount(bv *querypb.BindVariable) (uint64, error) {
	v, err := sqltypes.BindVariableToValue(bv)
	if err != nil {
		return 0, sqlerr.Unsupported("LIMIT with a %s parameter (bind an integer)", bv.Type.String())
	}
	typ := v.Type()
	switch {
	case v.IsNull():
		return 0, nil
	case sqltypes.IsSigned(typ):
		n, err := strconv.ParseInt(v.ToString(), 10, 64)
		if err != nil {
			return 0, sqlerr.New(1210, "HY000", "Incorrect arguments to LIMIT: %s", v.ToString())
		}
		return uint64(n), nil
	case sqltypes.IsUnsigned(typ):
		n, err := strconv.ParseUint(v.ToString(), 10, 64)
		if err != nil {
			return 0, sqlerr.New(1210, "HY000", "Incorrect arguments to LIMIT: %s", v.ToString())
		}
		return n, nil
	case sqltypes.IsFloat(typ):
		f, err := strconv.ParseFloat(v.ToString(), 64)
		if err != nil {
			return 0, sqlerr.New(1210, "HY000", "Incorrect arguments to LIMIT: %s", v.ToString())
		}
		return uint64(doubleToLonglong(f)), nil
	case sqltypes.IsDecimal(typ):
		d, err := decimal.NewFromMySQL(v.Raw())
		if err != nil {
			return 0, sqlerr.New(1210, "HY000", "Incorrect arguments to LIMIT: %s", v.ToString())
		}
		return uint64(decimalToLonglong(d)), nil
	case sqltypes.IsText(typ) || sqltypes.IsBinary(typ) || typ == sqltypes.Enum || typ == sqltypes.Set:
		return uint64(strtoll10(v.ToString())), nil
	}
	return 0, sqlerr.Unsupported("LIMIT with a %s parameter (bind an integer)", typ.String())
}

// doubleToLonglong is MariaDB's Converter_double_to_longlong for a signed
// target: rint (half to even), saturated at the BIGINT bounds. NaN comes
// out as the x86 conversion gives it, the lowest BIGINT.
func doubleToLonglong(f float64) int64 {
	f = math.RoundToEven(f)
	switch {
	case math.IsNaN(f), f <= math.MinInt64:
		return math.MinInt64
	case f >= math.MaxInt64: // 2^63: float64 has no closer value
		return math.MaxInt64
	}
	return int64(f)
}

// decimalToLonglong is MariaDB's my_decimal2int: rounded half away from
// zero, saturated at the BIGINT bounds.
func decimalToLonglong(d decimal.Decimal) int64 {
	r := d.Round(0)
	if n, ok := r.Int64(); ok {
		return n
	}
	if r.Sign() < 0 {
		return math.MinInt64
	}
	return math.MaxInt64
}

// strtoll10 is MariaDB's my_strtoll10: blanks (spaces, tabs), an optional
// sign, then decimal digits up to the first other character. Beyond the
// range a negative number is the lowest BIGINT and a positive one the
// highest BIGINT UNSIGNED (returned as its bits, -1).
func strtoll10(s string) int64 {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	negative := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		negative = s[i] == '-'
		i++
	}
	var v uint64
	overflow := false
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		d := uint64(s[i] - '0')
		if v > (math.MaxUint64-d)/10 {
			overflow = true
			break
		}
		v = v*10 + d
	}
	switch {
	case negative && (overflow || v > 1<<63):
		return math.MinInt64
	case negative:
		return -int64(v) // 2^63 wraps to the lowest BIGINT, as it should
	case overflow:
		return -1
	}
	return int64(v)
}
