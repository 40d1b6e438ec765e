package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/internal/queryrpc"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/sqlrouter"
)

// cursor is the sqlrouter.VCursor of one statement of one session.
type cursor struct {
	e *Executor
	s *Session
	// held is the size of the rows this statement's reads returned so far:
	// a statement the gate evaluates itself (a join) holds them all.
	held int64
	// committed: a write of this statement autocommitted on some shard
	// (then the statement cannot simply run again).
	committed atomic.Bool
}

func (c *cursor) Shards(keyspace string) ([]sqlrouter.Shard, error) {
	return c.e.topo.shards(keyspace, c.s.TabletType)
}

// NextSequenceValues implements sqlrouter.VCursor.
func (c *cursor) NextSequenceValues(ctx context.Context, keyspace, table string, count int64) (int64, error) {
	return c.e.nextSequenceValues(ctx, keyspace, table, count)
}

// ExecuteShards runs queries in the session's transaction if it has one;
// otherwise each autocommits, except that a write spanning shards runs in
// an implicit transaction so that a failure on one shard undoes the rest.
func (c *cursor) ExecuteShards(ctx context.Context, keyspace string, queries []sqlrouter.ShardQuery, write bool) ([]*sqltypes.Result, error) {
	queries, err := c.sessionQueries(keyspace, queries)
	if err != nil {
		return nil, err
	}
	if c.s.TransactionMode == TransactionModeSingle && (c.s.InTransaction || write && len(queries) > 1) {
		if err := c.s.checkSingleShard(keyspace, queries); err != nil {
			return nil, err
		}
	}
	if (write || c.s.InTransaction) && !c.s.inKeyspace(keyspace) {
		// A write, or a new transaction on the keyspace's shards, waits
		// while a resharding switches the keyspace's writes.
		release, err := c.e.buffer.hold(ctx, keyspace)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	var results []*sqltypes.Result
	switch {
	case c.s.tableLocks != nil:
		if c.s.InTransaction {
			return nil, sqlerr.Unsupported("statements in a transaction while LOCK TABLES holds (autocommit is off): SET autocommit = 1, or UNLOCK TABLES first")
		}
		results, err = c.parallel(queries, func(i int, q sqlrouter.ShardQuery) (*sqltypes.Result, error) {
			r, err := c.e.executeLocked(ctx, c.s, keyspace, q, write)
			if err == nil && write {
				c.committed.Store(true)
			}
			return r, err
		})
	case c.s.InTransaction:
		results, err = c.parallel(queries, func(i int, q sqlrouter.ShardQuery) (*sqltypes.Result, error) {
			return c.e.executeInTransaction(ctx, c.s, keyspace, q)
		})
	case write && len(queries) > 1:
		results, err = c.e.executeImplicitTransaction(ctx, c.s, keyspace, queries)
		if err == nil {
			c.committed.Store(true)
		}
	default:
		results, err = c.parallel(queries, func(i int, q sqlrouter.ShardQuery) (*sqltypes.Result, error) {
			r, err := c.e.executeAutocommit(ctx, c.s, keyspace, q, write)
			if err == nil && write {
				c.committed.Store(true)
			}
			return r, err
		})
	}
	if err != nil {
		return nil, err
	}
	c.count(results)
	return results, c.checkResultSize(results)
}

// count adds shard calls and the rows they returned (rows affected, for
// writes) to the statement's statistics.
func (c *cursor) count(results []*sqltypes.Result) {
	var rows uint64
	for _, r := range results {
		if len(r.Fields) > 0 {
			rows += uint64(len(r.Rows))
		} else {
			rows += r.RowsAffected
		}
	}
	c.s.stmtShardCalls.Add(uint64(len(results)))
	c.s.stmtRowsRead.Add(rows)
}

// sessionQueries applies the session to the statements it sends: its
// settings prefix each, and no_scatter refuses more than one shard.
func (c *cursor) sessionQueries(keyspace string, queries []sqlrouter.ShardQuery) ([]sqlrouter.ShardQuery, error) {
	if prefix := c.s.settingsPrefix; prefix != "" {
		withSettings := make([]sqlrouter.ShardQuery, len(queries))
		for i, q := range queries {
			withSettings[i] = sqlrouter.ShardQuery{Shard: q.Shard, SQL: prefix + q.SQL}
		}
		queries = withSettings
	}
	if c.s.NoScatter && len(queries) > 1 {
		return nil, sqlerr.Internal("the statement runs on %d shards of keyspace %s and no_scatter is set: add an equality on the primary vindex column, or SET no_scatter = 0", len(queries), keyspace)
	}
	return queries, nil
}

// checkResultSize enforces the gate's memory bound on the rows it holds
// for one statement, over all of the statement's reads.
func (c *cursor) checkResultSize(results []*sqltypes.Result) error {
	limit := c.e.maxResultBytes
	if limit <= 0 {
		return nil
	}
	for _, r := range results {
		if r == nil {
			continue
		}
		for _, row := range r.Rows {
			for _, v := range row {
				c.held += int64(v.Len()) + 16 // a value's bytes and its header
			}
		}
	}
	if c.held > limit {
		return sqlerr.New(1038, "HY001", "the shards' results for this statement need more than %d bytes of gate memory (--max-result-bytes): add a LIMIT or a narrower WHERE, or raise the limit", limit)
	}
	return nil
}

// parallel runs fn for every query, concurrently when there are several,
// and returns the first error.
func (c *cursor) parallel(queries []sqlrouter.ShardQuery, fn func(int, sqlrouter.ShardQuery) (*sqltypes.Result, error)) ([]*sqltypes.Result, error) {
	results := make([]*sqltypes.Result, len(queries))
	if len(queries) == 1 {
		r, err := fn(0, queries[0])
		results[0] = r
		return results, err
	}
	errs := make([]error, len(queries))
	var wg sync.WaitGroup
	for i, q := range queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = fn(i, q)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}

func target(keyspace, shard string, tt topopb.TabletType) *querypb.Target {
	return &querypb.Target{Keyspace: keyspace, Shard: shard, TabletType: tt}
}

// tabletError turns what a tablet call returned into a client error: the
// tablet's MySQL error as is, with the reason the tablet gave it (which
// the gate acts on), a transport failure as 1105 naming the tablet.
func tabletError(tc *tabletConn, err error) error {
	mysqlErr := queryconv.ErrorFromStatus(err)
	var se *sqlerror.SQLError
	if errors.As(mysqlErr, &se) {
		return sqlerr.WithReason(sqlerr.ReasonOf(mysqlErr), se)
	}
	// The call itself failed: the tablet is gone or its connection broke.
	// Where a failover may replace the tablet, the statement may run again
	// on its successor: any statement when nothing was sent, a read
	// otherwise.
	reason := querypb.ErrorReason_REASON_UNSPECIFIED
	if tc.canFailOver != nil && tc.canFailOver() {
		reason = sqlerr.ReasonOutcomeUnknown
		if errors.Is(err, queryrpc.ErrNotSent) && tc.tabletType() == topopb.TabletType_PRIMARY {
			reason = sqlerr.ReasonNotPrimary
		}
	}
	return sqlerr.WithReason(reason, sqlerr.Internal("%s: %v", tc.where(), err))
}

// writeOptions tell a tablet that a statement writes: one whose writes a
// resharding stopped refuses it (and the gate runs it again on the shards
// serving after the switch).
var writeOptions = &querypb.ExecuteOptions{Write: true}

func (e *Executor) executeAutocommit(ctx context.Context, s *Session, keyspace string, q sqlrouter.ShardQuery, write bool) (*sqltypes.Result, error) {
	tc, err := e.tablets.pick(keyspace, q.Shard, s.TabletType)
	if err != nil {
		return nil, err
	}
	req := &querypb.ExecuteRequest{Target: target(keyspace, q.Shard, s.TabletType), Sql: []byte(q.SQL), Tables: s.stmtTables}
	if write {
		req.Options = s.writeOptionsFor()
	} else {
		req.Options = s.replicaReadOptions(keyspace, q.Shard)
	}
	if !write && req.Options == nil && s.stmtDirectRead && e.tablets.direct != nil {
		if res, ran, err := e.tablets.direct.read(ctx, s, tc, q.SQL); ran {
			return res, err
		}
	}
	resp, err := tc.query.Execute(ctx, req)
	if err != nil {
		err = tabletError(tc, err)
		if !sqlerr.HasReason(err, sqlerr.ReasonReplicaBehind) {
			return nil, err
		}
		if resp, tc, err = e.readFromPrimary(ctx, s, keyspace, q.Shard, req.Sql); err != nil {
			if tc != nil {
				err = tabletError(tc, err)
			}
			return nil, err
		}
	}
	if write {
		s.noteWrite(keyspace, q.Shard, resp.Result.GetGtid())
	}
	res, err := s.shardResult(resp.Result)
	if err != nil {
		return nil, sqlerr.Internal("%s: %v", tc.where(), err)
	}
	return res, nil
}

// executeInTransaction runs q in the session's transaction, beginning the
// shard's part of it on first use.
func (e *Executor) executeInTransaction(ctx context.Context, s *Session, keyspace string, q sqlrouter.ShardQuery) (*sqltypes.Result, error) {
	if ss := s.findShard(keyspace, q.Shard); ss != nil {
		if ss.direct != nil {
			res, gone, err := e.tablets.direct.execTx(ctx, s, ss.direct, q.SQL)
			if gone {
				e.removeShard(s, ss)
			}
			return res, err
		}
		resp, err := ss.tablet.query.Execute(ctx, &querypb.ExecuteRequest{
			Target: target(keyspace, q.Shard, s.TabletType), Sql: []byte(q.SQL), TransactionId: ss.txID, Tables: s.stmtTables,
		})
		if err != nil {
			err = tabletError(ss.tablet, err)
			if isTransactionGone(err) {
				e.removeShard(s, ss)
			}
			return nil, err
		}
		return s.shardResult(resp.Result)
	}
	tc, err := e.tablets.pick(keyspace, q.Shard, s.TabletType)
	if err != nil {
		return nil, err
	}
	if len(s.savepoints) > 0 && !strings.HasPrefix(q.SQL, "savepoint ") {
		// A shard joining after savepoints were set sets them all first
		// (savepoints.go), the first as the statement that begins its part.
		for _, sp := range s.savepoints {
			if _, err := e.executeInTransaction(ctx, s, keyspace, sqlrouter.ShardQuery{Shard: q.Shard, SQL: savepointSQL("savepoint", sp)}); err != nil {
				return nil, err
			}
		}
		return e.executeInTransaction(ctx, s, keyspace, q)
	}
	if e.directTxAllowed(s, tc) {
		if tx, res, ran, err := e.tablets.direct.beginTx(ctx, s, tc, q.SQL); ran {
			if err != nil {
				return nil, err
			}
			e.addShard(s, &shardSession{keyspace: keyspace, shard: q.Shard, tablet: tc, tabletType: s.TabletType, direct: tx})
			return res, nil
		}
	}
	// A transaction on a replica or rdonly tablet reads only (Vitess
	// allows them too): it begins READ ONLY, and its reads see one
	// snapshot of the replica.
	onPrimary := s.TabletType == topopb.TabletType_PRIMARY
	var opts *querypb.ExecuteOptions
	if s.TxIsolation != "" || s.TxReadOnly || !onPrimary {
		opts = &querypb.ExecuteOptions{TransactionIsolation: s.TxIsolation, ReadOnly: s.TxReadOnly || !onPrimary}
	}
	if s.ReadYourWrites && !s.TxReadOnly && onPrimary {
		if opts == nil {
			opts = &querypb.ExecuteOptions{}
		}
		opts.TrackGtid = true
	}
	if s.TransactionMode == TransactionModeTwoPC && !s.TxReadOnly && onPrimary {
		// Every part of a twopc transaction is an XA branch from its first
		// statement: MariaDB cannot prepare a transaction begun otherwise,
		// and whether a second shard will join is not known yet. A
		// read-only transaction has nothing to commit atomically: its
		// parts are plain transactions, committed in one phase.
		if e.twopc == nil {
			return nil, sqlerr.Unsupported("transaction_mode 'twopc' on this gate: it has no topology to record decisions in")
		}
		if opts == nil {
			opts = &querypb.ExecuteOptions{}
		}
		opts.Dtid = s.transactionDTID(e.twopc.newDTID)
	}
	resp, err := tc.query.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target(keyspace, q.Shard, s.TabletType), Sql: []byte(q.SQL), Options: opts, Tables: s.stmtTables})
	if err != nil {
		return nil, tabletError(tc, err)
	}
	e.addShard(s, &shardSession{keyspace: keyspace, shard: q.Shard, txID: resp.TransactionId, tablet: tc, tabletType: s.TabletType})
	return s.shardResult(resp.Result)
}

