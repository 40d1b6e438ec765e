package integration

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/localcluster"
)

// TestHungTablet: a tablet whose process stops (SIGSTOP: its ports still
// accept connections, it answers nothing) fails the statements that need
// its shard within the gate's --tablet-health-timeout (3 s) instead of the
// 60 s query timeout, statements already waiting on it included; the other
// shards answer meanwhile; a transaction on it fails naming it and
// ROLLBACK ends the rest at once; and after SIGCONT it serves again.
//
// Its statements go through the tablets: a direct read (the local
// cluster's default) runs on MariaDB without the hung process, and only
// stops being sent to the shard once the tablet is declared unhealthy.
func TestHungTablet(t *testing.T) {
	c := startClusterWith(t, func(cfg *localcluster.Config) { cfg.ThroughTablets = true })
	var names []string
	tablets := map[string]localcluster.Tablet{}
	for _, tab := range c.Tablets() {
		if tab.Keyspace == "ks" {
			names = append(names, tab.Shard)
			tablets[tab.Shard] = tab
		}
	}
	hungShard, otherShard := names[0], names[len(names)-1]
	victim := tablets[hungShard]
	idOf := map[string]int64{}
	for _, id := range idsOnEveryShard(t, 9100, names) {
		idOf[shardOf(t, id, names)] = id
	}
	gate := openDB(t, c.GateDSN("ks"))
	for _, id := range idOf {
		if _, err := gate.Exec(fmt.Sprintf("INSERT INTO acct (id, balance) VALUES (%d, 100)", id)); err != nil {
			t.Fatal(err)
		}
	}
	// Registered after the cluster's Close, so it runs before it.
	t.Cleanup(func() { _ = c.ResumeTablet(victim.Alias) })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	query := func(sql string) (time.Duration, error) {
		start := time.Now()
		rows, err := gate.QueryContext(ctx, sql)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		return time.Since(start), err
	}
	scatter := "SELECT COUNT(*) FROM acct"
	pointOn := func(shard string) string { return fmt.Sprintf("SELECT balance FROM acct WHERE id = %d", idOf[shard]) }
	wantHung := func(what string, err error, inFlight bool) {
		t.Helper()
		var me *mysql.MySQLError
		if !errors.As(err, &me) {
			t.Fatalf("%s: %v; want MySQL error 1105", what, err)
		}
		name := fmt.Sprintf("tablet %s of ks/%s stopped answering health checks", victim.Alias, hungShard)
		if me.Number != 1105 || string(me.SQLState[:]) != "HY000" || !strings.Contains(me.Message, name) {
			t.Fatalf("%s: %d (%s) %q; want 1105 (HY000) containing %q", what, me.Number, me.SQLState, me.Message, name)
		}
		if inFlight != strings.Contains(me.Message, "stopped waiting") {
			t.Fatalf("%s: %q; want in flight = %v", what, me.Message, inFlight)
		}
	}

	// A transaction with a shard session on the tablet and on another.
	tx, err := gate.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for _, sql := range []string{"BEGIN",
		fmt.Sprintf("UPDATE acct SET balance = balance + 1 WHERE id = %d", idOf[hungShard]),
		fmt.Sprintf("UPDATE acct SET balance = balance + 1 WHERE id = %d", idOf[otherShard]),
	} {
		if _, err := tx.ExecContext(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	// A statement in flight on the tablet when it stops: wait until its
	// shard's MariaDB runs it.
	type outcome struct {
		took time.Duration
		err  error
	}
	inFlight := make(chan outcome, 1)
	go func() {
		took, err := query(fmt.Sprintf("SELECT id, SLEEP(10) FROM acct WHERE id = %d", idOf[hungShard]))
		inFlight <- outcome{took, err}
	}()
	shardDB := openDB(t, victim.MySQLDSN())
	for {
		var n int
		if err := shardDB.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '%SLEEP(10)%' AND id <> CONNECTION_ID()").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := c.PauseTablet(victim.Alias); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	scatterAtPause := make(chan outcome, 1)
	go func() {
		took, err := query(scatter)
		scatterAtPause <- outcome{took, err}
	}()

	// The other shards do not wait for it.
	if took, err := query(pointOn(otherShard)); err != nil || took > 2*time.Second {
		t.Fatalf("point query on shard %s while %s hangs: %v after %v", otherShard, hungShard, err, took)
	}
	wait := func(what string, ch chan outcome) outcome {
		t.Helper()
		select {
		case o := <-ch:
			return o
		case <-ctx.Done():
			t.Fatalf("%s: still waiting after the test's deadline", what)
			return outcome{}
		}
	}
	o := wait("statement in flight", inFlight)
	wantHung("statement in flight", o.err, true)
	inFlightAfter := time.Since(paused)
	// Issued before the tablet was declared unhealthy: it waited on it.
	o = wait("scatter issued at the pause", scatterAtPause)
	wantHung("scatter issued at the pause", o.err, true)
	scatterAfter := o.took

	// Declared unhealthy now: refused at once.
	took, err := query(scatter)
	wantHung("scatter", err, false)
	_, err = query(pointOn(hungShard))
	wantHung("point query on the hung shard", err, false)
	if took, err := query(pointOn(otherShard)); err != nil {
		t.Fatalf("point query on shard %s: %v after %v", otherShard, err, took)
	}
	t.Logf("tablet paused: statement in flight failed %v after the pause, a scatter issued at the pause after %v, a scatter issued later after %v",
		inFlightAfter.Round(time.Millisecond), scatterAfter.Round(time.Millisecond), took.Round(time.Millisecond))

	// The transaction: its statement on the tablet fails naming it;
	// ROLLBACK ends the other shard's part at once.
	_, err = tx.ExecContext(ctx, fmt.Sprintf("UPDATE acct SET balance = balance + 1 WHERE id = %d", idOf[hungShard]))
	wantHung("statement in a transaction", err, false)
	start := time.Now()
	if _, err := tx.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatalf("ROLLBACK: %v", err)
	}
	t.Logf("ROLLBACK took %v", time.Since(start).Round(time.Millisecond))
	// The other shard's row is not locked any more (NOWAIT fails at once
	// if it is) and has its old balance.
	var balance int
	if err := openDB(t, tablets[otherShard].MySQLDSN()).QueryRowContext(ctx,
		fmt.Sprintf("SELECT balance FROM acct WHERE id = %d FOR UPDATE NOWAIT", idOf[otherShard])).Scan(&balance); err != nil || balance != 100 {
		t.Fatalf("shard %s after ROLLBACK: balance %d, %v; want 100, unlocked", otherShard, balance, err)
	}

	// What the gate shows.
	httpBase := "http://127.0.0.1:" + strconv.Itoa(c.Ports().GateHTTP)
	labels := fmt.Sprintf(`keyspace="ks",shard="%s",tablet="%s"`, hungShard, victim.Alias)
	metrics := httpGet(t, httpBase+"/metrics")
	if v := sample(metrics, "shardgate_tablet_unhealthy{"+labels+"}"); v != 1 {
		t.Fatalf("shardgate_tablet_unhealthy of the hung tablet: %v, want 1", v)
	}
	if v := sample(metrics, "shardgate_tablet_unhealthy_refusals_total{"+labels+`,when="in_flight"}`); v < 1 {
		t.Fatalf("calls cancelled in flight: %v, want at least 1", v)
	}
	if v := sample(metrics, "shardgate_tablet_unhealthy_refusals_total{"+labels+`,when="new"}`); v < 3 {
		t.Fatalf("calls refused: %v, want at least 3", v)
	}
	if status := httpGet(t, httpBase+"/debug/status"); !regexp.MustCompile(regexp.QuoteMeta(victim.Alias) + ` .*UNHEALTHY \(stopped answering health checks`).MatchString(status) {
		t.Fatalf("/debug/status does not show %s unhealthy:\n%s", victim.Alias, status)
	}

	// SIGCONT: the next health message makes it serve again.
	if err := c.ResumeTablet(victim.Alias); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	ctx = rctx
	for {
		_, err := query(scatter)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("scatter still fails 20s after the tablet resumed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("serving again %v after SIGCONT", time.Since(resumed).Round(time.Millisecond))
	if _, err := query(pointOn(hungShard)); err != nil {
		t.Fatalf("point query on shard %s after it resumed: %v", hungShard, err)
	}
	if v := sample(httpGet(t, httpBase+"/metrics"), "shardgate_tablet_unhealthy{"+labels+"}"); v != 0 {
		t.Fatalf("shardgate_tablet_unhealthy after the tablet resumed: %v, want 0", v)
	}
}

// sample returns the value of the metric sample named (with its labels)
// in a /metrics page, -1 when absent.
func sample(page, name string) float64 {
	for _, line := range strings.Split(page, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}
