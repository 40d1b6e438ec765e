package queryservice

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/internal/connpool"
	"github.com/shardgate/shardgate/internal/mysqlexec"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// transaction is an open MySQL transaction on a reserved connection.
type transaction struct {
	id       int64
	conn     *connpool.Conn
	started  time.Time
	lastUsed time.Time
	inUse    bool
	// xid is set for a branch of a distributed transaction (begun with
	// XA START); xaEnded once XA END ran on it.
	xid     *xid
	xaEnded bool
	// trackGTID: the commit returns the transaction's GTID (a session
	// reading its own writes from replicas).
	trackGTID bool
	// gtid is what the commit wrote, when trackGTID.
	gtid string
	// dirty: a statement other than a read, a write or a savepoint ran,
	// which may leave the connection in a state the transaction's end
	// does not undo (runInTransaction); it is closed, not pooled.
	dirty bool
}

// plainVerbs are the statements a transaction runs that leave its
// connection as COMMIT or ROLLBACK find it.
var plainVerbs = map[string]bool{
	"select": true, "insert": true, "update": true, "delete": true, "replace": true,
	"with": true, "values": true, "table": true, "savepoint": true, "release": true,
	"show": true, "describe": true, "desc": true, "explain": true, "do": true,
}

// runInTransaction runs sql in tx. The transaction pool's connections run
// with autocommit off and get no BEGIN. BEGIN used to do two things that
// are now done here. It ended whatever the previous transaction left on
// the connection: now a statement that is not plain marks the transaction
// dirty, and its connection is closed at the end instead of pooled (LOCK
// TABLES mode after FLUSH TABLES ... WITH READ LOCK, autocommit set by a
// procedure). And it made a statement that commits implicitly (DDL) leave
// the rest of the transaction autocommitted, as MariaDB does for a client
// that began with BEGIN: when such a statement ended the transaction, the
// connection goes on with autocommit on.
func (s *Service) runInTransaction(ctx context.Context, tx *transaction, sql string, opts *querypb.ExecuteOptions) (*querypb.QueryResult, error) {
	verb := strings.ToLower(mysqlexec.StatementVerb(sql))
	plain := plainVerbs[verb] || verb == "rollback" && strings.Contains(strings.ToLower(sql), " to ")
	if !plain {
		tx.dirty = true
	}
	res, err := s.run(ctx, tx.conn, sql, opts)
	if err != nil || plain || tx.xid != nil || tx.conn.IsClosed() {
		return res, err
	}
	state, qerr := tx.conn.ExecuteFetch("SELECT @@in_transaction", 1, false)
	if qerr != nil {
		connpool.NoteError(tx.conn, qerr)
		return res, nil
	}
	if len(state.Rows) == 1 && state.Rows[0][0].ToString() == "0" {
		if _, qerr := tx.conn.ExecuteFetch("SET autocommit = 1", 0, false); qerr != nil {
			connpool.NoteError(tx.conn, qerr)
		}
	}
	return res, nil
}

// transactions is the registry of open transactions. Ids start from the
// wall clock so that an id from before a tablet restart never names a
// transaction after it.
//
// A prepared XA branch moves from open to prepared: it no longer takes
// statements, the idle timeout never rolls it back (only its coordinator
// decides its outcome), and a tablet that shuts down leaves it prepared in
// MySQL rather than rolling it back.
type transactions struct {
	mu       sync.Mutex
	open     map[int64]*transaction
	prepared map[string]*transaction // by dtid
	ended    map[int64]string        // recently ended ids -> why, for clear errors
	lastID   atomic.Int64
}

func newTransactions() *transactions {
	t := &transactions{open: map[int64]*transaction{}, prepared: map[string]*transaction{}, ended: map[int64]string{}}
	t.lastID.Store(time.Now().UnixNano())
	return t
}

func (t *transactions) add(conn *connpool.Conn, x *xid) *transaction {
	now := time.Now()
	tx := &transaction{id: t.lastID.Add(1), conn: conn, started: now, lastUsed: now, inUse: true, xid: x}
	t.mu.Lock()
	t.open[tx.id] = tx
	t.mu.Unlock()
	return tx
}

// use marks a transaction busy; a transaction runs one statement at a time.
func (t *transactions) use(id int64, where string) (*transaction, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tx, err := t.idleLocked(id, where)
	if err != nil {
		return nil, err
	}
	tx.inUse = true
	return tx, nil
}

