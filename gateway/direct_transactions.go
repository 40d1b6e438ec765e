package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/connpool"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// Direct transactions.
//
// A tablet started with --direct-transactions offers, with direct reads,
// transactions on its MariaDB: its user may then also INSERT, UPDATE and
// DELETE in the keyspace's database. A shard's part of a session's
// transaction then runs on a connection of the gate's own, with
// autocommit off (the first statement begins it, as on the tablet), held
// by the session until COMMIT or ROLLBACK. What makes that safe is that
// the tablet's write fence holds for it too:
//
//   - MariaDB's read_only is on wherever the tablet admits no write
//     (tablet/queryservice/server_fence.go): a replica, a resharding's
//     stopped source, a demoted or fenced primary. The direct user has no
//     READ_ONLY ADMIN, so every write and COMMIT there fails with 1290.
//   - A primary whose tablet froze or died cannot turn read_only on, so
//     the offer says for how long the tablet's lease certainly holds
//     (writes_valid_ms, renewed with every health message), and the gate
//     runs no statement and no COMMIT of a direct part past it, less a
//     margin: by then a failover may promote another primary.
//   - When the tablet stops writes (a resharding's switch, a planned
//     reparent) it says so at once (writes_stopping): gates begin no
//     direct part, the open ones may finish, and the tablet waits for them
//     (information_schema.innodb_trx, by the direct user) before it turns
//     read_only on and reads the position its stop returns, as it waits
//     for its own. A resharding's switch also drains the gate's open
//     transactions first (write_buffer.go); direct ones count.
//
// Only sessions of this gate's MySQL listener take them (a gRPC session
// lives in its client between calls and cannot hold a connection), on
// the primary, in single or multi mode (a twopc transaction's parts are
// XA branches the tablets coordinate), without read_your_writes (which
// needs the commit's GTID), isolation level or read-only settings of its
// own. A part begins directly only with a plain read or write that runs
// as the direct user as it would as the tablet's (runsAsDirectUser);
// later statements of the part go where it is. Idle parts end after the
// tablet's transaction timeout (MariaDB's idle_transaction_timeout).

// directWriteMargin is taken off the tablet's writes_valid_ms: the health
// message spent some of it on its way, and a COMMIT sent just before the
// end must land before a failover can have promoted another primary (the
// lease itself already keeps 500 ms, see topo.Lease).
const directWriteMargin = 500 * time.Millisecond

// directTxSetup are the session settings of a direct transaction's
// connection: autocommit off, and MariaDB ending a transaction idle for
// longer than the tablet allows its own.
func directTxSetup(offer *querypb.DirectReadOffer) []string {
	setup := []string{"SET autocommit = 0"}
	if ms := offer.TransactionTimeoutMs; ms > 0 {
		setup = append(setup, fmt.Sprintf("SET SESSION idle_transaction_timeout = %d", (ms+999)/1000))
	}
	return setup
}

// noteWritesValid records how long the tablet admits writes, from its
// health message received at now.
func (dp *directPool) noteWritesValid(offer *querypb.DirectReadOffer, now time.Time) {
	until := int64(0)
	if offer.WritesValidMs > 0 {
		until = now.Add(time.Duration(offer.WritesValidMs)*time.Millisecond - directWriteMargin).UnixNano()
	}
	dp.writesValidUntil.Store(until)
	dp.writesStopping.Store(offer.WritesStopping)
}

// writable reports whether a direct part may run a statement or commit.
func (dp *directPool) writable(now time.Time) bool {
	return now.UnixNano() < dp.writesValidUntil.Load()
}

// directTx is a shard's part of a session's transaction on its MariaDB.
type directTx struct {
	dp   *directPool
	tc   *tabletConn
	conn *connpool.Conn
	// dirty: a statement other than a read, a write or a savepoint ran,
	// which may leave state on the connection: it is closed at the end
	// rather than pooled.
	dirty bool
}

