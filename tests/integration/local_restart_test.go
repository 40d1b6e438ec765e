package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/localcluster"
)

// TestLocalUpRestoresAShardWhoseDataIsGone restarts a local cluster after
// one shard's server lost its data directory: the shard comes back from
// its latest backup and archived binlogs, with the rows it had, instead of
// being initialized and served empty.
func TestLocalUpRestoresAShardWhoseDataIsGone(t *testing.T) {
	c := startClusterWith(t, func(cfg *localcluster.Config) { cfg.Keyspaces = backupKeyspaces })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	gate := openDB(t, c.GateDSN("ks"))
	insertRows(t, gate, "acct", 1, 1000, func(i int) string { return fmt.Sprintf("(%d, %d, 'n%d')", i, i, i) })
	runShardctl(t, c, "backup", "create", "ks")
	// Rows after the backup reach the shard again through the archive.
	insertRows(t, gate, "acct", 1001, 1200, func(i int) string { return fmt.Sprintf("(%d, %d, NULL)", i, i) })
	runShardctl(t, c, "backup", "archive-binlogs", "ks")
	before := shardChecksums(t, c)
	gate.Close()

	low, _ := c.Tablet("ks", "-80")
	if err := c.WipeTablet(ctx, low.Alias); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// The same cluster again: its data dir, ports and keyspaces.
	cfg := localcluster.Config{DataDir: c.DataDir(), BinDir: binDir, BasePort: c.State().BasePort, Keyspaces: backupKeyspaces}
	c, err := localcluster.Up(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatalf("local cluster, restarted without the data of -80: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	after := shardChecksums(t, c)
	for shard, sums := range before {
		sameChecksums(t, "shard "+shard+" after the restart", after[shard], sums)
	}
	var n int
	if err := openDB(t, c.GateDSN("ks")).QueryRow("SELECT COUNT(*) FROM acct").Scan(&n); err != nil || n != 1200 {
		t.Fatalf("the gate counts %d rows of acct after the restart (%v), want 1200", n, err)
	}
}
