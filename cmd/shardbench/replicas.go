package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/tablet/mysqld"
	"github.com/shardgate/shardgate/tablet/reparent"
)

// replicasRun measures a shard with a primary and 2 replicas:
// oltp_read_only through the gate on the primary and on @replica (reads
// spread over the two replicas), then the failover figures: 8 writers
// through the gate while the primary is moved (planned reparent) and
// then its mariadbd is killed, with client errors, the longest write and
// how long the shard took no writes.
//
// All servers share this machine's cores, so @replica shows what routing
// to replicas costs and that it works, not how reads scale with replicas
// on servers of their own.
func replicasRun(o options, bin string) error {
	dir, err := os.MkdirTemp("", "sgbench-replicas")
	if err != nil {
		return err
	}
	cfg := localcluster.Config{DataDir: dir, BinDir: bin, Replicas: 2,
		Keyspaces: []localcluster.KeyspaceSpec{{Name: "sbtest", ShardCount: 1, Sharded: true, VSchema: vschema()}}}
	if cfg.BasePort, err = localcluster.FreeBasePort(cfg); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := localcluster.Up(ctx, cfg, zap.NewNop())
	if err != nil {
		return fmt.Errorf("start a shard with 2 replicas: %w", err)
	}
	defer os.RemoveAll(dir) // after Close: deferred calls run last first
	defer c.Close()

	const workload = "oltp_read_only"
	_ = sysbench(o, workload, c.GateAddr(), "cleanup")
	if err := sysbench(o, workload, c.GateAddr(), "prepare"); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // the replicas apply the load
	fmt.Printf("\nsysbench %s, %d threads, 1 shard with 2 replicas, %d runs of %ds per target (medians)\n", workload, o.threads, o.runs, o.seconds)
	primary := &result{name: "gate, primary", cpu: map[string][]float64{}, switches: map[string][]float64{}}
	replicas := &result{name: "gate, @replica", cpu: map[string][]float64{}, switches: map[string][]float64{}}
	for range o.runs {
		if err := measure(o, workload, c, c.GateAddr(), primary); err != nil {
			return err
		}
		if err := measure(o, workload, c, c.GateAddr(), replicas, "--mysql-db=sbtest@replica"); err != nil {
			return err
		}
	}
	base := median(primary.rate)
	for _, r := range []*result{primary, replicas} {
		fmt.Printf("%-16s %10.0f TPS %7.2fx   CPU us per t: gate %.0f, tablets %.0f, mysqld %.0f   (runs: %s)\n", r.name, median(r.rate), median(r.rate)/base,
			median(r.cpu[localcluster.KindGate]), median(r.cpu[localcluster.KindTablet]), median(r.cpu[localcluster.KindMySQLd]), list(r.rate))
	}
	return failoverFigures(c)
}

// failoverFigures runs 8 writers through the gate for 30 s: a planned
// reparent at 5 s, kill -9 of the new primary's mariadbd at 15 s.
func failoverFigures(c *localcluster.Cluster) error {
	db, err := sql.Open("mysql", c.GateDSN("sbtest"))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(16)
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS sbtest9 (id BIGINT PRIMARY KEY, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '')"); err != nil {
		return err
	}
	type window struct {
		name         string
		from, to     time.Time
		errors       int
		firstError   string
		longestWrite time.Duration
	}
	var mu sync.Mutex
	var writes []struct {
		at   time.Time
		took time.Duration
		err  error
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				start := time.Now()
				_, err := db.ExecContext(ctx, "INSERT INTO sbtest9 (id) VALUES (?)", int64(w+1)*10_000_000+int64(n))
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				writes = append(writes, struct {
					at   time.Time
					took time.Duration
					err  error
				}{start, time.Since(start), err})
				mu.Unlock()
			}
		})
	}
	shard := c.Tablets()[0].Shard
	time.Sleep(5 * time.Second)
	plannedAt := time.Now()
	res, err := reparent.Planned(context.Background(), c.Topo(), "sbtest", shard, reparent.Options{})
	if err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("planned reparent: %w", err)
	}
	time.Sleep(10 * time.Second)
	killAt := time.Now()
	i := slices.IndexFunc(c.Tablets(), func(t localcluster.Tablet) bool { return t.Alias == res.NewPrimary })
	pid, ok := mysqld.Running(c.Tablets()[i].MySQL.DataDir)
	if !ok {
		cancel()
		wg.Wait()
		return fmt.Errorf("the mariadbd of %s does not run", res.NewPrimary)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	var promotedAfter time.Duration
	for time.Since(killAt) < 30*time.Second {
		sh, err := c.Topo().GetShard(context.Background(), "sbtest", shard)
		if err == nil && sh.PrimaryAlias != res.NewPrimary {
			promotedAfter = time.Since(killAt)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(10 * time.Second)
	cancel()
	wg.Wait()

	windows := []*window{
		{name: "steady (5 s)", from: plannedAt.Add(-5 * time.Second), to: plannedAt},
		{name: "planned reparent (5 s)", from: plannedAt, to: plannedAt.Add(5 * time.Second)},
		{name: "kill -9 of the primary's mariadbd (10 s)", from: killAt, to: killAt.Add(10 * time.Second)},
	}
	total := map[*window]int{}
	for _, w := range writes {
		for _, win := range windows {
			if !w.at.Before(win.from) && w.at.Before(win.to) {
				total[win]++
				win.longestWrite = max(win.longestWrite, w.took)
				if w.err != nil {
					if win.errors == 0 {
						win.firstError = fmt.Sprintf("%v after %v: %v", w.at.Sub(win.from).Round(time.Millisecond), w.took.Round(time.Millisecond), w.err)
					}
					win.errors++
				}
			}
		}
	}
	fmt.Printf("\nfailover under 8 writers (autocommit INSERTs through the gate), 1 shard, primary + 2 replicas\n")
	fmt.Printf("planned reparent %s -> %s: writes stopped %v\n", res.OldPrimary, res.NewPrimary, res.WritesStopped.Round(time.Millisecond))
	fmt.Printf("kill -9 of %s's mariadbd: a replica serves as primary %v later\n", res.NewPrimary, promotedAfter.Round(time.Millisecond))
	fmt.Printf("%-42s %8s %8s %14s\n", "window", "writes", "errors", "longest write")
	for _, win := range windows {
		fmt.Printf("%-42s %8s %8d %14v\n", win.name, strconv.Itoa(total[win]), win.errors, win.longestWrite.Round(time.Millisecond))
	}
	for _, win := range windows {
		if win.firstError != "" {
			fmt.Printf("first error in %s: %s\n", win.name, win.firstError)
		}
	}
	return nil
}
