package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/localcluster"
)

const etcdDownVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {"acct": {"column_vindexes": [{"column": "id", "name": "hash"}]}}
}`

// etcdDownVSchemaLater adds table acct2: applied once etcd is back, the
// gate routes acct2 only if it follows the live topology again.
const etcdDownVSchemaLater = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "acct":  {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "acct2": {"column_vindexes": [{"column": "id", "name": "hash"}]}
  }
}`

// TestEtcdDown: with the topology store (embedded etcd) stopped, a
// two-phase commit across both shards fails within seconds with
// XA_RBROLLBACK saying the topology store is unreachable, and leaves no
// row and no prepared branch on either shard; a one-shard transaction
// still commits; a gate restarted while etcd is down serves the existing
// keyspace from its topology snapshot (never 1049); and once etcd is back
// the gate follows the live topology again (a vschema change made then is
// routed). Times are logged; the only bound asserted is a loose one on
// the failed commit.
func TestEtcdDown(t *testing.T) {
	c := startClusterWith(t, func(cfg *localcluster.Config) {
		cfg.Keyspaces = []localcluster.KeyspaceSpec{{Name: "ks", ShardCount: 2, VSchema: []byte(etcdDownVSchema),
			Schema: []byte("CREATE TABLE acct (id BIGINT PRIMARY KEY, balance INT NOT NULL) DEFAULT CHARSET=utf8mb4;")}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	tc := &twoPCCluster{c: c, shards: map[string]*sql.DB{}}
	for _, tab := range c.Tablets() {
		tc.shards[tab.Shard] = openDB(t, tab.MySQLDSN())
		tc.names = append(tc.names, tab.Shard)
	}
	snapshotFile := filepath.Join(c.DataDir(), "gate", "topology-snapshot.json")
	waitFor(t, 30*time.Second, "the gate's topology snapshot", func() error {
		_, err := os.Stat(snapshotFile)
		return err
	})
	if t.Failed() {
		t.FailNow()
	}
	if got := tc.gateMetric(t, `shardgate_topology_source{source="etcd"}`); got != 1 {
		t.Fatalf(`shardgate_topology_source{source="etcd"} = %v with etcd up, want 1`, got)
	}

	if err := c.StopEtcd(); err != nil {
		t.Fatal(err)
	}
	t.Log("etcd stopped")

	t.Run("TwoPCFailsFastAndRollsBack", func(t *testing.T) {
		conn := tc.session(t)
		ids := tc.idsPerShard(t, 100, 2)
		execAll(t, conn, "SET transaction_mode = 'twopc'", "BEGIN", insertSQL(ids[0]), insertSQL(ids[1]))
		start := time.Now()
		_, err := conn.ExecContext(ctx, "COMMIT")
		took := time.Since(start)
		t.Logf("the two-phase COMMIT with etcd down failed after %v: %v", took.Round(time.Millisecond), err)
		mysqlErr(t, err, 1402, "XA100")
		if !strings.Contains(err.Error(), "topology store (etcd) is unreachable") || !strings.Contains(err.Error(), "rolled back on every shard") {
			t.Fatalf("the error %q does not say that etcd is unreachable and the transaction rolled back", err)
		}
		if took > 15*time.Second {
			t.Fatalf("the COMMIT took %v to fail, want a few seconds", took)
		}
		if n := tc.rowsOnShards(t, ids); n != 0 {
			t.Fatalf("%d of the failed transaction's rows are on the shards", n)
		}
		if p := tc.prepared(t); len(p) != 0 {
			t.Fatalf("XA RECOVER on the shards: %v, want nothing prepared", p)
		}
	})

	t.Run("OneShardTransactionsCommit", func(t *testing.T) {
		conn := tc.session(t)
		ids := tc.idsPerShard(t, 200, 2)
		// transaction_mode twopc on one shard commits in one phase, and
		// the default mode never asks etcd.
		execAll(t, conn, "SET transaction_mode = 'twopc'", "BEGIN", insertSQL(ids[0]), "COMMIT")
		execAll(t, conn, "SET transaction_mode = 'multi'", "BEGIN", insertSQL(ids[1]), "COMMIT")
		if n := tc.rowsOnShards(t, ids); n != 2 {
			t.Fatalf("%d of 2 one-shard transactions' rows on the shards", n)
		}
	})

	t.Run("GateRestartedServesFromItsSnapshot", func(t *testing.T) {
		started := time.Now()
		// RestartGate's own readiness check asks etcd which shards serve,
		// so it cannot succeed while etcd is down: it runs bounded, beside
		// the reads that find when the gate serves.
		restarted := make(chan error, 1)
		go func() {
			rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
			defer rcancel()
			restarted <- c.RestartGate(rctx)
		}()
		db := openDB(t, c.GateDSN("ks"))
		var served time.Time
		for served.IsZero() {
			if time.Since(started) > 2*time.Minute {
				t.Fatal("the gate restarted while etcd is down did not serve within 2 minutes")
			}
			var n int
			qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
			err := db.QueryRowContext(qctx, "SELECT COUNT(*) FROM acct").Scan(&n)
			qcancel()
			var me *mysql.MySQLError
			if errors.As(err, &me) && me.Number == 1049 {
				t.Fatalf("the gate restarted while etcd is down answered 1049: %v", err)
			}
			if err == nil {
				served = time.Now()
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := <-restarted; err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("RestartGate: %v", err)
			}
			wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
			exitErr := c.WaitGateExit(wctx)
			wcancel()
			if !errors.Is(exitErr, context.DeadlineExceeded) {
				t.Fatalf("the gate restarted while etcd is down exited: %v", exitErr)
			}
		}
		t.Logf("the gate restarted while etcd is down served reads %v after its restart began", served.Sub(started).Round(time.Millisecond))
		if line := logLine(t, filepath.Join(c.DataDir(), "logs", "gate.log"), "serving the topology from the local snapshot"); line != "" {
			t.Logf("gate log: %s", line)
		} else {
			t.Error("the gate's log does not say it serves from its snapshot")
		}
		if got := tc.gateMetric(t, `shardgate_topology_source{source="snapshot"}`); got != 1 {
			t.Fatalf(`shardgate_topology_source{source="snapshot"} = %v, want 1`, got)
		}
		ids := tc.idsPerShard(t, 300, 2)
		if _, err := db.ExecContext(ctx, insertSQL(ids[0])); err != nil {
			t.Fatalf("a write through the gate started from its snapshot: %v", err)
		}
		var balance int
		if err := db.QueryRowContext(ctx, "SELECT balance FROM acct WHERE id = ?", ids[0]).Scan(&balance); err != nil {
			t.Fatalf("reading the row back: %v", err)
		}
		if n := tc.rowsOnShards(t, ids[:1]); n != 1 {
			t.Fatal("the write is not on its shard")
		}
	})

	t.Run("GateFollowsEtcdOnceItIsBack", func(t *testing.T) {
		for _, db := range tc.shards {
			if _, err := db.ExecContext(ctx, "CREATE TABLE acct2 (id BIGINT PRIMARY KEY) DEFAULT CHARSET=utf8mb4"); err != nil {
				t.Fatal(err)
			}
		}
		db := openDB(t, c.GateDSN("ks"))
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct2").Scan(&n); err == nil {
			t.Fatal("the gate routed acct2 before its vschema named it")
		}
		started := time.Now()
		if err := c.StartEtcd(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Minute, "the gate to read the topology from etcd", func() error {
			if got := tc.gateMetric(t, `shardgate_topology_source{source="etcd"}`); got != 1 {
				return fmt.Errorf(`shardgate_topology_source{source="etcd"} = %v`, got)
			}
			return nil
		})
		if t.Failed() {
			t.FailNow()
		}
		t.Logf("the gate read the topology from etcd %v after etcd was started again", time.Since(started).Round(time.Millisecond))
		if err := c.Topo().SaveVSchema(ctx, "ks", []byte(etcdDownVSchemaLater)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "the gate to route acct2", func() error {
			return db.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct2").Scan(&n)
		})
		if t.Failed() {
			t.FailNow()
		}
		// Two-phase commit works again.
		conn := tc.session(t)
		ids := tc.idsPerShard(t, 400, 2)
		execAll(t, conn, "SET transaction_mode = 'twopc'", "BEGIN", insertSQL(ids[0]), insertSQL(ids[1]), "COMMIT")
		if n := tc.rowsOnShards(t, ids); n != 2 {
			t.Fatalf("%d of 2 rows after a two-phase commit with etcd back", n)
		}
	})
}

// logLine returns the first line of the file containing text, "" if none.
func logLine(t *testing.T, path, text string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, text) {
			return line
		}
	}
	return ""
}
