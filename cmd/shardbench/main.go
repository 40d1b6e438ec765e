// Command shardbench is `make bench`: sysbench through the gate on one shard and
// on four, and directly against MariaDB in the same run, reported as
// medians of interleaved runs and as ratios to direct. It also reports the
// CPU each process spends per query, read from /proc, so a regression
// shows where it is.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/localcluster"
)

// vschema shards sysbench's tables (sbtest1..sbtest16) by hash of id.
func vschema() []byte {
	tables := make([]string, 16)
	for i := range tables {
		tables[i] = fmt.Sprintf(`"sbtest%d": {"column_vindexes": [{"column": "id", "name": "hash"}]}`, i+1)
	}
	return []byte(`{"sharded": true, "vindexes": {"hash": {"type": "hash"}}, "tables": {` + strings.Join(tables, ",") + `}}`)
}

type options struct {
	workloads string
	threads   int
	seconds   int
	runs      int
	tables    int
	tableSize int
	binDir    string
	// reshard runs the resharding measure; its tables have
	// reshardTableSize rows and sysbench writes for reshardSeconds.
	reshard          bool
	reshardTableSize int
	reshardSeconds   int
	// replicas runs the replica measure (replicas.go).
	replicas bool
	// scaling runs the scaling measure (scaling.go): shardCPU is each
	// shard server's CPU cap over capPeriod, scalingThreads sysbench's
	// threads there.
	scaling        bool
	shardCPU       float64
	capPeriod      time.Duration
	scalingThreads int
	// memory runs the idle-connection measure (memory.go) with this many
	// connections.
	memoryConns int
}

