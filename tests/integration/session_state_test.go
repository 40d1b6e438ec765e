package integration

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
)

// Server status flags a client acts on (SERVER_STATUS_*).
const (
	statusInTrans         = 0x0001
	statusAutocommit      = 0x0002
	statusInTransReadOnly = 0x2000
	statusMask            = statusInTrans | statusAutocommit | statusInTransReadOnly
)

// TestSessionStateOnTheWire holds the gate's OK and EOF packets to what
// one MariaDB sends for the same statements: the autocommit and
// in-transaction flags drivers read to decide whether to send
// SET autocommit=0 (PyMySQL, mysqlclient, Connector/J) and whether a
// transaction is open (PDO), and the warning count.
func TestSessionStateOnTheWire(t *testing.T) {
	c := startCluster(t)
	refPort := freePort(t)
	ref := startReference(t, refPort)
	if _, err := ref.Exec("CREATE TABLE acct (id BIGINT PRIMARY KEY, balance INT NOT NULL) DEFAULT CHARSET=utf8mb4"); err != nil {
		t.Fatal(err)
	}
	gateHost, gatePort, _ := net.SplitHostPort(c.GateAddr())

	steps := []string{
		"SELECT id FROM acct WHERE id = 1",
		"BEGIN",
		"INSERT INTO acct (id, balance) VALUES (1, 10)",
		"SELECT balance FROM acct WHERE id = 1",
		"COMMIT",
		"START TRANSACTION READ ONLY",
		"SELECT balance FROM acct WHERE id = 1",
		"ROLLBACK",
		"SET autocommit = 0",
		"INSERT INTO acct (id, balance) VALUES (2, 20)",
		"SELECT COUNT(*) FROM acct",
		"ROLLBACK",
		"UPDATE acct SET balance = balance + 1 WHERE id = 1",
		"COMMIT",
		"SET autocommit = 1",
		"START TRANSACTION",
		"INSERT INTO acct (id, balance) VALUES (1, 0)", // duplicate key: the transaction stays open
		"SELECT balance FROM acct WHERE id = 1",
		"CREATE TABLE IF NOT EXISTS state_ddl (id BIGINT PRIMARY KEY)", // commits implicitly
		"SELECT balance FROM acct WHERE id = 1",
		"BEGIN",
		"SET autocommit = 1", // already on: the transaction stays open
		"SELECT balance FROM acct WHERE id = 1",
		"SET autocommit = 0",
		"SET autocommit = 1", // turning it on commits
		"SELECT CAST('12abc' AS SIGNED)",
		"SHOW WARNINGS",
		"SHOW COUNT(*) WARNINGS",
		"SELECT id, CAST(CONCAT(id, 'x') AS SIGNED) FROM acct ORDER BY id", // warnings from every shard
		"SHOW WARNINGS LIMIT 1",
		"INSERT INTO acct (id, balance) VALUES (1, 0)",
		"SHOW ERRORS",
		"SHOW WARNINGS",
		"SELECT balance FROM acct WHERE id = 1",
		"SHOW WARNINGS",
		"SELECT * FROM no_such_table",
		"SHOW COUNT(*) ERRORS",
		"SELECT @@warning_count, @@error_count",

		// User variables live in the session, whichever shard a statement
		// reaches; SET evaluates expressions as the session would.
		"SET @a = 5, @b = 'x'",
		"SELECT @a, @b, @nope, @a + 1",
		"SET @c = (SELECT COUNT(*) FROM acct)",
		"SELECT @c",
		"SELECT balance INTO @bal FROM acct WHERE id = 1",
		"SELECT @bal + 1",
		"SELECT id INTO @none FROM acct WHERE id = 999",
		"SHOW WARNINGS",
		"SELECT id, balance INTO @x FROM acct WHERE id = 1",
		"SELECT id INTO @x FROM acct",
		"UPDATE acct SET balance = @bal + 100 WHERE id = 1",
		"SELECT balance FROM acct WHERE id = @a - 4",
		"SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO'",
		"SELECT @@sql_mode",
		"SET SQL_MODE=@OLD_SQL_MODE",
		"SELECT @@sql_mode = @OLD_SQL_MODE",
		"SET sql_mode = CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES')",
		"SELECT @@sql_mode",
		"SET @OLD_TIME_ZONE=@@TIME_ZONE, TIME_ZONE='+00:00'",
		"SELECT @@time_zone",
		"SET TIME_ZONE=@OLD_TIME_ZONE",
		"SELECT @@time_zone",
		"SET SESSION wait_timeout = 100",
		"SELECT @@wait_timeout, @@session.wait_timeout, @@interactive_timeout",
		"SELECT @@autocommit, @@in_transaction",
		"SET autocommit = 0",
		"SELECT @@autocommit, @@session.autocommit",
		"SELECT balance FROM acct WHERE id = 1",
		"SELECT @@in_transaction",
		"SET autocommit = 1",
		"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
		"SELECT @@tx_isolation",
		"SET @@session.tx_isolation = DEFAULT",
		"SELECT @@tx_isolation",

		// Savepoints over shards that join before and after them.
		"BEGIN",
		"INSERT INTO acct (id, balance) VALUES (10, 1)",
		"SAVEPOINT a",
		"INSERT INTO acct (id, balance) VALUES (11, 1), (12, 1), (13, 1), (14, 1)",
		"SAVEPOINT b",
		"UPDATE acct SET balance = 2 WHERE id >= 10",
		"ROLLBACK TO SAVEPOINT b",
		"SELECT id, balance FROM acct WHERE id >= 10 ORDER BY id",
		"ROLLBACK TO SAVEPOINT a",
		"SELECT id, balance FROM acct WHERE id >= 10 ORDER BY id",
		"SAVEPOINT a",
		"INSERT INTO acct (id, balance) VALUES (15, 1), (16, 1)",
		"RELEASE SAVEPOINT a",
		"ROLLBACK TO SAVEPOINT a",
		"COMMIT",
		"SELECT id, balance FROM acct WHERE id >= 10 ORDER BY id",
		"SAVEPOINT x",
		"ROLLBACK TO SAVEPOINT x",
		"SET autocommit = 0",
		"SAVEPOINT y",
		"INSERT INTO acct (id, balance) VALUES (17, 1), (18, 1)",
		"ROLLBACK TO y",
		"SELECT COUNT(*) FROM acct WHERE id >= 17",
		"ROLLBACK",
		"SET autocommit = 1",

		// ROW_COUNT() is the session's previous statement's.
		"INSERT INTO acct (id, balance) VALUES (20, 1), (21, 1), (22, 1)",
		"SELECT ROW_COUNT()",
		"SELECT ROW_COUNT()",
		"UPDATE acct SET balance = 5 WHERE id IN (20, 21, 22)",
		"SELECT ROW_COUNT(), ROW_COUNT() + 1",
		"SET @z = 1",
		"SELECT ROW_COUNT()",
		"DELETE FROM acct WHERE id = 999",
		"SELECT ROW_COUNT()",
		"SELECT * FROM no_such_table",
		"SELECT ROW_COUNT()",

		// A statement that neither uses tables nor raises anything leaves
		// the previous statement's warnings to SHOW WARNINGS.
		"SELECT CAST('x' AS SIGNED)",
		"SELECT 'plain'",
		"SET @q = 2",
		"SHOW WARNINGS",
		"SELECT @@warning_count",
		"SELECT id FROM acct WHERE id = 20",
		"SHOW WARNINGS",
	}
	run := func(host, port string) []string {
		t.Helper()
		p, _ := strconv.Atoi(port)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := mysql.Connect(ctx, &mysql.ConnParams{Host: host, Port: p, Uname: "root", DbName: "ks"})
		if err != nil {
			t.Fatalf("connect to %s:%s: %v", host, port, err)
		}
		defer conn.Close()
		var out []string
		for _, q := range steps {
			res, warnings, err := conn.ExecuteFetchWithWarningCount(q, 1000, true)
			if err != nil {
				// An error packet carries no flags.
				code := -1
				if se, ok := err.(*sqlerror.SQLError); ok {
					code = int(se.Num)
				}
				out = append(out, fmt.Sprintf("%-60s error %d", q, code))
				continue
			}
			out = append(out, fmt.Sprintf("%-60s flags %#06x warnings %d rows %s", q, res.StatusFlags&statusMask, warnings, rowsText(res.Rows)))
		}
		return out
	}
	want := run("127.0.0.1", strconv.Itoa(refPort))
	got := run(gateHost, gatePort)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d\n gate:    %s\n mariadb: %s", i+1, got[i], want[i])
		}
	}
}

// rowsText prints rows by value: the test compares what a client reads,
// not how each value is typed.
func rowsText(rows [][]sqltypes.Value) string {
	var b strings.Builder
	for _, row := range rows {
		b.WriteString("[")
		for i, v := range row {
			if i > 0 {
				b.WriteString(" ")
			}
			if v.IsNull() {
				b.WriteString("NULL")
			} else {
				b.WriteString(strconv.Quote(v.ToString()))
			}
		}
		b.WriteString("]")
	}
	return b.String()
}