// isTransactionGone reports errors after which the tablet no longer holds
// the transaction (it was killed, timed out or the tablet restarted).
func isTransactionGone(err error) bool {
	return sqlerr.HasReason(err, sqlerr.ReasonTransactionEnded) || sqlerr.HasReason(err, sqlerr.ReasonTransactionNotFound)
}

// executeImplicitTransaction runs a multi-shard write atomically as far as
// MySQL allows without two-phase commit: all shards execute inside
// transactions, and only if all succeed are they committed, in order.
func (e *Executor) executeImplicitTransaction(ctx context.Context, s *Session, keyspace string, queries []sqlrouter.ShardQuery) ([]*sqltypes.Result, error) {
	s.InTransaction = true
	c := &cursor{e: e, s: s}
	results, err := c.parallel(queries, func(i int, q sqlrouter.ShardQuery) (*sqltypes.Result, error) {
		return e.executeInTransaction(ctx, s, keyspace, q)
	})
	if err != nil {
		e.rollback(ctx, s)
		return nil, err
	}
	if err := e.commit(ctx, s); err != nil {
		return nil, err
	}
	return results, nil
}

// commit ends the session's transaction: with two-phase commit when it is
// a twopc transaction on several shards (twopc.go), else shard by shard.
func (e *Executor) commit(ctx context.Context, s *Session) error {
	shards, dtid, ended := e.takeShards(s)
	defer ended()
	if dtid != "" && len(shards) > 1 {
		return e.twopc.commit(ctx, dtid, shards)
	}
	// A twopc transaction on one shard commits in one phase (the tablet
	// runs XA COMMIT ... ONE PHASE): there is nothing to coordinate.
	return e.commitInOrder(ctx, s, shards)
}

