package localcluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/keyspace"
	"github.com/shardgate/shardgate/control/schema"
	"github.com/shardgate/shardgate/tablet/mysqld"
	"github.com/shardgate/shardgate/topo"
)

// How long each kind of part gets to shut down cleanly before it is killed.
const (
	processStopGrace = 15 * time.Second
	mysqldStopGrace  = 60 * time.Second
)

// Cluster is a running local cluster started by Up. Its methods may be
// called from several goroutines. Close stops it.
type Cluster struct {
	p    *plan
	log  *zap.Logger
	lock *dirLock

	etcd *embed.Etcd
	ts   *topo.Server

	mu      sync.Mutex
	state   State
	mysqlds []*mysqld.Process // by tablet index; nil until started
	tablets []*child          // by tablet index; nil until started
	gate    *child
	closing bool
	// gateBin and gateArgs start the gate (again, in RestartGate).
	gateBin  string
	gateArgs []string
	// bins and mysqlBin start the parts of shards added later.
	bins     map[string]string
	mysqlBin string
	control  *controlServer
	// restarting: the data dir holds a cluster that ran before. A shard
	// whose server data is gone then is restored by its tablet from the
	// backup store, not initialized empty here.
	restarting bool
	// held are the parts stopped on purpose, which the supervisor does not
	// restart; restarts counts its restarts by part; superviseStop is
	// closed when the cluster closes.
	held          map[string]bool
	restarts      map[string]int
	superviseStop chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Tablet is a shard's tablet and the MariaDB server behind it.
type Tablet struct {
	Alias, Keyspace, Shard string
	GRPCAddr               string // 127.0.0.1:port of the query service
	HTTPAddr               string // 127.0.0.1:port of /metrics and /debug/status
	MySQL                  mysqld.Config
}

// MySQLDSN is a go-sql-driver/mysql DSN for root over the shard's mysqld
// socket, in the keyspace's database: for tests that read a shard
// directly.
func (t Tablet) MySQLDSN() string { return t.MySQL.DSN(t.Keyspace) }

// MySQLSocket is the unix socket of the shard's mysqld.
func (t Tablet) MySQLSocket() string { return t.MySQL.SocketPath() }

// MySQLPort is the TCP port of the shard's mysqld on 127.0.0.1.
func (t Tablet) MySQLPort() int { return t.MySQL.Port }

// Up starts a local cluster and returns once it serves: embedded etcd in
// this process; for each shard a mariadbd (initialized on first use) and a
// shardtablet; one shardgate. It creates the keyspaces, shards and serving
// graph and applies each keyspace's vschema when the keyspace is new, and
// runs each keyspace's Schema once in the life of the data dir (State
// remembers it), so starting again on the same DataDir keeps data and
// topology as they were.
//
// Child processes run in their own sessions and outlive this process if it
// crashes; Down stops them from anywhere. ctx bounds the start only (as
// does Config.StartTimeout). On error, whatever was started is stopped
// again, and the error says what to do.
func Up(ctx context.Context, cfg Config, log *zap.Logger) (*Cluster, error) {
	if log == nil {
		log = zap.NewNop()
	}
	p, err := cfg.plan()
	if err != nil {
		return nil, err
	}
	bins, err := findBinaries(p.cfg.BinDir)
	if err != nil {
		return nil, err
	}
	mysqlBin := p.cfg.MySQLBinary
	if mysqlBin == "" {
		if mysqlBin, err = mysqld.FindBinary(); err != nil {
			return nil, err
		}
	}
	for i := range p.tablets {
		p.tablets[i].MySQL.Binary = mysqlBin
		p.tablets[i].MySQL.Log = log.Named("mysqld")
	}
	if err := os.MkdirAll(p.logDir(), 0o755); err != nil {
		return nil, err
	}
	lock, err := tryLock(p.cfg.DataDir)
	if errors.Is(err, errLocked) {
		return nil, alreadyRunning(p.cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	prev, err := ReadState(p.cfg.DataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		lock.release()
		return nil, err
	}
	if err := checkLeftovers(p, prev); err != nil {
		lock.release()
		return nil, err
	}
	if err := checkPorts(p.portUses()); err != nil {
		lock.release()
		return nil, err
	}

	c := &Cluster{
		p: p, log: log, lock: lock, bins: bins, mysqlBin: mysqlBin,
		mysqlds:       make([]*mysqld.Process, len(p.tablets)),
		tablets:       make([]*child, len(p.tablets)),
		restarting:    prev != nil,
		held:          map[string]bool{},
		restarts:      map[string]int{},
		superviseStop: make(chan struct{}),
	}
	c.state = State{
		DataDir:    p.cfg.DataDir,
		Status:     StatusStarting,
		Supervisor: procOf(os.Getpid()),
		Ports:      p.ports,
		Topo:       p.topoAddr(),
		TopoRoot:   p.cfg.TopoRoot,
	}
	for _, ks := range p.keyspaces {
		c.state.Keyspaces = append(c.state.Keyspaces, ks.Name)
		c.state.Layout = append(c.state.Layout, ks.layout())
	}
	c.state.BasePort = p.cfg.BasePort
	c.state.Replicas = p.cfg.Replicas
	c.state.ExtraTablets = p.cfg.ExtraTablets
	if prev != nil {
		c.state.SchemaApplied = prev.SchemaApplied
	}
	if err := c.saveLocked(); err != nil {
		lock.release()
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	began := time.Now()
	if err := c.start(ctx, bins); err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		log.Error("local cluster failed to start; stopping what was started", zap.Error(err))
		c.closeOnce.Do(func() { c.closeErr = c.stopAll(StatusFailed, err.Error()) })
		return nil, err
	}
	log.Info("local cluster serving", zap.Duration("took", time.Since(began)),
		zap.String("gate", c.GateAddr()), zap.String("topo", c.TopoAddr()), zap.String("data_dir", p.cfg.DataDir))
	c.monitor()
	if p.cfg.Supervise {
		c.superviseAll()
	}
	if err := c.serveControl(); err != nil {
		// The cluster serves; only add-shards from another process is lost.
		log.Warn("no control socket: `shardctl local add-shards` will not reach this cluster", zap.Error(err))
	}
	return c, nil
}

func alreadyRunning(dataDir string) error {
	who := "another process"
	if st, err := ReadState(dataDir); err == nil && st.Supervisor.PID > 0 {
		who = "supervisor pid " + strconv.Itoa(st.Supervisor.PID)
	}
	return fmt.Errorf("a local cluster is already running in %s (%s): stop it with `shardctl local down --data-dir %s`", dataDir, who, dataDir)
}

// checkLeftovers refuses to start while processes of an earlier run (whose
// supervisor crashed) still run: they hold the ports and the data.
func checkLeftovers(p *plan, prev *State) error {
	var alive []string
	if prev != nil {
		for _, part := range prev.Parts {
			if part.Kind != KindEtcd && part.Alive() {
				alive = append(alive, fmt.Sprintf("%s (pid %d)", part.Name, part.PID))
			}
		}
	}
	for _, t := range p.tablets {
		if pid, ok := mysqld.Running(t.MySQL.DataDir); ok {
			name := fmt.Sprintf("%s (pid %d)", mysqldName(t), pid)
			if !slices.Contains(alive, name) {
				alive = append(alive, name)
			}
		}
	}
	if len(alive) > 0 {
		return fmt.Errorf("processes of an earlier run of the cluster in %s still run: %s; stop them with `shardctl local down --data-dir %s`",
			p.cfg.DataDir, strings.Join(alive, ", "), p.cfg.DataDir)
	}
	return nil
}

func (c *Cluster) start(ctx context.Context, bins map[string]string) error {
	p := c.p
	step := time.Now()

	etcdLog := filepath.Join(p.logDir(), "etcd.log")
	e, err := startEtcd(ctx, filepath.Join(p.cfg.DataDir, "etcd"), p.ports.EtcdClient, p.ports.EtcdPeer, etcdLog)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.etcd = e
	c.addPartLocked(Part{Kind: KindEtcd, Name: "etcd", Proc: c.state.Supervisor, Addr: p.topoAddr(), Log: etcdLog})
	c.mu.Unlock()
	c.log.Info("etcd started", zap.String("addr", p.topoAddr()), zap.Duration("took", time.Since(step)))

	store, err := topo.NewEtcdStore([]string{p.topoAddr()}, c.log.Named("topo"))
	if err != nil {
		return err
	}
	c.ts = topo.NewServer(store, p.cfg.TopoRoot)
	if err := c.setupTopology(ctx); err != nil {
		return err
	}
	if err := c.dropGoneShards(ctx); err != nil {
		return err
	}

	if !p.cfg.ThroughTablets {
		if err := ensureSecretFile(p.directReadPasswordFile()); err != nil {
			return fmt.Errorf("direct reads' password: %w", err)
		}
	}
	step = time.Now()
	restoring, err := c.startMySQLDs(ctx)
	if err != nil {
		return err
	}
	c.log.Info("mysqlds started", zap.Int("count", len(p.tablets)), zap.Duration("took", time.Since(step)))

	step = time.Now()
	for i, t := range p.tablets {
		ch, err := c.startTablet(t, bins[TabletBinary])
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.tablets[i] = ch
		c.addPartLocked(ch.part)
		c.mu.Unlock()
	}
	gateArgs := []string{
		"--bind-address", "127.0.0.1",
		"--mysql-port", strconv.Itoa(p.ports.GateMySQL),
		"--grpc-port", strconv.Itoa(p.ports.GateGRPC),
		"--http-port", strconv.Itoa(p.ports.GateHTTP),
		"--topo", p.topoAddr(),
		"--cell", p.cfg.Cell,
		// So that a gate restarted while etcd is down serves what it last saw.
		"--topo-snapshot-file", filepath.Join(p.cfg.DataDir, "gate", "topology-snapshot.json"),
	}
	if p.cfg.TopoRoot != topo.DefaultRoot {
		gateArgs = append(gateArgs, "--topo-root", p.cfg.TopoRoot)
	}
	gateArgs = append(gateArgs, p.cfg.TabletTLS.gateArgs()...)
	if !p.cfg.ThroughTablets {
		gateArgs = append(gateArgs, "--direct-read-password-file", p.directReadPasswordFile())
	}
	c.gateBin, c.gateArgs = bins[GateBinary], gateArgs
	gate, err := startChild(c.gatePart(), c.gateBin, gateArgs)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.gate = gate
	c.addPartLocked(gate.part)
	err = c.saveLocked()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.waitServing(ctx); err != nil {
		if len(restoring) > 0 && ctx.Err() != nil {
			var shards []string
			for _, i := range restoring {
				shards = append(shards, c.p.tablets[i].Keyspace+"/"+c.p.tablets[i].Shard)
			}
			err = fmt.Errorf("%w\n%s restored from the backup store and did not finish in time: give a large restore more time with --timeout (it starts over)", err, strings.Join(shards, ", "))
		}
		return err
	}
	c.log.Info("tablets and gate serving", zap.Duration("took", time.Since(step)))
	for _, i := range restoring {
		// Their tablets started the servers: record them, so that down
		// stops them.
		if err := c.recordMySQLD(i); err != nil {
			return err
		}
	}

	if err := c.applySchemas(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.Status = StatusServing
	return c.saveLocked()
}

// startTablet starts a shard's shardtablet as the shard's primary, with
// extraArgs added to its command line (tabletArgs).
func (c *Cluster) startTablet(t tabletPlan, bin string, extraArgs ...string) (*child, error) {
	return startChild(c.tabletPart(t), bin, append(c.tabletArgs(t), extraArgs...), c.p.cfg.TabletEnv...)
}

// startMySQLDs initializes (first time only) and starts every shard's
// mariadbd in parallel. On a restart, a server whose data is gone is left
// to its tablet, which restores the shard from the backup store before it
// serves (initializing it here would have the tablet serve it empty); it
// returns the indexes of those tablets.
func (c *Cluster) startMySQLDs(ctx context.Context) (restoring []int, err error) {
	errs := make([]error, len(c.p.tablets))
	var wg sync.WaitGroup
	for i, t := range c.p.tablets {
		if c.restarting && !dataDirInitialized(t.MySQL) {
			c.log.Warn("a shard's server data is gone: its tablet restores it from the backup store",
				zap.String("shard", t.Keyspace+"/"+t.Shard), zap.String("datadir", t.MySQL.ServerDataDir()))
			restoring = append(restoring, i)
			continue
		}
		wg.Go(func() {
			if err := mysqld.Init(ctx, t.MySQL); err != nil {
				errs[i] = fmt.Errorf("mysqld of %s/%s: %w", t.Keyspace, t.Shard, err)
				return
			}
			proc, err := mysqld.Start(ctx, c.serverConfig(ctx, t))
			if err != nil {
				errs[i] = fmt.Errorf("mysqld of %s/%s: %w", t.Keyspace, t.Shard, err)
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			c.mysqlds[i] = proc
			c.addPartLocked(Part{
				Kind: KindMySQLd, Name: mysqldName(t), Proc: procOf(proc.Pid()),
				Addr: t.MySQL.Addr(), Dir: proc.Config().DataDir, Log: t.MySQL.ErrorLog(),
			})
			errs[i] = c.saveLocked()
		})
	}
	wg.Wait()
	return restoring, errors.Join(errs...)
}

// serverConfig is the config tablet t's server starts with: recovering
// as a replica when the shard follows another primary (see
// mysqld.Config.RecoverAsReplica), as the tablet itself decides.
func (c *Cluster) serverConfig(ctx context.Context, t tabletPlan) mysqld.Config {
	cfg := t.MySQL
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if sh, err := c.ts.GetShard(ctx, t.Keyspace, t.Shard); err == nil {
		cfg.RecoverAsReplica = sh.PrimaryAlias != "" && sh.PrimaryAlias != t.Alias
	}
	return cfg
}

// dataDirInitialized reports whether a server's data directory holds a
// MariaDB system database, as the tablet judges it.
func dataDirInitialized(cfg mysqld.Config) bool {
	_, err := os.Stat(filepath.Join(cfg.ServerDataDir(), "mysql"))
	return err == nil
}

// setupTopology creates what is missing of the keyspaces, applies vschemas
// to keyspaces that have none yet, and forgets tablets that are not part of
// this cluster (left by an earlier run with other keyspaces).
func (c *Cluster) setupTopology(ctx context.Context) error {
	for _, ks := range c.p.keyspaces {
		ensure := keyspace.EnsureKeyspace
		if len(ks.Extra) > 0 {
			ensure = c.ensureResharded(ks)
		}
		created, err := ensure(ctx, c.ts, ks.Name, ks.Shards, ks.Sharded, control.InCell(c.p.cfg.Cell))
		if err != nil {
			return fmt.Errorf("%w (the data dir %s holds the cluster as it was first set up: use another data dir for other shards)", err, c.p.cfg.DataDir)
		}
		if len(ks.VSchema) == 0 {
			continue
		}
		if !created {
			if _, _, err := c.ts.GetVSchema(ctx, ks.Name); err == nil {
				continue // keep what is there: it may have been changed since
			} else if !errors.Is(err, topo.ErrNotFound) {
				return err
			}
		}
		if err := keyspace.ApplyVSchema(ctx, c.ts, ks.Name, ks.VSchema); err != nil {
			return err
		}
		c.log.Info("vschema applied", zap.String("keyspace", ks.Name))
	}
	tablets, err := c.ts.ListTablets(ctx)
	if err != nil {
		return err
	}
	for _, t := range tablets {
		if !slices.ContainsFunc(c.p.tablets, func(tp tabletPlan) bool { return tp.Alias == t.Alias }) {
			if err := c.ts.DeleteTablet(ctx, t.Alias); err != nil && !errors.Is(err, topo.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// waitServing waits until every tablet reports SERVING and the gate
// answers SELECT 1 as root, or a child exits, or ctx ends.
func (c *Cluster) waitServing(ctx context.Context) error {
	want := map[string]bool{}
	for _, t := range c.p.tablets {
		want[t.Alias] = true
	}
	tabletsServing := false
	problem := "not checked yet"
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, ch := range append(slices.Clone(c.tablets), c.gate) {
			if ch.exited() {
				return ch.exitError()
			}
		}
		if !tabletsServing {
			problem = c.tabletProblem(ctx, want, c.p.tablets)
			tabletsServing = problem == ""
		}
		if tabletsServing {
			// Serving means a client can use every shard through the gate
			// now: the gate must have seen each tablet's health, not only
			// answer.
			err := c.gateReachesEveryShard(ctx)
			if err == nil {
				return nil
			}
			problem = fmt.Sprintf("the gate does not reach every shard on %s yet: %v", c.GateAddr(), err)
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("the cluster did not come up: %s", problem)
			if tabletsServing {
				msg += fmt.Sprintf("\nlast lines of %s:\n%s", c.gate.part.Log, tailFile(c.gate.part.Log, c.gate.logStart, 20))
			}
			return fmt.Errorf("%s: %w", msg, ctx.Err())
		case <-tick.C:
		}
	}
}

// tabletProblem returns why not all wanted tablets serve, or "".
func (c *Cluster) tabletProblem(ctx context.Context, want map[string]bool, tablets []tabletPlan) string {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	opts, err := c.p.cfg.TabletTLS.adminOptions()
	if err != nil {
		return err.Error()
	}
	statuses, err := control.ListTablets(lctx, c.ts, opts...)
	if err != nil {
		return "cannot list tablets: " + err.Error()
	}
	serving := 0
	var problems []string
	seen := map[string]bool{}
	for _, st := range statuses {
		if !want[st.Tablet.Alias] {
			continue
		}
		seen[st.Tablet.Alias] = true
		if st.State == control.Serving {
			serving++
		} else {
			problems = append(problems, fmt.Sprintf("tablet %s is %s (%s)", st.Tablet.Alias, st.State, st.Detail))
		}
	}
	for _, t := range tablets {
		if !seen[t.Alias] {
			problems = append(problems, "tablet "+t.Alias+" has not registered in the topology")
		}
	}
	if serving == len(want) {
		return ""
	}
	return strings.Join(problems, "; ")
}

// pingMySQL connects as root with an empty password and runs SELECT 1.
func pingMySQL(ctx context.Context, addr string) error {
	mc := mysql.NewConfig()
	mc.User = "root"
	mc.Net = "tcp"
	mc.Addr = addr
	mc.Timeout = 2 * time.Second
	mc.ReadTimeout = 5 * time.Second
	mc.WriteTimeout = 5 * time.Second
	mc.Logger = nopLogger{}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var one int
	if err := db.QueryRowContext(qctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	if one != 1 {
		return fmt.Errorf("SELECT 1 returned %d", one)
	}
	return nil
}

type nopLogger struct{}

func (nopLogger) Print(...any) {}

// applySchemas runs the Schema of every keyspace that has not had it yet.
func (c *Cluster) applySchemas(ctx context.Context) error {
	for _, ks := range c.p.keyspaces {
		c.mu.Lock()
		done := slices.Contains(c.state.SchemaApplied, ks.Name)
		c.mu.Unlock()
		if done || len(ks.Schema) == 0 {
			continue
		}
		step := time.Now()
		opts, err := c.p.cfg.TabletTLS.adminOptions()
		if err != nil {
			return err
		}
		if err := schema.ApplySchema(ctx, c.ts, ks.Name, string(ks.Schema), opts...); err != nil {
			return err
		}
		c.log.Info("schema applied", zap.String("keyspace", ks.Name), zap.Duration("took", time.Since(step)))
		c.mu.Lock()
		c.state.SchemaApplied = append(c.state.SchemaApplied, ks.Name)
		err = c.saveLocked()
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// monitor logs a part that exits while the cluster runs: the supervisor
// keeps the others running, and the log says where to look.
func (c *Cluster) monitor() {
	for _, ch := range append(slices.Clone(c.tablets), c.gate) {
		c.watchChild(ch)
	}
	for i, m := range c.mysqlds {
		if m == nil {
			continue // started by its tablet (a restore): the tablet watches it
		}
		t := c.p.tablets[i]
		c.watchExit(mysqldName(t), t.MySQL.ErrorLog(), m.Done(), func() string { return "see its error log" })
	}
	go func() {
		select {
		case err := <-c.etcd.Err():
			c.mu.Lock()
			closing := c.closing
			c.mu.Unlock()
			if !closing {
				c.log.Error("embedded etcd failed", zap.Error(err))
			}
		case <-c.etcd.Server.StopNotify():
		}
	}()
}

// Close stops the cluster in order: gate, tablets, mysqlds, etcd; each
// gets a grace period to shut down cleanly and is killed after it. It
// returns once every process is gone, and records in the state file that
// nothing runs. Close may be called more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.stopAll(StatusStopped, "") })
	return c.closeErr
}

func (c *Cluster) stopAll(final, errText string) error {
	c.mu.Lock()
	if !c.closing {
		close(c.superviseStop)
	}
	c.closing = true
	if c.state.Status != StatusFailed {
		c.state.Status = StatusStopping
	}
	_ = c.saveLocked()
	gate, tablets, mysqlds := c.gate, slices.Clone(c.tablets), slices.Clone(c.mysqlds)
	c.mu.Unlock()
	c.control.close()

	var warnings []string
	var wmu sync.Mutex
	note := func(format string, args ...any) {
		wmu.Lock()
		warnings = append(warnings, fmt.Sprintf(format, args...))
		wmu.Unlock()
	}
	if gate != nil && gate.stop(processStopGrace) {
		note("gate did not stop within %v and was killed", processStopGrace)
	}
	var wg sync.WaitGroup
	for _, t := range tablets {
		if t != nil {
			wg.Go(func() {
				if t.stop(processStopGrace) {
					note("%s did not stop within %v and was killed", t.part.Name, processStopGrace)
				}
			})
		}
	}
	wg.Wait()
	if c.ts != nil {
		_ = c.ts.Close()
	}
	for _, m := range mysqlds {
		if m != nil {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), mysqldStopGrace)
				defer cancel()
				if err := m.Stop(ctx); err != nil {
					note("%v", err)
				}
			})
		}
	}
	wg.Wait()
	// A tablet may have restarted its server (a restore): stop whatever
	// serves each data dir now.
	for _, t := range c.p.tablets {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), mysqldStopGrace)
			defer cancel()
			if err := mysqld.StopDataDir(ctx, t.MySQL.DataDir); err != nil {
				note("%v", err)
			}
		})
	}
	wg.Wait()
	if c.etcd != nil {
		c.etcd.Close()
	}

	c.mu.Lock()
	c.state.Status = final
	c.state.Error = errText
	c.state.Parts = nil
	err := c.saveLocked()
	c.mu.Unlock()
	c.lock.release()
	for _, w := range warnings {
		c.log.Warn("local cluster: " + w)
	}
	if err != nil {
		return err
	}
	if len(warnings) > 0 {
		return errors.New("local cluster: " + strings.Join(warnings, "; "))
	}
	c.log.Info("local cluster stopped", zap.String("data_dir", c.p.cfg.DataDir))
	return nil
}

func (c *Cluster) watchChild(ch *child) {
	c.watchExit(ch.part.Name, ch.part.Log, ch.done, func() string { return fmt.Sprint(ch.err) })
}

// watchExit logs a part that exits while the cluster is not closing.
func (c *Cluster) watchExit(name, logPath string, done <-chan struct{}, why func() string) {
	go func() {
		<-done
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if !closing {
			c.log.Error("a part of the local cluster exited", zap.String("part", name),
				zap.String("reason", why()), zap.String("log", logPath))
		}
	}()
}

func (c *Cluster) addPartLocked(p Part) {
	c.state.Parts = append(c.state.Parts, p)
}

func (c *Cluster) saveLocked() error {
	return writeState(c.p.cfg.DataDir, &c.state)
}

// DataDir is the cluster's data directory (absolute).
func (c *Cluster) DataDir() string { return c.p.cfg.DataDir }

// Ports are the ports the cluster listens on.
func (c *Cluster) Ports() Ports { return c.p.ports }

// TopoAddr is the etcd client address, 127.0.0.1:port.
func (c *Cluster) TopoAddr() string { return c.p.topoAddr() }

// TopoRoot is the key prefix of the topology in etcd.
func (c *Cluster) TopoRoot() string { return c.p.cfg.TopoRoot }

// Cell is the cell of the tablets and the serving graph.
func (c *Cluster) Cell() string { return c.p.cfg.Cell }

// Topo is the cluster's connection to its topology. It belongs to the
// cluster: do not close it; it is closed by Close.
func (c *Cluster) Topo() *topo.Server { return c.ts }

// GateAddr is the gate's MySQL address, 127.0.0.1:port.
func (c *Cluster) GateAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.p.ports.GateMySQL))
}

