package mysqlserver

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"vitess.io/vitess/go/mysql"
)

// Vitess's MySQL client, which reports status flags and warnings.
func TestVitessClient(t *testing.T) {
	ts := startServer(t, nil)
	host, port := ts.hostPort(t)
	ctx := context.Background()
	conn, err := mysql.Connect(ctx, &mysql.ConnParams{Host: host, Port: port, Uname: "app", Pass: "s3cret", DbName: "vt", EnableQueryInfo: true,
		EnableMultiStatements: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.ExecuteFetch("select rows 3", 10, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 3 || res.Rows[2][1].ToString() != "name-2" || res.StatusFlags&StatusAutocommit == 0 {
		t.Fatalf("rows %v, status %#x", res.Rows, res.StatusFlags)
	}
	if res, err = conn.ExecuteFetch("begin", 10, true); err != nil || res.StatusFlags&StatusInTrans == 0 {
		t.Fatalf("begin: status %#x, %v", res.StatusFlags, err)
	}
	res, warnings, err := conn.ExecuteFetchWithWarningCount("update t set x = 1", 10, true)
	if err != nil || warnings != 1 || res.RowsAffected != 2 || res.Info != "Rows matched: 3  Changed: 2  Warnings: 1" || res.StatusFlags&StatusInTrans == 0 {
		t.Fatalf("update: %+v, %d warnings, %v", res, warnings, err)
	}
	if res, err = conn.ExecuteFetch("commit", 10, true); err != nil || res.StatusFlags&StatusInTrans != 0 {
		t.Fatalf("commit: status %#x, %v", res.StatusFlags, err)
	}
	res, err = conn.ExecuteFetch("insert into t values (1)", 10, true)
	if err != nil || res.InsertID != 42 || res.RowsAffected != 1 {
		t.Fatalf("insert: %+v %v", res, err)
	}
	// Multi-statements: each result in turn, MORE_RESULTS_EXISTS between.
	res, more, err := conn.ExecuteFetchMulti("select 1; insert into t values (2); select rows 2", 10, true)
	if err != nil || !more || len(res.Rows) != 1 {
		t.Fatalf("first of three: %v more=%v %v", res, more, err)
	}
	res, more, _, err = conn.ReadQueryResult(10, true)
	if err != nil || !more || res.InsertID != 42 {
		t.Fatalf("second of three: %v more=%v %v", res, more, err)
	}
	res, more, _, err = conn.ReadQueryResult(10, true)
	if err != nil || more || len(res.Rows) != 2 {
		t.Fatalf("third of three: %v more=%v %v", res, more, err)
	}
	_, err = conn.ExecuteFetch("error", 10, true)
	if err == nil || !strings.Contains(err.Error(), "(errno 1146) (sqlstate 42S02)") {
		t.Fatalf("error: %v", err)
	}
	// The binary types through Vitess's decoder of text results.
	res, err = conn.ExecuteFetch("select types", 10, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range res.Rows[0] {
		if want := typesRow()[i]; v.ToString() != want.ToString() {
			t.Errorf("column %s: %q, want %q", typesFields[i].Name, v.ToString(), want.ToString())
		}
	}
}

// The real mariadb command-line tools.
func mariadbTool(t *testing.T, name string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (make deps installs it)", name)
	}
	return path
}

func runTool(t *testing.T, tool string, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append([]string{"--no-defaults"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestMariaDBClient(t *testing.T) {
	cli := mariadbTool(t, "mariadb")
	admin := mariadbTool(t, "mariadb-admin")
	ca := newTestCA(t)
	ts := startServer(t, func(cfg *Config) { cfg.TLS = ca.serverConfig(t, "127.0.0.1") })
	host, port := ts.hostPort(t)
	conn := []string{"-h", host, "-P", strconv.Itoa(port), "-uapp", "-ps3cret"}

	out, err := runTool(t, cli, "", append(conn, "--skip-ssl", "-e", "select rows 3; update t set x = 1")...)
	if err != nil || !strings.Contains(out, "name-2") {
		t.Fatalf("mariadb: %v\n%s", err, out)
	}
	// Batch mode reads statements from stdin; the command line client
	// enables multi-statements.
	out, err = runTool(t, cli, "select 1; select database();\nuse other;\nselect database();\n", append(conn, "--skip-ssl", "-N", "-B", "db1")...)
	if err != nil || out != "1\ndb1\nother\n" {
		t.Fatalf("batch: %v\n%q", err, out)
	}
	// MariaDB's extended metadata: a JSON column says so.
	out, err = runTool(t, cli, "", append(conn, "--skip-ssl", "--table", "--column-type-info", "-e", "select json")...)
	if err != nil || !strings.Contains(out, "Type:       BLOB (format=json)") {
		t.Fatalf("column type info: %v\n%s", err, out)
	}
	// Errors as MariaDB prints them.
	out, err = runTool(t, cli, "", append(conn, "--skip-ssl", "-e", "error")...)
	if err == nil || !strings.Contains(out, "ERROR 1146 (42S02) at line 1: Table 'x.nope' doesn't exist") {
		t.Fatalf("error: %v\n%s", err, out)
	}
	out, err = runTool(t, cli, "", "-h", host, "-P", strconv.Itoa(port), "-uapp", "-pwrong", "--skip-ssl", "-e", "select 1")
	if err == nil || !strings.Contains(out, "ERROR 1045 (28000): Access denied for user 'app'") {
		t.Fatalf("wrong password: %v\n%s", err, out)
	}
	// TLS, verifying the server's certificate against the test CA.
	out, err = runTool(t, cli, "", append(conn, "--ssl", "--ssl-ca", ca.file, "--ssl-verify-server-cert", "-N", "-e", "select 1")...)
	if err != nil || out != "1\n" {
		t.Fatalf("TLS: %v\n%s", err, out)
	}
	other := newTestCA(t)
	out, err = runTool(t, cli, "", append(conn, "--ssl", "--ssl-ca", other.file, "--ssl-verify-server-cert", "-e", "select 1")...)
	if err == nil {
		t.Fatalf("TLS with a certificate from another CA accepted:\n%s", out)
	}
	// LOAD DATA LOCAL INFILE.
	file := t.TempDir() + "/data.csv"
	if err := os.WriteFile(file, []byte("1,a\n2,b\n3,c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runTool(t, cli, "", append(conn, "--skip-ssl", "--local-infile=1", "-v", "-e", "load data local infile '"+file+"' into table t")...)
	if err != nil {
		t.Fatalf("load data: %v\n%s", err, out)
	}
	ts.handler.mu.Lock()
	got := string(ts.handler.localData)
	ts.handler.mu.Unlock()
	if got != "1,a\n2,b\n3,c\n" {
		t.Fatalf("file arrived as %q", got)
	}
	out, err = runTool(t, cli, "", append(conn, "--skip-ssl", "--local-infile=0", "-e", "load data local infile '"+file+"' into table t")...)
	if err == nil || !strings.Contains(out, "ERROR 4166 (HY000)") {
		t.Fatalf("load data without local-infile: %v\n%s", err, out)
	}
	// mariadb-admin: COM_STATISTICS and COM_PING.
	out, err = runTool(t, admin, "", append(conn, "--skip-ssl", "status")...)
	if err != nil || !strings.HasPrefix(out, "Uptime: ") || !strings.Contains(out, "Queries per second avg: ") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	out, err = runTool(t, admin, "", append(conn, "--skip-ssl", "ping")...)
	if err != nil || !strings.Contains(out, "mysqld is alive") {
		t.Fatalf("ping: %v\n%s", err, out)
	}
}

// libmariadb's COM_CHANGE_USER (through Python's mysqlclient, which Debian
// packages as python3-mysqldb), with a plugin switch and a refusal, and
// COM_STATISTICS, info and warnings as the C library reads them.
func TestLibmariadbChangeUser(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import MySQLdb").Run(); err != nil {
		t.Skip("python3-mysqldb not installed (make deps installs it)")
	}
	ts := startServer(t, nil)
	host, port := ts.hostPort(t)
	script := `
import MySQLdb
c = MySQLdb.connect(host="` + host + `", port=` + strconv.Itoa(port) + `, user="app", passwd="s3cret", db="first")
def q(sql):
    cur = c.cursor()
    cur.execute(sql)
    return cur.fetchall()[0][0]
print(q("select user()"))
print(c.stat().split("  ")[1])
c.change_user("other", "other", "second")
print(q("select user()"), q("select database()"))
try:
    c.change_user("other", "bad", "third")
except MySQLdb.OperationalError as e:
    print(e.args[0])
print(q("select user()"))
c.change_user("sha2", "sha2pw", "")
print(q("select user()"))
cur = c.cursor()
cur.execute("update t set x = 1")
print(c.info(), c.warning_count(), cur.rowcount)
`
	out, err := exec.Command(python, "-c", script).CombinedOutput()
	want := "app gen0\nThreads: 1\nother gen1 second\n1045\nother gen1\nsha2 gen2\nRows matched: 3  Changed: 2  Warnings: 1 1 2\n"
	if err != nil || string(out) != want {
		t.Fatalf("%v\n%s\nwant\n%s", err, out, want)
	}
}
