package integration

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/gateway/client"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

const rightsUsers = `{"users": [
  {"user": "root", "password": "", "from": "loopback"},
  {"user": "reader", "password": "r", "grants": [{"keyspace": "ks", "rights": ["read"]}]},
  {"user": "writer", "password": "w", "grants": [{"keyspace": "ks", "tables": "acct", "rights": ["read", "write"]}]},
  {"user": "mainonly", "password": "m", "grants": [{"keyspace": "main", "rights": ["all"]}]},
  {"user": "limited", "password": "l", "max_connections": 2, "grants": [{"keyspace": "ks", "rights": ["read"]}]},
  {"user": "sha2only", "sha2_password_hash": "0ac1e49b32a8f7829e79b4ad9e9f3d35ef0aca0662c4835279619bf49249cd77", "grants": [{"keyspace": "ks", "rights": ["read"]}]}
]}`

// TestRightsAndLimits runs the users file's rights and limits against a
// real cluster, over the MySQL port and the gRPC API alike: a read-only
// user cannot write, a user kept to one keyspace cannot reach another by
// USE, a qualified name or USE ks:shard, files are refused to everyone,
// connection limits answer 1040 and 1226 and free up, and a reload of the
// users file changes the rights of open sessions without dropping them.
func TestRightsAndLimits(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	usersFile := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(usersFile, []byte(rightsUsers), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartGate(ctx, "--users-file="+usersFile, "--max-connections=30"); err != nil {
		t.Fatal(err)
	}
	root := openDB(t, c.GateDSN("ks"))
	mustExec(t, root, "INSERT INTO acct (id, balance) VALUES (1, 10), (2, 20)")

	as := func(user, password, db string) *sql.DB {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, password, "tcp", c.GateAddr(), db
		return openDB(t, cfg.FormatDSN())
	}
	wantCode := func(what string, err error, code int, contains string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), fmt.Sprint(code)) || !strings.Contains(err.Error(), contains) {
			t.Errorf("%s: %v, want error %d with %q", what, err, code, contains)
		}
	}

	// A user with only a caching_sha2_password hash (s3cret) logs in: the
	// gate offers mysql_native_password first and switches the client.
	var n int
	if err := as("sha2only", "s3cret", "ks").QueryRow("SELECT COUNT(*) FROM acct").Scan(&n); err != nil || n != 2 {
		t.Errorf("caching_sha2_password-only user: %d rows, %v", n, err)
	}
	if err := as("sha2only", "wrong", "ks").Ping(); err == nil || !strings.Contains(err.Error(), "1045") {
		t.Errorf("caching_sha2_password-only user, wrong password: %v, want 1045", err)
	}

	reader := as("reader", "r", "ks")
	if err := reader.QueryRow("SELECT COUNT(*) FROM acct").Scan(&n); err != nil || n != 2 {
		t.Fatalf("reader reads: %d rows, %v", n, err)
	}
	_, err := reader.Exec("INSERT INTO acct (id, balance) VALUES (3, 30)")
	wantCode("reader inserts", err, 1142, "INSERT command denied to user 'reader'")
	_, err = reader.Exec("UPDATE acct SET balance = 0 WHERE id = 1")
	wantCode("reader updates", err, 1142, "UPDATE command denied")
	_, err = reader.Exec("DROP TABLE acct")
	wantCode("reader drops", err, 1142, "DROP command denied")

	mainOnly := as("mainonly", "m", "main")
	_, err = mainOnly.Exec("USE ks")
	wantCode("mainonly USE ks", err, 1044, "to database 'ks'")
	err = mainOnly.QueryRow("SELECT COUNT(*) FROM ks.acct").Scan(&n)
	wantCode("mainonly reads ks.acct", err, 1142, "SELECT command denied to user 'mainonly'")
	_, err = mainOnly.Exec("USE `ks:-40`")
	wantCode("mainonly USE ks:-40", err, 1044, "to database 'ks'")
	_, err = reader.Exec("USE `ks:-40`")
	wantCode("reader USE ks:-40", err, 1227, "admin right")
	if _, err := as("mainonly", "m", "ks").Exec("SELECT 1"); err == nil || !strings.Contains(err.Error(), "1044") {
		t.Errorf("mainonly connecting to database ks: %v, want 1044", err)
	}

	for _, stmt := range []string{"SELECT LOAD_FILE('/etc/passwd')", "SELECT id FROM acct INTO OUTFILE '/tmp/shardgate-outfile'"} {
		_, err := root.Exec(stmt)
		wantCode("root: "+stmt, err, 1227, "FILE privilege")
	}
	_, err = root.Exec("SELECT * FROM mysql.user")
	wantCode("root reads mysql.user", err, 1142, "`mysql`.`user`")
	// A statement that reached a shard's server past the gate still cannot
	// touch the host's files (secure_file_priv).
	shard := openDB(t, c.Tablets()[0].MySQLDSN())
	var content sql.NullString
	if err := shard.QueryRow("SELECT LOAD_FILE('/etc/passwd')").Scan(&content); err != nil || content.Valid {
		t.Errorf("LOAD_FILE on the shard's server: valid %v, %v; want NULL", content.Valid, err)
	}
	_, err = shard.Exec("SELECT 1 INTO OUTFILE '/tmp/shardgate-outfile'")
	wantCode("INTO OUTFILE on the shard's server", err, 1290, "secure-file-priv")
	// And the server does not run as root (the test may).
	if pid, ok := mysqld.Running(c.Tablets()[0].MySQL.DataDir); !ok {
		t.Error("no mariadbd runs for the first tablet")
	} else if uid := processUID(t, pid); uid == 0 {
		t.Errorf("the shard's mariadbd (pid %d) runs as root", pid)
	}

	// SHOW GRANTS, as a client reads it.
	var grant string
	if err := as("writer", "w", "ks").QueryRow("SHOW GRANTS").Scan(&grant); err != nil || grant != "GRANT USAGE ON *.* TO `writer`@`%`" {
		t.Errorf("SHOW GRANTS: %q, %v", grant, err)
	}

	// The same rights over the gRPC API.
	grpcReader := openDriver(t, "shardgate://reader:r@"+c.GateGRPCAddr()+"/ks")
	_, err = grpcReader.Exec("INSERT INTO acct (id, balance) VALUES (4, 40)")
	wantCode("gRPC reader inserts", err, 1142, "INSERT command denied to user 'reader'")
	grpcMain := openDriver(t, "shardgate://mainonly:m@"+c.GateGRPCAddr()+"/main")
	err = grpcMain.QueryRow("SELECT COUNT(*) FROM ks.acct").Scan(&n)
	wantCode("gRPC mainonly reads ks.acct", err, 1142, "SELECT command denied")

	// A gRPC session cannot be taken over by another user.
	alice, err := client.New(client.Config{Address: c.GateGRPCAddr(), Target: "ks", User: "writer", Password: "w"})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	tx := alice.NewSession()
	for _, q := range []string{"BEGIN", "INSERT INTO acct (id, balance) VALUES (5, 50)"} {
		if _, err := tx.Execute(ctx, q, nil); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mallory, err := client.New(client.Config{Address: c.GateGRPCAddr(), Target: "ks", User: "reader", Password: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer mallory.Close()
	_, err = mallory.ResumeSession(tx.Proto()).Execute(ctx, "COMMIT", nil)
	wantCode("another user commits writer's transaction", err, 1045, "not one a gate of this cluster issued to this user")
	if _, err := tx.Execute(ctx, "ROLLBACK", nil); err != nil {
		t.Fatal(err)
	}

	// Per-user connection limit: 1226, and the slot frees up.
	limited := as("limited", "l", "ks")
	limited.SetMaxIdleConns(0)
	c1, err := limited.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := limited.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = limited.Conn(ctx)
	wantCode("a third connection of limited", err, 1226, "max_user_connections")
	c2.Close()
	c3, err := limited.Conn(ctx)
	if err != nil {
		t.Errorf("after one closed: %v", err)
	} else {
		c3.Close()
	}
	c1.Close()

	// --max-connections: 1040, and it frees up.
	many := as("reader", "r", "ks")
	many.SetMaxIdleConns(0)
	var held []*sql.Conn
	var full error
	for i := 0; i < 40 && full == nil; i++ {
		conn, err := many.Conn(ctx)
		if err != nil {
			full = err
			break
		}
		if err := conn.PingContext(ctx); err != nil {
			full = err
			conn.Close()
			break
		}
		held = append(held, conn)
	}
	wantCode(fmt.Sprintf("connection %d past --max-connections=30", len(held)+1), full, 1040, "Too many connections")
	for _, conn := range held {
		conn.Close()
	}
	waitFor(t, 10*time.Second, "a connection once others closed", func() error {
		return as("reader", "r", "ks").Ping()
	})

	// A reload changes the rights of an open session; a bad file is
	// refused and the rights stay.
	session, err := reader.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	if _, err := session.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (6, 60)"); err == nil {
		t.Fatal("reader wrote before the reload")
	}
	writeUsers(t, usersFile, strings.Replace(rightsUsers, `"grants": [{"keyspace": "ks", "rights": ["read"]}]},`, `"grants": [{"keyspace": "ks", "rights": ["read", "write"]}]},`, 1))
	waitFor(t, 15*time.Second, "reader's session to get the write right", func() error {
		_, err := session.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (6, 60)")
		return err
	})
	writeUsers(t, usersFile, `{"users": [{"user": "reader", "grants": [{"keyspace": "ks", "rights": ["fly"]}]}]}`)
	time.Sleep(3 * time.Second) // past the gate's 2 s look at the file
	if _, err := session.ExecContext(ctx, "UPDATE acct SET balance = 61 WHERE id = 6"); err != nil {
		t.Errorf("after a bad users file: %v (the rights loaded before must stay)", err)
	}
	if err := root.Ping(); err != nil {
		t.Errorf("root after a bad users file: %v", err)
	}
}

// waitFor retries check until it succeeds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err = check(); err == nil {
			return
		}
	}
	t.Errorf("waiting for %s: %v", what, err)
}

// processUID is the real uid of a running process.
func processUID(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				t.Fatal(err)
			}
			return uid
		}
	}
	t.Fatalf("no Uid line in /proc/%d/status", pid)
	return -1
}

func writeUsers(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
