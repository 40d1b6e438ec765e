package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
	"github.com/shardgate/shardgate/topo/twopc"
)

// Points at which a gate configured for crash tests (Config.TwoPCCrashPoint)
// kills itself during every two-phase commit.
const (
	// CrashAfterPrepare: every shard is prepared, nothing is decided.
	CrashAfterPrepare = "after-prepare"
	// CrashAfterDecision: the record says COMMIT, no shard committed yet.
	CrashAfterDecision = "after-decision"
)

// finishTimeout bounds telling the shards the outcome after the commit
// point; what is not done by then, recovery finishes.
const finishTimeout = 30 * time.Second

// recordTimeout bounds writing a transaction's record, the first thing a
// two-phase commit needs from the topology. Nothing is prepared yet, so
// giving up is free: every branch is simply rolled back. Without a bound
// an unreachable etcd held every multi-shard COMMIT for the whole
// statement timeout (60 s) and then left the rollback no time; a live etcd
// answers in milliseconds, so 3 s is ample on a busy machine and still a
// wait a client can bear.
const recordTimeout = 3 * time.Second

// decisionTimeout bounds writing a decision. Once shards are prepared the
// decision is written even if the statement's own deadline has passed: a
// decision not written leaves the shards locked until recovery.
const decisionTimeout = 10 * time.Second

func decide(ctx context.Context, ts *topo.Server, tx *topo.Transaction, decision topopb.TransactionRecord_State) (*topo.Transaction, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), decisionTimeout)
	defer cancel()
	return ts.DecideTransaction(ctx, tx, decision)
}

// twoPC is the gate's two-phase commit coordinator (this file) and the
// recoverer of transactions whose coordinator is gone (twopc_recovery.go).
// The protocol and its invariants are in topo/twopc. It is safe for
// concurrent use by many sessions.
type twoPC struct {
	ts         *topo.Server
	tablets    *tabletGateway
	log        *zap.Logger
	metrics    *metrics
	gate       *topopb.Gate // this process's registration
	crashPoint string

	// token makes dtids unique: random per process start.
	token string
	seq   atomic.Uint64

	mu sync.Mutex
	// inFlight are the dtids this gate is committing now: its own
	// recovery leaves their records alone.
	inFlight map[string]bool
}

func newTwoPC(ts *topo.Server, tablets *tabletGateway, log *zap.Logger, m *metrics, gate *topopb.Gate, crashPoint string) (*twoPC, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("two-phase commit: random gate token: %w", err)
	}
	token := hex.EncodeToString(b[:])
	gate.Id = gate.Name + "/" + token
	gate.StartedUnixNanos = time.Now().UnixNano()
	return &twoPC{
		ts: ts, tablets: tablets, log: log.Named("twopc"), metrics: m, gate: gate, crashPoint: crashPoint,
		token: token, inFlight: map[string]bool{},
	}, nil
}

// newDTID names a new distributed transaction. It is also the gtrid of
// the shards' XA branches, so it stays short and plain: token-sequence.
func (c *twoPC) newDTID() string {
	return c.token + "-" + strconv.FormatUint(c.seq.Add(1), 10)
}

func (c *twoPC) track(dtid string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if on {
		c.inFlight[dtid] = true
	} else {
		delete(c.inFlight, dtid)
	}
}

