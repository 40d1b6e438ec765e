package mysqlserver

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// Row encodings. Values arrive as sqltypes.Value, which holds MySQL's text
// form of every type; the text protocol sends it as is, the binary
// protocol converts it to the column type's binary form.

// appendColumnDef appends a column definition (Protocol::ColumnDefinition41)
// built from f as given; the flags are f's, or, when f has none, those
// its type implies (UNSIGNED for unsigned types, BINARY for binary ones).
// withDefault adds the default-value field COM_FIELD_LIST answers carry
// (always NULL here). For clients that asked for MariaDB's extended
// metadata, f.ColumnType supplies it (see extendedMetadata).
func (c *Conn) appendColumnDef(b []byte, f *querypb.Field, withDefault bool) []byte {
	b = appendLenEncString(b, "def")
	b = appendLenEncString(b, f.GetDatabase())
	b = appendLenEncString(b, f.GetTable())
	b = appendLenEncString(b, f.GetOrgTable())
	b = appendLenEncString(b, f.GetName())
	b = appendLenEncString(b, f.GetOrgName())
	if c.extCaps&ExtCapExtendedMetadata != 0 {
		b = appendExtendedMetadata(b, f.GetColumnType())
	}
	b = append(b, 0x0c)
	b = appendUint16(b, uint16(f.GetCharset()))
	b = appendUint32(b, f.GetColumnLength())
	typ, flags := sqltypes.TypeToMySQL(f.GetType())
	if f.GetFlags() != 0 {
		flags = int64(f.GetFlags())
	}
	b = append(b, typ)
	b = appendUint16(b, uint16(flags))
	b = append(b, byte(f.GetDecimals()))
	b = append(b, 0, 0)
	if withDefault {
		b = append(b, 0xfb)
	}
	return b
}

// MariaDB's extended metadata entries.
const (
	extendedTypeName = 0x00 // a data type's name: "point", "uuid", "inet6"
	extendedFormat   = 0x01 // a format: "json"
)

// appendExtendedMetadata appends the extended type information MariaDB
// sends clients that set MARIADB_CLIENT_EXTENDED_METADATA, from a field's
// column_type: "json" (MariaDB's JSON, a LONGTEXT checked by json_valid)
// is sent as format=json; the names of geometry types and of MariaDB's
// own data types (uuid, inet4, inet6) as the type's name; anything else
// (an SQL column type such as "varchar(32)") as nothing.
func appendExtendedMetadata(b []byte, columnType string) []byte {
	kind := byte(extendedTypeName)
	switch columnType {
	case "json":
		kind = extendedFormat
	case "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection",
		"uuid", "inet4", "inet6":
	default:
		return append(b, 0)
	}
	b = appendLenEncInt(b, uint64(1+lenEncIntSize(uint64(len(columnType)))+len(columnType)))
	b = append(b, kind)
	return appendLenEncString(b, columnType)
}

// appendTextRow appends a text-protocol row: each value length-encoded,
// NULL as 0xfb.
func appendTextRow(b []byte, row []sqltypes.Value) []byte {
	for _, v := range row {
		if v.IsNull() {
			b = append(b, 0xfb)
			continue
		}
		b = appendLenEncBytes(b, v.Raw())
	}
	return b
}

// appendBinaryRow appends a binary-protocol row: a 0x00 header, the NULL
// bitmap (offset 2), then each non-NULL value in its column type's binary
// form.
func appendBinaryRow(b []byte, fields []*querypb.Field, row []sqltypes.Value) ([]byte, error) {
	if len(row) != len(fields) {
		return b, fmt.Errorf("row has %d values for %d columns", len(row), len(fields))
	}
	b = append(b, 0x00)
	bitmap := len(b)
	for range (len(fields) + 7 + 2) / 8 {
		b = append(b, 0)
	}
	for i, v := range row {
		typ := fields[i].GetType()
		if v.IsNull() || typ == querypb.Type_NULL_TYPE {
			bit := i + 2
			b[bitmap+bit/8] |= 1 << (bit % 8)
			continue
		}
		var err error
		if b, err = appendBinaryValue(b, typ, v.Raw()); err != nil {
			return b, fmt.Errorf("column %q: %w", fields[i].GetName(), err)
		}
	}
	return b, nil
}

