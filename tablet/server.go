package tablet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/sqlescape"

	"github.com/shardgate/shardgate/internal/debughttp"
	"github.com/shardgate/shardgate/internal/queryrpc"
	"github.com/shardgate/shardgate/internal/secretfile"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/backup"
	"github.com/shardgate/shardgate/tablet/queryservice"
	"github.com/shardgate/shardgate/tablet/tabletclient"
	"github.com/shardgate/shardgate/tablet/vreplication"
	"github.com/shardgate/shardgate/tablet/vstreamer"
	"github.com/shardgate/shardgate/topo"
)

// Run serves the tablet until ctx ends, then shuts down gracefully: it
// reports not serving, lets in-flight statements finish for a moment,
// rolls back open transactions and closes its connections.
//
// The steps, in order: the topology, MySQL (started or restored when the
// tablet manages it), the status page, the query service, the listeners
// and their services, the record in the topology, the resharding
// streams; then it waits, and shuts down in the reverse order.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	tabletType, _ := ParseTabletType(cfg.Type)
	log = log.With(zap.String("tablet", cfg.Alias), zap.String("keyspace", cfg.Keyspace), zap.String("shard", cfg.Shard))
	if cfg.StopMysqldOnExit && cfg.MysqldDataDir != "" {
		// Deferred first, so it runs last: after the query service and
		// the streams have let go of the server.
		defer stopOwnMysqld(cfg, log)
	}

	topoOpts, err := cfg.TopoAuth.Options()
	if err != nil {
		return err
	}
	store, err := topo.NewEtcdStore(cfg.TopoEndpoints, log, topoOpts...)
	if err != nil {
		return err
	}
	ts := topo.NewServer(store, cfg.TopoRoot)
	defer ts.Close()
	if err := checkShard(ctx, ts, cfg.Keyspace, cfg.Shard); err != nil {
		return err
	}

	reg := debughttp.NewRegistry("shardtablet")
	var backups *backup.Engine
	if cfg.BackupStorage != "" {
		if backups, err = newBackupEngine(ctx, cfg, log, reg); err != nil {
			return err
		}
		defer backups.Close()
	}
	params, err := prepareMySQL(ctx, cfg, ts, log, backups)
	if err != nil {
		return err
	}

	// Status and metrics are up before a restore, which may take long.
	var qsReady atomic.Pointer[queryservice.Service]
	var vrReady atomic.Pointer[vreplication.Engine]
	var debugToken string
	if err := secretfile.Resolve(&debugToken, cfg.DebugTokenFile, "SHARDTABLET_DEBUG_TOKEN"); err != nil {
		return fmt.Errorf("--debug-token-file: %w", err)
	}
	httpDone, err := debughttp.Serve(ctx, net.JoinHostPort(listenHost(cfg.Hostname), strconv.Itoa(cfg.HTTPPort)),
		debughttp.Mux(reg, func(w io.Writer) { writeStatus(w, cfg, qsReady.Load(), vrReady.Load(), backups) }, debughttp.WithToken(debugToken),
			debughttp.WithReady(func() error { return tabletReady(ctx, qsReady.Load()) })))
	if err != nil {
		return err
	}
	if backups != nil {
		if err := finishPendingRestore(ctx, backups, log); err != nil {
			return err
		}
	}

	// Every tablet starts as a replica; the role manager makes it the
	// primary once it holds the shard's primary lease.
	startType := tabletType
	if startType == topopb.TabletType_PRIMARY {
		startType = topopb.TabletType_REPLICA
	}
	qs, err := startQueryService(ctx, cfg, startType, params, ts, log, reg)
	if err != nil {
		return err
	}
	defer qs.Close()
	qsReady.Store(qs)
	if backups != nil {
		backups.Hooks.SetServing = qs.SetServing
		backups.Hooks.Archives = func() bool { return qs.Type() == topopb.TabletType_PRIMARY }
		backups.Start()
	}

	peerTLS, err := cfg.PeerTLS.Config()
	if err != nil {
		return fmt.Errorf("--tablet-ca/--tablet-cert: %w", err)
	}
	record := &topopb.Tablet{
		Alias: cfg.Alias, Cell: cfg.Cell, Keyspace: cfg.Keyspace, Shard: cfg.Shard, Type: startType,
		Hostname: cfg.Hostname, GrpcPort: int32(cfg.GRPCPort), MysqlPort: int32(cfg.MySQLPort), HttpPort: int32(cfg.HTTPPort),
		QueryPort: int32(cfg.QueryPort),
	}
	roles, err := newRoleManager(cfg, ts, qs, proto.Clone(record).(*topopb.Tablet), log)
	if err != nil {
		return err
	}
	roles.peerTLS = peerTLS
	// Resharding streams that send this shard rows run on its primary
	// only: the role manager runs them while the tablet is the primary.
	engine := vreplication.NewEngine(vreplication.Config{Keyspace: cfg.Keyspace, Shard: cfg.Shard, Alias: cfg.Alias, MySQL: params, PeerTLS: peerTLS},
		ts, log.Named("vreplication"), reg)
	vrReady.Store(engine)
	roles.whilePrimary = engine.Run

	srv, err := startServers(cfg, qs, &replicationServer{qs: qs, streamer: vstreamer.New(params, cfg.Keyspace, log), roles: roles}, backups, log)
	if err != nil {
		return err
	}
	defer srv.closeQueryPort()

	if err := register(ctx, ts, record); err != nil {
		srv.stop()
		return err
	}
	log.Info("tablet serving", zap.Int("grpc_port", cfg.GRPCPort), zap.Int("http_port", cfg.HTTPPort), zap.String("type", cfg.Type))

	stopRoles := runInBackground(ctx, roles.run)
	defer stopRoles()

	select {
	case <-ctx.Done():
	case err := <-srv.grpcDone:
		return fmt.Errorf("gRPC server stopped: %w", err)
	case err := <-httpDone:
		return fmt.Errorf("HTTP server stopped: %w", err)
	}
	log.Info("tablet shutting down")
	qs.Close() // health streams now say not serving
	srv.drain(5 * time.Second)
	return nil
}

