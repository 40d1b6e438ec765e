package queryservice

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/connpool"
	"github.com/shardgate/shardgate/internal/mysqlexec"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// Reserved connections.
//
// Some MySQL state belongs to a connection, not to a transaction: the
// locks GET_LOCK takes live until the connection releases them or ends. A
// client session that takes one needs a MySQL connection of its own for as
// long as it lives, which a pooled connection, shared by every session,
// cannot be. ReserveExecute takes a connection out of a pool of its own
// (bounded by Config.MaxReserved) for one gate session; the gate runs the
// session's statements that need it there (ExecuteRequest.reserved_id)
// and releases it when the session ends. Releasing closes the connection,
// so that MySQL drops whatever it held: nothing of one session reaches
// another. A gate that dies cannot release: every ReservedOwnerCheck the
// tablet closes the connections of gates no longer registered in the
// topology (after two checks in a row, so that a registration being
// renewed is not mistaken for a gate that is gone).

// reservation is one reserved connection.
type reservation struct {
	id       int64
	owner    string // the gate that reserved it
	conn     *connpool.Conn
	inUse    bool
	lastUsed time.Time
	// missing counts owner checks in a row that did not find the owner.
	missing int
}

type reservations struct {
	mu     sync.Mutex
	open   map[int64]*reservation
	lastID atomic.Int64
}

func newReservations() *reservations {
	r := &reservations{open: map[int64]*reservation{}}
	// Ids start from the wall clock, as transaction ids do: an id from
	// before a restart never names a connection after it.
	r.lastID.Store(time.Now().UnixNano())
	return r
}

func (r *reservations) use(id int64, where string) (*reservation, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.open[id]
	if !ok {
		return nil, sqlerr.WithReason(sqlerr.ReasonReservedConnectionGone,
			sqlerr.Internal("reserved connection %d is not open on %s (the tablet restarted, or released it): what it held (locks) is gone", id, where))
	}
	if res.inUse {
		return nil, sqlerr.Internal("reserved connection %d on %s is running another statement", id, where)
	}
	res.inUse = true
	return res, nil
}

func (r *reservations) done(res *reservation) {
	r.mu.Lock()
	res.inUse = false
	res.lastUsed = time.Now()
	r.mu.Unlock()
}

func (r *reservations) take(id int64) *reservation {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.open[id]
	delete(r.open, id)
	return res
}

func (r *reservations) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.open)
}

// ReserveExecute reserves a connection and runs a statement on it. When
// the statement fails the connection is released at once.
func (s *Service) ReserveExecute(ctx context.Context, req *querypb.ReserveExecuteRequest) (*querypb.ReserveExecuteResponse, error) {
	if err := s.checkTarget(req.Target); err != nil {
		return nil, err
	}
	if req.Owner == "" {
		return nil, sqlerr.Internal("reserving a connection on %s needs the owner gate's id", s.cfg.where())
	}
	conn, err := s.reservedPool.Get(ctx)
	if err != nil {
		return nil, sqlerr.Internal("%s: reserve a connection (at most %d): %v", s.cfg.where(), s.cfg.MaxReserved, err)
	}
	res, err := s.run(ctx, conn, string(req.Sql), req.Options)
	if err != nil {
		conn.MarkBroken()
		s.reservedPool.Put(conn)
		return nil, err
	}
	r := &reservation{id: s.reserved.lastID.Add(1), owner: req.Owner, conn: conn, lastUsed: time.Now()}
	s.reserved.mu.Lock()
	s.reserved.open[r.id] = r
	s.reserved.mu.Unlock()
	return &querypb.ReserveExecuteResponse{ReservedId: r.id, Result: res, TabletAlias: s.cfg.Alias}, nil
}

// executeReserved runs a statement on a reserved connection.
func (s *Service) executeReserved(ctx context.Context, id int64, sql string, opts *querypb.ExecuteOptions) (*querypb.QueryResult, error) {
	r, err := s.reserved.use(id, s.cfg.where())
	if err != nil {
		return nil, err
	}
	res, err := s.run(ctx, r.conn, sql, opts)
	if r.conn.IsClosed() || mysqlexec.IsKilled(err) {
		// MySQL ended the connection, and what it held with it.
		s.reserved.take(id)
		s.closeReserved(r)
		return nil, sqlerr.WithReason(sqlerr.ReasonReservedConnectionGone,
			sqlerr.Internal("%v; reserved connection %d on %s was closed, and what it held (locks) released", err, id, s.cfg.where()))
	}
	s.reserved.done(r)
	return res, err
}

// Release closes a reserved connection; releasing one that is gone is
// not an error.
func (s *Service) Release(ctx context.Context, req *querypb.ReleaseRequest) (*querypb.ReleaseResponse, error) {
	if err := s.checkTarget(req.Target); err != nil {
		return nil, err
	}
	if r := s.reserved.take(req.ReservedId); r != nil {
		s.closeReserved(r)
	}
	return &querypb.ReleaseResponse{}, nil
}

func (s *Service) closeReserved(r *reservation) {
	r.conn.MarkBroken() // closed, never pooled: MySQL drops its locks
	s.reservedPool.Put(r.conn)
}

// reservedOwnerLoop closes the reserved connections of gates that are
// gone, every ReservedOwnerCheck, when the tablet can list live gates.
func (s *Service) reservedOwnerLoop() {
	defer s.done.Done()
	if s.cfg.LiveGates == nil {
		return
	}
	tick := time.NewTicker(s.cfg.ReservedOwnerCheck)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ReservedOwnerCheck)
		live, err := s.cfg.LiveGates(ctx)
		cancel()
		if err != nil {
			// The topology cannot tell: keep everything.
			continue
		}
		for _, r := range s.orphanedReservations(live) {
			s.log.Info("closing a reserved connection whose gate is gone", zap.Int64("reserved_id", r.id), zap.String("gate", r.owner))
			s.closeReserved(r)
		}
	}
}

// orphanedReservations takes the idle reservations whose owner was missing
// from live twice in a row.
func (s *Service) orphanedReservations(live map[string]bool) []*reservation {
	s.reserved.mu.Lock()
	defer s.reserved.mu.Unlock()
	var out []*reservation
	for id, r := range s.reserved.open {
		if live[r.owner] {
			r.missing = 0
			continue
		}
		r.missing++
		if r.missing >= 2 && !r.inUse {
			delete(s.reserved.open, id)
			out = append(out, r)
		}
	}
	return out
}
