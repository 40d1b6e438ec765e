package integration

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/proto/topopb"
)

// twoPCCluster is a four-shard cluster with direct connections to every
// shard's MariaDB, for checking what the shards hold.
type twoPCCluster struct {
	c      *localcluster.Cluster
	shards map[string]*sql.DB // keyspace ks, by shard
	names  []string
}

// TestTwoPhaseCommit checks transaction modes end to end, and that a
// two-phase commit stays atomic when its gate dies between PREPARE and
// COMMIT: the restarted gate rolls back or commits every shard by the
// decision record. Everything is checked on the shards themselves.
func TestTwoPhaseCommit(t *testing.T) {
	c := startCluster(t)
	tc := &twoPCCluster{c: c, shards: map[string]*sql.DB{}}
	for _, tab := range c.Tablets() {
		if tab.Keyspace == "ks" {
			tc.shards[tab.Shard] = openDB(t, tab.MySQLDSN())
			tc.names = append(tc.names, tab.Shard)
		}
	}
	sort.Strings(tc.names)

	t.Run("TransactionModeVariable", tc.testModeVariable)
	t.Run("SingleRefusesASecondShard", tc.testSingle)
	t.Run("TwoPCCommitsEveryShard", tc.testCommit)
	t.Run("TwoPCRollback", tc.testRollback)
	t.Run("FailedShardCommit", tc.testFailedShard)
	// The gate comes back under its own name and takes over at once.
	t.Run("GateDiesAfterPrepare", func(t *testing.T) { tc.testCrash(t, "after-prepare", false) })
	t.Run("OperatorResolvesByHand", tc.testOperatorResolves)
	// Another gate (another name) recovers once the dead gate's
	// registration has expired.
	t.Run("GateDiesAfterDecision", func(t *testing.T) { tc.testCrash(t, "after-decision", true) })
}

