// Package reparent changes a shard's primary: Planned moves it to a
// replica while both are well (shardctl shard reparent), Emergency
// promotes the most advanced replica when the primary is gone (the
// failover a replica tablet runs when the primary's lease goes, and
// shardctl shard emergency-reparent).
//
// Both run under the shard's lock and speak to tablets only through their
// Replication calls (DemotePrimary, StopReplication, PromoteReplica,
// SetPrimary); each tablet then keeps its own role in line with the
// shard's record (tablet/role.go). The tablet promoted writes the record
// itself, holding the shard's primary lease, so that the record and the
// fence change together.
//
// Gates hold what the shard refuses meanwhile: a demoted primary and a
// tablet without a valid lease answer NOT_PRIMARY, a primary whose MySQL
// is down MYSQL_UNREACHABLE, and a gate that sees no serving primary
// waits; each statement runs again once the topology names the new
// primary, within the gate's --buffer-max-wait.
package reparent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/tabletclient"
	"github.com/shardgate/shardgate/topo"
)

// ErrPrimaryAlive is Emergency's refusal when the primary still holds its
// lease: use Planned.
var ErrPrimaryAlive = errors.New("the shard's primary holds its lease: it is alive; use a planned reparent")

// Options are the settings of a reparent.
type Options struct {
	// To is the tablet to promote; empty: the most advanced replica.
	To string
	// Holder names who runs it in the shard's lock ("user@host (pid N)"
	// when empty).
	Holder string
	// Reason is logged and recorded in the lock.
	Reason string
	// Dial reaches a tablet (tabletclient.Dial when nil).
	Dial func(*topopb.Tablet) (*tabletclient.Conn, error)
	// DrainTimeout bounds the wait for the old primary's open
	// transactions (planned; default 5 s). CatchUpTimeout bounds the
	// candidate's catching up (default 10 s).
	DrainTimeout   time.Duration
	CatchUpTimeout time.Duration
	// Progress, when set, hears each step as it starts.
	Progress func(step string)
	Log      *zap.Logger
}

func (o *Options) defaults() {
	if o.Holder == "" {
		o.Holder = DefaultHolder()
	}
	if o.Dial == nil {
		o.Dial = func(t *topopb.Tablet) (*tabletclient.Conn, error) { return tabletclient.Dial(t) }
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 5 * time.Second
	}
	if o.CatchUpTimeout <= 0 {
		o.CatchUpTimeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
}

// DefaultHolder is "user@host (pid N)" of this process.
func DefaultHolder() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s (pid %d)", name, host, os.Getpid())
}

// Result says what a reparent did.
type Result struct {
	OldPrimary, NewPrimary string
	// Position is the new primary's promotion position.
	Position string
	// WritesStopped is how long the shard took no writes: from the old
	// primary's demotion (planned) to the new primary serving.
	WritesStopped time.Duration
	Took          time.Duration
}

