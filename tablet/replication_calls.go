package tablet

import (
	"context"
	"fmt"
	"time"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/replication"
	"github.com/shardgate/shardgate/tablet/tabletclient"
)

// The Replication calls a reparent makes (tablet/reparent). Each changes
// the role under the role manager's transition lock: the serving loop
// stops, the change is made, and the loop decides again from the shard's
// record.

func (r *replicationServer) ReplicationStatus(ctx context.Context, _ *replicationpb.ReplicationStatusRequest) (*replicationpb.ReplicationStatusResponse, error) {
	m := r.roles
	executed, err := replication.Executed(ctx, m.db)
	if err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	resp := &replicationpb.ReplicationStatusResponse{TabletType: m.qs.Type(), Executed: executed.String()}
	if h := m.qs.Health().GetStats().GetReplication(); h != nil || m.qs.Type() != topopb.TabletType_PRIMARY {
		st, err := replication.ReadStatus(ctx, m.db)
		if err != nil {
			return nil, queryconv.ErrorToStatus(err)
		}
		resp.State = stateProto(st)
		resp.State.Errant = h.GetErrant()
	}
	return resp, nil
}

func stateProto(st replication.Status) *querypb.ReplicationState {
	return &querypb.ReplicationState{
		Source: st.Source.String(), IoRunning: st.IORunning, SqlRunning: st.SQLRunning,
		IoState: st.IOState, SqlState: st.SQLState, LastError: st.LastSQLError + st.LastIOError,
		LagKnown: st.LagKnown, Received: st.Received.Merge(st.Applied).String(), Applied: st.Applied.String(),
	}
}

func (r *replicationServer) DemotePrimary(ctx context.Context, req *replicationpb.DemotePrimaryRequest) (*replicationpb.DemotePrimaryResponse, error) {
	m := r.roles
	if m.qs.Type() != topopb.TabletType_PRIMARY {
		return nil, queryconv.ErrorToStatus(fmt.Errorf("tablet %s is not the primary (it is %s)", m.cfg.Alias, m.qs.Type()))
	}
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	// New writes are refused (and held by gates) from here; the open
	// transactions finish first.
	if _, err := r.qs.StopWrites(ctx, timeout); err != nil {
		m.resumeWrites(ctx)
		return nil, queryconv.ErrorToStatus(err)
	}
	m.transition.Lock()
	defer m.transition.Unlock()
	m.demoted.Store(true)
	m.interrupt() // gives the primary lease up
	m.qs.SetType(m.replicaType)
	m.saveType(ctx, m.replicaType)
	m.resumeWrites(ctx) // its type refuses them now, MariaDB's read_only too
	if err := replication.StopFollowing(ctx, m.db); err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	if _, err := m.db.ExecContext(ctx, "SET GLOBAL rpl_semi_sync_master_enabled = OFF"); err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	pos, err := replication.Executed(ctx, m.db)
	if err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	m.log.Info("demoted: no longer the shard's primary", zapPos(pos))
	return &replicationpb.DemotePrimaryResponse{Position: pos.String()}, nil
}

func (r *replicationServer) UndoDemotePrimary(ctx context.Context, _ *replicationpb.UndoDemotePrimaryRequest) (*replicationpb.UndoDemotePrimaryResponse, error) {
	m := r.roles
	m.transition.Lock()
	m.demoted.Store(false)
	m.interrupt()
	m.transition.Unlock()
	m.resumeWrites(ctx)
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := m.waitPrimary(wctx); err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	return &replicationpb.UndoDemotePrimaryResponse{}, nil
}

func (r *replicationServer) StopReplication(ctx context.Context, _ *replicationpb.StopReplicationRequest) (*replicationpb.StopReplicationResponse, error) {
	m := r.roles
	if m.qs.Type() == topopb.TabletType_PRIMARY {
		return nil, queryconv.ErrorToStatus(fmt.Errorf("tablet %s is the primary: it does not replicate", m.cfg.Alias))
	}
	m.frozen.Store(true)
	if err := replication.StopFollowing(ctx, m.db); err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	st, err := replication.ReadStatus(ctx, m.db)
	if err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	executed, err := replication.Executed(ctx, m.db)
	if err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	if errant := m.qs.Health().GetStats().GetReplication().GetErrant(); len(errant) > 0 {
		return nil, queryconv.ErrorToStatus(fmt.Errorf("tablet %s holds errant transactions %v: it cannot become the primary", m.cfg.Alias, errant))
	}
	return &replicationpb.StopReplicationResponse{
		Received: st.Received.Merge(st.Applied).String(), Applied: st.Applied.String(), Executed: executed.String(),
	}, nil
}

