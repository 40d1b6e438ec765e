package gateway

import (
	"context"
	"regexp"
	"strconv"
	"time"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter"
)

var positionalArg = regexp.MustCompile(`^v[0-9]+$`)

// Prepare parses and plans a statement once for repeated execution and
// returns its result columns (for reads) and number of placeholders.
func (e *Executor) Prepare(ctx context.Context, s *Session, id uint32, sql string) ([]*querypb.Field, int, error) {
	stmt, reserved, err := e.parse(sql)
	if err != nil {
		return nil, 0, err
	}
	params := 0
	for name := range reserved {
		if positionalArg.MatchString(name) {
			params++
		}
	}
	ps := &preparedStatement{sql: sql, stmt: stmt, paramCount: params}
	if err := e.authorizePrepared(s, ps); err != nil {
		return nil, 0, err
	}
	var fields []*querypb.Field
	if routable(stmt) {
		sel, ok := stmt.(sqlparser.SelectStatement)
		if !ok {
			// INSERT ... RETURNING returns the columns of a SELECT of its
			// expressions from its table.
			if returning := sqlrouter.ReturningFields(stmt, sql); returning != nil {
				sel, ok = returning, true
			}
		}
		// Clients (libmysqlclient among them) expect the result columns
		// at prepare time, and fail the execution ("Commands out of
		// sync") when a prepare announced none; an impossible query finds
		// them cheaply.
		switch {
		case s.Shard != "":
			// A targeted session (USE ks:shard) sends statements unchanged
			// to its shard, unplanned: the columns come from there. (Only
			// a SELECT's: such a session does not run RETURNING.)
			if sel, isSelect := stmt.(sqlparser.SelectStatement); isSelect {
				if fields, err = e.targetedFieldsOf(ctx, s, sel, params); err != nil {
					return nil, 0, err
				}
			}
		default:
			if err := e.planPrepared(s, ps); err != nil {
				return nil, 0, err
			}
			if ok {
				if fields, err = e.fieldsOf(ctx, s, ps.plan, sel, params); err != nil {
					return nil, 0, err
				}
			}
		}
	}
	s.prepared[id] = ps
	return fields, params, nil
}

// routable reports statements the planner handles (the rest the gate
// answers itself, re-reading them at every execution).
func routable(stmt sqlparser.Statement) bool {
	switch stmt := stmt.(type) {
	case *sqlparser.Select:
		// SELECT ... INTO @x assigns at the gate; lock functions run on
		// the session's lock connection.
		return stmt.Into == nil && !usesLockFunctions(stmt)
	case *sqlparser.Union, *sqlparser.Insert, *sqlparser.Update, *sqlparser.Delete:
		return true
	}
	return false
}

func (e *Executor) planPrepared(s *Session, ps *preparedStatement) error {
	plan, err := e.plan(s, ps.stmt, ps.sql)
	if err != nil {
		return err
	}
	ps.plan, ps.keyspace, ps.version = plan, s.Keyspace, e.topo.vschema.Load().Version
	return nil
}

