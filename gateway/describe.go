package gateway

import (
	"context"

	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// describeTable answers DESCRIBE t [col] (EXPLAIN t), SHOW [FULL] COLUMNS
// and SHOW INDEX: planned by the router (one shard of the table's
// keyspace, the keyspace qualifier removed). Like MariaDB, they read no
// rows: with autocommit off they open no transaction (one open runs
// them). A session targeting a shard sends them to it as they are.
func (e *Executor) describeTable(ctx context.Context, s *Session, stmt sqlparser.Statement, sql string) (*sqltypes.Result, error) {
	if s.Shard != "" {
		return e.executeTargeted(ctx, s, sql)
	}
	plan, err := e.plan(s, stmt, sql)
	if err != nil {
		return nil, err
	}
	res, err := e.executePlan(ctx, s, plan, nil)
	if err != nil {
		return nil, sqlerr.From(err)
	}
	return res, nil
}
