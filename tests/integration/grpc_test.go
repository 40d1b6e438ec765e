package integration

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/examples/commerce"
	"github.com/shardgate/shardgate/gateway/client"
	"github.com/shardgate/shardgate/internal/tlsconfig/tlstest"
	"github.com/shardgate/shardgate/localcluster"
)

// TestGRPCAPI runs the gRPC API's and the database/sql driver's
// end-to-end checks against one cluster. (TestDifferential runs the
// differential query set through the driver.)
func TestGRPCAPI(t *testing.T) {
	c := startCluster(t)
	shards := map[string]*sql.DB{}
	var names []string
	for _, tab := range c.Tablets() {
		if tab.Keyspace == "ks" {
			shards[tab.Shard] = openDB(t, tab.MySQLDSN())
			names = append(names, tab.Shard)
		}
	}
	t.Run("TypesMatchTheMySQLPort", func(t *testing.T) { testGRPCTypes(t, c) })
	t.Run("ParametersAreTyped", func(t *testing.T) { testGRPCParameters(t, c) })
	t.Run("Transactions", func(t *testing.T) { testGRPCTransactions(t, c, names) })
	t.Run("ReadOnlyTransactions", func(t *testing.T) { testGRPCReadOnly(t, c, names) })
	t.Run("TransactionSurvivesAGateRestart", func(t *testing.T) { testGRPCStateless(t, c, names) })
	t.Run("GoneTabletFailsTheTransactionClearly", func(t *testing.T) { testGRPCGoneTablet(t, c, names) })
	t.Run("Targets", func(t *testing.T) { testGRPCTargets(t, c, shards) })
	t.Run("SessionState", func(t *testing.T) { testGRPCSessionState(t, c, names) })
	t.Run("GoClientBatchAndStream", func(t *testing.T) { testGRPCClientAPI(t, c) })
	t.Run("CancelStopsAScatterQueryOnEveryShard", func(t *testing.T) {
		for _, workload := range []string{"oltp", "olap"} {
			t.Run(workload, func(t *testing.T) { testGRPCCancel(t, c, shards, names, workload) })
		}
	})
	t.Run("Authentication", func(t *testing.T) { testGRPCAuth(t, c) })
	// Last: it restarts the gate with TLS, then without.
	t.Run("TLS", func(t *testing.T) { testGRPCTLS(t, c) })
}

// grpcDSN is a DSN of the gate's gRPC port for target, with options.
func grpcDSN(c *localcluster.Cluster, target, options string) string {
	dsn := "shardgate://root@" + c.GateGRPCAddr() + "/" + target
	if options != "" {
		dsn += "?" + options
	}
	return dsn
}

