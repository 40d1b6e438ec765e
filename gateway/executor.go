package gateway

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter"
)

// Executor runs statements for sessions. It is safe for concurrent use by
// many sessions.
type Executor struct {
	topo    *topology
	tablets *tabletGateway
	parser  *sqlparser.Parser
	log     *zap.Logger
	metrics *metrics
	stats   *queryStats
	// authz checks statements against their users' rights; connections
	// counts each user's MySQL connections.
	authz       *authorizer
	connections userConnections
	// signer signs the gRPC API's sessions (nil: unsigned, unit tests).
	signer *sessionSigner
	seqs   sequences
	plans  *planCache
	schema *schemaTracker
	// twopc coordinates two-phase commits; nil without a topology (then
	// transaction_mode 'twopc' is refused).
	twopc *twoPC
	// buffer holds writes while a resharding switches them; nil: never.
	buffer *writeBuffer

	serverVersion  string
	versionComment string
	// queryTimeout bounds a statement at the gate; tablets enforce their
	// own (shorter) timeout and kill the statement on MySQL.
	queryTimeout time.Duration
	// maxResultBytes bounds the rows held at the gate for one statement.
	maxResultBytes int64
	// grpcSessionIDs numbers the gRPC API's new sessions.
	grpcSessionIDs atomic.Uint32
	// sessions are the MySQL connections' sessions, for KILL (kill.go).
	sessions liveSessions
}

// Execute parses and runs one statement. bindVars may be nil.
func (e *Executor) Execute(ctx context.Context, s *Session, sql string, bindVars map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	return e.execute(ctx, s, sql, bindVars, nil)
}

// StreamExecute runs one statement and hands its result to callback. In
// OLAP sessions (SET workload = 'olap') a read with nothing to combine
// at the gate streams: the fields, then batches of rows as the shards send
// them, with no bound on its size; any other result comes in one call.
func (e *Executor) StreamExecute(ctx context.Context, s *Session, sql string, bindVars map[string]*querypb.BindVariable, callback func(*sqltypes.Result) error) error {
	res, err := e.execute(ctx, s, sql, bindVars, callback)
	if err != nil || res == nil {
		return err
	}
	return callback(res)
}

// execute runs one statement; with stream set it may stream the result
// to it and return none.
func (e *Executor) execute(ctx context.Context, s *Session, sql string, bindVars map[string]*querypb.BindVariable, stream func(*sqltypes.Result) error) (*sqltypes.Result, error) {
	start := time.Now()
	if err := e.topo.notReadError(); err != nil {
		return nil, err
	}
	if res, ok := s.countDiagnostics(sql); ok {
		return res, nil
	}
	if isShowQueryStats(sql) {
		if err := e.authz.checkOne(s, access{keyspace: "*", right: RightAdmin, verb: "SHOW QUERY STATS"}); err != nil {
			return nil, err
		}
		return e.showQueryStats(ctx, s, sql)
	}
	s.beginStatement(sql)
	stmt, _, err := e.parse(sql)
	if err != nil {
		if refusal := userManagement(sql); refusal != nil {
			// A statement the parser does not know but MariaDB would
			// refuse for want of a privilege: that refusal, not a syntax
			// error.
			err = refusal
			e.authz.refuse(s, "refused", "", "", err)
		}
		if isShow(sql) {
			// A SHOW Vitess's parser does not know (SHOW PACKAGE STATUS,
			// which mariadb-dump --routines sends): MariaDB answers it.
			end := s.startDiagnostics(nil)
			res, err := e.showUnparsed(ctx, s, sql)
			end(res, err)
			rec := e.stats.recordOf(e.stats.textSlot(s.Keyspace, sql), s.Keyspace, "show", nil, func() string { return sql })
			e.stats.account(s, rec, start, res, 0, err)
			return res, err
		}
		e.metrics.errors.WithLabelValues(s.Keyspace, strconv.Itoa(int(sqlerr.From(err).Num))).Inc()
		s.startDiagnostics(nil)(nil, err)
		rec := e.stats.recordOf(e.stats.unparsedSlot(), s.Keyspace, "parse_error", nil, func() string { return unparsedText })
		e.stats.account(s, rec, start, nil, 0, err)
		return nil, err
	}
	endDiagnostics := s.startDiagnostics(stmt)
	var plan *sqlrouter.Plan
	var rec *statementRecord
	if s.Shard == "" && routable(stmt) && cacheable(bindVars) {
		var entry *cachedPlan
		var text string
		if entry, text, bindVars, err = e.cachedPlan(s, stmt, sql, bindVars); err != nil {
			if denial := e.authz.check(s, accessOf(stmt, s.Keyspace, "")); denial != nil {
				// A user without the right learns that, not what
				// planning the statement found.
				err = denial
			}
			e.metrics.observe(s.Keyspace, "plan", start, err)
			endDiagnostics(nil, err)
			rec := e.stats.recordOf(e.stats.textSlot(s.Keyspace, sql), s.Keyspace, "plan", stmt, func() string { return statementText(stmt) })
			e.stats.account(s, rec, start, nil, 0, err)
			return nil, err
		}
		plan = entry.plan
		rec = e.stats.recordOf(&entry.record, keyspaceOf(plan, s), planLabel(plan), stmt, func() string { return text })
		s.stmtTables = rec.tables
		if err := e.authz.check(s, entry.access.of(stmt, s.Keyspace)); err != nil {
			e.metrics.observe(s.Keyspace, "denied", start, err)
			endDiagnostics(nil, err)
			e.stats.account(s, rec, start, nil, 0, err)
			return nil, err
		}
	} else if err := e.authz.check(s, accessOf(stmt, s.Keyspace, s.Shard)); err != nil {
		e.metrics.observe(s.Keyspace, "denied", start, err)
		endDiagnostics(nil, err)
		rec := e.stats.recordOf(e.stats.textSlot(s.Keyspace, sql), s.Keyspace, "denied", stmt, func() string { return statementText(stmt) })
		e.stats.account(s, rec, start, nil, 0, err)
		return nil, err
	}
	res, kind, err := e.run(ctx, s, stmt, sql, bindVars, plan, stream)
	e.metrics.observe(s.Keyspace, kind, start, err)
	endDiagnostics(res, err)
	s.infoWarnings(res)
	if rec == nil {
		rec = e.stats.recordOf(e.stats.textSlot(s.Keyspace, sql), s.Keyspace, kind, stmt, func() string { return statementText(stmt) })
	}
	e.stats.account(s, rec, start, res, streamedRows(res, stream, err, s), err)
	return res, err
}