// commit commits a transaction that spans shards atomically: record,
// prepare all, decide, commit all, forget. An error means the transaction
// did not commit, except when it says the outcome is unknown.
func (c *twoPC) commit(ctx context.Context, dtid string, shards []*shardSession) error {
	c.track(dtid, true)
	defer c.track(dtid, false)
	rec := &topopb.TransactionRecord{
		Dtid: dtid, State: topopb.TransactionRecord_PREPARE, GateId: c.gate.Id, CreatedUnixNanos: time.Now().UnixNano(),
	}
	pinned := map[string]*tabletConn{}
	for _, ss := range shards {
		rec.Participants = append(rec.Participants, &topopb.TransactionParticipant{Keyspace: ss.keyspace, Shard: ss.shard})
		pinned[ss.keyspace+"/"+ss.shard] = ss.tablet
	}
	parts := gateParticipants{tablets: c.tablets, pinned: pinned}
	log := c.log.With(zap.String("dtid", dtid))

	tx, err := c.record(ctx, rec)
	if err != nil {
		// Nothing is prepared: a plain rollback ends every branch. (A
		// record written all the same, its answer lost, is rolled back by
		// recovery: it names no prepared branch that could commit.)
		c.rollbackShards(ctx, shards)
		c.metrics.twopcRollbacks.Inc()
		return err
	}
	if err := c.prepareAll(ctx, shards); err != nil {
		return c.abort(ctx, tx, parts, err)
	}
	c.crash(CrashAfterPrepare)

	decided, err := decide(ctx, c.ts, tx, topopb.TransactionRecord_COMMIT)
	if err != nil {
		// The decision may or may not have been written. Every shard stays
		// prepared until recovery reads the record and follows it.
		log.Error("cannot record the commit decision; the outcome is left to recovery", zap.Error(err))
		return sqlerr.New(sqlerror.ERErrorDuringCommit, sqlerror.SSUnknownSQLState,
			"two-phase commit of %s: cannot record the commit decision in the topology (%v); the transaction is prepared on every shard and its outcome is unknown until recovery settles it (`shardctl transaction list`)", dtid, err)
	}
	if decided.Record.State != topopb.TransactionRecord_COMMIT {
		// Recovery or an operator rolled it back before this gate could
		// decide: their decision stands.
		c.finish(ctx, decided, parts, log)
		c.metrics.twopcRollbacks.Inc()
		return sqlerr.RolledBack("two-phase commit of %s: the transaction was rolled back by recovery or an operator before it could commit", dtid)
	}
	c.crash(CrashAfterDecision)

	// Committed. Telling the shards cannot fail the client's COMMIT any
	// more: what is not done here, recovery finishes.
	c.finish(ctx, decided, parts, log)
	c.metrics.twopcCommits.Inc()
	return nil
}

// record writes the transaction's record in PREPARE within
// recordTimeout. Its error is the client's: XA_RBROLLBACK, since the
// caller rolls every branch back, saying whether the topology store did
// not answer or refused.
func (c *twoPC) record(ctx context.Context, rec *topopb.TransactionRecord) (*topo.Transaction, error) {
	rctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	tx, err := c.ts.CreateTransaction(rctx, rec)
	if err == nil {
		return tx, nil
	}
	if ctx.Err() == nil && rctx.Err() != nil {
		c.log.Warn("two-phase commit: the topology store does not answer; rolling the transaction back",
			zap.String("dtid", rec.Dtid), zap.Duration("waited", recordTimeout), zap.Error(err))
		return nil, sqlerr.RolledBack("two-phase commit of %s: the topology store (etcd) is unreachable (no answer within %v), "+
			"so the distributed commit could not be recorded; the transaction was rolled back on every shard", rec.Dtid, recordTimeout)
	}
	return nil, sqlerr.RolledBack("two-phase commit of %s: cannot record the transaction in the topology store (%v); "+
		"the transaction was rolled back on every shard", rec.Dtid, err)
}

