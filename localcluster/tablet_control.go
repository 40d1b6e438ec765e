package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/shardgate/shardgate/tablet/mysqld"
	"github.com/shardgate/shardgate/topo"
)

// tabletArgs is the command line of a tablet. Each tablet runs its own
// mariadbd (--mysqld-data-dir): Up starts the servers first, and a tablet
// whose server is gone starts it again, or initializes and restores it
// from the backup store when its data dir is gone.
func (c *Cluster) tabletArgs(t tabletPlan) []string {
	p := c.p
	args := []string{
		"--alias", t.Alias,
		"--cell", p.cfg.Cell,
		"--keyspace", t.Keyspace,
		"--shard", t.Shard,
		"--type", t.Type,
		"--grpc-port", strconv.Itoa(t.GRPCPort),
		"--http-port", strconv.Itoa(t.HTTPPort),
		"--query-port", strconv.Itoa(t.QueryPort),
		"--mysql-port", strconv.Itoa(t.MySQL.Port),
		"--mysql-socket", t.MySQL.SocketPath(),
		"--mysqld-data-dir", t.MySQL.DataDir,
		"--mysqld-server-id", strconv.FormatUint(uint64(t.MySQL.ServerID), 10),
		"--backup-storage", p.cfg.BackupStorage,
		"--topo", p.topoAddr(),
	}
	if p.cfg.TopoRoot != topo.DefaultRoot {
		args = append(args, "--topo-root", p.cfg.TopoRoot)
	}
	args = append(args, p.cfg.TabletTLS.tabletArgs()...)
	if !p.cfg.ThroughTablets {
		args = append(args, "--direct-read-user", DirectReadUser, "--direct-read-password-file", p.directReadPasswordFile())
		if !p.cfg.TabletTransactions {
			args = append(args, "--direct-transactions")
		}
	}
	return append(args, p.cfg.TabletArgs...)
}

// mysqldName names a tablet's server in the state file and messages.
func mysqldName(t tabletPlan) string {
	if t.Type == "replica" {
		return "mysqld " + t.Keyspace + "/" + t.Shard + " replica " + t.Alias
	}
	return "mysqld " + t.Keyspace + "/" + t.Shard
}

func (c *Cluster) tabletPart(t tabletPlan) Part {
	return Part{Kind: KindTablet, Name: "tablet " + t.Alias, Addr: "127.0.0.1:" + strconv.Itoa(t.GRPCPort),
		Log: filepath.Join(c.p.logDir(), "tablet-"+t.Alias+".log")}
}

func (c *Cluster) tabletIndex(alias string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.p.tablets, func(t tabletPlan) bool { return t.Alias == alias })
	if i < 0 {
		return 0, fmt.Errorf("local cluster: no tablet %s", alias)
	}
	return i, nil
}

// tabletProcess is the process of tablet alias that this cluster started
// last (nil: none).
func (c *Cluster) tabletProcess(alias string) (*child, error) {
	i, err := c.tabletIndex(alias)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tablets[i], nil
}

// StopTablet stops a tablet process (SIGTERM, SIGKILL after a grace
// period); its mariadbd keeps running. The supervisor leaves it stopped
// until StartTablet.
func (c *Cluster) StopTablet(alias string) error {
	ch, err := c.tabletProcess(alias)
	if err != nil {
		return err
	}
	if ch != nil {
		c.hold(ch.part.Name)
		ch.stop(processStopGrace)
	}
	return nil
}

// KillTablet kills a tablet at once (SIGKILL), as a crash would; its
// mariadbd keeps running. StartTablet brings the tablet back, or the
// supervisor does (Config.Supervise), as after any crash.
func (c *Cluster) KillTablet(alias string) error {
	ch, err := c.tabletProcess(alias)
	if err != nil {
		return err
	}
	if ch == nil || ch.exited() {
		return fmt.Errorf("local cluster: tablet %s is not running", alias)
	}
	_ = ch.cmd.Process.Kill()
	<-ch.done
	return nil
}

// PauseTablet freezes a tablet's process (SIGSTOP), as a hung process or
// a frozen host would: its sockets stay open and the kernel still accepts
// connections on its ports, but it answers nothing; its mariadbd keeps
// running. ResumeTablet lets it go on. Resume a paused tablet before
// Close, which otherwise waits out the grace period of its SIGTERM.
func (c *Cluster) PauseTablet(alias string) error {
	return c.signalTablet(alias, syscall.SIGSTOP)
}

