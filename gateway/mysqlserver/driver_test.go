package mysqlserver

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// Tests with go-sql-driver/mysql, the driver most Go programs use.

func openDriver(t *testing.T, ts *testServer, user, password, db, params string) *sql.DB {
	t.Helper()
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/%s?%s", user, password, ts.addr, db, params)
	d, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func expectMySQLError(t *testing.T, err error, code uint16, state string) *mysql.MySQLError {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("got %v, want MySQL error %d", err, code)
	}
	if me.Number != code || (state != "" && string(me.SQLState[:]) != state) {
		t.Fatalf("got %d (%s) %q, want %d (%s)", me.Number, me.SQLState, me.Message, code, state)
	}
	return me
}

// rowStrings reads every row, each value as its text (NULL as "NULL").
func rowStrings(t *testing.T, rows *sql.Rows) [][]string {
	t.Helper()
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = string(v)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDriverLoginAndErrors(t *testing.T) {
	ts := startServer(t, nil)
	for _, c := range []struct{ user, pw string }{{"root", ""}, {"app", "s3cret"}, {"native", "n4tive"}, {"sha2", "sha2pw"}} {
		if err := openDriver(t, ts, c.user, c.pw, "", "").Ping(); err != nil {
			t.Errorf("%s: %v", c.user, err)
		}
	}
	// MySQL 8 clients start with caching_sha2_password: switched to native.
	if err := openDriver(t, ts, "native", "n4tive", "", "allowNativePasswords=true").Ping(); err != nil {
		t.Error(err)
	}
	err := openDriver(t, ts, "app", "wrong", "", "").Ping()
	me := expectMySQLError(t, err, 1045, "28000")
	if !strings.Contains(me.Message, "Access denied for user 'app'") {
		t.Errorf("message %q", me.Message)
	}
	// caching_sha2 full authentication needs TLS.
	err = openDriver(t, ts, "full", "fullpw", "", "").Ping()
	me = expectMySQLError(t, err, 1045, "28000")
	if !strings.Contains(me.Message, "requires secure connection") {
		t.Errorf("message %q", me.Message)
	}
	// A database named at connect is selected; an unknown one refuses.
	db := openDriver(t, ts, "root", "", "mydb", "")
	var name string
	if err := db.QueryRow("select database()").Scan(&name); err != nil || name != "mydb" {
		t.Fatalf("database() = %q, %v", name, err)
	}
	expectMySQLError(t, openDriver(t, ts, "root", "", "nosuchdb", "").Ping(), 1049, "42000")
	// Errors keep their code, state and message; others become 1105.
	_, err = db.Exec("error")
	me = expectMySQLError(t, err, 1146, "42S02")
	if me.Message != "Table 'x.nope' doesn't exist" {
		t.Errorf("message %q", me.Message)
	}
	_, err = db.Exec("plain error")
	expectMySQLError(t, err, 1105, "HY000")
}

func TestDriverTextAndBinaryResults(t *testing.T) {
	ts := startServer(t, nil)
	db := openDriver(t, ts, "root", "", "", "")
	text, err := db.Query("select types")
	if err != nil {
		t.Fatal(err)
	}
	textRows := rowStrings(t, text)
	want := []string{"-128", "255", "-32768", "65535", "-8388608", "16777215", "-2147483648", "4294967295",
		"-9223372036854775808", "18446744073709551615", "2024", "1.5", "3.25", "-123.450", "2024-02-29",
		"2024-02-29 13:14:15.123456", "2024-02-29 13:14:15", "-838:59:59", "25:00:00.500000", "\x05", "b", "a,c", `{"a": 1}`,
		"ünïcødé €😀", "\x00\x01\xff", typesRow()[25].ToString(), "NULL", "0000-00-00 00:00:00", "NULL"}
	if len(textRows) != 1 || strings.Join(textRows[0], "|") != strings.Join(want, "|") {
		t.Fatalf("text row:\n%q\nwant\n%q", textRows, want)
	}
	// The same through the binary protocol (a prepared statement): the
	// driver turns binary values back into the same text.
	stmt, err := db.Prepare("select types where ?")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	for range 2 {
		bin, err := stmt.Query(1)
		if err != nil {
			t.Fatal(err)
		}
		binRows := rowStrings(t, bin)
		if len(binRows) != 1 || strings.Join(binRows[0], "|") != strings.Join(want, "|") {
			t.Fatalf("binary row:\n%q\nwant\n%q", binRows, want)
		}
	}
	// Column metadata as given.
	rows, err := db.Query("select types")
	if err != nil {
		t.Fatal(err)
	}
	cts, _ := rows.ColumnTypes()
	rows.Close()
	if cts[1].DatabaseTypeName() != "UNSIGNED TINYINT" || cts[15].DatabaseTypeName() != "DATETIME" || cts[23].DatabaseTypeName() != "VARCHAR" {
		t.Errorf("types %s %s %s", cts[1].DatabaseTypeName(), cts[15].DatabaseTypeName(), cts[23].DatabaseTypeName())
	}
	// Many rows, streamed in batches, in both protocols.
	for _, q := range []func() (*sql.Rows, error){
		func() (*sql.Rows, error) { return db.Query("select rows 1000") },
		func() (*sql.Rows, error) { return db.Query("select rows 1000 where ?", 1) },
	} {
		rows, err := q()
		if err != nil {
			t.Fatal(err)
		}
		got := rowStrings(t, rows)
		if len(got) != 1000 || got[999][0] != "999" || got[999][1] != "name-999" || got[999][2] != "999.25" {
			t.Fatalf("got %d rows, last %v", len(got), got[len(got)-1])
		}
	}
}

func TestDriverParameters(t *testing.T) {
	ts := startServer(t, nil)
	db := openDriver(t, ts, "root", "", "", "")
	ts0 := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	rows, err := db.Query("select bindvars ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?",
		int64(-5), uint64(1<<63+5), 1.25, "ünï", []byte{0, 1, 2}, nil, true, ts0, int8(-3), uint16(65535), float32(0.5))
	if err != nil {
		t.Fatal(err)
	}
	got := rowStrings(t, rows)
	want := []string{"INT64:-5", "UINT64:9223372036854775813", "FLOAT64:1.25", "VARCHAR:ünï", "VARCHAR:\x00\x01\x02",
		"NULL_TYPE:", "INT64:1", "VARCHAR:2024-02-29 13:14:15.123456", "INT64:-3", "UINT64:65535", "FLOAT64:0.5"}
	if strings.Join(got[0], "|") != strings.Join(want, "|") {
		t.Fatalf("bind variables:\n%q\nwant\n%q", got[0], want)
	}
	ts.handler.mu.Lock()
	bv := ts.handler.bindVars["v2"]
	ts.handler.mu.Unlock()
	if bv.Type != querypb.Type_UINT64 || string(bv.Value) != "9223372036854775813" {
		t.Fatalf("uint64 parameter arrived as %v", bv)
	}

	// Long parameters go as COM_STMT_SEND_LONG_DATA.
	long := strings.Repeat("x", 1<<20)
	rows, err = db.Query("select bindvars ?, ?", long, 7)
	if err != nil {
		t.Fatal(err)
	}
	got = rowStrings(t, rows)
	if got[0][0] != "VARCHAR:"+long || got[0][1] != "INT64:7" {
		t.Fatalf("long data: %.40q... %q", got[0][0], got[0][1])
	}
	// interpolateParams: parameters in the text.
	idb := openDriver(t, ts, "root", "", "", "interpolateParams=true")
	var one int
	if err := idb.QueryRow("select 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("%d %v", one, err)
	}
	res, err := idb.Exec("insert into t values (?)", "x'y")
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := res.LastInsertId(); id != 42 {
		t.Errorf("last insert id %d", id)
	}
	// Statements are closed on the handler when the driver closes them.
	stmt, err := db.Prepare("select 1")
	if err != nil {
		t.Fatal(err)
	}
	_ = stmt.Close()
	_, err = db.Prepare("error here")
	expectMySQLError(t, err, 1064, "42000")
}

func TestDriverMultiStatements(t *testing.T) {
	ts := startServer(t, nil)
	db := openDriver(t, ts, "root", "", "", "multiStatements=true")
	rows, err := db.Query("select rows 2; select 1; insert into t values (1)")
	if err != nil {
		t.Fatal(err)
	}
	first := rowStrings2(t, rows)
	if len(first) != 2 {
		t.Fatalf("first result %v", first)
	}
	if !rows.NextResultSet() {
		t.Fatal("no second result set")
	}
	second := rowStrings2(t, rows)
	if len(second) != 1 || second[0][0] != "1" {
		t.Fatalf("second result %v", second)
	}
	rows.Close()
	// An error stops the rest, as in MariaDB.
	res, err := db.Exec("insert into t values (1); error; insert into t values (2)")
	if err == nil {
		t.Fatalf("no error: %v", res)
	}
	expectMySQLError(t, err, 1146, "42S02")
	// Without the option the text is one statement.
	plain := openDriver(t, ts, "root", "", "", "")
	_, err = plain.Exec("select 1; select 1")
	expectMySQLError(t, err, 1064, "42000")
}

// rowStrings2 is rowStrings without closing the rows.
func rowStrings2(t *testing.T, rows *sql.Rows) [][]string {
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = string(v)
		}
		out = append(out, row)
	}
	return out
}

