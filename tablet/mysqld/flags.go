package mysqld

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// sizingArgs size InnoDB for a small machine that runs several servers at
// once (a local cluster has one per shard and tablet). Init passes them too,
// so the redo log is created at its final size.
//
// Durability is not here: see durabilityArgs.
//
// innodb_lock_wait_timeout=10 (MariaDB's default is 50) ends lock waits well
// before a tablet's 30 s statement timeout: a deadlock between transactions
// that span shards is a cycle no single server sees, and it should end as
// MySQL's retryable lock-wait error (1205), which applications and sysbench
// retry, not as a killed statement.
var sizingArgs = []string{
	"--innodb-buffer-pool-size=128M",
	"--innodb-log-file-size=64M",
	"--innodb-lock-wait-timeout=10",
}

// serverArgs is the whole mariadbd command line (without argv[0]) for cfg,
// which must be resolved (absolute DataDir). account (see runAs), when
// set, is the --user the server switches to when started by root (and
// mariadbd refuses to run as root without --user=root).
func serverArgs(cfg Config, account string) []string {
	// mariadbd honours --no-defaults only as the very first argument.
	args := []string{"--no-defaults"}
	if account != "" {
		args = append(args, "--user="+account)
	}
	binlog := filepath.Join(cfg.BinlogDir(), "mysql-bin")
	relay := filepath.Join(cfg.DataDir, relayName, "relay-bin")
	args = append(args,
		// Every path explicit: nothing under /var/lib/mysql or /run/mysqld,
		// and relay log names that do not depend on the host name.
		"--datadir="+cfg.ServerDataDir(),
		"--socket="+cfg.SocketPath(),
		"--pid-file="+cfg.PidFile(),
		"--log-error="+cfg.ErrorLog(),
		"--tmpdir="+filepath.Join(cfg.DataDir, tmpName),
		// LOAD_FILE, SELECT ... INTO OUTFILE/DUMPFILE and server-side LOAD
		// DATA INFILE reach only this empty directory: the gate refuses
		// them, and a statement that slipped past it still cannot read or
		// write the host's files. (Logical restores use LOAD DATA LOCAL,
		// which the client reads, so this costs us nothing.)
		"--secure-file-priv="+filepath.Join(cfg.DataDir, filesName),
		"--log-bin="+binlog,
		"--log-bin-index="+binlog+".index",
		"--relay-log="+relay,
		"--relay-log-index="+relay+".index",

		"--bind-address=127.0.0.1",
		"--port="+strconv.Itoa(cfg.Port),
		"--skip-name-resolve",
		"--max-connections=500",
		// A pool of threads rather than one per connection: behind a
		// tablet, statements arrive spaced by the gate's and tablet's
		// hops, and a thread per connection sleeps and is woken for
		// nearly every one. A pool worker goes on to the next connection
		// with a statement waiting. Measured with make bench on the 2-vCPU
		// VM (issue 16): point selects through a 1-shard gate +19%
		// (mysqld 42 -> 33 us a statement), on CPU-capped shards +24-28%;
		// read-write transactions through the gate unchanged.
		"--thread-handling=pool-of-threads",

		// Row-based binlog with GTIDs: what resharding streams and backups read.
		"--server-id="+strconv.FormatUint(uint64(cfg.ServerID), 10),
		"--binlog-format=ROW",
		"--binlog-row-image=FULL",
		"--log-slave-updates=ON",
		"--gtid-strict-mode=ON",
		// Replication starts only when the tablet says whom to follow: a
		// server returning after a failover must be checked for errant
		// transactions before it applies anything.
		"--skip-slave-start",
		// With RecoverAsReplica (see there), crash recovery rolls back the
		// transactions at the binlog's tail that are only prepared
		// (MariaDB's semi-sync slave recovery, MDEV-21117), which it does
		// only for a server started in the slave role; the tablet still
		// decides whom the server follows.
		"--rpl-semi-sync-slave-enabled=ON",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
	)
	if cfg.RecoverAsReplica {
		args = append(args, "--init-rpl-role=SLAVE")
	}
	args = append(args, sizingArgs...)
	args = append(args, durabilityArgs(cfg.Durability)...)
	return append(args, cfg.ExtraArgs...)
}

// Durability says how much a server flushes at commit.
type Durability string

const (
	// DurabilityFull (the default, also the empty value) flushes the redo
	// log and the binary log at every commit
	// (innodb_flush_log_at_trx_commit=1, sync_binlog=1): a committed
	// transaction survives an OS crash or power loss.
	DurabilityFull Durability = "full"
	// DurabilityRelaxed writes the redo log at commit and flushes it about
	// once a second, and leaves the binary log to the OS
	// (innodb_flush_log_at_trx_commit=2, sync_binlog=0). A mariadbd crash
	// alone loses nothing, but an OS crash or power loss may lose the last
	// second of commits, and the binary log may then disagree with InnoDB.
	// For tests and throwaway clusters.
	DurabilityRelaxed Durability = "relaxed"
)

// ParseDurability accepts "full", "relaxed" or "" (full).
func ParseDurability(s string) (Durability, error) {
	switch d := Durability(s); d {
	case "", DurabilityFull:
		return DurabilityFull, nil
	case DurabilityRelaxed:
		return d, nil
	}
	return "", fmt.Errorf("mysqld: durability %q: want full or relaxed", s)
}

// durabilityArgs are the server options for d; anything but relaxed is full.
func durabilityArgs(d Durability) []string {
	if d == DurabilityRelaxed {
		return []string{"--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0"}
	}
	return []string{"--innodb-flush-log-at-trx-commit=1", "--sync-binlog=1"}
}
