package queryservice

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

func roleService(t topopb.TabletType) *Service {
	s := &Service{cfg: Config{Alias: "zone1-101", Keyspace: "commerce", Shard: "-80", Type: t},
		health: newHealthState(&querypb.StreamHealthResponse{Stats: &querypb.RealtimeStats{}})}
	s.role.Store(int32(t))
	return s
}

// A request for the primary that reaches a tablet that is not the primary
// is refused with NOT_PRIMARY (the gate retries it elsewhere); a request
// for a replica runs on any tablet.
func TestTargetsFollowTheRole(t *testing.T) {
	primary := &querypb.Target{Keyspace: "commerce", Shard: "-80", TabletType: topopb.TabletType_PRIMARY}
	replica := &querypb.Target{Keyspace: "commerce", Shard: "-80", TabletType: topopb.TabletType_REPLICA}
	s := roleService(topopb.TabletType_REPLICA)
	if err := s.checkTarget(primary); sqlerr.ReasonOf(err) != sqlerr.ReasonNotPrimary {
		t.Fatalf("primary request on a replica: %v, want NOT_PRIMARY", err)
	}
	if err := s.checkTarget(replica); err != nil {
		t.Fatalf("replica request on a replica: %v", err)
	}
	s.SetType(topopb.TabletType_PRIMARY)
	if err := s.checkTarget(primary); err != nil {
		t.Fatalf("primary request after promotion: %v", err)
	}
	if err := s.checkTarget(replica); err != nil {
		t.Fatalf("replica request on the primary: %v", err)
	}
	if got := s.Health().GetStats().GetTabletType(); got != topopb.TabletType_PRIMARY {
		t.Fatalf("health reports type %v after SetType(PRIMARY)", got)
	}
}

// A replica refuses writes as a read-only MariaDB would (1290), without a
// reason: a write sent to a replica on purpose is the client's error.
func TestReplicaRefusesWrites(t *testing.T) {
	s := roleService(topopb.TabletType_REPLICA)
	for _, sql := range []string{"insert into t values (1)", "UPDATE t SET a = 1", "delete from t", "create table x (a int)", "drop table t", "grant select on *.* to u"} {
		err := s.checkWriteAllowed(sql, nil)
		var se *sqlerror.SQLError
		if !errors.As(err, &se) || se.Num != sqlerr.ErOptionPreventsStatement || sqlerr.ReasonOf(err) != querypb.ErrorReason_REASON_UNSPECIFIED {
			t.Errorf("%q on a replica: %v, want 1290 without a reason", sql, err)
		}
	}
	for _, sql := range []string{"select 1", "show tables", "set @a = 1", "begin", "select * from t for update"} {
		if err := s.checkWriteAllowed(sql, nil); err != nil {
			t.Errorf("%q on a replica: %v", sql, err)
		}
	}
	if err := s.checkWriteAllowed("select 1", &querypb.ExecuteOptions{Write: true}); err == nil {
		t.Error("a statement marked as a write ran on a replica")
	}
	s.SetType(topopb.TabletType_PRIMARY)
	if err := s.checkWriteAllowed("insert into t values (1)", nil); err != nil {
		t.Errorf("insert on the primary: %v", err)
	}
}

// A primary whose lease is not certainly valid refuses writes with
// NOT_PRIMARY before they start.
func TestFenceRefusesWrites(t *testing.T) {
	s := roleService(topopb.TabletType_PRIMARY)
	s.txs = newTransactions()
	valid := true
	s.SetFence(func() time.Time {
		if valid {
			return time.Now().Add(time.Hour)
		}
		return time.Time{}
	})
	release, err := s.admitWrite(true)
	if err != nil {
		t.Fatalf("write with a valid lease: %v", err)
	}
	release()
	valid = false
	if _, err := s.admitWrite(true); sqlerr.ReasonOf(err) != sqlerr.ReasonNotPrimary {
		t.Fatalf("write with a lapsed lease: %v, want NOT_PRIMARY", err)
	}
	if release, err := s.admitWrite(false); err != nil {
		t.Fatalf("a read with a lapsed lease: %v", err)
	} else {
		release()
	}
}

// A refused connection says MYSQL_UNREACHABLE (the statement did not run);
// other failures to get a connection do not.
func TestConnectErrors(t *testing.T) {
	s := roleService(topopb.TabletType_PRIMARY)
	refused := fmt.Errorf("connect to mysqld for the query pool: %w", &netErr{syscall.ECONNREFUSED})
	if err := s.connectError(refused); sqlerr.ReasonOf(err) != sqlerr.ReasonMySQLUnreachable {
		t.Errorf("refused: %v, want MYSQL_UNREACHABLE", err)
	}
	vitess := sqlerror.NewSQLError(sqlerror.CRConnectionError, sqlerror.SSUnknownSQLState, "net.Dial(/x.sock) to local server failed: dial unix /x.sock: connect: connection refused")
	if err := s.connectError(vitess); sqlerr.ReasonOf(err) != sqlerr.ReasonMySQLUnreachable {
		t.Errorf("vitess connection refused: %v, want MYSQL_UNREACHABLE", err)
	}
	if err := s.connectError(context.DeadlineExceeded); sqlerr.ReasonOf(err) != querypb.ErrorReason_REASON_UNSPECIFIED {
		t.Errorf("pool wait timeout: %v, want no reason (the server may be alive)", err)
	}
}

type netErr struct{ errno syscall.Errno }

func (e *netErr) Error() string { return e.errno.Error() }
func (e *netErr) Unwrap() error { return e.errno }
