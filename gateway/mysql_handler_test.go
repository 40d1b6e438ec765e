package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/gateway/mysqlserver"
	"github.com/shardgate/shardgate/proto/querypb"
)

// serveMySQL serves e's MySQL port on loopback, as Run does.
func serveMySQL(t *testing.T, e *Executor) (host string, port int) {
	t.Helper()
	auth, err := NewAuthenticator(DefaultUsers())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mysqlserver.Listen(mysqlserver.Config{
		Addr: "127.0.0.1:0", ServerVersion: Defaults().ServerVersion, Auth: auth,
		Handler: &mysqlHandler{executor: e, metrics: e.metrics}, SplitStatements: statementSplitter(sqlparser.NewTestParser()),
		Log: zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Close() })
	h, p, _ := net.SplitHostPort(srv.Addr().String())
	port, _ = strconv.Atoi(p)
	return h, port
}

// The status flags clients see follow the session: autocommit, and a
// transaction open from BEGIN to COMMIT.
func TestMySQLPortStatusFlags(t *testing.T) {
	tab := &scriptedTablet{execute: func(context.Context, string) (*querypb.QueryResult, error) {
		return &querypb.QueryResult{RowsAffected: 1}, nil
	}}
	e := testExecutor(t, map[string]unaryClient{"main/0": tab})
	host, port := serveMySQL(t, e)
	conn, err := mysql.Connect(context.Background(), &mysql.ConnParams{Host: host, Port: port, Uname: "root", DbName: "main"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, c := range []struct {
		sql  string
		want uint16
	}{
		{"begin", ServerStatusAutocommit | ServerStatusInTrans},
		{"insert into t (id, v) values (1, 'a')", ServerStatusAutocommit | ServerStatusInTrans},
		{"commit", ServerStatusAutocommit},
		{"set autocommit = 0", 0},
		{"start transaction read only", ServerStatusInTrans | ServerStatusInTransReadOnly},
		{"rollback", 0},
		{"set autocommit = 1", ServerStatusAutocommit},
	} {
		res, err := conn.ExecuteFetch(c.sql, 10, false)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if res.StatusFlags != c.want {
			t.Errorf("after %s: status %#x, want %#x", c.sql, res.StatusFlags, c.want)
		}
	}
}

// The database named at connect is USE'd; an unknown one is refused as
// MySQL refuses it. Prepared statements take unsigned 64-bit parameters
// whole.
func TestMySQLPortDatabaseAndParameters(t *testing.T) {
	tab := &scriptedTablet{execute: func(context.Context, string) (*querypb.QueryResult, error) {
		return &querypb.QueryResult{}, nil
	}}
	e := testExecutor(t, map[string]unaryClient{"main/0": tab})
	host, port := serveMySQL(t, e)
	dsn := func(db string) string { return fmt.Sprintf("root@tcp(%s:%d)/%s", host, port, db) }
	bad, _ := sql.Open("mysql", dsn("nosuchks"))
	defer bad.Close()
	var me *gomysql.MySQLError
	if err := bad.Ping(); !errors.As(err, &me) || me.Number != 1049 {
		t.Fatalf("unknown database: %v", err)
	}
	db, _ := sql.Open("mysql", dsn("main"))
	defer db.Close()
	if _, err := db.Exec("update t set v = 'x' where id = ?", uint64(1<<63+5)); err != nil {
		t.Fatal(err)
	}
	if got := tab.called(); !strings.Contains(got, "where id = 9223372036854775813") {
		t.Fatalf("tablet calls: %s", got)
	}
}

// COM_STATISTICS (mariadb-admin status) as MariaDB words it (the
// server's own line: the gate counts nothing more for it).
func TestMySQLPortStatistics(t *testing.T) {
	admin, err := exec.LookPath("mariadb-admin")
	if err != nil {
		t.Skip("mariadb-admin not installed (make deps installs it)")
	}
	e := testExecutor(t, nil)
	host, port := serveMySQL(t, e)
	out, err := exec.Command(admin, "--no-defaults", "-h", host, "-P", strconv.Itoa(port), "-uroot", "--skip-ssl", "status").CombinedOutput()
	if err != nil || !regexp.MustCompile(`^Uptime: \d+  Threads: 1  Questions: 0  Slow queries: 0  Opens: 0  Open tables: 0  Queries per second avg: \d+\.\d{3}\n$`).Match(out) {
		t.Fatalf("%v: %q", err, out)
	}
}
