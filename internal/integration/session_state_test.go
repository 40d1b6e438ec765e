package integration

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
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
			out = append(out, fmt.Sprintf("%-60s flags %#06x warnings %d rows %v", q, res.StatusFlags&statusMask, warnings, res.Rows))
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
