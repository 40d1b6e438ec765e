package client

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shardgate/shardgate/internal/tlsconfig"
)

// Config is what a Client needs: where the gate is, who connects, and the
// defaults of its sessions. ParseDSN fills one from a DSN.
type Config struct {
	// Address is the gate's gRPC address, host:port.
	Address string
	// User and Password are checked by the gate against the users of its
	// MySQL port. User defaults to root.
	User     string
	Password string
	// Target is where sessions start: "keyspace", "keyspace:shard",
	// "keyspace@replica", or "" for none.
	Target string
	// Workload is the sessions' initial workload: "" (oltp) or "olap".
	Workload string
	// TransactionMode is the sessions' initial transaction_mode: "",
	// "multi", "single" or "twopc".
	TransactionMode string

	// ConnectTimeout bounds each attempt to connect to the gate (0: 20 s,
	// gRPC's default).
	ConnectTimeout time.Duration
	// QueryTimeout is the deadline of a statement whose context has none
	// (0: none).
	QueryTimeout time.Duration

	// TLS, when set, secures the connection; nil: plaintext.
	TLS *tls.Config
	// AllowCleartextPasswords lets a password travel without TLS to an
	// address that is not loopback.
	AllowCleartextPasswords bool

	// ParseTime makes the database/sql driver return DATE, DATETIME and
	// TIMESTAMP values as time.Time, in Location (default UTC), as
	// go-sql-driver/mysql's parseTime does; otherwise they are []byte.
	// Location is also the zone time.Time parameters are written in.
	ParseTime bool
	Location  *time.Location
}

// DSN options, as they appear in the query string.
const (
	optTarget          = "target"
	optTimeout         = "timeout"
	optQueryTimeout    = "queryTimeout"
	optParseTime       = "parseTime"
	optLoc             = "loc"
	optWorkload        = "workload"
	optTransactionMode = "transactionMode"
	optTLS             = "tls"
	optTLSCA           = "tlsCA"
	optTLSCert         = "tlsCert"
	optTLSKey          = "tlsKey"
	optTLSServerName   = "tlsServerName"
	optAllowCleartext  = "allowCleartextPasswords"
)

// ParseDSN reads a data source name:
//
//	shardgate://[user[:password]@]host:port[/target][?option=value&...]
//
// The path is the target: a keyspace, "keyspace:shard" or
// "keyspace@type". Options:
//
//	target=T                  the target; when it starts with ':' or '@'
//	                          it adds a shard or tablet type to the path's
//	                          keyspace (/commerce?target=@replica)
//	timeout=5s                bound on each attempt to connect to the gate
//	queryTimeout=30s          deadline of statements whose context has none
//	parseTime=true            DATE/DATETIME/TIMESTAMP as time.Time
//	loc=Europe/Berlin         zone of parsed times and time parameters (UTC)
//	workload=olap             sessions start in OLAP mode (reads stream)
//	transactionMode=twopc     sessions start in this transaction_mode
//	tls=true                  TLS with the system's roots (implied by tlsCA)
//	tlsCA=ca.pem              CA of the gate's certificate
//	tlsCert=c.pem&tlsKey=k.pem  client certificate, for a gate that
//	                          requires one (--grpc-client-ca)
//	tlsServerName=gate.example  name the gate's certificate carries
//	allowCleartextPasswords=true  send a password to a non-loopback address
//	                          without TLS
func ParseDSN(dsn string) (*Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("shardgate DSN: %w", err)
	}
	if u.Scheme != "shardgate" {
		return nil, fmt.Errorf("shardgate DSN %q: the scheme must be shardgate://", redact(u))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("shardgate DSN %q: no host:port", redact(u))
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return nil, fmt.Errorf("shardgate DSN %q: %w", redact(u), err)
	}
	cfg := &Config{Address: u.Host, Location: time.UTC}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	cfg.Target = strings.TrimPrefix(u.Path, "/")
	var tlsFiles tlsconfig.Client
	useTLS := false
	for name, values := range u.Query() {
		v := values[len(values)-1]
		bad := func(err error) error {
			return fmt.Errorf("shardgate DSN option %s=%q: %w", name, v, err)
		}
		switch name {
		case optTarget:
			if strings.HasPrefix(v, ":") || strings.HasPrefix(v, "@") {
				cfg.Target += v
			} else {
				cfg.Target = v
			}
		case optTimeout, optQueryTimeout:
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return nil, bad(fmt.Errorf("want a duration like 5s"))
			}
			if name == optTimeout {
				cfg.ConnectTimeout = d
			} else {
				cfg.QueryTimeout = d
			}
		case optParseTime, optTLS, optAllowCleartext:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad(err)
			}
			switch name {
			case optParseTime:
				cfg.ParseTime = b
			case optTLS:
				useTLS = b
			default:
				cfg.AllowCleartextPasswords = b
			}
		case optLoc:
			loc, err := time.LoadLocation(v)
			if err != nil {
				return nil, bad(err)
			}
			cfg.Location = loc
		case optWorkload:
			if v != "oltp" && v != "olap" {
				return nil, bad(fmt.Errorf("want oltp or olap"))
			}
			cfg.Workload = v
		case optTransactionMode:
			if _, ok := transactionModes[v]; !ok {
				return nil, bad(fmt.Errorf("want multi, single or twopc"))
			}
			cfg.TransactionMode = v
		case optTLSCA:
			tlsFiles.CAFile = v
		case optTLSCert:
			tlsFiles.CertFile = v
		case optTLSKey:
			tlsFiles.KeyFile = v
		case optTLSServerName:
			tlsFiles.ServerName = v
		default:
			return nil, fmt.Errorf("shardgate DSN: unknown option %q", name)
		}
	}
	if useTLS || tlsFiles.Enabled() {
		if cfg.TLS, err = tlsFiles.Config(); err != nil {
			return nil, fmt.Errorf("shardgate DSN: %w", err)
		}
		if cfg.TLS == nil {
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	return cfg, nil
}

// redact hides the password of a DSN in error messages.
func redact(u *url.URL) string {
	return u.Redacted()
}