// ResumeTablet lets a paused tablet go on (SIGCONT).
func (c *Cluster) ResumeTablet(alias string) error {
	return c.signalTablet(alias, syscall.SIGCONT)
}

func (c *Cluster) signalTablet(alias string, sig syscall.Signal) error {
	ch, err := c.tabletProcess(alias)
	if err != nil {
		return err
	}
	if ch == nil || ch.exited() {
		return fmt.Errorf("local cluster: tablet %s is not running", alias)
	}
	return ch.cmd.Process.Signal(sig)
}

// StopMySQLD stops a tablet's mariadbd, whoever started it. The
// supervisor leaves it stopped until StartTablet.
func (c *Cluster) StopMySQLD(ctx context.Context, alias string) error {
	i, err := c.tabletIndex(alias)
	if err != nil {
		return err
	}
	c.hold(mysqldName(c.p.tablets[i]))
	c.mu.Lock()
	proc := c.mysqlds[i]
	c.mu.Unlock()
	if proc != nil {
		if err := proc.Stop(ctx); err != nil {
			return err
		}
	}
	return mysqld.StopDataDir(ctx, c.p.tablets[i].MySQL.DataDir)
}

// WipeTablet stops a tablet and its mariadbd and deletes the server's data
// directory, binlogs and all, as a lost disk would.
func (c *Cluster) WipeTablet(ctx context.Context, alias string) error {
	if err := c.StopTablet(alias); err != nil {
		return err
	}
	if err := c.StopMySQLD(ctx, alias); err != nil {
		return err
	}
	i, _ := c.tabletIndex(alias)
	return os.RemoveAll(c.p.tablets[i].MySQL.DataDir)
}

// StartTablet starts a stopped tablet again (with extraArgs added) and
// returns once it serves and the gate reaches its shard, or ctx ends, or it
// exits. A tablet whose mariadbd is gone starts it; one whose data dir is
// gone initializes a new one and restores its shard from the backup store
// first, which may take long: give ctx room.
func (c *Cluster) StartTablet(ctx context.Context, alias string, extraArgs ...string) error {
	i, err := c.tabletIndex(alias)
	if err != nil {
		return err
	}
	c.mu.Lock()
	t := c.p.tablets[i]
	if c.closing {
		c.mu.Unlock()
		return errors.New("local cluster: closing; the tablet is not started")
	}
	if old := c.tablets[i]; old != nil && !old.exited() {
		c.mu.Unlock()
		return fmt.Errorf("local cluster: tablet %s is running", alias)
	}
	c.mu.Unlock()
	ch, err := c.startTablet(t, c.bins[TabletBinary], extraArgs...)
	if err != nil {
		return err
	}
	if err := c.installTablet(i, ch); err != nil {
		return err
	}
	// The tablet starts its mariadbd if it is gone: supervise both again.
	c.release(ch.part.Name)
	c.release(mysqldName(t))
	c.watchChild(ch)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if ch.exited() {
			return ch.exitError()
		}
		problem := c.tabletProblem(ctx, map[string]bool{alias: true}, []tabletPlan{t})
		if problem == "" {
			if problem = errString(c.gateReachesEveryShard(ctx)); problem == "" {
				return c.recordMySQLD(i)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tablet %s does not serve: %s: %w\nlast lines of %s:\n%s", alias, problem, ctx.Err(),
				ch.part.Log, tailFile(ch.part.Log, ch.logStart, 20))
		case <-tick.C:
		}
	}
}

// recordMySQLD records in the state file the mariadbd that serves tablet
// i's data dir now (a tablet may have started it).
func (c *Cluster) recordMySQLD(i int) error {
	t := c.p.tablets[i]
	pid, ok := mysqld.Running(t.MySQL.DataDir)
	if !ok {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	found := false
	for j, part := range c.state.Parts {
		if part.Kind == KindMySQLd && part.Dir == t.MySQL.DataDir {
			c.state.Parts[j].Proc = procOf(pid)
			found = true
		}
	}
	if !found {
		c.addPartLocked(Part{Kind: KindMySQLd, Name: mysqldName(t), Proc: procOf(pid),
			Addr: t.MySQL.Addr(), Dir: t.MySQL.DataDir, Log: t.MySQL.ErrorLog()})
	}
	return c.saveLocked()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