// directTxStatement reports whether a statement may begin a direct part.
func directTxStatement(planType sqlparser.StatementType, stmt sqlparser.Statement) bool {
	switch planType {
	case sqlparser.StmtSelect, sqlparser.StmtInsert, sqlparser.StmtReplace, sqlparser.StmtUpdate, sqlparser.StmtDelete:
		return runsAsDirectUser(stmt)
	}
	return false
}

// directTxAllowed reports whether s's next part on tc may run directly.
func (e *Executor) directTxAllowed(s *Session, tc *tabletConn) bool {
	if e.tablets.direct == nil || !s.stmtDirectTx || !s.connectionBound {
		return false
	}
	if s.TabletType != topopb.TabletType_PRIMARY || s.TransactionMode == TransactionModeTwoPC ||
		s.ReadYourWrites || s.TxIsolation != "" || s.TxReadOnly {
		return false
	}
	dp := tc.direct.Load()
	return dp != nil && dp.txPool != nil
}

// beginTx begins a direct part on tc with sql. ran false: it did not run
// there (the gate's pool is busy or cannot connect, the tablet admits no
// write, or MariaDB refused the direct user the statement), and the
// caller begins the part through the tablet.
func (d *directReads) beginTx(ctx context.Context, s *Session, tc *tabletConn, sql string) (tx *directTx, res *sqltypes.Result, ran bool, err error) {
	dp := tc.direct.Load()
	now := time.Now()
	if dp == nil || dp.txPool == nil || !dp.writable(now) || dp.writesStopping.Load() || now.UnixNano() < dp.unusableUntil.Load() {
		d.countTx(tc, "fallback")
		return nil, nil, false, nil
	}
	conn, err := dp.txPool.TryGet(ctx)
	if err != nil {
		d.noteConnectError(ctx, tc, dp, err)
		d.countTx(tc, "fallback")
		return nil, nil, false, nil
	}
	tx = &directTx{dp: dp, tc: tc, conn: conn}
	r, killed, err := dp.exec.Run(ctx, conn, sql, dp.limits)
	if err != nil {
		// The part ends with its first statement: MariaDB undid the
		// statement, and nothing else is in the transaction.
		tx.end(false)
		// Refused a privilege, or by read_only (a switch of writes began):
		// the tablet answers as it would have (and a stop of writes with
		// an error the gate retries on, unseen by the client).
		if !killed && (deniedToReader(err) || refusedByReadOnly(err)) {
			d.countTx(tc, "fallback")
			return nil, nil, false, nil
		}
		d.countTx(tc, "error")
		return nil, nil, true, err
	}
	d.countTx(tc, "begun")
	return tx, s.takeShardResult(r.Result, r.Warnings, r.WarningList), true, nil
}

// execTx runs sql in a direct part. gone reports that the part ended with
// the error (its connection was lost or killed, or the tablet stopped
// admitting writes): MariaDB rolled it back.
func (d *directReads) execTx(ctx context.Context, s *Session, tx *directTx, sql string) (res *sqltypes.Result, gone bool, err error) {
	if !tx.dp.writable(time.Now()) {
		tx.end(false)
		d.countTx(tx.tc, "ended")
		return nil, true, errDirectWritesStopped(tx.tc)
	}
	if !plainTxStatement(sql) {
		tx.dirty = true
	}
	r, killed, err := tx.dp.exec.Run(ctx, tx.conn, sql, tx.dp.limits)
	if err != nil {
		// Run marks the connection broken on connection errors (a lost
		// or closed connection, 1152-1161): MariaDB rolled the part back.
		if killed || tx.conn.IsClosed() || tx.conn.Broken() {
			tx.end(false)
			d.countTx(tx.tc, "ended")
			return nil, true, sqlerr.WithReason(sqlerr.ReasonTransactionEnded,
				fmt.Errorf("%w; the transaction's part on %s was rolled back (its connection to MariaDB ended: killed, idle longer than %v, or the server went away)",
					err, tx.tc.where(), tx.dp.txTimeout))
		}
		return nil, false, err
	}
	return s.takeShardResult(r.Result, r.Warnings, r.WarningList), false, nil
}

