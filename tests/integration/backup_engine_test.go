package integration

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backup"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// backupTypesSchema covers the column types a logical backup must carry
// exactly: NULL and empty strings, binary bytes (tabs, newlines, NULs,
// backslashes), unicode, decimals, floats, times, JSON, BIT, ENUM, SET,
// spatial, generated columns, and a table without a primary key.
const backupTypesSchema = `
CREATE TABLE types (
  id BIGINT PRIMARY KEY,
  i INT, u BIGINT UNSIGNED, d DECIMAL(20,6), f DOUBLE, fl FLOAT,
  s VARCHAR(100), b VARBINARY(100), dt DATETIME(6), dd DATE, t TIME(3),
  ts TIMESTAMP NULL, j JSON, e ENUM('a','b'), st SET('x','y','z'), bits BIT(10),
  g POINT NULL, bl BLOB, tx TEXT,
  gen INT AS (i * 2) VIRTUAL
) DEFAULT CHARSET=utf8mb4;
CREATE TABLE nopk (a INT, b VARCHAR(10)) DEFAULT CHARSET=latin1;
CREATE TABLE empty_table (id INT PRIMARY KEY);
CREATE VIEW v_types AS SELECT id, s FROM types;
INSERT INTO types (id, i, u, d, f, fl, s, b, dt, dd, t, ts, j, e, st, bits, g, bl, tx) VALUES
  (1, -5, 18446744073709551615, -12345.678901, 1.0000000000000002, 3.25, 'héllo 世界 🚀', X'00090A0D5C4E', '2026-11-30 08:45:12.123456', '1000-01-01', '-838:59:59.000',
   '2038-01-19 03:14:07', '{"a": [1, "x\\ty"]}', 'b', 'x,z', b'1010101010', ST_GeomFromText('POINT(1.5 -2)'), X'FF00FF', 'line1\nline2\ttab\\back'),
  (2, NULL, NULL, NULL, NULL, NULL, '', X'', NULL, NULL, NULL, NULL, NULL, NULL, '', NULL, NULL, '', ''),
  (3, 0, 0, 0, -0.5e-300, -1e30, '\\N', X'5C4E', '2000-02-29 00:00:00', '2000-02-29', '00:00:00', NULL, 'null', 'a', 'y', b'0', NULL, NULL, 'NULL');
INSERT INTO nopk VALUES (1, 'a'), (1, 'a'), (NULL, NULL), (2, 'caf\xe9');
`