// unparsedText stands for the statements that did not parse in the
// statistics: their text is not kept, it may hold anything.
const unparsedText = "<statements that did not parse>"

// keyspaceOf is the keyspace a plan runs in: the one its tables name, or
// the session's.
func keyspaceOf(plan *sqlrouter.Plan, s *Session) string {
	if plan != nil && plan.Keyspace != "" {
		return plan.Keyspace
	}
	return s.Keyspace
}

// streamedRows counts the rows of a statement that streamed its result
// (it returned none; it recorded them as FOUND_ROWS()).
func streamedRows(res *sqltypes.Result, stream func(*sqltypes.Result) error, err error, s *Session) uint64 {
	if res == nil && stream != nil && err == nil {
		return s.FoundRows
	}
	return 0
}

// cacheable reports whether a statement's own bind variables (a gRPC
// client's parameters) leave room for the ones normalizing adds.
func cacheable(bindVars map[string]*querypb.BindVariable) bool {
	for name := range bindVars {
		if strings.HasPrefix(name, "vtg") {
			return false
		}
	}
	return true
}

// cachedPlan normalizes a statement's literals into bind variables, beside
// the statement's own (given), and returns the plan of its normalized form,
// from the cache when it was planned before for this keyspace and vschema.
//
// It returns the statement's normalized text too: the statistics' name of
// it (taken before planning, which may rewrite the statement).
func (e *Executor) cachedPlan(s *Session, stmt sqlparser.Statement, sql string, given map[string]*querypb.BindVariable) (*cachedPlan, string, map[string]*querypb.BindVariable, error) {
	names := sqlrouter.ColumnNameKey(stmt, sql)
	bv := make(map[string]*querypb.BindVariable, len(given))
	for k, v := range given {
		bv[k] = v
	}
	sqlrouter.Normalize(stmt, bv)
	text := sqlparser.String(stmt)
	vs := e.topo.vschema.Load()
	key := s.Keyspace + "\x00" + vs.Version + "\x00" + strconv.FormatInt(e.schema.Version(), 10) + "\x00" + text + "\x00" + names
	if entry, ok := e.plans.get(key); ok {
		return entry, text, bv, nil
	}
	ctx := e.planContext(s, sql)
	ctx.VSchema = vs
	plan, err := sqlrouter.NewPlan(stmt, ctx)
	if err != nil {
		return nil, "", nil, err
	}
	return e.plans.put(key, plan), text, bv, nil
}