func main() {
	var o options
	flag.StringVar(&o.workloads, "workloads", "oltp_point_select,oltp_read_write", "sysbench workloads, comma-separated (empty: only the resharding run)")
	flag.IntVar(&o.threads, "threads", 8, "sysbench threads")
	flag.IntVar(&o.seconds, "time", 10, "seconds per run")
	flag.IntVar(&o.runs, "runs", 3, "runs per target; medians are reported")
	flag.IntVar(&o.tables, "tables", 4, "sysbench tables")
	flag.IntVar(&o.tableSize, "table-size", 10000, "rows per table")
	flag.StringVar(&o.binDir, "bin", "bin", "directory with shardgate and shardtablet")
	flag.BoolVar(&o.replicas, "replicas", true, "also measure oltp_read_only on @replica (a shard with 2 replicas) and failovers under write load")
	flag.BoolVar(&o.reshard, "reshard", true, "also split 2 shards into 4 under sysbench write load")
	flag.IntVar(&o.reshardTableSize, "reshard-table-size", 50000, "rows per table for the resharding run")
	flag.IntVar(&o.reshardSeconds, "reshard-time", 60, "seconds sysbench writes during the resharding run (it must outlast the copy)")
	flag.BoolVar(&o.scaling, "scaling", true, "also measure 1, 2 and 4 shards with each shard's mariadbd capped by a cgroup v1 cpu quota (needs root)")
	flag.Float64Var(&o.shardCPU, "shard-cpu", 0.1, "scaling: each shard server's CPU cap, as a share of one CPU")
	flag.DurationVar(&o.capPeriod, "cap-period", 100*time.Millisecond, "scaling: the period the CPU cap is measured over (cpu.cfs_period_us; the kernel's default is 100ms, at least 1ms/shard-cpu): the shorter, the more a capped server behaves like a slower one rather than one that stops")
	flag.IntVar(&o.scalingThreads, "scaling-threads", 16, "scaling: sysbench threads per shard")
	flag.BoolVar(&directTransactions, "direct-transactions", true, "run transactions straight on MariaDB too (the local cluster's --direct-transactions; =false keeps them on the tablets)")
	flag.BoolVar(&throughTablets, "through-tablets", false, "send every statement through the tablets (the local cluster's --through-tablets), to compare with direct reads")
	flag.IntVar(&o.memoryConns, "memory-connections", 50000, "also measure the gate's memory with this many idle logged-in connections (0: skip)")
	mode := flag.String("mode", "sysbench", "sysbench: the gate against direct MariaDB, then scaling, memory, replicas and resharding; scaling or memory: that part alone; backup: backup and restore throughput against mydumper and myloader")
	var bo backupOptions
	flag.IntVar(&bo.tables, "backup-tables", 8, "backup mode: sysbench tables on the shard")
	flag.IntVar(&bo.rows, "backup-table-size", 625000, "backup mode: rows per table (625,000 x 8 tables: about 1 GB of rows)")
	flag.IntVar(&bo.threads, "backup-threads", 2, "backup mode: tables backed up or loaded at once, by Shardgate and by mydumper/myloader alike")
	flag.Parse()
	bo.binDir = o.binDir
	// Every cluster here keeps localcluster's default; say so, since
	// commit rates depend on it.
	fmt.Println("MariaDB durability: full (innodb_flush_log_at_trx_commit=1, sync_binlog=1), the localcluster default")
	var err error
	switch *mode {
	case "sysbench":
		err = run(o)
	case "scaling":
		err = scalingRun(o, mustAbs(o.binDir))
	case "memory":
		err = memoryRun(o, mustAbs(o.binDir))
	case "backup":
		err = runBackupBench(bo)
	default:
		err = fmt.Errorf("-mode %q: use sysbench or backup", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name    string
	retried int                  // errors sysbench retried (deadlocks, lock waits), all runs
	rate    []float64            // queries per second, or transactions for read-write workloads
	cpu     map[string][]float64 // process kind -> CPU microseconds per query, per run
	// switches: process kind -> context switches per statement, per run.
	// Each statement a process waits for costs it about one; on a small
	// VM they are most of the cost of a hop between processes.
	switches map[string][]float64
}

func run(o options) error {
	if _, err := exec.LookPath("sysbench"); err != nil {
		return fmt.Errorf("sysbench not found: install it with `make deps`")
	}
	bin, err := filepath.Abs(o.binDir)
	if err != nil {
		return err
	}
	if o.workloads == "" {
		// -workloads '': the resharding run alone.
		if !o.reshard {
			return fmt.Errorf("nothing to run: -workloads is empty and -reshard=false")
		}
		return reshardRun(o)
	}
	one, err := start(bin, 1)
	if err != nil {
		return err
	}
	defer one.Close()
	four, err := start(bin, 4)
	if err != nil {
		return err
	}
	defer four.Close()
	for _, workload := range strings.Split(o.workloads, ",") {
		if err := runWorkload(o, workload, one.Cluster, four.Cluster); err != nil {
			return err
		}
	}
	// Alone on the machine: the other clusters stop first.
	one.Close()
	four.Close()
	if o.scaling {
		if err := scalingRun(o, bin); err != nil {
			return err
		}
	}
	if o.memoryConns > 0 {
		if err := memoryRun(o, bin); err != nil {
			return err
		}
	}
	if o.replicas {
		if err := replicasRun(o, bin); err != nil {
			return err
		}
	}
	if o.reshard {
		return reshardRun(o)
	}
	return nil
}

// runWorkload measures one sysbench workload directly against the 1-shard
// cluster's MariaDB, through its gate, and through the 4-shard gate.
func runWorkload(o options, workload string, one, four *localcluster.Cluster) error {
	unit := "QPS"
	if workload != "oltp_point_select" {
		unit = "TPS"
	}
	fmt.Printf("\nsysbench %s, %d threads, %d tables x %d rows, %d runs of %ds per target (medians)\n",
		workload, o.threads, o.tables, o.tableSize, o.runs, o.seconds)
	direct := &result{name: "direct MariaDB", cpu: map[string][]float64{}, switches: map[string][]float64{}}
	gate1 := &result{name: "gate, 1 shard", cpu: map[string][]float64{}, switches: map[string][]float64{}}
	gate4 := &result{name: "gate, 4 shards", cpu: map[string][]float64{}, switches: map[string][]float64{}}
	directAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(one.Tablets()[0].MySQLPort()))
	for _, c := range []*localcluster.Cluster{one, four} {
		_ = sysbench(o, workload, c.GateAddr(), "cleanup")
		if err := sysbench(o, workload, c.GateAddr(), "prepare"); err != nil {
			return err
		}
	}
	for i := 0; i < o.runs; i++ {
		// Interleaved, so that drift of a shared machine hits all alike.
		for _, m := range []struct {
			c    *localcluster.Cluster
			addr string
			r    *result
		}{{one, directAddr, direct}, {one, one.GateAddr(), gate1}, {four, four.GateAddr(), gate4}} {
			if err := measure(o, workload, m.c, m.addr, m.r); err != nil {
				return err
			}
		}
	}
	results := []*result{direct, gate1, gate4}
	if workload == "oltp_point_select" {
		noStats, err := measureWithoutStats(o, workload, one)
		if err != nil {
			return err
		}
		results = append(results, noStats)
	}
	base := median(direct.rate)
	fmt.Printf("%-30s %10s %8s   %-40s %s\n", "target", unit, "ratio", "CPU us per "+strings.ToLower(unit[:1])+": gate, tablets, mysqld",
		"context switches per statement")
	for _, r := range results {
		fmt.Printf("%-30s %10.0f %7.2fx   %-40s %-30s (runs: %s; retried errors: %d)\n", r.name, median(r.rate), median(r.rate)/base,
			fmt.Sprintf("gate %.0f, tablets %.0f, mysqld %.0f", median(r.cpu[localcluster.KindGate]), median(r.cpu[localcluster.KindTablet]), median(r.cpu[localcluster.KindMySQLd])),
			fmt.Sprintf("%.1f, %.1f, %.1f", median(r.switches[localcluster.KindGate]), median(r.switches[localcluster.KindTablet]), median(r.switches[localcluster.KindMySQLd])),
			list(r.rate), r.retried)
	}
	return nil
}

// measureWithoutStats measures the cost of the gate's query statistics
// (SHOW QUERY STATS): runs through the 1-shard gate with statistics on
// and with them off (--query-stats-max-statements=0), alternating, the
// gate restarted between them. It prints the ratio and returns the runs
// without statistics as a result row.
func measureWithoutStats(o options, workload string, one *localcluster.Cluster) (*result, error) {
	on := &result{name: "gate, 1 shard, statistics on", cpu: map[string][]float64{}, switches: map[string][]float64{}}
	off := &result{name: "gate, 1 shard, statistics off", cpu: map[string][]float64{}, switches: map[string][]float64{}}
	restart := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return one.RestartGate(ctx, args...)
	}
	for i := 0; i < o.runs; i++ {
		order := []*result{on, off}
		if i%2 == 1 {
			order = []*result{off, on}
		}
		for _, r := range order {
			var args []string
			if r == off {
				args = []string{"--query-stats-max-statements=0"}
			}
			if err := restart(args...); err != nil {
				return nil, err
			}
			if err := measure(o, workload, one, one.GateAddr(), r); err != nil {
				return nil, err
			}
		}
	}
	if err := restart(); err != nil {
		return nil, err
	}
	fmt.Printf("query statistics: %.0f QPS on, %.0f off (runs on: %s; off: %s): they cost %.1f%% of point-select QPS, %.1f us of gate CPU per query\n",
		median(on.rate), median(off.rate), list(on.rate), list(off.rate), 100*(1-median(on.rate)/median(off.rate)),
		median(on.cpu[localcluster.KindGate])-median(off.cpu[localcluster.KindGate]))
	return off, nil
}

