package integration

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/mysqld"
	"github.com/shardgate/shardgate/tablet/tabletclient"
	"github.com/shardgate/shardgate/vindex"
)

// failoverVSchema shards acct by id; the test knows each id's shard.
const failoverVSchema = `{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
  "tables": {"acct": {"column_vindexes": [{"column": "id", "name": "hash"}]}}}`

// TestReplicasAndFailover runs 8 writers and 2 readers through the gate on
// 2 shards, each a primary and 2 replicas, while the primary of shard -80
// is moved (planned reparent), its mariadbd killed, its tablet killed and
// its host frozen. After each, a replica serves as primary, every
// acknowledged write is there, the other shard never fails, and the old
// primary returns as a replica. It logs the figures the closing note
// quotes: client errors and the longest write per phase, and how long each
// failover took.
func TestReplicasAndFailover(t *testing.T) {
	c := startClusterWith(t, func(cfg *localcluster.Config) {
		cfg.Keyspaces = []localcluster.KeyspaceSpec{{Name: "ks", ShardCount: 2, VSchema: []byte(failoverVSchema),
			Schema: []byte("CREATE TABLE acct (id BIGINT PRIMARY KEY, balance INT NOT NULL)")}}
		cfg.Replicas = 2
	})
	ctx := context.Background()
	ts := c.Topo()
	waitReplicasServing(t, c, "ks", "-80", 2)
	waitReplicasServing(t, c, "ks", "80-", 2)

	gate := openDB(t, c.GateDSN("ks"))
	gate.SetMaxOpenConns(20)
	hash, err := vindex.Create("hash", "hash", nil)
	if err != nil {
		t.Fatal(err)
	}
	load := startLoad(t, gate, hash.(*vindex.Hash))
	defer load.stop()

	primaryOf := func() string {
		sh, err := ts.GetShard(ctx, "ks", "-80")
		if err != nil {
			t.Fatal(err)
		}
		return sh.PrimaryAlias
	}
	// waitNewPrimary waits until a tablet other than old is the serving
	// primary of -80 and returns it with how long it took from since.
	waitNewPrimary := func(old string, since time.Time, limit time.Duration) (string, time.Duration) {
		t.Helper()
		for time.Since(since) < limit {
			if p := primaryOf(); p != old && p != "" && tabletServesAs(c, p, topopb.TabletType_PRIMARY) {
				return p, time.Since(since)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no replica serves as the primary of ks/-80 %v after its primary %s failed", limit, old)
		return "", 0
	}
	tabletOf := func(alias string) localcluster.Tablet {
		i := slices.IndexFunc(c.Tablets(), func(t localcluster.Tablet) bool { return t.Alias == alias })
		return c.Tablets()[i]
	}
	mysqldPID := func(alias string) int {
		pid, ok := mysqld.Running(tabletOf(alias).MySQL.DataDir)
		if !ok {
			t.Fatalf("the mariadbd of %s does not run", alias)
		}
		return pid
	}
	time.Sleep(2 * time.Second) // the load runs before anything happens

	// 1. Planned reparent.
	old := primaryOf()
	load.phase("planned reparent")
	out := runShardctl(t, c, "shard", "reparent", "ks/-80")
	t.Logf("shardctl shard reparent ks/-80:\n%s", out)
	next := primaryOf()
	if next == old {
		t.Fatalf("the primary of ks/-80 is still %s after a planned reparent", old)
	}
	time.Sleep(2 * time.Second)
	waitRejoined(t, c, old)

	// 2. kill -9 of the primary's mariadbd.
	old = next
	load.phase("kill -9 of the primary's mariadbd")
	killed := time.Now()
	if err := syscall.Kill(mysqldPID(old), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	next, took := waitNewPrimary(old, killed, 10*time.Second)
	t.Logf("mariadbd of %s killed: %s serves as primary %v later", old, next, took.Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	// The host comes back: its tablet restarts, and with it its mariadbd.
	if err := c.KillTablet(old); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTablet(ctx, old); err != nil {
		t.Fatal(err)
	}
	waitRejoined(t, c, old)

	// 3. kill -9 of the primary's tablet (its mariadbd stays up).
	old = next
	load.phase("kill -9 of the primary's tablet")
	killed = time.Now()
	if err := c.KillTablet(old); err != nil {
		t.Fatal(err)
	}
	next, took = waitNewPrimary(old, killed, 10*time.Second)
	t.Logf("tablet %s killed: %s serves as primary %v later", old, next, took.Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	if err := c.StartTablet(ctx, old); err != nil {
		t.Fatal(err)
	}
	waitRejoined(t, c, old)

	// 4. The primary's host freezes: tablet and mariadbd stopped (SIGSTOP).
	old = next
	load.phase("primary's host frozen (SIGSTOP)")
	frozenPID := mysqldPID(old)
	killed = time.Now()
	if err := c.PauseTablet(old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(frozenPID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	next, took = waitNewPrimary(old, killed, 10*time.Second)
	t.Logf("host of %s frozen: %s serves as primary %v later", old, next, took.Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	_ = syscall.Kill(frozenPID, syscall.SIGCONT)
	if err := c.ResumeTablet(old); err != nil {
		t.Fatal(err)
	}
	errant := waitRejoinedOrErrant(t, c, old)
	load.phase("after")
	time.Sleep(time.Second)
	load.stop()

	// Every acknowledged write is there, on the shard's primary and on
	// its replicas.
	report := load.report()
	t.Logf("load through the gate:\n%s", report)
	acked := load.acknowledged()
	var missing []int64
	for _, id := range acked {
		var n int
		if err := gate.QueryRowContext(ctx, "SELECT COUNT(*) FROM acct WHERE id = ?", id).Scan(&n); err != nil {
			t.Fatalf("reading back %d: %v", id, err)
		}
		if n != 1 {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged writes are missing: %v", len(missing), len(acked), missing[:min(len(missing), 20)])
	}
	t.Logf("all %d acknowledged writes are there", len(acked))
	if errs := load.errorsOn("80-"); len(errs) > 0 {
		t.Fatalf("the other shard (80-) failed %d times while -80 failed over: %v", len(errs), errs[:min(len(errs), 5)])
	}
	if len(errant) > 0 {
		t.Logf("the frozen primary %s came back with errant transactions %v (committed after its replicas were repointed; reported, not replicated)", old, errant)
	}
}

// tabletServesAs reports whether a tablet's health says it serves as typ.
func tabletServesAs(c *localcluster.Cluster, alias string, typ topopb.TabletType) bool {
	h, err := tabletHealth(c, alias)
	return err == nil && h.GetServing() && h.GetStats().GetTabletType() == typ
}

// waitReplicasServing waits until a shard has n serving replicas that
// replicate.
func waitReplicasServing(t *testing.T, c *localcluster.Cluster, keyspace, shard string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		serving := 0
		for _, tab := range c.Tablets() {
			if tab.Keyspace != keyspace || tab.Shard != shard {
				continue
			}
			h, err := tabletHealth(c, tab.Alias)
			if err == nil && h.GetServing() && h.GetStats().GetTabletType() == topopb.TabletType_REPLICA && h.GetStats().GetReplication().GetSqlRunning() {
				serving++
			}
		}
		if serving >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s has %d serving replicas after 60 s, want %d", keyspace, shard, serving, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitRejoined waits until alias serves as a replica that replicates.
func waitRejoined(t *testing.T, c *localcluster.Cluster, alias string) {
	t.Helper()
	if errant := waitRejoinedOrErrant(t, c, alias); len(errant) > 0 {
		t.Fatalf("%s came back with errant transactions %v", alias, errant)
	}
}

// waitRejoinedOrErrant waits until alias serves as a replica, or reports
// errant transactions (and then does not replicate them).
func waitRejoinedOrErrant(t *testing.T, c *localcluster.Cluster, alias string) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		h, err := tabletHealth(c, alias)
		if err == nil {
			r := h.GetStats().GetReplication()
			if len(r.GetErrant()) > 0 {
				if r.GetSqlRunning() {
					t.Fatalf("%s replicates although it holds errant transactions %v", alias, r.GetErrant())
				}
				return r.GetErrant()
			}
			if h.GetServing() && h.GetStats().GetTabletType() == topopb.TabletType_REPLICA && r.GetIoRunning() && r.GetSqlRunning() {
				return nil
			}
			last = fmt.Sprintf("serving %v, type %v, replication %v, health error %q", h.GetServing(), h.GetStats().GetTabletType(), r, h.GetStats().GetHealthError())
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s does not serve as a replica 60 s after it came back: %s", alias, last)
	return nil
}

// load is writers and readers through the gate, recording every
// acknowledged write and every error by phase and shard.
type load struct {
	t      *testing.T
	gate   *sql.DB
	hash   *vindex.Hash
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	current  string
	phases   []string
	stats    map[string]*phaseStats
	acked    []int64
	errs     map[string][]string // by shard
	stopOnce sync.Once
}

type phaseStats struct {
	writes, reads, writeErrors, readErrors int
	longestWrite                           time.Duration
}

func startLoad(t *testing.T, gate *sql.DB, hash *vindex.Hash) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{t: t, gate: gate, hash: hash, cancel: cancel, stats: map[string]*phaseStats{}, errs: map[string][]string{}}
	l.phase("steady")
	for w := range 8 {
		l.wg.Add(1)
		go l.writer(ctx, int64(w+1)*1_000_000)
	}
	for range 2 {
		l.wg.Add(1)
		go l.reader(ctx)
	}
	return l
}

func (l *load) shardOf(id int64) string {
	if l.hash.HashUint64(uint64(id))[0] < 0x80 {
		return "-80"
	}
	return "80-"
}

func (l *load) phase(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.current = name
	l.phases = append(l.phases, name)
	l.stats[name] = &phaseStats{}
}

func (l *load) writer(ctx context.Context, base int64) {
	defer l.wg.Done()
	for n := int64(0); ctx.Err() == nil; n++ {
		id := base + n
		start := time.Now()
		_, err := l.gate.ExecContext(ctx, "INSERT INTO acct (id, balance) VALUES (?, ?)", id, n)
		took := time.Since(start)
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		st := l.stats[l.current]
		st.writes++
		st.longestWrite = max(st.longestWrite, took)
		if err != nil {
			st.writeErrors++
			l.errs[l.shardOf(id)] = append(l.errs[l.shardOf(id)], fmt.Sprintf("%s: insert %d: %v", l.current, id, err))
		} else {
			l.acked = append(l.acked, id)
		}
		l.mu.Unlock()
		if err != nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (l *load) reader(ctx context.Context) {
	defer l.wg.Done()
	for ctx.Err() == nil {
		l.mu.Lock()
		var id int64
		if len(l.acked) > 0 {
			id = l.acked[rand.IntN(len(l.acked))]
		}
		l.mu.Unlock()
		if id == 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		var balance int
		err := l.gate.QueryRowContext(ctx, "SELECT balance FROM acct WHERE id = ?", id).Scan(&balance)
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		st := l.stats[l.current]
		st.reads++
		if err != nil {
			st.readErrors++
			l.errs[l.shardOf(id)] = append(l.errs[l.shardOf(id)], fmt.Sprintf("%s: read %d: %v", l.current, id, err))
		}
		l.mu.Unlock()
		if err != nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (l *load) stop() {
	l.stopOnce.Do(func() {
		l.cancel()
		l.wg.Wait()
	})
}

func (l *load) acknowledged() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

func (l *load) errorsOn(shard string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs[shard])
}

func (l *load) report() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%-36s %8s %8s %8s %8s %14s\n", "phase", "writes", "errors", "reads", "errors", "longest write")
	for _, p := range l.phases {
		st := l.stats[p]
		fmt.Fprintf(&b, "%-36s %8d %8d %8d %8d %14v\n", p, st.writes, st.writeErrors, st.reads, st.readErrors, st.longestWrite.Round(time.Millisecond))
	}
	for _, shard := range []string{"-80", "80-"} {
		for i, e := range l.errs[shard] {
			if i == 10 {
				fmt.Fprintf(&b, "  ... %d more on %s\n", len(l.errs[shard])-10, shard)
				break
			}
			fmt.Fprintf(&b, "  %s %s\n", shard, e)
		}
	}
	return b.String()
}

// tabletHealth reads one health report of a tablet.
func tabletHealth(c *localcluster.Cluster, alias string) (*querypb.StreamHealthResponse, error) {
	t, err := c.Topo().GetTablet(context.Background(), alias)
	if err != nil {
		return nil, err
	}
	conn, err := tabletclient.Dial(t)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stream, err := conn.QueryService().StreamHealth(ctx, &querypb.StreamHealthRequest{})
	if err != nil {
		return nil, err
	}
	return stream.Recv()
}