// idleLocked returns an open transaction that is not running a statement,
// or an error that says why there is none.
func (t *transactions) idleLocked(id int64, where string) (*transaction, error) {
	tx, ok := t.open[id]
	if !ok {
		for _, p := range t.prepared {
			if p.id == id {
				return nil, sqlerr.New(sqlerr.ERXAERRmfail, sqlerr.SSXAERRmfail,
					"transaction %d on %s is prepared (distributed transaction %s): only CommitPrepared or RollbackPrepared end it", id, where, p.xid.dtid)
			}
		}
		if why, ended := t.ended[id]; ended {
			return nil, sqlerr.WithReason(sqlerr.ReasonTransactionEnded,
				sqlerr.New(sqlerror.ERQueryInterrupted, sqlerror.SSQueryInterrupted, "transaction %d on %s %s", id, where, why))
		}
		return nil, sqlerr.WithReason(sqlerr.ReasonTransactionNotFound,
			sqlerr.Internal("transaction %d is not open on %s (the tablet may have restarted): roll back and retry", id, where))
	}
	if tx.inUse {
		return nil, sqlerr.Internal("transaction %d on %s is running another statement", id, where)
	}
	return tx, nil
}

func (t *transactions) release(tx *transaction) {
	t.mu.Lock()
	tx.inUse = false
	tx.lastUsed = time.Now()
	t.mu.Unlock()
}

// take removes a transaction that is not running a statement, for commit
// or rollback.
func (t *transactions) take(id int64, where string) (*transaction, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tx, err := t.idleLocked(id, where)
	if err != nil {
		return nil, err
	}
	delete(t.open, id)
	return tx, nil
}

func (t *transactions) remove(id int64) {
	t.mu.Lock()
	delete(t.open, id)
	t.mu.Unlock()
}

// takeIdle removes and returns transactions idle since before cutoff,
// remembering why they ended.
func (t *transactions) takeIdle(cutoff time.Time, why string) []*transaction {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*transaction
	for id, tx := range t.open {
		if !tx.inUse && tx.lastUsed.Before(cutoff) {
			delete(t.open, id)
			t.ended[id] = why
			out = append(out, tx)
		}
	}
	// Bound the memory of ended ids: old ones are not worth explaining.
	if len(t.ended) > 10000 {
		t.ended = map[int64]string{}
	}
	return out
}

func (t *transactions) takeAll() []*transaction {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*transaction, 0, len(t.open))
	for id, tx := range t.open {
		delete(t.open, id)
		out = append(out, tx)
	}
	return out
}

func (t *transactions) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.open)
}

// markPrepared moves a transaction that was just prepared from open to
// prepared.
func (t *transactions) markPrepared(tx *transaction) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.open, tx.id)
	tx.inUse = false
	tx.lastUsed = time.Now()
	t.prepared[tx.xid.dtid] = tx
}

// takePrepared removes and returns the prepared branch of dtid this
// process holds, or nil.
func (t *transactions) takePrepared(dtid string) *transaction {
	t.mu.Lock()
	defer t.mu.Unlock()
	tx := t.prepared[dtid]
	delete(t.prepared, dtid)
	return tx
}

// takeUnprepared removes and returns the open (not prepared) branch of
// dtid, or nil when there is none; it fails while the branch runs a
// statement.
func (t *transactions) takeUnprepared(dtid, where string) (*transaction, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, tx := range t.open {
		if tx.xid == nil || tx.xid.dtid != dtid {
			continue
		}
		if tx.inUse {
			return nil, sqlerr.Internal("the branch of distributed transaction %s on %s is running a statement: retry", dtid, where)
		}
		delete(t.open, id)
		t.ended[id] = "was rolled back by its distributed transaction's coordinator"
		return tx, nil
	}
	return nil, nil
}

// holdsPrepared reports whether this process holds dtid's prepared branch.
func (t *transactions) holdsPrepared(dtid string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.prepared[dtid]
	return ok
}

func (t *transactions) takeAllPrepared() []*transaction {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*transaction, 0, len(t.prepared))
	for dtid, tx := range t.prepared {
		delete(t.prepared, dtid)
		out = append(out, tx)
	}
	return out
}

func (t *transactions) preparedCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.prepared)
}

// Begin starts a transaction on a reserved connection.
func (s *Service) Begin(ctx context.Context, req *querypb.BeginRequest) (*querypb.BeginResponse, error) {
	s.calls.begin.Inc()
	tx, err := s.begin(ctx, req.Target, req.Options)
	if err != nil {
		s.calls.beginErr.Inc()
		return nil, err
	}
	s.txs.release(tx)
	return &querypb.BeginResponse{TransactionId: tx.id, TabletAlias: s.cfg.Alias}, nil
}

// isolationLevels are the levels a transaction may ask for.
var isolationLevels = map[string]bool{"READ UNCOMMITTED": true, "READ COMMITTED": true, "REPEATABLE READ": true, "SERIALIZABLE": true}