// benchCluster is a cluster the benchmark started in a directory of its
// own. Close stops it and removes the directory: a run leaves some 600 MB
// of data and logs per cluster, which filled this VM's disk before.
type benchCluster struct {
	*localcluster.Cluster
	dir string
}

// Close may be called more than once.
func (b *benchCluster) Close() error {
	err := b.Cluster.Close()
	if rmErr := os.RemoveAll(b.dir); err == nil {
		err = rmErr
	}
	return err
}

// throughTablets runs the clusters with every statement through the
// tablets (no direct reads), to compare with the default.
var throughTablets bool

// directTransactions runs the clusters with transactions straight on
// MariaDB too.
var directTransactions bool

func start(bin string, shards int) (*benchCluster, error) {
	dir, err := os.MkdirTemp("", "sgbench")
	if err != nil {
		return nil, err
	}
	cfg := localcluster.Config{
		DataDir: dir,
		BinDir:  bin,
		Keyspaces: []localcluster.KeyspaceSpec{
			{Name: "sbtest", ShardCount: shards, Sharded: true, VSchema: vschema()},
		},
		ThroughTablets:     throughTablets,
		TabletTransactions: !directTransactions,
	}
	if cfg.BasePort, err = localcluster.FreeBasePort(cfg); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := localcluster.Up(ctx, cfg, zap.NewNop())
	if err != nil {
		// The directory stays: its logs say why.
		return nil, fmt.Errorf("start a %d-shard cluster (data and logs in %s): %w", shards, dir, err)
	}
	return &benchCluster{Cluster: c, dir: dir}, nil
}

