package mysqld

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
)

// maxSocketPath is the longest unix socket path Linux accepts: sun_path holds
// 108 bytes including the terminating NUL.
const maxSocketPath = 107

// Config describes one local MariaDB server. The zero value is not usable:
// DataDir, Port and ServerID are required. A Config is a value: methods never
// modify it and it may be shared between goroutines.
type Config struct {
	// DataDir is the root of everything this server owns (see the package
	// documentation for the layout). A relative path is taken relative to the
	// working directory at the time of the call.
	DataDir string
	// Port is the TCP port on 127.0.0.1.
	Port int
	// ServerID is the server_id, unique per server in a replication topology
	// and not zero. The GTID domain stays at MariaDB's default, 0.
	ServerID uint32
	// Binary is the path of mariadbd (or a MariaDB mysqld). Empty means
	// FindBinary.
	Binary string
	// ExtraArgs are appended to the server command line, after the options
	// this package sets, so they can override them.
	ExtraArgs []string
	// Durability is what the server flushes at commit. Empty means
	// DurabilityFull.
	Durability Durability
	// Log receives what this package does. Nil means no logging.
	Log *zap.Logger
	// RecoverAsReplica starts the server in the slave role
	// (--init-rpl-role=SLAVE), so that crash recovery rolls back the
	// transactions at its binlog's tail that are prepared but not
	// committed instead of committing them. Only for a server that will
	// follow another primary: its successor holds every acknowledged one,
	// and replication brings them back. A primary that stays primary
	// must not set it: with sync_binlog=1 InnoDB's commit record is
	// written lazily, so acknowledged commits can be merely prepared
	// after a crash, and recovery as a replica would drop them.
	RecoverAsReplica bool
}

// Validate reports the first thing wrong with c, or nil.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("mysqld: config: DataDir is required")
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("mysqld: config: Port %d is not a TCP port (1-65535)", c.Port)
	}
	if _, err := ParseDurability(string(c.Durability)); err != nil {
		return fmt.Errorf("mysqld: config: %w", err)
	}
	if c.ServerID == 0 {
		return errors.New("mysqld: config: ServerID is required: replication needs a unique non-zero server_id")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("mysqld: config: DataDir %q: %w", c.DataDir, err)
	}
	if sock := filepath.Join(abs, socketName); len(sock) > maxSocketPath {
		return fmt.Errorf("mysqld: config: socket path %s is %d bytes, longer than the %d a unix socket allows: use a shorter DataDir",
			sock, len(sock), maxSocketPath)
	}
	return nil
}

// Names of what a server owns under DataDir.
const (
	dataName     = "data"
	socketName   = "mysql.sock"
	pidName      = "mysqld.pid"
	errorLogName = "error.log"
	binlogName   = "binlog"
	relayName    = "relaylog"
	tmpName      = "tmp"
	// filesName is the only directory the server reads and writes files
	// in for clients (secure_file_priv): nothing of ours uses it.
	filesName = "files"
)

// ServerDataDir is the MariaDB datadir, DataDir/data.
func (c Config) ServerDataDir() string { return filepath.Join(c.DataDir, dataName) }

// SocketPath is the unix socket, DataDir/mysql.sock.
func (c Config) SocketPath() string { return filepath.Join(c.DataDir, socketName) }

// PidFile is the pid file, DataDir/mysqld.pid.
func (c Config) PidFile() string { return filepath.Join(c.DataDir, pidName) }

// ErrorLog is the error log, DataDir/error.log.
func (c Config) ErrorLog() string { return filepath.Join(c.DataDir, errorLogName) }

// BinlogDir is the directory of the binary logs, DataDir/binlog.
func (c Config) BinlogDir() string { return filepath.Join(c.DataDir, binlogName) }

// Addr is the server's TCP address, 127.0.0.1:Port.
func (c Config) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)) }

// DSN is a go-sql-driver/mysql DSN for root over the unix socket, with
// database selected (empty: none), e.g. "root@unix(/x/mysql.sock)/db?timeout=10s".
func (c Config) DSN(database string) string {
	return c.driverConfig("unix", c.SocketPath(), database).FormatDSN()
}

// TCPDSN is like DSN but connects over TCP to 127.0.0.1:Port, as a remote
// client (a tablet, the gate) would.
func (c Config) TCPDSN(database string) string {
	return c.driverConfig("tcp", c.Addr(), database).FormatDSN()
}

func (c Config) driverConfig(network, addr, database string) *mysql.Config {
	mc := mysql.NewConfig()
	mc.User = "root"
	mc.Net = network
	mc.Addr = addr
	mc.DBName = database
	mc.Timeout = 10 * time.Second
	return mc
}

// resolved returns a validated copy of c with an absolute DataDir, a logger
// and a binary, ready to act on.
func (c Config) resolved() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return c, fmt.Errorf("mysqld: config: DataDir %q: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Binary == "" {
		if c.Binary, err = FindBinary(); err != nil {
			return c, err
		}
	}
	return c, nil
}
