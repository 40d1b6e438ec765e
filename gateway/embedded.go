package gateway

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/vt/vtenv"

	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// OpenExecutor returns an Executor over the cluster whose topology cfg
// names (TopoEndpoints, TopoRoot, Cell, TabletTLS and the statement
// limits), serving no port: for programs and tests that run statements in
// process with sessions of their own, such as the integration test of LOAD
// DATA LOCAL, which sets Session.LocalFiles itself. It waits up to
// cfg.StartupTimeout for the topology and for a serving primary tablet of
// every shard.
//
// Unlike a gate it takes no part in two-phase commit (transaction_mode
// 'twopc' is refused) and does not register, so a resharding's switch of
// writes does not wait for it: its writes to a keyspace being switched are
// refused by the shards rather than held. close stops it.
func OpenExecutor(ctx context.Context, cfg Config, log *zap.Logger) (e *Executor, close func(), err error) {
	env, err := vtenv.New(vtenv.Options{MySQLServerVersion: "8.0.40"})
	if err != nil {
		return nil, nil, fmt.Errorf("vitess environment: %w", err)
	}
	tabletTLS, err := cfg.TabletTLS.Config()
	if err != nil {
		return nil, nil, fmt.Errorf("tablet TLS: %w", err)
	}
	topoOpts, err := cfg.TopoAuth.Options()
	if err != nil {
		return nil, nil, err
	}
	store, err := topo.NewEtcdStore(cfg.TopoEndpoints, log, topoOpts...)
	if err != nil {
		return nil, nil, err
	}
	ts := topo.NewServer(store, cfg.TopoRoot)
	runCtx, cancel := context.WithCancel(context.Background())
	topology := newTopology(ts, cfg.Cell, log)
	tablets := newTabletGateway(log, tabletTLS, withHealthTimeout(cfg.TabletHealthTimeout), withMaxReplicaLag(cfg.MaxReplicaLag))
	topology.run(runCtx)
	tablets.run(runCtx, ts)
	e = &Executor{
		topo: topology, tablets: tablets, parser: env.Parser(), log: log, metrics: newMetrics(nil),
		serverVersion: cfg.ServerVersion, versionComment: cfg.VersionComment, queryTimeout: cfg.QueryTimeout,
		maxResultBytes: cfg.MaxResultBytes,
		plans:          newPlanCache(cfg.PlanCacheEntries, cfg.PlanCacheBytes, nil),
	}
	e.authz = newAuthorizer(nil, log.Named("access"), nil)
	e.stats = newQueryStats(cfg.QueryStatsMaxStatements, e.metrics, newSlowLog(cfg.SlowLog, log.Named("slowlog"), env.Parser(), nil), nil)
	e.schema = newSchemaTracker(e.readSchema, cfg.SchemaRefresh, log)
	close = func() {
		cancel()
		ts.Close()
	}
	wctx, wcancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer wcancel()
	if err := topology.waitReady(wctx); err != nil {
		close()
		return nil, nil, err
	}
	if err := e.waitPrimaries(wctx); err != nil {
		close()
		return nil, nil, err
	}
	return e, close, nil
}

// waitPrimaries waits until every shard of the serving graph has a serving
// primary tablet, or ctx ends.
func (e *Executor) waitPrimaries(ctx context.Context) error {
	for {
		var missing error
		for _, keyspace := range e.keyspaceNames() {
			shards, err := e.topo.shards(keyspace, topopb.TabletType_PRIMARY)
			if err != nil {
				missing = err
				break
			}
			for _, sh := range shards {
				if _, err := e.tablets.pick(keyspace, sh.Name, topopb.TabletType_PRIMARY); err != nil {
					missing = err
					break
				}
			}
		}
		if missing == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the primary tablets: %w", missing)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
