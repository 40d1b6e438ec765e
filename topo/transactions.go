package topo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/shardgate/shardgate/proto/topopb"
)

// Transaction is a two-phase commit's decision record at the version it
// was read or written at.
type Transaction struct {
	Record  *topopb.TransactionRecord
	Version int64
}

func (s *Server) transactionsPrefix() string        { return s.root + "/transactions/" }
func (s *Server) transactionKey(dtid string) string { return s.transactionsPrefix() + dtid }

// CreateTransaction records a distributed transaction about to prepare.
// The dtid must be new (else ErrExists).
func (s *Server) CreateTransaction(ctx context.Context, rec *topopb.TransactionRecord) (*Transaction, error) {
	if rec.Dtid == "" {
		return nil, errors.New("transaction record without a dtid")
	}
	version, err := s.store.Create(ctx, s.transactionKey(rec.Dtid), marshal(rec))
	if err != nil {
		return nil, fmt.Errorf("record distributed transaction %s: %w", rec.Dtid, err)
	}
	return &Transaction{Record: rec, Version: version}, nil
}

// GetTransaction returns a decision record, or ErrNotFound once it was
// resolved and deleted.
func (s *Server) GetTransaction(ctx context.Context, dtid string) (*Transaction, error) {
	rec := &topopb.TransactionRecord{}
	version, err := s.get(ctx, s.transactionKey(dtid), rec)
	if err != nil {
		return nil, fmt.Errorf("distributed transaction %s: %w", dtid, err)
	}
	return &Transaction{Record: rec, Version: version}, nil
}

// ListTransactions returns every decision record, sorted by dtid.
func (s *Server) ListTransactions(ctx context.Context) ([]*Transaction, error) {
	kvs, err := s.store.List(ctx, s.transactionsPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]*Transaction, 0, len(kvs))
	for _, kv := range kvs {
		rec := &topopb.TransactionRecord{}
		if err := unmarshalInto(kv, rec); err != nil {
			return nil, err
		}
		out = append(out, &Transaction{Record: rec, Version: kv.Version})
	}
	return out, nil
}

// DecideTransaction moves a record from PREPARE to decision (COMMIT or
// ROLLBACK) by compare-and-set, and returns the record as it is now. If
// another actor decided first, its decision stands and is returned: the
// caller must follow the returned state, not the one it asked for. tx is
// the caller's latest read of the record; it is not modified.
func (s *Server) DecideTransaction(ctx context.Context, tx *Transaction, decision topopb.TransactionRecord_State) (*Transaction, error) {
	if decision != topopb.TransactionRecord_COMMIT && decision != topopb.TransactionRecord_ROLLBACK {
		return nil, fmt.Errorf("decide distributed transaction %s: %v is not a decision", tx.Record.Dtid, decision)
	}
	for {
		if tx.Record.State != topopb.TransactionRecord_PREPARE {
			return tx, nil
		}
		rec := proto.Clone(tx.Record).(*topopb.TransactionRecord)
		rec.State = decision
		rec.DecidedUnixNanos = time.Now().UnixNano()
		version, err := s.store.Update(ctx, s.transactionKey(rec.Dtid), marshal(rec), tx.Version)
		if err == nil {
			return &Transaction{Record: rec, Version: version}, nil
		}
		if !errors.Is(err, ErrBadVersion) {
			return nil, fmt.Errorf("decide distributed transaction %s: %w", rec.Dtid, err)
		}
		// Someone else wrote it (or deleted it): read what they decided.
		if tx, err = s.GetTransaction(ctx, rec.Dtid); err != nil {
			return nil, err
		}
	}
}

// DeleteTransaction removes a record every participant has acted on. It
// deletes only the version given, so a record changed since is kept; a
// record already gone is no error.
func (s *Server) DeleteTransaction(ctx context.Context, tx *Transaction) error {
	err := s.store.Delete(ctx, s.transactionKey(tx.Record.Dtid), tx.Version)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete the record of distributed transaction %s: %w", tx.Record.Dtid, err)
	}
	return nil
}