// run executes a parsed statement; plan, when not nil, was made earlier for
// it (a prepared statement). It returns the metric label of what ran.
func (e *Executor) run(ctx context.Context, s *Session, stmt sqlparser.Statement, sql string, bv map[string]*querypb.BindVariable, plan *sqlrouter.Plan, stream func(*sqltypes.Result) error) (*sqltypes.Result, string, error) {
	return e.runStatement(ctx, s, stmt, sql, bv, plan, stream)
}

func (e *Executor) runStatement(ctx context.Context, s *Session, stmt sqlparser.Statement, sql string, bv map[string]*querypb.BindVariable, plan *sqlrouter.Plan, stream func(*sqltypes.Result) error) (*sqltypes.Result, string, error) {
	if _, ok := stmt.(*sqlparser.Load); ok {
		// Before the query timeout: each of its batches has its own (a
		// file of gigabytes loads for longer).
		res, err := e.loadData(ctx, s, sql)
		return res, "load_data", err
	}
	ctx, cancel := context.WithTimeout(ctx, e.queryTimeout)
	defer cancel()
	switch stmt := stmt.(type) {
	case *sqlparser.Begin:
		if s.InTransaction {
			if err := e.commit(ctx, s); err != nil {
				return nil, "begin", err
			}
		}
		s.savepoints = nil // recorded with autocommit off before any statement
		e.unlockTables(s)  // as MariaDB's START TRANSACTION does
		s.startTransaction(stmt.TxAccessModes)
		return &sqltypes.Result{}, "begin", nil
	case *sqlparser.Commit:
		return &sqltypes.Result{}, "commit", e.commit(ctx, s)
	case *sqlparser.Rollback:
		e.rollback(ctx, s)
		return &sqltypes.Result{}, "rollback", nil
	case *sqlparser.Set:
		res, err := e.set(ctx, s, stmt)
		return res, "set", err
	case *sqlparser.Use:
		res, err := e.use(s, stmt.DBName.String())
		return res, "use", err
	case *sqlparser.Show:
		res, err := e.show(ctx, s, stmt, sql)
		return res, "show", err
	case *sqlparser.ExplainTab:
		res, err := e.describeTable(ctx, s, stmt, sql)
		return res, "describe", err
	case *sqlparser.Savepoint, *sqlparser.SRollback, *sqlparser.Release:
		res, err := e.savepoint(ctx, s, stmt)
		return res, "savepoint", err
	case *sqlparser.LockTables:
		res, err := e.lockTables(ctx, s, stmt)
		return res, "lock_tables", err
	case *sqlparser.UnlockTables:
		e.unlockTables(s)
		return &sqltypes.Result{}, "unlock_tables", nil
	case *sqlparser.PrepareStmt, *sqlparser.ExecuteStmt, *sqlparser.DeallocateStmt:
		return nil, "prepare", sqlerr.Unsupported("SQL-level PREPARE/EXECUTE/DEALLOCATE (use the protocol's prepared statements)")
	case *sqlparser.Kill:
		res, err := e.kill(s, stmt)
		return res, "kill", err
	case *sqlparser.CommentOnly:
		return &sqltypes.Result{}, "comment", nil
	case *sqlparser.VExplainStmt:
		res, err := e.vexplain(ctx, s, stmt, bv)
		return res, "vexplain", err
	case *sqlparser.Select:
		if stmt.Into != nil {
			if stmt.Into.Type != sqlparser.IntoVariables {
				return nil, "select_into", sqlerr.Unsupported("SELECT ... INTO OUTFILE and INTO DUMPFILE (they would write files on a shard's host; read the rows with a client)")
			}
			res, err := e.selectIntoVariables(ctx, s, stmt, bv)
			return res, "select_into", err
		}
		if usesLockFunctions(stmt) {
			res, err := e.lockStatement(ctx, s, stmt, sql, bv)
			return res, "lock_function", err
		}
	}
	if s.TxReadOnly && writes(stmt) {
		// Refused here, as MariaDB refuses it, before the gate writes
		// anything itself for it (lookup rows, sequence values).
		return nil, "read_only", sqlerr.New(erCantExecuteInReadOnlyTransaction, "25006", "Cannot execute statement in a READ ONLY transaction")
	}

	if s.Shard != "" {
		if len(bv) > 0 {
			// A prepared statement: substitute its parameters.
			var err error
			if sql, err = sqlparser.NewParsedQuery(stmt).GenerateQuery(bv, nil); err != nil {
				return nil, "targeted", sqlerr.Internal("substitute parameters: %v", err)
			}
		}
		res, err := e.executeTargeted(ctx, s, sql)
		return res, "targeted", err
	}
	if _, ddl := stmt.(sqlparser.DDLStatement); ddl && s.InTransaction {
		// MySQL commits the open transaction before DDL.
		if err := e.commit(ctx, s); err != nil {
			return nil, "ddl", err
		}
	}
	if plan == nil {
		var err error
		if plan, err = e.plan(s, stmt, sql); err != nil {
			return nil, "plan", err
		}
	}
	if !s.Autocommit && !s.InTransaction && readsTables(stmt) {
		// With autocommit off, a statement that reads or writes a table
		// opens a transaction (SELECT @@autocommit does not, in MariaDB).
		s.startTransaction(nil)
	}
	bv = e.sessionBindVars(s, plan, bv)
	s.stmtDirectRead = e.tablets.direct != nil && plan.Type == sqlparser.StmtSelect && !s.InTransaction && directReadable(stmt)
	s.stmtDirectTx = e.tablets.direct != nil && s.connectionBound && directTxStatement(plan.Type, stmt)
	// Only this statement's reads: what the session sends to shards
	// outside a statement (a prepare's field query) goes to the tablet.
	defer func() { s.stmtDirectRead, s.stmtDirectTx = false, false }()
	if stream != nil && s.Workload == workloadOLAP && !s.InTransaction && s.tableLocks == nil && plan.Streams() {
		var rows uint64
		err := plan.StreamExecute(ctx, &cursor{e: e, s: s}, bv, func(r *sqltypes.Result) error {
			rows += uint64(len(r.Rows))
			return stream(r)
		})
		if err != nil {
			return nil, planLabel(plan), sqlerr.From(err)
		}
		s.FoundRows = rows
		return nil, planLabel(plan), nil
	}
	res, err := e.executePlan(ctx, s, plan, bv)
	if _, ddl := stmt.(sqlparser.DDLStatement); ddl {
		// Even a failed DDL may have changed some shards.
		e.schema.invalidate(plan.Keyspace)
		e.tablets.forgetDirectColumns(plan.Keyspace)
	}
	if err != nil {
		return nil, planLabel(plan), sqlerr.From(err)
	}
	if res.InsertID != 0 {
		s.LastInsertID = res.InsertID
	}
	if plan.Type == sqlparser.StmtSelect && !plan.CalcFoundRows {
		// A SELECT SQL_CALC_FOUND_ROWS set it as its plan ran (FoundRows).
		s.FoundRows = uint64(len(res.Rows))
	}
	return res, planLabel(plan), nil
}

