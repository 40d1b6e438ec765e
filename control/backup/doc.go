// Package backup starts and follows the operations a shard's tablet runs on
// object storage: backups, restores (to a backup or a point in time),
// verification, pruning and binlog archiving. The tablet does the work and
// streams progress; this package picks the tablet, relays the progress to
// the caller and turns RPC failures into errors that name the tablet.
package backup
