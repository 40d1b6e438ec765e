package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/queryservice"
)

// startService runs a real mariadbd and a query service in front of it,
// with short limits so that they can be observed.
func startService(t *testing.T) (*queryservice.Service, *sql.DB) {
	t.Helper()
	qcfg, direct := startServiceMySQL(t)
	return runService(t, qcfg), direct
}

// startServiceMySQL runs a real mariadbd with table ks.seq and returns a
// query service configuration for it, with short limits, and a direct
// connection.
func startServiceMySQL(t *testing.T) (queryservice.Config, *sql.DB) {
	t.Helper()
	base, err := localcluster.FreeBasePort(localcluster.Config{Keyspaces: []localcluster.KeyspaceSpec{{Name: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := startMySQLD(t, base+2100, 1)
	direct := openDB(t, cfg.DSN(""))
	if _, err := direct.Exec("CREATE TABLE ks.seq (n INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Exec("INSERT INTO ks.seq VALUES (1),(2),(3),(4),(5),(6),(7),(8),(9),(10),(11),(12)"); err != nil {
		t.Fatal(err)
	}

	qcfg := queryservice.Defaults()
	qcfg.Alias, qcfg.Keyspace, qcfg.Shard, qcfg.Type = "zone1-1", "ks", "0", topopb.TabletType_PRIMARY
	qcfg.MySQL = mysql.ConnParams{UnixSocket: cfg.SocketPath(), Uname: "root", DbName: "ks"}
	qcfg.QueryTimeout = 500 * time.Millisecond
	qcfg.TxIdleTimeout = time.Second
	qcfg.MaxRows = 10
	qcfg.HealthInterval = 100 * time.Millisecond
	return qcfg, direct
}

// runService starts a query service, closed when the test ends.
func runService(t *testing.T, qcfg queryservice.Config) *queryservice.Service {
	t.Helper()
	svc, err := queryservice.New(qcfg, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc.Start()
	t.Cleanup(svc.Close)
	return svc
}

var target = &querypb.Target{Keyspace: "ks", Shard: "0", TabletType: topopb.TabletType_PRIMARY}

func sqlErrCode(err error) sqlerror.ErrorCode {
	var se *sqlerror.SQLError
	if errors.As(err, &se) {
		return se.Num
	}
	return 0
}

func TestTabletKillsStatementsPastTheirTimeout(t *testing.T) {
	svc, direct := startService(t)
	start := time.Now()
	_, err := svc.Execute(context.Background(), &querypb.ExecuteRequest{Target: target, Sql: []byte("SELECT SLEEP(30)")})
	if sqlErrCode(err) != 1969 {
		t.Fatalf("err = %v, want MariaDB's statement timeout (1969)", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the statement returned after %v, long after its 500ms timeout", d)
	}
	// The statement is gone from the server, not just abandoned.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := direct.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(30)%'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SELECT SLEEP(30) still runs on mariadbd after its timeout")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The service keeps working.
	if _, err := svc.Execute(context.Background(), &querypb.ExecuteRequest{Target: target, Sql: []byte("SELECT 1")}); err != nil {
		t.Fatal(err)
	}
}

func TestTabletRollsBackIdleTransactions(t *testing.T) {
	svc, direct := startService(t)
	ctx := context.Background()
	begun, err := svc.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: []byte("INSERT INTO seq VALUES (100)")})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // past the 1s idle timeout
	_, err = svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: []byte("INSERT INTO seq VALUES (101)"), TransactionId: begun.TransactionId})
	if err == nil || !strings.Contains(err.Error(), "idle") {
		t.Fatalf("err = %v, want the transaction reported as rolled back for idling", err)
	}
	var n int
	if err := direct.QueryRow("SELECT COUNT(*) FROM ks.seq WHERE n >= 100").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows of the abandoned transaction: %d (%v), want 0", n, err)
	}
}

func TestTabletRowLimitAndTargets(t *testing.T) {
	svc, _ := startService(t)
	ctx := context.Background()
	_, err := svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: []byte("SELECT * FROM seq")})
	if err == nil || !strings.Contains(err.Error(), "row limit exceeded") {
		t.Fatalf("12 rows with a limit of 10: err = %v", err)
	}
	res, err := svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: []byte("SELECT * FROM seq LIMIT 10")})
	if err != nil || len(res.Result.Rows) != 10 {
		t.Fatalf("exactly 10 rows must pass: %v", err)
	}
	wrong := &querypb.Target{Keyspace: "ks", Shard: "-80", TabletType: topopb.TabletType_PRIMARY}
	if _, err := svc.Execute(ctx, &querypb.ExecuteRequest{Target: wrong, Sql: []byte("SELECT 1")}); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("a request for another shard must be refused: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !svc.Health().Serving || svc.Health().Stats.GetGtidPosition() == "" {
		if time.Now().After(deadline) {
			t.Fatalf("health = %v, want serving with a GTID position", svc.Health())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countSeq counts the rows of ks.seq that match where, read directly.
func countSeq(t *testing.T, direct *sql.DB, where string) int {
	t.Helper()
	var n int
	if err := direct.QueryRow("SELECT COUNT(*) FROM ks.seq WHERE " + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTabletTransactionsBeginWithTheirFirstStatement checks that a
// transaction costs MariaDB no BEGIN of its own (its connection runs with
// autocommit off) and is still one transaction: its first statement is
// undone by a rollback, its statements commit together, a read-only or
// isolated transaction keeps its characteristics, and a connection
// reused after a commit or a rollback starts clean.
func TestTabletTransactionsBeginWithTheirFirstStatement(t *testing.T) {
	svc, direct := startService(t)
	ctx := context.Background()
	status := func(name string) int {
		t.Helper()
		var variable string
		var n int
		if err := direct.QueryRow("SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&variable, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	count := func(where string) int { t.Helper(); return countSeq(t, direct, where) }
	begins, commits := status("Com_begin"), status("Com_commit")

	for round := range 3 { // the pool's connections are reused
		n := 100 * (round + 1)
		rolledBack, err := svc.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: fmt.Appendf(nil, "INSERT INTO seq VALUES (%d)", n)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Rollback(ctx, &querypb.RollbackRequest{Target: target, TransactionId: rolledBack.TransactionId}); err != nil {
			t.Fatal(err)
		}
		if got := count(fmt.Sprintf("n = %d", n)); got != 0 {
			t.Fatalf("round %d: the rolled-back first statement left %d rows, want 0", round, got)
		}

		committed, err := svc.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: fmt.Appendf(nil, "INSERT INTO seq VALUES (%d)", n+1)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, TransactionId: committed.TransactionId, Sql: fmt.Appendf(nil, "INSERT INTO seq VALUES (%d)", n+2)}); err != nil {
			t.Fatal(err)
		}
		if got := count(fmt.Sprintf("n IN (%d, %d)", n+1, n+2)); got != 0 {
			t.Fatalf("round %d: %d rows of an open transaction are visible outside it, want 0", round, got)
		}
		if _, err := svc.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: committed.TransactionId}); err != nil {
			t.Fatal(err)
		}
		if got := count(fmt.Sprintf("n IN (%d, %d)", n+1, n+2)); got != 2 {
			t.Fatalf("round %d: %d rows after the commit, want 2", round, got)
		}
	}
	if got := status("Com_begin") - begins; got != 0 {
		t.Errorf("MariaDB ran %d BEGIN statements for 6 transactions, want 0 (each begins with its first statement)", got)
	}
	if got := status("Com_commit") - commits; got < 3 {
		t.Errorf("MariaDB ran %d COMMIT statements for 3 committed transactions", got)
	}

	readOnly, err := svc.Begin(ctx, &querypb.BeginRequest{Target: target, Options: &querypb.ExecuteOptions{ReadOnly: true, TransactionIsolation: "READ COMMITTED"}})
	if err != nil {
		t.Fatal(err)
	}
	// READ COMMITTED: the transaction's second read sees a row committed
	// after its first (REPEATABLE READ, the default, would not).
	seen := func() int {
		t.Helper()
		res, err := svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, TransactionId: readOnly.TransactionId, Sql: []byte("SELECT COUNT(*) FROM seq WHERE n = 997")})
		if err != nil {
			t.Fatal(err)
		}
		return int(res.Result.Rows[0].Values[0] - '0')
	}
	if got := seen(); got != 0 {
		t.Fatalf("row 997 before it was written: %d", got)
	}
	if _, err := direct.Exec("INSERT INTO ks.seq VALUES (997)"); err != nil {
		t.Fatal(err)
	}
	if got := seen(); got != 1 {
		t.Fatalf("a READ COMMITTED transaction does not see a row committed after its first read (%d rows): its isolation level was lost", got)
	}
	if _, err := svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, TransactionId: readOnly.TransactionId, Sql: []byte("INSERT INTO seq VALUES (999)")}); sqlErrCode(err) != 1792 {
		t.Fatalf("a write in a read-only transaction: err = %v, want 1792", err)
	}
	if _, err := svc.Rollback(ctx, &querypb.RollbackRequest{Target: target, TransactionId: readOnly.TransactionId}); err != nil {
		t.Fatal(err)
	}
	next, err := svc.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: []byte("INSERT INTO seq VALUES (998)")})
	if err != nil {
		t.Fatalf("a write after a read-only transaction on the same pool: %v", err)
	}
	if _, err := svc.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: next.TransactionId}); err != nil {
		t.Fatal(err)
	}
	if got := count("n = 998"); got != 1 {
		t.Fatalf("a transaction after a read-only one: %d rows, want 1", got)
	}
}