// appendBinaryValue appends raw, the text form of a value of type typ, in
// the binary protocol's form of that type.
func appendBinaryValue(b []byte, typ querypb.Type, raw []byte) ([]byte, error) {
	switch typ {
	case querypb.Type_INT8, querypb.Type_UINT8:
		v, err := parseInteger(raw, typ == querypb.Type_UINT8)
		return append(b, byte(v)), err
	case querypb.Type_INT16, querypb.Type_UINT16, querypb.Type_YEAR:
		v, err := parseInteger(raw, typ != querypb.Type_INT16)
		return appendUint16(b, uint16(v)), err
	case querypb.Type_INT24, querypb.Type_UINT24, querypb.Type_INT32, querypb.Type_UINT32:
		v, err := parseInteger(raw, typ == querypb.Type_UINT24 || typ == querypb.Type_UINT32)
		return appendUint32(b, uint32(v)), err
	case querypb.Type_INT64, querypb.Type_UINT64:
		v, err := parseInteger(raw, typ == querypb.Type_UINT64)
		return binary.LittleEndian.AppendUint64(b, v), err
	case querypb.Type_FLOAT32:
		f, err := strconv.ParseFloat(string(raw), 32)
		if err != nil {
			return b, fmt.Errorf("FLOAT value %q: %w", raw, err)
		}
		return appendUint32(b, math.Float32bits(float32(f))), nil
	case querypb.Type_FLOAT64:
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return b, fmt.Errorf("DOUBLE value %q: %w", raw, err)
		}
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(f)), nil
	case querypb.Type_DATE, querypb.Type_DATETIME, querypb.Type_TIMESTAMP:
		return appendBinaryDatetime(b, raw)
	case querypb.Type_TIME:
		return appendBinaryTime(b, raw)
	default:
		// DECIMAL, strings, blobs, BIT, ENUM, SET, JSON, GEOMETRY and the
		// rest travel as length-encoded strings.
		return appendLenEncBytes(b, raw), nil
	}
}

// parseInteger parses a decimal integer's text without allocating; a
// signed value is returned as its two's complement bits.
func parseInteger(raw []byte, unsigned bool) (uint64, error) {
	s := raw
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 20 {
		return 0, fmt.Errorf("integer value %q", raw)
	}
	var v uint64
	for _, ch := range s {
		if ch < '0' || ch > '9' {
			return 0, fmt.Errorf("integer value %q", raw)
		}
		d := uint64(ch - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, fmt.Errorf("integer value %q out of range", raw)
		}
		v = v*10 + d
	}
	switch {
	case neg && unsigned && v != 0:
		return 0, fmt.Errorf("negative value %q for an unsigned column", raw)
	case neg:
		if v > 1<<63 {
			return 0, fmt.Errorf("integer value %q out of range", raw)
		}
		return -v, nil
	case !unsigned && v > math.MaxInt64:
		return 0, fmt.Errorf("integer value %q out of range", raw)
	}
	return v, nil
}

// datetime is the parts of a DATE, DATETIME, TIMESTAMP or TIME value.
type datetime struct {
	year, month, day      int
	hour, minute, second  int // hour may exceed 23 for TIME
	micro                 int
	negative, hasTimePart bool
}