func TestDriverTLS(t *testing.T) {
	ca := newTestCA(t)
	ts := startServer(t, func(cfg *Config) {
		cfg.TLS = ca.serverConfig(t, "127.0.0.1")
		cfg.RequireTLS = true
	})
	if err := mysql.RegisterTLSConfig("testca", &tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	db := openDriver(t, ts, "app", "s3cret", "", "tls=testca")
	var one int
	if err := db.QueryRow("select 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	// Full authentication (the password in clear) works over TLS.
	if err := openDriver(t, ts, "full", "fullpw", "", "tls=testca").Ping(); err != nil {
		t.Fatal(err)
	}
	// Without TLS: refused.
	err := openDriver(t, ts, "app", "s3cret", "", "tls=false").Ping()
	me := expectMySQLError(t, err, 3159, "HY000")
	if !strings.Contains(me.Message, "insecure transport") {
		t.Errorf("message %q", me.Message)
	}
}

func TestDriverLocalInfile(t *testing.T) {
	ts := startServer(t, nil)
	content := strings.Repeat("1,hello\n", 100000) // 800 kB: many packets
	mysql.RegisterReaderHandler("data", func() io.Reader { return strings.NewReader(content) })
	defer mysql.DeregisterReaderHandler("data")
	db := openDriver(t, ts, "root", "", "", "")
	res, err := db.Exec("load data local infile 'Reader::data' into table t")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 100000 {
		t.Fatalf("rows affected %d", n)
	}
	ts.handler.mu.Lock()
	got := string(ts.handler.localData)
	ts.handler.mu.Unlock()
	if got != content {
		t.Fatalf("file arrived with %d bytes, want %d", len(got), len(content))
	}
	// A handler that reads part of the file: the server drains the rest
	// and the connection goes on.
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "load data local half 'Reader::data' into table t"); err != nil {
		t.Fatal(err)
	}
	var one int
	if err := conn.QueryRowContext(context.Background(), "select 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after a partly read file: %d %v", one, err)
	}
}

