package gateway

import (
	"context"
	"sort"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/sqlrouter"
)

// LOCK TABLES and UNLOCK TABLES.
//
// A table lock belongs to the MySQL connection that took it, and while a
// connection holds table locks it may use only the tables it locked. The
// gate takes the locks on every shard of each locked table's keyspace, each
// on a connection the tablet reserves for the session, and from then on
// runs the session's statements on those shards there, autocommitted (as
// mariadb-dump's LOCK TABLES ... WRITE; INSERT ...; UNLOCK TABLES runs). A
// statement that spans shards is then atomic on each shard but not across
// them (no implicit transaction can run on the locked connections).
// UNLOCK TABLES, BEGIN, a new LOCK TABLES and the session's end release the
// connections, and MariaDB the locks with them. With autocommit off, a
// statement under LOCK TABLES is refused: it would need a transaction on
// a locked connection.

// tableLock is a shard's connection holding the session's table locks.
type tableLock struct {
	keyspace, shard string
	id              int64
	tablet          *tabletConn
}

func shardKey(keyspace, shard string) string { return keyspace + "/" + shard }

// lockTables handles LOCK TABLES.
func (e *Executor) lockTables(ctx context.Context, s *Session, stmt *sqlparser.LockTables) (*sqltypes.Result, error) {
	if !s.connectionBound {
		return nil, sqlerr.Unsupported("LOCK TABLES over the gRPC API (a session there lives in its client between calls and cannot hold a connection's locks): use the MySQL protocol")
	}
	if e.twopc == nil {
		return nil, sqlerr.Unsupported("LOCK TABLES on a gate without a topology (tablets release a session's locks when its gate leaves the topology)")
	}
	// MariaDB commits the open transaction and releases the locks held.
	if s.InTransaction {
		if err := e.commit(ctx, s); err != nil {
			return nil, err
		}
	}
	e.unlockTables(s)

	// The tables to lock on each keyspace's shards, qualifiers removed.
	byKeyspace := map[string]sqlparser.TableAndLockTypes{}
	for _, t := range stmt.Tables {
		aliased, ok := t.Table.(*sqlparser.AliasedTableExpr)
		if !ok {
			return nil, sqlerr.Unsupported("LOCK TABLES of %s", sqlparser.String(t.Table))
		}
		name, ok := aliased.Expr.(sqlparser.TableName)
		if !ok {
			return nil, sqlerr.Unsupported("LOCK TABLES of %s", sqlparser.String(aliased))
		}
		keyspace := s.Keyspace
		if !name.Qualifier.IsEmpty() {
			keyspace = name.Qualifier.String()
		}
		if keyspace == "" {
			return nil, sqlerr.New(sqlerror.ERNoDb, sqlerror.SSNoDB, "No database selected")
		}
		if _, ok := e.topo.vschema.Load().Keyspace(keyspace); !ok {
			return nil, sqlerr.New(sqlerror.ERBadDb, sqlerror.SSClientError, "Unknown database '%s'", keyspace)
		}
		local := sqlparser.CloneRefOfAliasedTableExpr(aliased)
		local.Expr = sqlparser.TableName{Name: name.Name}
		byKeyspace[keyspace] = append(byKeyspace[keyspace], &sqlparser.TableAndLockType{Table: local, Lock: t.Lock})
	}
	keyspaces := make([]string, 0, len(byKeyspace))
	for ks := range byKeyspace {
		keyspaces = append(keyspaces, ks)
	}
	sort.Strings(keyspaces) // one order for every session: no lock-order deadlock between gates
	locks := map[string]*tableLock{}
	for _, ks := range keyspaces {
		sql := sqlparser.String(&sqlparser.LockTables{Tables: byKeyspace[ks]})
		shards, err := e.topo.shards(ks, topopb.TabletType_PRIMARY)
		if err != nil {
			e.releaseTableLocks(locks)
			return nil, err
		}
		// Shard by shard, in key order, so that two sessions locking the
		// same tables wait for each other instead of each holding half.
		for _, sh := range shards {
			tc, err := e.tablets.pick(ks, sh.Name, topopb.TabletType_PRIMARY)
			if err == nil {
				var resp *querypb.ReserveExecuteResponse
				resp, err = tc.query.ReserveExecute(ctx, &querypb.ReserveExecuteRequest{
					Target: target(ks, sh.Name, topopb.TabletType_PRIMARY), Sql: []byte(sql), Owner: e.twopc.gate.Id,
				})
				if err == nil {
					locks[shardKey(ks, sh.Name)] = &tableLock{keyspace: ks, shard: sh.Name, id: resp.ReservedId, tablet: tc}
					continue
				}
				err = tabletError(tc, err)
			}
			e.releaseTableLocks(locks)
			return nil, err
		}
	}
	s.tableLocks = locks
	return &sqltypes.Result{}, nil
}

// unlockTables releases the session's table locks, if any.
func (e *Executor) unlockTables(s *Session) {
	if s.tableLocks == nil {
		return
	}
	locks := s.tableLocks
	s.tableLocks = nil
	e.releaseTableLocks(locks)
}

func (e *Executor) releaseTableLocks(locks map[string]*tableLock) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, l := range locks {
		if _, err := l.tablet.query.Release(ctx, &querypb.ReleaseRequest{Target: target(l.keyspace, l.shard, topopb.TabletType_PRIMARY), ReservedId: l.id}); err != nil {
			e.log.Warn("cannot release a session's table locks", zap.String("tablet", l.tablet.record.Alias), zap.Int64("reserved_id", l.id), zap.Error(err))
		}
	}
}

// executeLocked runs a statement of a session that holds table locks: on
// the shard's locked connection when the session locked tables of that
// keyspace, else as any autocommitted statement.
func (e *Executor) executeLocked(ctx context.Context, s *Session, keyspace string, q sqlrouter.ShardQuery, write bool) (*sqltypes.Result, error) {
	l := s.tableLocks[shardKey(keyspace, q.Shard)]
	if l == nil {
		return e.executeAutocommit(ctx, s, keyspace, q, write)
	}
	resp, err := l.tablet.query.Execute(ctx, &querypb.ExecuteRequest{
		Target: target(keyspace, q.Shard, topopb.TabletType_PRIMARY), Sql: []byte(q.SQL), ReservedId: l.id,
	})
	if err != nil {
		return nil, tabletError(l.tablet, err)
	}
	return s.shardResult(resp.Result)
}