// shardTablets reads the shard's record and its tablets.
func shardTablets(ctx context.Context, ts *topo.Server, keyspace, shard string) (*topopb.Shard, []*topopb.Tablet, error) {
	sh, err := ts.GetShard(ctx, keyspace, shard)
	if err != nil {
		return nil, nil, err
	}
	all, err := ts.ListTablets(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []*topopb.Tablet
	for _, t := range all {
		if t.Keyspace == keyspace && t.Shard == shard {
			out = append(out, t)
		}
	}
	return sh, out, nil
}

func find(tablets []*topopb.Tablet, alias string) *topopb.Tablet {
	for _, t := range tablets {
		if t.Alias == alias {
			return t
		}
	}
	return nil
}

// Planned moves the shard's primary to opts.To (or the most advanced
// replica) while the old one is well: the old primary stops taking writes
// and lets its transactions finish, the candidate applies everything up to
// the old primary's last transaction and is promoted, and the others,
// the old primary among them, follow it. On failure before the promotion,
// the old primary takes writes again.
func Planned(ctx context.Context, ts *topo.Server, keyspace, shard string, opts Options) (*Result, error) {
	opts.defaults()
	start := time.Now()
	lock, err := ts.LockShard(ctx, keyspace, shard, opts.Holder, "planned reparent")
	if err != nil {
		return nil, err
	}
	defer lock.Release()

	sh, tablets, err := shardTablets(ctx, ts, keyspace, shard)
	if err != nil {
		return nil, err
	}
	old := find(tablets, sh.PrimaryAlias)
	if old == nil {
		return nil, fmt.Errorf("shard %s/%s has no primary to move (primary_alias %q): use emergency-reparent", keyspace, shard, sh.PrimaryAlias)
	}
	conns := dialAll(tablets, opts.Dial)
	defer closeAll(conns)
	if conns[old.Alias] == nil {
		return nil, fmt.Errorf("cannot reach the primary %s: use emergency-reparent", old.Alias)
	}

	candidate := opts.To
	if candidate == "" {
		opts.Progress("choosing the most advanced replica")
		statuses := replicaStatuses(ctx, conns, sh.PrimaryAlias, false)
		if candidate, err = mostAdvanced(statuses); err != nil {
			return nil, fmt.Errorf("shard %s/%s: %w", keyspace, shard, err)
		}
	}
	if candidate == old.Alias {
		return nil, fmt.Errorf("tablet %s is already the primary of %s/%s", candidate, keyspace, shard)
	}
	if c := find(tablets, candidate); c == nil || conns[candidate] == nil {
		return nil, fmt.Errorf("tablet %s is not a reachable tablet of shard %s/%s", candidate, keyspace, shard)
	} else if c.Type == topopb.TabletType_RDONLY {
		return nil, fmt.Errorf("tablet %s is rdonly: only a replica may become the primary", candidate)
	}

	opts.Progress(fmt.Sprintf("demoting %s: stopping its writes", old.Alias))
	stopped := time.Now()
	dctx, cancel := context.WithTimeout(ctx, opts.DrainTimeout+5*time.Second)
	demoted, err := conns[old.Alias].Replication().DemotePrimary(dctx, &replicationpb.DemotePrimaryRequest{TimeoutMs: opts.DrainTimeout.Milliseconds()})
	cancel()
	if err != nil {
		undo(ctx, conns[old.Alias], opts.Log)
		return nil, fmt.Errorf("demote %s: %w", old.Alias, err)
	}

	opts.Progress(fmt.Sprintf("promoting %s once it has applied %s", candidate, demoted.Position))
	pctx, cancel := context.WithTimeout(ctx, opts.CatchUpTimeout+10*time.Second)
	promoted, err := conns[candidate].Replication().PromoteReplica(pctx, &replicationpb.PromoteReplicaRequest{
		WaitPosition: demoted.Position, TimeoutMs: opts.CatchUpTimeout.Milliseconds(),
	})
	cancel()
	if err != nil {
		// The record still names the old primary unless the candidate
		// wrote it: only then is there no way back.
		if now, gerr := ts.GetShard(ctx, keyspace, shard); gerr == nil && now.PrimaryAlias == old.Alias {
			undo(ctx, conns[old.Alias], opts.Log)
			return nil, fmt.Errorf("promote %s: %w; %s is the primary again", candidate, err, old.Alias)
		}
		return nil, fmt.Errorf("promote %s: %w", candidate, err)
	}
	res := &Result{OldPrimary: old.Alias, NewPrimary: candidate, Position: promoted.Position, WritesStopped: time.Since(stopped)}

	opts.Progress("repointing the other tablets at " + candidate)
	repoint(ctx, conns, candidate, opts.Log)
	res.Took = time.Since(start)
	opts.Log.Info("planned reparent done", zap.String("shard", keyspace+"/"+shard), zap.String("old_primary", old.Alias),
		zap.String("new_primary", candidate), zap.Duration("writes_stopped", res.WritesStopped), zap.Duration("took", res.Took))
	return res, nil
}

// Emergency promotes the most advanced replica of a shard whose primary is
// gone (its lease expired or was given up): the replicas stop applying,
// the one that received the most is promoted once it has applied all it
// received, and the others follow it. The old primary, when it returns,
// finds the record naming another and rejoins as a replica, unless it
// holds errant transactions (it then reports them and stays out).
func Emergency(ctx context.Context, ts *topo.Server, keyspace, shard string, opts Options) (*Result, error) {
	opts.defaults()
	start := time.Now()
	lock, err := ts.LockShard(ctx, keyspace, shard, opts.Holder, "emergency reparent: "+opts.Reason)
	if err != nil {
		return nil, err
	}
	defer lock.Release()

	holder, err := ts.PrimaryLeaseHolder(ctx, keyspace, shard)
	if err != nil {
		return nil, err
	}
	if holder != "" {
		return nil, fmt.Errorf("%w (%s holds it)", ErrPrimaryAlive, holder)
	}
	sh, tablets, err := shardTablets(ctx, ts, keyspace, shard)
	if err != nil {
		return nil, err
	}
	opts.Log.Warn("failing over: the shard's primary lost its lease", zap.String("shard", keyspace+"/"+shard),
		zap.String("old_primary", sh.PrimaryAlias), zap.String("reason", opts.Reason))
	conns := dialAll(tablets, opts.Dial)
	defer closeAll(conns)

	opts.Progress("stopping replication on the replicas")
	statuses := replicaStatuses(ctx, conns, sh.PrimaryAlias, true)
	candidate := opts.To
	if candidate == "" {
		if candidate, err = mostAdvanced(statuses); err != nil {
			return nil, fmt.Errorf("shard %s/%s: %w", keyspace, shard, err)
		}
	} else if _, ok := statuses[candidate]; !ok {
		return nil, fmt.Errorf("tablet %s is not a reachable replica of %s/%s", candidate, keyspace, shard)
	} else if best, err := mostAdvanced(statuses); err == nil && !statuses[candidate].received.AtLeast(statuses[best].received) {
		return nil, fmt.Errorf("tablet %s received less than %s (%s < %s): promoting it would lose acknowledged writes; choose %s",
			candidate, best, statuses[candidate].received, statuses[best].received, best)
	}
	st := statuses[candidate]

	opts.Progress(fmt.Sprintf("promoting %s once it has applied %s", candidate, st.received))
	pctx, cancel := context.WithTimeout(ctx, opts.CatchUpTimeout+10*time.Second)
	promoted, err := conns[candidate].Replication().PromoteReplica(pctx, &replicationpb.PromoteReplicaRequest{
		WaitPosition: st.received.String(), TimeoutMs: opts.CatchUpTimeout.Milliseconds(),
	})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("promote %s: %w", candidate, err)
	}
	res := &Result{OldPrimary: sh.PrimaryAlias, NewPrimary: candidate, Position: promoted.Position}

	// The old primary may be dead: its record says PRIMARY until it
	// returns. Gates route by records, so say REPLICA for it now.
	if old := find(tablets, sh.PrimaryAlias); old != nil && old.Type == topopb.TabletType_PRIMARY {
		old.Type = topopb.TabletType_REPLICA
		if err := ts.SaveTablet(ctx, old); err != nil {
			opts.Log.Warn("cannot mark the old primary's record as replica", zap.String("tablet", old.Alias), zap.Error(err))
		}
	}
	opts.Progress("repointing the other replicas at " + candidate)
	delete(conns, sh.PrimaryAlias) // gone: it follows the record when it returns
	repoint(ctx, conns, candidate, opts.Log)
	res.Took = time.Since(start)
	res.WritesStopped = res.Took
	return res, nil
}

