package localcluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/proto/topopb"
)

func (c *Cluster) gatePart() Part {
	return Part{Kind: KindGate, Name: "gate", Addr: c.GateAddr(), Log: filepath.Join(c.p.logDir(), "gate.log")}
}

// RestartGate stops the gate if it still runs (SIGTERM, SIGKILL after a
// grace period), starts it again with the flags it was first started with
// plus extraArgs, and returns once it reaches every shard (or ctx ends, or
// it exits). Tests use it to bring back a gate that died, or to run one
// with test-only flags.
func (c *Cluster) RestartGate(ctx context.Context, extraArgs ...string) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return errors.New("local cluster: closing; the gate is not restarted")
	}
	old := c.gate
	c.mu.Unlock()
	// The supervisor must not take the old gate's exit for a crash.
	c.hold(c.gatePart().Name)
	defer c.release(c.gatePart().Name)
	if old != nil {
		old.stop(processStopGrace)
	}
	gate, err := startChild(c.gatePart(), c.gateBin, append(slices.Clone(c.gateArgs), extraArgs...))
	if err != nil {
		return err
	}
	if err := c.installGate(gate); err != nil {
		return err
	}
	c.watchChild(gate)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if gate.exited() {
			return gate.exitError()
		}
		perr := c.gateReachesEveryShard(ctx)
		if perr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the restarted gate does not answer on %s: %v: %w", c.GateAddr(), perr, ctx.Err())
		case <-tick.C:
		}
	}
}

// WaitGateExit waits until the gate process has exited (a test made it
// crash) and returns how it exited.
func (c *Cluster) WaitGateExit(ctx context.Context) error {
	c.mu.Lock()
	gate := c.gate
	c.mu.Unlock()
	select {
	case <-gate.done:
		return gate.err
	case <-ctx.Done():
		return fmt.Errorf("the gate is still running: %w", ctx.Err())
	}
}

// gateReachesEveryShard runs SELECT 1 through the gate on every shard
// (USE ks:shard): a gate that just started answers before it has heard
// from every tablet.
func (c *Cluster) gateReachesEveryShard(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	mc := mysql.NewConfig()
	mc.User, mc.Net, mc.Addr = "root", "tcp", c.GateAddr()
	mc.Timeout = 2 * time.Second
	// TLS when the gate offers it (a gate run with --mysql-require-tls
	// refuses anything else); this check needs no verified peer.
	mc.TLSConfig = "preferred"
	mc.Logger = nopLogger{}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	c.mu.Lock()
	tablets := slices.Clone(c.p.tablets)
	c.mu.Unlock()
	for _, t := range tablets {
		if !c.serves(ctx, t.Keyspace, t.Shard) {
			continue // a resharding's target not switched to, or a source switched from
		}
		if _, err := conn.ExecContext(ctx, "USE `"+t.Keyspace+":"+t.Shard+"`"); err != nil {
			return err
		}
		var one int
		if err := conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return fmt.Errorf("shard %s/%s: %w", t.Keyspace, t.Shard, err)
		}
	}
	return nil
}

// serves reports whether the serving graph sends the shard primary
// traffic (when the topology cannot say, it assumes so).
func (c *Cluster) serves(ctx context.Context, keyspace, shard string) bool {
	srv, err := c.ts.GetSrvKeyspace(ctx, c.p.cfg.Cell, keyspace)
	if err != nil {
		return true
	}
	for _, p := range srv.Partitions {
		if p.TabletType == topopb.TabletType_PRIMARY {
			return slices.ContainsFunc(p.Shards, func(r *topopb.ShardReference) bool { return r.Name == shard })
		}
	}
	return true
}
