package queryservice

import (
	"fmt"
	"net"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/sqlescape"
	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/proto/querypb"
)

// Direct reads.
//
// A statement through the tablet crosses two hops (client to gate, gate to
// tablet) before MariaDB sees it, and on a small machine waking the
// tablet's threads costs about as much as MariaDB's own work. For
// autocommit reads the tablet adds nothing the gate cannot do itself with
// internal/mysqlexec (deadline and kill, row limit, warnings, columns):
// reads need no write fence, no transaction and no ordering with the
// cutover of a resharding. So, when configured, the tablet offers them:
// it creates a MariaDB user that may only SELECT from the shard's
// database, and its health stream tells gates where and as whom to read
// (querypb.DirectReadOffer). Gates that hold the user's password then run
// autocommit reads on MariaDB directly; everything else (writes,
// transactions, reserved connections, streaming reads, reads that wait for
// a GTID) still goes through the tablet.
//
// The user is created on each server without binlogging it, as every
// tablet of the shard does for its own server: a replica's own write
// would be an errant transaction. It is created again whenever the
// tablet's health connection is new (MariaDB restarted, or was restored).
// The offer stands only while the tablet serves and the user exists.

// DirectReads configures the offer of direct reads.
type DirectReads struct {
	// User is the MariaDB user gates read as; empty: no offer.
	User     string
	Password string
	// Address is MariaDB's "host:port" as gates reach it.
	Address string
}

// Offered reports whether the tablet offers direct reads.
func (d DirectReads) Offered() bool { return d.User != "" }

// Validate reports a configuration that cannot work.
func (d DirectReads) Validate() error {
	if !d.Offered() {
		return nil
	}
	if d.Password == "" {
		return fmt.Errorf("direct reads as MariaDB user %q need a password (gates log in with it)", d.User)
	}
	if _, port, err := net.SplitHostPort(d.Address); err != nil || port == "" {
		return fmt.Errorf("direct reads need MariaDB's host:port as gates reach it, got %q", d.Address)
	}
	return nil
}

// directReadGrants are the statements that create the direct-read user
// with SELECT on db alone, or bring an existing one to this password.
func directReadGrants(d DirectReads, db string) []string {
	account := sqltypes.EncodeStringSQL(d.User) + "@'%'"
	password := sqltypes.EncodeStringSQL(d.Password)
	return []string{
		"SET SESSION sql_log_bin = 0",
		"CREATE USER IF NOT EXISTS " + account + " IDENTIFIED BY " + password,
		"ALTER USER " + account + " IDENTIFIED BY " + password,
		"GRANT SELECT ON " + sqlescape.EscapeID(db) + ".* TO " + account,
		"SET SESSION sql_log_bin = 1",
	}
}

// provisionDirectReads creates the direct-read user on conn's server.
func (s *Service) provisionDirectReads(conn *mysql.Conn) error {
	for _, stmt := range directReadGrants(s.cfg.DirectReads, s.cfg.MySQL.DbName) {
		if _, err := conn.ExecuteFetch(stmt, 0, false); err != nil {
			return fmt.Errorf("create the direct-read user %q on %s: %w", s.cfg.DirectReads.User, s.cfg.where(), err)
		}
	}
	return nil
}

// directReadOffer is what the health stream offers gates.
func (s *Service) directReadOffer() *querypb.DirectReadOffer {
	return &querypb.DirectReadOffer{
		Address:        s.cfg.DirectReads.Address,
		User:           s.cfg.DirectReads.User,
		Database:       s.cfg.MySQL.DbName,
		QueryTimeoutMs: s.cfg.QueryTimeout.Milliseconds(),
		MaxRows:        int64(s.cfg.MaxRows),
	}
}
