package queryservice

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/connpool"
	"github.com/shardgate/shardgate/internal/mysqlexec"
	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// Service serves one shard's queries. Its methods return MySQL errors
// (*sqlerror.SQLError) as they are; GRPC adapts it to the gRPC
// QueryService, and queryrpc serves its unary calls directly.
type Service struct {
	cfg    Config
	log    *zap.Logger
	pool   *connpool.Pool
	txPool *connpool.Pool
	txs    *transactions
	// exec runs statements on the shard's connections as every path to
	// MariaDB must (deadlines and kills, row limit, warnings, columns).
	exec *mysqlexec.Server
	// reservedPool and reserved hold the connections gate sessions
	// reserved for themselves (reserved.go).
	reservedPool *connpool.Pool
	reserved     *reservations
	health       *healthState
	metrics      *metrics
	calls        callCounters

	// served counts statements for the QPS figure in the health stream.
	served atomic.Int64
	// writeMu orders the admission of writes (writesInFlight) with
	// StopWrites.
	writeMu        sync.Mutex
	writesInFlight int
	// writesStopped refuses writes and new transactions (a resharding
	// switching this shard's writes away).
	writesStopped atomic.Bool
	// primaryServing is set while the tablet serves as the shard's
	// primary; readOnlyMu orders the changes of MariaDB's read_only that
	// follow it and writesStopped (server_fence.go).
	primaryServing atomic.Bool
	readOnlyMu     sync.Mutex
	// advertisedUntil (Unix nanoseconds) ends the latest validity of
	// writes the health stream gave gates (server_fence.go).
	advertisedUntil atomic.Int64
	// notServing is why SetServing turned serving off; nil when on.
	notServing atomic.Pointer[string]
	// role is the tablet's topopb.TabletType now (role.go).
	role atomic.Int32
	// fence, when set, must hold for a write to start: the primary's
	// lease is certainly still valid (role.go).
	fence atomic.Pointer[func() time.Time]
	// errant lists the errant transactions found when the tablet rejoined
	// its shard; while set, the tablet does not serve (SetErrant).
	errant atomic.Pointer[[]string]

	stopOnce sync.Once
	stop     chan struct{}
	done     sync.WaitGroup
}

type callCounters struct {
	execute, stream, begin, commit, rollback, beginExecute         prometheus.Counter
	executeErr, streamErr, beginErr, commitErr, rollbackErr, beErr prometheus.Counter

	prepare, commitPrepared, rollbackPrepared          prometheus.Counter
	prepareErr, commitPreparedErr, rollbackPreparedErr prometheus.Counter
}

// New builds the service; Start begins its background work.
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Service{
		cfg:  cfg,
		log:  log,
		pool: connpool.New("query", &cfg.MySQL, cfg.PoolSize),
		// Transactions' connections run with autocommit off, so that a
		// transaction begins with its first statement, as it does in
		// MariaDB after COMMIT with autocommit off: no BEGIN and no round
		// trip of its own (see begin).
		txPool: connpool.New("transaction", &cfg.MySQL, cfg.TxPoolSize, "SET autocommit = 0"),
		stop:   make(chan struct{}),

		reservedPool: connpool.New("reserved", &cfg.MySQL, cfg.MaxReserved),
		reserved:     newReservations(),
	}
	s.exec = mysqlexec.NewServer(cfg.where(), &s.cfg.MySQL, log)
	s.txs = newTransactions()
	s.role.Store(int32(cfg.Type))
	s.health = newHealthState(&querypb.StreamHealthResponse{
		Target:      s.target(),
		TabletAlias: cfg.Alias,
		Stats:       &querypb.RealtimeStats{HealthError: "starting"},
	})
	s.metrics = newMetrics(s, reg)
	q, e := s.metrics.queries, s.metrics.queryErrors
	s.calls = callCounters{
		execute: q.WithLabelValues("execute"), stream: q.WithLabelValues("stream_execute"),
		begin: q.WithLabelValues("begin"), commit: q.WithLabelValues("commit"),
		rollback: q.WithLabelValues("rollback"), beginExecute: q.WithLabelValues("begin_execute"),
		executeErr: e.WithLabelValues("execute"), streamErr: e.WithLabelValues("stream_execute"),
		beginErr: e.WithLabelValues("begin"), commitErr: e.WithLabelValues("commit"),
		rollbackErr: e.WithLabelValues("rollback"), beErr: e.WithLabelValues("begin_execute"),
		prepare: q.WithLabelValues("prepare"), prepareErr: e.WithLabelValues("prepare"),
		commitPrepared: q.WithLabelValues("commit_prepared"), commitPreparedErr: e.WithLabelValues("commit_prepared"),
		rollbackPrepared: q.WithLabelValues("rollback_prepared"), rollbackPreparedErr: e.WithLabelValues("rollback_prepared"),
	}
	return s, nil
}

