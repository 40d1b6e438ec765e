package integration

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// xaRecover lists the gtrids of the prepared XA transactions a MariaDB
// server holds, read directly on the server.
func xaRecover(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("XA RECOVER")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var format, glen, blen int
		var data string
		if err := rows.Scan(&format, &glen, &blen, &data); err != nil {
			t.Fatal(err)
		}
		out = append(out, data[:glen])
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func seqRows(t *testing.T, db *sql.DB, n int) int {
	t.Helper()
	var count int
	if err := db.QueryRow("SELECT COUNT(*) FROM ks.seq WHERE n = ?", n).Scan(&count); err != nil {
		t.Fatal(err)
	}
	return count
}

// TestTabletTwoPhaseCommit drives the tablet's XA calls against a real
// MariaDB and checks the outcome on the server itself.
func TestTabletTwoPhaseCommit(t *testing.T) {
	qcfg, direct := startServiceMySQL(t)
	svc := runService(t, qcfg)
	ctx := context.Background()
	// The helpers take the (sub)test they run in: failing the parent test
	// from a subtest would abort the binary before its cleanups.
	begin := func(t *testing.T, dtid, sql string) int64 {
		t.Helper()
		resp, err := svc.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: []byte(sql), Options: &querypb.ExecuteOptions{Dtid: dtid}})
		if err != nil {
			t.Fatalf("begin %s: %v", dtid, err)
		}
		return resp.TransactionId
	}
	prepare := func(t *testing.T, id int64) error {
		_, err := svc.Prepare(ctx, &querypb.PrepareRequest{Target: target, TransactionId: id})
		return err
	}
	commitPrepared := func(t *testing.T, dtid string) bool {
		t.Helper()
		resp, err := svc.CommitPrepared(ctx, &querypb.CommitPreparedRequest{Target: target, Dtid: dtid})
		if err != nil {
			t.Fatalf("commit prepared %s: %v", dtid, err)
		}
		return resp.NotPrepared
	}
	rollbackPrepared := func(t *testing.T, dtid string) bool {
		t.Helper()
		resp, err := svc.RollbackPrepared(ctx, &querypb.RollbackPreparedRequest{Target: target, Dtid: dtid})
		if err != nil {
			t.Fatalf("rollback prepared %s: %v", dtid, err)
		}
		return resp.NotPrepared
	}

	t.Run("OnePhaseCommit", func(t *testing.T) {
		id := begin(t, "one", "INSERT INTO seq VALUES (200)")
		if _, err := svc.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: id}); err != nil {
			t.Fatal(err)
		}
		if seqRows(t, direct, 200) != 1 || len(xaRecover(t, direct)) != 0 {
			t.Fatal("a branch committed in one phase must be committed and not left prepared")
		}
	})

	t.Run("PrepareThenCommit", func(t *testing.T) {
		id := begin(t, "two", "INSERT INTO seq VALUES (201)")
		if err := prepare(t, id); err != nil {
			t.Fatal(err)
		}
		if got := xaRecover(t, direct); !slices.Equal(got, []string{"two"}) {
			t.Fatalf("XA RECOVER = %v, want [two]", got)
		}
		listed, err := svc.ListPrepared(ctx, &querypb.ListPreparedRequest{Target: target})
		if err != nil || len(listed.Transactions) != 1 || listed.Transactions[0].Branch != "ks/0" || !listed.Transactions[0].Held {
			t.Fatalf("ListPrepared = %v, %v; want branch ks/0 of two, held", listed, err)
		}
		_, err = svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: []byte("SELECT 1"), TransactionId: id})
		if sqlErrCode(err) != sqlerr.ERXAERRmfail {
			t.Fatalf("a statement in a prepared transaction: %v, want error 1399", err)
		}
		if seqRows(t, direct, 201) != 0 {
			t.Fatal("a prepared row must not be visible before commit")
		}
		if commitPrepared(t, "two") {
			t.Fatal("the first CommitPrepared reported the branch not prepared")
		}
		if seqRows(t, direct, 201) != 1 {
			t.Fatal("CommitPrepared did not commit the row")
		}
		if !commitPrepared(t, "two") {
			t.Fatal("a second CommitPrepared must report the branch as no longer prepared")
		}
	})

	t.Run("IdleTimeoutSparesPreparedBranches", func(t *testing.T) {
		prepared := begin(t, "kept", "INSERT INTO seq VALUES (202)")
		if err := prepare(t, prepared); err != nil {
			t.Fatal(err)
		}
		idle := begin(t, "idle", "INSERT INTO seq VALUES (203)")
		// Wait for the idle killer (1 s timeout) to take the unprepared
		// branch: MariaDB then lists one transaction, the prepared one.
		// One pass of the killer sees both.
		deadline := time.Now().Add(10 * time.Second)
		for innodbTransactions(t, direct) != 1 {
			if time.Now().After(deadline) {
				t.Fatal("the idle branch was not rolled back")
			}
			time.Sleep(innodbTrxRefresh)
		}
		_, err := svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: []byte("SELECT 1"), TransactionId: idle})
		if err == nil || !strings.Contains(err.Error(), "idle") {
			t.Fatalf("the idle branch: %v, want it reported as rolled back for idling", err)
		}
		if got := xaRecover(t, direct); !slices.Equal(got, []string{"kept"}) {
			t.Fatalf("XA RECOVER = %v after the idle timeout, want [kept]", got)
		}
		if rollbackPrepared(t, "kept") {
			t.Fatal("RollbackPrepared reported the kept branch not prepared")
		}
		if seqRows(t, direct, 202)+seqRows(t, direct, 203) != 0 {
			t.Fatal("rolled back rows are on the server")
		}
	})

	t.Run("PreparedBranchOutlivesTheTablet", func(t *testing.T) {
		other := runService(t, qcfg)
		id, err := other.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: []byte("INSERT INTO seq VALUES (204)"), Options: &querypb.ExecuteOptions{Dtid: "outlives"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Prepare(ctx, &querypb.PrepareRequest{Target: target, TransactionId: id.TransactionId}); err != nil {
			t.Fatal(err)
		}
		other.Close() // the tablet process stops
		if got := xaRecover(t, direct); !slices.Equal(got, []string{"outlives"}) {
			t.Fatalf("XA RECOVER = %v after the tablet stopped, want [outlives]", got)
		}
		listed, err := svc.ListPrepared(ctx, &querypb.ListPreparedRequest{Target: target})
		if err != nil || len(listed.Transactions) != 1 || listed.Transactions[0].Held {
			t.Fatalf("ListPrepared on another tablet process = %v, %v; want one branch, not held", listed, err)
		}
		// Right after a disconnect MariaDB may still hold the branch for
		// the closing connection; the tablet says so and the caller
		// retries, as a coordinator's recovery does.
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := svc.CommitPrepared(ctx, &querypb.CommitPreparedRequest{Target: target, Dtid: "outlives"})
			if err == nil {
				if resp.NotPrepared {
					t.Fatal("the detached branch was reported not prepared")
				}
				break
			}
			if sqlErrCode(err) != sqlerr.ERXAERRmfail || time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if seqRows(t, direct, 204) != 1 {
			t.Fatal("the row of the branch committed by another tablet process is missing")
		}
		if !rollbackPrepared(t, "outlives") {
			t.Fatal("RollbackPrepared after the commit must report the branch as not prepared")
		}
	})

	t.Run("HeldConnectionLost", func(t *testing.T) {
		id := begin(t, "held", "INSERT INTO seq VALUES (207)")
		if err := prepare(t, id); err != nil {
			t.Fatal(err)
		}
		// The connection holding the prepared branch dies (as when MySQL
		// restarts): the branch stays prepared, detached, and the tablet
		// commits it on another connection.
		killOnlyTransaction(t, direct)
		if got := xaRecover(t, direct); !slices.Equal(got, []string{"held"}) {
			t.Fatalf("XA RECOVER = %v after the connection was killed, want [held]", got)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := svc.CommitPrepared(ctx, &querypb.CommitPreparedRequest{Target: target, Dtid: "held"})
			if err == nil {
				if resp.NotPrepared {
					t.Fatal("the detached branch was reported not prepared")
				}
				break
			}
			if sqlErrCode(err) != sqlerr.ERXAERRmfail || time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if seqRows(t, direct, 207) != 1 {
			t.Fatal("the branch whose connection died did not commit")
		}
	})

	t.Run("RollbackOfAnUnpreparedBranch", func(t *testing.T) {
		id := begin(t, "unprepared", "INSERT INTO seq VALUES (205)")
		if rollbackPrepared(t, "unprepared") {
			t.Fatal("the open branch was reported not prepared instead of rolled back")
		}
		if seqRows(t, direct, 205) != 0 {
			t.Fatal("the row of the rolled back branch is there")
		}
		if _, err := svc.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: id}); err == nil {
			t.Fatal("committing a branch rolled back by its coordinator must fail")
		}
	})

	t.Run("LostConnectionFailsPrepare", func(t *testing.T) {
		id := begin(t, "lost", "INSERT INTO seq VALUES (206)")
		killOnlyTransaction(t, direct)
		if err := prepare(t, id); err == nil {
			t.Fatal("prepare on a killed connection succeeded")
		}
		// The coordinator then rolls back: the branch died with its
		// connection, which counts as rolled back.
		if _, err := svc.RollbackPrepared(ctx, &querypb.RollbackPreparedRequest{Target: target, Dtid: "lost"}); err != nil {
			t.Fatalf("rollback after a failed prepare: %v", err)
		}
		if seqRows(t, direct, 206) != 0 || len(xaRecover(t, direct)) != 0 {
			t.Fatal("the branch of the killed connection left a row or a prepared XID")
		}
	})

	t.Run("DeadlockVictimCannotPrepare", func(t *testing.T) {
		// UPDATE, not SELECT ... FOR UPDATE: MariaDB takes the lock of a
		// primary key lookup while optimizing, and innodb_trx does not show
		// that wait as LOCK WAIT.
		a := begin(t, "dla", "UPDATE seq SET n = n WHERE n = 1")
		b := begin(t, "dlb", "UPDATE seq SET n = n WHERE n = 2")
		lock := func(id int64, n string) error {
			_, err := svc.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: []byte("UPDATE seq SET n = n WHERE n = " + n), TransactionId: id})
			return err
		}
		var wg sync.WaitGroup
		var errA error
		wg.Go(func() { errA = lock(a, "2") }) // waits for b
		// b's lock of row 1 closes the cycle once a waits; until then it
		// may simply wait for a. Either way one of them is the victim.
		if !waitForLockWait(t, direct) {
			wg.Wait()
			t.Fatalf("a's lock of row 2 did not wait for b: %v", errA)
		}
		errB := lock(b, "1")
		wg.Wait()
		var victim, survivor string
		var victimID, survivorID int64
		switch {
		case sqlErrCode(errA) == 1213 && errB == nil:
			victim, victimID, survivor, survivorID = "dla", a, "dlb", b
		case sqlErrCode(errB) == 1213 && errA == nil:
			victim, victimID, survivor, survivorID = "dlb", b, "dla", a
		default:
			t.Fatalf("want one deadlock victim: a: %v, b: %v", errA, errB)
		}
		err := prepare(t, victimID)
		if se := sqlerr.From(err); err == nil || se.Num != sqlerr.ERXARBRollback || !strings.Contains(se.Message, victim) {
			t.Fatalf("prepare of the deadlock victim: %v, want XA_RBROLLBACK (1402) naming %s", err, victim)
		}
		if err := prepare(t, survivorID); err != nil {
			t.Fatal(err)
		}
		if rollbackPrepared(t, survivor) || rollbackPrepared(t, victim) {
			t.Fatal("rolling back the branches reported one as not there")
		}
		if got := xaRecover(t, direct); len(got) != 0 {
			t.Fatalf("XA RECOVER = %v at the end, want nothing prepared", got)
		}
	})

	t.Run("BadDTIDRefused", func(t *testing.T) {
		_, err := svc.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: []byte("SELECT 1"), Options: &querypb.ExecuteOptions{Dtid: "x'; DROP TABLE seq; --"}})
		if err == nil || !strings.Contains(err.Error(), "invalid dtid") {
			t.Fatalf("a dtid with quotes: %v, want refused", err)
		}
	})
}

