package twopc

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// Participants reaches the shards of distributed transactions. Both calls
// must be idempotent and report notPrepared when the shard has no branch of
// dtid any more.
type Participants interface {
	CommitPrepared(ctx context.Context, keyspace, shard, dtid string) (notPrepared bool, err error)
	RollbackPrepared(ctx context.Context, keyspace, shard, dtid string) (notPrepared bool, err error)
}

// Outcome is what finishing a distributed transaction did.
type Outcome struct {
	// State is the decision carried out: COMMIT or ROLLBACK.
	State topopb.TransactionRecord_State
	// NotPrepared names the participants ("keyspace/shard") that had no
	// branch any more: ended before, by an earlier attempt or, for a
	// rollback, never prepared.
	NotPrepared []string
}

// Resolve decides tx as decision unless it is decided already (then the
// earlier decision stands), and finishes it.
func Resolve(ctx context.Context, ts *topo.Server, tx *topo.Transaction, decision topopb.TransactionRecord_State, p Participants) (*Outcome, error) {
	decided, err := ts.DecideTransaction(ctx, tx, decision)
	if err != nil {
		return nil, err
	}
	return Finish(ctx, ts, decided, p)
}

// Finish tells every participant the decision tx holds, in parallel, and
// deletes the record once all have acted. On error the record stays, for a
// later attempt to finish.
func Finish(ctx context.Context, ts *topo.Server, tx *topo.Transaction, p Participants) (*Outcome, error) {
	rec := tx.Record
	commit := rec.State == topopb.TransactionRecord_COMMIT
	if !commit && rec.State != topopb.TransactionRecord_ROLLBACK {
		return nil, fmt.Errorf("distributed transaction %s is not decided (state %v)", rec.Dtid, rec.State)
	}
	out := &Outcome{State: rec.State}
	errs := make([]error, len(rec.Participants))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, part := range rec.Participants {
		wg.Go(func() {
			call := p.RollbackPrepared
			if commit {
				call = p.CommitPrepared
			}
			notPrepared, err := call(ctx, part.Keyspace, part.Shard, rec.Dtid)
			if err != nil {
				errs[i] = fmt.Errorf("%s/%s: %w", part.Keyspace, part.Shard, err)
				return
			}
			if notPrepared {
				mu.Lock()
				out.NotPrepared = append(out.NotPrepared, part.Keyspace+"/"+part.Shard)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sort.Strings(out.NotPrepared)
	verb := "roll back"
	if commit {
		verb = "commit"
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("%s distributed transaction %s: %w", verb, rec.Dtid, err)
	}
	if err := ts.DeleteTransaction(ctx, tx); err != nil {
		return out, err
	}
	return out, nil
}
