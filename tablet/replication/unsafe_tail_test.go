package replication

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardgate/shardgate/tablet/mysqld"
)

// TestCrashedPrimaryWithUnsafeTailStarts: when the binlog tail a primary
// never committed holds a change to a non-transactional table, MariaDB
// refuses to recover as a replica (it cannot roll that change back);
// mysqld.Start then recovers it as a primary, and the server starts with
// the tail as errant transactions.
func TestCrashedPrimaryWithUnsafeTailStarts(t *testing.T) {
	ctx := context.Background()
	primary, replica := startServer(t, 1), startServer(t, 2)
	if _, err := Promote(ctx, primary.db, PromoteOptions{SemiSync: true, SemiSyncTimeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := Follow(ctx, replica.db, primary.source(), FollowOptions{SemiSync: true}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, primary.db, "CREATE DATABASE app", "CREATE TABLE app.t (id INT PRIMARY KEY)", "CREATE TABLE app.m (id INT PRIMARY KEY) ENGINE=MyISAM")
	waitFor(t, replica, executed(t, primary))
	acked := executed(t, primary)

	mustExec(t, replica.db, "STOP SLAVE IO_THREAD")
	waitBinlogged := func(n int64) {
		deadline := time.Now().Add(30 * time.Second)
		for executed(t, primary)[0].Seq < acked[0].Seq+uint64(n) {
			if time.Now().After(deadline) {
				t.Fatal("the waiting commit never reached the primary's binlog")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	go func() { _, _ = primary.db.ExecContext(ctx, "INSERT INTO app.t VALUES (1)") }()
	waitBinlogged(1)
	go func() { _, _ = primary.db.ExecContext(ctx, "INSERT INTO app.m VALUES (1)") }()
	waitBinlogged(2)
	if err := syscall.Kill(primary.proc.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-primary.proc.Done()

	cfg := primary.cfg
	cfg.RecoverAsReplica = true
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var err error
	if primary.proc, err = mysqld.Start(sctx, cfg); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cfg.ErrorLog())
	if !strings.Contains(string(b), "Cannot truncate the binary log") {
		t.Errorf("MariaDB did not refuse to truncate; error log:\n%s", recoveryLog(t, cfg))
	}
	// Recovered as a primary: the tail is kept, committed, and errant
	// against a promotion at the acknowledged position.
	if errant := Errant(executed(t, primary), acked); len(errant) != 1 || errant[0].Seq != acked[0].Seq+2 {
		t.Errorf("errant %v against %s, want the two unacknowledged transactions", errant, acked)
	}
	if n := count(t, primary.db, "SELECT COUNT(*) FROM app.t"); n != 1 {
		t.Errorf("app.t has %d rows after recovering as a primary, want 1", n)
	}
}

// recoveryLog is what the server's error log says about crash recovery.
func recoveryLog(t *testing.T, cfg mysqld.Config) string {
	t.Helper()
	b, err := os.ReadFile(cfg.ErrorLog())
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "recover") || strings.Contains(l, "prepared") || strings.Contains(l, "truncat") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
