package gateway

import (
	"context"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// reservedConn is a shard's MySQL connection its tablet reserved for one
// session (ReserveExecute): named locks (locks.go) and table locks
// (table_locks.go) live on such connections. Releasing one closes it on
// the tablet, and MariaDB drops what it held.
type reservedConn struct {
	keyspace, shard string
	id              int64
	tablet          *tabletConn
}

// checkReservable refuses what needs reserved connections (what names
// it) in a session that cannot hold them, before anything is done for it.
func (e *Executor) checkReservable(s *Session, what string) error {
	if !s.connectionBound {
		return sqlerr.Unsupported("%s over the gRPC API (a session there lives in its client between calls and cannot hold a connection's locks): use the MySQL protocol", what)
	}
	if e.twopc == nil {
		return sqlerr.Unsupported("%s on a gate without a topology (tablets release a session's locks when its gate leaves the topology)", what)
	}
	return nil
}

// reserveConn has the tablet of a shard's primary reserve a connection for
// session s (checkReservable first) and run sql on it first; the
// connection belongs to this gate (its registration in the topology), so
// that the tablet closes it if the gate dies.
func (e *Executor) reserveConn(ctx context.Context, s *Session, keyspace, shard, sql string) (*reservedConn, *sqltypes.Result, error) {
	tc, err := e.tablets.pick(keyspace, shard, topopb.TabletType_PRIMARY)
	if err != nil {
		return nil, nil, err
	}
	resp, err := tc.query.ReserveExecute(ctx, &querypb.ReserveExecuteRequest{
		Target: target(keyspace, shard, topopb.TabletType_PRIMARY), Sql: []byte(sql), Owner: e.twopc.gate.Id,
	})
	if err != nil {
		return nil, nil, tabletError(tc, err)
	}
	rc := &reservedConn{keyspace: keyspace, shard: shard, id: resp.ReservedId, tablet: tc}
	res, err := s.shardResult(resp.Result)
	return rc, res, err
}

// execute runs sql on the reserved connection for session s.
func (rc *reservedConn) execute(ctx context.Context, s *Session, sql string) (*sqltypes.Result, error) {
	resp, err := rc.tablet.query.Execute(ctx, &querypb.ExecuteRequest{
		Target: target(rc.keyspace, rc.shard, topopb.TabletType_PRIMARY), Sql: []byte(sql), ReservedId: rc.id,
	})
	if err != nil {
		return nil, tabletError(rc.tablet, err)
	}
	return s.shardResult(resp.Result)
}

// release gives reserved connections back. A release that fails leaves
// the connection to the tablet, which closes it when it sees this gate
// gone, or at its restart; until then what it holds stays held.
func (e *Executor) release(conns ...*reservedConn) {
	if len(conns) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, rc := range conns {
		if _, err := rc.tablet.query.Release(ctx, &querypb.ReleaseRequest{Target: target(rc.keyspace, rc.shard, topopb.TabletType_PRIMARY), ReservedId: rc.id}); err != nil {
			e.log.Warn("cannot release a session's reserved connection", zap.String("tablet", rc.tablet.record.Alias), zap.Int64("reserved_id", rc.id), zap.Error(err))
		}
	}
}
