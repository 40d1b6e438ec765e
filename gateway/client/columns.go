package client

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"
)

// The MySQL protocol's column types and flags. A column is described to
// database/sql by the type code and flags the gate's MySQL port would send
// for the same field (Vitess's TypeToMySQL, with the field's own flags
// when it has any), so that both report the same thing.
const (
	typeDecimal    = 0
	typeTiny       = 1
	typeShort      = 2
	typeLong       = 3
	typeFloat      = 4
	typeDouble     = 5
	typeNull       = 6
	typeTimestamp  = 7
	typeLongLong   = 8
	typeInt24      = 9
	typeDate       = 10
	typeTime       = 11
	typeDateTime   = 12
	typeYear       = 13
	typeNewDate    = 14
	typeVarChar    = 15
	typeBit        = 16
	typeVector     = 242
	typeJSON       = 245
	typeNewDecimal = 246
	typeEnum       = 247
	typeSet        = 248
	typeTinyBlob   = 249
	typeMediumBlob = 250
	typeLongBlob   = 251
	typeBlob       = 252
	typeVarString  = 253
	typeString     = 254
	typeGeometry   = 255

	flagNotNull  = 1
	flagUnsigned = 32
	flagEnum     = 256
	flagSet      = 2048

	// binaryCharset is the "binary" collation: bytes, not text.
	binaryCharset = 63
)

// column is what database/sql learns of a result column.
type column struct {
	mysqlType byte
	flags     uint16
	binary    bool
	colLength uint32
	decimals  uint32
}

func newColumn(f *vquerypb.Field) column {
	typ, flags := sqltypes.TypeToMySQL(f.Type)
	if f.Flags != 0 {
		flags = int64(f.Flags)
	}
	return column{mysqlType: typ, flags: uint16(flags), binary: f.Charset == binaryCharset, colLength: f.ColumnLength, decimals: f.Decimals}
}

func (c column) unsigned() bool { return c.flags&flagUnsigned != 0 }

// databaseTypeName is the column's type as go-sql-driver/mysql names it.
func (c column) databaseTypeName() string {
	unsigned := func(name string) string {
		if c.unsigned() {
			return "UNSIGNED " + name
		}
		return name
	}
	text := func(textName, binaryName string) string {
		if c.binary {
			return binaryName
		}
		return textName
	}
	switch c.mysqlType {
	case typeBit:
		return "BIT"
	case typeBlob:
		return text("TEXT", "BLOB")
	case typeDate, typeNewDate:
		return "DATE"
	case typeDateTime:
		return "DATETIME"
	case typeDecimal, typeNewDecimal:
		return "DECIMAL"
	case typeDouble:
		return "DOUBLE"
	case typeEnum:
		return "ENUM"
	case typeFloat:
		return "FLOAT"
	case typeGeometry:
		return "GEOMETRY"
	case typeInt24:
		return unsigned("MEDIUMINT")
	case typeJSON:
		return "JSON"
	case typeLong:
		return unsigned("INT")
	case typeLongBlob:
		return text("LONGTEXT", "LONGBLOB")
	case typeLongLong:
		return unsigned("BIGINT")
	case typeMediumBlob:
		return text("MEDIUMTEXT", "MEDIUMBLOB")
	case typeNull:
		return "NULL"
	case typeSet:
		return "SET"
	case typeShort:
		return unsigned("SMALLINT")
	case typeString:
		switch {
		case c.flags&flagEnum != 0:
			return "ENUM"
		case c.flags&flagSet != 0:
			return "SET"
		}
		return text("CHAR", "BINARY")
	case typeTime:
		return "TIME"
	case typeTimestamp:
		return "TIMESTAMP"
	case typeTiny:
		return unsigned("TINYINT")
	case typeTinyBlob:
		return text("TINYTEXT", "TINYBLOB")
	case typeVarChar, typeVarString:
		return text("VARCHAR", "VARBINARY")
	case typeYear:
		return "YEAR"
	case typeVector:
		return "VECTOR"
	}
	return ""
}

func (c column) nullable() bool { return c.flags&flagNotNull == 0 }

// length is the column's length in bytes, as MySQL reports it, for the
// types whose length varies (strings, binary strings, blobs).
func (c column) length() (int64, bool) {
	switch c.mysqlType {
	case typeVarChar, typeVarString, typeString, typeTinyBlob, typeMediumBlob, typeLongBlob, typeBlob, typeJSON, typeGeometry, typeEnum, typeSet:
		return int64(c.colLength), true
	}
	return 0, false
}

// precisionScale is go-sql-driver/mysql's.
func (c column) precisionScale() (int64, int64, bool) {
	decimals := int64(c.decimals)
	switch c.mysqlType {
	case typeDecimal, typeNewDecimal:
		if decimals > 0 {
			return int64(c.colLength) - 2, decimals, true
		}
		return int64(c.colLength) - 1, decimals, true
	case typeTimestamp, typeDateTime, typeTime:
		return decimals, decimals, true
	case typeFloat, typeDouble:
		if decimals == 0x1f {
			return math.MaxInt64, math.MaxInt64, true
		}
		return math.MaxInt64, decimals, true
	}
	return 0, 0, false
}

