package queryservice

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/proto/querypb"
)

// The tablet fences writes twice. It refuses them itself (admitWrite):
// its own MariaDB user holds READ_ONLY ADMIN, so MariaDB would not. And it
// keeps MariaDB's read_only on whenever it does not admit writes, so that
// no other user writes past it either: read_only is off only while the
// tablet serves as the shard's primary (SetPrimaryServing) and its writes
// are not stopped (StopWrites, RefuseWrites). Every user without READ_ONLY
// ADMIN is then fenced by MariaDB itself: the direct-read user today, and
// gates that run transactions on MariaDB directly once they do.
//
// MariaDB 10.11, checked by hand: SET GLOBAL read_only = ON does not wait
// for open transactions, a later statement or COMMIT of a transaction that
// wrote fails with 1290 (so does XA COMMIT of a prepared branch, and
// SELECT ... FOR UPDATE), and the SET waits for commits already under way
// (it takes the global read lock and blocks commits), so a position read
// after it covers every commit such a user will ever make.

// withWriteValidity is the health report as it is sent: an offer of
// direct transactions says how long from now the tablet certainly takes
// writes, computed now (a report is sent again unchanged when no new
// measurement comes, and a stale figure would move a gate's deadline
// forward), and whether writes are stopping. What it advertises is
// remembered: a primary does not give its lease up before that passes
// unless MariaDB is read-only (WritesAdvertisedUntil).
func (s *Service) withWriteValidity(h *querypb.StreamHealthResponse) *querypb.StreamHealthResponse {
	if h.DirectRead == nil || !h.DirectRead.Transactions {
		return h
	}
	now := time.Now()
	valid := min(s.writesValidFor(now), maxAdvertisedWrites*s.cfg.HealthInterval)
	h = proto.Clone(h).(*querypb.StreamHealthResponse)
	h.DirectRead.WritesValidMs = valid.Milliseconds()
	h.DirectRead.WritesStopping = s.writesStopped.Load()
	until := now.Add(valid).UnixNano()
	for {
		prev := s.advertisedUntil.Load()
		if prev >= until || s.advertisedUntil.CompareAndSwap(prev, until) {
			break
		}
	}
	return h
}

// maxAdvertisedWrites bounds the validity a report advertises, in health
// intervals: long enough to outlast the next report, short so that a
// primary whose MariaDB cannot be made read-only waits little before it
// gives its lease up.
const maxAdvertisedWrites = 2

// WritesAdvertisedUntil is the end of the latest validity of writes the
// tablet advertised to gates: until then a gate may write directly.
func (s *Service) WritesAdvertisedUntil() time.Time { return time.Unix(0, s.advertisedUntil.Load()) }

// waitDirectTransactions tells gates at once that writes are stopping
// (writes_stopping in the direct-read offer) and waits until no
// transaction of the direct user is open on MariaDB, or deadline passes.
func (s *Service) waitDirectTransactions(ctx context.Context, deadline time.Time) error {
	if !s.cfg.DirectReads.Transactions {
		return nil
	}
	// A report now, not at the next interval: it says writes_stopping.
	s.health.update(func(*querypb.StreamHealthResponse) {})
	conn, err := s.pool.Get(ctx)
	if err != nil {
		return s.connectError(err)
	}
	defer s.pool.Put(conn)
	// Plain autocommit reads (direct reads) are not waited for.
	query := "SELECT COUNT(*) FROM information_schema.innodb_trx t JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id WHERE t.trx_autocommit_non_locking = 0 AND p.user = " +
		sqltypes.EncodeStringSQL(s.cfg.DirectReads.User)
	for {
		res, err := conn.ExecuteFetch(query, 1, false)
		if err != nil {
			return s.mysqlError(err)
		}
		open, _ := res.Rows[0][0].ToInt64()
		if open == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d transactions of gates on MariaDB (user %s) still open at the deadline", s.cfg.where(), open, s.cfg.DirectReads.User)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(innodbTrxRefresh):
		}
	}
}

// innodbTrxRefresh spaces the looks at information_schema.innodb_trx:
// MariaDB refreshes that table's cache only when nobody read it for the
// last 100 ms, so a tighter loop would read the same stale rows forever.
// (A look may miss a transaction begun within the last 100 ms; its COMMIT
// then meets read_only and fails: the fence holds, it is only less
// gentle.)
const innodbTrxRefresh = 110 * time.Millisecond

// SetPrimaryServing tells the service whether it serves as the shard's
// primary with its lease; MariaDB's read_only follows (see above).
func (s *Service) SetPrimaryServing(ctx context.Context, serving bool) error {
	s.primaryServing.Store(serving)
	return s.syncServerReadOnly(ctx)
}

// serverWritable is what MariaDB's read_only should say now: writable only
// on a serving primary whose writes are not stopped.
func (s *Service) serverWritable() bool {
	return s.primaryServing.Load() && s.isPrimary() && !s.writesStopped.Load()
}

// syncServerReadOnly sets MariaDB's read_only to what the tablet admits.
// Calls are serialized so that the last decision is the one that lands.
func (s *Service) syncServerReadOnly(ctx context.Context) error {
	s.readOnlyMu.Lock()
	defer s.readOnlyMu.Unlock()
	writable := s.serverWritable()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	conn, err := s.pool.Get(ctx)
	if err != nil {
		return fmt.Errorf("%s: set read_only: %w", s.cfg.where(), err)
	}
	defer s.pool.Put(conn)
	stmt := "SET GLOBAL read_only = ON"
	if writable {
		stmt = "SET GLOBAL read_only = OFF"
	}
	if _, err := conn.ExecuteFetch(stmt, 0, false); err != nil {
		return fmt.Errorf("%s: %s: %w", s.cfg.where(), stmt, err)
	}
	return nil
}