func TestDriverKillQueryAndConnection(t *testing.T) {
	ts := startServer(t, nil)
	db := openDriver(t, ts, "app", "s3cret", "", "")
	db.SetMaxOpenConns(2)
	ctx := context.Background()
	victim, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	var id uint32
	if err := victim.QueryRowContext(ctx, "select connection_id()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := victim.ExecContext(ctx, "sleep")
		errc <- err
	}()
	<-ts.handler.sleeping
	if err := ts.Kill(nil, id, true); err != nil {
		t.Fatal(err)
	}
	expectMySQLError(t, <-errc, 1317, "70100")
	// The connection goes on after KILL QUERY.
	var one int
	if err := victim.QueryRowContext(ctx, "select 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	// Another user may not kill it; the same user may (COM_PROCESS_KILL
	// is what the server answers itself; the gate's KILL statement uses
	// Server.Kill too).
	other := ts.Conn(id)
	if other == nil {
		t.Fatal("no connection by id")
	}
	go func() {
		_, err := victim.ExecContext(ctx, "sleep")
		errc <- err
	}()
	<-ts.handler.sleeping
	other.Close()
	if err := <-errc; err == nil {
		t.Fatal("a killed connection's statement succeeded")
	}
	waitFor(t, 5*time.Second, "the killed connection to close", func() bool { return ts.Conn(id) == nil })
	ts.handler.mu.Lock()
	ctxErr := ts.handler.lastCtxErr
	ts.handler.mu.Unlock()
	if !errors.Is(ctxErr, context.Canceled) {
		t.Errorf("handler's context: %v", ctxErr)
	}
}

func TestPanicInHandlerIsAnsweredAndConnectionContinues(t *testing.T) {
	ts := startServer(t, nil)
	db := openDriver(t, ts, "root", "", "", "")
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), "panic")
	me := expectMySQLError(t, err, 1105, "HY000")
	if !strings.Contains(me.Message, "boom") {
		t.Errorf("message %q", me.Message)
	}
	rows, err := conn.QueryContext(context.Background(), "panic after rows")
	if err == nil {
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
	}
	expectMySQLError(t, err, 1105, "HY000")
	var one int
	if err := conn.QueryRowContext(context.Background(), "select 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after panics: %d %v", one, err)
	}
	if n := ts.logs.FilterMessage("panic in the MySQL handler").Len(); n != 2 {
		t.Errorf("%d panics logged, want 2", n)
	}
	for _, e := range ts.logs.FilterMessage("panic in the MySQL handler").All() {
		if !strings.Contains(e.ContextMap()["stack"].(string), "testHandler") {
			t.Errorf("logged without the handler's stack: %v", e.ContextMap())
		}
	}
	ts.logs.TakeAll() // the cleanup fails on panics of the server itself only
}
