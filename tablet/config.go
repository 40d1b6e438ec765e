package tablet

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/shardgate/shardgate/internal/secretfile"
	"github.com/shardgate/shardgate/internal/tlsconfig"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/backup"
	"github.com/shardgate/shardgate/tablet/mysqld"
	"github.com/shardgate/shardgate/tablet/queryservice"
	"github.com/shardgate/shardgate/topo"
)

// Config is everything a shardtablet needs; cmd/shardtablet fills it from
// flags.
type Config struct {
	Alias    string // "<cell>-<uid>"
	Cell     string
	Keyspace string
	Shard    string
	Type     string // primary, replica or rdonly

	Hostname string // how gates reach this tablet
	GRPCPort int
	HTTPPort int
	// QueryPort serves Execute, BeginExecute, Commit and Rollback without
	// gRPC's overhead (internal/queryrpc); 0 disables it.
	QueryPort int

	MySQLHost     string
	MySQLPort     int
	MySQLSocket   string // preferred over host and port when set
	MySQLUser     string
	MySQLPassword string
	// MySQLPasswordFile and ReplicationPasswordFile, when set, hold the
	// passwords instead (so that they are not on the command line); the
	// environment's SHARDTABLET_MYSQL_PASSWORD and
	// SHARDTABLET_REPLICATION_PASSWORD are read when no file is given.
	MySQLPasswordFile       string
	ReplicationPasswordFile string
	// DirectReadPasswordFile holds the password of the MariaDB user gates
	// read as directly (Query.DirectReads; or the environment's
	// SHARDTABLET_DIRECT_READ_PASSWORD).
	DirectReadPasswordFile string
	// DebugTokenFile, when set, holds the token /debug/* requires.
	DebugTokenFile string
	// InsecureGRPC accepts serving the gRPC and query ports on every
	// interface (a Hostname other than loopback) without client
	// certificates: anyone who reaches them can run statements.
	InsecureGRPC bool

	TopoEndpoints []string
	TopoRoot      string
	TopoAuth      topo.EtcdAuth

	// TLS secures the gRPC and query ports (and, with a client CA, admits
	// only gates and tools whose certificates it signed).
	TLS tlsconfig.Server
	// PeerTLS is how the tablet reaches other tablets (a resharding's
	// streams read their senders): with TLS when a CA or client
	// certificate is given.
	PeerTLS tlsconfig.Client

	Query queryservice.Config

	// BackupStorage is the URL of the backup store (file://, s3://, gs://;
	// see tablet/backupstore); empty: no backups and no binlog archiving.
	BackupStorage string
	Backup        backup.Config
	// BackupStateDir keeps what backups and restores must find again after
	// the tablet restarts: a restore that has not finished, scratch
	// servers. Empty: MysqldDataDir/backup-state, or shardtablet-<alias>
	// in the system's temporary directory.
	BackupStateDir string
	// MysqldDataDir, when set, is the root of the tablet's own mariadbd
	// (the tablet/mysqld layout, listening on MySQLPort): the tablet starts
	// it when it does not run, initializes it when it has no data
	// directory, and then (RestoreFromBackup) restores the shard's latest
	// backup and archived binlogs into it before serving.
	MysqldDataDir  string
	MysqldServerID uint32 // 0: the alias's number
	// StopMysqldOnExit shuts the tablet's own mariadbd down when the tablet
	// exits, waiting at most MysqldStopTimeout before killing it. Off by
	// default: a tablet restarted by hand or by `shardctl local` finds its
	// server running. In a container, where the server dies with the
	// tablet, it is on.
	StopMysqldOnExit  bool
	MysqldStopTimeout time.Duration
	// MysqldDurability is what the tablet's own mariadbd flushes at
	// commit (empty: full; see mysqld.Durability).
	MysqldDurability  mysqld.Durability
	RestoreFromBackup bool

	// ReplicationUser and ReplicationPassword are how replicas log in to
	// the primary's MySQL to replicate (empty: MySQLUser and
	// MySQLPassword).
	ReplicationUser     string
	ReplicationPassword string
	// SemiSyncTimeout is how long a primary's commit waits for a replica
	// to acknowledge it before the primary goes on without (MariaDB then
	// replicates asynchronously until a replica catches up). It is longer
	// than PrimaryLeaseTTL, so that a primary cut off from its replicas
	// loses its lease, and stops, before it would acknowledge a commit no
	// replica has.
	SemiSyncTimeout time.Duration
	// PrimaryLeaseTTL is how long a primary that stops renewing its lease
	// keeps the shard from failing over (topo.DefaultPrimaryLeaseTTL).
	PrimaryLeaseTTL time.Duration
}

// Defaults returns a Config with defaults for everything but identity.
func Defaults() Config {
	return Config{
		Cell:              topo.DefaultCell,
		Type:              "primary",
		Hostname:          "127.0.0.1",
		MysqldStopTimeout: 45 * time.Second,
		GRPCPort:          16100,
		HTTPPort:          15100,
		QueryPort:         18100,
		MySQLHost:         "127.0.0.1",
		MySQLPort:         17100,
		MySQLUser:         "root",
		TopoEndpoints:     []string{"127.0.0.1:2379"},
		TopoRoot:          topo.DefaultRoot,
		Query:             queryservice.Defaults(),
		Backup:            backup.Defaults(),

		RestoreFromBackup: true,
		SemiSyncTimeout:   10 * time.Second,
		PrimaryLeaseTTL:   topo.DefaultPrimaryLeaseTTL,
	}
}