// session is one client connection to the gate in keyspace ks.
func (tc *twoPCCluster) session(t *testing.T) *sql.Conn {
	t.Helper()
	db := openDB(t, tc.c.GateDSN("ks"))
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func execAll(t *testing.T, conn *sql.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// idsPerShard returns one acct id from base up on each of the first n
// shards, in shard order.
func (tc *twoPCCluster) idsPerShard(t *testing.T, base int64, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	found := 0
	for id := base; found < n; id++ {
		shard := shardOf(t, id, tc.names)
		for i := range n {
			if tc.names[i] == shard && ids[i] == 0 {
				ids[i] = id
				found++
			}
		}
	}
	return ids
}

func insertSQL(id int64) string {
	return fmt.Sprintf("INSERT INTO acct (id, balance) VALUES (%d, 1)", id)
}

// rowsOnShards counts, on the shards directly, the acct rows of ids and
// checks that each row is on the shard the vindex names.
func (tc *twoPCCluster) rowsOnShards(t *testing.T, ids []int64) int {
	t.Helper()
	n := 0
	for _, id := range ids {
		var count int
		if err := tc.shards[shardOf(t, id, tc.names)].QueryRow("SELECT COUNT(*) FROM acct WHERE id = ?", id).Scan(&count); err != nil {
			t.Fatal(err)
		}
		n += count
	}
	return n
}

// prepared lists each shard's prepared XA transactions (XA RECOVER on its
// MariaDB), only for shards that have some.
func (tc *twoPCCluster) prepared(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for shard, db := range tc.shards {
		if xids := xaRecover(t, db); len(xids) > 0 {
			out[shard] = xids
		}
	}
	return out
}

func (tc *twoPCCluster) records(t *testing.T) []*topopb.TransactionRecord {
	t.Helper()
	txs, err := tc.c.Topo().ListTransactions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*topopb.TransactionRecord, len(txs))
	for i, tx := range txs {
		out[i] = tx.Record
	}
	return out
}

// checkNothingPending fails unless no shard holds a prepared transaction
// and no decision record is left.
func (tc *twoPCCluster) checkNothingPending(t *testing.T) {
	t.Helper()
	if p := tc.prepared(t); len(p) != 0 {
		t.Fatalf("XA RECOVER on the shards: %v, want nothing prepared", p)
	}
	if r := tc.records(t); len(r) != 0 {
		t.Fatalf("decision records left: %v", r)
	}
}

// gateMetric returns the value of a sample on the gate's /metrics, 0 when
// absent.
func (tc *twoPCCluster) gateMetric(t *testing.T, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(tc.c.Ports().GateHTTP) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func (tc *twoPCCluster) testModeVariable(t *testing.T) {
	conn := tc.session(t)
	mode := func() string {
		t.Helper()
		var m string
		if err := conn.QueryRowContext(context.Background(), "SELECT @@transaction_mode").Scan(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := mode(); m != "multi" {
		t.Fatalf("default @@transaction_mode = %q, want multi", m)
	}
	execAll(t, conn, "SET transaction_mode = 'twopc'")
	if m := mode(); m != "twopc" {
		t.Fatalf("@@transaction_mode = %q after SET, want twopc", m)
	}
	_, err := conn.ExecContext(context.Background(), "SET transaction_mode = 'xa'")
	mysqlErr(t, err, 1231, "42000")
	execAll(t, conn, "BEGIN", insertSQL(tc.idsPerShard(t, 2000, 1)[0]))
	_, err = conn.ExecContext(context.Background(), "SET transaction_mode = 'multi'")
	mysqlErr(t, err, 1568, "25001")
	execAll(t, conn, "ROLLBACK", "SET @@session.transaction_mode = 'multi'")
	if m := mode(); m != "multi" {
		t.Fatalf("@@transaction_mode = %q, want multi", m)
	}
}

func (tc *twoPCCluster) testSingle(t *testing.T) {
	conn := tc.session(t)
	ids := tc.idsPerShard(t, 3000, 2)
	execAll(t, conn, "SET transaction_mode = 'single'", "BEGIN", insertSQL(ids[0]))
	_, err := conn.ExecContext(context.Background(), insertSQL(ids[1]))
	mysqlErr(t, err, 1235, "42000")
	want := fmt.Sprintf("adding shard ks/%s to a transaction on ks/%s", tc.names[1], tc.names[0])
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	// The refused statement changed nothing; the transaction goes on.
	execAll(t, conn, "COMMIT")
	if n := tc.rowsOnShards(t, ids[:1]); n != 1 {
		t.Fatal("the first shard's row did not commit")
	}
	if n := tc.rowsOnShards(t, ids[1:]); n != 0 {
		t.Fatal("the refused row is on the second shard")
	}
	// A write that spans shards in autocommit is a transaction too.
	more := tc.idsPerShard(t, 3100, 2)
	_, err = conn.ExecContext(context.Background(), fmt.Sprintf("INSERT INTO acct (id, balance) VALUES (%d, 1), (%d, 1)", more[0], more[1]))
	mysqlErr(t, err, 1235, "42000")
	if n := tc.rowsOnShards(t, more); n != 0 {
		t.Fatal("a refused multi-shard insert left rows")
	}
}

func (tc *twoPCCluster) testCommit(t *testing.T) {
	conn := tc.session(t)
	before := tc.gateMetric(t, "shardgate_twopc_commits_total")
	ids := tc.idsPerShard(t, 4000, 4)
	execAll(t, conn, "SET transaction_mode = 'twopc'", "BEGIN")
	for _, id := range ids {
		execAll(t, conn, insertSQL(id))
	}
	execAll(t, conn, "COMMIT")
	if n := tc.rowsOnShards(t, ids); n != 4 {
		t.Fatalf("%d of 4 rows on the shards after a twopc commit", n)
	}
	// A multi-shard autocommit write commits in two phases as well.
	more := tc.idsPerShard(t, 4100, 4)
	execAll(t, conn, fmt.Sprintf("INSERT INTO acct (id, balance) VALUES (%d, 1), (%d, 1), (%d, 1), (%d, 1)", more[0], more[1], more[2], more[3]))
	if n := tc.rowsOnShards(t, more); n != 4 {
		t.Fatalf("%d of 4 rows on the shards after a twopc autocommit insert", n)
	}
	// A twopc transaction on one shard commits in one phase.
	one := tc.idsPerShard(t, 4200, 1)
	execAll(t, conn, "BEGIN", insertSQL(one[0]), "COMMIT")
	if n := tc.rowsOnShards(t, one); n != 1 {
		t.Fatal("the one-shard twopc transaction did not commit")
	}
	tc.checkNothingPending(t)
	if got := tc.gateMetric(t, "shardgate_twopc_commits_total"); got != before+2 {
		t.Fatalf("shardgate_twopc_commits_total went from %v to %v, want +2", before, got)
	}
}

func (tc *twoPCCluster) testRollback(t *testing.T) {
	conn := tc.session(t)
	ids := tc.idsPerShard(t, 5000, 4)
	execAll(t, conn, "SET transaction_mode = 'twopc'", "BEGIN")
	for _, id := range ids {
		execAll(t, conn, insertSQL(id))
	}
	execAll(t, conn, "ROLLBACK")
	if n := tc.rowsOnShards(t, ids); n != 0 {
		t.Fatalf("%d rows on the shards after ROLLBACK", n)
	}
	tc.checkNothingPending(t)
}

// killShardTransaction kills, on a shard's MariaDB, the connection of the
// one transaction open there: the tablet loses that shard's part.
func (tc *twoPCCluster) killShardTransaction(t *testing.T, shard string) {
	t.Helper()
	killOnlyTransaction(t, tc.shards[shard])
}

// testFailedShard loses one shard's part of a transaction before COMMIT.
// In multi mode the other shard commits and the error says so; in twopc
// mode the prepare fails and nothing commits anywhere.
func (tc *twoPCCluster) testFailedShard(t *testing.T) {
	t.Run("MultiReportsAPartialCommit", func(t *testing.T) {
		conn := tc.session(t)
		ids := tc.idsPerShard(t, 6000, 2)
		execAll(t, conn, "BEGIN", insertSQL(ids[0]), insertSQL(ids[1]))
		tc.killShardTransaction(t, tc.names[1])
		_, err := conn.ExecContext(context.Background(), "COMMIT")
		mysqlErr(t, err, 1105, "HY000")
		if want := "PARTIAL COMMIT: committed on ks/" + tc.names[0] + ", but commit failed on shard ks/" + tc.names[1]; !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
		if tc.rowsOnShards(t, ids[:1]) != 1 || tc.rowsOnShards(t, ids[1:]) != 0 {
			t.Fatal("the rows are not as the partial commit error says")
		}
	})
	t.Run("TwoPCRollsBackEveryShard", func(t *testing.T) {
		conn := tc.session(t)
		before := tc.gateMetric(t, "shardgate_twopc_rollbacks_total")
		ids := tc.idsPerShard(t, 6100, 2)
		execAll(t, conn, "SET transaction_mode = 'twopc'", "BEGIN", insertSQL(ids[0]), insertSQL(ids[1]))
		tc.killShardTransaction(t, tc.names[1])
		_, err := conn.ExecContext(context.Background(), "COMMIT")
		mysqlErr(t, err, 1402, "XA100")
		if want := "prepare of distributed transaction"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "ks/"+tc.names[1]) ||
			!strings.Contains(err.Error(), "rolled back on every shard") {
			t.Fatalf("error %q does not say %q on shard ks/%s, and that every shard rolled back", err, want, tc.names[1])
		}
		if n := tc.rowsOnShards(t, ids); n != 0 {
			t.Fatalf("%d rows on the shards after a failed prepare", n)
		}
		tc.checkNothingPending(t)
		if got := tc.gateMetric(t, "shardgate_twopc_rollbacks_total"); got != before+1 {
			t.Fatalf("shardgate_twopc_rollbacks_total went from %v to %v, want +1", before, got)
		}
	})
}

// testCrash runs a twopc transaction on every shard through a gate that
// kills itself at point, then starts a gate again (under another name when
// otherGate) and checks that its recovery finished the transaction as the
// record says.
func (tc *twoPCCluster) testCrash(t *testing.T, point string, otherGate bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := int64(7000)
	if point == "after-decision" {
		base = 8000
	}
	ids := tc.idsPerShard(t, base, 4)
	tc.crashGate(t, point, ids)

	// A new gate process finishes the transaction by the record.
	var args []string
	if otherGate {
		tc.waitNoGateRegistered(t)
		args = append(args, "--gate-name=another-gate")
	}
	if err := tc.c.RestartGate(ctx, args...); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(tc.records(t)) > 0 || len(tc.prepared(t)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not recovered after a minute: records %v, prepared %v", tc.records(t), tc.prepared(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
	want, decision := 0, "rollback"
	if point == "after-decision" {
		want, decision = 4, "commit"
	}
	if n := tc.rowsOnShards(t, ids); n != want {
		t.Fatalf("%d of the 4 rows on the shards after recovery, want %d", n, want)
	}
	if got := tc.gateMetric(t, `shardgate_twopc_recovered_total{decision="`+decision+`"}`); got != 1 {
		t.Fatalf("the restarted gate's shardgate_twopc_recovered_total{decision=%q} = %v, want 1", decision, got)
	}
}

// testOperatorResolves has an operator commit by hand, with shardctl, a
// transaction whose gate died after every shard prepared.
func (tc *twoPCCluster) testOperatorResolves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ids := tc.idsPerShard(t, 9000, 4)
	dtid := tc.crashGate(t, "after-prepare", ids)
	topoArgs := []string{"--topo", tc.c.TopoAddr(), "--topo-root", tc.c.TopoRoot()}
	out, err := shardctl(t, time.Minute, append([]string{"transaction", "list"}, topoArgs...)...)
	if err != nil || !regexp.MustCompile(regexp.QuoteMeta(dtid)+`\s+PREPARE\s`).MatchString(out) {
		t.Fatalf("shardctl transaction list: %v\n%s\nwant %s in PREPARE", err, out, dtid)
	}
	out, err = shardctl(t, time.Minute, append([]string{"transaction", "resolve", dtid, "--commit"}, topoArgs...)...)
	if err != nil || !strings.Contains(out, "committed on every shard") {
		t.Fatalf("shardctl transaction resolve --commit: %v\n%s", err, out)
	}
	if n := tc.rowsOnShards(t, ids); n != 4 {
		t.Fatalf("%d of 4 rows on the shards after the operator committed", n)
	}
	tc.checkNothingPending(t)
	if err := tc.c.RestartGate(ctx); err != nil {
		t.Fatal(err)
	}
}

// crashGate runs a twopc transaction writing ids (one per shard) through a
// gate that kills itself at point, checks what is left while the gate is
// dead, and returns the transaction's dtid.
func (tc *twoPCCluster) crashGate(t *testing.T, point string, ids []int64) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before := tc.gateIDs(t)
	if err := tc.c.RestartGate(ctx, "--twopc-crash-point="+point); err != nil {
		t.Fatal(err)
	}
	conn := tc.session(t)
	execAll(t, conn, "SET transaction_mode = 'twopc'", "BEGIN")
	for _, id := range ids {
		execAll(t, conn, insertSQL(id))
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err == nil {
		t.Fatal("COMMIT succeeded through a gate that was to die in it")
	}
	if err := tc.c.WaitGateExit(ctx); err == nil {
		t.Fatal("the gate exited cleanly, want it killed")
	}

	// The gate is gone: its registration lasts until its lease expires,
	// and the record and the prepared branches remain.
	var dead []string
	for id := range tc.gateIDs(t) {
		if !before[id] {
			dead = append(dead, id)
		}
	}
	if len(dead) != 1 {
		t.Fatalf("gates registered since the crashing gate started: %v, want it alone, still registered until its lease expires", dead)
	}
	recs := tc.records(t)
	wantState := topopb.TransactionRecord_PREPARE
	if point == "after-decision" {
		wantState = topopb.TransactionRecord_COMMIT
	}
	if len(recs) != 1 || recs[0].State != wantState || len(recs[0].Participants) != 4 {
		t.Fatalf("decision records with the gate dead: %v, want one in %v naming 4 shards", recs, wantState)
	}
	dtid := recs[0].Dtid
	prepared := tc.prepared(t)
	for _, shard := range tc.names {
		if len(prepared[shard]) != 1 || prepared[shard][0] != dtid {
			t.Fatalf("XA RECOVER on the shards: %v, want %s prepared on every shard", prepared, dtid)
		}
	}
	tc.checkPreparedRowsLocked(t, ids[0])
	return dtid
}

func (tc *twoPCCluster) gateIDs(t *testing.T) map[string]bool {
	t.Helper()
	gates, err := tc.c.Topo().ListGates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, g := range gates {
		ids[g.Id] = true
	}
	return ids
}

// waitNoGateRegistered waits for the registration of a gate that was
// killed to expire with its lease.
func (tc *twoPCCluster) waitNoGateRegistered(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		gates, err := tc.c.Topo().ListGates(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(gates) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead gate is still registered after a minute: %v", gates)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkPreparedRowsLocked shows what a client of a shard sees of a row a
// prepared, undecided transaction wrote: a plain read does not see it (the
// transaction has not committed), and a locking read or a write waits for
// the row lock until innodb_lock_wait_timeout, then fails with 1205.
func (tc *twoPCCluster) checkPreparedRowsLocked(t *testing.T, id int64) {
	t.Helper()
	ctx := context.Background()
	conn, err := tc.shards[shardOf(t, id, tc.names)].Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct WHERE id = ?", id).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a plain read of a prepared row: %d rows, %v; want 0 (not committed)", n, err)
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 1"); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(ctx, "UPDATE acct SET balance = 2 WHERE id = ?", id)
	mysqlErr(t, err, 1205, "HY000")
}
