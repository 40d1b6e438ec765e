package queryservice

import (
	"strconv"
	"time"

	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/internal/gtidpos"

	"github.com/shardgate/shardgate/internal/connpool"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// Read-your-writes on replicas (a session's SET read_your_writes = ON at
// the gate): the primary returns the GTID of each write the session makes
// (track_gtid), and a replica, before a read of that session, waits until
// it has applied it (wait_gtid), in MariaDB itself with MASTER_GTID_WAIT
// on the connection that then runs the read. Only sessions that ask pay
// for it: one more statement on the same connection, no round trip
// between processes.

// lastGTID reads the GTID of the transaction the connection committed
// last (MariaDB's @@last_gtid; empty when it wrote nothing).
func (s *Service) lastGTID(conn *connpool.Conn) string {
	res, err := conn.ExecuteFetch("SELECT @@last_gtid", 1, false)
	if err != nil || len(res.Rows) != 1 {
		return ""
	}
	return res.Rows[0][0].ToString()
}

// waitForGTID waits, on the connection that will run the read, until the
// server has applied pos or the wait's timeout passes; then it refuses
// the read with REPLICA_BEHIND, and the gate reads from the primary. A
// server that is not a replica (MASTER_GTID_WAIT answers at once when the
// position is already there, or NULL on error) lets the read run.
func (s *Service) waitForGTID(conn *connpool.Conn, opts *querypb.ExecuteOptions) error {
	if opts.GetWaitGtid() == "" {
		return nil
	}
	// Parsed and printed again, the position holds only digits, '-' and
	// ',': safe to quote.
	parsed, err := gtidpos.Parse(opts.GetWaitGtid())
	if err != nil {
		return sqlerr.New(sqlerror.ERWrongArguments, sqlerror.SSUnknownSQLState, "wait_gtid %q: %v", opts.GetWaitGtid(), err)
	}
	pos := parsed.String()
	timeout := time.Duration(opts.GetWaitGtidTimeoutMs()) * time.Millisecond
	if timeout <= 0 {
		timeout = time.Second
	}
	res, err := conn.ExecuteFetch("SELECT MASTER_GTID_WAIT('"+pos+"', "+
		strconv.FormatFloat(timeout.Seconds(), 'f', 3, 64)+")", 1, false)
	if err != nil {
		connpool.NoteError(conn, err)
		return s.mysqlError(err)
	}
	if len(res.Rows) == 1 && res.Rows[0][0].ToString() == "-1" {
		s.metrics.gtidWaitTimeouts.Inc()
		return sqlerr.WithReason(sqlerr.ReasonReplicaBehind, sqlerr.New(sqlerr.ErOptionPreventsStatement, "HY000",
			"%s has not applied the session's last write (%s) after %v: read it from the primary", s.cfg.where(), pos, timeout))
	}
	return nil
}