// Start runs the health checker and the idle-transaction killer until Close.
func (s *Service) Start() {
	s.done.Add(3)
	go s.healthLoop()
	go s.idleTxLoop()
	go s.reservedOwnerLoop()
}

// Close stops serving: health turns to not serving, open transactions roll
// back, pools close.
func (s *Service) Close() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.done.Wait()
		s.health.update(func(h *querypb.StreamHealthResponse) {
			h.Serving = false
			h.Stats.HealthError = "tablet is shutting down"
			h.DirectRead = nil
		})
		for _, tx := range s.txs.takeAll() {
			s.finish(tx, endRollback)
		}
		// Prepared branches belong to their coordinator: closing their
		// connections leaves them prepared in MySQL, for CommitPrepared or
		// RollbackPrepared from the next tablet process.
		for _, tx := range s.txs.takeAllPrepared() {
			s.log.Info("leaving a prepared transaction to its coordinator", zap.String("dtid", tx.xid.dtid))
			s.finish(tx, endAbandon)
		}
		s.reserved.mu.Lock()
		for id, r := range s.reserved.open {
			delete(s.reserved.open, id)
			s.closeReserved(r)
		}
		s.reserved.mu.Unlock()
		s.pool.Close()
		s.txPool.Close()
		s.reservedPool.Close()
	})
}

func (s *Service) target() *querypb.Target {
	return &querypb.Target{Keyspace: s.cfg.Keyspace, Shard: s.cfg.Shard, TabletType: s.Type()}
}

// checkTarget refuses requests meant for another shard or tablet type, which
// happen when a gate's view of the topology is stale.
func (s *Service) checkTarget(t *querypb.Target) error {
	if t == nil {
		return sqlerr.Internal("request to %s has no target", s.cfg.where())
	}
	if t.Keyspace != s.cfg.Keyspace || t.Shard != s.cfg.Shard {
		return sqlerr.Internal("request for %s/%s reached %s: the gate's topology is stale", t.Keyspace, t.Shard, s.cfg.where())
	}
	if t.TabletType == topopb.TabletType_PRIMARY && !s.isPrimary() {
		return s.errNotPrimary()
	}
	return nil
}

// Execute runs one statement, in a transaction when transaction_id is set.
func (s *Service) Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	s.calls.execute.Inc()
	defer s.metrics.countTables(req.Tables, time.Now())
	res, err := s.execute(ctx, req.Target, string(req.Sql), req.TransactionId, req.ReservedId, req.Options)
	if err != nil {
		s.calls.executeErr.Inc()
		return nil, err
	}
	return &querypb.ExecuteResponse{Result: res}, nil
}

func (s *Service) execute(ctx context.Context, target *querypb.Target, sql string, txID, reservedID int64, opts *querypb.ExecuteOptions) (*querypb.QueryResult, error) {
	if err := s.checkTarget(target); err != nil {
		return nil, err
	}
	if reservedID != 0 {
		return s.executeReserved(ctx, reservedID, sql, opts)
	}
	if txID != 0 {
		if err := s.checkWriteAllowed(sql, opts); err != nil {
			return nil, err
		}
		tx, err := s.txs.use(txID, s.cfg.where())
		if err != nil {
			return nil, err
		}
		res, err := s.runInTransaction(ctx, tx, sql, opts)
		if tx.conn.IsClosed() || mysqlexec.IsKilled(err) {
			// The connection is gone or was killed: the transaction with it.
			s.txs.remove(txID)
			s.finish(tx, endAbandon)
			return nil, sqlerr.WithReason(sqlerr.ReasonTransactionEnded, fmt.Errorf("%w; transaction %d was rolled back", err, txID))
		}
		s.txs.release(tx)
		return res, err
	}
	if err := s.checkWriteAllowed(sql, opts); err != nil {
		return nil, err
	}
	release, err := s.admitWrite(isWrite(sql, opts))
	if err != nil {
		return nil, err
	}
	defer release()
	conn, err := s.pool.Get(ctx)
	if err != nil {
		return nil, s.connectError(err)
	}
	defer s.pool.Put(conn)
	if err := s.waitForGTID(conn, opts); err != nil {
		return nil, err
	}
	res, err := s.run(ctx, conn, sql, opts)
	if err == nil && opts.GetTrackGtid() {
		res.Gtid = s.lastGTID(conn)
	}
	return res, err
}