// ParseTabletType reads "primary", "replica" or "rdonly".
func ParseTabletType(s string) (topopb.TabletType, error) {
	v, ok := topopb.TabletType_value[strings.ToUpper(s)]
	if !ok || v == 0 {
		return 0, fmt.Errorf("tablet type %q: use primary, replica or rdonly", s)
	}
	return topopb.TabletType(v), nil
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if c.Alias == "" {
		return errors.New("--alias is required (e.g. zone1-100)")
	}
	if err := secretfile.Resolve(&c.MySQLPassword, c.MySQLPasswordFile, "SHARDTABLET_MYSQL_PASSWORD"); err != nil {
		return fmt.Errorf("--mysql-password-file: %w", err)
	}
	if err := secretfile.Resolve(&c.ReplicationPassword, c.ReplicationPasswordFile, "SHARDTABLET_REPLICATION_PASSWORD"); err != nil {
		return fmt.Errorf("--replication-password-file: %w", err)
	}
	if d := &c.Query.DirectReads; d.Transactions && !d.Offered() {
		return fmt.Errorf("--direct-transactions needs --direct-read-user: gates run them as that user")
	}
	if c.Query.DirectReads.Transactions && c.PrimaryLeaseTTL > 0 && 2*c.Query.HealthInterval > c.PrimaryLeaseTTL {
		// Gates write directly only within the lease validity the last
		// health message gave; it must come again well before that ends.
		return fmt.Errorf("--direct-transactions needs --health-interval (%v) at most half of --primary-lease-ttl (%v)", c.Query.HealthInterval, c.PrimaryLeaseTTL)
	}
	if d := &c.Query.DirectReads; d.Offered() {
		if err := secretfile.Resolve(&d.Password, c.DirectReadPasswordFile, "SHARDTABLET_DIRECT_READ_PASSWORD"); err != nil {
			return fmt.Errorf("--direct-read-password-file: %w", err)
		}
		if d.Address == "" {
			d.Address = net.JoinHostPort(c.MySQLHost, strconv.Itoa(c.MySQLPort))
		}
		if err := d.Validate(); err != nil {
			return fmt.Errorf("--direct-read-user: %w", err)
		}
		if host, _, _ := net.SplitHostPort(d.Address); listenHost(host) != "" && listenHost(c.Hostname) == "" {
			return fmt.Errorf("--direct-read-address %s is loopback, but gates reach this tablet at %s: a gate on another host would read its own loopback; give MariaDB's address as gates reach it", d.Address, c.Hostname)
		}
	}
	if listenHost(c.Hostname) == "" && c.TLS.ClientCAFile == "" && !c.InsecureGRPC {
		return fmt.Errorf("--hostname %s makes the tablet listen on every interface, where anyone who reaches its ports could run statements on its MySQL: "+
			"give --grpc-client-ca (gates and tools then need certificates it signed), or --insecure-grpc to accept that on a network you trust", c.Hostname)
	}
	if err := topo.ValidateName("keyspace", c.Keyspace); err != nil {
		return fmt.Errorf("--keyspace: %w", err)
	}
	if c.Shard == "" {
		return errors.New("--shard is required (e.g. 0, -80, 80-)")
	}
	if _, err := ParseTabletType(c.Type); err != nil {
		return err
	}
	if c.GRPCPort <= 0 || c.HTTPPort <= 0 {
		return errors.New("--grpc-port and --http-port must be set")
	}
	if c.MySQLSocket == "" && c.MySQLPort <= 0 {
		return errors.New("--mysql-port or --mysql-socket must be set")
	}
	if _, err := mysqld.ParseDurability(string(c.MysqldDurability)); err != nil {
		return err
	}
	if c.MysqldDataDir != "" {
		if c.MysqldServerID == 0 {
			_, uid, _ := strings.Cut(c.Alias, "-")
			n, err := strconv.ParseUint(uid, 10, 32)
			if err != nil || n == 0 {
				return fmt.Errorf("--mysqld-server-id is required: the alias %q ends in no usable number", c.Alias)
			}
			c.MysqldServerID = uint32(n)
		}
		if c.MySQLPort <= 0 {
			return errors.New("--mysql-port is required with --mysqld-data-dir")
		}
	}
	if c.ReplicationUser == "" {
		c.ReplicationUser, c.ReplicationPassword = c.MySQLUser, c.MySQLPassword
	}
	if c.PrimaryLeaseTTL <= 0 {
		c.PrimaryLeaseTTL = topo.DefaultPrimaryLeaseTTL
	}
	if c.SemiSyncTimeout <= c.PrimaryLeaseTTL {
		return fmt.Errorf("--semi-sync-timeout (%v) must be longer than --primary-lease-ttl (%v): a primary cut off from its replicas must lose its lease before it acknowledges a commit no replica has", c.SemiSyncTimeout, c.PrimaryLeaseTTL)
	}
	if len(c.TopoEndpoints) == 0 {
		return errors.New("--topo must name at least one etcd endpoint")
	}
	return nil
}
