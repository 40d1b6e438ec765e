package replication

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/freeport"

	_ "github.com/go-sql-driver/mysql"
	"go.uber.org/zap/zaptest"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/tablet/mysqld"
)

// These tests run real mariadbd servers replicating to each other. They
// fail, never skip, when mariadbd is missing.

type server struct {
	cfg  mysqld.Config
	proc *mysqld.Process
	db   *sql.DB
}

func (s *server) source() Source { return Source{Host: "127.0.0.1", Port: s.cfg.Port, User: "root"} }

func startServer(t *testing.T, id uint32) *server {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "sgrepl")
	if err != nil {
		t.Fatal(err)
	}
	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	cfg := mysqld.Config{DataDir: dir, Port: port, ServerID: id, Log: zaptest.NewLogger(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := mysqld.StopDataDir(stopCtx, dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		os.RemoveAll(dir)
	})
	if err := mysqld.Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	proc, err := mysqld.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", cfg.TCPDSN(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &server{cfg: cfg, proc: proc, db: db}
}

func mustExec(t *testing.T, db DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func count(t *testing.T, db DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func executed(t *testing.T, s *server) gtidpos.Position {
	t.Helper()
	pos, err := Executed(context.Background(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

func waitFor(t *testing.T, s *server, pos gtidpos.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := WaitFor(ctx, s.db, pos); err != nil {
		st, _ := ReadStatus(context.Background(), s.db)
		t.Fatalf("server %d: %v (status %+v)", s.cfg.ServerID, err, st)
	}
}

// TestFollowPromoteRepoint is a planned reparent by hand: a primary with
// two semi-synchronous replicas; the primary is fenced, a replica catches
// up and is promoted, the other replica and the old primary follow it, and
// every server ends with every row.
func TestFollowPromoteRepoint(t *testing.T) {
	ctx := context.Background()
	primary, r1, r2 := startServer(t, 1), startServer(t, 2), startServer(t, 3)
	if _, err := Promote(ctx, primary.db, PromoteOptions{SemiSync: true}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*server{r1, r2} {
		if err := Follow(ctx, r.db, primary.source(), FollowOptions{SemiSync: true}); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, primary.db, "CREATE DATABASE app", "CREATE TABLE app.t (id INT PRIMARY KEY)", "INSERT INTO app.t VALUES (1), (2)")
	for _, r := range []*server{r1, r2} {
		waitFor(t, r, executed(t, primary))
		if n := count(t, r.db, "SELECT COUNT(*) FROM app.t"); n != 2 {
			t.Fatalf("replica %d has %d rows, want 2", r.cfg.ServerID, n)
		}
		st, err := ReadStatus(ctx, r.db)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Configured || !st.IORunning || !st.SQLRunning || st.Source.Port != primary.cfg.Port || st.LastIOError != "" || st.LastSQLError != "" {
			t.Fatalf("replica %d status: %+v", r.cfg.ServerID, st)
		}
		if !st.Applied.AtLeast(executed(t, primary)) {
			t.Fatalf("replica %d applied %s, primary executed %s", r.cfg.ServerID, st.Applied, executed(t, primary))
		}
		if count(t, r.db, "SELECT @@GLOBAL.read_only") != 1 {
			t.Fatalf("replica %d is writable", r.cfg.ServerID)
		}
	}
	// Semi-sync: the primary waited for a replica's acknowledgement.
	var name string
	var acked int
	if err := primary.db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_yes_tx'").Scan(&name, &acked); err != nil {
		t.Fatal(err)
	}
	if acked < 3 {
		t.Errorf("Rpl_semi_sync_master_yes_tx = %d, want the 3 transactions acknowledged by a replica", acked)
	}

	// The reparent.
	if err := SetReadOnly(ctx, primary.db, true); err != nil {
		t.Fatal(err)
	}
	final := executed(t, primary)
	waitFor(t, r1, final)
	promotedAt, err := Promote(ctx, r1.db, PromoteOptions{SemiSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if !promotedAt.AtLeast(final) {
		t.Fatalf("promoted at %s, before the old primary's %s", promotedAt, final)
	}
	if errant := Errant(executed(t, primary), promotedAt); len(errant) != 0 {
		t.Fatalf("the fenced primary has errant transactions %v", errant)
	}
	for _, r := range []*server{r2, primary} {
		if err := Follow(ctx, r.db, r1.source(), FollowOptions{SemiSync: true}); err != nil {
			t.Fatal(err)
		}
	}
	if count(t, r1.db, "SELECT @@GLOBAL.read_only") != 0 {
		t.Fatal("the promoted server is read-only")
	}
	mustExec(t, r1.db, "INSERT INTO app.t VALUES (3)")
	for _, r := range []*server{r2, primary} {
		waitFor(t, r, executed(t, r1))
		if n := count(t, r.db, "SELECT COUNT(*) FROM app.t"); n != 3 {
			t.Fatalf("server %d has %d rows after the reparent, want 3", r.cfg.ServerID, n)
		}
	}
}

// TestErrantTransactionsOfAReturningPrimary is an unplanned failover: the
// primary writes a transaction no replica received, a replica is promoted
// without it, and the old primary's errant transaction is found by
// position before it could follow.
func TestErrantTransactionsOfAReturningPrimary(t *testing.T) {
	ctx := context.Background()
	primary, replica := startServer(t, 1), startServer(t, 2)
	if _, err := Promote(ctx, primary.db, PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Follow(ctx, replica.db, primary.source(), FollowOptions{}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, primary.db, "CREATE DATABASE app", "CREATE TABLE app.t (id INT PRIMARY KEY)")
	waitFor(t, replica, executed(t, primary))
	// The link breaks; the primary writes on alone.
	if err := StopFollowing(ctx, replica.db); err != nil {
		t.Fatal(err)
	}
	mustExec(t, primary.db, "INSERT INTO app.t VALUES (1)")
	promotedAt, err := Promote(ctx, replica.db, PromoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errant := Errant(executed(t, primary), promotedAt)
	if len(errant) != 1 || errant[0].Server != 1 {
		t.Fatalf("errant = %v, want the old primary's insert", errant)
	}
}

// TestWaitForTimesOut checks that a position never reached ends the wait
// with ErrWaitTimedOut when the context's deadline passes.
func TestWaitForTimesOut(t *testing.T) {
	s := startServer(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := WaitFor(ctx, s.db, gtidpos.MustParse("0-9-1000"))
	if !errors.Is(err, ErrWaitTimedOut) {
		t.Fatalf("WaitFor a position never written: %v, want ErrWaitTimedOut", err)
	}
	if !strings.Contains(err.Error(), "0-9-1000") {
		t.Errorf("error %q does not name the position", err)
	}
	if st, err := ReadStatus(context.Background(), s.db); err != nil || st.Configured {
		t.Errorf("a server that follows nobody: status %+v, %v", st, err)
	}
}