// fieldsOf runs "SELECT ... WHERE 1 != 1" on one shard to learn the
// columns a prepared read returns.
func (e *Executor) fieldsOf(ctx context.Context, s *Session, plan *sqlrouter.Plan, sel sqlparser.SelectStatement, params int) ([]*querypb.Field, error) {
	query, bv := impossibleQuery(sel, params)
	bv = e.sessionBindVars(s, plan, bv)
	// A derived table's LIMIT ? is in the field query too.
	bv, err := plan.BindLimits(bv)
	if err != nil {
		return nil, err
	}
	sql, err := query.GenerateQuery(bv, nil)
	if err != nil {
		return nil, sqlerr.Internal("field query: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.queryTimeout)
	defer cancel()
	// Every shard has the table: ask the first that answers. A shard that
	// did not run it (its primary is being replaced) is skipped, and when
	// none did, the query waits for the routing to move on, as a statement
	// would (executePlan).
	var deadline time.Time
	for {
		shards, err := e.topo.shards(plan.Keyspace, s.TabletType)
		if err != nil {
			return nil, err
		}
		for _, shard := range shards {
			var res *sqltypes.Result
			res, err = e.executeLocked(ctx, s, plan.Keyspace, sqlrouter.ShardQuery{Shard: shard.Name, SQL: sql}, false)
			if err == nil {
				return res.Fields, nil
			}
			// The field query reads nothing: it may run again even when
			// its call broke.
			if !(notRun(err) || outcomeUnknown(err)) || s.hasShards() {
				return nil, err
			}
		}
		if deadline.IsZero() && e.buffer != nil {
			deadline = time.Now().Add(e.buffer.cfg.MaxWait)
		}
		if !e.buffer.waitSwitch(ctx, deadline, e.tablets.routingChanged()) {
			return nil, err
		}
	}
}

// impossibleQuery is sel as "SELECT ... WHERE 1 != 1", which returns the
// columns and no rows, with its params positional placeholders bound to
// NULL.
func impossibleQuery(sel sqlparser.SelectStatement, params int) (*sqlparser.ParsedQuery, map[string]*querypb.BindVariable) {
	buf := sqlparser.NewTrackedBuffer(sqlparser.FormatImpossibleQuery)
	buf.Myprintf("%v", sel)
	bv := map[string]*querypb.BindVariable{}
	for i := 1; i <= params; i++ {
		bv["v"+strconv.Itoa(i)] = sqltypes.NullBindVariable
	}
	return buf.ParsedQuery(), bv
}

// targetedFieldsOf runs "SELECT ... WHERE 1 != 1" on the shard a targeted
// session sends its statements to, to learn the columns a prepared read
// returns.
func (e *Executor) targetedFieldsOf(ctx context.Context, s *Session, sel sqlparser.SelectStatement, params int) ([]*querypb.Field, error) {
	query, bv := impossibleQuery(sel, params)
	sql, err := query.GenerateQuery(bv, nil)
	if err != nil {
		return nil, sqlerr.Internal("field query: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.queryTimeout)
	defer cancel()
	res, err := e.executeLocked(ctx, s, s.Keyspace, sqlrouter.ShardQuery{Shard: s.Shard, SQL: sql}, false)
	if err != nil {
		return nil, err
	}
	return res.Fields, nil
}

// ExecutePrepared runs a prepared statement with its parameters. The plan
// is reused unless the session's keyspace or the vschema changed since it
// was made.
func (e *Executor) ExecutePrepared(ctx context.Context, s *Session, id uint32, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	return e.executePrepared(ctx, s, id, bv, nil)
}

// StreamExecutePrepared is ExecutePrepared handing its result to callback,
// streamed as StreamExecute streams.
func (e *Executor) StreamExecutePrepared(ctx context.Context, s *Session, id uint32, bv map[string]*querypb.BindVariable, callback func(*sqltypes.Result) error) error {
	res, err := e.executePrepared(ctx, s, id, bv, callback)
	if err != nil || res == nil {
		return err
	}
	return callback(res)
}

func (e *Executor) executePrepared(ctx context.Context, s *Session, id uint32, bv map[string]*querypb.BindVariable, stream func(*sqltypes.Result) error) (*sqltypes.Result, error) {
	start := time.Now()
	ps, ok := s.prepared[id]
	if !ok {
		err := sqlerr.New(sqlerror.ERUnknownStmtHandler, sqlerror.SSUnknownSQLState, "Unknown prepared statement handler (%d) given to mysqld_stmt_execute", id)
		s.startDiagnostics(nil)(nil, err)
		return nil, err
	}
	endDiagnostics := s.startDiagnostics(ps.stmt)
	if err := e.authorizePrepared(s, ps); err != nil {
		// Rights are checked at every execution: a reload of the users
		// file may have taken them away since the statement was prepared.
		endDiagnostics(nil, err)
		return nil, err
	}
	if ps.plan != nil && (ps.keyspace != s.Keyspace || ps.version != e.topo.vschema.Load().Version) {
		if err := e.planPrepared(s, ps); err != nil {
			endDiagnostics(nil, err)
			return nil, err
		}
	}
	plan := ps.plan
	if s.Shard != "" {
		plan = nil // a targeted session sends statements as they are
	}
	s.beginStatement(ps.sql)
	var rec *statementRecord
	if plan != nil {
		rec = e.stats.recordOf(&ps.record, keyspaceOf(plan, s), planLabel(plan), ps.stmt, func() string { return statementText(ps.stmt) })
		s.stmtTables = rec.tables
	}
	res, kind, err := e.run(ctx, s, ps.stmt, ps.sql, bv, plan, stream)
	e.metrics.observe(s.Keyspace, kind, start, err)
	endDiagnostics(res, err)
	s.infoWarnings(res)
	if rec == nil {
		rec = e.stats.recordOf(&ps.record, s.Keyspace, kind, ps.stmt, func() string { return statementText(ps.stmt) })
	}
	e.stats.account(s, rec, start, res, streamedRows(res, stream, err, s), err)
	return res, err
}

// ClosePrepared forgets a prepared statement.
func (e *Executor) ClosePrepared(s *Session, id uint32) {
	delete(s.prepared, id)
}

// authorizePrepared checks the session may run a prepared statement now.
func (e *Executor) authorizePrepared(s *Session, ps *preparedStatement) error {
	if s.Shard != "" {
		return e.authz.check(s, accessOf(ps.stmt, s.Keyspace, s.Shard))
	}
	return e.authz.check(s, ps.access.of(ps.stmt, s.Keyspace))
}
