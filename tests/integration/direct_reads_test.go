package integration

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/localcluster"
)

// TestDirectReads: with direct reads on (the local cluster's default), a
// plain read goes from the gate to the shard's MariaDB as the read-only
// user, without its tablet, and the client sees what the tablet would
// give it: rows, warnings, the row limit, KILL QUERY. Writes still go
// through the tablets, the read-only user cannot write, and a read
// MariaDB refuses that user, or a MariaDB the gate cannot log in to,
// goes through the tablet instead. (Transactions stay on the tablets
// here, so that the user may only read: TestDirectTransactions runs
// them directly.)
func TestDirectReads(t *testing.T) {
	c := startClusterWith(t, func(cfg *localcluster.Config) {
		cfg.TabletArgs = append(cfg.TabletArgs, "--max-rows", "50")
		cfg.TabletTransactions = true
	})
	db := openDB(t, c.GateDSN("ks"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var shards []*sql.DB // root on each shard's MariaDB
	for _, tab := range c.Tablets() {
		shards = append(shards, openDB(t, tab.MySQLDSN()))
	}

	// 200 rows: about 50 per shard, more than the row limit on some.
	var values []string
	for i := 1; i <= 200; i++ {
		values = append(values, fmt.Sprintf("(%d, %d)", i, i*10))
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES "+strings.Join(values, ", ")); err != nil {
		t.Fatal(err)
	}

	t.Run("point reads skip the tablets", func(t *testing.T) {
		// Twice at most: the gate's schema refresh (once a minute) runs a
		// statement on tablets of its own, which a round may catch.
		for round := 1; ; round++ {
			tabletsBefore, directBefore := tabletExecutes(t, c), directReads(t, c, "ok")
			for id := 1; id <= 20; id++ {
				var balance int
				// As text, not prepared: a prepare asks a tablet for the
				// statement's columns.
				if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT balance FROM acct WHERE id = %d", id)).Scan(&balance); err != nil {
					t.Fatal(err)
				}
				if balance != id*10 {
					t.Fatalf("balance of %d: %d, want %d", id, balance, id*10)
				}
			}
			if d := directReads(t, c, "ok") - directBefore; d != 20 {
				t.Fatalf("shardgate_direct_reads_total{result=ok} grew by %v for 20 point reads, want 20", d)
			}
			d := tabletExecutes(t, c) - tabletsBefore
			if d == 0 {
				break
			}
			if round == 2 {
				t.Fatalf("the tablets ran %v statements for 20 point reads; want 0 (direct reads)", d)
			}
		}
		before := tabletExecutes(t, c)
		if _, err := db.ExecContext(ctx, "UPDATE acct SET balance = balance + 1 WHERE id = 1"); err != nil {
			t.Fatal(err)
		}
		if d := tabletExecutes(t, c) - before; d != 1 {
			t.Errorf("an autocommit UPDATE reached %v tablets, want 1: writes go through the tablet", d)
		}
	})

	t.Run("the read-only user cannot write", func(t *testing.T) {
		password, err := os.ReadFile(c.DirectReadPasswordFile())
		if err != nil {
			t.Fatal(err)
		}
		for _, tab := range c.Tablets() {
			if tab.Keyspace != "ks" {
				continue
			}
			cfg := mysql.NewConfig()
			cfg.User, cfg.Passwd = localcluster.DirectReadUser, strings.TrimSpace(string(password))
			cfg.Net, cfg.Addr, cfg.DBName = "tcp", fmt.Sprintf("127.0.0.1:%d", tab.MySQLPort()), tab.Keyspace
			reader := openDB(t, cfg.FormatDSN())
			var n int
			if err := reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct").Scan(&n); err != nil {
				t.Fatalf("%s: the read-only user cannot read: %v", tab.Alias, err)
			}
			_, err := reader.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (100000, 1)")
			mysqlErr(t, err, 1142, "42000")
		}
	})

	t.Run("warnings", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var v sql.NullString
		if err := conn.QueryRowContext(ctx, "SELECT balance / 0 FROM acct WHERE id = 2").Scan(&v); err != nil {
			t.Fatal(err)
		}
		var level, message string
		var code int
		if err := conn.QueryRowContext(ctx, "SHOW WARNINGS").Scan(&level, &code, &message); err != nil {
			t.Fatal(err)
		}
		if v.Valid || code != 1365 || message != "Division by 0" {
			t.Errorf("SELECT balance / 0: %v, then SHOW WARNINGS %s %d %q; want NULL and Warning 1365 \"Division by 0\"", v, level, code, message)
		}
	})

	t.Run("row limit", func(t *testing.T) {
		_, err := db.QueryContext(ctx, "SELECT id FROM acct")
		if err == nil || !strings.Contains(err.Error(), "row limit exceeded") || !strings.Contains(err.Error(), "more than 50 rows") {
			t.Fatalf("a read of 200 rows over 4 shards with --max-rows 50: %v; want the row limit's error", err)
		}
	})

	t.Run("KILL QUERY", func(t *testing.T) {
		victim, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer victim.Close()
		var id int64
		if err := victim.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		before := directReads(t, c, "error")
		errc := make(chan error, 1)
		go func() {
			_, err := victim.ExecContext(ctx, "SELECT SLEEP(60) FROM acct WHERE id = 3")
			errc <- err
		}()
		waitProcess(t, ctx, shards, localcluster.DirectReadUser, "SLEEP(60)", true)
		if _, err := db.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", id)); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			mysqlErr(t, err, 1317, "70100")
		case <-ctx.Done():
			t.Fatal("KILL QUERY did not stop a direct read")
		}
		waitProcess(t, ctx, shards, localcluster.DirectReadUser, "SLEEP(60)", false)
		if d := directReads(t, c, "error") - before; d != 1 {
			t.Errorf("shardgate_direct_reads_total{result=error} grew by %v for the killed read, want 1", d)
		}
	})

	t.Run("what the read-only user may not run goes through the tablet", func(t *testing.T) {
		for _, shard := range shards {
			if _, err := shard.ExecContext(ctx, "CREATE FUNCTION answer() RETURNS INT DETERMINISTIC RETURN 42"); err != nil {
				t.Fatal(err)
			}
		}
		before := directReads(t, c, "fallback")
		var v int
		if err := db.QueryRowContext(ctx, "SELECT answer() FROM acct WHERE id = 4").Scan(&v); err != nil {
			t.Fatalf("a stored function the read-only user may not execute: %v", err)
		}
		if v != 42 {
			t.Errorf("answer() = %d, want 42", v)
		}
		if d := directReads(t, c, "fallback") - before; d != 1 {
			t.Errorf("shardgate_direct_reads_total{result=fallback} grew by %v, want 1", d)
		}
	})

	t.Run("a MariaDB the gate cannot log in to is read through its tablet", func(t *testing.T) {
		for _, shard := range shards {
			if _, err := shard.ExecContext(ctx, "ALTER USER "+localcluster.DirectReadUser+"@'%' IDENTIFIED BY 'not-the-gates'"); err != nil {
				t.Fatal(err)
			}
			rows, err := shard.QueryContext(ctx, "SELECT id FROM information_schema.processlist WHERE user = ?", localcluster.DirectReadUser)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			rows.Close()
			for _, id := range ids {
				if _, err := shard.ExecContext(ctx, fmt.Sprintf("KILL %d", id)); err != nil {
					t.Fatal(err)
				}
			}
		}
		before := directReads(t, c, "fallback")
		for id := 1; id <= 20; id++ {
			var balance int
			if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT balance FROM acct WHERE id = %d", id)).Scan(&balance); err != nil {
				t.Fatalf("read %d after the gate lost its login: %v", id, err)
			}
		}
		if d := directReads(t, c, "fallback") - before; d != 20 {
			t.Errorf("shardgate_direct_reads_total{result=fallback} grew by %v for 20 reads the gate could not log in for, want 20", d)
		}
	})
}

