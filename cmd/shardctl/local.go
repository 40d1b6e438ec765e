package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/control/keyspace"
	"github.com/shardgate/shardgate/examples/commerce"
	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// localFlags are the flags of `shardctl local up`.
type localFlags struct {
	dataDir        string
	keyspaces      []string // NAME:SHARDS
	vschemas       []string // KEYSPACE=FILE
	schemas        []string // KEYSPACE=FILE
	basePort       int
	replicas       int // -1: as the data dir's cluster last ran (0 for a new one)
	backupStorage  string
	detach         bool
	supervise      bool // hidden: this process is the detached supervisor
	timeout        time.Duration
	restart        bool   // restart crashed parts
	durability     string // the shard servers' mysqld.Durability
	throughTablets bool   // every statement through the tablets: no direct reads
	directTx       bool   // transactions straight on MariaDB too
}

// defaultDataDir is ~/.shardgate/local, or for root /var/lib/shardgate/local:
// root's home is closed to other users, and the shards' servers, started
// by root, run as the unprivileged mysql user, which must reach their data.
func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/shardgate/local"
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".shardgate/local"
	}
	return filepath.Join(home, ".shardgate", "local")
}

func localCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run a whole cluster on this machine: embedded etcd, a MariaDB server and tablet per shard, a gate",
	}
	f := &localFlags{}
	up := &cobra.Command{
		Use:   "up",
		Short: "Start a local cluster (restarting on an existing --data-dir keeps its data)",
		Long: `Start a local cluster: embedded etcd, one mariadbd and one shardtablet per
shard, and a shardgate, all on 127.0.0.1. It runs until Ctrl-C (or SIGTERM),
then stops everything; with --detach it runs in the background until
` + "`shardctl local down`" + `.

Without --keyspace it restarts the cluster the data dir holds, or, in a new
data dir, starts keyspace commerce with 4 shards and the schema and vschema
of examples/commerce (built into shardctl). A keyspace named
commerce gets that example schema and vschema unless --schema or --vschema
say otherwise. The schema runs once, when the data dir is new; vschemas are
applied when their keyspace is created.

Ports are Vitess's defaults (gate MySQL 15306, gRPC 15991, HTTP 15001, etcd
2379, tablets 16100+, MySQL 17100+); --base-port shifts them all by
base-port - 15000, so that clusters run side by side.`,
		Example: `  shardctl local up
  shardctl local up --detach --data-dir /tmp/sg --keyspace commerce:4 --keyspace lookup:1
  shardctl local up --replicas 2   # each shard: a primary and 2 replicas
  shardctl local up --keyspace ks:-80,80- --vschema ks=vschema.json --schema ks=schema.sql --base-port 25000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return localUp(cmd.Context(), a, f) },
	}
	fl := up.Flags()
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "directory for all of the cluster's data, logs and state")
	fl.StringArrayVar(&f.keyspaces, "keyspace", nil, "keyspace as NAME:SHARDS, SHARDS a count (commerce:4, lookup:1) or shard names (ks:-80,80-); repeatable")
	fl.StringArrayVar(&f.vschemas, "vschema", nil, "vschema of a keyspace as KEYSPACE=FILE; repeatable")
	fl.StringArrayVar(&f.schemas, "schema", nil, "SQL schema of a keyspace as KEYSPACE=FILE, run on every shard; repeatable")
	fl.IntVar(&f.replicas, "replicas", -1, "replica tablets per shard, each with its own mariadbd replicating from the primary (default: as the data dir's cluster last ran, 0 for a new one)")
	fl.IntVar(&f.basePort, "base-port", 0, "shift every port by this minus 15000 (e.g. 25000: gate on 25306, etcd on 12379)")
	fl.StringVar(&f.backupStorage, "backup-storage", "", "backup store of the tablets (default file://DATA_DIR/backups; s3://bucket/prefix?endpoint=...&use_path_style=true with AWS_* credentials in the environment)")
	fl.BoolVar(&f.detach, "detach", false, "run in the background, until shardctl local down stops it")
	fl.DurationVar(&f.timeout, "timeout", localcluster.DefaultStartTimeout, "how long the cluster may take to come up")
	fl.BoolVar(&f.restart, "restart-crashed", true, "restart a mariadbd, tablet or gate that exits by itself (a crash, kill -9), with backoff from 0.2 s to 30 s, and log it; parts stopped on purpose stay stopped")
	fl.BoolVar(&f.throughTablets, "through-tablets", false, "send every statement through the tablets; by default the tablets offer the gate direct reads and transactions on their MariaDB (as user "+localcluster.DirectReadUser+"), and they skip the tablet's hop")
	fl.BoolVar(&f.directTx, "direct-transactions", true, "have the gate run transactions straight on the shards' MariaDB too, not only plain reads (the tablets grant "+localcluster.DirectReadUser+" INSERT, UPDATE and DELETE, and fence it with MariaDB's read_only); =false keeps them on the tablets")
	fl.StringVar(&f.durability, "mysql-durability", "full", "what the shards' mariadbd flush at commit: full (innodb_flush_log_at_trx_commit=1, sync_binlog=1: a commit survives an OS crash or power loss) or relaxed (2 and 0: faster commits, but an OS crash may lose the last second of them)")
	fl.BoolVar(&f.supervise, "supervise", false, "run as the supervisor of a detached cluster (used by --detach)")
	_ = fl.MarkHidden("supervise")

	var downDir string
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster in --data-dir and wait until every process of it is gone",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := localcluster.Down(cmd.Context(), downDir, a.log); err != nil {
				return err
			}
			fmt.Printf("stopped the local cluster in %s\n", downDir)
			return nil
		},
	}
	down.Flags().StringVar(&downDir, "data-dir", defaultDataDir(), "data directory of the cluster")

	var statusDir string
	status := &cobra.Command{
		Use:   "status",
		Short: "List the parts of the local cluster in --data-dir and whether each runs",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return localStatus(statusDir) },
	}
	status.Flags().StringVar(&statusDir, "data-dir", defaultDataDir(), "data directory of the cluster")

	var addDir, addKeyspace, addShards string
	addShardsCmd := &cobra.Command{
		Use:   "add-shards --keyspace KS --shards SHARDS",
		Short: "Give a running local cluster a mariadbd and a tablet for each new shard (resharding targets)",
		Long: `Give a running local cluster a mariadbd and a tablet for each new shard of a
sharded keyspace, recorded in the topology as not serving: the targets of a
resharding. The cluster's supervisor (shardctl local up) starts them and
starts them again on the next local up. Then:

  shardctl reshard create --keyspace KS --from <its shards> --to <these>`,
		Example: `  shardctl local add-shards --keyspace commerce --shards -20,20-40,40-60,60-80`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := filepath.Abs(addDir)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			out, err := localcluster.RequestAddShards(ctx, dir, addKeyspace, splitList(addShards))
			if err != nil {
				return err
			}
			fmt.Print(out)
			return nil
		},
	}
	addShardsCmd.Flags().StringVar(&addDir, "data-dir", defaultDataDir(), "data directory of the running cluster")
	addShardsCmd.Flags().StringVar(&addKeyspace, "keyspace", "", "sharded keyspace to add shards to (required)")
	addShardsCmd.Flags().StringVar(&addShards, "shards", "", "new shards, comma-separated key ranges (required)")
	_ = addShardsCmd.MarkFlagRequired("keyspace")
	_ = addShardsCmd.MarkFlagRequired("shards")

	var tabletDir, tabletType string
	var tabletTimeout time.Duration
	addTabletCmd := &cobra.Command{
		Use:   "add-tablet KEYSPACE/SHARD",
		Short: "Add a replica (or rdonly) tablet, with its own mariadbd, to a shard of the running local cluster",
		Long: `Add a tablet to a shard of the local cluster in --data-dir: it starts a new
mariadbd, restores the shard's latest backup and the binlogs archived since
into it, and then replicates from the shard's primary (with no backup, it
replicates everything from the primary). It prints progress until the tablet
serves; ` + "`local up`" + ` starts it again after a restart.`,
		Example: "  shardctl local add-tablet commerce/-40\n  shardctl local add-tablet commerce/-40 --type rdonly",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, shard, err := splitShard(args[0])
			if err != nil {
				return err
			}
			dir, err := filepath.Abs(tabletDir)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), tabletTimeout)
			defer cancel()
			return localcluster.RequestAddTablet(ctx, dir, ks, shard, tabletType, func(line string) { fmt.Println(line) })
		},
	}
	addTabletCmd.Flags().StringVar(&tabletDir, "data-dir", defaultDataDir(), "data directory of the running cluster")
	addTabletCmd.Flags().StringVar(&tabletType, "type", "replica", "replica or rdonly")
	addTabletCmd.Flags().DurationVar(&tabletTimeout, "timeout", 30*time.Minute, "how long the tablet may take to restore and catch up")

	cmd.AddCommand(up, down, status, addShardsCmd, addTabletCmd)
	return cmd
}

func localUp(ctx context.Context, a *app, f *localFlags) error {
	cfg, err := f.config(a.topoRoot)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if f.detach {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		// Startup is bounded by --timeout in the supervisor; leave it time
		// to report why it failed.
		dctx, cancel := context.WithTimeout(ctx, f.timeout+30*time.Second)
		defer cancel()
		st, err := localcluster.Detach(dctx, cfg.DataDir, f.supervisorArgs(exe, cfg, a))
		if err != nil {
			return err
		}
		printBanner(st, true)
		return nil
	}

	// Foreground, or the detached supervisor: run until told to stop.
	// Closing the terminal (SIGHUP) stops the cluster cleanly too.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stop()
	c, err := localcluster.Up(ctx, cfg, a.log)
	if err != nil {
		return err
	}
	st := c.State()
	printBanner(&st, f.supervise)
	<-ctx.Done()
	fmt.Println("stopping the local cluster...")
	if err := c.Close(); err != nil {
		return err
	}
	fmt.Println("stopped")
	return nil
}

// config builds the cluster's Config from the flags; file paths become
// absolute, so the detached supervisor reads the same files.
func (f *localFlags) config(topoRoot string) (localcluster.Config, error) {
	cfg := localcluster.Config{BasePort: f.basePort, TopoRoot: topoRoot, StartTimeout: f.timeout, BackupStorage: f.backupStorage,
		Supervise: f.restart}
	durability, err := mysqld.ParseDurability(f.durability)
	if err != nil {
		return cfg, err
	}
	cfg.MySQLDurability = durability
	cfg.ThroughTablets = f.throughTablets
	cfg.TabletTransactions = !f.directTx
	dir, err := filepath.Abs(f.dataDir)
	if err != nil {
		return cfg, err
	}
	cfg.DataDir = dir
	cfg.Replicas = f.replicas
	if cfg.Replicas < 0 {
		cfg.Replicas = 0
		if st, err := localcluster.ReadState(dir); err == nil {
			cfg.Replicas = st.Replicas
		}
	}
	if st, err := localcluster.ReadState(dir); err == nil && len(f.keyspaces) == 0 {
		cfg.ExtraTablets = st.ExtraTablets // the same cluster comes back
	}
	specs := f.keyspaces
	if len(specs) == 0 {
		// An existing data dir comes back as it was; a new one gets the
		// commerce example.
		if prev, base, ok := localcluster.PreviousLayout(dir); ok {
			specs = prev
			if cfg.BasePort == 0 {
				cfg.BasePort = base
			}
		} else {
			specs = []string{commerce.Keyspace + ":" + strconv.Itoa(commerce.Shards)}
		}
	}
	vschemas, err := keyspaceFiles("--vschema", f.vschemas, specs)
	if err != nil {
		return cfg, err
	}
	schemas, err := keyspaceFiles("--schema", f.schemas, specs)
	if err != nil {
		return cfg, err
	}
	for _, spec := range specs {
		name, shardSpec, ok := strings.Cut(spec, ":")
		if !ok {
			shardSpec = "1"
		}
		// A restarted keyspace that was resharded has its extra shards
		// after a '+' (see localcluster.KeyspaceSpec.ExtraShards).
		shardSpec, extraSpec, _ := strings.Cut(shardSpec, "+")
		shards, err := keyspace.ParseShards(shardSpec)
		if err != nil {
			return cfg, fmt.Errorf("--keyspace %s: %w", spec, err)
		}
		// A shard named by key range ("-", a restarted one-shard sharded
		// keyspace) makes the keyspace sharded.
		ks := localcluster.KeyspaceSpec{Name: name, Shards: shards, Sharded: len(shards) > 1 || shards[0] != "0", ExtraShards: splitList(extraSpec)}
		if name == commerce.Keyspace {
			ks.VSchema, ks.Schema = commerce.VSchema, commerce.Schema
		}
		if path, ok := vschemas[name]; ok {
			if ks.VSchema, err = os.ReadFile(path); err != nil {
				return cfg, fmt.Errorf("--vschema %s: %w", name, err)
			}
		}
		if path, ok := schemas[name]; ok {
			if ks.Schema, err = os.ReadFile(path); err != nil {
				return cfg, fmt.Errorf("--schema %s: %w", name, err)
			}
		}
		cfg.Keyspaces = append(cfg.Keyspaces, ks)
	}
	return cfg, nil
}

// keyspaceFiles parses KEYSPACE=FILE flags into absolute paths by keyspace.
func keyspaceFiles(flag string, values, specs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		ks, path, ok := strings.Cut(v, "=")
		if !ok || ks == "" || path == "" {
			return nil, fmt.Errorf("%s %q: want KEYSPACE=FILE", flag, v)
		}
		known := false
		for _, s := range specs {
			if name, _, _ := strings.Cut(s, ":"); name == ks {
				known = true
			}
		}
		if !known {
			return nil, fmt.Errorf("%s %s: there is no --keyspace %s", flag, v, ks)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		out[ks] = abs
	}
	return out, nil
}

// supervisorArgs is the command line that runs this cluster as a detached
// supervisor: shardctl itself, with the same settings and --supervise.
func (f *localFlags) supervisorArgs(exe string, cfg localcluster.Config, a *app) []string {
	args := []string{exe, "local", "up", "--supervise",
		"--data-dir", cfg.DataDir,
		"--base-port", strconv.Itoa(f.basePort),
		"--replicas", strconv.Itoa(cfg.Replicas),
		"--timeout", f.timeout.String(),
		"--restart-crashed=" + strconv.FormatBool(f.restart),
		"--mysql-durability", f.durability,
		"--through-tablets=" + strconv.FormatBool(f.throughTablets),
		"--direct-transactions=" + strconv.FormatBool(f.directTx),
		"--topo-root", a.topoRoot,
		"--log-level", a.logOpts.Level,
	}
	for _, k := range f.keyspaces {
		args = append(args, "--keyspace", k)
	}
	for flag, values := range map[string][]string{"--vschema": f.vschemas, "--schema": f.schemas} {
		for _, v := range values {
			ks, path, _ := strings.Cut(v, "=")
			if abs, err := filepath.Abs(path); err == nil {
				path = abs
			}
			args = append(args, flag, ks+"="+path)
		}
	}
	return args
}

func printBanner(st *localcluster.State, detached bool) {
	db := ""
	if len(st.Keyspaces) > 0 {
		db = " " + st.Keyspaces[0]
	}
	topoFlag := ""
	if st.Ports.EtcdClient != localcluster.DefaultEtcdClientPort {
		topoFlag = " --topo " + st.Topo
	}
	// Name shardctl as it was invoked (bin/shardctl after `make build`),
	// so the hints work when it is not on PATH.
	self := os.Args[0]
	fmt.Printf("\nLocal cluster serving (data in %s, supervisor pid %d).\n", st.DataDir, st.Supervisor.PID)
	fmt.Printf("  Connect with:  mysql -h127.0.0.1 -P%d -uroot%s\n", st.Ports.GateMySQL, db)
	fmt.Printf("  Tablets:       %s%s tablet list\n", self, topoFlag)
	fmt.Printf("  Admin UI:      %s%s serve   (then open http://%s/)\n", self, topoFlag, DefaultServeAddr)
	fmt.Printf("  Logs:          %s\n", filepath.Join(st.DataDir, "logs"))
	if detached {
		fmt.Printf("  Stop with:     %s local down --data-dir %s\n", self, st.DataDir)
	} else {
		fmt.Printf("  Stop with:     Ctrl-C\n")
	}
}

func localStatus(dataDir string) error {
	rep, err := localcluster.Status(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: start one with `shardctl local up --data-dir %s`", err, dataDir)
	}
	if err != nil {
		return err
	}
	st := rep.State
	fmt.Printf("local cluster in %s: %s\n", st.DataDir, st.Status)
	if st.Error != "" {
		fmt.Printf("error: %s\n", st.Error)
	}
	supervisor := "not running"
	if rep.SupervisorAlive {
		supervisor = "running"
	}
	fmt.Printf("supervisor: pid %d, %s\n", st.Supervisor.PID, supervisor)
	if !rep.SupervisorAlive && len(rep.Parts) > 0 {
		fmt.Printf("the supervisor is gone: `shardctl local down --data-dir %s` stops what is left\n", st.DataDir)
	}
	if len(rep.Parts) == 0 {
		fmt.Println("no process of the cluster runs")
		return nil
	}
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PART\tPID\tSTATE\tADDRESS\tLOG")
	for _, p := range rep.Parts {
		state := "running"
		if !p.Alive {
			state = "gone"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", p.Name, p.PID, state, p.Addr, p.Log)
	}
	return w.Flush()
}
