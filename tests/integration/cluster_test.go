package integration

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver for gate and shards

	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// testVSchema shards every test table by hash of id, as a Vitess user
// would declare sysbench's tables.
const testVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "sbtest1": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "sbtest2": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "sbtest3": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "sbtest4": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "sbtest5": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "sbtest6": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "sbtest7": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "sbtest8": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "types":   {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "acct":    {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "ref":     {"type": "reference"},
    "item":    {"column_vindexes": [{"column": "id", "name": "hash"}],
                "auto_increment": {"column": "id", "sequence": "main.item_seq"}}
  }
}`

// mainVSchema declares the sequence that numbers ks.item.
const mainVSchema = `{"tables": {"item_seq": {"type": "sequence"}}}`

// mainSchema creates the sequence table in Vitess's format, with a small
// cache so that tests see several blocks reserved.
const mainSchema = `
CREATE TABLE item_seq (id INT PRIMARY KEY, next_id BIGINT NOT NULL, cache BIGINT NOT NULL);
INSERT INTO item_seq (id, next_id, cache) VALUES (0, 1, 5);
`

const testSchema = `
CREATE TABLE types (
  id BIGINT PRIMARY KEY,
  i INT, u BIGINT UNSIGNED, d DECIMAL(20,6), f DOUBLE,
  s VARCHAR(100), b VARBINARY(100), dt DATETIME(6), dd DATE, t TIME,
  ts TIMESTAMP NULL, j JSON, e ENUM('a','b'), n INT NULL, bl BLOB, tx TEXT
) DEFAULT CHARSET=utf8mb4;
CREATE TABLE acct (id BIGINT PRIMARY KEY, balance INT NOT NULL) DEFAULT CHARSET=utf8mb4;
CREATE TABLE ref (code VARCHAR(10) PRIMARY KEY, name VARCHAR(50)) DEFAULT CHARSET=utf8mb4;
CREATE TABLE item (id BIGINT PRIMARY KEY, name VARCHAR(20)) DEFAULT CHARSET=utf8mb4;
`

// startCluster brings up keyspace ks on four shards and an unsharded
// keyspace main, on free ports, and stops everything when the test ends.
func startCluster(t testing.TB) *localcluster.Cluster {
	return startClusterWith(t, nil)
}

// startClusterWith is startCluster with the configuration changed by
// change (when not nil) before the cluster starts.
func startClusterWith(t testing.TB, change func(*localcluster.Config)) *localcluster.Cluster {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	cfg := localcluster.Config{
		DataDir: t.TempDir(),
		BinDir:  binDir,
		Keyspaces: []localcluster.KeyspaceSpec{
			{Name: "ks", ShardCount: 4, VSchema: []byte(testVSchema), Schema: []byte(testSchema)},
			{Name: "main", VSchema: []byte(mainVSchema), Schema: []byte(mainSchema)},
		},
	}
	if change != nil {
		change(&cfg)
	}
	return localcluster.StartForTest(t, cfg)
}

func openDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// startMySQLD runs a mariadbd of the test's own on port, with a database
// ks, stopped and removed when the test ends.
func startMySQLD(t *testing.T, port int, serverID uint32) mysqld.Config {
	t.Helper()
	// os.MkdirTemp, not t.TempDir: a unix socket path must stay short.
	dir, err := os.MkdirTemp("", "sgdb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := mysqld.Config{DataDir: dir, Port: port, ServerID: serverID}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := mysqld.Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	proc, err := mysqld.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		_ = proc.Stop(sctx)
	})
	if _, err := openDB(t, cfg.DSN("")).Exec("CREATE DATABASE ks"); err != nil {
		t.Fatal(err)
	}
	return cfg
}