// prepareMySQL makes the shard's MySQL ready: started (or restored) when
// the tablet manages it, and holding the keyspace's database. It returns
// the parameters the tablet's connections use.
func prepareMySQL(ctx context.Context, cfg Config, ts *topo.Server, log *zap.Logger, backups *backup.Engine) (mysql.ConnParams, error) {
	params := mysql.ConnParams{
		Host: cfg.MySQLHost, Port: cfg.MySQLPort, UnixSocket: cfg.MySQLSocket,
		Uname: cfg.MySQLUser, Pass: cfg.MySQLPassword,
	}
	if cfg.MysqldDataDir != "" {
		var beforeInit func() error
		if backups != nil && cfg.RestoreFromBackup {
			beforeInit = backups.MarkNewServer
		}
		mcfg := cfg.mysqldConfig(log)
		mcfg.RecoverAsReplica = followsAnotherPrimary(ctx, ts, cfg.Keyspace, cfg.Shard, cfg.Alias)
		if err := ensureMysqld(ctx, mcfg, log, beforeInit); err != nil {
			return params, err
		}
	}
	// The shard's database is named after the keyspace, so statements that
	// qualify tables with the keyspace name run unchanged on the shard.
	if err := ensureDatabase(ctx, params, cfg.Keyspace); err != nil {
		return params, err
	}
	params.DbName = cfg.Keyspace
	// MariaDB's info text ("Rows matched: 2  Changed: 1  Warnings: 0")
	// goes to the gate: its clients read it, and CLIENT_FOUND_ROWS
	// clients' affected rows come from it.
	params.EnableQueryInfo = true
	return params, nil
}

// startQueryService builds and starts the query service. A shard whose
// writes a resharding switched away refuses writes from the start, as it
// did before the tablet restarted. The caller closes it.
func startQueryService(ctx context.Context, cfg Config, tabletType topopb.TabletType, params mysql.ConnParams, ts *topo.Server, log *zap.Logger, reg prometheus.Registerer) (*queryservice.Service, error) {
	qcfg := cfg.Query
	qcfg.Alias, qcfg.Keyspace, qcfg.Shard, qcfg.Type, qcfg.MySQL = cfg.Alias, cfg.Keyspace, cfg.Shard, tabletType, params
	qcfg.LiveGates = func(ctx context.Context) (map[string]bool, error) {
		gates, err := ts.ListGates(ctx)
		if err != nil {
			return nil, err
		}
		live := make(map[string]bool, len(gates))
		for _, g := range gates {
			live[g.Id] = true
		}
		return live, nil
	}
	qs, err := queryservice.New(qcfg, log, reg)
	if err != nil {
		return nil, err
	}
	qs.Start()
	away, err := writesSwitchedAway(ctx, ts, cfg.Keyspace, cfg.Shard)
	if err != nil {
		qs.Close()
		return nil, err
	}
	if away {
		log.Info("the shard's writes were switched to other shards by a resharding: refusing writes")
		qs.RefuseWrites()
	}
	return qs, nil
}

