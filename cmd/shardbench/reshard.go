package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/control/reshard"
	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/proto/topopb"
)

// The resharding run splits a 2-shard keyspace into 4 while sysbench's
// oltp_write_only runs through the gate, and reports the copy's
// throughput, how long the switch of writes held them, the longest
// transaction sysbench saw, and the errors it got (deadlocks, which
// MariaDB makes clients retry, are counted apart).

var (
	maxLatencyRe = regexp.MustCompile(`max:\s+([\d.]+)`)
	p95Re        = regexp.MustCompile(`95th percentile:\s+([\d.]+)`)
	errorLineRe  = regexp.MustCompile(`(?m)^FATAL: .*$`)
)

func reshardRun(o options) error {
	bin, err := filepath.Abs(o.binDir)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sgbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := localcluster.Config{
		DataDir: dir,
		BinDir:  bin,
		Keyspaces: []localcluster.KeyspaceSpec{
			{Name: "sbtest", Shards: []string{"-80", "80-"}, VSchema: vschema()},
		},
		SpareTablets: 4, // the targets
	}
	if cfg.BasePort, err = localcluster.FreeBasePort(cfg); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := localcluster.Up(ctx, cfg, zap.NewNop())
	if err != nil {
		return fmt.Errorf("start a 2-shard cluster: %w", err)
	}
	defer c.Close()
	ro := o
	ro.tableSize = o.reshardTableSize
	fmt.Printf("\nresharding -80,80- into -40,40-80,80-c0,c0- under sysbench oltp_write_only, %d threads, %d tables x %d rows\n",
		o.threads, o.tables, ro.tableSize)
	if err := sysbench(ro, "oltp_write_only", c.GateAddr(), "prepare"); err != nil {
		return err
	}
	targets := []string{"-40", "40-80", "80-c0", "c0-"}
	if _, err := c.AddShards(ctx, "sbtest", targets); err != nil {
		return err
	}

	// sysbench writes for the whole workflow.
	load := exec.Command("sysbench", sysbenchArgs(ro, "oltp_write_only", c.GateAddr(),
		"--threads="+strconv.Itoa(o.threads), "--time="+strconv.Itoa(o.reshardSeconds), "--report-interval=5", "run")...)
	var out bytes.Buffer
	load.Stdout, load.Stderr = &out, &out
	loadStart := time.Now()
	if err := load.Start(); err != nil {
		return err
	}
	loadDone := make(chan error, 1)
	go func() { loadDone <- load.Wait() }()
	stopLoad := func() { _ = load.Process.Kill() }
	defer stopLoad()
	time.Sleep(3 * time.Second) // writes under way before the copy starts

	ts := c.Topo()
	copyStart := time.Now()
	if _, err := reshard.CreateReshard(ctx, ts, reshard.ReshardSpec{Keyspace: "sbtest", Name: "bench", Sources: []string{"-80", "80-"}, Targets: targets}); err != nil {
		return err
	}
	var copied int64
	for {
		st, err := reshard.ReshardStatus(context.Background(), ts, "sbtest", "bench")
		if err != nil {
			return err
		}
		running := len(st.Streams) == len(targets)
		for _, s := range st.Streams {
			running = running && s.Phase == topopb.StreamStatus_RUNNING
		}
		if running {
			copied = st.Progress().Copied
			break
		}
		if time.Since(copyStart) > 10*time.Minute {
			return fmt.Errorf("the copy did not finish in 10 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	copyTook := time.Since(copyStart)
	diffStart := time.Now()
	report, err := reshard.DiffReshard(context.Background(), ts, "sbtest", "bench", reshard.DefaultDiffOptions())
	if err != nil {
		return fmt.Errorf("diff: %w", err)
	}
	diffTook := time.Since(diffStart)
	if err := reshard.SwitchReads(context.Background(), ts, "sbtest", "bench"); err != nil {
		return err
	}
	sw, err := reshard.SwitchWrites(context.Background(), ts, "sbtest", "bench", reshard.DefaultSwitchOptions())
	if err != nil {
		return err
	}
	switchAt := time.Since(loadStart)
	if err := reshard.CompleteReshard(context.Background(), ts, "sbtest", "bench"); err != nil {
		return err
	}
	loadErr := <-loadDone
	text := out.String()
	errs := len(errorLineRe.FindAllString(text, -1))
	if loadErr != nil && errs == 0 {
		errs = 1
	}
	var tps, maxLat, p95 string
	if m := transactionsRe.FindStringSubmatch(text); m != nil {
		tps = m[2]
	}
	if m := maxLatencyRe.FindStringSubmatch(text); m != nil {
		maxLat = m[1]
	}
	if m := p95Re.FindStringSubmatch(text); m != nil {
		p95 = m[1]
	}
	retried := 0
	if e := errorsRe.FindStringSubmatch(text); e != nil {
		retried, _ = strconv.Atoi(e[1])
	}
	fmt.Printf("copy: %d rows in %v = %.0f rows/s (while sysbench wrote)\n", copied, copyTook.Round(time.Millisecond), float64(copied)/copyTook.Seconds())
	verdict := "all match"
	if !report.Match() {
		verdict = "DIFFER"
	}
	fmt.Printf("diff: %d table copies in %v, %s\n", len(report.Tables), diffTook.Round(time.Millisecond), verdict)
	var steps []string
	for _, s := range sw.Steps {
		steps = append(steps, fmt.Sprintf("%s %v", s.Name, s.Took.Round(time.Millisecond)))
	}
	fmt.Printf("switch-writes at %v into the run: writes held %v (%s)\n", switchAt.Round(time.Second), sw.Stall.Round(time.Millisecond), strings.Join(steps, ", "))
	fmt.Printf("sysbench over the whole run: %s TPS, p95 %s ms, longest transaction %s ms, client errors %d, deadlocks retried %d\n",
		tps, p95, maxLat, errs, retried)
	if errs > 0 {
		return fmt.Errorf("sysbench saw errors during the resharding:\n%s", strings.Join(errorLineRe.FindAllString(text, 5), "\n"))
	}
	return nil
}