// executePlan runs a plan. When a shard refuses it because a resharding
// stopped the shard's writes, and nothing of it took effect (it opened the
// session's transaction, or autocommitted nothing), it runs again once the
// serving graph has changed, within the write buffer's MaxWait: the
// client sees a pause, not the error.
func (e *Executor) executePlan(ctx context.Context, s *Session, plan *sqlrouter.Plan, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	retryable := !s.hasShards()
	isRead := plan.Type == sqlparser.StmtSelect && !s.InTransaction
	var deadline time.Time
	// broken is the first failure of a read whose call broke: when running
	// it again fails for good (no failover replaced the tablet), the
	// client learns of the break, not of the refusal that followed.
	var broken error
	for {
		c := &cursor{e: e, s: s}
		res, err := plan.Execute(ctx, c, bv)
		if err == nil || !retryable || c.committed.Load() || e.buffer == nil || !(notRun(err) || isRead && outcomeUnknown(err)) {
			if err != nil && broken != nil {
				return res, broken
			}
			return res, err
		}
		if broken == nil && outcomeUnknown(err) {
			broken = err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(e.buffer.cfg.MaxWait)
		}
		if s.InTransaction {
			// The shards the statement began on are all the transaction
			// has: roll them back and keep the transaction open.
			readOnly := s.TxReadOnly
			shards, _, ended := e.takeShards(s)
			e.rollbackShards(ctx, shards)
			ended()
			s.InTransaction, s.TxReadOnly = true, readOnly
		}
		if !e.buffer.waitSwitch(ctx, deadline, e.tablets.routingChanged()) {
			return nil, err
		}
		e.buffer.metrics.retries.Inc()
	}
}

// notRun recognizes the refusals that guarantee the statement did not run
// on the shard and will succeed once the routing moves on: a resharding
// switching the shard's writes, a tablet that is not (or no longer) the
// primary or has no primary to send to, a primary whose MySQL is down
// (a failover is coming).
func notRun(err error) bool {
	switch sqlerr.ReasonOf(err) {
	case sqlerr.ReasonWritesSwitching, sqlerr.ReasonNotPrimary, sqlerr.ReasonMySQLUnreachable:
		return true
	}
	return false
}

