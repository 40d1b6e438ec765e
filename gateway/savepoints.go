package gateway

import (
	"context"
	"slices"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter"
)

// Savepoints in a transaction over any number of shards.
//
// The session records the savepoints of its open transaction in order.
// SAVEPOINT, ROLLBACK TO SAVEPOINT and RELEASE SAVEPOINT go to every shard
// already in the transaction; a shard that joins later first sets every
// recorded savepoint, in order, before its first statement. So every
// shard holds every savepoint, and rolling back to one undoes, on each
// shard, exactly what the transaction did there after it: on a shard that
// joined after the savepoint, everything.

// savepointSQL renders a savepoint statement with its name quoted.
func savepointSQL(verb, name string) string {
	return verb + " " + sqlparser.String(sqlparser.NewIdentifierCS(name))
}

// savepoint handles SAVEPOINT, ROLLBACK TO SAVEPOINT and RELEASE SAVEPOINT.
func (e *Executor) savepoint(ctx context.Context, s *Session, stmt sqlparser.Statement) (*sqltypes.Result, error) {
	switch stmt := stmt.(type) {
	case *sqlparser.Savepoint:
		name := stmt.Name.String()
		if !s.InTransaction && s.Autocommit {
			// MariaDB accepts it and keeps nothing: there is no
			// transaction to roll back to.
			return &sqltypes.Result{}, nil
		}
		// With autocommit off and no statement yet, the savepoint is
		// only recorded: the transaction's first shards set it as they
		// join.
		if err := e.onEveryShard(ctx, s, savepointSQL("savepoint", name)); err != nil {
			return nil, err
		}
		s.savepoints = slices.DeleteFunc(s.savepoints, func(sp string) bool { return strings.EqualFold(sp, name) })
		s.savepoints = append(s.savepoints, name)
	case *sqlparser.SRollback:
		i := s.findSavepoint(stmt.Name.String())
		if i < 0 {
			return nil, noSavepoint(stmt.Name.String())
		}
		if err := e.onEveryShard(ctx, s, savepointSQL("rollback to savepoint", s.savepoints[i])); err != nil {
			return nil, err
		}
		s.savepoints = s.savepoints[:i+1]
	case *sqlparser.Release:
		i := s.findSavepoint(stmt.Name.String())
		if i < 0 {
			return nil, noSavepoint(stmt.Name.String())
		}
		if err := e.onEveryShard(ctx, s, savepointSQL("release savepoint", s.savepoints[i])); err != nil {
			return nil, err
		}
		s.savepoints = s.savepoints[:i]
	}
	return &sqltypes.Result{}, nil
}

func noSavepoint(name string) error {
	return sqlerr.New(sqlerror.ERSPDoesNotExist, sqlerror.SSClientError, "SAVEPOINT %s does not exist", name)
}

// findSavepoint returns the index of a recorded savepoint (names ignore
// case, as MariaDB's do), or -1.
func (s *Session) findSavepoint(name string) int {
	return slices.IndexFunc(s.savepoints, func(sp string) bool { return strings.EqualFold(sp, name) })
}

// onEveryShard runs a statement on every shard of the open transaction,
// in parallel.
func (e *Executor) onEveryShard(ctx context.Context, s *Session, sql string) error {
	shards := s.shardList()
	c := &cursor{e: e, s: s}
	queries := make([]sqlrouter.ShardQuery, len(shards))
	for i, ss := range shards {
		queries[i] = sqlrouter.ShardQuery{Shard: ss.shard, SQL: sql}
	}
	_, err := c.parallel(queries, func(i int, q sqlrouter.ShardQuery) (*sqltypes.Result, error) {
		return e.executeInTransaction(ctx, s, shards[i].keyspace, q)
	})
	return err
}
