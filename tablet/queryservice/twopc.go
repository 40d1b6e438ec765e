package queryservice

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/internal/connpool"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// The tablet's part in two-phase commit is MariaDB's XA: a branch begins
// with XA START (begin with a dtid), is prepared with XA END and
// XA PREPARE, and ends with XA COMMIT or XA ROLLBACK. Since MariaDB 10.5 a
// prepared branch outlives its connection, so that any connection can end
// it later; until then it holds its row locks.
//
// What MariaDB 10.11 does that shapes this code:
//   - A prepared branch still attached to a live connection is invisible to
//     XA COMMIT and XA ROLLBACK from other connections (XAER_NOTA,
//     "Unknown XID"), though XA RECOVER lists it. So the tablet ends a
//     branch it holds on the branch's own connection, and takes XAER_NOTA
//     for "already resolved" only when XA RECOVER no longer lists the XID.
//   - A branch whose statement hit a deadlock is ROLLBACK ONLY: it refuses
//     XA END and XA PREPARE (XAER_RMFAIL) but takes XA ROLLBACK.
//   - gtrid and bqual are at most 64 bytes each (longer is a syntax error).

// xid is a branch's XA identifier: the distributed transaction's id and
// the shard's branch of it.
type xid struct {
	dtid, branch string
}

// sql renders the xid as XA statements take it. Both parts are checked
// when the xid is made, so quoting them needs no escaping.
func (x *xid) sql() string { return "'" + x.dtid + "','" + x.branch + "'" }

// maxXIDPart is MariaDB's limit on gtrid and bqual.
const maxXIDPart = 64

// xid returns this shard's branch of dtid. The branch is "keyspace/shard",
// so that XA RECOVER on a server says whose branch it holds.
func (s *Service) xid(dtid string) (*xid, error) {
	if err := checkDTID(dtid); err != nil {
		return nil, sqlerr.New(sqlerror.ERWrongArguments, sqlerror.SSClientError, "%s: %v", s.cfg.where(), err)
	}
	branch := s.cfg.Keyspace + "/" + s.cfg.Shard
	if len(branch) > maxXIDPart || !xidSafe(branch) {
		branch = s.cfg.Shard
	}
	return &xid{dtid: dtid, branch: branch}, nil
}

func checkDTID(dtid string) error {
	if dtid == "" || len(dtid) > maxXIDPart || !xidSafe(dtid) {
		return fmt.Errorf("invalid dtid %q: 1 to %d letters, digits and ._:- expected", dtid, maxXIDPart)
	}
	return nil
}

// xidSafe accepts what needs no escaping inside single quotes.
func xidSafe(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:-/", r)) {
			return false
		}
	}
	return true
}

// Prepare ends the statements of an XA branch and prepares it. On failure
// the branch stays open, so that the coordinator's rollback ends it.
func (s *Service) Prepare(ctx context.Context, req *querypb.PrepareRequest) (*querypb.PrepareResponse, error) {
	s.calls.prepare.Inc()
	if err := s.prepare(req); err != nil {
		s.calls.prepareErr.Inc()
		return nil, err
	}
	return &querypb.PrepareResponse{}, nil
}

func (s *Service) prepare(req *querypb.PrepareRequest) error {
	if err := s.checkTarget(req.Target); err != nil {
		return err
	}
	tx, err := s.txs.use(req.TransactionId, s.cfg.where())
	if err != nil {
		return err
	}
	if tx.xid == nil {
		s.txs.release(tx)
		return sqlerr.Internal("transaction %d on %s was not begun for two-phase commit (no dtid): it cannot be prepared", tx.id, s.cfg.where())
	}
	if !tx.xaEnded {
		if _, err := tx.conn.ExecuteFetch("XA END "+tx.xid.sql(), 0, false); err != nil {
			connpool.NoteError(tx.conn, err)
			s.txs.release(tx)
			return s.xaError(err, "prepare", tx.xid)
		}
		tx.xaEnded = true
	}
	if _, err := tx.conn.ExecuteFetch("XA PREPARE "+tx.xid.sql(), 0, false); err != nil {
		connpool.NoteError(tx.conn, err)
		s.txs.release(tx)
		return s.xaError(err, "prepare", tx.xid)
	}
	s.txs.markPrepared(tx)
	return nil
}

