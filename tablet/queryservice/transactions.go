package queryservice

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/tablet/connpool"
)

// transaction is an open MySQL transaction on a reserved connection.
type transaction struct {
	id       int64
	conn     *connpool.Conn
	started  time.Time
	lastUsed time.Time
	inUse    bool
}

// transactions is the registry of open transactions. Ids start from the
// wall clock so that an id from before a tablet restart never names a
// transaction after it.
type transactions struct {
	mu     sync.Mutex
	open   map[int64]*transaction
	ended  map[int64]string // recently ended ids -> why, for clear errors
	lastID atomic.Int64
}

func newTransactions() *transactions {
	t := &transactions{open: map[int64]*transaction{}, ended: map[int64]string{}}
	t.lastID.Store(time.Now().UnixNano())
	return t
}

func (t *transactions) add(conn *connpool.Conn) *transaction {
	now := time.Now()
	tx := &transaction{id: t.lastID.Add(1), conn: conn, started: now, lastUsed: now, inUse: true}
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
		if why, ended := t.ended[id]; ended {
			return nil, sqlerr.New(sqlerror.ERQueryInterrupted, sqlerror.SSQueryInterrupted, "transaction %d on %s %s", id, where, why)
		}
		return nil, sqlerr.Internal("transaction %d is not open on %s (the tablet may have restarted): roll back and retry", id, where)
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

// begin returns a new transaction still marked in use.
func (s *Service) begin(ctx context.Context, target *querypb.Target, opts *querypb.ExecuteOptions) (*transaction, error) {
	if err := s.checkTarget(target); err != nil {
		return nil, err
	}
	level := opts.GetTransactionIsolation()
	if level != "" && !isolationLevels[level] {
		return nil, sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable 'tx_isolation' can't be set to the value of '%s'", level)
	}
	conn, err := s.txPool.Get(ctx)
	if err != nil {
		return nil, sqlerr.Internal("%s: begin: %v", s.cfg.where(), err)
	}
	if level != "" {
		// SET TRANSACTION (without SESSION) sets the level of the next
		// transaction only: the pooled connection keeps its default.
		if _, err := conn.ExecuteFetch("SET TRANSACTION ISOLATION LEVEL "+level, 0, false); err != nil {
			connpool.NoteError(conn, err)
			s.txPool.Put(conn)
			return nil, s.mysqlError(err)
		}
	}
	if _, err := conn.ExecuteFetch("BEGIN", 0, false); err != nil {
		connpool.NoteError(conn, err)
		s.txPool.Put(conn)
		return nil, s.mysqlError(err)
	}
	return s.txs.add(conn), nil
}

// BeginExecute begins a transaction and runs its first statement. When the
// statement fails the transaction stays open, as it would in MySQL, and its
// id is returned with the error so the gate can roll it back.
func (s *Service) BeginExecute(ctx context.Context, req *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	s.calls.beginExecute.Inc()
	tx, err := s.begin(ctx, req.Target, req.Options)
	if err != nil {
		s.calls.beErr.Inc()
		return nil, err
	}
	res, err := s.run(ctx, tx.conn, string(req.Sql), req.Options)
	if err != nil {
		// MySQL keeps a transaction open after a failed statement, but the
		// gate has no id yet to roll it back with: end it here.
		s.txs.remove(tx.id)
		s.finish(tx, "ROLLBACK")
		s.calls.beErr.Inc()
		return nil, err
	}
	s.txs.release(tx)
	return &querypb.BeginExecuteResponse{TransactionId: tx.id, Result: res, TabletAlias: s.cfg.Alias}, nil
}

// Commit commits and frees the transaction's connection.
func (s *Service) Commit(ctx context.Context, req *querypb.CommitRequest) (*querypb.CommitResponse, error) {
	s.calls.commit.Inc()
	if err := s.end(req.Target, req.TransactionId, "COMMIT"); err != nil {
		s.calls.commitErr.Inc()
		return nil, err
	}
	return &querypb.CommitResponse{}, nil
}

// Rollback rolls back and frees the transaction's connection.
func (s *Service) Rollback(ctx context.Context, req *querypb.RollbackRequest) (*querypb.RollbackResponse, error) {
	s.calls.rollback.Inc()
	if err := s.end(req.Target, req.TransactionId, "ROLLBACK"); err != nil {
		s.calls.rollbackErr.Inc()
		return nil, err
	}
	return &querypb.RollbackResponse{}, nil
}

func (s *Service) end(target *querypb.Target, id int64, stmt string) error {
	if err := s.checkTarget(target); err != nil {
		return err
	}
	tx, err := s.txs.take(id, s.cfg.where())
	if err != nil {
		return err
	}
	return s.finish(tx, stmt)
}

// finish runs COMMIT or ROLLBACK (or nothing, for a dead connection) and
// returns the connection to its pool.
func (s *Service) finish(tx *transaction, stmt string) error {
	var err error
	if stmt != "" && !tx.conn.IsClosed() {
		if _, err = tx.conn.ExecuteFetch(stmt, 0, false); err != nil {
			connpool.NoteError(tx.conn, err)
			// A connection whose COMMIT or ROLLBACK failed is in an unknown
			// state: never reuse it.
			tx.conn.MarkBroken()
			err = s.mysqlError(err)
		}
	} else {
		tx.conn.MarkBroken()
	}
	s.txPool.Put(tx.conn)
	return err
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
			s.finish(tx, "ROLLBACK")
		}
	}
}