var (
	queriesRe      = regexp.MustCompile(`queries:\s+(\d+)\s+\(([\d.]+) per sec`)
	transactionsRe = regexp.MustCompile(`transactions:\s+(\d+)\s+\(([\d.]+) per sec`)
)
var errorsRe = regexp.MustCompile(`ignored errors:\s+(\d+)`)

// measure runs sysbench once against addr and records the rate (queries
// per second for point selects, transactions per second otherwise) and the
// CPU each kind of process spent per query or transaction.
func measure(o options, workload string, c *localcluster.Cluster, addr string, r *result, extra ...string) error {
	before, switchesBefore := cpuByKind(c)
	args := append([]string{"--threads=" + strconv.Itoa(o.threads), "--time=" + strconv.Itoa(o.seconds)}, extra...)
	out, err := sysbenchOut(o, workload, addr, append(args, "run")...)
	if err != nil {
		return err
	}
	after, switchesAfter := cpuByKind(c)
	re := queriesRe
	if workload != "oltp_point_select" {
		re = transactionsRe
	}
	m := re.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("no rate in sysbench output:\n%s", out)
	}
	// Deadlocks and lock-wait timeouts are errors MySQL expects clients
	// to retry; sysbench does and counts them as ignored. They are
	// reported, not fatal (a failing statement ends sysbench itself).
	if e := errorsRe.FindStringSubmatch(out); e != nil {
		n, _ := strconv.Atoi(e[1])
		r.retried += n
	}
	total, _ := strconv.ParseFloat(m[1], 64)
	rate, _ := strconv.ParseFloat(m[2], 64)
	r.rate = append(r.rate, rate)
	for kind, t := range after {
		r.cpu[kind] = append(r.cpu[kind], float64((t-before[kind]).Microseconds())/total)
	}
	if q := queriesRe.FindStringSubmatch(out); q != nil {
		statements, _ := strconv.ParseFloat(q[1], 64)
		for kind, n := range switchesAfter {
			r.switches[kind] = append(r.switches[kind], float64(n-switchesBefore[kind])/statements)
		}
	}
	return nil
}

func sysbench(o options, workload, addr string, args ...string) error {
	_, err := sysbenchOut(o, workload, addr, args...)
	return err
}

// sysbenchArgs are sysbench's arguments for a workload against addr, on
// database sbtest unless args name another (--mysql-db=sbtest:-40: one
// shard through the gate).
func sysbenchArgs(o options, workload, addr string, args ...string) []string {
	host, port, _ := net.SplitHostPort(addr)
	out := []string{workload, "--mysql-host=" + host, "--mysql-port=" + port, "--mysql-user=root"}
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--mysql-db=") }) {
		out = append(out, "--mysql-db=sbtest")
	}
	return append(append(out, "--tables="+strconv.Itoa(o.tables), "--table-size="+strconv.Itoa(o.tableSize), "--auto-inc=off"), args...)
}

func sysbenchOut(o options, workload, addr string, args ...string) (string, error) {
	cmd := exec.Command("sysbench", sysbenchArgs(o, workload, addr, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("sysbench %s against %s: %v\n%s", strings.Join(args, " "), addr, err, out.String())
	}
	return out.String(), nil
}

// cpuByKind sums user+system CPU time and context switches of the
// cluster's processes by kind.
func cpuByKind(c *localcluster.Cluster) (map[string]time.Duration, map[string]int64) {
	cpu, switches := map[string]time.Duration{}, map[string]int64{}
	for _, p := range c.State().Parts {
		switch p.Kind {
		case localcluster.KindGate, localcluster.KindTablet, localcluster.KindMySQLd:
			cpu[p.Kind] += processCPU(p.PID)
			switches[p.Kind] += processSwitches(p.PID)
		}
	}
	return cpu, switches
}

// processSwitches sums the voluntary and involuntary context switches of
// a process's threads, from /proc/<pid>/task/*/status.
func processSwitches(pid int) int64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n int64
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited
		}
		for _, line := range strings.Split(string(data), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(name, "ctxt_switches") {
				v, _ := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
				n += v
			}
		}
	}
	return n
}

// processCPU reads utime+stime from /proc/<pid>/stat.
func processCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

func mustAbs(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	return abs
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func list(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(parts, " ")
}