// begin returns a new transaction still marked in use. With a dtid in
// opts it is an XA branch: MariaDB prepares only transactions begun with
// XA START, so the choice is made here, before the first statement.
func (s *Service) begin(ctx context.Context, target *querypb.Target, opts *querypb.ExecuteOptions) (*transaction, error) {
	if err := s.checkTarget(target); err != nil {
		return nil, err
	}
	// Admitted like a write until registered: StopWrites then waits for it.
	release, err := s.admitWrite(true)
	if err != nil {
		return nil, err
	}
	registered := false
	defer func() {
		if !registered {
			release()
		}
	}()
	level := opts.GetTransactionIsolation()
	if level != "" && !isolationLevels[level] {
		return nil, sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable 'tx_isolation' can't be set to the value of '%s'", level)
	}
	// On the transaction pool's connections (autocommit off) the
	// transaction begins with its first statement, which saves MariaDB a
	// round trip per transaction; a connection goes back to the pool only
	// after COMMIT or ROLLBACK ended its last one (finish). An XA branch
	// must still be begun explicitly.
	var x *xid
	begin := ""
	if dtid := opts.GetDtid(); dtid != "" {
		var err error
		if x, err = s.xid(dtid); err != nil {
			return nil, err
		}
		begin = "XA START " + x.sql()
	}
	conn, err := s.txPool.Get(ctx)
	if err != nil {
		return nil, s.connectError(err)
	}
	if set := nextTransaction(level, opts.GetReadOnly()); set != "" {
		// SET TRANSACTION (without SESSION) sets the next transaction
		// only: the pooled connection keeps its defaults. It also applies
		// to XA START, which takes no access mode of its own.
		if _, err := conn.ExecuteFetch(set, 0, false); err != nil {
			connpool.NoteError(conn, err)
			s.txPool.Put(conn)
			return nil, s.mysqlError(err)
		}
	}
	if begin != "" {
		if _, err := conn.ExecuteFetch(begin, 0, false); err != nil {
			connpool.NoteError(conn, err)
			s.txPool.Put(conn)
			return nil, s.mysqlError(err)
		}
	}
	// Registered and no longer in flight in one step, as StopWrites sees it.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	registered = true
	s.writesInFlight--
	tx := s.txs.add(conn, x)
	tx.trackGTID = opts.GetTrackGtid()
	return tx, nil
}

// nextTransaction is the SET TRANSACTION statement that gives the next
// transaction its isolation level and access mode; empty when neither is
// asked for.
func nextTransaction(level string, readOnly bool) string {
	var characteristics []string
	if level != "" {
		characteristics = append(characteristics, "ISOLATION LEVEL "+level)
	}
	if readOnly {
		characteristics = append(characteristics, "READ ONLY")
	}
	if len(characteristics) == 0 {
		return ""
	}
	return "SET TRANSACTION " + strings.Join(characteristics, ", ")
}

// BeginExecute begins a transaction and runs its first statement. When the
// statement fails the transaction stays open, as it would in MySQL, and its
// id is returned with the error so the gate can roll it back.
func (s *Service) BeginExecute(ctx context.Context, req *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	s.calls.beginExecute.Inc()
	defer s.metrics.countTables(req.Tables, time.Now())
	if err := s.checkWriteAllowed(string(req.Sql), req.Options); err != nil {
		s.calls.beErr.Inc()
		return nil, err
	}
	tx, err := s.begin(ctx, req.Target, req.Options)
	if err != nil {
		s.calls.beErr.Inc()
		return nil, err
	}
	res, err := s.runInTransaction(ctx, tx, string(req.Sql), req.Options)
	if err != nil {
		// MySQL keeps a transaction open after a failed statement, but the
		// gate has no id yet to roll it back with: end it here.
		s.txs.remove(tx.id)
		s.finish(tx, endRollback)
		s.calls.beErr.Inc()
		return nil, err
	}
	s.txs.release(tx)
	return &querypb.BeginExecuteResponse{TransactionId: tx.id, Result: res, TabletAlias: s.cfg.Alias}, nil
}

// Commit commits and frees the transaction's connection.
func (s *Service) Commit(ctx context.Context, req *querypb.CommitRequest) (*querypb.CommitResponse, error) {
	s.calls.commit.Inc()
	gtid, err := s.endReporting(req.Target, req.TransactionId, endCommit)
	if err != nil {
		s.calls.commitErr.Inc()
		return nil, err
	}
	return &querypb.CommitResponse{Gtid: gtid}, nil
}

// Rollback rolls back and frees the transaction's connection.
func (s *Service) Rollback(ctx context.Context, req *querypb.RollbackRequest) (*querypb.RollbackResponse, error) {
	s.calls.rollback.Inc()
	if err := s.end(req.Target, req.TransactionId, endRollback); err != nil {
		s.calls.rollbackErr.Inc()
		return nil, err
	}
	return &querypb.RollbackResponse{}, nil
}