// waitForLockWait waits until some transaction on the server waits for a
// row lock, and reports whether one did. The tablet kills a statement
// after 500 ms, so the wait must be seen within that.
func waitForLockWait(t *testing.T, db *sql.DB) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(innodbTrxRefresh)
	}
}

// innodbTransactions counts the transactions MariaDB has open, prepared XA
// branches included.
func innodbTransactions(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.innodb_trx").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// innodbTrxRefresh is how long to wait between reads of innodb_trx:
// InnoDB refreshes that table only when nobody read it for 100 ms, so
// polling faster would read the same stale snapshot forever.
const innodbTrxRefresh = 150 * time.Millisecond

// killOnlyTransaction kills the connection of the one transaction open on
// a MariaDB server. innodb_trx is read only after a pause, so that the
// snapshot is taken now: an older one may list a transaction since ended,
// whose connection now idles in a pool.
func killOnlyTransaction(t *testing.T, db *sql.DB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(innodbTrxRefresh)
		var thread int64
		var n, alive int
		if err := db.QueryRow("SELECT COUNT(*), COALESCE(MAX(trx_mysql_thread_id), 0) FROM information_schema.innodb_trx").Scan(&n, &thread); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE id = ?", thread).Scan(&alive); err != nil {
			t.Fatal(err)
		}
		if n == 1 && alive == 1 {
			if _, err := db.Exec(fmt.Sprintf("KILL %d", thread)); err != nil {
				t.Fatal(err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions open (connection %d alive: %v), want exactly the test's", n, thread, alive == 1)
		}
	}
}
