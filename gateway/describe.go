package gateway

import (
	"context"

	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// describeTable answers SHOW [FULL] COLUMNS and SHOW INDEX as DESCRIBE is
// answered: planned by the router (one shard of the table's keyspace, the
// keyspace qualifier removed), run like any statement of the session.
func (e *Executor) describeTable(ctx context.Context, s *Session, stmt *sqlparser.Show, sql string) (*sqltypes.Result, error) {
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