func (s *Service) end(target *querypb.Target, id int64, how ending) error {
	_, err := s.endReporting(target, id, how)
	return err
}

// endReporting ends a transaction and returns the GTID its commit wrote
// when it was begun with track_gtid.
func (s *Service) endReporting(target *querypb.Target, id int64, how ending) (string, error) {
	if err := s.checkTarget(target); err != nil {
		return "", err
	}
	// Counted from before it leaves the open transactions until MySQL has
	// committed it: StopWrites must not read a position in between.
	defer s.trackWrite()()
	tx, err := s.txs.take(id, s.cfg.where())
	if err != nil {
		return "", err
	}
	err = s.finish(tx, how)
	return tx.gtid, err
}

// ending is how finish ends a transaction.
type ending int

const (
	endRollback ending = iota
	endCommit
	// endAbandon closes the connection without a word: MySQL rolls back
	// an open transaction, and keeps a prepared XA branch prepared.
	endAbandon
)

// finish commits, rolls back or abandons a transaction and returns its
// connection to the pool.
func (s *Service) finish(tx *transaction, how ending) error {
	if how == endAbandon || tx.conn.IsClosed() {
		tx.conn.MarkBroken()
		s.txPool.Put(tx.conn)
		if how == endCommit {
			return sqlerr.WithReason(sqlerr.ReasonTransactionEnded,
				sqlerr.Internal("transaction %d on %s lost its MySQL connection and was rolled back", tx.id, s.cfg.where()))
		}
		return nil
	}
	var err error
	if tx.xid == nil {
		stmt := "ROLLBACK"
		if how == endCommit {
			stmt = "COMMIT"
		}
		var res *sqltypes.Result
		if res, err = tx.conn.ExecuteFetch(stmt, 0, false); err != nil {
			err = s.mysqlError(err)
		} else {
			if how == endCommit && tx.trackGTID {
				tx.gtid = s.lastGTID(tx.conn)
			}
			// A connection is pooled only as a new one is: autocommit off
			// and no transaction open (see runInTransaction).
			if tx.dirty || res.StatusFlags&(mysql.ServerStatusAutocommit|mysql.ServerStatusInTrans) != 0 {
				tx.conn.MarkBroken()
			}
		}
	} else {
		err = s.finishXA(tx, how)
	}
	if err != nil {
		connpool.NoteError(tx.conn, err)
		// A connection whose COMMIT or ROLLBACK failed is in an unknown
		// state: never reuse it.
		tx.conn.MarkBroken()
	}
	s.txPool.Put(tx.conn)
	return err
}

// finishXA ends an XA branch that was never prepared. A commit is one
// phase (XA COMMIT ... ONE PHASE): a distributed transaction that touched
// one shard needs no second phase.
func (s *Service) finishXA(tx *transaction, how ending) error {
	x := tx.xid.sql()
	if !tx.xaEnded {
		_, err := tx.conn.ExecuteFetch("XA END "+x, 0, false)
		// A branch MariaDB already rolled back (a deadlock leaves it
		// ROLLBACK ONLY) refuses XA END but takes XA ROLLBACK.
		if err != nil && how == endCommit {
			return s.xaError(err, "commit", tx.xid)
		}
	}
	if how == endCommit {
		if _, err := tx.conn.ExecuteFetch("XA COMMIT "+x+" ONE PHASE", 0, false); err != nil {
			return s.xaError(err, "commit", tx.xid)
		}
		return nil
	}
	_, err := tx.conn.ExecuteFetch("XA ROLLBACK "+x, 0, false)
	if se, ok := err.(*sqlerror.SQLError); ok && sqlerror.IsConnErr(se) {
		// The connection is gone, and MySQL rolls back an unprepared
		// branch whose connection ends: the rollback happened. The
		// connection is not reused all the same.
		tx.conn.MarkBroken()
		return nil
	}
	if err != nil {
		return s.xaError(err, "rollback", tx.xid)
	}
	return nil
}

func (s *Service) idleTxLoop() {
	defer s.done.Done()
	tick := time.NewTicker(s.cfg.TxIdleTimeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		why := "was rolled back after being idle for more than " + s.cfg.TxIdleTimeout.String()
		for _, tx := range s.txs.takeIdle(time.Now().Add(-s.cfg.TxIdleTimeout), why) {
			s.log.Info("rolling back idle transaction", zap.Int64("transaction_id", tx.id), zap.Duration("age", time.Since(tx.started)))
			s.metrics.txIdleKilled.Inc()
			s.finish(tx, endRollback)
		}
	}
}
