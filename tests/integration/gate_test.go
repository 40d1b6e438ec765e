package integration

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/vindex"
)

// TestGate runs the gate's end-to-end checks against one cluster.
func TestGate(t *testing.T) {
	c := startCluster(t)
	gate := openDB(t, c.GateDSN("ks"))
	shards := map[string]*sql.DB{}
	var names []string
	for _, tab := range c.Tablets() {
		if tab.Keyspace == "ks" {
			shards[tab.Shard] = openDB(t, tab.MySQLDSN())
			names = append(names, tab.Shard)
		}
	}

	t.Run("SysbenchOnFourShards", func(t *testing.T) { testSysbench(t, c, shards, names) })
	t.Run("TypesComeBackExactly", func(t *testing.T) { testTypes(t, gate, shards, names) })
	t.Run("PreparedStatements", func(t *testing.T) { testPrepared(t, gate) })
	t.Run("ErrorsHaveMySQLCodes", func(t *testing.T) { testErrors(t, c, gate) })
	t.Run("Transactions", func(t *testing.T) { testTransactions(t, gate, shards, names) })
	t.Run("ReferenceTableWritesReachEveryShard", func(t *testing.T) { testReference(t, gate, shards) })
	t.Run("GarbageConnectionHarmsNoOther", func(t *testing.T) { testGarbage(t, c, gate) })
	t.Run("SessionStatements", func(t *testing.T) { testSession(t, c) })
	t.Run("VExplainAndNoScatter", func(t *testing.T) { testVExplain(t, c, names) })
	t.Run("SequencesNumberInserts", func(t *testing.T) { testSequences(t, c, shards, names) })
	t.Run("SessionVariablesReachTheShards", func(t *testing.T) { testSessionVariables(t, c) })
	t.Run("TransactionIsolationLevel", func(t *testing.T) { testIsolation(t, c) })
	t.Run("ReadOnlyTransactions", func(t *testing.T) { testReadOnlyTransactions(t, c) })
	t.Run("OLAPReadsStream", func(t *testing.T) { testOLAPStreams(t, c) })
}

// shardOf returns the shard the hash vindex assigns id to.
func shardOf(t *testing.T, id int64, names []string) string {
	t.Helper()
	v, err := vindex.Create("hash", "hash", nil)
	if err != nil {
		t.Fatal(err)
	}
	ksid, err := v.(vindex.Hasher).Hash(sqltypes.NewInt64(id))
	if err != nil {
		t.Fatal(err)
	}
	shard, err := vindex.ShardFor(ksid, names)
	if err != nil {
		t.Fatal(err)
	}
	return shard
}

func testSysbench(t *testing.T, c *localcluster.Cluster, shards map[string]*sql.DB, names []string) {
	host, port, _ := net.SplitHostPort(c.GateAddr())
	args := []string{"oltp_point_select", "--mysql-host=" + host, "--mysql-port=" + port, "--mysql-user=root",
		"--mysql-db=ks", "--tables=8", "--table-size=10000", "--auto-inc=off"}
	run := func(extra ...string) string {
		cmd := exec.Command("sysbench", append(args, extra...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("sysbench %s: %v\n%s", strings.Join(extra, " "), err, out.String())
		}
		return out.String()
	}
	run("prepare")
	checkOutput := func(out string) {
		t.Helper()
		if m := regexp.MustCompile(`ignored errors:\s+(\d+)`).FindStringSubmatch(out); m == nil || m[1] != "0" {
			t.Fatalf("sysbench reported errors:\n%s", out)
		}
		if m := regexp.MustCompile(`queries:\s+(\d+)`).FindStringSubmatch(out); m == nil || m[1] == "0" {
			t.Fatalf("sysbench ran no query:\n%s", out)
		}
	}
	checkOutput(run("--threads=8", "--time=5", "run"))
	// Transactions of point and range reads, sums, ordered and distinct
	// ranges, updates, deletes and inserts, across shards, for a minute.
	args[0] = "oltp_read_write"
	checkOutput(run("--threads=8", "--time=60", "run"))
	gate := openDB(t, c.GateDSN("ks"))

	// Every row sits on the shard its keyspace ID names, and none is lost.
	for table := 1; table <= 8; table++ {
		total := 0
		for shard, db := range shards {
			rows, err := db.Query(fmt.Sprintf("SELECT id FROM sbtest%d", table))
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				if want := shardOf(t, id, names); want != shard {
					t.Fatalf("sbtest%d row id=%d is on shard %s, the hash vindex says %s", table, id, shard, want)
				}
				total++
			}
			rows.Close()
		}
		var viaGate int
		if err := gate.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM sbtest%d", table)).Scan(&viaGate); err != nil {
			t.Fatal(err)
		}
		// oltp_read_write deletes and re-inserts rows: each transaction
		// leaves the count as it was.
		if total != 10000 || viaGate != total {
			t.Fatalf("sbtest%d: %d rows over the shards, COUNT(*) through the gate %d, want 10000 both", table, total, viaGate)
		}
	}
}

