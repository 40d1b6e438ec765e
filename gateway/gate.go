package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"vitess.io/vitess/go/vt/vtenv"

	"github.com/shardgate/shardgate/gateway/mysqlserver"
	"github.com/shardgate/shardgate/internal/debughttp"
	"github.com/shardgate/shardgate/internal/querystats"
	"github.com/shardgate/shardgate/internal/secretfile"
	"github.com/shardgate/shardgate/internal/tlsconfig"
	"github.com/shardgate/shardgate/proto/gatepb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/tabletclient"
	"github.com/shardgate/shardgate/topo"
)

// Config is everything a shardgate needs; cmd/shardgate fills it from flags.
type Config struct {
	BindAddress string // address the ports listen on ("" for all)
	MySQLPort   int
	GRPCPort    int
	HTTPPort    int

	TopoEndpoints []string
	TopoRoot      string
	TopoAuth      topo.EtcdAuth
	Cell          string
	// TopoSnapshotFile, when set, is where the gate keeps the topology it
	// routes by (keyspaces, vschemas, serving graph, tablets) whenever it
	// changes, and what it serves from when it starts while etcd does not
	// answer, until etcd does; empty: no snapshot, and a gate started
	// while etcd is down fails its statements until etcd answers.
	TopoSnapshotFile string

	// DebugTokenFile, when set, holds the token /debug/* requires
	// (SHARDGATE_DEBUG_TOKEN when no file is given).
	DebugTokenFile string

	// UsersFile lists who may log in, on the MySQL and gRPC ports alike;
	// empty means root with an empty password from loopback only, like a
	// fresh MariaDB.
	UsersFile string

	// GRPCTLS secures the gRPC port (with a client CA, only clients whose
	// certificates it signed get in); TabletTLS, the gate's connections to
	// tablets (gRPC and query ports).
	GRPCTLS tlsconfig.Server
	// MySQLTLS secures the MySQL port (offered to clients that ask; with
	// MySQLRequireTLS, clients that do not are refused; with a client CA,
	// clients must present a certificate it signed).
	MySQLTLS        tlsconfig.Server
	MySQLRequireTLS bool
	// MySQLMaxPacket is the largest statement a MySQL client may send
	// (max_allowed_packet; MariaDB's default 16 MiB).
	MySQLMaxPacket int
	// MaxConnections bounds the MySQL connections open at once, logged in
	// or not; past it a client gets 1040 "Too many connections" (0: no
	// bound). Users may have lower bounds in the users file.
	MaxConnections int
	TabletTLS      tlsconfig.Client

	// ServerVersion is advertised in the handshake, and without its
	// "5.5.5-" prefix as @@version and VERSION(), as MariaDB does. The
	// prefix is what MariaDB itself sends, so that clients detect MariaDB
	// rather than a MySQL 10.x.
	ServerVersion  string
	VersionComment string
	QueryTimeout   time.Duration
	// TabletHealthTimeout is how long a tablet's health stream may stay
	// silent before the gate declares the tablet unhealthy: statements
	// that need it fail at once, naming it, and those waiting on it are
	// cancelled, until its next health message. Tablets send one every
	// health interval (1 s by default); this must exceed theirs.
	TabletHealthTimeout time.Duration
	// MaxReplicaLag: statements for replica and rdonly targets avoid
	// tablets whose replication lag is larger; 0 puts no bound.
	MaxReplicaLag time.Duration
	// MaxResultBytes bounds the rows a statement's shards may return for
	// the gate to combine; a statement needing more fails with error 1038.
	MaxResultBytes int64
	// PlanCacheEntries and PlanCacheBytes bound the cache of plans of
	// normalized statements (0 entries: no cache).
	PlanCacheEntries int
	PlanCacheBytes   int64
	// QueryStatsMaxStatements bounds the statements whose statistics the
	// gate keeps (0: no statistics).
	QueryStatsMaxStatements int
	// SlowLog says which statements are logged as slow.
	SlowLog SlowLogConfig
	// SchemaRefresh is how often the tables' columns, which statements the
	// gate evaluates itself need, are read again from the shards.
	SchemaRefresh time.Duration
	// StartupTimeout bounds waiting for the first topology snapshot; the
	// gate starts serving anyway afterwards (errors until etcd answers).
	StartupTimeout time.Duration

	// GateName identifies the gate across restarts; empty: "host:port" of
	// its MySQL port. A gate that starts recovers at once the two-phase
	// commits left by earlier processes of its name, so two running gates
	// must not share one.
	GateName string
	// RegistrationTTL is how long a gate that died stays registered; its
	// two-phase commits are recovered by other gates after that.
	RegistrationTTL time.Duration
	// TwoPCRecoveryInterval is how often the gate looks for two-phase
	// commits whose coordinator is gone.
	TwoPCRecoveryInterval time.Duration
	// Buffer bounds the statements held while a resharding switches a
	// keyspace's writes.
	Buffer BufferConfig
	// DirectReads, with a password, makes the gate read the MariaDB of
	// tablets that offer it without their tablets (direct_reads.go).
	DirectReads DirectReadConfig

	// TwoPCCrashPoint is for crash tests only: the gate kills itself at
	// this point of every two-phase commit (CrashAfterPrepare,
	// CrashAfterDecision); empty: never.
	TwoPCCrashPoint string
}