var (
	scanTypeFloat32    = reflect.TypeFor[float32]()
	scanTypeFloat64    = reflect.TypeFor[float64]()
	scanTypeInt8       = reflect.TypeFor[int8]()
	scanTypeInt16      = reflect.TypeFor[int16]()
	scanTypeInt32      = reflect.TypeFor[int32]()
	scanTypeInt64      = reflect.TypeFor[int64]()
	scanTypeNullFloat  = reflect.TypeFor[sql.NullFloat64]()
	scanTypeNullInt    = reflect.TypeFor[sql.NullInt64]()
	scanTypeNullUint   = reflect.TypeFor[sql.Null[uint64]]()
	scanTypeNullTime   = reflect.TypeFor[sql.NullTime]()
	scanTypeUint8      = reflect.TypeFor[uint8]()
	scanTypeUint16     = reflect.TypeFor[uint16]()
	scanTypeUint32     = reflect.TypeFor[uint32]()
	scanTypeUint64     = reflect.TypeFor[uint64]()
	scanTypeString     = reflect.TypeFor[string]()
	scanTypeNullString = reflect.TypeFor[sql.NullString]()
	scanTypeBytes      = reflect.TypeFor[[]byte]()
	scanTypeUnknown    = reflect.TypeFor[*any]()
)

// scanType is go-sql-driver/mysql's: the Go type a column scans into
// without loss.
func (c column) scanType() reflect.Type {
	notNull := c.flags&flagNotNull != 0
	pick := func(signed, unsigned, null reflect.Type) reflect.Type {
		switch {
		case !notNull:
			return null
		case c.unsigned():
			return unsigned
		}
		return signed
	}
	switch c.mysqlType {
	case typeTiny:
		return pick(scanTypeInt8, scanTypeUint8, scanTypeNullInt)
	case typeShort, typeYear:
		return pick(scanTypeInt16, scanTypeUint16, scanTypeNullInt)
	case typeInt24, typeLong:
		return pick(scanTypeInt32, scanTypeUint32, scanTypeNullInt)
	case typeLongLong:
		if !notNull && c.unsigned() {
			return scanTypeNullUint
		}
		return pick(scanTypeInt64, scanTypeUint64, scanTypeNullInt)
	case typeFloat:
		if notNull {
			return scanTypeFloat32
		}
		return scanTypeNullFloat
	case typeDouble:
		if notNull {
			return scanTypeFloat64
		}
		return scanTypeNullFloat
	case typeBit, typeTinyBlob, typeMediumBlob, typeLongBlob, typeBlob, typeVarString, typeString, typeGeometry, typeVector:
		if c.binary {
			return scanTypeBytes
		}
		fallthrough
	case typeDecimal, typeNewDecimal, typeVarChar, typeEnum, typeSet, typeJSON, typeTime:
		if notNull {
			return scanTypeString
		}
		return scanTypeNullString
	case typeDate, typeNewDate, typeTimestamp, typeDateTime:
		return scanTypeNullTime
	}
	return scanTypeUnknown
}

// value converts a value as go-sql-driver/mysql's text protocol does:
// integers to int64 (uint64 for unsigned BIGINT), FLOAT to float32,
// DOUBLE to float64, dates and times to time.Time with ParseTime,
// everything else to its bytes. The bytes alias the batch they came in,
// which database/sql copies unless the caller scans into sql.RawBytes.
func (c column) value(v sqltypes.Value, cfg *Config) (driver.Value, error) {
	if v.IsNull() {
		return nil, nil
	}
	raw := v.Raw()
	if raw == nil {
		raw = []byte{} // an empty value, not NULL
	}
	switch c.mysqlType {
	case typeTimestamp, typeDateTime, typeDate, typeNewDate:
		if cfg.ParseTime {
			return parseDateTime(raw, cfg.Location)
		}
	case typeTiny, typeShort, typeInt24, typeYear, typeLong:
		return strconv.ParseInt(string(raw), 10, 64)
	case typeLongLong:
		if c.unsigned() {
			return strconv.ParseUint(string(raw), 10, 64)
		}
		return strconv.ParseInt(string(raw), 10, 64)
	case typeFloat:
		f, err := strconv.ParseFloat(string(raw), 32)
		return float32(f), err
	case typeDouble:
		return strconv.ParseFloat(string(raw), 64)
	}
	return raw, nil
}

// parseDateTime reads MySQL's "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" in loc; an
// all-zero value is the zero time.Time.
func parseDateTime(b []byte, loc *time.Location) (time.Time, error) {
	const zero = "0000-00-00 00:00:00.000000"
	n := len(b)
	if n != 10 && n != 19 && (n < 21 || n > 26) {
		return time.Time{}, fmt.Errorf("invalid time bytes: %s", b)
	}
	if string(b) == zero[:n] {
		return time.Time{}, nil
	}
	digits := func(from, to int) (int, error) {
		v := 0
		for _, ch := range b[from:to] {
			if ch < '0' || ch > '9' {
				return 0, fmt.Errorf("invalid time bytes: %s", b)
			}
			v = v*10 + int(ch-'0')
		}
		return v, nil
	}
	sep := func(i int, want byte) error {
		if b[i] != want {
			return fmt.Errorf("bad value for field: `%c`", b[i])
		}
		return nil
	}
	var parts [6]int
	layout := []struct {
		from, to int
		sepAt    int
		sep      byte
	}{{0, 4, 4, '-'}, {5, 7, 7, '-'}, {8, 10, 10, ' '}, {11, 13, 13, ':'}, {14, 16, 16, ':'}, {17, 19, 19, '.'}}
	for i, l := range layout {
		if l.to > n {
			break
		}
		var err error
		if parts[i], err = digits(l.from, l.to); err != nil {
			return time.Time{}, err
		}
		if l.sepAt < n {
			if err := sep(l.sepAt, l.sep); err != nil {
				return time.Time{}, err
			}
		}
	}
	nsec := 0
	if n > 20 {
		frac, err := digits(20, n)
		if err != nil {
			return time.Time{}, err
		}
		for i := n - 20; i < 9; i++ {
			frac *= 10
		}
		nsec = frac
	}
	return time.Date(parts[0], time.Month(parts[1]), parts[2], parts[3], parts[4], parts[5], nsec, loc), nil
}