// startBackupMySQLD runs a mariadbd with database ks and returns its
// config and a direct connection.
func startBackupMySQLD(t *testing.T) (mysqld.Config, *sql.DB) {
	t.Helper()
	base, err := localcluster.FreeBasePort(localcluster.Config{Keyspaces: []localcluster.KeyspaceSpec{{Name: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := startMySQLD(t, base+2100, 1)
	db := openDB(t, cfg.DSN("ks")+"&multiStatements=true")
	return cfg, db
}

func newEngine(t *testing.T, cfg mysqld.Config, storage string, mutate func(*backup.Config)) *backup.Engine {
	t.Helper()
	bcfg := backup.Defaults()
	bcfg.Alias, bcfg.Keyspace, bcfg.Shard, bcfg.Database = "zone1-1", "ks", "0", "ks"
	bcfg.Storage = storage
	bcfg.StateDir = t.TempDir()
	bcfg.MySQL = backup.MySQL{Socket: cfg.SocketPath(), User: "root"}
	bcfg.ChunkBytes = 4 << 10 // several chunks per table in tests
	bcfg.ArchiveInterval = 0  // tests archive when they choose
	if mutate != nil {
		mutate(&bcfg)
	}
	e, err := backup.New(context.Background(), bcfg, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// checksums returns CHECKSUM TABLE of each table of database db: MariaDB's
// own checksum, independent of the backup's.
func checksums(t *testing.T, db *sql.DB, database string, tables ...string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, table := range tables {
		var name string
		var sum sql.NullInt64
		if err := db.QueryRow(fmt.Sprintf("CHECKSUM TABLE `%s`.`%s`", database, table)).Scan(&name, &sum); err != nil {
			t.Fatalf("CHECKSUM TABLE %s.%s: %v", database, table, err)
		}
		if !sum.Valid {
			t.Fatalf("CHECKSUM TABLE %s.%s: the table does not exist", database, table)
		}
		out[table] = sum.Int64
	}
	return out
}

func sameChecksums(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	for table, w := range want {
		if got[table] != w {
			t.Errorf("%s: table %s has checksum %d, want %d", what, table, got[table], w)
		}
	}
}

func TestBackupEngineRoundTripsEveryColumnType(t *testing.T) {
	cfg, db := startBackupMySQLD(t)
	if _, err := db.Exec(backupTypesSchema); err != nil {
		t.Fatal(err)
	}
	// Enough rows for several chunks.
	if _, err := db.Exec(`INSERT INTO types (id, s, b, j) SELECT seq + 100, REPEAT('x', seq % 90), UNHEX(REPEAT('0A09', seq % 40)), JSON_OBJECT('n', seq) FROM seq_1_to_500`); err != nil {
		t.Fatal(err)
	}
	want := checksums(t, db, "ks", "types", "nopk", "empty_table")
	e := newEngine(t, cfg, "file://"+t.TempDir(), nil)
	ctx := context.Background()

	var reports []*backuppb.Progress
	m, err := e.Backup(ctx, "logical", func(p *backuppb.Progress) { reports = append(reports, p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tables) != 3 || len(m.Views) != 1 || m.GtidPosition == "" || m.Rows != 503+4 {
		t.Fatalf("manifest: %d tables, %d views, position %q, %d rows", len(m.Tables), len(m.Views), m.GtidPosition, m.Rows)
	}
	for _, tb := range m.Tables {
		if tb.Name == "types" && len(tb.Chunks) < 3 {
			t.Errorf("types: %d chunks, want several at 4 KiB", len(tb.Chunks))
		}
	}

	res, err := e.Verify(ctx, m.Name, nil)
	if err != nil {
		t.Fatalf("verify: %v (%v)", err, res)
	}
	if !res.Ok || len(res.Tables) != 3 {
		t.Fatalf("verify: %v", res)
	}

	// Restore into a side database and compare with MariaDB's checksums.
	if err := e.Restore(ctx, &backuppb.RestoreRequest{IntoDatabase: "side"}, nil); err != nil {
		t.Fatal(err)
	}
	sameChecksums(t, "side database", checksums(t, db, "side", "types", "nopk", "empty_table"), want)
	t.Logf("checksums %v, manifest rows %d, chunks of types %d", want, m.Rows, len(m.Tables[2].Chunks))

	// Wreck the shard, then restore it whole in place.
	if _, err := db.Exec("DROP TABLE nopk; DELETE FROM types WHERE id < 3; CREATE TABLE extra (x INT)"); err != nil {
		t.Fatal(err)
	}
	if err := e.Restore(ctx, &backuppb.RestoreRequest{}, nil); err != nil {
		t.Fatal(err)
	}
	sameChecksums(t, "in place", checksums(t, db, "ks", "types", "nopk", "empty_table"), want)
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'ks' AND TABLE_NAME = 'extra'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a table made after the backup survives a whole-shard restore: %d, %v", n, err)
	}
	var gen int
	if err := db.QueryRow("SELECT gen FROM v_types JOIN types USING (id) WHERE id = 1").Scan(&gen); err != nil || gen != -10 {
		t.Fatalf("view and generated column after restore: %d, %v", gen, err)
	}
	if len(reports) == 0 && time.Duration(m.FinishedUnixNanos-m.StartedUnixNanos) > 2*time.Second {
		t.Error("no progress was reported during a backup that took more than a second")
	}
}
