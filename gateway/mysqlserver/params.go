package mysqlserver

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// Parameters of COM_STMT_EXECUTE, decoded into the bind variables the
// handler takes ("v1".."vN").

// bindNames are the first bind variable names, made once.
var bindNames = func() []string {
	names := make([]string, 256)
	for i := range names {
		names[i] = "v" + strconv.Itoa(i+1)
	}
	return names
}()

func bindName(i int) string {
	if i < len(bindNames) {
		return bindNames[i]
	}
	return "v" + strconv.Itoa(i+1)
}

func errArguments() error {
	return newError(erWrongArguments, "HY000", "Incorrect arguments to mysqld_stmt_execute")
}

// decodeParams reads the parameters of an execute packet (d is positioned
// after the iteration count) for st, whose types it remembers across
// executions and whose long data it consumes.
func decodeParams(d *decoder, st *stmt) (map[string]*querypb.BindVariable, error) {
	n := st.params
	bindVars := make(map[string]*querypb.BindVariable, n)
	if n == 0 {
		return bindVars, nil
	}
	nulls := d.take((n + 7) / 8)
	if d.uint8() == 1 {
		types := d.take(2 * n)
		if !d.ok {
			return nil, errArguments()
		}
		if st.types == nil {
			st.types = make([]uint16, n)
		}
		for i := range n {
			st.types[i] = binary.LittleEndian.Uint16(types[2*i:])
		}
	}
	if !d.ok || st.types == nil {
		return nil, errArguments()
	}
	for i := range n {
		typ, flags := byte(st.types[i]), byte(st.types[i]>>8)
		if data, ok := st.longData[i]; ok {
			bindVars[bindName(i)] = &querypb.BindVariable{Type: longDataType(typ), Value: data}
			continue
		}
		if nulls[i/8]&(1<<(i%8)) != 0 || typ == typeNull {
			bindVars[bindName(i)] = sqltypes.NullBindVariable
			continue
		}
		bv, err := decodeParam(d, typ, flags&paramUnsigned != 0)
		if err != nil {
			return nil, err
		}
		if !d.ok {
			return nil, errArguments()
		}
		bindVars[bindName(i)] = bv
	}
	return bindVars, nil
}

// longDataType is the type of a parameter sent with
// COM_STMT_SEND_LONG_DATA: text or binary data.
func longDataType(typ byte) querypb.Type {
	switch typ {
	case typeTinyBlob, typeMediumBlob, typeLongBlob, typeBlob, typeGeometry, typeBit:
		return querypb.Type_VARBINARY
	}
	return querypb.Type_VARCHAR
}

// decodeParam reads one parameter value of MySQL type typ.
func decodeParam(d *decoder, typ byte, unsigned bool) (*querypb.BindVariable, error) {
	integer := func(v uint64, signed int64) *querypb.BindVariable {
		if unsigned {
			return sqltypes.Uint64BindVariable(v)
		}
		return sqltypes.Int64BindVariable(signed)
	}
	switch typ {
	case typeTiny:
		v := d.uint8()
		return integer(uint64(v), int64(int8(v))), nil
	case typeShort, typeYear:
		v := d.uint16()
		return integer(uint64(v), int64(int16(v))), nil
	case typeLong, typeInt24:
		v := d.uint32()
		return integer(uint64(v), int64(int32(v))), nil
	case typeLongLong:
		v := d.uint64()
		return integer(v, int64(v)), nil
	case typeFloat:
		return sqltypes.Float64BindVariable(float64(math.Float32frombits(d.uint32()))), nil
	case typeDouble:
		return sqltypes.Float64BindVariable(math.Float64frombits(d.uint64())), nil
	case typeDate, typeNewDate:
		return decodeDatetimeParam(d, querypb.Type_DATE)
	case typeDatetime:
		return decodeDatetimeParam(d, querypb.Type_DATETIME)
	case typeTimestamp:
		return decodeDatetimeParam(d, querypb.Type_TIMESTAMP)
	case typeTime:
		return decodeTimeParam(d)
	case typeDecimal, typeNewDecimal:
		v := d.lenEncBytes()
		if !validDecimal(v) {
			return nil, newError(erWrongArguments, "HY000", "Incorrect DECIMAL value '%s' for a prepared statement parameter", v)
		}
		return &querypb.BindVariable{Type: querypb.Type_DECIMAL, Value: append([]byte(nil), v...)}, nil
	case typeVarchar, typeVarString, typeString, typeEnum, typeSet, typeJSON:
		return &querypb.BindVariable{Type: querypb.Type_VARCHAR, Value: append([]byte(nil), d.lenEncBytes()...)}, nil
	case typeTinyBlob, typeMediumBlob, typeLongBlob, typeBlob, typeGeometry, typeBit:
		return &querypb.BindVariable{Type: querypb.Type_VARBINARY, Value: append([]byte(nil), d.lenEncBytes()...)}, nil
	}
	return nil, newError(erWrongArguments, "HY000", "Incorrect arguments to mysqld_stmt_execute: parameter type %d is not supported", typ)
}

// validDecimal accepts what a DECIMAL parameter's text may be (it is
// passed on unquoted): [+-]digits[.digits][e[+-]digits].
func validDecimal(s []byte) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intDigits := i - start
	fracDigits := 0
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		fracDigits = i - start
	}
	if intDigits+fracDigits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

func decodeDatetimeParam(d *decoder, typ querypb.Type) (*querypb.BindVariable, error) {
	n := d.uint8()
	var year, month, day, hour, minute, second, micro int
	switch n {
	case 0:
	case 4, 7, 11:
		year, month, day = int(d.uint16()), int(d.uint8()), int(d.uint8())
		if n >= 7 {
			hour, minute, second = int(d.uint8()), int(d.uint8()), int(d.uint8())
		}
		if n == 11 {
			micro = int(d.uint32())
		}
	default:
		return nil, errArguments()
	}
	if month > 12 || day > 31 || hour > 23 || minute > 59 || second > 59 || micro > 999999 {
		return nil, errArguments()
	}
	var s string
	if typ == querypb.Type_DATE {
		s = fmt.Sprintf("%04d-%02d-%02d", year, month, day)
	} else {
		s = fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", year, month, day, hour, minute, second)
		if micro != 0 {
			s += fmt.Sprintf(".%06d", micro)
		}
	}
	return &querypb.BindVariable{Type: typ, Value: []byte(s)}, nil
}

func decodeTimeParam(d *decoder) (*querypb.BindVariable, error) {
	n := d.uint8()
	var negative bool
	var days, hour, minute, second, micro int
	switch n {
	case 0:
	case 8, 12:
		negative = d.uint8() == 1
		days = int(d.uint32())
		hour, minute, second = int(d.uint8()), int(d.uint8()), int(d.uint8())
		if n == 12 {
			micro = int(d.uint32())
		}
	default:
		return nil, errArguments()
	}
	if days > 34 || hour > 23 || minute > 59 || second > 59 || micro > 999999 {
		return nil, errArguments()
	}
	sign := ""
	if negative {
		sign = "-"
	}
	s := fmt.Sprintf("%s%02d:%02d:%02d", sign, days*24+hour, minute, second)
	if micro != 0 {
		s += fmt.Sprintf(".%06d", micro)
	}
	return &querypb.BindVariable{Type: querypb.Type_TIME, Value: []byte(s)}, nil
}