// GateGRPCAddr is the gate's gRPC address, 127.0.0.1:port.
func (c *Cluster) GateGRPCAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.p.ports.GateGRPC))
}

// GateDSN is a go-sql-driver/mysql DSN for root at the gate, with database
// (a keyspace; empty: none) selected.
func (c *Cluster) GateDSN(database string) string {
	mc := mysql.NewConfig()
	mc.User = "root"
	mc.Net = "tcp"
	mc.Addr = c.GateAddr()
	mc.DBName = database
	mc.Timeout = 10 * time.Second
	return mc.FormatDSN()
}

// Tablets lists the cluster's tablets in order (keyspace by keyspace, each
// in key order).
func (c *Cluster) Tablets() []Tablet {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Tablet, len(c.p.tablets))
	for i, t := range c.p.tablets {
		out[i] = t.tablet()
	}
	return out
}

// Tablet returns the tablet of a shard.
func (c *Cluster) Tablet(keyspace, shard string) (Tablet, bool) {
	for _, t := range c.Tablets() {
		if t.Keyspace == keyspace && t.Shard == shard {
			return t, true
		}
	}
	return Tablet{}, false
}

// State returns a copy of what the state file records.
func (c *Cluster) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state
	st.Parts = slices.Clone(st.Parts)
	st.SchemaApplied = slices.Clone(st.SchemaApplied)
	return st
}