// servers are the tablet's listeners and what serves on them: gRPC (query
// streams, health, replication, backups) and, with a query port, the
// framed query calls (internal/queryrpc).
type servers struct {
	grpc     *grpc.Server
	grpcDone chan error // the gRPC server's Serve returned
	queryLn  net.Listener
	rpc      *queryrpc.Server
}

// startServers listens on the gRPC and query ports, with the tablet's TLS
// when configured, and serves the tablet's services there.
func startServers(cfg Config, qs *queryservice.Service, repl *replicationServer, backups *backup.Engine, log *zap.Logger) (*servers, error) {
	tlsCfg, err := cfg.TLS.Config()
	if err != nil {
		return nil, err
	}
	grpcLn, err := net.Listen("tcp", net.JoinHostPort(listenHost(cfg.Hostname), strconv.Itoa(cfg.GRPCPort)))
	if err != nil {
		return nil, fmt.Errorf("listen for gRPC on port %d: %w", cfg.GRPCPort, err)
	}
	grpcOpts := []grpc.ServerOption{grpc.MaxRecvMsgSize(maxRequestBytes)}
	if tlsCfg != nil {
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	srv := &servers{grpc: grpc.NewServer(grpcOpts...), grpcDone: make(chan error, 1)}
	querypb.RegisterQueryServiceServer(srv.grpc, qs.GRPC())
	replicationpb.RegisterReplicationServer(srv.grpc, repl)
	if backups != nil {
		backuppb.RegisterBackupServiceServer(srv.grpc, backups.GRPC())
	}
	go func() { srv.grpcDone <- srv.grpc.Serve(grpcLn) }()

	if cfg.QueryPort > 0 {
		queryLn, err := net.Listen("tcp", net.JoinHostPort(listenHost(cfg.Hostname), strconv.Itoa(cfg.QueryPort)))
		if err != nil {
			srv.grpc.Stop()
			return nil, fmt.Errorf("listen for query calls on port %d: %w", cfg.QueryPort, err)
		}
		srv.queryLn, srv.rpc = queryLn, queryrpc.NewServer(qs, log)
		served := queryLn
		if tlsCfg != nil {
			served = tls.NewListener(queryLn, tlsCfg)
		}
		go func() { _ = srv.rpc.Serve(served) }()
	}
	return srv, nil
}

// stop ends gRPC serving at once (a start that failed halfway).
func (s *servers) stop() { s.grpc.Stop() }

// drain lets gRPC calls in progress (streams) finish for up to grace,
// then ends them.
func (s *servers) drain(grace time.Duration) {
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(grace):
		s.grpc.Stop()
	}
}

// closeQueryPort stops taking query calls and ends those in progress
// (their statements are killed on MySQL).
func (s *servers) closeQueryPort() {
	if s.rpc != nil {
		s.queryLn.Close()
		s.rpc.Close()
	}
}