// appendBinaryDatetime appends a DATE/DATETIME/TIMESTAMP as the binary
// protocol sends it: a length (0, 4, 7 or 11) and the parts present.
func appendBinaryDatetime(b []byte, raw []byte) ([]byte, error) {
	t, ok := parseDatetime(raw)
	if !ok {
		return b, fmt.Errorf("date/time value %q", raw)
	}
	switch {
	case t.micro != 0:
		b = append(b, 11)
	case t.hour != 0 || t.minute != 0 || t.second != 0:
		b = append(b, 7)
	case t.year != 0 || t.month != 0 || t.day != 0:
		b = append(b, 4)
	default:
		return append(b, 0), nil
	}
	n := b[len(b)-1]
	b = appendUint16(b, uint16(t.year))
	b = append(b, byte(t.month), byte(t.day))
	if n >= 7 {
		b = append(b, byte(t.hour), byte(t.minute), byte(t.second))
	}
	if n == 11 {
		b = appendUint32(b, uint32(t.micro))
	}
	return b, nil
}

// appendBinaryTime appends a TIME: a length (0, 8 or 12), the sign, days,
// hours, minutes, seconds and microseconds.
func appendBinaryTime(b []byte, raw []byte) ([]byte, error) {
	t, ok := parseTime(raw)
	if !ok {
		return b, fmt.Errorf("time value %q", raw)
	}
	if t.hour == 0 && t.minute == 0 && t.second == 0 && t.micro == 0 {
		return append(b, 0), nil
	}
	n := byte(8)
	if t.micro != 0 {
		n = 12
	}
	neg := byte(0)
	if t.negative {
		neg = 1
	}
	b = append(b, n, neg)
	b = appendUint32(b, uint32(t.hour/24))
	b = append(b, byte(t.hour%24), byte(t.minute), byte(t.second))
	if n == 12 {
		b = appendUint32(b, uint32(t.micro))
	}
	return b, nil
}

// digits reads n decimal digits at s[i:].
func digits(s []byte, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, ch := range s[i : i+n] {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		v = v*10 + int(ch-'0')
	}
	return v, true
}

// fraction reads ".ffffff" (1 to 6 digits) at s[i:] as microseconds; it
// must end the value.
func fraction(s []byte, i int) (int, bool) {
	if i == len(s) {
		return 0, true
	}
	if s[i] != '.' || len(s)-i-1 < 1 || len(s)-i-1 > 6 {
		return 0, false
	}
	v, ok := digits(s, i+1, len(s)-i-1)
	for range 6 - (len(s) - i - 1) {
		v *= 10
	}
	return v, ok
}

// parseDatetime parses "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS[.ffffff]".
func parseDatetime(s []byte) (datetime, bool) {
	var t datetime
	var ok1, ok2, ok3 bool
	t.year, ok1 = digits(s, 0, 4)
	t.month, ok2 = digits(s, 5, 2)
	t.day, ok3 = digits(s, 8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' {
		return t, false
	}
	if len(s) == 10 {
		return t, true
	}
	if len(s) < 19 || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return t, false
	}
	t.hasTimePart = true
	t.hour, ok1 = digits(s, 11, 2)
	t.minute, ok2 = digits(s, 14, 2)
	t.second, ok3 = digits(s, 17, 2)
	var ok4 bool
	t.micro, ok4 = fraction(s, 19)
	return t, ok1 && ok2 && ok3 && ok4
}

// parseTime parses "[-]H...H:MM:SS[.ffffff]" (hours up to 838 in MySQL,
// any number of digits here).
func parseTime(s []byte) (datetime, bool) {
	var t datetime
	i := 0
	if len(s) > 0 && s[0] == '-' {
		t.negative = true
		i = 1
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == start || i-start > 9 || i+6 > len(s) || s[i] != ':' || s[i+3] != ':' {
		return t, false
	}
	t.hour, _ = digits(s, start, i-start)
	var ok1, ok2, ok3 bool
	t.minute, ok1 = digits(s, i+1, 2)
	t.second, ok2 = digits(s, i+4, 2)
	t.micro, ok3 = fraction(s, i+6)
	return t, ok1 && ok2 && ok3
}
