package gateway

import (
	"context"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/sqlrouter"
)

// Named locks: GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS, IS_FREE_LOCK,
// IS_USED_LOCK.
//
// MySQL ties a named lock to the connection that took it. The gate runs a
// session's lock functions on one connection reserved for the session
// (tablet ReserveExecute) on the lock shard: the first shard (the one
// holding the lowest keyspace ids) of the session's keyspace. Every
// session of every gate that uses the keyspace thus takes its locks on the
// same MariaDB, with MariaDB's own semantics: a lock held by one session
// is refused to another, a session may take several and the same one
// again, and a session that ends releases them (the gate releases the
// reserved connection; the tablet closes the connections of a gate that
// died). Sessions in different keyspaces have separate lock namespaces.

// usesLockFunctions reports a SELECT whose select list calls a lock
// function.
func usesLockFunctions(sel *sqlparser.Select) bool {
	if sel.SelectExprs == nil {
		return false
	}
	found := false
	_ = sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
		if _, ok := node.(*sqlparser.LockingFunc); ok {
			found = true
		}
		return !found, nil
	}, sel.SelectExprs)
	return found
}

// lockStatement runs a SELECT of lock functions on the session's lock
// connection, reserving it first.
func (e *Executor) lockStatement(ctx context.Context, s *Session, sel *sqlparser.Select, sql string, bv map[string]*vquerypb.BindVariable) (*sqltypes.Result, error) {
	if readsTables(sel) {
		return nil, sqlerr.Unsupported("GET_LOCK and the other lock functions in a statement that reads tables (select them on their own)")
	}
	if err := e.checkReservable(s, "lock functions"); err != nil {
		return nil, err
	}
	sql, err := e.lockSQL(s, sel, sql, bv)
	if err != nil {
		return nil, err
	}
	if s.lockConn == nil {
		keyspace := s.Keyspace
		if keyspace == "" {
			if names := e.keyspaceNames(); len(names) > 0 {
				keyspace = names[0]
			}
		}
		if keyspace == "" {
			return nil, sqlerr.Unsupported("lock functions with no keyspace (USE one: locks are taken on its first shard)")
		}
		shards, err := e.topo.shards(keyspace, topopb.TabletType_PRIMARY)
		if err != nil {
			return nil, err
		}
		rc, res, err := e.reserveConn(ctx, s, keyspace, shards[0].Name, sql)
		if rc != nil {
			s.lockConn = rc
		}
		return res, err
	}
	res, err := s.lockConn.execute(ctx, s, sql)
	if sqlerr.HasReason(err, sqlerr.ReasonReservedConnectionGone) {
		// The connection, and the locks with it, are gone (the tablet
		// restarted): the next lock function reserves anew.
		s.lockConn = nil
	}
	return res, err
}

// lockSQL returns the statement to send: with the session's user
// variables put in as literals when it reads any (GET_LOCK(@name, 10)),
// and a prepared statement's parameters; otherwise sql unchanged, so that
// result columns keep the names the client wrote.
func (e *Executor) lockSQL(s *Session, stmt sqlparser.Statement, sql string, bv map[string]*vquerypb.BindVariable) (string, error) {
	changed := false
	out := sqlparser.Rewrite(sqlparser.Clone(stmt), func(c *sqlparser.Cursor) bool {
		switch n := c.Node().(type) {
		case *sqlparser.Variable:
			if n.Scope == sqlparser.VariableScope {
				c.Replace(literalOf(s.variableValue(sqlrouter.UserVariableBindVar(n.Name.String()))))
				changed = true
			}
		case *sqlparser.Argument:
			changed = true
		}
		return true
	}, nil)
	if !changed {
		return sql, nil
	}
	query, err := sqlparser.NewParsedQuery(out).GenerateQuery(bv, nil)
	if err != nil {
		return "", sqlerr.New(sqlerror.ERWrongArguments, sqlerror.SSUnknownSQLState, "Incorrect arguments to mysqld_stmt_execute: %v", err)
	}
	return query, nil
}

// releaseLocks gives back the session's lock connection: MySQL releases
// whatever locks it held.
func (e *Executor) releaseLocks(s *Session) {
	if lc := s.lockConn; lc != nil {
		s.lockConn = nil
		e.release(lc)
	}
}
