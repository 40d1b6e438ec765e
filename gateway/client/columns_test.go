package client

import (
	"database/sql/driver"
	"fmt"
	"math"
	"testing"
	"time"

	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"
)

// MySQL's column flags as MariaDB sends them.
const (
	notNull  = 1
	unsigned = 32
	binary   = 128
	enum     = 256
)

// The names, scan types and values below are go-sql-driver/mysql's for
// the same columns (see TestDifferential, which compares the two drivers
// on a real cluster).
func TestColumns(t *testing.T) {
	utf8 := uint32(45)
	for _, c := range []struct {
		field    *vquerypb.Field
		name     string
		scanType string
		raw      string
		value    any
	}{
		{&vquerypb.Field{Type: sqltypes.Int8, Flags: notNull, Charset: 63}, "TINYINT", "int8", "-5", int64(-5)},
		{&vquerypb.Field{Type: sqltypes.Uint8, Flags: notNull | unsigned, Charset: 63}, "UNSIGNED TINYINT", "uint8", "250", int64(250)},
		{&vquerypb.Field{Type: sqltypes.Int16, Charset: 63}, "SMALLINT", "sql.NullInt64", "7", int64(7)},
		{&vquerypb.Field{Type: sqltypes.Int24, Flags: notNull, Charset: 63}, "MEDIUMINT", "int32", "7", int64(7)},
		{&vquerypb.Field{Type: sqltypes.Int32, Flags: notNull, Charset: 63}, "INT", "int32", "-2147483648", int64(math.MinInt32)},
		{&vquerypb.Field{Type: sqltypes.Uint32, Flags: unsigned, Charset: 63}, "UNSIGNED INT", "sql.NullInt64", "4294967295", int64(math.MaxUint32)},
		{&vquerypb.Field{Type: sqltypes.Int64, Flags: notNull, Charset: 63}, "BIGINT", "int64", "-9", int64(-9)},
		{&vquerypb.Field{Type: sqltypes.Uint64, Flags: notNull | unsigned, Charset: 63}, "UNSIGNED BIGINT", "uint64", "18446744073709551615", uint64(math.MaxUint64)},
		{&vquerypb.Field{Type: sqltypes.Uint64, Flags: unsigned, Charset: 63}, "UNSIGNED BIGINT", "sql.Null[uint64]", "1", uint64(1)},
		{&vquerypb.Field{Type: sqltypes.Year, Flags: notNull | unsigned, Charset: 63}, "YEAR", "uint16", "2025", int64(2025)},
		{&vquerypb.Field{Type: sqltypes.Float32, Charset: 63}, "FLOAT", "sql.NullFloat64", "1.5", float32(1.5)},
		{&vquerypb.Field{Type: sqltypes.Float64, Flags: notNull, Charset: 63}, "DOUBLE", "float64", "1e300", 1e300},
		{&vquerypb.Field{Type: sqltypes.Decimal, Charset: 63, ColumnLength: 22, Decimals: 6}, "DECIMAL", "sql.NullString", "-1.500000", []byte("-1.500000")},
		{&vquerypb.Field{Type: sqltypes.VarChar, Charset: utf8}, "VARCHAR", "sql.NullString", "héllo", []byte("héllo")},
		{&vquerypb.Field{Type: sqltypes.VarBinary, Flags: binary, Charset: 63}, "VARBINARY", "[]uint8", "\x00\xff", []byte("\x00\xff")},
		{&vquerypb.Field{Type: sqltypes.Char, Flags: notNull, Charset: utf8}, "CHAR", "string", "", []byte("")},
		{&vquerypb.Field{Type: sqltypes.Binary, Flags: binary, Charset: 63}, "BINARY", "[]uint8", "ab", []byte("ab")},
		{&vquerypb.Field{Type: sqltypes.Text, Charset: utf8}, "TEXT", "sql.NullString", "t", []byte("t")},
		{&vquerypb.Field{Type: sqltypes.Blob, Flags: binary, Charset: 63}, "BLOB", "[]uint8", "b", []byte("b")},
		{&vquerypb.Field{Type: sqltypes.Enum, Flags: enum, Charset: utf8}, "ENUM", "sql.NullString", "a", []byte("a")},
		{&vquerypb.Field{Type: sqltypes.TypeJSON, Charset: 63}, "JSON", "sql.NullString", `{"a": 1}`, []byte(`{"a": 1}`)},
		{&vquerypb.Field{Type: sqltypes.Date, Charset: 63}, "DATE", "sql.NullTime", "2025-01-02", []byte("2025-01-02")},
		{&vquerypb.Field{Type: sqltypes.Datetime, Charset: 63, Decimals: 6}, "DATETIME", "sql.NullTime", "2025-01-02 03:04:05.000006", []byte("2025-01-02 03:04:05.000006")},
		{&vquerypb.Field{Type: sqltypes.Timestamp, Charset: 63}, "TIMESTAMP", "sql.NullTime", "2025-01-02 03:04:05", []byte("2025-01-02 03:04:05")},
		{&vquerypb.Field{Type: sqltypes.Time, Charset: 63}, "TIME", "sql.NullString", "-838:59:59", []byte("-838:59:59")},
		{&vquerypb.Field{Type: sqltypes.Bit, Flags: unsigned, Charset: 63}, "BIT", "[]uint8", "\x01", []byte("\x01")},
		{&vquerypb.Field{Type: sqltypes.Null, Charset: 63}, "NULL", "*interface {}", "", nil},
		// Fields the gate makes itself carry no flags: the type's own.
		{&vquerypb.Field{Type: sqltypes.Uint64}, "UNSIGNED BIGINT", "sql.Null[uint64]", "3", uint64(3)},
	} {
		col := newColumn(c.field)
		if got := col.databaseTypeName(); got != c.name {
			t.Errorf("%v: type name %q, want %q", c.field.Type, got, c.name)
		}
		if got := col.scanType().String(); got != c.scanType {
			t.Errorf("%v: scan type %s, want %s", c.field.Type, got, c.scanType)
		}
		v, err := col.value(sqltypes.MakeTrusted(c.field.Type, []byte(c.raw)), &Config{Location: time.UTC})
		if err != nil || fmt.Sprintf("%T %v", v, v) != fmt.Sprintf("%T %v", c.value, c.value) {
			t.Errorf("%v %q: value %T %v (%v), want %T %v", c.field.Type, c.raw, v, v, err, c.value, c.value)
		}
	}
	col := newColumn(&vquerypb.Field{Type: sqltypes.Int64})
	if v, err := col.value(sqltypes.NULL, &Config{}); v != nil || err != nil {
		t.Fatalf("NULL: %v, %v", v, err)
	}
	if nullable := newColumn(&vquerypb.Field{Type: sqltypes.Int64, Flags: notNull}).nullable(); nullable {
		t.Fatal("a NOT NULL column reported nullable")
	}
	if p, s, ok := newColumn(&vquerypb.Field{Type: sqltypes.Decimal, ColumnLength: 22, Decimals: 6}).precisionScale(); !ok || p != 20 || s != 6 {
		t.Fatalf("DECIMAL(20,6): %d, %d, %v", p, s, ok)
	}
	if n, ok := newColumn(&vquerypb.Field{Type: sqltypes.VarChar, ColumnLength: 400}).length(); !ok || n != 400 {
		t.Fatalf("VARCHAR length %d, %v", n, ok)
	}
	if _, ok := newColumn(&vquerypb.Field{Type: sqltypes.Int64}).length(); ok {
		t.Fatal("an integer reported a length")
	}
}

