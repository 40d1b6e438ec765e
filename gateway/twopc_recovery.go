package gateway

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo/twopc"
)

// A gate registers itself in the topology (gates/<id>, under a lease) and
// looks, on start and then periodically, for decision records whose
// coordinator is gone: records of gates no longer registered, of earlier
// processes under its own name (registered still, until their lease
// expires), and its own that no session is committing any more (their
// commit ended before every shard acted). It finishes each
// as the record says; a record still in PREPARE is rolled back. Several
// gates may do this at once: decisions are compare-and-set and the shards'
// calls idempotent (topo/twopc).

// start registers the gate and runs recovery until stop.
func (c *twoPC) start(ctx context.Context, ttl, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { c.keepRegistered(ctx, ttl) })
	wg.Go(func() { c.recoverLoop(ctx, interval) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// keepRegistered keeps the gate's registration until ctx ends, then
// removes it; a registration lost meanwhile (etcd unreachable for longer
// than ttl) is made again.
func (c *twoPC) keepRegistered(ctx context.Context, ttl time.Duration) {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		gone, err := c.ts.RegisterGate(ctx, c.gate, ttl)
		if err == nil {
			c.log.Info("gate registered", zap.String("gate_id", c.gate.Id))
			backoff = 500 * time.Millisecond
			<-gone
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("gate registration lost; registering again (other gates may recover this gate's open two-phase commits meanwhile, which is safe)")
			continue
		}
		c.log.Warn("cannot register the gate; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// recoverLoop runs a recovery pass now and every interval; after a pass
// that left work undone it tries again sooner, since the usual cause is
// a tablet not reachable yet right after the gate started.
func (c *twoPC) recoverLoop(ctx context.Context, interval time.Duration) {
	retry := 500 * time.Millisecond
	for {
		wait := interval
		if !c.recoverPass(ctx) {
			wait = min(retry, interval)
			retry = min(retry*2, interval)
		} else {
			retry = 500 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// recoverPass finishes every orphaned record it finds and reports whether
// none was left unfinished.
func (c *twoPC) recoverPass(ctx context.Context) bool {
	txs, err := c.ts.ListTransactions(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("recovery: cannot list distributed transactions", zap.Error(err))
			c.metrics.twopcRecoveryErrors.Inc()
		}
		return false
	}
	if len(txs) == 0 {
		return true
	}
	gates, err := c.ts.ListGates(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("recovery: cannot list registered gates", zap.Error(err))
			c.metrics.twopcRecoveryErrors.Inc()
		}
		return false
	}
	// A gate registered under this gate's name that started before it is
	// an earlier process of it, gone even while its registration has not
	// expired: its transactions are recovered at once.
	live := map[string]bool{}
	for _, g := range gates {
		earlierSelf := g.Name == c.gate.Name && g.Id != c.gate.Id && g.StartedUnixNanos < c.gate.StartedUnixNanos
		live[g.Id] = !earlierSelf
	}
	ok := true
	parts := gateParticipants{tablets: c.tablets}
	for _, tx := range txs {
		rec := tx.Record
		if !c.orphaned(rec, live) {
			continue
		}
		log := c.log.With(zap.String("dtid", rec.Dtid), zap.String("gate_id", rec.GateId),
			zap.String("state", rec.State.String()), zap.String("shards", shardNames(rec)))
		out, err := twopc.Resolve(ctx, c.ts, tx, topopb.TransactionRecord_ROLLBACK, parts)
		if isNotFound(err) {
			continue // finished by someone else meanwhile
		}
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("recovery: cannot finish a distributed transaction yet; retrying", zap.Error(err))
				c.metrics.twopcRecoveryErrors.Inc()
			}
			ok = false
			continue
		}
		decision := strings.ToLower(out.State.String())
		c.metrics.twopcRecovered.WithLabelValues(decision).Inc()
		log.Info("recovery: finished a distributed transaction whose coordinator is gone",
			zap.String("decision", decision), zap.Strings("already_ended_on", out.NotPrepared))
	}
	return ok
}

// orphaned reports whether no live coordinator owns rec any more.
func (c *twoPC) orphaned(rec *topopb.TransactionRecord, live map[string]bool) bool {
	if rec.GateId == c.gate.Id {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.inFlight[rec.Dtid]
	}
	return !live[rec.GateId]
}
