package integration

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestLongOutageShardServesSoonAfterReturn: a shard whose tablet and
// mariadbd were down for 45 s serves through the gate soon after they
// return. Before the tablet reconnect was bounded, gRPC's own reconnect
// backoff (growing to 120 s) left such a shard unserved 30-50 s after its
// tablet was back. The test asserts that the shard serves again and logs
// how long after the tablet answered; it asserts no time.
func TestLongOutageShardServesSoonAfterReturn(t *testing.T) {
	c := startCluster(t)
	db := openDB(t, c.GateDSN("ks"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := db.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1)"); err != nil {
		t.Fatal(err)
	}
	var tab = c.Tablets()[0]
	for _, x := range c.Tablets() {
		if x.Keyspace == "ks" {
			tab = x
			break
		}
	}
	if err := c.KillTablet(tab.Alias); err != nil {
		t.Fatal(err)
	}
	if err := c.StopMySQLD(ctx, tab.Alias); err != nil {
		t.Fatal(err)
	}
	// A scatter read needs every shard.
	scatter := func() error {
		qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
		defer qcancel()
		var n int
		return db.QueryRowContext(qctx, "SELECT COUNT(*) FROM acct").Scan(&n)
	}
	if err := scatter(); err == nil {
		t.Fatalf("the gate served a scatter read with shard %s down", tab.Shard)
	}
	const outage = 45 * time.Second
	t.Logf("shard %s/%s down for %v", tab.Keyspace, tab.Shard, outage)
	time.Sleep(outage)

	// The tablet starts its mariadbd. Watch for the tablet's HTTP port and
	// for the gate serving, apart from StartTablet, which itself waits for
	// the gate.
	started := time.Now()
	startErr := make(chan error, 1)
	go func() { startErr <- c.StartTablet(ctx, tab.Alias) }()
	var tabletUp, served time.Time
	for served.IsZero() {
		if ctx.Err() != nil {
			t.Fatalf("shard %s never served again after its tablet returned", tab.Shard)
		}
		if tabletUp.IsZero() {
			if resp, err := http.Get("http://" + tab.HTTPAddr + "/debug/status"); err == nil {
				resp.Body.Close()
				tabletUp = time.Now()
			}
		}
		if !tabletUp.IsZero() && scatter() == nil {
			served = time.Now()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := <-startErr; err != nil {
		t.Fatalf("StartTablet: %v", err)
	}
	t.Logf("after a %v outage: tablet (and its mariadbd) answered %v after relaunch; the gate served the shard %v after the tablet answered",
		outage, tabletUp.Sub(started).Round(time.Millisecond), served.Sub(tabletUp).Round(time.Millisecond))
	if _, err := db.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (7, 1)"); err != nil {
		t.Fatalf("a write after the outage: %v", err)
	}
}
