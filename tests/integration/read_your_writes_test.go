package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/localcluster"
)

// TestReadYourWritesFromALaggingReplica makes a replica lag on purpose (a
// session on it holds LOCK TABLES ... READ, so its applier waits) and
// shows that a session with read_your_writes reads its own write from the
// replica target anyway: from the primary when the replica does not catch
// up in time, from the replica once it does; and that without the
// setting the same read returns the stale row.
func TestReadYourWritesFromALaggingReplica(t *testing.T) {
	c := startClusterWith(t, func(cfg *localcluster.Config) {
		cfg.Keyspaces = []localcluster.KeyspaceSpec{{Name: "ks", Schema: []byte("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO t VALUES (1, 0)")}}
		cfg.Replicas = 1
	})
	ctx := context.Background()
	waitReplicasServing(t, c, "ks", "0", 1)
	var primaryPort, replicaPort int
	var replica localcluster.Tablet
	for _, tab := range c.Tablets() {
		if h, err := tabletHealth(c, tab.Alias); err == nil && h.GetStats().GetTabletType().String() == "PRIMARY" {
			primaryPort = tab.MySQLPort()
		} else {
			replicaPort, replica = tab.MySQLPort(), tab
		}
	}
	direct := openDB(t, "root@unix("+replica.MySQL.SocketPath()+")/ks")
	lock, err := direct.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()

	gate := openDB(t, c.GateDSN("ks"))
	conn, err := gate.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	read := func() (port, v int) {
		t.Helper()
		mustExecConn(t, conn, "USE `ks@replica`")
		defer mustExecConn(t, conn, "USE ks")
		if err := conn.QueryRowContext(ctx, "SELECT @@port, v FROM t WHERE id = 1").Scan(&port, &v); err != nil {
			t.Fatal(err)
		}
		return port, v
	}
	write := func(v int) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, "UPDATE t SET v = ? WHERE id = 1", v); err != nil {
			t.Fatal(err)
		}
	}

	// The replica lags: its applier waits for the table lock.
	mustExecConn(t, lock, "LOCK TABLES t READ")
	mustExecConn(t, conn, "USE ks")
	write(1)
	if port, v := read(); v != 0 || port != replicaPort {
		t.Fatalf("without read_your_writes: read v=%d from port %d; want the replica's stale v=0 (replica %d, primary %d)", v, port, replicaPort, primaryPort)
	}
	mustExecConn(t, conn, "SET read_your_writes = ON")
	mustExecConn(t, conn, "SET read_your_writes_timeout = 0.3")
	write(2)
	start := time.Now()
	port, v := read()
	if v != 2 || port != primaryPort {
		t.Fatalf("read_your_writes with the replica behind: read v=%d from port %d; want the session's v=2 from the primary (%d)", v, port, primaryPort)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("the read fell back to the primary after %v, before its 0.3 s wait was over", waited)
	}

	// The replica catches up while the read waits: it answers.
	mustExecConn(t, conn, "SET read_your_writes_timeout = 10")
	write(3)
	go func() {
		time.Sleep(500 * time.Millisecond)
		_, _ = lock.ExecContext(ctx, "UNLOCK TABLES")
	}()
	if port, v := read(); v != 3 || port != replicaPort {
		t.Fatalf("read_your_writes while the replica catches up: read v=%d from port %d; want v=3 from the replica (%d)", v, port, replicaPort)
	}

	// A backup is taken from the healthy replica, not the primary, and
	// holds what the replica applied.
	out := runShardctl(t, c, "backup", "create", "ks/0")
	if !strings.Contains(out, "-"+replica.Alias+":") || !strings.Contains(out, "1 tables, 1 rows") {
		t.Fatalf("backup create ks/0 did not back up the replica %s's 1 row:\n%s", replica.Alias, out)
	}
}
