package loaddata

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"
)

// testColumns is a table
//
//	id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(10) NOT NULL,
//	n INT NULL, d INT NULL DEFAULT 7, ts TIMESTAMP NOT NULL,
//	dt DATETIME NOT NULL, secret INT INVISIBLE
var testColumns = []Column{
	{Name: "id", Type: "bigint", AutoIncrement: true},
	{Name: "name", Type: "varchar"},
	{Name: "n", Type: "int", Nullable: true, DefaultNull: true},
	{Name: "d", Type: "int", Nullable: true},
	{Name: "ts", Type: "timestamp"},
	{Name: "dt", Type: "datetime"},
	{Name: "secret", Type: "int", Nullable: true, DefaultNull: true, Invisible: true},
}

func batcherFor(t *testing.T, sql string, opts BatchOptions) *Batcher {
	t.Helper()
	stmt, err := Parse(sqlparser.NewTestParser(), sql)
	if err != nil {
		t.Fatal(err)
	}
	if err := stmt.Check(); err != nil {
		t.Fatal(err)
	}
	if opts.Charset == "" {
		opts.Charset = stmt.Charset
	}
	b, err := NewBatcher(stmt, sqlparser.NewTableNameWithQualifier(stmt.Table, stmt.Keyspace), testColumns, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func row(fields ...any) *Row {
	r := &Row{}
	for _, f := range fields {
		switch f := f.(type) {
		case nil:
			r.Fields = append(r.Fields, Field{Null: true})
		case string:
			r.Fields = append(r.Fields, Field{Value: []byte(f)})
		case bool:
			r.Truncated = f
		}
	}
	return r
}

func TestBatcherValues(t *testing.T) {
	var warnings []string
	warn := func(code uint16, msg string) { warnings = append(warnings, fmt.Sprintf("%d %s", code, msg)) }
	b := batcherFor(t, "load data local infile 'f' into table ks.t", BatchOptions{Action: InsertIgnore, Warn: warn})
	if b.Fields() != 6 {
		t.Fatalf("Fields() = %d, want the 6 visible columns", b.Fields())
	}
	for _, r := range []*Row{
		row("1", "it's \\ a\n", "3", "4", "2020-01-01 00:00:00", "2021-01-01"),
		row(nil, nil, nil, nil, nil, nil),
		row("", "x", true),
	} {
		if err := b.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	got := sqlparser.String(b.Take())
	want := "insert ignore into ks.t(id, `name`, n, d, ts, dt) values " +
		"('1', 'it\\'s \\\\ a\\n', '3', '4', '2020-01-01 00:00:00', '2021-01-01'), " +
		"(null, '', null, null, null, '0000-00-00 00:00:00'), " +
		"('', 'x', null, 0, null, '0000-00-00 00:00:00')"
	if got != want {
		t.Errorf("insert:\n got  %s\n want %s", got, want)
	}
	wantWarnings := []string{
		"1263 Column set to default value; NULL supplied to NOT NULL column 'name' at row 2",
		"1263 Column set to default value; NULL supplied to NOT NULL column 'dt' at row 2",
		"1261 Row 3 doesn't contain data for all columns",
		"1261 Row 3 doesn't contain data for all columns",
		"1261 Row 3 doesn't contain data for all columns",
		"1261 Row 3 doesn't contain data for all columns",
		"1262 Row 3 was truncated; it contained more data than there were input columns",
	}
	if strings.Join(warnings, "\n") != strings.Join(wantWarnings, "\n") {
		t.Errorf("warnings:\n%s\nwant\n%s", strings.Join(warnings, "\n"), strings.Join(wantWarnings, "\n"))
	}
	if b.Take() != nil || b.Records() != 3 {
		t.Errorf("after Take: a second batch, or %d records", b.Records())
	}
}

func TestBatcherVariablesAndSet(t *testing.T) {
	b := batcherFor(t, "load data local infile 'f' replace into table t character set binary (@a, name, @skip) set id = @a, d = length(@A) + @session_var, n = default",
		BatchOptions{Action: Replace, Charset: "binary"})
	if b.Fields() != 3 {
		t.Fatalf("Fields() = %d, want 3", b.Fields())
	}
	for _, r := range []*Row{row("5", "x", "s"), row("6")} {
		if err := b.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	got := sqlparser.String(b.Take())
	want := "replace into t(`name`, id, d, n) values " +
		"(_binary 'x', _binary '5', length(_binary '5') + @session_var, default), " +
		"('', _binary '6', length(_binary '6') + @session_var, default)"
	if got != want {
		t.Errorf("insert:\n got  %s\n want %s", got, want)
	}
	vars := b.Variables()
	if len(vars) != 2 || string(vars["a"].Value) != "6" || vars["skip"].Type.String() != "NULL_TYPE" {
		t.Errorf("variables after the last row: %v", vars)
	}
}

func TestBatcherStrict(t *testing.T) {
	b := batcherFor(t, "load data local infile 'f' replace into table t (id, name)", BatchOptions{Action: Replace, Strict: true})
	cases := []struct {
		row   *Row
		code  sqlerror.ErrorCode
		state string
	}{
		{row("1"), 1261, "01000"},
		{row("1", nil), 1263, "22004"},
		{row("1", "a", true), 1262, "01000"},
	}
	for _, c := range cases {
		err := b.Add(c.row)
		var se *sqlerror.SQLError
		if !errors.As(err, &se) || se.Num != c.code || se.State != c.state {
			t.Errorf("%+v: %v, want error %d (%s)", c.row, err, c.code, c.state)
		}
	}
	// A NULL for the AUTO_INCREMENT column generates a value: no error.
	if err := b.Add(row(nil, "a")); err != nil {
		t.Fatal(err)
	}
}

func TestBatcherBounds(t *testing.T) {
	b := batcherFor(t, "load data local infile 'f' into table t (id)", BatchOptions{Rows: 3, Bytes: 40})
	for i := range 3 {
		if b.Full() {
			t.Fatalf("full after %d rows", i)
		}
		if err := b.Add(row("1")); err != nil {
			t.Fatal(err)
		}
	}
	if !b.Full() {
		t.Fatal("not full after 3 rows")
	}
	b.Take()
	if err := b.Add(row(strings.Repeat("x", 40))); err != nil {
		t.Fatal(err)
	}
	if !b.Full() || b.Pending() != 1 {
		t.Fatal("not full after 40 bytes")
	}
}

func TestBatcherRefuses(t *testing.T) {
	cases := []struct {
		sql  string
		code sqlerror.ErrorCode
		msg  string
	}{
		{"load data local infile 'f' into table t (id, nope)", sqlerror.ERBadFieldError, "Unknown column 'nope' in 'field list'"},
		{"load data local infile 'f' into table t (id) set nope = 1", sqlerror.ERBadFieldError, "Unknown column 'nope'"},
		{"load data local infile 'f' into table t set name = 'x'", sqlerror.ERNotSupportedYet, "both from the file and in SET"},
		{"load data local infile 'f' into table t (id) set name = 'x', NAME = 'y'", sqlerror.ERNotSupportedYet, "twice in SET"},
	}
	for _, c := range cases {
		stmt, err := Parse(sqlparser.NewTestParser(), c.sql)
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewBatcher(stmt, sqlparser.NewTableName("t"), testColumns, BatchOptions{})
		var se *sqlerror.SQLError
		if !errors.As(err, &se) || se.Num != c.code || !strings.Contains(se.Message, c.msg) {
			t.Errorf("%s: %v, want %d %q", c.sql, err, c.code, c.msg)
		}
	}
}