// commitInOrder commits every shard in the order they joined. If a commit
// fails, the shards after it are rolled back and the error says which
// shards committed: without two-phase commit a multi-shard commit can be
// partial, and the client must know.
func (e *Executor) commitInOrder(ctx context.Context, s *Session, shards []*shardSession) error {
	var committed []string
	for i, ss := range shards {
		resp, err := ss.commit(ctx, e.tablets.direct)
		if err == nil {
			committed = append(committed, ss.keyspace+"/"+ss.shard)
			s.noteWrite(ss.keyspace, ss.shard, resp.GetGtid())
			continue
		}
		err = tabletError(ss.tablet, err)
		e.rollbackShards(ctx, shards[i+1:])
		if len(committed) == 0 {
			return fmt.Errorf("commit failed on %s; the transaction was rolled back: %w", ss.tablet.where(), err)
		}
		return sqlerr.Internal("PARTIAL COMMIT: committed on %s, but commit failed on %s (%v); the remaining shards were rolled back",
			strings.Join(committed, ", "), ss.tablet.where(), sqlerr.From(err).Message)
	}
	return nil
}

// rollback rolls back every shard of the session's transaction (an XA
// branch too: the tablet knows how).
func (e *Executor) rollback(ctx context.Context, s *Session) {
	shards, _, ended := e.takeShards(s)
	defer ended()
	e.rollbackShards(ctx, shards)
}

