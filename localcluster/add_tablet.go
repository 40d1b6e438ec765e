package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// ExtraTablet is a tablet added to a running cluster's shard (AddTablet);
// the state file keeps them so that `local up` starts them again.
type ExtraTablet struct {
	Keyspace string `json:"keyspace"`
	Shard    string `json:"shard"`
	Type     string `json:"type"` // replica or rdonly
}

// AddTablet starts a new replica or rdonly tablet, with a mariadbd of its
// own, for a shard of the running cluster, and returns once it serves.
// The tablet initializes its server and seeds it from the shard's latest
// backup and the binlogs archived since (the primary only streams what
// came after), or, when the shard has no backup, replicates everything
// from the primary.
func (c *Cluster) AddTablet(ctx context.Context, keyspace, shard, typ string, progress func(string)) (Tablet, error) {
	addShardsMu.Lock()
	defer addShardsMu.Unlock()
	if typ != "replica" && typ != "rdonly" {
		return Tablet{}, fmt.Errorf("tablet type %q: add a replica or an rdonly tablet", typ)
	}
	c.mu.Lock()
	closing := c.closing
	has := slices.ContainsFunc(c.p.tablets, func(t tabletPlan) bool { return t.Keyspace == keyspace && t.Shard == shard })
	next := c.p.nextTablet
	c.mu.Unlock()
	if closing {
		return Tablet{}, errors.New("local cluster: closing; no tablet is added")
	}
	if !has {
		return Tablet{}, fmt.Errorf("shard %s/%s has no tablet in this local cluster", keyspace, shard)
	}
	t := c.p.newReplica(next, keyspace, shard)
	t.Type = typ
	t.MySQL.Binary, t.MySQL.Log = c.mysqlBin, c.log.Named("mysqld")
	if err := t.MySQL.Validate(); err != nil {
		return Tablet{}, err
	}
	for _, port := range []int{t.GRPCPort, t.HTTPPort, t.QueryPort, t.MySQL.Port} {
		if !portFree(port) {
			return Tablet{}, fmt.Errorf("port %d, wanted by the new tablet %s, is in use: reserve it with SpareTablets or free it", port, t.Alias)
		}
	}
	progress(fmt.Sprintf("starting tablet %s (%s of %s/%s); it seeds its server from the shard's latest backup", t.Alias, typ, keyspace, shard))
	ch, err := c.startTablet(t, c.bins[TabletBinary])
	if err != nil {
		return Tablet{}, err
	}
	start := time.Now()
	for {
		if ch.exited() {
			return Tablet{}, fmt.Errorf("tablet %s exited: %w (see %s)", t.Alias, ch.exitError(), ch.part.Log)
		}
		problem := c.tabletProblem(ctx, map[string]bool{t.Alias: true}, []tabletPlan{t})
		if problem == "" {
			break
		}
		select {
		case <-ctx.Done():
			ch.stop(processStopGrace)
			return Tablet{}, fmt.Errorf("tablet %s did not come up: %s: %w", t.Alias, problem, ctx.Err())
		case <-time.After(time.Second):
			progress(fmt.Sprintf("%s: waiting for tablet %s to serve: %s", time.Since(start).Round(time.Second), t.Alias, problem))
		}
	}

	c.mu.Lock()
	i := len(c.p.tablets)
	c.p.tablets = append(c.p.tablets, t)
	c.mysqlds = append(c.mysqlds, nil) // its tablet started it
	c.tablets = append(c.tablets, ch)
	c.p.nextTablet = next + 1
	c.addPartLocked(ch.part)
	c.state.ExtraTablets = append(c.state.ExtraTablets, ExtraTablet{Keyspace: keyspace, Shard: shard, Type: typ})
	c.mu.Unlock()
	if err := c.recordMySQLD(i); err != nil {
		return Tablet{}, err
	}
	c.watchChild(ch)
	c.superviseTablet(i)
	c.log.Info("tablet added", zap.String("tablet", t.Alias), zap.String("shard", keyspace+"/"+shard), zap.String("type", typ))
	return t.tablet(), nil
}

func portFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
