package queryservice

import (
	"context"
	"fmt"
	"strings"
	"time"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// errWritesStopped is what a tablet whose writes were switched to other
// shards answers to a write or a new transaction. Gates recognize it (see
// sqlerr.IsWritesSwitching) and run the statement again once the serving
// graph has moved, so that no client sees it.
func (s *Service) errWritesStopped() error {
	return sqlerr.WritesSwitching(s.cfg.Keyspace, s.cfg.Shard)
}

// admitWrite lets an autocommit write, or a new transaction (isWrite
// true), start unless writes are stopped; release is called once the write
// has finished or the transaction is registered. StopWrites waits for the
// writes admitted before it, so that none lands after the position it
// returns. Gates mark their writes; the statement's first word catches the
// writes of other clients (and of a gate's targeted sessions).
func (s *Service) admitWrite(isWrite bool) (release func(), err error) {
	if !isWrite {
		return func() {}, nil
	}
	if !s.fenceHolds() {
		return nil, s.errNotPrimary()
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.writesStopped.Load() {
		return nil, s.errWritesStopped()
	}
	s.writesInFlight++
	return s.releaseWrite, nil
}

// trackWrite counts a write that must run even while writes are stopped
// (the commit of a transaction open before, the resolution of a prepared
// one) until done: StopWrites waits for it.
func (s *Service) trackWrite() (done func()) {
	s.writeMu.Lock()
	s.writesInFlight++
	s.writeMu.Unlock()
	return s.releaseWrite
}

func (s *Service) releaseWrite() {
	s.writeMu.Lock()
	s.writesInFlight--
	s.writeMu.Unlock()
}

// isWrite reports whether an autocommit statement writes.
func isWrite(sql string, opts *querypb.ExecuteOptions) bool {
	return opts.GetWrite() || writesData(sql)
}

// writesData reports whether a statement is DML, looking past a leading
// SET STATEMENT ... FOR.
func writesData(sql string) bool {
	if len(sql) > 14 && strings.EqualFold(sql[:14], "set statement ") {
		if i := strings.Index(strings.ToLower(sql), " for "); i > 0 {
			sql = sql[i+5:]
		}
	}
	switch sqlparser.Preview(sql) {
	case sqlparser.StmtInsert, sqlparser.StmtReplace, sqlparser.StmtUpdate, sqlparser.StmtDelete:
		return true
	}
	return false
}

// StopWrites makes the tablet refuse writes and new transactions, then
// waits (up to timeout) for the open ones, prepared ones included, to end,
// and returns the shard's GTID position then: every change the shard
// will ever have made is at or before it. On timeout writes stay stopped
// and the error says how many transactions are still open; ResumeWrites
// undoes it.
func (s *Service) StopWrites(ctx context.Context, timeout time.Duration) (string, error) {
	s.writeMu.Lock()
	s.writesStopped.Store(true)
	s.writeMu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		// One consistent look: a transaction begun is registered and out of
		// flight in one step (begin), and one ending is in flight before it
		// leaves the registry (end, resolvePrepared); open is read before
		// prepared, which a transaction enters from open.
		s.writeMu.Lock()
		open, prepared := s.txs.count(), s.txs.preparedCount()
		inFlight := s.writesInFlight
		s.writeMu.Unlock()
		if open == 0 && prepared == 0 && inFlight == 0 {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s: %d transactions, %d prepared ones and %d writes still open after %v", s.cfg.where(), open, prepared, inFlight, timeout)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	// Gates' direct transactions open now may finish, as the tablet's own
	// did; no new one begins once the gates hear of the stop.
	if err := s.waitDirectTransactions(ctx, deadline); err != nil {
		return "", err
	}
	// MariaDB refuses other users' writes too from here, and commits under
	// way when read_only turns on finish before the SET returns: the
	// position below covers every write the shard will have made.
	if err := s.syncServerReadOnly(ctx); err != nil {
		return "", err
	}
	return s.Position(ctx)
}

// RefuseWrites makes the tablet refuse writes from now on, without
// waiting: a tablet that starts on a shard whose writes were switched to
// other shards. It is not serving as primary yet, so MariaDB's read_only
// stays on when it does (SetPrimaryServing).
func (s *Service) RefuseWrites() {
	s.writeMu.Lock()
	s.writesStopped.Store(true)
	s.writeMu.Unlock()
}

// ResumeWrites lets the tablet take writes again, and MariaDB too if the
// tablet serves as the primary (an error says it could not turn read_only
// off: the tablet takes writes, other users cannot).
func (s *Service) ResumeWrites(ctx context.Context) error {
	s.writeMu.Lock()
	s.writesStopped.Store(false)
	s.writeMu.Unlock()
	return s.syncServerReadOnly(ctx)
}

// WritesStopped reports whether writes are stopped.
func (s *Service) WritesStopped() bool { return s.writesStopped.Load() }

// Position returns the shard's GTID position (@@gtid_binlog_pos).
func (s *Service) Position(ctx context.Context) (string, error) {
	conn, err := s.pool.Get(ctx)
	if err != nil {
		return "", sqlerr.Internal("%s: %v", s.cfg.where(), err)
	}
	defer s.pool.Put(conn)
	res, err := conn.ExecuteFetch("SELECT @@gtid_binlog_pos", 1, false)
	if err != nil {
		return "", s.mysqlError(err)
	}
	return res.Rows[0][0].ToString(), nil
}