func (e *Executor) rollbackShards(ctx context.Context, shards []*shardSession) {
	for _, ss := range shards {
		if ss.direct != nil {
			e.tablets.direct.rollbackTx(ss.direct)
			continue
		}
		_, err := ss.tablet.query.Rollback(ctx, &querypb.RollbackRequest{Target: ss.target(), TransactionId: ss.txID})
		if err != nil {
			// The tablet rolls back on its own when the transaction idles
			// out or the tablet restarts; nothing more to do here.
			e.log.Info("rollback failed", zap.String("tablet", ss.tablet.record.Alias), zap.Int64("transaction_id", ss.txID), zap.Error(err))
		}
	}
}

// shardResult takes what a shard answered for the session: its warnings
// into the session's diagnostics, and with the client's CLIENT_FOUND_ROWS
// an UPDATE's matched rows as its affected rows, as MariaDB counts them
// for such a client (tablets' connections count changed rows; MariaDB's
// info text gives both).
func (s *Session) shardResult(r *querypb.QueryResult) (*sqltypes.Result, error) {
	res, err := queryconv.ResultFromProto(r)
	if err != nil {
		return nil, err
	}
	return s.takeShardResult(res, uint16(r.GetWarnings()), r.GetWarningList()), nil
}

// takeShardResult is shardResult for a result read from MariaDB itself
// (direct reads and transactions), with its warnings.
func (s *Session) takeShardResult(res *sqltypes.Result, warnings uint16, list []*querypb.Warning) *sqltypes.Result {
	s.noteWarnings(list)
	if n := int(warnings) - len(list); n > 0 {
		// More than SHOW WARNINGS keeps (max_error_count): counted all
		// the same, as MariaDB counts them.
		s.countWarnings(n)
	}
	if s.ClientFoundRows && strings.HasPrefix(res.Info, "Rows matched: ") {
		if matched, _, ok := strings.Cut(strings.TrimPrefix(res.Info, "Rows matched: "), " "); ok {
			if n, err := strconv.ParseUint(matched, 10, 64); err == nil {
				res.RowsAffected = n
			}
		}
	}
	return res
}
