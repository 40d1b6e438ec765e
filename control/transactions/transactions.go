package transactions

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
	"github.com/shardgate/shardgate/topo/twopc"
)

// TransactionStatus is a two-phase commit's decision record and whether
// the gate coordinating it is still registered.
type TransactionStatus struct {
	Record         *topopb.TransactionRecord
	GateRegistered bool
}

// ListTransactions returns every two-phase commit not finished yet: in
// flight on a live gate, or waiting for recovery.
func ListTransactions(ctx context.Context, ts *topo.Server) ([]TransactionStatus, error) {
	txs, err := ts.ListTransactions(ctx)
	if err != nil {
		return nil, err
	}
	gates, err := ts.ListGates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TransactionStatus, len(txs))
	for i, tx := range txs {
		out[i] = TransactionStatus{Record: tx.Record, GateRegistered: slices.ContainsFunc(gates, func(g *topopb.Gate) bool { return g.Id == tx.Record.GateId })}
	}
	return out, nil
}

// ResolveTransaction finishes a two-phase commit by hand, with the outcome
// the operator asks for where that keeps it atomic:
//
//   - a record decided already is finished as decided; asking for the
//     other outcome is refused (a COMMIT record's commit point has passed);
//   - an undecided record (PREPARE) may be rolled back at any time: its
//     gate, if alive, then finds the decision taken and rolls back too;
//   - it may be committed only when every participant holds its branch
//     prepared, since committing the others would commit part of it.
//
// Gates do the same on their own for records whose gate is gone; this is
// for records a gate cannot finish (a shard removed, say) or to not wait.
func ResolveTransaction(ctx context.Context, ts *topo.Server, dtid string, commit bool, opts ...control.Option) (*twopc.Outcome, error) {
	tx, err := ts.GetTransaction(ctx, dtid)
	if err != nil {
		return nil, err
	}
	rec := tx.Record
	want := topopb.TransactionRecord_ROLLBACK
	if commit {
		want = topopb.TransactionRecord_COMMIT
	}
	if rec.State != topopb.TransactionRecord_PREPARE && rec.State != want {
		return nil, fmt.Errorf("distributed transaction %s is decided %v already: it can only be finished that way (resolve it with --%s)",
			dtid, rec.State, strings.ToLower(rec.State.String()))
	}
	parts := &tabletParticipants{ts: ts, opts: opts}
	if commit && rec.State == topopb.TransactionRecord_PREPARE {
		for _, p := range rec.Participants {
			prepared, err := parts.isPrepared(ctx, p.Keyspace, p.Shard, dtid)
			if err != nil {
				return nil, err
			}
			if !prepared {
				return nil, fmt.Errorf("distributed transaction %s is not prepared on shard %s/%s: committing would commit only part of it; roll it back (--rollback)",
					dtid, p.Keyspace, p.Shard)
			}
		}
	}
	return twopc.Resolve(ctx, ts, tx, want, parts)
}

// tabletParticipants reaches each shard's primary tablet over gRPC.
type tabletParticipants struct {
	ts   *topo.Server
	opts []control.Option // how to reach the tablets
}

// call runs fn with a client of the shard's primary tablet.
func (p *tabletParticipants) call(ctx context.Context, keyspace, shard string, fn func(querypb.QueryServiceClient, *querypb.Target) error) error {
	sh, err := p.ts.GetShard(ctx, keyspace, shard)
	if err != nil {
		return err
	}
	if sh.PrimaryAlias == "" {
		return fmt.Errorf("shard %s/%s has no primary tablet: start one (shardtablet --type primary)", keyspace, shard)
	}
	tablet, err := p.ts.GetTablet(ctx, sh.PrimaryAlias)
	if err != nil {
		return err
	}
	conn, err := control.DialTablet(tablet, p.opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	target := &querypb.Target{Keyspace: keyspace, Shard: shard, TabletType: topopb.TabletType_PRIMARY}
	if err := fn(conn.QueryService(), target); err != nil {
		return fmt.Errorf("tablet %s: %w", tablet.Alias, control.RPCError(err, tablet))
	}
	return nil
}

func (p *tabletParticipants) CommitPrepared(ctx context.Context, keyspace, shard, dtid string) (notPrepared bool, err error) {
	err = p.call(ctx, keyspace, shard, func(c querypb.QueryServiceClient, t *querypb.Target) error {
		resp, err := c.CommitPrepared(ctx, &querypb.CommitPreparedRequest{Target: t, Dtid: dtid})
		notPrepared = resp.GetNotPrepared()
		return err
	})
	return notPrepared, err
}

func (p *tabletParticipants) RollbackPrepared(ctx context.Context, keyspace, shard, dtid string) (notPrepared bool, err error) {
	err = p.call(ctx, keyspace, shard, func(c querypb.QueryServiceClient, t *querypb.Target) error {
		resp, err := c.RollbackPrepared(ctx, &querypb.RollbackPreparedRequest{Target: t, Dtid: dtid})
		notPrepared = resp.GetNotPrepared()
		return err
	})
	return notPrepared, err
}

// isPrepared reports whether the shard lists dtid among its prepared XA
// transactions (XA RECOVER).
func (p *tabletParticipants) isPrepared(ctx context.Context, keyspace, shard, dtid string) (bool, error) {
	var prepared bool
	err := p.call(ctx, keyspace, shard, func(c querypb.QueryServiceClient, t *querypb.Target) error {
		resp, err := c.ListPrepared(ctx, &querypb.ListPreparedRequest{Target: t})
		prepared = slices.ContainsFunc(resp.GetTransactions(), func(pt *querypb.PreparedTransaction) bool { return pt.Dtid == dtid })
		return err
	})
	return prepared, err
}