func testTypes(t *testing.T, gate *sql.DB, shards map[string]*sql.DB, names []string) {
	_, err := gate.Exec(`INSERT INTO types (id, i, u, d, f, s, b, dt, dd, t, ts, j, e, n, bl, tx) VALUES
		(1, -5, 18446744073709551615, -12345678.123456, 1.5e300, 'ünïcødé €😀', 0x00FF10, '2024-02-29 23:59:59.123456', '1000-01-01', '-838:59:59', '2038-01-19 03:14:07', '{"a": [1, 2]}', 'b', NULL, 0x000102, 'text'),
		(2, 0, 0, 0, 0, '', '', '1970-01-01 00:00:00', '2024-01-01', '00:00:00', NULL, 'null', 'a', 7, '', ''),
		(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	if err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 3; id++ {
		query := fmt.Sprintf("SELECT * FROM types WHERE id = %d", id)
		viaGate := readAll(t, gate, query)
		direct := readAll(t, shards[shardOf(t, id, names)], query)
		if viaGate != direct {
			t.Errorf("id %d differs:\n gate:   %s\n direct: %s", id, viaGate, direct)
		}
	}
}

// readAll renders a result with its column types and raw values, so that
// two results compare equal only if a client sees no difference.
func readAll(t *testing.T, db *sql.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range cols {
		nullable, _ := c.Nullable()
		prec, scale, _ := c.DecimalSize()
		length, _ := c.Length()
		fmt.Fprintf(&b, "%s:%s:%v:%d,%d:%d ", c.Name(), c.DatabaseTypeName(), nullable, prec, scale, length)
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		b.WriteString("| ")
		for _, v := range vals {
			if v == nil {
				b.WriteString("NULL ")
			} else {
				fmt.Fprintf(&b, "%q ", []byte(v))
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func testPrepared(t *testing.T, gate *sql.DB) {
	// go-sql-driver prepares on the server unless interpolateParams is set.
	stmt, err := gate.Prepare("SELECT s, u FROM types WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	for i := 0; i < 3; i++ {
		var s string
		var u uint64
		if err := stmt.QueryRow(1).Scan(&s, &u); err != nil {
			t.Fatal(err)
		}
		if s != "ünïcødé €😀" || u != 18446744073709551615 {
			t.Fatalf("got %q %d", s, u)
		}
	}
	ins, err := gate.Prepare("INSERT INTO acct (id, balance) VALUES (?, ?), (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	res, err := ins.Exec(100, 10, 200, 20)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Fatalf("rows affected %d, want 2", n)
	}
	var sum int
	for _, id := range []int{100, 200} {
		var b int
		if err := gate.QueryRow("SELECT balance FROM acct WHERE id = ?", id).Scan(&b); err != nil {
			t.Fatal(err)
		}
		sum += b
	}
	if sum != 30 {
		t.Fatalf("balances sum to %d, want 30", sum)
	}
}

func mysqlErr(t *testing.T, err error, code uint16, state string) {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("got %v, want MySQL error %d", err, code)
	}
	if me.Number != code || string(me.SQLState[:]) != state {
		t.Fatalf("got %d (%s) %q, want %d (%s)", me.Number, me.SQLState, me.Message, code, state)
	}
}

func testErrors(t *testing.T, c *localcluster.Cluster, gate *sql.DB) {
	_, err := gate.Exec("SELEC 1")
	mysqlErr(t, err, 1064, "42000")
	_, err = gate.Query("SELECT id, ROW_NUMBER() OVER (ORDER BY balance) FROM acct")
	mysqlErr(t, err, 1235, "42000")
	_, err = gate.Query("SELECT * FROM no_such_table")
	mysqlErr(t, err, 1146, "42S02")
	_, err = gate.Exec("INSERT INTO acct (id, balance) VALUES (100, 1)")
	mysqlErr(t, err, 1062, "23000")
	_, err = gate.Exec("UPDATE acct SET id = 5 WHERE id = 100")
	mysqlErr(t, err, 1235, "42000")

	noDB := openDB(t, c.GateDSN(""))
	_, err = noDB.Query("SELECT * FROM types")
	mysqlErr(t, err, 1046, "3D000")
	_, err = sql.Open("mysql", c.GateDSN("nosuchks"))
	if err == nil {
		bad := openDB(t, c.GateDSN("nosuchks"))
		err = bad.Ping()
	}
	mysqlErr(t, err, 1049, "42000")
}

func testTransactions(t *testing.T, gate *sql.DB, shards map[string]*sql.DB, names []string) {
	ctx := context.Background()
	// Two ids on different shards.
	a, b := int64(1001), int64(1002)
	for shardOf(t, b, names) == shardOf(t, a, names) {
		b++
	}
	count := func(ids ...int64) int {
		n := 0
		for _, id := range ids {
			var x int
			err := gate.QueryRow("SELECT COUNT(*) FROM acct WHERE id = ?", id).Scan(&x)
			if err != nil {
				t.Fatal(err)
			}
			n += x
		}
		return n
	}

	tx, err := gate.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO acct (id, balance) VALUES (?, 1), (?, 2)", a, b); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := count(a, b); n != 0 {
		t.Fatalf("%d rows survived a rollback", n)
	}

	tx, err = gate.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO acct (id, balance) VALUES (?, 1), (?, 2)", a, b); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := count(a, b); n != 2 {
		t.Fatalf("%d rows after commit, want 2", n)
	}

	// An autocommit insert spanning shards is all or nothing: the
	// duplicate on one shard undoes the new row on the other.
	c := b + 1
	for shardOf(t, c, names) == shardOf(t, a, names) {
		c++
	}
	_, err = gate.Exec("INSERT INTO acct (id, balance) VALUES (?, 1), (?, 3)", a, c)
	mysqlErr(t, err, 1062, "23000")
	if n := count(c); n != 0 {
		t.Fatal("a multi-shard autocommit insert that failed on one shard left a row on another")
	}
}

func testReference(t *testing.T, gate *sql.DB, shards map[string]*sql.DB) {
	if _, err := gate.Exec("INSERT INTO ref (code, name) VALUES ('eu', 'Europe')"); err != nil {
		t.Fatal(err)
	}
	for shard, db := range shards {
		var name string
		if err := db.QueryRow("SELECT name FROM ref WHERE code = 'eu'").Scan(&name); err != nil || name != "Europe" {
			t.Fatalf("shard %s: reference row = %q, %v", shard, name, err)
		}
	}
}

func testGarbage(t *testing.T, c *localcluster.Cluster, gate *sql.DB) {
	conn, err := net.Dial("tcp", c.GateAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A handshake response that is nothing of the kind, then a packet
	// claiming 16 MB that never comes.
	_, _ = conn.Write([]byte{0x05, 0, 0, 1, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xff, 0xff, 0xff, 0x00, 1, 2})
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			break // the gate closed this connection (or timed out): fine
		}
	}
	var s string
	if err := gate.QueryRow("SELECT s FROM types WHERE id = 1").Scan(&s); err != nil {
		t.Fatalf("another connection failed after a garbage one: %v", err)
	}
}

func testSession(t *testing.T, c *localcluster.Cluster) {
	db := openDB(t, c.GateDSN(""))
	db.SetMaxOpenConns(1) // one session, so USE carries over
	var dbs []string
	rows, err := db.Query("SHOW DATABASES")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		_ = rows.Scan(&d)
		dbs = append(dbs, d)
	}
	rows.Close()
	if strings.Join(dbs, ",") != "ks,main" {
		t.Fatalf("SHOW DATABASES = %v, want ks, main", dbs)
	}
	// Vitess's cluster SHOW statements, answered by the gate.
	var shards []string
	rows, err = db.Query("SHOW VITESS_SHARDS LIKE 'ks/%'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var sh string
		_ = rows.Scan(&sh)
		shards = append(shards, sh)
	}
	rows.Close()
	if strings.Join(shards, ",") != "ks/-40,ks/40-80,ks/80-c0,ks/c0-" {
		t.Fatalf("SHOW VITESS_SHARDS LIKE 'ks/%%' = %v, want the four shards of ks", shards)
	}
	if _, err := db.Exec("USE `ks:-40`"); err != nil {
		t.Fatal(err)
	}
	// Targeted at one shard, a count is that shard's count.
	var onShard int
	if err := db.QueryRow("SELECT COUNT(*) FROM sbtest1").Scan(&onShard); err != nil {
		t.Fatal(err)
	}
	if onShard <= 0 || onShard >= 10000 {
		t.Fatalf("count on shard -40 = %d, want a part of 10000", onShard)
	}
	var comment string
	if err := db.QueryRow("SELECT @@version_comment").Scan(&comment); err != nil || comment == "" {
		t.Fatalf("@@version_comment = %q, %v", comment, err)
	}
	if _, err := db.Exec("USE main"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS anything (a INT PRIMARY KEY, b INT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO anything VALUES (1, 2), (2, 3)"); err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := db.QueryRow("SELECT SUM(b) FROM anything a JOIN anything b2 USING (a, b) WHERE a IN (SELECT a FROM anything)").Scan(&sum); err != nil || sum != 5 {
		t.Fatalf("unsharded keyspace must take any SQL: sum = %d, %v", sum, err)
	}
}

func testVExplain(t *testing.T, c *localcluster.Cluster, names []string) {
	db := openDB(t, c.GateDSN("ks"))
	db.SetMaxOpenConns(1) // one session, so SET carries over
	var plan string
	if err := db.QueryRow("VEXPLAIN PLAN SELECT COUNT(*) FROM acct").Scan(&plan); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "Merge aggregate") || !strings.Contains(plan, "Scatter") {
		t.Fatalf("VEXPLAIN PLAN = %q, want a merged scatter", plan)
	}
	rows, err := db.Query("VEXPLAIN QUERIES INSERT INTO acct (id, balance) VALUES (7001, 1), (7002, 2)")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var n int
		var ks, shard, query string
		if err := rows.Scan(&n, &ks, &shard, &query); err != nil {
			t.Fatal(err)
		}
		got[shard] += query
	}
	rows.Close()
	for _, id := range []int64{7001, 7002} {
		if q := got[shardOf(t, id, names)]; !strings.Contains(q, fmt.Sprint(id)) {
			t.Fatalf("VEXPLAIN QUERIES sends row %d to %v, want shard %s", id, got, shardOf(t, id, names))
		}
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM acct WHERE id IN (7001, 7002)").Scan(&n); err != nil || n != 0 {
		t.Fatalf("VEXPLAIN QUERIES must not run the statement: %d rows, %v", n, err)
	}
	if _, err := db.Exec("SET no_scatter = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Query("SELECT * FROM acct"); err == nil || !strings.Contains(err.Error(), "no_scatter") {
		t.Fatalf("a scatter with no_scatter set: %v", err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM acct WHERE id = 100").Scan(&n); err != nil {
		t.Fatalf("a single-shard read with no_scatter set: %v", err)
	}
}

func testSequences(t *testing.T, c *localcluster.Cluster, shards map[string]*sql.DB, names []string) {
	db := openDB(t, c.GateDSN("ks"))
	db.SetMaxOpenConns(1) // one session, for LAST_INSERT_ID()
	if _, err := db.Exec("INSERT INTO item (name) VALUES ('a'), ('b'), ('c'), ('d')"); err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec("INSERT INTO item (id, name) VALUES (NULL, 'e'), (1000, 'explicit'), (0, 'f'), (NULL, 'g')")
	if err != nil {
		t.Fatal(err)
	}
	first, err := res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	var lastID int64
	if err := db.QueryRow("SELECT LAST_INSERT_ID()").Scan(&lastID); err != nil || lastID != first {
		t.Fatalf("LAST_INSERT_ID() = %d (%v), want the statement's first generated id %d", lastID, err, first)
	}
	for i := 0; i < 3; i++ { // more blocks than the cache of 5 holds
		if _, err := db.Exec("INSERT INTO item (name) VALUES ('x')"); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int64]string{}
	for shard, sdb := range shards {
		rows, err := sdb.Query("SELECT id, name FROM item")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				t.Fatal(err)
			}
			if _, dup := seen[id]; dup {
				t.Fatalf("id %d generated twice", id)
			}
			seen[id] = name
			if want := shardOf(t, id, names); want != shard {
				t.Fatalf("item %d is on shard %s, its generated id routes to %s", id, shard, want)
			}
		}
		rows.Close()
	}
	if len(seen) != 11 || seen[1000] != "explicit" {
		t.Fatalf("items = %v, want 11 with the explicit id 1000 kept", seen)
	}
	for id, name := range seen {
		if id != 1000 && (id < 1 || id > 15) {
			t.Fatalf("generated id %d (%s) is not from the sequence's first blocks", id, name)
		}
	}
}

func testSessionVariables(t *testing.T, c *localcluster.Cluster) {
	db := openDB(t, c.GateDSN("ks"))
	db.SetMaxOpenConns(1) // one session
	if _, err := db.Exec("SET sql_mode = 'ANSI_QUOTES,STRICT_ALL_TABLES', time_zone = '+05:00'"); err != nil {
		t.Fatal(err)
	}
	var mode, zone string
	if err := db.QueryRow("SELECT @@sql_mode, @@time_zone").Scan(&mode, &zone); err != nil {
		t.Fatal(err)
	}
	if mode != "ANSI_QUOTES,STRICT_ALL_TABLES" || zone != "+05:00" {
		t.Fatalf("sql_mode %q time_zone %q: the session's settings did not reach the shard", mode, zone)
	}
	// ANSI_QUOTES makes "s" a column on every shard a scatter reaches.
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM types WHERE "s" IS NOT NULL`).Scan(&n); err != nil {
		t.Fatalf("a scatter under ANSI_QUOTES: %v", err)
	}
	_, err := db.Exec("SET no_such_variable = 1")
	mysqlErr(t, err, 1193, "HY000")
	_, err = db.Exec("SET sql_mode = 'NOT_A_MODE'")
	mysqlErr(t, err, 1231, "42000")
	if _, err := db.Exec("SET sql_mode = DEFAULT, time_zone = DEFAULT"); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT @@time_zone").Scan(&zone); err != nil || zone == "+05:00" {
		t.Fatalf("time_zone after DEFAULT = %q (%v)", zone, err)
	}
}