// prepareAll prepares every branch in parallel and returns the first
// failure, which names its shard and tablet (the tablet's own errors do).
func (c *twoPC) prepareAll(ctx context.Context, shards []*shardSession) error {
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, ss := range shards {
		wg.Go(func() {
			_, err := ss.tablet.query.Prepare(ctx, &querypb.PrepareRequest{
				Target: target(ss.keyspace, ss.shard, topopb.TabletType_PRIMARY), TransactionId: ss.txID,
			})
			if err != nil {
				errs[i] = tabletError(ss.tablet, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// abort decides ROLLBACK after a failed prepare and rolls every branch
// back, prepared or not.
func (c *twoPC) abort(ctx context.Context, tx *topo.Transaction, parts gateParticipants, cause error) error {
	dtid := tx.Record.Dtid
	log := c.log.With(zap.String("dtid", dtid))
	decided, err := decide(ctx, c.ts, tx, topopb.TransactionRecord_ROLLBACK)
	if err != nil {
		// Without a recorded decision no branch may be rolled back here;
		// recovery rolls the record back once it is readable.
		log.Error("cannot record the rollback decision; recovery will roll the transaction back", zap.Error(err))
		c.metrics.twopcRollbacks.Inc()
		return rolledBackError(dtid, cause, "it will be rolled back on every shard by recovery")
	}
	if decided.Record.State == topopb.TransactionRecord_COMMIT {
		// An operator committed it in the meantime (which it does only
		// when every shard lists the branch as prepared): follow the record.
		log.Warn("a prepare failed, but the record was decided COMMIT by someone else; following it", zap.Error(cause))
		c.finish(ctx, decided, parts, log)
		c.metrics.twopcCommits.Inc()
		return nil
	}
	c.finish(ctx, decided, parts, log)
	c.metrics.twopcRollbacks.Inc()
	return rolledBackError(dtid, cause, "it was rolled back on every shard")
}

// rolledBackError reports a twopc transaction that did not commit. A
// shard's own rollback error (MariaDB rolled a deadlocked branch back)
// keeps its code; anything else is XA_RBROLLBACK.
func rolledBackError(dtid string, cause error, what string) error {
	se := sqlerr.From(cause)
	msg := se.Message
	if !strings.Contains(msg, dtid) {
		msg = dtid + ": " + msg
	}
	if se.Num == sqlerr.ERXARBRollback || se.Num == 1613 || se.Num == 1614 { // XA_RBROLLBACK, XA_RBTIMEOUT, XA_RBDEADLOCK
		return sqlerr.New(se.Num, se.State, "two-phase commit failed: %s; %s", msg, what)
	}
	return sqlerr.RolledBack("two-phase commit failed: %s; %s", msg, what)
}

// finish tells every participant the decision and deletes the record; a
// failure is logged, and the record stays for recovery to finish.
func (c *twoPC) finish(ctx context.Context, tx *topo.Transaction, parts gateParticipants, log *zap.Logger) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if _, err := twopc.Finish(fctx, c.ts, tx, parts); err != nil {
		log.Warn("not every shard acted on the decision yet; recovery will finish it",
			zap.String("decision", tx.Record.State.String()), zap.Error(err))
	}
}

// rollbackShards rolls back branches that were never prepared, within
// rollbackTimeout even when the statement's deadline has passed: a branch
// left open would hold its locks until the tablet's transaction timeout.
func (c *twoPC) rollbackShards(ctx context.Context, shards []*shardSession) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	for _, ss := range shards {
		_, err := ss.tablet.query.Rollback(ctx, &querypb.RollbackRequest{Target: target(ss.keyspace, ss.shard, topopb.TabletType_PRIMARY), TransactionId: ss.txID})
		if err != nil {
			c.log.Info("rollback failed", zap.String("tablet", ss.tablet.record.Alias), zap.Int64("transaction_id", ss.txID), zap.Error(err))
		}
	}
}

// crash kills the process at point when configured to, for crash tests:
// SIGKILL, so that nothing is cleaned up (the registration stays until its
// lease expires, connections drop).
func (c *twoPC) crash(point string) {
	if c.crashPoint != point {
		return
	}
	c.log.Error("killing the gate on purpose at a two-phase commit crash point", zap.String("point", point))
	_ = c.log.Sync()
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
	}
	os.Exit(137)
}

// validCrashPoint accepts the crash points and "" (none).
func validCrashPoint(p string) error {
	switch p {
	case "", CrashAfterPrepare, CrashAfterDecision:
		return nil
	}
	return fmt.Errorf("two-phase commit crash point %q: want %s or %s", p, CrashAfterPrepare, CrashAfterDecision)
}

// gateParticipants reaches the shards of a distributed transaction through
// the gate's tablet connections: the tablets the session's transaction ran
// on when known (they hold the prepared branches' connections), else the
// shard's serving primary.
type gateParticipants struct {
	tablets *tabletGateway
	pinned  map[string]*tabletConn // by "keyspace/shard"
}

func (p gateParticipants) tablet(keyspace, shard string) (*tabletConn, error) {
	if tc := p.pinned[keyspace+"/"+shard]; tc != nil {
		return tc, nil
	}
	return p.tablets.pick(keyspace, shard, topopb.TabletType_PRIMARY)
}

func (p gateParticipants) CommitPrepared(ctx context.Context, keyspace, shard, dtid string) (bool, error) {
	tc, err := p.tablet(keyspace, shard)
	if err != nil {
		return false, err
	}
	resp, err := tc.query.CommitPrepared(ctx, &querypb.CommitPreparedRequest{Target: target(keyspace, shard, topopb.TabletType_PRIMARY), Dtid: dtid})
	if err != nil {
		return false, tabletError(tc, err)
	}
	return resp.NotPrepared, nil
}

func (p gateParticipants) RollbackPrepared(ctx context.Context, keyspace, shard, dtid string) (bool, error) {
	tc, err := p.tablet(keyspace, shard)
	if err != nil {
		return false, err
	}
	resp, err := tc.query.RollbackPrepared(ctx, &querypb.RollbackPreparedRequest{Target: target(keyspace, shard, topopb.TabletType_PRIMARY), Dtid: dtid})
	if err != nil {
		return false, tabletError(tc, err)
	}
	return resp.NotPrepared, nil
}

// isNotFound reports a record that is gone: finished by someone else.
func isNotFound(err error) bool { return errors.Is(err, topo.ErrNotFound) }

// shardNames lists a record's participants for logs and status.
func shardNames(rec *topopb.TransactionRecord) string {
	names := make([]string, len(rec.Participants))
	for i, p := range rec.Participants {
		names[i] = p.Keyspace + "/" + p.Shard
	}
	return strings.Join(names, ",")
}