// commitTx commits a direct part, unless the tablet may have stopped
// admitting writes: then it rolls back and says so.
func (d *directReads) commitTx(tx *directTx) error {
	if !tx.dp.writable(time.Now()) {
		tx.end(false)
		d.countTx(tx.tc, "ended")
		return errDirectWritesStopped(tx.tc)
	}
	if err := tx.end(true); err != nil {
		d.countTx(tx.tc, "ended")
		return err
	}
	d.countTx(tx.tc, "committed")
	return nil
}

// commit commits the shard's part: on its MariaDB for a direct part, else
// through its tablet.
func (ss *shardSession) commit(ctx context.Context, d *directReads) (*querypb.CommitResponse, error) {
	if ss.direct != nil {
		return &querypb.CommitResponse{}, d.commitTx(ss.direct)
	}
	return ss.tablet.query.Commit(ctx, &querypb.CommitRequest{Target: ss.target(), TransactionId: ss.txID})
}

// rollbackTx rolls a direct part back.
func (d *directReads) rollbackTx(tx *directTx) {
	if err := tx.end(false); err != nil {
		d.log.Info("direct rollback failed: the connection is closed, and MariaDB rolls back with it", zap.String("tablet", tx.tc.record.Alias), zap.Error(err))
	}
	d.countTx(tx.tc, "rolled_back")
}

// end commits or rolls back and returns the connection: to the pool when
// it is as a new one (autocommit off, no transaction open), else closed.
func (tx *directTx) end(commit bool) error {
	if tx.conn == nil {
		return nil
	}
	conn := tx.conn
	tx.conn = nil
	defer tx.dp.txPool.Put(conn)
	if conn.IsClosed() {
		conn.MarkBroken()
		if commit {
			return sqlerr.WithReason(sqlerr.ReasonTransactionEnded,
				sqlerr.Internal("the transaction's part on %s lost its MariaDB connection and was rolled back", tx.tc.where()))
		}
		return nil
	}
	stmt := "ROLLBACK"
	if commit {
		stmt = "COMMIT"
	}
	res, err := conn.ExecuteFetch(stmt, 0, false)
	if err != nil {
		// Unknown state: never reuse it.
		conn.MarkBroken()
		return tx.dp.exec.Error(err)
	}
	if tx.dirty || res.StatusFlags&(mysql.ServerStatusAutocommit|mysql.ServerStatusInTrans) != 0 {
		conn.MarkBroken()
	}
	return nil
}

// errDirectWritesStopped: the tablet's latest word no longer certainly
// admits writes (its lease was not renewed in time, or it is no longer
// the serving primary), so a direct part must not write.
func errDirectWritesStopped(tc *tabletConn) error {
	return sqlerr.WithReason(sqlerr.ReasonTransactionEnded, sqlerr.New(sqlerr.ErOptionPreventsStatement, "HY000",
		"%s does not certainly take writes now (its primary lease was not renewed in time, or it is no longer the serving primary): the transaction's part there was rolled back; retry the transaction", tc.where()))
}

// plainTxStatement reports statements that leave nothing on a connection
// past the transaction: reads, writes and savepoints.
func plainTxStatement(sql string) bool {
	switch sqlparser.Preview(sql) {
	case sqlparser.StmtSelect, sqlparser.StmtInsert, sqlparser.StmtReplace, sqlparser.StmtUpdate, sqlparser.StmtDelete,
		sqlparser.StmtSavepoint, sqlparser.StmtSRollback, sqlparser.StmtRelease:
		return true
	}
	// A session's settings come first (SET STATEMENT ... FOR).
	lower := strings.ToLower(sql)
	if strings.HasPrefix(lower, "set statement ") {
		if i := strings.Index(lower, " for "); i > 0 {
			return plainTxStatement(sql[i+5:])
		}
	}
	return false
}

func (d *directReads) countTx(tc *tabletConn, result string) {
	d.transactions.WithLabelValues(tc.record.Keyspace, tc.record.Shard, result).Inc()
}
