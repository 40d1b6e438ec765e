package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/reshard"
	"github.com/shardgate/shardgate/internal/queryrpc"
	"github.com/shardgate/shardgate/internal/tlsconfig"
	"github.com/shardgate/shardgate/internal/tlsconfig/tlstest"
	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// TestTLSEverywhere runs a cluster whose tablets speak only mutual TLS
// (gRPC and query ports), and a gate serving its gRPC port with mutual TLS
// too: statements, transactions and streamed reads go through, and a
// client without the right certificate is refused at every port.
func TestTLSEverywhere(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster")
	tablets := ca.Server("tablets")
	gateToTablets := ca.Client("gate")
	c := startClusterWith(t, func(cfg *localcluster.Config) {
		cfg.Keyspaces = cfg.Keyspaces[:1]
		cfg.Keyspaces[0].ShardCount = 2
		cfg.SpareTablets = 2 // a resharding's targets
		cfg.TabletTLS = &localcluster.TabletTLS{
			CAFile: ca.File, CertFile: tablets.CertFile, KeyFile: tablets.KeyFile,
			ClientCertFile: gateToTablets.CertFile, ClientKeyFile: gateToTablets.KeyFile,
		}
	})
	ctx := context.Background()
	gateCert := ca.Server("gate-grpc")
	if err := c.RestartGate(ctx, "--grpc-cert", gateCert.CertFile, "--grpc-key", gateCert.KeyFile, "--grpc-client-ca", ca.File,
		"--mysql-cert", gateCert.CertFile, "--mysql-key", gateCert.KeyFile, "--mysql-require-tls"); err != nil {
		t.Fatal(err)
	}
	app := ca.Client("app")
	tlsOptions := "tlsCA=" + ca.File + "&tlsCert=" + app.CertFile + "&tlsKey=" + app.KeyFile

	// The MySQL port requires TLS: a client without it is refused with
	// MySQL's 3159, and the mariadb client verifying the gate's
	// certificate gets in.
	if err := openDB(t, c.GateDSN("ks")).Ping(); err == nil {
		t.Fatal("a client without TLS got in with --mysql-require-tls")
	} else {
		mysqlErr(t, err, 3159, "HY000")
	}
	host, port, _ := net.SplitHostPort(c.GateAddr())
	out, err := exec.Command("mariadb", "-h", host, "-P", port, "-u", "root", "--ssl-verify-server-cert", "--ssl-ca", ca.File,
		"-N", "-e", "SHOW STATUS LIKE 'Ssl_cipher'; SELECT 1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1") {
		t.Fatalf("mariadb --ssl-verify-server-cert: %v\n%s", err, out)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(ca.File)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("read the test CA: %v", err)
	}
	if err := mysql.RegisterTLSConfig("gate-ca", &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}

	// Through the gate's MySQL port (TLS, verified): a write on both
	// shards (a transaction over the tablets' query ports) and a scatter
	// read.
	gate := openDB(t, c.GateDSN("ks")+"&tls=gate-ca")
	mustExec(t, gate, "INSERT INTO acct (id, balance) VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6)")
	var n int
	if err := gate.QueryRow("SELECT COUNT(*) FROM acct").Scan(&n); err != nil || n != 6 {
		t.Fatalf("count %d, %v", n, err)
	}
	// Through the gRPC port: a transaction, and an OLAP read streamed from
	// the tablets' gRPC ports.
	drv := openDriver(t, grpcDSN(c, "ks", tlsOptions))
	tx, err := drv.Begin()
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "UPDATE acct SET balance = balance + 10")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := openDriver(t, grpcDSN(c, "ks", tlsOptions+"&workload=olap")).QueryRow("SELECT SUM(balance) FROM acct").Scan(&sum); err != nil || sum != 81 {
		t.Fatalf("sum %d, %v; want 81", sum, err)
	}
	rows, err := openDriver(t, grpcDSN(c, "ks", tlsOptions+"&workload=olap")).Query("SELECT id FROM acct")
	if err != nil {
		t.Fatal(err)
	}
	for n = 0; rows.Next(); n++ {
	}
	if rows.Close(); rows.Err() != nil || n != 6 {
		t.Fatalf("streamed %d rows, %v", n, rows.Err())
	}

	// The tablets refuse clients without a certificate their CA signed.
	other := tlstest.NewCA(t, "other")
	stranger := other.Client("stranger")
	for _, tab := range c.Tablets() {
		rec, err := c.Topo().GetTablet(ctx, tab.Alias)
		if err != nil {
			t.Fatal(err)
		}
		probe := func(cfg tlsconfig.Client) control.TabletState {
			var opts []control.Option
			if cfg.Enabled() {
				tc, err := cfg.Config()
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, control.WithTabletTLS(tc))
			}
			return control.ProbeTablet(ctx, rec, opts...).State
		}
		if st := probe(tlsconfig.Client{CAFile: ca.File, CertFile: gateToTablets.CertFile, KeyFile: gateToTablets.KeyFile}); st != control.Serving {
			t.Errorf("tablet %s over mutual TLS: %s", tab.Alias, st)
		}
		for what, cfg := range map[string]tlsconfig.Client{
			"plaintext":                     {},
			"without a client certificate":  {CAFile: ca.File},
			"with another CA's certificate": {CAFile: ca.File, CertFile: stranger.CertFile, KeyFile: stranger.KeyFile},
		} {
			if st := probe(cfg); st != control.Unreachable {
				t.Errorf("tablet %s, gRPC %s: %s, want refused", tab.Alias, what, st)
			}
		}
		queryAddr := net.JoinHostPort(rec.Hostname, strconv.Itoa(int(rec.QueryPort)))
		plain := queryrpc.NewClient(queryAddr)
		_, err = plain.Execute(ctx, &querypb.ExecuteRequest{Target: &querypb.Target{Keyspace: rec.Keyspace, Shard: rec.Shard, TabletType: topopb.TabletType_PRIMARY}, Sql: []byte("select 1")})
		plain.Close()
		if err == nil {
			t.Errorf("tablet %s answered a plaintext call on its query port", tab.Alias)
		}
	}
	// And so does the gate's gRPC port.
	if err := openDriver(t, grpcDSN(c, "ks", "")).Ping(); err == nil {
		t.Error("the gate's gRPC port answered a plaintext client")
	}

	// Resharding over TLS: shardctl's calls and the streams tablets open
	// to each other present the cluster's client certificate.
	tc, err := tlsconfig.Client{CAFile: ca.File, CertFile: gateToTablets.CertFile, KeyFile: gateToTablets.KeyFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	withTLS := control.WithTabletTLS(tc)
	if _, err := c.AddShards(ctx, "ks", []string{"80-c0", "c0-"}); err != nil {
		t.Fatal(err)
	}
	ts := c.Topo()
	if _, err := reshard.CreateReshard(ctx, ts, reshard.ReshardSpec{Keyspace: "ks", Name: "tls", Sources: []string{"80-"}, Targets: []string{"80-c0", "c0-"}}, withTLS); err != nil {
		t.Fatal(err)
	}
	waitStreamsRunning(t, ts, "ks", "tls", 2)
	report, err := reshard.DiffReshard(ctx, ts, "ks", "tls", reshard.DefaultDiffOptions(), withTLS)
	if err != nil || !report.Match() {
		t.Fatalf("diff over TLS: %+v, %v", report, err)
	}
	if _, err := reshard.SwitchWrites(ctx, ts, "ks", "tls", reshard.DefaultSwitchOptions(), withTLS); err != nil {
		t.Fatal(err)
	}
	mustExec(t, gate, "UPDATE acct SET balance = balance + 1")
	if err := gate.QueryRow("SELECT SUM(balance) FROM acct").Scan(&sum); err != nil || sum != 87 {
		t.Fatalf("after the resharding over TLS: sum %d, %v; want 87", sum, err)
	}
}

// waitStreamsRunning waits until a workflow's n streams have copied and
// follow their senders.
func waitStreamsRunning(t *testing.T, ts *topo.Server, keyspace, workflow string, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := reshard.ReshardStatus(context.Background(), ts, keyspace, workflow)
		if err != nil {
			t.Fatal(err)
		}
		running := len(st.Streams) == n
		for _, s := range st.Streams {
			running = running && s.Phase == topopb.StreamStatus_RUNNING
		}
		if running {
			return
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			_ = reshard.WriteStatus(&b, st, time.Now())
			t.Fatalf("workflow %s did not start following:\n%s", workflow, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
