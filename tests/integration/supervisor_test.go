package integration

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// TestSupervisorRestartsCrashedParts runs a local cluster as `shardctl
// local up` does (Config.Supervise) and kills -9, one after the other, a
// shard's mariadbd, its tablet and the gate. Each time the supervisor
// starts the part again by itself and the cluster serves every shard with
// every row; a tablet stopped on purpose stays stopped until started. It
// logs how long each part took from kill to serving again (the figure the
// closing note quotes); it asserts no time beyond a generous bound.
func TestSupervisorRestartsCrashedParts(t *testing.T) {
	c := startClusterWith(t, func(cfg *localcluster.Config) {
		cfg.Keyspaces = []localcluster.KeyspaceSpec{{Name: "ks", ShardCount: 2, VSchema: []byte(failoverVSchema),
			Schema: []byte("CREATE TABLE acct (id BIGINT PRIMARY KEY, balance INT NOT NULL)")}}
		cfg.Supervise = true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db := openDB(t, c.GateDSN("ks"))
	const rows = 40
	for id := 1; id <= rows; id++ {
		if _, err := db.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (?, ?)", id, id); err != nil {
			t.Fatal(err)
		}
	}
	tab := c.Tablets()[0]

	// waitServing waits until a scatter read (every shard) returns every
	// row and returns how long that took from since.
	waitServing := func(what string, since time.Time) time.Duration {
		t.Helper()
		var last error
		for time.Since(since) < 2*time.Minute {
			qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
			var n int
			last = db.QueryRowContext(qctx, "SELECT COUNT(*) FROM acct").Scan(&n)
			qcancel()
			if last == nil && n == rows {
				return time.Since(since)
			}
			if last == nil {
				last = fmt.Errorf("%d rows, want %d", n, rows)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("after %s the cluster does not serve every row: %v", what, last)
		return 0
	}
	partPID := func(kind, name string) int {
		t.Helper()
		for _, p := range c.State().Parts {
			if p.Kind == kind && (name == "" || p.Name == name) {
				return p.PID
			}
		}
		t.Fatalf("no %s %q in the cluster's state", kind, name)
		return 0
	}
	kill := func(pid int) time.Time {
		t.Helper()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	restarts := func(part string) int {
		t.Helper()
		for name, n := range c.Restarts() {
			if strings.HasPrefix(name, part) {
				return n
			}
		}
		return 0
	}

	// 1. The shard's mariadbd crashes.
	oldPID, ok := mysqld.Running(tab.MySQL.DataDir)
	if !ok {
		t.Fatalf("no mariadbd runs for %s", tab.Alias)
	}
	killed := kill(oldPID)
	back := waitUntil(t, "the mariadbd of "+tab.Alias+" restarted", func() bool {
		pid, ok := mysqld.Running(tab.MySQL.DataDir)
		return ok && pid != oldPID
	})
	took := waitServing("kill -9 of mariadbd", killed)
	// The count follows the restart by a moment (the state file first).
	waitUntil(t, "the supervisor counts 1 restart of the mariadbd of "+tab.Alias, func() bool {
		return restarts("mysqld "+tab.Keyspace+"/"+tab.Shard) == 1
	})
	t.Logf("mariadbd of %s killed: running again %v later, every shard serves every row %v later",
		tab.Alias, back.Sub(killed).Round(time.Millisecond), took.Round(time.Millisecond))

	// 2. Its tablet crashes.
	tabletName := "tablet " + tab.Alias
	oldPID = partPID(localcluster.KindTablet, tabletName)
	killed = kill(oldPID)
	back = waitUntil(t, "tablet "+tab.Alias+" restarted", func() bool {
		return partPID(localcluster.KindTablet, tabletName) != oldPID
	})
	took = waitServing("kill -9 of the tablet", killed)
	waitUntil(t, "the supervisor counts 1 restart of "+tabletName, func() bool { return restarts(tabletName) == 1 })
	t.Logf("tablet %s killed: running again %v later, every shard serves every row %v later",
		tab.Alias, back.Sub(killed).Round(time.Millisecond), took.Round(time.Millisecond))

	// 3. The gate crashes. database/sql drops the broken connections and
	// opens new ones to the restarted gate.
	oldPID = partPID(localcluster.KindGate, "")
	killed = kill(oldPID)
	back = waitUntil(t, "the gate restarted", func() bool { return partPID(localcluster.KindGate, "") != oldPID })
	took = waitServing("kill -9 of the gate", killed)
	waitUntil(t, "the supervisor counts 1 restart of the gate", func() bool { return restarts("gate") == 1 })
	t.Logf("gate killed: running again %v later, serves every row %v later",
		back.Sub(killed).Round(time.Millisecond), took.Round(time.Millisecond))

	// 4. A tablet stopped on purpose is not restarted until started.
	if err := c.StopTablet(tab.Alias); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // far longer than the first restart delay
	if _, err := scatterCount(ctx, db); err == nil {
		t.Fatalf("a scatter read succeeded with tablet %s stopped: the supervisor restarted it", tab.Alias)
	}
	if n := restarts(tabletName); n != 1 {
		t.Errorf("the supervisor restarted %s, which was stopped on purpose (%d restarts)", tabletName, n)
	}
	if err := c.StartTablet(ctx, tab.Alias); err != nil {
		t.Fatal(err)
	}
	waitServing("StartTablet", time.Now())
}

// waitUntil polls cond every 20 ms for up to a minute and returns when it
// first held.
func waitUntil(t *testing.T, what string, cond func() bool) time.Time {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return time.Now()
		}
	}
	t.Fatalf("%s: not within a minute", what)
	return time.Time{}
}

func scatterCount(ctx context.Context, db *sql.DB) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var n int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct").Scan(&n)
	return n, err
}
