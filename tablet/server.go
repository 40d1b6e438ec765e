package tablet

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/sqlescape"

	"github.com/shardgate/shardgate/internal/debughttp"
	"github.com/shardgate/shardgate/internal/queryrpc"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/backup"
	"github.com/shardgate/shardgate/tablet/queryservice"
	"github.com/shardgate/shardgate/tablet/vreplication"
	"github.com/shardgate/shardgate/tablet/vstreamer"
	"github.com/shardgate/shardgate/topo"
)

// Run serves the tablet until ctx ends, then shuts down gracefully: it
// reports not serving, lets in-flight statements finish for a moment,
// rolls back open transactions and closes its connections.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	tabletType, _ := ParseTabletType(cfg.Type)
	log = log.With(zap.String("tablet", cfg.Alias), zap.String("keyspace", cfg.Keyspace), zap.String("shard", cfg.Shard))

	store, err := topo.NewEtcdStore(cfg.TopoEndpoints, log)
	if err != nil {
		return err
	}
	ts := topo.NewServer(store, cfg.TopoRoot)
	defer ts.Close()

	if err := checkShard(ctx, ts, cfg.Keyspace, cfg.Shard); err != nil {
		return err
	}

	params := mysql.ConnParams{
		Host: cfg.MySQLHost, Port: cfg.MySQLPort, UnixSocket: cfg.MySQLSocket,
		Uname: cfg.MySQLUser, Pass: cfg.MySQLPassword,
	}
	reg := debughttp.NewRegistry()
	var backups *backup.Engine
	if cfg.BackupStorage != "" {
		if backups, err = newBackupEngine(ctx, cfg, log, reg); err != nil {
			return err
		}
		defer backups.Close()
	}
	if cfg.MysqldDataDir != "" {
		var beforeInit func() error
		if backups != nil && cfg.RestoreFromBackup {
			beforeInit = backups.MarkNewServer
		}
		if err = ensureMysqld(ctx, cfg.mysqldConfig(log), log, beforeInit); err != nil {
			return err
		}
	}
	// The shard's database is named after the keyspace, so statements that
	// qualify tables with the keyspace name run unchanged on the shard.
	if err := ensureDatabase(ctx, params, cfg.Keyspace); err != nil {
		return err
	}
	params.DbName = cfg.Keyspace
	// MariaDB's info text ("Rows matched: 2  Changed: 1  Warnings: 0")
	// goes to the gate: its clients read it, and CLIENT_FOUND_ROWS
	// clients' affected rows come from it.
	params.EnableQueryInfo = true

	// Status and metrics are up before a restore, which may take long.
	var qsReady atomic.Pointer[queryservice.Service]
	var vrReady atomic.Pointer[vreplication.Engine]
	httpDone, err := debughttp.Serve(ctx, net.JoinHostPort(listenHost(cfg.Hostname), strconv.Itoa(cfg.HTTPPort)),
		debughttp.Mux(reg, func(w io.Writer) { writeStatus(w, cfg, qsReady.Load(), vrReady.Load(), backups) }))
	if err != nil {
		return err
	}
	if backups != nil {
		if err := finishPendingRestore(ctx, backups, log); err != nil {
			return err
		}
	}

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
		return err
	}
	qs.Start()
	defer qs.Close()
	if away, err := writesSwitchedAway(ctx, ts, cfg.Keyspace, cfg.Shard); err != nil {
		return err
	} else if away {
		log.Info("the shard's writes were switched to other shards by a resharding: refusing writes")
		qs.RefuseWrites()
	}
	qsReady.Store(qs)
	if backups != nil {
		backups.Hooks.SetServing = qs.SetServing
		backups.Start()
	}

	tlsCfg, err := cfg.TLS.Config()
	if err != nil {
		return err
	}
	grpcLn, err := net.Listen("tcp", net.JoinHostPort(listenHost(cfg.Hostname), strconv.Itoa(cfg.GRPCPort)))
	if err != nil {
		return fmt.Errorf("listen for gRPC on port %d: %w", cfg.GRPCPort, err)
	}
	grpcOpts := []grpc.ServerOption{grpc.MaxRecvMsgSize(maxRequestBytes)}
	if tlsCfg != nil {
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	grpcServer := grpc.NewServer(grpcOpts...)
	querypb.RegisterQueryServiceServer(grpcServer, qs.GRPC())
	replicationpb.RegisterReplicationServer(grpcServer, &replicationServer{qs: qs, streamer: vstreamer.New(params, cfg.Keyspace, log)})
	if backups != nil {
		backuppb.RegisterBackupServiceServer(grpcServer, backups.GRPC())
	}
	grpcDone := make(chan error, 1)
	go func() { grpcDone <- grpcServer.Serve(grpcLn) }()

	if cfg.QueryPort > 0 {
		queryLn, err := net.Listen("tcp", net.JoinHostPort(listenHost(cfg.Hostname), strconv.Itoa(cfg.QueryPort)))
		if err != nil {
			grpcServer.Stop()
			return fmt.Errorf("listen for query calls on port %d: %w", cfg.QueryPort, err)
		}
		rpcServer := queryrpc.NewServer(qs, log)
		served := queryLn
		if tlsCfg != nil {
			served = tls.NewListener(queryLn, tlsCfg)
		}
		go func() { _ = rpcServer.Serve(served) }()
		defer func() {
			queryLn.Close()
			rpcServer.Close()
		}()
	}

	peerTLS, err := cfg.PeerTLS.Config()
	if err != nil {
		grpcServer.Stop()
		return fmt.Errorf("--tablet-ca/--tablet-cert: %w", err)
	}
	engine := vreplication.NewEngine(vreplication.Config{Keyspace: cfg.Keyspace, Shard: cfg.Shard, Alias: cfg.Alias, MySQL: params, PeerTLS: peerTLS},
		ts, log.Named("vreplication"), reg)
	vrReady.Store(engine)

	record := &topopb.Tablet{
		Alias: cfg.Alias, Cell: cfg.Cell, Keyspace: cfg.Keyspace, Shard: cfg.Shard, Type: tabletType,
		Hostname: cfg.Hostname, GrpcPort: int32(cfg.GRPCPort), MysqlPort: int32(cfg.MySQLPort), HttpPort: int32(cfg.HTTPPort),
		QueryPort: int32(cfg.QueryPort),
	}
	if err := register(ctx, ts, record); err != nil {
		grpcServer.Stop()
		return err
	}
	log.Info("tablet serving", zap.Int("grpc_port", cfg.GRPCPort), zap.Int("http_port", cfg.HTTPPort), zap.String("type", cfg.Type))

	// Resharding streams that send this shard rows run beside the query
	// service, until the tablet stops.
	ectx, stopEngine := context.WithCancel(ctx)
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		engine.Run(ectx)
	}()
	defer func() {
		stopEngine()
		<-engineDone
	}()

	select {
	case <-ctx.Done():
	case err := <-grpcDone:
		return fmt.Errorf("gRPC server stopped: %w", err)
	case err := <-httpDone:
		return fmt.Errorf("HTTP server stopped: %w", err)
	}
	log.Info("tablet shutting down")
	qs.Close() // health streams now say not serving
	stopped := make(chan struct{})
	go func() { grpcServer.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		grpcServer.Stop()
	}
	return nil
}

// maxRequestBytes bounds a request (a large multi-row INSERT).
const maxRequestBytes = 256 << 20

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

// register records the tablet and, for a primary, names it the shard's
// primary.
func register(ctx context.Context, ts *topo.Server, t *topopb.Tablet) error {
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := ts.SaveTablet(tctx, t); err != nil {
		return fmt.Errorf("register tablet %s: %w", t.Alias, err)
	}
	if t.Type == topopb.TabletType_PRIMARY {
		_, err := ts.UpdateShard(tctx, t.Keyspace, t.Shard, func(s *topopb.Shard) error {
			s.PrimaryAlias = t.Alias
			return nil
		})
		if err != nil {
			return fmt.Errorf("record %s as primary of %s/%s: %w", t.Alias, t.Keyspace, t.Shard, err)
		}
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
			_, err = conn.ExecuteFetch("CREATE DATABASE IF NOT EXISTS "+sqlescape.EscapeID(db), 0, false)
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
	fmt.Fprintf(w, "keyspace/shard: %s/%s  type: %s\n", cfg.Keyspace, cfg.Shard, cfg.Type)
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