// outcomeUnknown recognizes a call that broke while its statement ran: a
// read may run again, a write may not (it may have taken effect).
func outcomeUnknown(err error) bool {
	return sqlerr.HasReason(err, sqlerr.ReasonOutcomeUnknown)
}

// planLabel names a plan in the metrics: its statement type and how its
// first route reaches the shards (select_equalunique, select_scatter,
// insert, ...); a plan with no route, the type alone.
func planLabel(p *sqlrouter.Plan) string {
	name := strings.ToLower(p.Type.String())
	if r := firstRoute(p.Primitive); r != nil {
		return name + "_" + strings.ToLower(r.Opcode.String())
	}
	return name
}

func firstRoute(p sqlrouter.Primitive) *sqlrouter.Route {
	if r, ok := p.(*sqlrouter.Route); ok {
		return r
	}
	for _, in := range p.Inputs() {
		if r := firstRoute(in); r != nil {
			return r
		}
	}
	return nil
}

func (e *Executor) planContext(s *Session, sql string) sqlrouter.PlanContext {
	return sqlrouter.PlanContext{
		VSchema:        e.topo.vschema.Load(),
		Keyspace:       s.Keyspace,
		SQL:            sql,
		ServerVersion:  e.serverVersion,
		VersionComment: e.versionComment,
		Schema:         e.schema,
	}
}

func (e *Executor) plan(s *Session, stmt sqlparser.Statement, sql string) (*sqlrouter.Plan, error) {
	return sqlrouter.NewPlan(stmt, e.planContext(s, sql))
}

// sessionBindVars adds the session values a plan refers to.
func (e *Executor) sessionBindVars(s *Session, plan *sqlrouter.Plan, bv map[string]*querypb.BindVariable) map[string]*querypb.BindVariable {
	if !plan.Needs.Any() {
		return bv
	}
	out := make(map[string]*querypb.BindVariable, len(bv)+2)
	for k, v := range bv {
		out[k] = v
	}
	if plan.Needs.LastInsertID {
		out[sqlrouter.LastInsertIDBindVar] = sqltypes.Uint64BindVariable(s.LastInsertID)
	}
	if plan.Needs.ConnectionID {
		out[sqlrouter.ConnectionIDBindVar] = sqltypes.Uint64BindVariable(uint64(s.ConnectionID))
	}
	if plan.Needs.FoundRows {
		out[sqlrouter.FoundRowsBindVar] = sqltypes.Uint64BindVariable(s.FoundRows)
	}
	if plan.Needs.TransactionMode {
		out[sqlrouter.TransactionModeBindVar] = sqltypes.StringBindVariable(s.TransactionMode.String())
	}
	for _, name := range plan.Needs.Variables {
		out[name] = s.variableValue(name)
	}
	return out
}

// executeTargeted sends a statement unchanged to the shard the session
// targets (USE ks:shard).
func (e *Executor) executeTargeted(ctx context.Context, s *Session, sql string) (*sqltypes.Result, error) {
	if !s.Autocommit && !s.InTransaction {
		s.startTransaction(nil)
	}
	results, err := (&cursor{e: e, s: s}).ExecuteShards(ctx, s.Keyspace, []sqlrouter.ShardQuery{{Shard: s.Shard, SQL: sql}}, false)
	if err != nil {
		return nil, sqlerr.From(err)
	}
	return results[0], nil
}

// CloseSession rolls back whatever the session left open and releases
// its locks.
func (e *Executor) CloseSession(s *Session) {
	e.sessions.remove(s)
	e.releaseLocks(s)
	e.unlockTables(s)
	if len(s.shards) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.rollback(ctx, s)
}

// erCantExecuteInReadOnlyTransaction is MySQL's
// ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION, which vitess's sqlerror does
// not name.
const erCantExecuteInReadOnlyTransaction sqlerror.ErrorCode = 1792

// readsTables reports whether a statement names a table (other than
// DUAL).
func readsTables(stmt sqlparser.Statement) bool {
	found := false
	_ = sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
		if t, ok := node.(sqlparser.TableName); ok && !t.Name.IsEmpty() && t.Name.String() != "dual" {
			found = true
		}
		return !found, nil
	}, stmt)
	return found
}

// writes reports whether a statement changes data or schema.
func writes(stmt sqlparser.Statement) bool {
	switch stmt.(type) {
	case *sqlparser.Insert, *sqlparser.Update, *sqlparser.Delete, *sqlparser.Load, sqlparser.DDLStatement:
		return true
	}
	return false
}