func openDriver(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(client.DriverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newClient(t *testing.T, c *localcluster.Cluster, target string) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Address: c.GateGRPCAddr(), Target: target})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func mustExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) sql.Result {
	t.Helper()
	res, err := db.ExecContext(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

// sameAnswers expects the driver and go-sql-driver/mysql to see the same
// answers to queries, in every detail database/sql shows.
func sameAnswers(t *testing.T, drv, my querier, queries ...string) {
	t.Helper()
	for _, q := range queries {
		viaMySQL, viaDriver := detailedResultOf(t, my, nil, q, true), detailedResultOf(t, drv, nil, q, true)
		if viaDriver != viaMySQL {
			t.Errorf("%s\n gRPC driver: %s\n MySQL port:  %s", q, viaDriver, viaMySQL)
		}
	}
}

// testGRPCTypes reads every column type through both ports, with and
// without parseTime.
func testGRPCTypes(t *testing.T, c *localcluster.Cluster) {
	gate := openDB(t, c.GateDSN("ks"))
	mustExec(t, gate, `INSERT INTO types (id, i, u, d, f, s, b, dt, dd, t, ts, j, e, n, bl, tx) VALUES
		(7001, -7, 18446744073709551615, -12345.678901, 1.5e300, 'héllo ✓', x'00ff10', '2025-02-03 04:05:06.789012', '2025-02-03', '-838:59:59', '2025-02-03 04:05:06', '{"a": [1, 2]}', 'b', 42, x'0001', 'text'),
		(7002, NULL, 0, 0, -0.25, '', x'', '1000-01-01 00:00:00', '9999-12-31', '00:00:00.5', NULL, 'null', 'a', NULL, NULL, NULL),
		(7003, 2147483647, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	queries := []string{
		"SELECT * FROM types WHERE id BETWEEN 7001 AND 7003 ORDER BY id",
		"SELECT id, u + 0, d * 2, f / 3, CONCAT(s, '!'), LENGTH(b), DATE(dt), YEAR(dd), t, j->'$.a' FROM types WHERE id BETWEEN 7001 AND 7003 ORDER BY id",
		"SELECT COUNT(*), SUM(i), AVG(d), MIN(dt), MAX(s), GROUP_CONCAT(e ORDER BY id) FROM types WHERE id BETWEEN 7001 AND 7003",
		"SELECT 1, -1.5, 'x', NULL, CAST(1 AS UNSIGNED), CAST('2025-01-01' AS DATE), 2.5e0, X'FF'",
	}
	sameAnswers(t, openDriver(t, grpcDSN(c, "ks", "")), gate, queries...)
	sameAnswers(t, openDriver(t, grpcDSN(c, "ks", "parseTime=true&loc=Europe%2FBerlin")),
		openDB(t, c.GateDSN("ks")+"&parseTime=true&loc=Europe%2FBerlin"), queries...)
}

// testGRPCParameters writes the same values as parameters through both
// drivers and expects the same rows.
func testGRPCParameters(t *testing.T, c *localcluster.Cluster) {
	gate := openDB(t, c.GateDSN("ks"))
	drv := openDriver(t, grpcDSN(c, "ks", ""))
	when := time.Date(2025, 6, 7, 8, 9, 10, 123456000, time.UTC)
	insert := "INSERT INTO types (id, i, u, d, f, s, b, dt, dd, j, e, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	args := func(id int) []any {
		return []any{id, -5, uint64(1) << 62, "12.5", 1.25, "it's \"quoted\" \\ ü", []byte{0, 1, 255, '\''}, when, "2024-01-02", `{"k": "v"}`, "b", nil}
	}
	mustExec(t, gate, insert, args(7101)...)
	mustExec(t, drv, insert, args(7102)...)
	// A client-side prepared statement, executed repeatedly.
	stmt, err := drv.Prepare("SELECT i, u, d, f, s, b, dt, dd, j, e, n FROM types WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	for range 3 {
		var rows [2]string
		for i, id := range []int{7101, 7102} {
			r, err := stmt.Query(id)
			if err != nil {
				t.Fatal(err)
			}
			vals := make([]sql.RawBytes, 11)
			ptrs := make([]any, len(vals))
			for j := range vals {
				ptrs[j] = &vals[j]
			}
			if !r.Next() {
				t.Fatalf("row %d: not found (%v)", id, r.Err())
			}
			if err := r.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			rows[i] = fmt.Sprintf("%q", vals)
			r.Close()
		}
		if rows[0] != rows[1] {
			t.Fatalf("the row written through the driver differs from the one written through go-sql-driver:\n driver: %s\n mysql:  %s", rows[1], rows[0])
		}
	}
	// Named parameters.
	var n int
	if err := drv.QueryRow("SELECT COUNT(*) FROM types WHERE id IN (:a, :b) AND u = :u",
		sql.Named("a", 7101), sql.Named("b", 7102), sql.Named("u", uint64(1)<<62)).Scan(&n); err != nil || n != 2 {
		t.Fatalf("named parameters: %d rows, %v; want 2", n, err)
	}
	// The largest unsigned value, which database/sql's default conversion
	// refuses. (Through the MySQL port go-sql-driver cannot send it:
	// Vitess's listener reads an unsigned parameter of a prepared
	// statement as signed.)
	mustExec(t, drv, "INSERT INTO types (id, u) VALUES (?, ?)", 7103, uint64(math.MaxUint64))
	var u uint64
	if err := gate.QueryRow("SELECT u FROM types WHERE id = 7103").Scan(&u); err != nil || u != math.MaxUint64 {
		t.Fatalf("u = %d (%v), want %d", u, err, uint64(math.MaxUint64))
	}
	// A value that does not fit its type is refused, not sent.
	_, err = drv.Exec("SELECT ?", math.NaN())
	if err == nil {
		t.Fatal("NaN was accepted as a parameter")
	}
}

// testGRPCTransactions: commit, rollback and isolation through
// database/sql, and the session naming each shard's transaction and
// tablet.
func testGRPCTransactions(t *testing.T, c *localcluster.Cluster, names []string) {
	ctx := context.Background()
	gate := openDB(t, c.GateDSN("ks"))
	drv := openDriver(t, grpcDSN(c, "ks", ""))
	ids := idsOnEveryShard(t, 7200, names)
	count := func() int {
		var n int
		if err := gate.QueryRow("SELECT COUNT(*) FROM acct WHERE id BETWEEN 7200 AND 7299").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	tx, err := drv.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		mustExec(t, tx, "INSERT INTO acct (id, balance) VALUES (?, 1)", id)
	}
	if n := count(); n != 0 {
		t.Fatalf("another session sees %d uncommitted rows", n)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d rows after rollback", n)
	}
	tx, err = drv.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		mustExec(t, tx, "INSERT INTO acct (id, balance) VALUES (?, 1)", id)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != len(ids) {
		t.Fatalf("%d rows after commit, want %d", n, len(ids))
	}

	// Isolation: READ COMMITTED sees a commit made between two reads of
	// one transaction; the default (REPEATABLE READ) does not.
	secondRead := func(level sql.IsolationLevel) int {
		tx, err := drv.BeginTx(ctx, &sql.TxOptions{Isolation: level})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var b int
		if err := tx.QueryRow("SELECT balance FROM acct WHERE id = ?", ids[0]).Scan(&b); err != nil {
			t.Fatal(err)
		}
		mustExec(t, gate, "UPDATE acct SET balance = balance + 1 WHERE id = ?", ids[0])
		if err := tx.QueryRow("SELECT balance FROM acct WHERE id = ?", ids[0]).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got := secondRead(sql.LevelDefault); got != 1 {
		t.Fatalf("REPEATABLE READ saw %d on the second read, want the first value 1", got)
	}
	if got := secondRead(sql.LevelReadCommitted); got != 3 {
		t.Fatalf("READ COMMITTED saw %d on the second read, want the committed 3", got)
	}

	// The session names every shard's transaction and the tablet it is on.
	s := newClient(t, c, "ks").NewSession()
	if _, err := s.Execute(ctx, "begin", nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := s.Execute(ctx, "UPDATE acct SET balance = 10 WHERE id = :id", map[string]*vquerypb.BindVariable{"id": sqltypes.Int64BindVariable(id)}); err != nil {
			t.Fatal(err)
		}
	}
	pb := s.Proto()
	if !pb.InTransaction || len(pb.ShardSessions) != len(names) {
		t.Fatalf("session in a transaction on %d shards: %v", len(names), pb)
	}
	for _, ss := range pb.ShardSessions {
		tab, ok := c.Tablet(ss.Keyspace, ss.Shard)
		if !ok || ss.TabletAlias != tab.Alias || ss.TransactionId == 0 {
			t.Fatalf("shard session %v: want tablet %s and a transaction id", ss, tab.Alias)
		}
	}
	if _, err := s.Execute(ctx, "rollback", nil); err != nil {
		t.Fatal(err)
	}
	if pb := s.Proto(); pb.InTransaction || len(pb.ShardSessions) != 0 {
		t.Fatalf("session after rollback: %v", pb)
	}
}

// idsOnEveryShard returns one id from base up that the hash vindex puts
// on each shard.
func idsOnEveryShard(t *testing.T, base int64, names []string) []int64 {
	t.Helper()
	seen := map[string]bool{}
	var ids []int64
	for id := base; len(ids) < len(names); id++ {
		if shard := shardOf(t, id, names); !seen[shard] {
			seen[shard] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// testGRPCStateless: the gate keeps nothing between calls, so a
// transaction goes on across a restart of the gate.
func testGRPCStateless(t *testing.T, c *localcluster.Cluster, names []string) {
	ctx := context.Background()
	s := newClient(t, c, "ks").NewSession()
	ids := idsOnEveryShard(t, 7300, names)
	if _, err := s.Execute(ctx, "begin", nil); err != nil {
		t.Fatal(err)
	}
	insert := func(id int64) {
		t.Helper()
		if _, err := s.Execute(ctx, fmt.Sprintf("INSERT INTO acct (id, balance) VALUES (%d, 5)", id), nil); err != nil {
			t.Fatal(err)
		}
	}
	insert(ids[0])
	if err := c.RestartGate(ctx); err != nil {
		t.Fatal(err)
	}
	insert(ids[1])
	if _, err := s.Execute(ctx, "commit", nil); err != nil {
		t.Fatalf("commit after the gate restarted: %v", err)
	}
	var n int
	if err := openDB(t, c.GateDSN("ks")).QueryRow("SELECT COUNT(*) FROM acct WHERE id IN (?, ?)", ids[0], ids[1]).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d rows committed (%v), want both", n, err)
	}
}

// testGRPCGoneTablet: a session whose transaction was altered to name a
// tablet the gate does not know (or any other change to its transaction)
// is refused, because its signature no longer matches; the session as
// the gate issued it still ends its transaction. (A transaction whose
// tablet really left the topology fails on that shard naming the tablet:
// gateway's unit tests.)
func testGRPCGoneTablet(t *testing.T, c *localcluster.Cluster, names []string) {
	ctx := context.Background()
	cl := newClient(t, c, "ks")
	s := cl.NewSession()
	id := idsOnEveryShard(t, 7400, names)[0]
	if _, err := s.Execute(ctx, "begin", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Execute(ctx, fmt.Sprintf("INSERT INTO acct (id, balance) VALUES (%d, 1)", id), nil); err != nil {
		t.Fatal(err)
	}
	saved := s.Proto()
	saved.ShardSessions[0].TabletAlias = "zone1-999"
	gone := cl.ResumeSession(saved)
	_, err := gone.Execute(ctx, fmt.Sprintf("UPDATE acct SET balance = 2 WHERE id = %d", id), nil)
	var se *client.Error
	if !errors.As(err, &se) || se.Num != 1045 || !strings.Contains(se.Message, "signature of its transaction does not match") {
		t.Fatalf("statement in an altered session: %v; want error 1045 for the broken signature", err)
	}
	if _, err := s.Execute(ctx, "rollback", nil); err != nil {
		t.Fatalf("rollback of the session as issued: %v", err)
	}
	if s.InTransaction() {
		t.Fatal("still in a transaction after ROLLBACK")
	}
}

// testGRPCTargets: the DSN's target, USE, and errors for targets that do
// not exist.
func testGRPCTargets(t *testing.T, c *localcluster.Cluster, shards map[string]*sql.DB) {
	ctx := context.Background()
	gate := openDB(t, c.GateDSN("ks"))
	mustExec(t, gate, "INSERT INTO acct (id, balance) VALUES (7501, 1), (7502, 1), (7503, 1), (7504, 1), (7505, 1), (7506, 1)")
	countOn := func(db *sql.DB) int {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM acct").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for shard, direct := range shards {
		want := countOn(direct)
		if got := countOn(openDriver(t, grpcDSN(c, "ks:"+shard, ""))); got != want {
			t.Errorf("target ks:%s counts %d rows, the shard holds %d", shard, got, want)
		}
		// USE switches the session's target.
		conn, err := openDriver(t, grpcDSN(c, "ks", "")).Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, conn, "USE `ks:"+shard+"`")
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct").Scan(&n); err != nil || n != want {
			t.Errorf("after USE ks:%s: %d rows (%v), the shard holds %d", shard, n, err, want)
		}
		conn.Close()
	}
	// The DSN's target option adds the tablet type; the cluster has no
	// replicas.
	err := openDriver(t, grpcDSN(c, "ks", "target=@replica")).Ping()
	if err == nil || !strings.Contains(err.Error(), "replica") {
		t.Fatalf("a replica target without replicas: %v", err)
	}
	for dsn, want := range map[string]int{
		grpcDSN(c, "nosuch", ""): 1049,
		grpcDSN(c, "ks:-10", ""): 1049,
	} {
		err := openDriver(t, dsn).Ping()
		if code, _ := errorCode(err); code != want {
			t.Errorf("%s: %v, want error %d", dsn, err, want)
		}
	}
}

// testGRPCSessionState: what a session holds across statements travels
// with it: settings passed to the shards, no_scatter, the transaction
// mode, last insert id.
func testGRPCSessionState(t *testing.T, c *localcluster.Cluster, names []string) {
	ctx := context.Background()
	conn, err := openDriver(t, grpcDSN(c, "ks", "")).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustExec(t, conn, "SET sql_mode = 'ANSI_QUOTES', time_zone = '+05:00'")
	var mode, zone string
	if err := conn.QueryRowContext(ctx, "SELECT @@sql_mode, @@time_zone").Scan(&mode, &zone); err != nil || mode != "ANSI_QUOTES" || zone != "+05:00" {
		t.Fatalf("sql_mode %q, time_zone %q (%v): the session's settings did not reach the shard", mode, zone, err)
	}
	mustExec(t, conn, "SET sql_mode = DEFAULT, time_zone = DEFAULT")

	// User variables, warnings and ROW_COUNT() travel in the session.
	mustExec(t, conn, "SET @greeting = 'hi', @n = 41")
	var greeting string
	var n1 int64
	if err := conn.QueryRowContext(ctx, "SELECT @greeting, @n + 1").Scan(&greeting, &n1); err != nil || greeting != "hi" || n1 != 42 {
		t.Fatalf("SELECT @greeting, @n + 1 = %q, %d (%v): user variables did not survive the call", greeting, n1, err)
	}
	mustExec(t, conn, "SELECT CAST('x' AS SIGNED)")
	var level, message string
	var code int
	if err := conn.QueryRowContext(ctx, "SHOW WARNINGS").Scan(&level, &code, &message); err != nil || code != 1292 {
		t.Fatalf("SHOW WARNINGS in the next call: %s %d %q (%v), want 1292", level, code, message, err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT GET_LOCK('g', 0)"); err == nil || !strings.Contains(err.Error(), "gRPC") {
		t.Fatalf("GET_LOCK over gRPC: %v, want a refusal naming gRPC", err)
	}

	mustExec(t, conn, "SET no_scatter = 1")
	if _, err := conn.ExecContext(ctx, "SELECT COUNT(*) FROM acct"); err == nil || !strings.Contains(err.Error(), "no_scatter") {
		t.Fatalf("a scatter with no_scatter set: %v", err)
	}
	mustExec(t, conn, "SET no_scatter = 0")

	// Sequences fill item's id; LAST_INSERT_ID() is the session's.
	res := mustExec(t, conn, "INSERT INTO item (name) VALUES ('a')")
	id, err := res.LastInsertId()
	if err != nil || id <= 0 {
		t.Fatalf("LastInsertId = %d, %v", id, err)
	}
	var last int64
	if err := conn.QueryRowContext(ctx, "SELECT LAST_INSERT_ID()").Scan(&last); err != nil || last != id {
		t.Fatalf("LAST_INSERT_ID() = %d (%v), want %d", last, err, id)
	}

	// A two-phase commit across shards: its dtid travels in the session.
	mustExec(t, conn, "SET transaction_mode = 'twopc'")
	ids := idsOnEveryShard(t, 7600, names)
	mustExec(t, conn, "BEGIN")
	for _, id := range ids {
		mustExec(t, conn, "INSERT INTO acct (id, balance) VALUES (?, 1)", id)
	}
	mustExec(t, conn, "COMMIT")
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct WHERE id BETWEEN 7600 AND 7699").Scan(&n); err != nil || n != len(ids) {
		t.Fatalf("after a twopc commit: %d rows (%v), want %d", n, err, len(ids))
	}
	var txMode string
	if err := conn.QueryRowContext(ctx, "SELECT @@transaction_mode").Scan(&txMode); err != nil || txMode != "twopc" {
		t.Fatalf("@@transaction_mode = %q (%v)", txMode, err)
	}
}

// testGRPCClientAPI: the Go client's batch and stream calls.
func testGRPCClientAPI(t *testing.T, c *localcluster.Cluster) {
	ctx := context.Background()
	s := newClient(t, c, "ks").NewSession()
	results, err := s.ExecuteBatch(ctx, []client.BatchQuery{
		{SQL: "INSERT INTO acct (id, balance) VALUES (7701, 1), (7702, 2), (7703, 3)"},
		{SQL: "SELECT nonsense FROM"},
		{SQL: "SELECT balance FROM acct WHERE id = ?", BindVars: map[string]*vquerypb.BindVariable{"v1": sqltypes.Int64BindVariable(7702)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Err != nil || results[0].Result.RowsAffected != 3 {
		t.Fatalf("batch insert: %+v", results[0])
	}
	if code, _ := errorCode(results[1].Err); code != 1064 {
		t.Fatalf("batch syntax error: %v, want 1064", results[1].Err)
	}
	if results[2].Err != nil || len(results[2].Result.Rows) != 1 || results[2].Result.Rows[0][0].ToString() != "2" {
		t.Fatalf("batch select after a failed query: %+v", results[2])
	}

	stream, err := s.StreamExecute(ctx, "SELECT id, balance FROM acct WHERE id BETWEEN 7701 AND 7703", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if f := stream.Fields(); len(f) != 2 || f[0].Name != "id" || f[1].Type != sqltypes.Int32 {
		t.Fatalf("fields %v", f)
	}
	rows := 0
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows += len(r.Rows)
	}
	if rows != 3 {
		t.Fatalf("streamed %d rows, want 3", rows)
	}
}

// testGRPCCancel starts a scatter read that runs on every shard, cancels
// its context once every shard runs it, and expects it gone from every
// shard's process list (killed, not finished: long before its SLEEP ends).
// In OLTP the gate reads the shards' MariaDB directly (direct reads, which
// the gate kills itself), in OLAP through the tablets' streaming gRPC call
// (each shard's tablet counts a kill).
func testGRPCCancel(t *testing.T, c *localcluster.Cluster, shards map[string]*sql.DB, names []string, workload string) {
	gate := openDB(t, c.GateDSN("ks"))
	base := int64(7800)
	if workload == "olap" {
		base = 7900
	}
	for _, id := range idsOnEveryShard(t, base, names) {
		mustExec(t, gate, "INSERT INTO acct (id, balance) VALUES (?, ?)", id, -int(base))
	}
	killedBefore := tabletKills(t, c)
	// SLEEP(25) is below the tablets' 30 s statement timeout: a query that
	// ends without being cancelled is not killed.
	query := fmt.Sprintf("SELECT id, SLEEP(25) FROM acct WHERE balance = %d", -base)
	running := func(db *sql.DB) bool {
		t.Helper()
		rows, err := db.Query("SHOW FULL PROCESSLIST")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			if info := strings.ToLower(vals[7].String); strings.Contains(info, "sleep(25)") && strings.Contains(info, strconv.FormatInt(-base, 10)) {
				return true
			}
		}
		return false
	}
	waitAll := func(what string, want bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			pending := 0
			for _, shard := range names {
				if running(shards[shard]) != want {
					pending++
				}
			}
			if pending == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d shards still not there after a minute", what, pending)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	drv := openDriver(t, grpcDSN(c, "ks", "workload="+workload))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var queryErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		rows, err := drv.QueryContext(ctx, query)
		if err != nil {
			queryErr = err
			return
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
		}
		if queryErr = rows.Err(); queryErr == nil {
			queryErr = fmt.Errorf("the query returned %d rows instead of being cancelled", n)
		}
	})
	waitAll("the query to run on every shard", true)
	cancel()
	cancelled := time.Now()
	wg.Wait()
	if !errors.Is(queryErr, context.Canceled) {
		t.Fatalf("the cancelled query returned %v, want context.Canceled", queryErr)
	}
	waitAll("the query to be gone from every shard", false)
	if took := time.Since(cancelled); took > 15*time.Second {
		t.Fatalf("the query left the shards %v after the cancel: it ended on its own (SLEEP(25)), it was not killed", took)
	}
	if workload != "olap" {
		return
	}
	killedAfter := tabletKills(t, c)
	for _, shard := range names {
		tab, _ := c.Tablet("ks", shard)
		if killedAfter[tab.Alias] <= killedBefore[tab.Alias] {
			t.Errorf("tablet %s (shard %s) killed no statement: the query ended on its own", tab.Alias, shard)
		}
	}
}

// tabletKills reads each tablet's count of statements killed on MySQL.
func tabletKills(t *testing.T, c *localcluster.Cluster) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, tab := range c.Tablets() {
		resp, err := http.Get("http://" + tab.HTTPAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "shardtablet_queries_killed_total") {
				fields := strings.Fields(line)
				v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
				if err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				out[tab.Alias] = v
			}
		}
		resp.Body.Close()
	}
	return out
}

// testGRPCAuth: the gRPC port checks the same users as the MySQL port
// (here the default: root without a password, from loopback).
func testGRPCAuth(t *testing.T, c *localcluster.Cluster) {
	for _, dsn := range []string{
		"shardgate://root:wrong@" + c.GateGRPCAddr() + "/ks",
		"shardgate://nobody@" + c.GateGRPCAddr() + "/ks",
	} {
		err := openDriver(t, dsn).Ping()
		var se *client.Error
		if !errors.As(err, &se) || se.Num != 1045 || se.State != "28000" {
			t.Errorf("%s: %v, want access denied (1045, 28000)", dsn, err)
		}
	}
	if err := openDriver(t, grpcDSN(c, "ks", "")).Ping(); err != nil {
		t.Fatalf("root from loopback: %v", err)
	}
}

// testGRPCTLS restarts the gate with TLS on its gRPC port, requiring
// client certificates, then restores it.
func testGRPCTLS(t *testing.T, c *localcluster.Cluster) {
	ctx := context.Background()
	ca := tlstest.NewCA(t, "gate")
	server := ca.Server("gate")
	app := ca.Client("app")
	if err := c.RestartGate(ctx, "--grpc-cert", server.CertFile, "--grpc-key", server.KeyFile, "--grpc-client-ca", ca.File); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.RestartGate(context.Background()); err != nil {
			t.Errorf("restoring the gate: %v", err)
		}
	}()
	ok := grpcDSN(c, "ks", "tlsCA="+ca.File+"&tlsCert="+app.CertFile+"&tlsKey="+app.KeyFile)
	var n int
	if err := openDriver(t, ok).QueryRow("SELECT COUNT(*) FROM acct").Scan(&n); err != nil {
		t.Fatalf("over mutual TLS: %v", err)
	}
	other := tlstest.NewCA(t, "other")
	stranger := other.Client("stranger")
	for what, dsn := range map[string]string{
		"without TLS":                     grpcDSN(c, "ks", ""),
		"without a client certificate":    grpcDSN(c, "ks", "tlsCA="+ca.File),
		"not trusting the gate's CA":      grpcDSN(c, "ks", "tlsCA="+other.File+"&tlsCert="+app.CertFile+"&tlsKey="+app.KeyFile),
		"with a certificate of other CAs": grpcDSN(c, "ks", "tlsCA="+ca.File+"&tlsCert="+stranger.CertFile+"&tlsKey="+stranger.KeyFile),
	} {
		if err := openDriver(t, dsn).Ping(); err == nil {
			t.Errorf("a client %s was served", what)
		}
	}
	// The MySQL port is unaffected.
	if err := openDB(t, c.GateDSN("ks")).Ping(); err != nil {
		t.Fatal(err)
	}
}

// TestGoClientExample runs examples/go-client against a cluster of the
// example keyspace commerce, twice (it starts from scratch each time).
func TestGoClientExample(t *testing.T) {
	c := startClusterWith(t, func(cfg *localcluster.Config) {
		cfg.Keyspaces = []localcluster.KeyspaceSpec{{Name: commerce.Keyspace, ShardCount: 2, VSchema: commerce.VSchema, Schema: commerce.Schema}}
	})
	want := `order_id BIGINT  sku VARCHAR  price DECIMAL  
order 1: tea at 4.50
order 2: cup at 7.25
order 3: tea at 4.50
3 orders, 16.25 in total
customer 9001: c9001@example.com
customer 9002: c9002@example.com
customer 9003: c9003@example.com
customer 9004: c9004@example.com
`
	for range 2 {
		cmd := exec.Command("go", "run", "../../examples/go-client", "-dsn", grpcDSN(c, commerce.Keyspace, "timeout=5s"))
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != want {
			t.Fatalf("go-client: %v\n%s\nwant:\n%s", err, out, want)
		}
	}
}

// testGRPCReadOnly: BeginTx with ReadOnly reads everywhere and has its
// writes refused by the shards, with MariaDB's error; the session's next
// transaction writes.
func testGRPCReadOnly(t *testing.T, c *localcluster.Cluster, names []string) {
	ctx := context.Background()
	drv := openDriver(t, grpcDSN(c, "ks", ""))
	drv.SetMaxOpenConns(1) // one session: the next transaction follows the read-only one
	ids := idsOnEveryShard(t, 8200, names)
	tx, err := drv.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow("SELECT COUNT(*) FROM acct").Scan(&n); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec("INSERT INTO acct (id, balance) VALUES (?, 1)", ids[0])
	var se *client.Error
	if !errors.As(err, &se) || se.Num != 1792 || se.State != "25006" {
		t.Fatalf("a write in a read-only transaction: %v, want error 1792 (25006)", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	tx, err = drv.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		mustExec(t, tx, "INSERT INTO acct (id, balance) VALUES (?, 1)", id)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := drv.QueryRow("SELECT COUNT(*) FROM acct WHERE id BETWEEN 8200 AND 8299").Scan(&n); err != nil || n != len(ids) {
		t.Fatalf("%d rows after the read-write transaction (%v), want %d", n, err, len(ids))
	}
}