// Defaults returns the default configuration (Vitess's local ports).
func Defaults() Config {
	return Config{
		BindAddress:      "127.0.0.1",
		MySQLPort:        15306,
		GRPCPort:         15991,
		HTTPPort:         15001,
		TopoEndpoints:    []string{"127.0.0.1:2379"},
		TopoRoot:         topo.DefaultRoot,
		Cell:             topo.DefaultCell,
		ServerVersion:    "5.5.5-10.11.0-MariaDB-Shardgate",
		VersionComment:   "Shardgate",
		QueryTimeout:     60 * time.Second,
		MaxResultBytes:   256 << 20,
		PlanCacheEntries: 10000,
		PlanCacheBytes:   64 << 20,

		QueryStatsMaxStatements: 5000,
		SlowLog:                 SlowLogConfig{Threshold: time.Second, MaxPerSecond: 10},
		SchemaRefresh:           time.Minute,
		StartupTimeout:          10 * time.Second,

		TabletHealthTimeout:   DefaultTabletHealthTimeout,
		MaxReplicaLag:         DefaultMaxReplicaLag,
		RegistrationTTL:       10 * time.Second,
		TwoPCRecoveryInterval: 10 * time.Second,
		Buffer:                DefaultBufferConfig(),
		MySQLMaxPacket:        16 << 20,
		MaxConnections:        10000,
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if c.MySQLPort <= 0 || c.GRPCPort <= 0 || c.HTTPPort <= 0 {
		return errors.New("--mysql-port, --grpc-port and --http-port must be positive")
	}
	if len(c.TopoEndpoints) == 0 {
		return errors.New("--topo must name at least one etcd endpoint")
	}
	if c.QueryTimeout <= 0 {
		return errors.New("--query-timeout must be positive")
	}
	if c.TabletHealthTimeout <= 0 {
		return errors.New("--tablet-health-timeout must be positive")
	}
	if c.MaxReplicaLag < 0 {
		return errors.New("--max-replica-lag must not be negative")
	}
	if c.RegistrationTTL < time.Second || c.TwoPCRecoveryInterval <= 0 {
		return errors.New("the registration TTL must be at least 1s and --twopc-recovery-interval positive")
	}
	if c.Buffer.MaxHeld <= 0 || c.Buffer.MaxWait <= 0 {
		return errors.New("--buffer-size and --buffer-max-wait must be positive")
	}
	if c.MySQLMaxPacket < 1024 || c.MySQLMaxPacket > 1<<30 {
		return fmt.Errorf("--mysql-max-packet must be between 1 KiB and 1 GiB (MariaDB's max_allowed_packet range), got %d", c.MySQLMaxPacket)
	}
	if c.MaxConnections < 0 {
		return errors.New("--max-connections must not be negative")
	}
	if c.QueryStatsMaxStatements < 0 || c.SlowLog.Threshold < 0 || c.SlowLog.MaxPerSecond < 0 {
		return errors.New("--query-stats-max-statements, --slow-query-threshold and --slow-query-log-rate must not be negative")
	}
	if err := secretfile.Resolve(&c.DirectReads.Password, c.DirectReads.PasswordFile, "SHARDGATE_DIRECT_READ_PASSWORD"); err != nil {
		return fmt.Errorf("--direct-read-password-file: %w", err)
	}
	if c.DirectReads.PoolSize < 0 {
		return errors.New("--direct-read-pool-size must not be negative")
	}
	if c.MySQLRequireTLS && !c.MySQLTLS.Enabled() {
		return errors.New("--mysql-require-tls needs --mysql-cert and --mysql-key")
	}
	return validCrashPoint(c.TwoPCCrashPoint)
}

// gateRecord is what the gate registers about itself; its id is added by
// newTwoPC.
func gateRecord(cfg Config) *topopb.Gate {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	name := cfg.GateName
	if name == "" {
		name = net.JoinHostPort(host, strconv.Itoa(cfg.MySQLPort))
	}
	// Others reach the gate where it listens: its bind address when it
	// names one (loopback by default), the machine's name otherwise.
	reachable := host
	if ip := net.ParseIP(cfg.BindAddress); ip != nil && !ip.IsUnspecified() {
		reachable = cfg.BindAddress
	}
	return &topopb.Gate{
		Name: name, Hostname: reachable,
		MysqlPort: int32(cfg.MySQLPort), GrpcPort: int32(cfg.GRPCPort), HttpPort: int32(cfg.HTTPPort),
	}
}

// maxRequestBytes bounds a gRPC client's request (a large INSERT), and
// maxResultBytes a result sent to one; as large as a tablet's messages.
const (
	maxRequestBytes = tabletclient.MaxMessageBytes
	maxResultBytes  = tabletclient.MaxMessageBytes
)

// grpcStreamWorkers is how many gRPC calls run on reused goroutines at
// once.
const grpcStreamWorkers = 64

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	users := DefaultUsers()
	if cfg.UsersFile != "" {
		var err error
		if users, err = LoadUsersFile(cfg.UsersFile); err != nil {
			return err
		}
	}
	auth, err := NewAuthenticator(users)
	if err != nil {
		return err
	}
	if cfg.UsersFile != "" {
		go watchUsersFile(ctx, cfg.UsersFile, auth, log.Named("users"))
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
	// The topology the gate routes by is watched through the snapshot
	// when there is one; everything else (two-phase commit records,
	// registration) needs etcd itself.
	routeTS := ts
	var snapshots *topo.SnapshotStore
	if cfg.TopoSnapshotFile != "" {
		snapshots = topo.NewSnapshotStore(store, cfg.TopoSnapshotFile, topo.DefaultSnapshotFallback, log.Named("topo-snapshot"))
		routeTS = topo.NewServer(snapshots, cfg.TopoRoot)
	}

	reg := debughttp.NewRegistry("shardgate")
	auth.Audit(log.Named("auth"), reg)
	env, err := vtenv.New(vtenv.Options{MySQLServerVersion: "8.0.40"})
	if err != nil {
		return fmt.Errorf("vitess environment: %w", err)
	}
	grpcTLS, err := cfg.GRPCTLS.Config()
	if err != nil {
		return fmt.Errorf("--grpc-cert: %w", err)
	}
	tabletTLS, err := cfg.TabletTLS.Config()
	if err != nil {
		return fmt.Errorf("--tablet-ca: %w", err)
	}
	topology := newTopology(routeTS, cfg.Cell, log)
	source := topologySource{topology: topology, snapshots: snapshots}
	source.register(reg)
	tabletOpts := []tabletGatewayOption{withHealthTimeout(cfg.TabletHealthTimeout), withMaxReplicaLag(cfg.MaxReplicaLag), withMetrics(reg)}
	if cfg.DirectReads.Password != "" {
		tabletOpts = append(tabletOpts, withDirectReads(newDirectReads(cfg.DirectReads, log.Named("direct-reads"), reg)))
	}
	tablets := newTabletGateway(log, tabletTLS, tabletOpts...)
	m := newMetrics(reg)
	tpc, err := newTwoPC(ts, tablets, log, m, gateRecord(cfg), cfg.TwoPCCrashPoint)
	if err != nil {
		return err
	}
	buffer := newWriteBuffer(cfg.Buffer, topology, ts, tpc.gate.Id, log.Named("buffer"), reg)
	topology.onBuffering = func(keyspace string, until time.Time) { buffer.buffering(ctx, keyspace, until) }
	topology.run(ctx)
	tablets.run(ctx, routeTS)
	// start registers the gate and starts recovery now; the stop it
	// returns is deferred after ts.Close, so it runs first and revokes the
	// registration while the topology is still open.
	defer tpc.start(ctx, cfg.RegistrationTTL, cfg.TwoPCRecoveryInterval)()
	executor := &Executor{
		topo: topology, tablets: tablets, parser: env.Parser(), log: log, metrics: m, twopc: tpc, buffer: buffer,
		serverVersion: cfg.ServerVersion, versionComment: cfg.VersionComment, queryTimeout: cfg.QueryTimeout,
		maxResultBytes: cfg.MaxResultBytes,
		plans:          newPlanCache(cfg.PlanCacheEntries, cfg.PlanCacheBytes, reg),
		stats:          newQueryStats(cfg.QueryStatsMaxStatements, m, newSlowLog(cfg.SlowLog, log.Named("slowlog"), env.Parser(), reg), reg),
		authz:          newAuthorizer(auth, log.Named("access"), reg),
	}
	executor.schema = newSchemaTracker(executor.readSchema, cfg.SchemaRefresh, log)
	executor.signer = newSessionSigner(ctx, ts, cfg.StartupTimeout, log.Named("sessions"))

	wctx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	if err := topology.waitReady(wctx); err != nil {
		log.Warn("topology not read yet (etcd does not answer and there is no usable snapshot); serving anyway, statements fail until it is read",
			zap.Strings("topo", cfg.TopoEndpoints), zap.String("topo_snapshot_file", cfg.TopoSnapshotFile), zap.Error(err))
	}
	cancel()

	mysqlTLS, err := cfg.MySQLTLS.Config()
	if err != nil {
		return fmt.Errorf("--mysql-cert: %w", err)
	}
	mysqlServer, err := mysqlserver.Listen(mysqlserver.Config{
		Addr:            net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.MySQLPort)),
		ServerVersion:   cfg.ServerVersion,
		Auth:            auth,
		Handler:         &mysqlHandler{executor: executor, metrics: executor.metrics},
		SplitStatements: statementSplitter(env.Parser()),
		TLS:             mysqlTLS,
		RequireTLS:      cfg.MySQLRequireTLS,
		MaxPacketSize:   cfg.MySQLMaxPacket,
		MaxConnections:  cfg.MaxConnections,
		Log:             log.Named("mysql"),
	})
	if err != nil {
		return fmt.Errorf("listen for MySQL clients on port %d: %w", cfg.MySQLPort, err)
	}
	mysqlDone := make(chan error, 1)
	go func() { mysqlDone <- mysqlServer.Serve() }()
	defer mysqlServer.Close()

	grpcLn, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.GRPCPort)))
	if err != nil {
		return fmt.Errorf("listen for gRPC on port %d: %w", cfg.GRPCPort, err)
	}
	grpcOpts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxRequestBytes), grpc.MaxSendMsgSize(maxResultBytes),
		// Calls run on long-lived workers: a goroutine started per call
		// grows its stack through the parser and executor every time (a
		// fifth of the gate's CPU per statement, measured). Calls beyond
		// the workers get goroutines of their own.
		grpc.NumStreamWorkers(grpcStreamWorkers),
	}
	if grpcTLS != nil {
		grpcOpts = append(grpcOpts, grpc.Creds(grpccreds.NewTLS(grpcTLS)))
	}
	grpcServer := grpc.NewServer(grpcOpts...)
	healthpb.RegisterHealthServer(grpcServer, health.NewServer())
	gatepb.RegisterGateServer(grpcServer, &grpcHandler{executor: executor, auth: auth, log: log.Named("grpc"), metrics: executor.metrics})
	go func() { _ = grpcServer.Serve(grpcLn) }()
	defer grpcServer.Stop()

	var debugToken string
	if err := secretfile.Resolve(&debugToken, cfg.DebugTokenFile, "SHARDGATE_DEBUG_TOKEN"); err != nil {
		return fmt.Errorf("--debug-token-file: %w", err)
	}
	mux := debughttp.Mux(reg, func(w io.Writer) {
		fmt.Fprintf(w, "shardgate %s\nMySQL port %d, gRPC port %d\n%s\nvschema version: %s\n\ntablets:\n", tpc.gate.Id, cfg.MySQLPort, cfg.GRPCPort, source.status(), topology.vschema.Load().Version)
		for _, line := range tablets.status() {
			fmt.Fprintln(w, "  "+line)
		}
		for _, line := range buffer.status() {
			fmt.Fprintln(w, line)
		}
	}, debughttp.WithToken(debugToken), debughttp.WithReady(func() error { return gateReady(ctx, source) }))
	// The statistics show what clients run: behind the debug token too.
	mux.Handle("GET "+querystats.ReportPath, debughttp.Protect(debugToken, executor.stats.reportHandler(tpc.gate.Id)))
	httpDone, err := debughttp.Serve(ctx, net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.HTTPPort)), mux)
	if err != nil {
		return err
	}
	log.Info("gate serving", zap.Int("mysql_port", cfg.MySQLPort), zap.Int("grpc_port", cfg.GRPCPort), zap.Int("http_port", cfg.HTTPPort),
		zap.String("gate_id", tpc.gate.Id))
	select {
	case <-ctx.Done():
	case err := <-httpDone:
		return fmt.Errorf("HTTP server stopped: %w", err)
	case err := <-mysqlDone:
		return fmt.Errorf("MySQL server stopped: %w", err)
	}
	log.Info("gate shutting down")
	return nil
}
