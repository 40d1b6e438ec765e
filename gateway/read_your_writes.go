package gateway

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// Read-your-writes on replicas. With SET read_your_writes = ON, every
// write the session makes on a shard returns the GTID it produced (the
// tablet reads @@last_gtid after an autocommit write or a commit), and
// the session keeps, per shard, the latest. A read the session sends to a
// replica or rdonly tablet carries that position: the replica waits, in
// MariaDB (MASTER_GTID_WAIT), until it has applied it, at most
// read_your_writes_timeout (1 s by default); past it, the tablet refuses
// the read (REPLICA_BEHIND) and the gate reads from the primary instead.
// The session sees its own writes, from a replica when the replica keeps
// up, and other clients' writes as of the replica's lag. (Vitess has no
// such setting: vitess issue #6843.)

// DefaultReadYourWritesTimeout bounds a replica read's wait for the
// session's last write.
const DefaultReadYourWritesTimeout = time.Second

// noteWrite records the GTID a write of the session produced on a shard.
func (s *Session) noteWrite(keyspace, shard, gtid string) {
	if gtid == "" {
		return
	}
	pos, err := gtidpos.Parse(gtid)
	if err != nil {
		return
	}
	if s.writePositions == nil {
		s.writePositions = map[string]gtidpos.Position{}
	}
	key := keyspace + "/" + shard
	s.writePositions[key] = s.writePositions[key].Merge(pos)
}

// writeOptionsFor are the options of an autocommit write: marked as a
// write, and asking for its GTID when the session reads its own writes.
func (s *Session) writeOptionsFor() *querypb.ExecuteOptions {
	if !s.ReadYourWrites {
		return writeOptions
	}
	return &querypb.ExecuteOptions{Write: true, TrackGtid: true}
}

// replicaReadOptions are the options of a read on a replica or rdonly
// tablet: wait for the session's last write on the shard. nil when there
// is nothing to wait for.
func (s *Session) replicaReadOptions(keyspace, shard string) *querypb.ExecuteOptions {
	if !s.ReadYourWrites || s.TabletType == topopb.TabletType_PRIMARY {
		return nil
	}
	pos, ok := s.writePositions[keyspace+"/"+shard]
	if !ok {
		return nil
	}
	timeout := s.ReadYourWritesTimeout
	if timeout <= 0 {
		timeout = DefaultReadYourWritesTimeout
	}
	return &querypb.ExecuteOptions{WaitGtid: pos.String(), WaitGtidTimeoutMs: timeout.Milliseconds()}
}

// readFromPrimary runs a read a replica refused (REPLICA_BEHIND) on the
// shard's primary.
func (e *Executor) readFromPrimary(ctx context.Context, s *Session, keyspace, shard string, sql []byte) (*querypb.ExecuteResponse, *tabletConn, error) {
	e.metrics.readYourWritesFallbacks.Inc()
	tc, err := e.tablets.pick(keyspace, shard, topopb.TabletType_PRIMARY)
	if err != nil {
		return nil, nil, err
	}
	resp, err := tc.query.Execute(ctx, &querypb.ExecuteRequest{Target: target(keyspace, shard, topopb.TabletType_PRIMARY), Sql: sql})
	return resp, tc, err
}

// setReadYourWrites handles SET read_your_writes and
// read_your_writes_timeout (seconds).
func setReadYourWrites(s *Session, name, value string) error {
	value = strings.Trim(value, "'\"")
	switch name {
	case "read_your_writes":
		on, ok := boolSetting(value)
		if !ok {
			return sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable 'read_your_writes' can't be set to the value of '%s'", value)
		}
		s.ReadYourWrites = on
		if !on {
			s.writePositions = nil
		}
	case "read_your_writes_timeout":
		secs, err := strconv.ParseFloat(value, 64)
		if err != nil || secs < 0 || secs > 3600 {
			return sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable 'read_your_writes_timeout' can't be set to the value of '%s' (seconds, 0 to 3600)", value)
		}
		s.ReadYourWritesTimeout = time.Duration(secs * float64(time.Second))
	}
	return nil
}

func newReadYourWritesFallbacks(reg prometheus.Registerer) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shardgate_read_your_writes_fallbacks_total",
		Help: "Replica reads of read_your_writes sessions that the replica could not serve in time (it had not applied the session's last write): read from the primary.",
	})
	if reg != nil {
		reg.MustRegister(c)
	}
	return c
}