// tabletExecutes is the sum of the tablets' executed statements.
func tabletExecutes(t *testing.T, c *localcluster.Cluster) float64 {
	t.Helper()
	var sum float64
	for _, tab := range c.Tablets() {
		page := httpGet(t, "http://"+tab.HTTPAddr+"/metrics")
		if v := sample(page, fmt.Sprintf(`shardtablet_queries_total{call="execute",keyspace=%q,shard=%q}`, tab.Keyspace, tab.Shard)); v > 0 {
			sum += v
		}
	}
	return sum
}

// directReads is the gate's shardgate_direct_reads_total of result, summed
// over the shards.
func directReads(t *testing.T, c *localcluster.Cluster, result string) float64 {
	t.Helper()
	return gateShardCounter(t, c, "shardgate_direct_reads_total", result)
}

// gateShardCounter is the gate's counter name{keyspace,result,shard} of
// result, summed over the shards.
func gateShardCounter(t *testing.T, c *localcluster.Cluster, name, result string) float64 {
	t.Helper()
	page := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", c.Ports().GateHTTP))
	var sum float64
	for _, tab := range c.Tablets() {
		if v := sample(page, fmt.Sprintf(`%s{keyspace=%q,result=%q,shard=%q}`, name, tab.Keyspace, result, tab.Shard)); v > 0 {
			sum += v
		}
	}
	return sum
}

// waitProcess waits until one of the shards' MariaDB runs (or, with running
// false, no longer runs) a statement of user containing text.
func waitProcess(t *testing.T, ctx context.Context, shards []*sql.DB, user, text string, running bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		for _, shard := range shards {
			var k int
			err := shard.QueryRowContext(ctx,
				"SELECT COUNT(*) FROM information_schema.processlist WHERE user = ? AND info LIKE ?", user, "%"+text+"%").Scan(&k)
			if err != nil {
				t.Fatal(err)
			}
			n += k
		}
		if n > 0 == running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s, %d statements of %s with %q run on the shards", n, user, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
