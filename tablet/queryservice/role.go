package queryservice

import (
	"errors"
	"strings"
	"syscall"
	"time"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// A tablet's role (primary, replica or rdonly) changes while it runs: a
// reparent or a failover promotes a replica and demotes the primary
// without restarting either. The role decides which requests it takes:
//
//   - A request for the shard's primary that reaches a tablet that is not
//     the primary (any more) is refused with reason NOT_PRIMARY before
//     anything runs: the gate's view is stale and it retries once the
//     topology names the new primary.
//   - A replica or rdonly tablet runs reads, in transactions too, and
//     refuses writes with error 1290, as a read-only MariaDB would. Its
//     MySQL is read-only as well, but the tablet's own MySQL user holds
//     READ_ONLY ADMIN, so the tablet must refuse them itself.
//   - A request for a replica that reaches the primary runs: a read on the
//     primary is never staler than one on a replica.

// Type is the tablet's role now.
func (s *Service) Type() topopb.TabletType { return topopb.TabletType(s.role.Load()) }

// SetType changes the tablet's role. Health reports it at once, so gates
// following the tablet see the change before the topology record does.
func (s *Service) SetType(t topopb.TabletType) {
	s.role.Store(int32(t))
	s.health.update(func(h *querypb.StreamHealthResponse) {
		h.Target = s.target()
		if h.Stats == nil {
			h.Stats = &querypb.RealtimeStats{}
		}
		h.Stats.TabletType = t
	})
}

// SetFence makes writes start only before the time validUntil returns
// (nil: always): a primary takes writes only while its lease is certainly
// valid, so that it has stopped before a failover can promote another.
// Gates that write on MariaDB directly are told how long that is
// (writesValidFor).
func (s *Service) SetFence(validUntil func() time.Time) {
	if validUntil == nil {
		s.fence.Store(nil)
		return
	}
	s.fence.Store(&validUntil)
}

func (s *Service) fenceHolds() bool {
	f := s.fence.Load()
	return f == nil || time.Now().Before((*f)())
}

// writesValidFor is how long from now the tablet's lease certainly holds
// for writes: zero when it is not the serving primary or the lease is not
// certain. (Stopped writes are said apart: transactions open then may
// still finish.)
func (s *Service) writesValidFor(now time.Time) time.Duration {
	f := s.fence.Load()
	if f == nil || !s.primaryServing.Load() || !s.isPrimary() {
		return 0
	}
	return max((*f)().Sub(now), 0)
}

func (s *Service) isPrimary() bool { return s.Type() == topopb.TabletType_PRIMARY }

// errNotPrimary refuses a request for the shard's primary.
func (s *Service) errNotPrimary() error {
	why := "it is " + strings.ToLower(s.Type().String()) + " now"
	if s.isPrimary() {
		why = "its primary lease is not certainly valid: it may be replaced"
	}
	return sqlerr.WithReason(sqlerr.ReasonNotPrimary, sqlerr.New(sqlerr.ErOptionPreventsStatement, "HY000",
		"%s is not the primary of its shard (%s): retry on the shard's primary", s.cfg.where(), why))
}

// errReadOnlyReplica refuses a write sent to a replica on purpose (a
// session on ks@replica): that is the client's error, not to be retried.
func (s *Service) errReadOnlyReplica() error {
	return sqlerr.New(sqlerr.ErOptionPreventsStatement, "HY000",
		"The MariaDB server is running with the --read-only option so it cannot execute this statement (%s is a %s)",
		s.cfg.where(), strings.ToLower(s.Type().String()))
}

// checkWriteAllowed refuses a statement that writes on a tablet that is
// not the primary.
func (s *Service) checkWriteAllowed(sql string, opts *querypb.ExecuteOptions) error {
	if s.isPrimary() || !(opts.GetWrite() || changesServer(sql)) {
		return nil
	}
	return s.errReadOnlyReplica()
}

// changesServer reports whether a statement writes rows or schema. Reads,
// SET, SHOW, transaction control and locks pass.
func changesServer(sql string) bool {
	if writesData(sql) {
		return true
	}
	switch sqlparser.Preview(sql) {
	case sqlparser.StmtDDL, sqlparser.StmtPriv, sqlparser.StmtCallProc:
		return true
	}
	return false
}

// connectError is the error of a pool that could not give a connection.
// When MySQL refused the connection (the server is down), the statement
// certainly did not run, and reason MYSQL_UNREACHABLE lets the gate hold
// it until a failover names a new primary.
func (s *Service) connectError(err error) error {
	if mysqlUnreachable(err) {
		return sqlerr.WithReason(sqlerr.ReasonMySQLUnreachable,
			sqlerr.New(sqlerror.CRConnHostError, sqlerror.SSUnknownSQLState, "%s: cannot reach its MySQL server: %v", s.cfg.where(), err))
	}
	return sqlerr.Internal("%s: %v", s.cfg.where(), err)
}

// mysqlUnreachable recognizes a refused connection: nothing listens on
// MySQL's port or socket.
func mysqlUnreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
		return true
	}
	var se *sqlerror.SQLError
	if errors.As(err, &se) && (se.Num == sqlerror.CRConnHostError || se.Num == sqlerror.CRConnectionError) {
		return strings.Contains(se.Message, "connection refused") || strings.Contains(se.Message, "no such file")
	}
	return false
}