// testIsolation reads a row twice in one transaction while another session
// commits a change to it in between: REPEATABLE READ (the default) sees
// the old value twice, READ COMMITTED the new one.
func testIsolation(t *testing.T, c *localcluster.Cluster) {
	ctx := context.Background()
	writer := openDB(t, c.GateDSN("ks"))
	if _, err := writer.Exec("INSERT INTO acct (id, balance) VALUES (9001, 1)"); err != nil {
		t.Fatal(err)
	}
	secondRead := func(level string) int {
		db := openDB(t, c.GateDSN("ks"))
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if level != "" {
			if _, err := conn.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL "+level); err != nil {
				t.Fatal(err)
			}
		}
		var b int
		if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, "SELECT balance FROM acct WHERE id = 9001").Scan(&b); err != nil {
			t.Fatal(err)
		}
		if _, err := writer.Exec("UPDATE acct SET balance = balance + 1 WHERE id = 9001"); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, "SELECT balance FROM acct WHERE id = 9001").Scan(&b); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got := secondRead(""); got != 1 {
		t.Fatalf("REPEATABLE READ saw %d on the second read, want the first value 1", got)
	}
	if got := secondRead("READ COMMITTED"); got != 3 {
		t.Fatalf("READ COMMITTED saw %d on the second read, want the committed 3", got)
	}
}