func (r *replicationServer) PromoteReplica(ctx context.Context, req *replicationpb.PromoteReplicaRequest) (*replicationpb.PromoteReplicaResponse, error) {
	m := r.roles
	wait, err := gtidpos.Parse(req.WaitPosition)
	if err != nil {
		return nil, queryconv.ErrorToStatus(fmt.Errorf("wait position: %w", err))
	}
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	m.transition.Lock()
	m.frozen.Store(true) // the serving loop must not follow anyone meanwhile
	m.interrupt()
	pos, err := m.promote(ctx, wait, timeout)
	m.frozen.Store(false)
	m.transition.Unlock()
	if err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	wctx, cancel := context.WithTimeout(ctx, m.cfg.PrimaryLeaseTTL+10*time.Second)
	defer cancel()
	if err := m.waitPrimary(wctx); err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	return &replicationpb.PromoteReplicaResponse{Position: pos.String()}, nil
}

// promote applies everything up to wait and all the replica received, then
// makes its MySQL a primary and names it in the shard's record. The
// serving loop, deciding again, takes the primary lease and serves.
func (m *roleManager) promote(ctx context.Context, wait gtidpos.Position, timeout time.Duration) (gtidpos.Position, error) {
	st, err := replication.ReadStatus(ctx, m.db)
	if err != nil {
		return nil, err
	}
	target := wait.Merge(st.Received)
	// The applier may have been stopped (StopReplication): run it alone,
	// without the receiver, to apply what is in the relay log.
	if st.Configured {
		if _, err := m.db.ExecContext(ctx, "START SLAVE SQL_THREAD"); err != nil {
			return nil, fmt.Errorf("apply the relay log: %w", err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	err = replication.WaitFor(wctx, m.db, target)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("catch up to %s before the promotion: %w", target, err)
	}
	pos, err := replication.Promote(ctx, m.db, replication.PromoteOptions{SemiSync: true, SemiSyncTimeout: m.cfg.SemiSyncTimeout})
	if err != nil {
		return nil, err
	}
	// Writable MySQL, but the tablet takes writes only once it holds the
	// lease and its type is PRIMARY (servePrimary).
	_, err = m.ts.UpdateShard(ctx, m.cfg.Keyspace, m.cfg.Shard, func(s *topopb.Shard) error {
		s.PrimaryAlias, s.PrimaryTerm = m.cfg.Alias, s.PrimaryTerm+1
		s.PromotionPosition, s.PrimarySinceUnixMs = pos.String(), time.Now().UnixMilli()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("name %s the primary of %s/%s: %w", m.cfg.Alias, m.cfg.Keyspace, m.cfg.Shard, err)
	}
	m.demoted.Store(false)
	m.log.Info("promoted: the shard's primary from now", zapPos(pos))
	return pos, nil
}

func (r *replicationServer) SetPrimary(ctx context.Context, req *replicationpb.SetPrimaryRequest) (*replicationpb.SetPrimaryResponse, error) {
	m := r.roles
	shard, err := m.ts.GetShard(ctx, m.cfg.Keyspace, m.cfg.Shard)
	if err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	if req.PrimaryAlias != "" && req.PrimaryAlias != shard.PrimaryAlias {
		return nil, queryconv.ErrorToStatus(fmt.Errorf("the shard's record names %s the primary, not %s", shard.PrimaryAlias, req.PrimaryAlias))
	}
	if shard.PrimaryAlias == m.cfg.Alias {
		return &replicationpb.SetPrimaryResponse{}, nil
	}
	m.transition.Lock()
	m.frozen.Store(false)
	m.interrupt()
	m.transition.Unlock()
	return &replicationpb.SetPrimaryResponse{}, nil
}

// dial reaches another tablet for a failover.
func (m *roleManager) dial(t *topopb.Tablet) (*tabletclient.Conn, error) {
	return tabletclient.Dial(t, tabletclient.WithTLS(m.peerTLS))
}
