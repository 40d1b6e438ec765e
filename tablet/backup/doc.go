// Package backup backs a tablet's shard up to object storage
// (tablet/backupstore), archives its binlogs there, and restores: whole
// shards or single tables, in place or into another database, to a backup,
// a GTID position or a moment.
//
// # Engines
//
// The logical engine reads every table of the shard's database in one
// consistent snapshot (START TRANSACTION WITH CONSISTENT SNAPSHOT; several
// connections open theirs under a brief FLUSH TABLES WITH READ LOCK) whose
// binlog position and GTID position it records, cuts the rows into chunks
// in LOAD DATA's text format, compresses them (zstd) and stores each with
// its sha256 and the sum of its rows' hashes. Restores load chunks with LOAD
// DATA LOCAL INFILE. The physical engine streams mariadb-backup into the
// store and restores by preparing the copy and replacing the server's data
// directory.
//
// # Invariants
//
//   - A backup is published by its manifest, written after every chunk is
//     stored: a failure at any point leaves no usable backup behind (see
//     backupstore).
//   - Values cross the engine as the server's raw bytes (character set
//     binary both ways, TIMESTAMPs in UTC), so a restored table holds the
//     same bytes, and its checksum (the wrapping sum of xxhash64 row
//     hashes, rowhash.go) equals the manifest's.
//   - Restores are not written to the binlog (sql_log_bin=0, mariadb-binlog
//     --disable-log-bin): a restore is not a change to replicate or archive.
//     A restore of the shard's own tables on a live server therefore
//     leaves a marker in the store, written before the first change, and
//     later point-in-time restores refuse to replay binlogs across it; the
//     server keeps its own GTID position, past everything archived, so no
//     sequence number is used twice. A new server restored to the latest
//     archived moment continues the archived history instead: its binlog
//     starts at the restored GTID position.
//   - A whole-shard restore records itself as pending in the state
//     directory before its first destructive step and clears that only
//     once it succeeded (state.go): meanwhile the tablet does not serve,
//     and a tablet that starts restores again before it serves.
//   - Point-in-time replay applies whole event groups of the shard's
//     database with MariaDB's own tools (replay.go). XA branches prepared
//     at a moment or position but not decided are rolled back after it;
//     at the latest archived moment they stay prepared for their
//     coordinator; those prepared at a backup's snapshot are recorded in
//     its manifest and their XA PREPARE replayed first (prepared_xa.go).
//   - Loaded rows are checked: a load that draws a warning fails, and each
//     table's checksum, read back, must equal the manifest's.
//   - One backup, restore, verification or prune runs at a time per
//     tablet; binlog archiving runs beside them under its own lock.
package backup