func TestParseTime(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{ParseTime: true, Location: berlin}
	col := newColumn(&vquerypb.Field{Type: sqltypes.Datetime})
	for raw, want := range map[string]time.Time{
		"2025-06-07 08:09:10":        time.Date(2025, 6, 7, 8, 9, 10, 0, berlin),
		"2025-06-07 08:09:10.5":      time.Date(2025, 6, 7, 8, 9, 10, 500000000, berlin),
		"2025-06-07 08:09:10.000123": time.Date(2025, 6, 7, 8, 9, 10, 123000, berlin),
		"2025-06-07":                 time.Date(2025, 6, 7, 0, 0, 0, 0, berlin),
		"0000-00-00 00:00:00":        {},
		"0000-00-00":                 {},
	} {
		v, err := col.value(sqltypes.MakeTrusted(sqltypes.Datetime, []byte(raw)), cfg)
		if err != nil || !v.(time.Time).Equal(want) || v.(time.Time).Location().String() != want.Location().String() {
			t.Errorf("%q: %v, %v; want %v", raw, v, err, want)
		}
	}
	for _, bad := range []string{"2025-06-07T08:09:10", "2025-6-7", "20250607", "2025-06-07 08:09:10."} {
		if v, err := col.value(sqltypes.MakeTrusted(sqltypes.Datetime, []byte(bad)), cfg); err == nil {
			t.Errorf("%q parsed as %v", bad, v)
		}
	}
	// Without parseTime, bytes.
	if v, _ := col.value(sqltypes.MakeTrusted(sqltypes.Datetime, []byte("2025-06-07")), &Config{}); fmt.Sprintf("%T", v) != "[]uint8" {
		t.Fatalf("without parseTime: %T", v)
	}
}

func TestBindVariables(t *testing.T) {
	when := time.Date(2025, 6, 7, 8, 9, 10, 123000, time.UTC)
	bv, err := bindVariables([]driver.NamedValue{
		{Ordinal: 1, Value: int64(-1)},
		{Ordinal: 2, Value: uint64(math.MaxUint64)},
		{Ordinal: 3, Value: 1.5},
		{Ordinal: 4, Value: true},
		{Ordinal: 5, Value: "it's"},
		{Ordinal: 6, Value: []byte{0, 1}},
		{Ordinal: 7, Value: when},
		{Ordinal: 8, Value: nil},
		{Name: "named", Ordinal: 9, Value: time.Time{}},
	}, time.FixedZone("x", 3600))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"v1": "INT64 -1", "v2": "UINT64 18446744073709551615", "v3": "FLOAT64 1.5", "v4": "INT64 1",
		"v5": "VARCHAR it's", "v6": "VARBINARY \x00\x01", "v7": "DATETIME 2025-06-07 09:09:10.000123",
		"v8": "NULL_TYPE ", "named": "DATETIME 0000-00-00",
	}
	if len(bv) != len(want) {
		t.Fatalf("%d parameters, want %d", len(bv), len(want))
	}
	for name, w := range want {
		if got := fmt.Sprintf("%v %s", bv[name].Type, bv[name].Value); got != w {
			t.Errorf("%s: %q, want %q", name, got, w)
		}
	}
	if _, err := bindVariables([]driver.NamedValue{{Ordinal: 1, Value: math.Inf(1)}}, time.UTC); err == nil {
		t.Fatal("infinity accepted")
	}
	var c conn
	nv := &driver.NamedValue{Value: uint(7)}
	if err := c.CheckNamedValue(nv); err != nil || nv.Value != uint64(7) {
		t.Fatalf("uint: %v, %v", nv.Value, err)
	}
	if err := c.CheckNamedValue(&driver.NamedValue{Value: "x"}); err != driver.ErrSkip {
		t.Fatalf("a string must take database/sql's default conversion: %v", err)
	}
}