// replicaStatus is what a replica received and applied.
type replicaStatus struct {
	tablet            *topopb.Tablet
	received, applied gtidpos.Position
}

// replicaStatuses asks every reachable replica of the shard (not the
// primary) for its position; with stop, it stops their replication
// first, so that none moves on while the choice is made.
func replicaStatuses(ctx context.Context, conns map[string]*tabletclient.Conn, primary string, stop bool) map[string]replicaStatus {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]replicaStatus{}
	for alias, c := range conns {
		if alias == primary {
			continue
		}
		wg.Go(func() {
			if st, ok := replicaStatusOf(ctx, c, stop); ok {
				mu.Lock()
				out[alias] = st
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// replicaStatusOf asks one replica; ok is false when it does not answer
// or cannot become the primary (errant transactions).
func replicaStatusOf(ctx context.Context, c *tabletclient.Conn, stop bool) (replicaStatus, bool) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var received, applied string
	if stop {
		resp, err := c.Replication().StopReplication(cctx, &replicationpb.StopReplicationRequest{})
		if err != nil {
			return replicaStatus{}, false
		}
		received, applied = resp.Received, resp.Applied
	} else {
		resp, err := c.Replication().ReplicationStatus(cctx, &replicationpb.ReplicationStatusRequest{})
		if err != nil || resp.State == nil || len(resp.State.Errant) > 0 {
			return replicaStatus{}, false
		}
		received, applied = resp.State.Received, resp.State.Applied
	}
	r, err1 := gtidpos.Parse(received)
	a, err2 := gtidpos.Parse(applied)
	if err1 != nil || err2 != nil {
		return replicaStatus{}, false
	}
	return replicaStatus{tablet: c.Tablet(), received: r.Merge(a), applied: a}, true
}

// mostAdvanced picks the replica that received the most (a replica, not
// rdonly; by alias among equals, so that the choice is stable).
func mostAdvanced(statuses map[string]replicaStatus) (string, error) {
	aliases := make([]string, 0, len(statuses))
	for a, st := range statuses {
		if st.tablet.Type != topopb.TabletType_RDONLY {
			aliases = append(aliases, a)
		}
	}
	if len(aliases) == 0 {
		return "", errors.New("no replica answered: none can become the primary")
	}
	slices.Sort(aliases)
	best := aliases[0]
	for _, a := range aliases[1:] {
		if !statuses[best].received.AtLeast(statuses[a].received) {
			best = a
		}
	}
	for _, a := range aliases {
		if !statuses[best].received.AtLeast(statuses[a].received) {
			return "", fmt.Errorf("the replicas' histories diverge (%s has %s, %s has %s): choose one with --to",
				best, statuses[best].received, a, statuses[a].received)
		}
	}
	return best, nil
}

// repoint makes every other tablet follow the new primary. Each would on
// its own, as it watches the shard's record; asking speeds it up, and a
// tablet that does not answer catches up when it returns.
func repoint(ctx context.Context, conns map[string]*tabletclient.Conn, primary string, log *zap.Logger) {
	var wg sync.WaitGroup
	for alias, c := range conns {
		if alias == primary {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if _, err := c.Replication().SetPrimary(cctx, &replicationpb.SetPrimaryRequest{PrimaryAlias: primary}); err != nil {
				log.Info("tablet not repointed now; it follows the new primary when it sees the shard's record", zap.String("tablet", alias), zap.Error(err))
			}
		})
	}
	wg.Wait()
}

func undo(ctx context.Context, c *tabletclient.Conn, log *zap.Logger) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := c.Replication().UndoDemotePrimary(uctx, &replicationpb.UndoDemotePrimaryRequest{}); err != nil {
		log.Error("cannot make the old primary take writes again", zap.String("tablet", c.Tablet().Alias), zap.Error(err))
	}
}

func dialAll(tablets []*topopb.Tablet, dial func(*topopb.Tablet) (*tabletclient.Conn, error)) map[string]*tabletclient.Conn {
	out := map[string]*tabletclient.Conn{}
	for _, t := range tablets {
		if c, err := dial(t); err == nil {
			out[t.Alias] = c
		}
	}
	return out
}

func closeAll(conns map[string]*tabletclient.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// Describe is a one-line summary of a result.
func (r *Result) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s -> %s at %s (writes stopped %v, took %v)", r.OldPrimary, r.NewPrimary, r.Position,
		r.WritesStopped.Round(time.Millisecond), r.Took.Round(time.Millisecond))
	return b.String()
}
