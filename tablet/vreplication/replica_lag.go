package vreplication

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/tabletclient"
)

// The copy writes fast, and each write reaches the receiving shard's
// replicas through replication: a copy faster than they apply leaves them
// behind, and reads from them stale. The engine follows its shard's
// replicas' lag (their health reports) and a stream's copy pauses while
// one lags more than the workflow's max_replica_lag_seconds.

// replicaLag is the worst replication lag among the shard's replicas.
type replicaLag struct {
	mu    sync.Mutex
	alias string
	lag   time.Duration
}

// worst returns the most lagging replica and its lag ("" when none lags).
func (r *replicaLag) worst() (string, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.alias, r.lag
}

func (r *replicaLag) set(alias string, lag time.Duration) {
	r.mu.Lock()
	r.alias, r.lag = alias, lag
	r.mu.Unlock()
}

// followReplicaLag measures the shard's replicas' lag every second until
// ctx ends.
func (e *Engine) followReplicaLag(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		alias, lag := e.measureReplicaLag(ctx)
		e.replicaLag.set(alias, lag)
		e.metrics.replicaLag.Set(lag.Seconds())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (e *Engine) measureReplicaLag(ctx context.Context) (string, time.Duration) {
	tablets, err := e.ts.ListTablets(ctx)
	if err != nil {
		return "", 0
	}
	worstAlias, worst := "", time.Duration(0)
	for _, t := range tablets {
		if t.Keyspace != e.cfg.Keyspace || t.Shard != e.cfg.Shard || t.Type != topopb.TabletType_REPLICA || t.Alias == e.cfg.Alias {
			continue
		}
		lag, ok := e.probeLag(ctx, t)
		if ok && lag > worst {
			worstAlias, worst = t.Alias, lag
		}
	}
	return worstAlias, worst
}

// probeLag reads one health report of a replica; ok is false when it does
// not answer (a replica that is down lags nobody's copy).
func (e *Engine) probeLag(ctx context.Context, t *topopb.Tablet) (time.Duration, bool) {
	conn, err := tabletclient.Dial(t, tabletclient.WithTLS(e.cfg.PeerTLS))
	if err != nil {
		return 0, false
	}
	defer conn.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	stream, err := conn.QueryService().StreamHealth(pctx, &querypb.StreamHealthRequest{})
	if err != nil {
		return 0, false
	}
	h, err := stream.Recv()
	if err != nil || !h.GetServing() {
		return 0, false
	}
	return time.Duration(h.GetStats().GetReplicationLagSeconds()) * time.Second, true
}

// throttleOnReplicaLag waits while a replica of the shard lags more than
// the workflow allows, saying so in the stream's status.
func (s *stream) throttleOnReplicaLag(ctx context.Context) {
	for {
		wf := s.wf.Load()
		limit := time.Duration(wf.GetMaxReplicaLagSeconds()) * time.Second
		alias, lag := s.e.replicaLag.worst()
		if limit <= 0 || lag <= limit || wf.GetPaused() {
			s.setThrottled("")
			return
		}
		s.setThrottled(fmt.Sprintf("replica %s lags %v (more than %v)", alias, lag, limit))
		s.e.metrics.throttled.Add(0.25)
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (s *stream) setThrottled(why string) {
	s.mu.Lock()
	changed := s.status.Throttled != why
	s.status.Throttled = why
	s.mu.Unlock()
	switch {
	case changed && why != "":
		s.log.Info("copy paused: the shard's replicas fall behind", zap.String("why", why))
	case changed:
		s.log.Info("copy resumed: the shard's replicas caught up")
	}
}
