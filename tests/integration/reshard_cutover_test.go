package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// TestReshardCutoverFailureLeavesSourcesServing breaks a switch of writes
// half way (a source tablet cannot stop taking writes: a transaction
// stays open on it past the drain timeout, after the gates already hold
// the keyspace's writes) and checks that it is undone: the sources serve
// as before, the workflow says what happened, the next switch succeeds,
// and no write is lost. Before that, a switch while another operator
// holds the keyspace's lock is refused with the holder's name.
func TestReshardCutoverFailureLeavesSourcesServing(t *testing.T) {
	c := startReshardCluster(t)
	w := startWorkload(t, c, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := c.AddShards(ctx, "rs", reshardTargets); err != nil {
		t.Fatal(err)
	}
	reshardCLI(t, c, "reshard", "create", "--keyspace", "rs", "--from", strings.Join(reshardSources, ","), "--to", strings.Join(reshardTargets, ","))
	waitCopied(t, c, 3*time.Minute)
	topoFlags := []string{"--topo", c.TopoAddr(), "--topo-root", c.TopoRoot()}

	// 1. Another operator holds the keyspace.
	lock, err := c.Topo().LockKeyspace(ctx, "rs", "alice@elsewhere (pid 1)", "reshard reverse")
	if err != nil {
		t.Fatal(err)
	}
	out, err := shardctl(t, time.Minute, append([]string{"reshard", "switch-writes", "--keyspace", "rs"}, topoFlags...)...)
	if err == nil || !strings.Contains(out, "keyspace rs is locked by alice@elsewhere (pid 1) for reshard reverse since") {
		t.Fatalf("switch-writes while the keyspace is locked: %v\n%s", err, out)
	}
	lock.Release()

	// 2. A transaction open on a source's tablet, not through a gate.
	src, ok := c.Tablet("rs", "80-")
	if !ok {
		t.Fatal("no tablet for shard 80-")
	}
	// MariaDB's read_only follows the tablet's fence: a serving primary's
	// server takes writes from users without READ_ONLY ADMIN.
	srcWriter := fencedWriter(t, ctx, src, "customer")
	checkServerFence(t, ctx, srcWriter, "customer", false, "source 80- before the switch")
	conn, err := grpc.NewClient(src.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	svc := querypb.NewQueryServiceClient(conn)
	target := &querypb.Target{Keyspace: "rs", Shard: "80-", TabletType: topopb.TabletType_PRIMARY}
	begun, err := svc.Begin(ctx, &querypb.BeginRequest{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	before := w.commits.Load()
	out, err = shardctl(t, time.Minute, append([]string{"reshard", "switch-writes", "--keyspace", "rs", "--drain-timeout", "500ms"}, topoFlags...)...)
	t.Logf("switch-writes with a transaction open on a source:\n%s", out)
	if err == nil || !strings.Contains(out, "switch-writes failed at step stopSourceWrites and was undone (the shards -80,80- serve as before)") {
		t.Fatalf("switch-writes: %v, want undone at stopSourceWrites", err)
	}
	status := reshardCLI(t, c, "reshard", "status", "--keyspace", "rs")
	t.Logf("status after the failed switch:\n%s", status)
	for _, want := range []string{"RUNNING", "CUTOVER FAILED: switch-writes at step stopSourceWrites", "undone: the shards that served writes before serve them as before", "next: "} {
		if !strings.Contains(status, want) {
			t.Errorf("status does not say %q", want)
		}
	}
	if _, err := svc.Rollback(ctx, &querypb.RollbackRequest{Target: target, TransactionId: begun.TransactionId}); err != nil {
		t.Fatal(err)
	}
	// The sources take the clients' writes again.
	deadline := time.Now().Add(10 * time.Second)
	for w.commits.Load() < before+20 {
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions committed in the 10s after the failed switch", w.commits.Load()-before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkDiff(t, c, "after the failed switch")
	checkServerFence(t, ctx, srcWriter, "customer", false, "source 80- after the failed switch was undone")

	// 3. The switch, tried again, succeeds and clears the failure.
	held, longest := switchWrites(t, c, w, "switch-writes")
	t.Logf("switch-writes again: writes held %v, longest client transaction meanwhile %v", held, longest)
	if status := reshardCLI(t, c, "reshard", "status", "--keyspace", "rs"); strings.Contains(status, "CUTOVER FAILED") || !strings.Contains(status, "WRITES_SWITCHED") {
		t.Errorf("status after a successful switch:\n%s", status)
	}
	// The source's server refuses writes past its tablet too, and a
	// target's takes them.
	checkServerFence(t, ctx, srcWriter, "customer", true, "source 80- after switch-writes")
	dst, ok := c.Tablet("rs", reshardTargets[len(reshardTargets)-1])
	if !ok {
		t.Fatalf("no tablet for target %s", reshardTargets[len(reshardTargets)-1])
	}
	checkServerFence(t, ctx, fencedWriter(t, ctx, dst, "customer"), "customer", false, "target "+dst.Shard+" after switch-writes")
	reshardCLI(t, c, "reshard", "complete", "--keyspace", "rs")
	w.stopWorkload()
	t.Logf("%d transactions committed, %d reads", w.commits.Load(), w.reads.Load())
	w.check(t)
	checkShards(t, c, w.m, reshardTargets)
}