// runInBackground runs fn until ctx ends or the returned stop is called;
// stop waits for fn to return.
func runInBackground(ctx context.Context, fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// maxRequestBytes bounds a request (a large multi-row INSERT): what its
// clients may send (tabletclient).
const maxRequestBytes = tabletclient.MaxMessageBytes

// tabletReady is the tablet's readiness (/readyz): its query service is up
// (after any restore) and serving. /healthz only says the process answers.
func tabletReady(ctx context.Context, qs *queryservice.Service) error {
	if ctx.Err() != nil {
		return errors.New("shutting down")
	}
	if qs == nil {
		return errors.New("starting: the query service is not up yet (MySQL starting or a restore running)")
	}
	if h := qs.Health(); !h.GetServing() {
		return fmt.Errorf("not serving: %s", h.GetStats().GetHealthError())
	}
	return nil
}

// listenHost binds loopback names to loopback only; any other hostname binds
// all interfaces so that remote gates can connect.
func listenHost(hostname string) string {
	switch hostname {
	case "127.0.0.1", "localhost", "::1":
		return hostname
	}
	return ""
}

func checkShard(ctx context.Context, ts *topo.Server, keyspace, shard string) error {
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := ts.GetShard(tctx, keyspace, shard); err != nil {
		return fmt.Errorf("%w: create it first with `shardctl keyspace create %s --shards ...` (or `shardctl local up`)", err, keyspace)
	}
	return nil
}

// writesSwitchedAway reports whether a resharding switched the shard's
// writes to other shards: the tablet must refuse them, as it did before
// it restarted.
func writesSwitchedAway(ctx context.Context, ts *topo.Server, keyspace, shard string) (bool, error) {
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	wfs, err := ts.ListWorkflows(tctx, keyspace)
	if err != nil {
		return false, fmt.Errorf("read the resharding workflows of %s: %w", keyspace, err)
	}
	for _, wf := range wfs {
		if wf.State == topopb.Workflow_WRITES_SWITCHED && slices.Contains(wf.Sources, shard) {
			return true, nil
		}
	}
	return false, nil
}

// register records the tablet; the role manager names the shard's
// primary.
func register(ctx context.Context, ts *topo.Server, t *topopb.Tablet) error {
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := ts.SaveTablet(tctx, t); err != nil {
		return fmt.Errorf("register tablet %s: %w", t.Alias, err)
	}
	// The keyspace may serve a tablet type now that it has this tablet.
	if err := ts.RefreshServedTypes(tctx, t.Keyspace); err != nil {
		return fmt.Errorf("update the serving graph of %s: %w", t.Keyspace, err)
	}
	return nil
}

// ensureDatabase creates the keyspace's database on the MySQL server, so a
// fresh mysqld is ready to take the keyspace's schema. It waits for mysqld
// to accept connections, since tablets and their mysqld often start
// together.
func ensureDatabase(ctx context.Context, params mysql.ConnParams, db string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := mysql.Connect(cctx, &params)
		cancel()
		if err == nil {
			defer conn.Close()
			// Not logged: on a replica a write of its own would be an
			// errant transaction its primary lacks. The primary logs its own
			// creation when it takes the shard (roleManager.primarySettings),
			// and replicas receive it from there.
			_, err = conn.ExecuteFetch("SET SESSION sql_log_bin = 0", 0, false)
			if err == nil {
				_, err = conn.ExecuteFetch("CREATE DATABASE IF NOT EXISTS "+sqlescape.EscapeID(db), 0, false)
			}
			if err != nil {
				return fmt.Errorf("create database %s on mysqld: %w", db, err)
			}
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("connect to mysqld at %s: %w", describe(params), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func describe(p mysql.ConnParams) string {
	if p.UnixSocket != "" {
		return p.UnixSocket
	}
	return net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
}

// writeStatus writes /debug/status; qs and engine are nil while the
// tablet starts (a restore runs before them).
func writeStatus(w io.Writer, cfg Config, qs *queryservice.Service, engine *vreplication.Engine, backups *backup.Engine) {
	fmt.Fprintf(w, "shardtablet %s\n", cfg.Alias)
	typ := cfg.Type
	if qs != nil {
		typ = strings.ToLower(qs.Type().String())
	}
	fmt.Fprintf(w, "keyspace/shard: %s/%s  type: %s\n", cfg.Keyspace, cfg.Shard, typ)
	if backups != nil {
		fmt.Fprint(w, backups.Status())
	} else {
		fmt.Fprintln(w, "backups: off (no --backup-storage)")
	}
	if qs == nil {
		fmt.Fprintln(w, "serving: false (starting)")
		return
	}
	h := qs.Health()
	fmt.Fprintf(w, "serving: %v\n", h.Serving)
	if h.Stats != nil {
		fmt.Fprintf(w, "health error: %q\n", h.Stats.HealthError)
		fmt.Fprintf(w, "gtid position: %s\n", h.Stats.GtidPosition)
		fmt.Fprintf(w, "qps: %.1f\n", h.Stats.Qps)
		fmt.Fprintf(w, "connections in use: %d\n", h.Stats.ConnectionsInUse)
		fmt.Fprintf(w, "open transactions: %d\n", h.Stats.OpenTransactions)
		fmt.Fprintf(w, "replication lag: %ds\n", h.Stats.ReplicationLagSeconds)
		if r := h.Stats.Replication; r != nil {
			fmt.Fprintf(w, "replicating from %s: io %v (%s), sql %v (%s), received %s, applied %s\n",
				r.Source, r.IoRunning, r.IoState, r.SqlRunning, r.SqlState, r.Received, r.Applied)
			if r.LastError != "" {
				fmt.Fprintf(w, "replication error: %s\n", r.LastError)
			}
			if len(r.Errant) > 0 {
				fmt.Fprintf(w, "errant transactions: %s\n", strings.Join(r.Errant, ","))
			}
		}
		if h.Stats.TabletType == topopb.TabletType_PRIMARY {
			fmt.Fprintf(w, "semi-sync replicas: %d\n", h.Stats.SemiSyncReplicas)
		}
	}
	if qs.WritesStopped() {
		fmt.Fprintln(w, "writes: stopped (switched to other shards by a resharding)")
	}
	if engine == nil {
		return
	}
	if lines := engine.Status(); len(lines) > 0 {
		fmt.Fprintln(w, "\nresharding streams into this shard:")
		for _, l := range lines {
			fmt.Fprintln(w, "  "+l)
		}
	}
}