// xaError explains an XA statement's failure. A branch MariaDB rolled back
// by itself becomes XA_RBROLLBACK, which says what the caller needs to
// know: the branch is gone and its transaction must roll back.
func (s *Service) xaError(err error, what string, x *xid) error {
	se, ok := err.(*sqlerror.SQLError)
	if !ok {
		return sqlerr.Internal("%s of distributed transaction %s on %s: %v", what, x.dtid, s.cfg.where(), err)
	}
	if se.Num == sqlerr.ERXAERRmfail && strings.Contains(se.Message, "ROLLBACK ONLY") {
		return sqlerr.RolledBack("%s of distributed transaction %s on %s: MariaDB already rolled the branch back (a deadlock or an error ended it): %s",
			what, x.dtid, s.cfg.where(), se.Message)
	}
	msg := se.Message
	if sqlerror.IsConnErr(se) {
		msg = "lost connection to MySQL: " + msg
	}
	return sqlerr.New(se.Num, se.State, "%s of distributed transaction %s on %s: %s", what, x.dtid, s.cfg.where(), msg)
}

// CommitPrepared commits the shard's prepared branch of a distributed
// transaction.
func (s *Service) CommitPrepared(ctx context.Context, req *querypb.CommitPreparedRequest) (*querypb.CommitPreparedResponse, error) {
	s.calls.commitPrepared.Inc()
	notPrepared, err := s.resolvePrepared(ctx, req.Target, req.Dtid, true)
	if err != nil {
		s.calls.commitPreparedErr.Inc()
		return nil, err
	}
	return &querypb.CommitPreparedResponse{NotPrepared: notPrepared}, nil
}

// RollbackPrepared rolls back the shard's branch of a distributed
// transaction, prepared or not.
func (s *Service) RollbackPrepared(ctx context.Context, req *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error) {
	s.calls.rollbackPrepared.Inc()
	notPrepared, err := s.resolvePrepared(ctx, req.Target, req.Dtid, false)
	if err != nil {
		s.calls.rollbackPreparedErr.Inc()
		return nil, err
	}
	return &querypb.RollbackPreparedResponse{NotPrepared: notPrepared}, nil
}