// TestTabletTransactionsLeaveNoStateBehind checks what BEGIN used to
// clean up now that a transaction's connection gets none: a transaction
// that took table locks (FLUSH TABLES ... WITH READ LOCK) does not hand
// them, or LOCK TABLES mode, to the next transaction on its connection;
// and a statement that commits implicitly (DDL) leaves the rest of the
// transaction autocommitted, as after BEGIN in MariaDB.
func TestTabletTransactionsLeaveNoStateBehind(t *testing.T) {
	svc, direct := startService(t)
	ctx := context.Background()
	count := func(where string) int { t.Helper(); return countSeq(t, direct, where) }

	locked, err := svc.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: []byte("FLUSH TABLES seq WITH READ LOCK")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: locked.TransactionId}); err != nil {
		t.Fatal(err)
	}
	// Every transaction after it writes, on whichever pooled connection.
	for n := 600; n < 610; n++ {
		tx, err := svc.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: fmt.Appendf(nil, "INSERT INTO seq VALUES (%d)", n)})
		if err != nil {
			t.Fatalf("a transaction after one that locked tables: %v", err)
		}
		if _, err := svc.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: tx.TransactionId}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := direct.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION lock_wait_timeout = 5"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO ks.seq VALUES (610)"); err != nil {
		t.Fatalf("a write beside the pool after a transaction that locked the table: %v (the lock outlived its transaction)", err)
	}
	if got := count("n >= 600 AND n <= 610"); got != 11 {
		t.Fatalf("%d rows of 11 written", got)
	}

	ddl, err := svc.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: []byte("INSERT INTO seq VALUES (700)")})
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{"CREATE TABLE seq2 (n INT PRIMARY KEY)", "INSERT INTO seq VALUES (701)"} {
		if _, err := svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, TransactionId: ddl.TransactionId, Sql: []byte(sql)}); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if _, err := svc.Rollback(ctx, &querypb.RollbackRequest{Target: target, TransactionId: ddl.TransactionId}); err != nil {
		t.Fatal(err)
	}
	// MariaDB: BEGIN; INSERT 700; CREATE TABLE (commits); INSERT 701
	// (autocommitted); ROLLBACK (nothing left to undo).
	if got := count("n IN (700, 701)"); got != 2 {
		t.Fatalf("after BEGIN, INSERT, CREATE TABLE, INSERT, ROLLBACK: %d rows of 2 remain; MariaDB keeps both", got)
	}
	next, err := svc.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: []byte("INSERT INTO seq VALUES (702)")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Rollback(ctx, &querypb.RollbackRequest{Target: target, TransactionId: next.TransactionId}); err != nil {
		t.Fatal(err)
	}
	if got := count("n = 702"); got != 0 {
		t.Fatalf("a rolled-back transaction after one with DDL left %d rows", got)
	}
}