// run executes sql on conn under the statement deadline, killing it on the
// server if the deadline passes or the caller goes away first.
func (s *Service) run(ctx context.Context, conn *connpool.Conn, sql string, opts *querypb.ExecuteOptions) (*querypb.QueryResult, error) {
	start := time.Now()
	s.served.Add(1)
	timeout, maxRows := s.limits(opts)
	res, killed, err := s.exec.Run(ctx, conn, sql, mysqlexec.Limits{Timeout: timeout, MaxRows: maxRows})
	if killed {
		s.metrics.killed.Inc()
		return nil, err
	}
	s.metrics.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	s.metrics.rowsReturned.Add(float64(len(res.Rows)))
	out := queryconv.ResultToProto(res.Result)
	out.Warnings, out.WarningList = uint32(res.Warnings), res.WarningList
	return out, nil
}

func (s *Service) limits(opts *querypb.ExecuteOptions) (time.Duration, int) {
	timeout, maxRows := s.cfg.QueryTimeout, s.cfg.MaxRows
	if opts != nil {
		if opts.TimeoutMs > 0 {
			timeout = time.Duration(opts.TimeoutMs) * time.Millisecond
		}
		if opts.MaxRows > 0 && int(opts.MaxRows) < maxRows {
			maxRows = int(opts.MaxRows)
		}
	}
	return timeout, maxRows
}

// mysqlError is what a client sees of a MariaDB error on this tablet
// (mysqlexec.Server.Error).
func (s *Service) mysqlError(err error) error { return s.exec.Error(err) }

// StreamExecute runs a read and sends its rows as they arrive: fields first,
// then batches of rows, so large results never sit whole in memory.
func (s *Service) StreamExecute(ctx context.Context, req *querypb.StreamExecuteRequest, send func(*querypb.StreamExecuteResponse) error) error {
	s.calls.stream.Inc()
	if err := s.streamExecute(ctx, req, send); err != nil {
		s.calls.streamErr.Inc()
		return err
	}
	return nil
}

const streamBatchBytes = 256 << 10

func (s *Service) streamExecute(ctx context.Context, req *querypb.StreamExecuteRequest, send func(*querypb.StreamExecuteResponse) error) error {
	if err := s.checkTarget(req.Target); err != nil {
		return err
	}
	var conn *connpool.Conn
	var tx *transaction
	if req.TransactionId != 0 {
		var err error
		if tx, err = s.txs.use(req.TransactionId, s.cfg.where()); err != nil {
			return err
		}
		defer s.txs.release(tx)
		conn = tx.conn
	} else {
		var err error
		if conn, err = s.pool.Get(ctx); err != nil {
			return s.connectError(err)
		}
		defer s.pool.Put(conn)
	}
	s.served.Add(1)
	timeout, _ := s.limits(req.Options)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stopKill := s.exec.KillOnDone(ctx, conn)
	err := s.streamRows(conn, string(req.Sql), send)
	if !stopKill() {
		conn.MarkBroken()
		s.metrics.killed.Inc()
		return s.exec.InterruptError(ctx, timeout)
	}
	return err
}

func (s *Service) streamRows(conn *connpool.Conn, sql string, send func(*querypb.StreamExecuteResponse) error) error {
	if err := conn.ExecuteStreamFetch(sql); err != nil {
		connpool.NoteError(conn, err)
		return s.mysqlError(err)
	}
	defer conn.CloseResult()
	fields, err := conn.Fields()
	if err != nil {
		connpool.NoteError(conn, err)
		return s.mysqlError(err)
	}
	s.exec.FixFields(nil, fields) // nil: conn is busy with the rows
	protoFields := queryconv.FieldsToProto(fields)
	if err := send(&querypb.StreamExecuteResponse{Result: &querypb.QueryResult{Fields: protoFields}}); err != nil {
		conn.MarkBroken() // rows left unread on the wire
		return err
	}
	batch := &querypb.QueryResult{}
	size := 0
	for {
		row, err := conn.FetchNext(nil)
		if err != nil {
			connpool.NoteError(conn, err)
			conn.MarkBroken()
			return s.mysqlError(err)
		}
		if row == nil {
			break
		}
		pr := queryconv.RowToProto(row)
		batch.Rows = append(batch.Rows, pr)
		size += len(pr.Values) + 8*len(pr.Lengths)
		if size >= streamBatchBytes {
			if err := send(&querypb.StreamExecuteResponse{Result: batch}); err != nil {
				conn.MarkBroken()
				return err
			}
			s.metrics.rowsReturned.Add(float64(len(batch.Rows)))
			batch, size = &querypb.QueryResult{}, 0
		}
	}
	if len(batch.Rows) > 0 {
		s.metrics.rowsReturned.Add(float64(len(batch.Rows)))
		return send(&querypb.StreamExecuteResponse{Result: batch})
	}
	return nil
}