// testReadOnlyTransactions: START TRANSACTION READ ONLY reads on every
// shard it reaches and has its writes refused there as MariaDB refuses
// them (1792, 25006); the next transaction of the session, on the same
// pooled shard connections, writes again.
func testReadOnlyTransactions(t *testing.T, c *localcluster.Cluster) {
	ctx := context.Background()
	db := openDB(t, c.GateDSN("ks"))
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustExecConn(t, conn, "START TRANSACTION READ ONLY")
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct").Scan(&n); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (9101, 1)")
	mysqlErr(t, err, 1792, "25006")
	mustExecConn(t, conn, "COMMIT")
	// In twopc mode each shard's part is an XA branch, begun read-only too.
	mustExecConn(t, conn, "SET transaction_mode = 'twopc'")
	mustExecConn(t, conn, "START TRANSACTION READ ONLY")
	_, err = conn.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (9101, 1)")
	mysqlErr(t, err, 1792, "25006")
	mustExecConn(t, conn, "ROLLBACK")
	// SET TRANSACTION READ ONLY: the next transaction only. Its reads on
	// every shard commit in one phase, twopc or not: nothing to prepare.
	mustExecConn(t, conn, "SET TRANSACTION READ ONLY")
	mustExecConn(t, conn, "BEGIN")
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct").Scan(&n); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(ctx, "UPDATE acct SET balance = balance WHERE id = 9101")
	mysqlErr(t, err, 1792, "25006")
	mustExecConn(t, conn, "COMMIT")
	mustExecConn(t, conn, "SET transaction_mode = 'multi'")
	mustExecConn(t, conn, "BEGIN")
	mustExecConn(t, conn, "INSERT INTO acct (id, balance) VALUES (9101, 1)")
	mustExecConn(t, conn, "COMMIT")
	if err := db.QueryRow("SELECT COUNT(*) FROM acct WHERE id = 9101").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the read-write transaction after a read-only one left %d rows (%v), want 1", n, err)
	}
}
