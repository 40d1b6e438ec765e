// Package replication drives MariaDB's GTID replication for a tablet: it
// points a server at the primary it follows, reads where it stands, waits
// for a position, promotes a replica and fences a primary.
//
// Every operation takes a DB (a *sql.DB or a *sql.Conn opened on the
// server, with a user that has the REPLICATION SLAVE ADMIN, BINLOG ADMIN
// and READ_ONLY ADMIN privileges: the tablet's own user) and runs the few
// statements MariaDB needs, so that a tablet, a test or the control plane
// all use the same sequences.
//
// Invariants:
//
//   - A replica follows with MASTER_USE_GTID=slave_pos: it asks its primary
//     for what comes after the last transaction it applied, whichever
//     primary that is, so repointing a replica after a failover needs no
//     file names or offsets. With gtid_strict_mode (which every server of a
//     local cluster runs), a replica that holds a transaction its new
//     primary does not stops with an error instead of diverging silently.
//   - A replica is read-only (read_only=ON) before it starts replicating,
//     and a promoted server stops replicating and forgets its primary
//     (RESET SLAVE ALL) before it turns writable, so that a server never
//     takes writes while it still applies another's.
//   - Semi-synchronous replication waits after the binlog is synced and
//     before the commit is acknowledged (AFTER_SYNC): a transaction a client
//     saw committed is on at least one replica, or the primary waited
//     SemiSyncTimeout and fell back to asynchronous replication (reported by
//     Status.SemiSyncPrimaryOn).
//   - Errant transactions are found by position, never by replication
//     failing later: a server that returns after a failover may rejoin only
//     when everything it executed is contained in the position its
//     successor was promoted at (Errant).
package replication
