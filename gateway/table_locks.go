package gateway

import (
	"context"
	"sort"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
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

func shardKey(keyspace, shard string) string { return keyspace + "/" + shard }

// lockTables handles LOCK TABLES.
func (e *Executor) lockTables(ctx context.Context, s *Session, stmt *sqlparser.LockTables) (*sqltypes.Result, error) {
	if err := e.checkReservable(s, "LOCK TABLES"); err != nil {
		return nil, err
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
	locks := map[string]*reservedConn{}
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
			rc, _, err := e.reserveConn(ctx, s, ks, sh.Name, sql)
			if err != nil {
				e.releaseTableLocks(locks)
				return nil, err
			}
			locks[shardKey(ks, sh.Name)] = rc
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

func (e *Executor) releaseTableLocks(locks map[string]*reservedConn) {
	conns := make([]*reservedConn, 0, len(locks))
	for _, rc := range locks {
		conns = append(conns, rc)
	}
	e.release(conns...)
}

// executeLocked runs a statement of a session that holds table locks: on
// the shard's locked connection when the session locked tables of that
// keyspace, else as any autocommitted statement.
func (e *Executor) executeLocked(ctx context.Context, s *Session, keyspace string, q sqlrouter.ShardQuery, write bool) (*sqltypes.Result, error) {
	rc := s.tableLocks[shardKey(keyspace, q.Shard)]
	if rc == nil {
		return e.executeAutocommit(ctx, s, keyspace, q, write)
	}
	return rc.execute(ctx, s, q.SQL)
}