// resolvePrepared ends dtid's branch: on the connection this process holds
// it on, else on any connection (the branch outlived an earlier tablet
// process or MySQL restart). It reports notPrepared when the shard has no
// such branch any more: resolved before, which makes every call
// idempotent.
func (s *Service) resolvePrepared(ctx context.Context, target *querypb.Target, dtid string, commit bool) (notPrepared bool, err error) {
	if err := s.checkTarget(target); err != nil {
		return false, err
	}
	x, err := s.xid(dtid)
	if err != nil {
		return false, err
	}
	defer s.trackWrite()() // a commit, even while writes are stopped
	verb, stmt := "rollback", "XA ROLLBACK "+x.sql()
	if commit {
		verb, stmt = "commit", "XA COMMIT "+x.sql()
	}
	if tx := s.txs.takePrepared(dtid); tx != nil {
		_, err := tx.conn.ExecuteFetch(stmt, 0, false)
		if err == nil {
			s.txPool.Put(tx.conn)
			return false, nil
		}
		// The connection failed (MySQL restarted, or the connection was
		// killed): the branch, if it is still prepared, is detached now
		// and any connection can end it.
		connpool.NoteError(tx.conn, err)
		tx.conn.MarkBroken()
		s.txPool.Put(tx.conn)
		s.log.Info("the connection holding a prepared branch failed; resolving it on another", zap.String("dtid", dtid), zap.Error(err))
	} else if !commit {
		// The coordinator gave up before preparing this branch: roll back
		// the open transaction, on its own connection.
		tx, err := s.txs.takeUnprepared(dtid, s.cfg.where())
		if err != nil {
			return false, err
		}
		if tx != nil {
			if err := s.finish(tx, endRollback); err != nil {
				return false, fmt.Errorf("rollback of distributed transaction %s on %s: %w", dtid, s.cfg.where(), err)
			}
			return false, nil
		}
	}
	conn, err := s.pool.Get(ctx)
	if err != nil {
		return false, sqlerr.Internal("%s: %v", s.cfg.where(), err)
	}
	defer s.pool.Put(conn)
	_, err = conn.ExecuteFetch(stmt, 0, false)
	if err == nil {
		return false, nil
	}
	connpool.NoteError(conn, err)
	if se, ok := err.(*sqlerror.SQLError); !ok || se.Num != sqlerr.ERXAERNota {
		return false, s.xaError(err, verb, x)
	}
	// Unknown XID: resolved before, or prepared but still attached to a
	// connection that is going away (MariaDB hides such a branch from
	// other connections). XA RECOVER tells them apart.
	listed, lerr := s.listPrepared(conn)
	if lerr != nil {
		return false, lerr
	}
	for _, p := range listed {
		if p.Dtid == x.dtid && p.Branch == x.branch {
			return false, sqlerr.New(sqlerr.ERXAERRmfail, sqlerr.SSXAERRmfail,
				"%s of distributed transaction %s on %s: the prepared branch is still attached to another connection (its connection is closing, or another call is ending it): retry",
				verb, dtid, s.cfg.where())
		}
	}
	return true, nil
}

// ListPrepared lists the shard's prepared XA branches.
func (s *Service) ListPrepared(ctx context.Context, req *querypb.ListPreparedRequest) (*querypb.ListPreparedResponse, error) {
	if err := s.checkTarget(req.Target); err != nil {
		return nil, err
	}
	conn, err := s.pool.Get(ctx)
	if err != nil {
		return nil, sqlerr.Internal("%s: %v", s.cfg.where(), err)
	}
	defer s.pool.Put(conn)
	listed, err := s.listPrepared(conn)
	if err != nil {
		return nil, err
	}
	for _, p := range listed {
		p.Held = s.txs.holdsPrepared(p.Dtid)
	}
	return &querypb.ListPreparedResponse{Transactions: listed}, nil
}

// listPrepared runs XA RECOVER, whose rows are formatID, gtrid_length,
// bqual_length and data (gtrid and bqual back to back).
func (s *Service) listPrepared(conn *connpool.Conn) ([]*querypb.PreparedTransaction, error) {
	res, err := conn.ExecuteFetch("XA RECOVER", 100000, false)
	if err != nil {
		connpool.NoteError(conn, err)
		return nil, fmt.Errorf("list prepared transactions on %s: %w", s.cfg.where(), s.mysqlError(err))
	}
	out := make([]*querypb.PreparedTransaction, 0, len(res.Rows))
	for _, row := range res.Rows {
		if len(row) < 4 {
			return nil, sqlerr.Internal("%s: XA RECOVER returned %d columns, want 4", s.cfg.where(), len(row))
		}
		format, err1 := row[0].ToInt64()
		glen, err2 := row[1].ToInt64()
		blen, err3 := row[2].ToInt64()
		data := row[3].ToString()
		if err1 != nil || err2 != nil || err3 != nil || glen < 0 || blen < 0 || int(glen+blen) > len(data) {
			return nil, sqlerr.Internal("%s: XA RECOVER returned a malformed row %v", s.cfg.where(), row)
		}
		out = append(out, &querypb.PreparedTransaction{
			Dtid: data[:glen], Branch: data[glen : glen+blen], FormatId: format,
		})
	}
	return out, nil
}
