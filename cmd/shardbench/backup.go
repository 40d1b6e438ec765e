package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/control/backup"
	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/proto/backuppb"
)

// The backup benchmark loads one shard with sysbench's tables (about 1 GB
// of rows by default), then times, on the same data and the same machine:
// a Shardgate logical backup to a file:// store and a restore of it into
// another database, and mydumper and myloader (Debian's packages) with
// the same number of threads. Throughput is the shard's row data (the
// backup's uncompressed size) over the time taken, so the four figures
// compare directly.

type backupOptions struct {
	binDir  string
	tables  int
	rows    int // per table
	threads int
}

type timing struct {
	name    string
	took    time.Duration
	stored  int64
	comment string
}

func runBackupBench(o backupOptions) error {
	for _, tool := range []string{"sysbench", "mydumper", "myloader"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: install it with `make deps`", tool)
		}
	}
	bin, err := filepath.Abs(o.binDir)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sgbackupbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := localcluster.Config{
		DataDir:   filepath.Join(dir, "cluster"),
		BinDir:    bin,
		Keyspaces: []localcluster.KeyspaceSpec{{Name: "sbtest"}},
		// Archiving would copy the load's binlogs while the backup runs.
		TabletArgs: []string{"--binlog-archive-interval=0", "--backup-workers=" + strconv.Itoa(o.threads)},
	}
	if cfg.BasePort, err = localcluster.FreeBasePort(cfg); err != nil {
		return err
	}
	ctx := context.Background()
	uctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	c, err := localcluster.Up(uctx, cfg, zap.NewNop())
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	tablet := c.Tablets()[0]

	fmt.Printf("\nbackup and restore of one shard: loading %d sysbench tables x %d rows...\n", o.tables, o.rows)
	began := time.Now()
	load := exec.Command("sysbench", "oltp_read_write", "--mysql-socket="+tablet.MySQLSocket(), "--mysql-user=root",
		"--mysql-db=sbtest", "--tables="+strconv.Itoa(o.tables), "--table-size="+strconv.Itoa(o.rows),
		"--threads="+strconv.Itoa(min(o.tables, 4)), "prepare")
	if out, err := load.CombinedOutput(); err != nil {
		return fmt.Errorf("sysbench prepare: %v\n%s", err, out)
	}
	fmt.Printf("loaded in %s\n", time.Since(began).Round(time.Second))
	var onDisk int64
	if out, err := mysqlQuery(tablet.MySQLSocket(), "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'sbtest'"); err == nil {
		onDisk, _ = strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	}

	ref := backup.ShardRef{Keyspace: "sbtest", Shard: "0"}
	var results []timing
	// The backups run twice, interleaved with mydumper's, and the faster
	// of each pair is kept: a shared machine's drift hits both alike.
	var m *backuppb.Manifest
	best := map[string]timing{}
	keep := func(t timing) {
		if b, ok := best[t.name]; !ok || t.took < b.took {
			best[t.name] = t
		}
	}
	dumpDir := filepath.Join(dir, "mydumper")
	for i := 0; i < 2; i++ {
		began = time.Now()
		bm, err := backup.Backup(ctx, c.Topo(), ref, "", "logical", nil)
		if err != nil {
			return err
		}
		m = bm
		keep(timing{"shardgate backup (logical, zstd)", time.Since(began), bm.StoredBytes, "to file://, best of 2"})

		_ = os.RemoveAll(dumpDir)
		began = time.Now()
		dump := exec.Command("mydumper", "--socket="+tablet.MySQLSocket(), "--user=root", "--database=sbtest",
			"--outputdir="+dumpDir, "--threads="+strconv.Itoa(o.threads), "--rows=500000")
		if out, err := dump.CombinedOutput(); err != nil {
			return fmt.Errorf("mydumper: %v\n%s", err, out)
		}
		keep(timing{"mydumper", time.Since(began), dirSize(dumpDir), "uncompressed SQL, best of 2"})
	}
	results = append(results, best["shardgate backup (logical, zstd)"], best["mydumper"])

	began = time.Now()
	if err := backup.Restore(ctx, c.Topo(), ref, "", &backuppb.RestoreRequest{Backup: m.Name, IntoDatabase: "sg_restored"}, nil); err != nil {
		return err
	}
	results = append(results, timing{"shardgate restore", time.Since(began), 0, "into another database"})

	began = time.Now()
	loadBack := exec.Command("myloader", "--socket="+tablet.MySQLSocket(), "--user=root", "--directory="+dumpDir,
		"--database=my_restored", "--threads="+strconv.Itoa(o.threads), "--overwrite-tables")
	if out, err := loadBack.CombinedOutput(); err != nil {
		return fmt.Errorf("myloader: %v\n%s", err, out)
	}
	results = append(results, timing{"myloader", time.Since(began), 0, "into another database"})

	began = time.Now()
	pm, err := backup.Backup(ctx, c.Topo(), ref, "", "physical", nil)
	if err != nil {
		return err
	}
	results = append(results, timing{"shardgate backup (physical, mariadb-backup)", time.Since(began), pm.StoredBytes, "to file://"})

	fmt.Printf("\nbackup and restore of one shard: %d tables, %d rows, %.0f MB of row data (%.0f MB on disk), %d threads, the shard's own server\n",
		o.tables, m.Rows, float64(m.RawBytes)/1e6, float64(onDisk)/1e6, o.threads)
	fmt.Printf("%-44s %9s %9s %11s %10s  %s\n", "", "seconds", "MB/s", "rows/s", "stored MB", "")
	for _, r := range results {
		stored := "-"
		if r.stored > 0 {
			stored = fmt.Sprintf("%.0f", float64(r.stored)/1e6)
		}
		secs := r.took.Seconds()
		fmt.Printf("%-44s %9.1f %9.1f %11.0f %10s  %s\n", r.name, secs, float64(m.RawBytes)/1e6/secs, float64(m.Rows)/secs, stored, r.comment)
	}
	fmt.Println("MB/s and rows/s: the shard's row data (the logical backup's uncompressed size) and rows over the time taken, for every line alike.")
	return nil
}

func mysqlQuery(socket, query string) (string, error) {
	out, err := exec.Command("mariadb", "--no-defaults", "-S", socket, "-uroot", "-N", "-e", query).Output()
	return string(out), err
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
