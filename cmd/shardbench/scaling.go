package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/shardgate/shardgate/localcluster"
)

// scalingShardCounts are the cluster sizes the scaling run compares.
var scalingShardCounts = []int{1, 2, 4}

// scalingRun measures how throughput grows with shards when each shard is
// a server of its own: every shard's mariadbd is capped at o.shardCPU of a
// CPU (cgroup v1), so that on this shared machine the shards, not the
// gate, the tablets or sysbench, are the bottleneck. It prints, per
// workload, each cluster's rate, its ratio to one shard, the CPU per
// query by process, and how much of their caps the servers used: a
// cluster that scales less than its shard count either left its servers
// idle (the rest went to the gate, tablets or sysbench, whose cores are
// shared) or spent more server CPU per query (scatter statements).
// Point selects also run three controls on the same capped servers:
// sysbench straight at each server (prepared, then text statements), and
// through the gate with one sysbench per shard, which tells what the
// shared clients cost from what the gate and tablets cost.
func scalingRun(o options, bin string) error {
	if err := cpuCapsAvailable(); err != nil {
		fmt.Printf("\nscaling: skipped: %v\n", err)
		return nil
	}
	for _, workload := range strings.Split(o.workloads, ",") {
		if err := scaleWorkload(o, bin, workload); err != nil {
			return err
		}
	}
	return nil
}

type scalingResult struct {
	shards int
	result
	capUse []float64 // share of the servers' CPU caps used, per run
	// direct is the same capped servers driven by sysbench directly, one
	// sysbench per server at once (point selects only): what this machine
	// lets that many capped servers do with no gate or tablet at all.
	direct       []float64
	directMySQLd []float64 // mysqld CPU us per query, direct
	// directText is the same as direct with sysbench sending text
	// statements (--db-ps-mode=disable), as the tablets do: what the
	// servers' parsing costs, apart from the gate and tablets.
	directText       []float64
	directTextMySQLd []float64
	// targeted is the gate and tablets driven with one sysbench per shard
	// (measureTargetedParallel); targetedCPU its CPU per query by kind.
	targeted    []float64
	targetedCPU map[string][]float64
}

