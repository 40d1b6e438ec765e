package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/proto/replicationpb"
)

// TestDirectTransactions runs transactions through a gate whose tablets
// offer them on MariaDB directly (--direct-transactions): what commits is
// there, what rolls back is not (by ROLLBACK, a savepoint, a client that
// goes away, an idle timeout), the tablets see none of it, and a tablet
// that stops taking writes stops the gate's direct writes too.
func TestDirectTransactions(t *testing.T) {
	c := startClusterWith(t, func(cfg *localcluster.Config) {
		cfg.TabletArgs = append(cfg.TabletArgs, "--tx-idle-timeout", "2s")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := openDB(t, c.GateDSN("ks"))
	balance := func(id int) (int, bool) {
		t.Helper()
		var b int
		err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT balance FROM acct WHERE id = %d", id)).Scan(&b)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false
		}
		if err != nil {
			t.Fatal(err)
		}
		return b, true
	}
	exec := func(conn *sql.Conn, stmts ...string) {
		t.Helper()
		for _, stmt := range stmts {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	session := func() *sql.Conn {
		t.Helper()
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}
	// Every transaction may take a moment to be offered: the tablets'
	// first health messages carry the offer.
	waitDirectTransactions(t, c, db)

	t.Run("commit, across shards, without the tablets", func(t *testing.T) {
		conn := session()
		defer conn.Close()
		tabletsBefore, begunBefore := tabletTransactionCalls(t, c), directTransactions(t, c, "begun")
		exec(conn, "BEGIN")
		for id := 101; id <= 120; id++ { // about five on each shard
			exec(conn, fmt.Sprintf("INSERT INTO acct (id, balance) VALUES (%d, %d)", id, id))
		}
		exec(conn, "UPDATE acct SET balance = balance + 1 WHERE id = 101", "COMMIT")
		if d := directTransactions(t, c, "begun") - begunBefore; d != 4 {
			t.Errorf("shardgate_direct_transactions_total{result=begun} grew by %v for a transaction on 4 shards, want 4", d)
		}
		if d := tabletTransactionCalls(t, c) - tabletsBefore; d != 0 {
			t.Errorf("the tablets took %v transaction calls, want 0", d)
		}
		for id := 101; id <= 120; id++ {
			want := id
			if id == 101 {
				want++
			}
			if b, ok := balance(id); !ok || b != want {
				t.Errorf("row %d after COMMIT: %d (found %v), want %d", id, b, ok, want)
			}
		}
	})

	t.Run("rollback and savepoints", func(t *testing.T) {
		conn := session()
		defer conn.Close()
		exec(conn, "BEGIN", "INSERT INTO acct (id, balance) VALUES (201, 1)", "ROLLBACK")
		if _, ok := balance(201); ok {
			t.Error("row 201 is there after ROLLBACK")
		}
		exec(conn, "BEGIN", "INSERT INTO acct (id, balance) VALUES (202, 1)", "SAVEPOINT a",
			"INSERT INTO acct (id, balance) VALUES (203, 1)", "UPDATE acct SET balance = 5 WHERE id = 202",
			"ROLLBACK TO SAVEPOINT a", "COMMIT")
		if b, ok := balance(202); !ok || b != 1 {
			t.Errorf("row 202: %d (found %v), want 1: kept before the savepoint", b, ok)
		}
		if _, ok := balance(203); ok {
			t.Error("row 203 is there: it was rolled back to the savepoint")
		}
		// autocommit off: the next statement begins the transaction.
		exec(conn, "SET autocommit = 0", "INSERT INTO acct (id, balance) VALUES (204, 1)", "ROLLBACK", "SET autocommit = 1")
		if _, ok := balance(204); ok {
			t.Error("row 204 is there after ROLLBACK with autocommit off")
		}
	})

	t.Run("a client that goes away, an idle transaction", func(t *testing.T) {
		conn := session()
		exec(conn, "BEGIN", "INSERT INTO acct (id, balance) VALUES (301, 1)")
		if err := conn.Raw(func(dc any) error { return dc.(interface{ Close() error }).Close() }); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		time.Sleep(500 * time.Millisecond)
		if _, ok := balance(301); ok {
			t.Error("row 301 is there after its client went away mid-transaction")
		}

		conn = session()
		defer conn.Close()
		exec(conn, "BEGIN", "INSERT INTO acct (id, balance) VALUES (302, 1)")
		time.Sleep(3500 * time.Millisecond) // past --tx-idle-timeout 2s
		// The same row, so the same shard's part.
		_, err := conn.ExecContext(ctx, "UPDATE acct SET balance = 2 WHERE id = 302")
		if err == nil || !strings.Contains(err.Error(), "rolled back") {
			t.Errorf("a statement after the transaction idled out: %v, want an error saying it was rolled back", err)
		}
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		if _, ok := balance(302); ok {
			t.Error("row 302 is there: its transaction idled out")
		}
	})

	t.Run("a tablet that stops writes lets open ones finish, then fences MariaDB", func(t *testing.T) {
		tab := tabletOfRow(t, c, 401)
		gconn, err := grpc.NewClient(tab.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer gconn.Close()
		repl := replicationpb.NewReplicationClient(gconn)
		writer := fencedWriter(t, ctx, tab, "acct")
		conn := session()
		defer conn.Close()
		exec(conn, "BEGIN", "INSERT INTO acct (id, balance) VALUES (401, 1)")
		stopped := make(chan error, 1)
		go func() {
			_, err := repl.StopWrites(ctx, &replicationpb.StopWritesRequest{TimeoutMs: 10000})
			stopped <- err
		}()
		time.Sleep(300 * time.Millisecond)
		select {
		case err := <-stopped:
			t.Fatalf("StopWrites returned (%v) while a direct transaction was open on the shard", err)
		default:
		}
		exec(conn, "COMMIT") // it finishes, as it would through the tablet
		if err := <-stopped; err != nil {
			rows, qerr := openDB(t, tab.MySQLDSN()).QueryContext(ctx, "SELECT p.id, p.user, p.command, p.time, t.trx_state, t.trx_started, COALESCE(p.info, '') FROM information_schema.innodb_trx t JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id")
			if qerr == nil {
				for rows.Next() {
					var id, tm int64
					var user, command, state, started, info string
					_ = rows.Scan(&id, &user, &command, &tm, &state, &started, &info)
					t.Logf("open on %s: connection %d of %s (%s %ds), transaction %s since %s: %s", tab.Shard, id, user, command, tm, state, started, info)
				}
				rows.Close()
			}
			t.Fatalf("StopWrites after the direct transaction committed: %v", err)
		}
		if b, ok := balance(401); !ok || b != 1 {
			t.Errorf("row 401: %d (found %v), want 1: committed before writes stopped", b, ok)
		}
		checkServerFence(t, ctx, writer, "acct", true, "after StopWrites")
		if _, err := repl.ResumeWrites(ctx, &replicationpb.ResumeWritesRequest{}); err != nil {
			t.Fatal(err)
		}
		checkServerFence(t, ctx, writer, "acct", false, "after ResumeWrites")
		// Writes resume, directly again once the next health message
		// says so.
		waitDirectTransactions(t, c, db)
	})
}

// waitDirectTransactions waits until a one-row transaction through db
// runs directly on MariaDB.
func waitDirectTransactions(t *testing.T, c *localcluster.Cluster, db *sql.DB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		before := directTransactions(t, c, "committed")
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("UPDATE acct SET balance = balance WHERE id = ?", i); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if directTransactions(t, c, "committed") > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no transaction ran directly on MariaDB within 15 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tabletOfRow is the tablet whose shard holds acct's row id: the test
// writes the row through the gate, finds the shard's MariaDB that holds
// it, and deletes it again.
func tabletOfRow(t *testing.T, c *localcluster.Cluster, id int) localcluster.Tablet {
	t.Helper()
	db := openDB(t, c.GateDSN("ks"))
	if _, err := db.Exec(fmt.Sprintf("INSERT INTO acct (id, balance) VALUES (%d, 0)", id)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := db.Exec(fmt.Sprintf("DELETE FROM acct WHERE id = %d", id)); err != nil {
			t.Fatal(err)
		}
	}()
	for _, tab := range c.Tablets() {
		if tab.Keyspace != "ks" {
			continue
		}
		var n int
		if err := openDB(t, tab.MySQLDSN()).QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM acct WHERE id = %d", id)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			return tab
		}
	}
	t.Fatalf("no shard holds acct row %d", id)
	return localcluster.Tablet{}
}

// tabletTransactionCalls sums the tablets' begin, begin_execute, commit and
// rollback calls.
func tabletTransactionCalls(t *testing.T, c *localcluster.Cluster) float64 {
	t.Helper()
	var sum float64
	for _, tab := range c.Tablets() {
		page := httpGet(t, "http://"+tab.HTTPAddr+"/metrics")
		for _, call := range []string{"begin", "begin_execute", "commit", "rollback"} {
			if v := sample(page, fmt.Sprintf(`shardtablet_queries_total{call=%q,keyspace=%q,shard=%q}`, call, tab.Keyspace, tab.Shard)); v > 0 {
				sum += v
			}
		}
	}
	return sum
}

// directTransactions is the gate's shardgate_direct_transactions_total of
// result, summed over the shards.
func directTransactions(t *testing.T, c *localcluster.Cluster, result string) float64 {
	t.Helper()
	return gateShardCounter(t, c, "shardgate_direct_transactions_total", result)
}
