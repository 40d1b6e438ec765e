// Package backupstore keeps shard backups and archived binlogs in object
// storage through one portable blob API (gocloud.dev/blob): file:// (the
// default), s3:// (AWS or any S3-compatible store) and gs://.
//
// # Layout
//
// Under the store's URL (a bucket and an optional prefix), each shard has:
//
//	<keyspace>/<shard>/backups/<name>/MANIFEST.json       written last
//	<keyspace>/<shard>/backups/<name>/tables/<table>/<n>.tsv.zst
//	<keyspace>/<shard>/backups/<name>/physical/<n>.mbstream.zst
//	<keyspace>/<shard>/binlogs/<key>.zst                  an archived binlog file
//	<keyspace>/<shard>/binlogs/<key>.json                 its description, written after it
//	<keyspace>/<shard>/restores/<unix nanos>.json         a whole-shard restore in place
//
// Backup names start with the UTC time they began (20261130T084512.123Z)
// followed by the tablet alias, so they sort in time order and never
// collide between tablets.
//
// # Invariants
//
//   - A backup is usable only once its MANIFEST.json exists, and the
//     manifest is written after every object it names has been stored and
//     checksummed. A backup that failed half-way (a crash, an object store
//     that went away) has objects but no manifest: List reports it as
//     incomplete, never as a backup, and Prune removes it.
//   - The same holds for archived binlogs: a file's .json description is
//     written after the file, and only described files are listed.
//   - Every object is written whole or not at all: a failed write is
//     retried (PutObject) with backoff, and a multipart upload that fails is
//     aborted by the blob driver; uploads left by a crashed process are
//     aborted by AbortStaleUploads (called by Prune).
//   - Metadata (manifests, binlog descriptions, restore markers) is
//     protobuf in JSON (protojson), readable with any tool.
package backupstore