func scaleWorkload(o options, bin, workload string) error {
	unit := "QPS"
	if workload != "oltp_point_select" {
		unit = "TPS"
	}
	fmt.Printf("\nscaling: sysbench %s, %d threads per shard, each shard's mariadbd capped at %.0f%% of a CPU (per %v), %d runs of %ds per size (medians)\n",
		workload, o.scalingThreads, 100*o.shardCPU, o.capPeriod, o.runs, o.seconds)
	var results []*scalingResult
	for _, shards := range scalingShardCounts {
		so := o
		so.threads = o.scalingThreads
		if workload == "oltp_point_select" {
			// Each shard sees the same concurrency at every size: with
			// fewer statements waiting per server, a server spends more
			// CPU per statement going to sleep and waking up, which would
			// be charged to sharding. (Read-write transactions keep the
			// total: 64 of them on capped servers wait out the tablets'
			// 30 s idle-transaction limit.)
			so.threads = o.scalingThreads * shards
		}
		r, err := measureScaled(so, bin, workload, shards)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	base := median(results[0].rate)
	fmt.Printf("%-8s %10s %8s   %-44s %-20s %-38s %-38s %s\n", "shards", unit, "vs 1", "CPU us per "+strings.ToLower(unit[:1])+": gate, tablets, mysqld", "servers' caps used",
		"direct to the same servers (prepared)", "direct, text statements", "gate, one sysbench per shard")
	directBase, textBase, targetedBase := median(results[0].direct), median(results[0].directText), median(results[0].targeted)
	for _, r := range results {
		direct, text, targeted := "-", "-", "-"
		if len(r.direct) > 0 {
			direct = fmt.Sprintf("%.0f QPS, %.2fx, mysqld %.0f us/q", median(r.direct), median(r.direct)/directBase, median(r.directMySQLd))
			text = fmt.Sprintf("%.0f QPS, %.2fx, mysqld %.0f us/q", median(r.directText), median(r.directText)/textBase, median(r.directTextMySQLd))
			targeted = fmt.Sprintf("%.0f QPS, %.2fx; gate %.0f, tablets %.0f, mysqld %.0f us/q", median(r.targeted), median(r.targeted)/targetedBase,
				median(r.targetedCPU[localcluster.KindGate]), median(r.targetedCPU[localcluster.KindTablet]), median(r.targetedCPU[localcluster.KindMySQLd]))
		}
		fmt.Printf("%-8d %10.0f %7.2fx   %-44s %5.0f%%               %-38s %-38s %-50s (runs: %s)\n", r.shards, median(r.rate), median(r.rate)/base,
			fmt.Sprintf("gate %.0f, tablets %.0f, mysqld %.0f", median(r.cpu[localcluster.KindGate]), median(r.cpu[localcluster.KindTablet]), median(r.cpu[localcluster.KindMySQLd])),
			100*median(r.capUse), direct, text, targeted, list(r.rate))
	}
	return nil
}

// measureScaled starts a cluster of shards, caps its servers and runs
// sysbench o.runs times through its gate.
func measureScaled(o options, bin, workload string, shards int) (*scalingResult, error) {
	bc, err := start(bin, shards)
	if err != nil {
		return nil, err
	}
	defer bc.Close()
	c := bc.Cluster
	if err := sysbench(o, workload, c.GateAddr(), "prepare"); err != nil {
		return nil, err
	}
	var caps []*cpuCap
	defer func() {
		for _, cc := range caps {
			_ = cc.remove()
		}
	}()
	for i, p := range mysqldParts(c) {
		cc, err := newCPUCap(fmt.Sprintf("shardbench-%d-%d", shards, i), o.shardCPU, o.capPeriod)
		if err != nil {
			return nil, err
		}
		caps = append(caps, cc)
		if err := cc.add(p.PID); err != nil {
			return nil, err
		}
	}
	r := &scalingResult{shards: shards, result: result{name: fmt.Sprintf("%d shards", shards), cpu: map[string][]float64{}, switches: map[string][]float64{}},
		targetedCPU: map[string][]float64{}}
	for range o.runs {
		if err := measure(o, workload, c, c.GateAddr(), &r.result); err != nil {
			return nil, err
		}
		last := len(r.rate) - 1
		// Server CPU per second of the run, against what the caps allow.
		used := r.cpu[localcluster.KindMySQLd][last] * r.rate[last] / 1e6
		r.capUse = append(r.capUse, used/(float64(shards)*o.shardCPU))
		if workload == "oltp_point_select" {
			qps, cpu, err := measureDirectParallel(o, c)
			if err != nil {
				return nil, err
			}
			r.direct = append(r.direct, qps)
			r.directMySQLd = append(r.directMySQLd, cpu)
			qps, cpu, err = measureDirectParallel(o, c, "--db-ps-mode=disable")
			if err != nil {
				return nil, err
			}
			r.directText = append(r.directText, qps)
			r.directTextMySQLd = append(r.directTextMySQLd, cpu)
			qps, byKind, err := measureTargetedParallel(o, c)
			if err != nil {
				return nil, err
			}
			r.targeted = append(r.targeted, qps)
			for kind, v := range byKind {
				r.targetedCPU[kind] = append(r.targetedCPU[kind], v)
			}
		}
	}
	return r, nil
}

// measureDirectParallel runs sysbench point selects against every server
// of c at once, o.scalingThreads threads each, and returns their summed
// rate and the servers' CPU per query. Each server holds only its shard's
// rows, so some lookups find nothing: they cost a server about what a hit
// does. extra are more sysbench options.
func measureDirectParallel(o options, c *localcluster.Cluster, extra ...string) (qps, cpuPerQuery float64, err error) {
	var targets []sysbenchTarget
	for _, p := range mysqldParts(c) {
		targets = append(targets, sysbenchTarget{addr: p.Addr})
	}
	qps, cpu, err := measureParallel(o, c, targets, extra...)
	return qps, cpu[localcluster.KindMySQLd], err
}

// measureTargetedParallel runs sysbench point selects through the gate
// with one sysbench per shard at once, each aimed at its shard (database
// "sbtest:<shard>": statements go unchanged to that shard), and returns
// the summed rate and each kind of process's CPU per query. It is the
// gate and tablets with clients of their own per server, as
// measureDirectParallel gives each server, instead of clients shared by
// all servers: on servers capped by CPU quotas, a throttled server holds
// the shared clients waiting for it while the others idle.
func measureTargetedParallel(o options, c *localcluster.Cluster) (qps float64, cpu map[string]float64, err error) {
	var targets []sysbenchTarget
	for _, p := range mysqldParts(c) {
		_, shard, _ := strings.Cut(p.Name, "/")
		targets = append(targets, sysbenchTarget{addr: c.GateAddr(), db: "sbtest:" + shard})
	}
	return measureParallel(o, c, targets)
}

// sysbenchTarget is where one of several parallel sysbench runs goes.
type sysbenchTarget struct {
	addr string
	db   string // empty: sbtest
}

// measureParallel runs sysbench point selects against every target at
// once, o.scalingThreads threads each, and returns their summed rate and
// the CPU per query of each kind of process of c.
func measureParallel(o options, c *localcluster.Cluster, targets []sysbenchTarget, extra ...string) (qps float64, cpu map[string]float64, err error) {
	so := o
	so.threads = o.scalingThreads
	before, _ := cpuByKind(c)
	rates := make([]float64, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			args := append([]string{"--threads=" + strconv.Itoa(so.threads), "--time=" + strconv.Itoa(o.seconds)}, extra...)
			if t.db != "" {
				args = append(args, "--mysql-db="+t.db)
			}
			out, err := sysbenchOut(so, "oltp_point_select", t.addr, append(args, "run")...)
			if err != nil {
				errs[i] = err
				return
			}
			m := queriesRe.FindStringSubmatch(out)
			if m == nil {
				errs[i] = fmt.Errorf("no rate in sysbench output:\n%s", out)
				return
			}
			rates[i], _ = strconv.ParseFloat(m[2], 64)
		})
	}
	wg.Wait()
	after, _ := cpuByKind(c)
	if err := errors.Join(errs...); err != nil {
		return 0, nil, err
	}
	for _, r := range rates {
		qps += r
	}
	cpu = map[string]float64{}
	for kind, t := range after {
		cpu[kind] = float64((t - before[kind]).Microseconds()) / (qps * float64(o.seconds))
	}
	return qps, cpu, nil
}

// mysqldParts are the cluster's MariaDB servers.
func mysqldParts(c *localcluster.Cluster) []localcluster.Part {
	var out []localcluster.Part
	for _, p := range c.State().Parts {
		if p.Kind == localcluster.KindMySQLd {
			out = append(out, p)
		}
	}
	return out
}
