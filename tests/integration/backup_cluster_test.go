package integration

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

const backupVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "acct": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "hist": {"column_vindexes": [{"column": "id", "name": "hash"}]}
  }
}`

const backupSchema = `
CREATE TABLE acct (id BIGINT PRIMARY KEY, balance INT NOT NULL, note VARCHAR(50)) DEFAULT CHARSET=utf8mb4;
CREATE TABLE hist (id BIGINT PRIMARY KEY, acct_id BIGINT NOT NULL, amount INT NOT NULL) DEFAULT CHARSET=utf8mb4;
`

// backupKeyspaces is the cluster the backup tests run: ks on two shards
// with tables acct and hist.
var backupKeyspaces = []localcluster.KeyspaceSpec{{Name: "ks", ShardCount: 2, VSchema: []byte(backupVSchema), Schema: []byte(backupSchema)}}

// shardChecksums is CHECKSUM TABLE of acct and hist on every shard, read
// on the shards' servers directly.
func shardChecksums(t *testing.T, c *localcluster.Cluster) map[string]map[string]int64 {
	t.Helper()
	out := map[string]map[string]int64{}
	for _, tb := range c.Tablets() {
		db := openDB(t, tb.MySQLDSN())
		out[tb.Shard] = checksums(t, db, "ks", "acct", "hist")
		db.Close()
	}
	return out
}

func insertRows(t *testing.T, gate *sql.DB, table string, from, to int, row func(i int) string) {
	t.Helper()
	for start := from; start <= to; start += 500 {
		var vals []string
		for i := start; i <= min(to, start+499); i++ {
			vals = append(vals, row(i))
		}
		execEach(t, gate, "INSERT INTO "+table+" VALUES "+strings.Join(vals, ","))
	}
}

// waitServes waits until the gate reaches the shard again (a tablet
// serves again a moment after a restore in place, once gates have its
// health).
func waitServes(t *testing.T, gate *sql.DB, shard string) {
	t.Helper()
	conn, err := gate.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustExecConn(t, conn, "USE `ks:"+shard+"`")
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := conn.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM acct").Scan(&n)
		if err == nil {
			mustExecConn(t, conn, "USE ks")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gate does not reach shard %s: %v", shard, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustExecConn(t *testing.T, conn *sql.Conn, stmt string) {
	t.Helper()
	if _, err := conn.ExecContext(context.Background(), stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func runShardctl(t *testing.T, c *localcluster.Cluster, args ...string) string {
	t.Helper()
	out, err := shardctl(t, 5*time.Minute, append([]string{"--topo", c.TopoAddr()}, args...)...)
	if err != nil {
		t.Fatalf("shardctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestBackupRestoreCluster backs a two-shard keyspace up to an S3 server
// with shardctl, writes more, and restores: one shard to a moment between
// the two into a side database, one table of the other shard in place to
// that moment, a whole shard in place to the latest archived moment; then
// a tablet whose data directory is wiped restores itself and rejoins. Every
// restored table's checksum equals the original's at the moment restored
// to.
func TestBackupRestoreCluster(t *testing.T) {
	s3 := startS3(t, "shardgate")
	c := startClusterWith(t, func(cfg *localcluster.Config) {
		cfg.Keyspaces = backupKeyspaces
		cfg.BackupStorage = s3.URL("shardgate", "cluster")
		cfg.TabletEnv = s3.Env()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	gate := openDB(t, c.GateDSN("ks"))

	insertRows(t, gate, "acct", 1, 2000, func(i int) string { return fmt.Sprintf("(%d, %d, 'n%d')", i, i*10, i) })
	insertRows(t, gate, "hist", 1, 1000, func(i int) string { return fmt.Sprintf("(%d, %d, %d)", i, i%2000+1, i) })
	backupSums := shardChecksums(t, c)
	out := runShardctl(t, c, "backup", "create", "ks")
	if strings.Count(out, "backup 2") != 2 {
		t.Fatalf("backup create ks: want one backup per shard:\n%s", out)
	}

	execEach(t, gate, "UPDATE acct SET balance = balance + 1 WHERE id <= 500")
	insertRows(t, gate, "hist", 1001, 1500, func(i int) string { return fmt.Sprintf("(%d, %d, %d)", i, i%2000+1, -i) })
	at := time.Now()
	atSums := shardChecksums(t, c)
	sleepPastSecond(at)
	execEach(t, gate, "DELETE FROM hist WHERE id <= 200")
	insertRows(t, gate, "acct", 2001, 2500, func(i int) string { return fmt.Sprintf("(%d, %d, NULL)", i, i) })
	latestSums := shardChecksums(t, c)
	runShardctl(t, c, "backup", "archive-binlogs", "ks")
	// Every table of every shard differs between the three moments, so a
	// restore that stops in the wrong place cannot pass.
	for shard := range latestSums {
		for _, table := range []string{"acct", "hist"} {
			b, a, l := backupSums[shard][table], atSums[shard][table], latestSums[shard][table]
			if b == a || a == l || b == l {
				t.Fatalf("shard %s table %s: checksums at the backup %d, the moment %d and the latest %d are not all different", shard, table, b, a, l)
			}
		}
	}

	out = runShardctl(t, c, "backup", "list", "ks")
	if !strings.Contains(out, "archived binlogs: ") || strings.Contains(out, "archived binlogs: none") || strings.Contains(out, "incomplete") {
		t.Fatalf("backup list:\n%s", out)
	}
	out = runShardctl(t, c, "backup", "verify", "ks/-80")
	if !strings.Contains(out, "backup verified: 2 tables") {
		t.Fatalf("backup verify:\n%s", out)
	}

	// Shard -80 to the moment between the writes, into a side database.
	atArg := at.UTC().Format(time.RFC3339Nano)
	runShardctl(t, c, "backup", "restore", "ks/-80", "--to-time", atArg, "--into-database", "pit")
	low, _ := c.Tablet("ks", "-80")
	lowDB := openDB(t, low.MySQLDSN())
	sameChecksums(t, "-80 at the moment, side database", checksums(t, lowDB, "pit", "acct", "hist"), atSums["-80"])

	// One table of shard 80-, in place, to that moment; the other table
	// stays as it is.
	runShardctl(t, c, "backup", "restore", "ks/80-", "--tables", "hist", "--to-time", atArg)
	high, _ := c.Tablet("ks", "80-")
	highDB := openDB(t, high.MySQLDSN())
	got := checksums(t, highDB, "ks", "acct", "hist")
	if got["hist"] != atSums["80-"]["hist"] || got["acct"] != latestSums["80-"]["acct"] {
		t.Fatalf("80- after restoring hist alone: %v; want hist %d (the moment), acct %d (untouched)", got, atSums["80-"]["hist"], latestSums["80-"]["acct"])
	}

	// Shard -80 whole, in place, to the latest moment, after losing rows
	// outside the binlog (the restore archives the binlog first, so a
	// loss through it would be restored too).
	execUnlogged(t, lowDB, "DELETE FROM acct WHERE id % 3 = 0", "DROP TABLE hist")
	if out, err := shardctl(t, time.Minute, "--topo", c.TopoAddr(), "backup", "restore", "ks/-80", "--to-latest"); err == nil {
		t.Fatalf("a whole-shard restore without --yes ran:\n%s", out)
	}
	runShardctl(t, c, "backup", "restore", "ks/-80", "--to-latest", "--yes")
	sameChecksums(t, "-80 at the latest, in place", checksums(t, lowDB, "ks", "acct", "hist"), latestSums["-80"])
	waitServes(t, gate, "-80")

	// Shard 80- loses its disk: its tablet restores the latest backup and
	// archived binlogs by itself and rejoins. (The table restored in place
	// above changed the shard outside its binlog: back it up again first,
	// as a point-in-time restore cannot replay across that.)
	runShardctl(t, c, "backup", "create", "ks/80-")
	insertRows(t, gate, "hist", 5001, 5100, func(i int) string { return fmt.Sprintf("(%d, 1, %d)", i, i) })
	runShardctl(t, c, "backup", "archive-binlogs", "ks/80-")
	before := checksums(t, highDB, "ks", "acct", "hist")
	var count int
	if err := gate.QueryRow("SELECT COUNT(*) FROM hist").Scan(&count); err != nil {
		t.Fatal(err)
	}
	highDB.Close()
	// The store is down when the tablet starts on its empty disk: its
	// restore fails, and it does not serve (an empty shard) meanwhile.
	s3.Stop()
	if err := c.WipeTablet(ctx, high.Alias); err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	err := c.StartTablet(sctx, high.Alias)
	scancel()
	if err == nil {
		t.Fatal("a tablet whose data is gone served although its backup store is down")
	}
	if status := httpGet(t, "http://"+high.HTTPAddr+"/debug/status"); !strings.Contains(status, "restore pending: the restore of a new server") {
		t.Fatalf("status of the tablet waiting for its store:\n%s", status)
	}
	// The tablet dies before its restore succeeds; its new server, already
	// initialized, keeps running. Started again, it restores: it must not
	// take the running server for a restored one.
	if err := c.StopTablet(high.Alias); err != nil {
		t.Fatal(err)
	}
	if _, ok := mysqld.Running(high.MySQL.DataDir); !ok {
		t.Fatal("the new server stopped with its tablet")
	}
	if err := s3.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTablet(ctx, high.Alias); err != nil {
		t.Fatal(err)
	}
	highDB = openDB(t, high.MySQLDSN())
	sameChecksums(t, "80- restored by its tablet", checksums(t, highDB, "ks", "acct", "hist"), before)
	var after int
	if err := gate.QueryRow("SELECT COUNT(*) FROM hist").Scan(&after); err != nil || after != count {
		t.Fatalf("rows of hist through the gate after the auto-restore: %d (%v), want %d", after, err, count)
	}
	// The shard takes writes again, and its GTIDs go on from the restored
	// history.
	execEach(t, gate, "INSERT INTO hist VALUES (9001, 1, 1), (9002, 2, 2), (9003, 3, 3), (9004, 4, 4)")
	runShardctl(t, c, "backup", "archive-binlogs", "ks/80-")

	out = runShardctl(t, c, "backup", "prune", "ks/80-", "--keep", "1")
	if !strings.Contains(out, "deleted 1 backups") {
		t.Fatalf("prune --keep 1:\n%s", out)
	}
	out = runShardctl(t, c, "backup", "list", "ks/80-")
	if n := strings.Count(out, "  logical  "); n != 1 {
		t.Fatalf("after prune --keep 1, %d backups are listed:\n%s", n, out)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(body)
}
