package queryservice

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
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
	// MaxConnections caps the user's connections (MAX_USER_CONNECTIONS),
	// so that gates never take the connections the tablet's own pools
	// need from max_connections.
	MaxConnections int
	// Transactions offers gates transactions on MariaDB too: the user may
	// then also INSERT, UPDATE and DELETE in the database, and MariaDB's
	// read_only fences it (server_fence.go) where the tablet would refuse
	// a write.
	Transactions bool
}

// DefaultDirectReadMaxConnections leaves 350 of MariaDB's 500 connections
// (tablet/mysqld) to the tablet's pools, reserved connections and tools.
const DefaultDirectReadMaxConnections = 150

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
	if d.MaxConnections < 1 {
		return fmt.Errorf("direct reads need at least 1 connection for their user, got %d", d.MaxConnections)
	}
	return nil
}

// directReadGrants are the statements that create the direct-read user
// with SELECT on db alone (and INSERT, UPDATE, DELETE with transactions), or bring an existing one to this password and
// connection cap. The password travels hashed, as MariaDB stores it, so
// that it is in no statement a log could keep.
func directReadGrants(d DirectReads, db string) []string {
	account := sqltypes.EncodeStringSQL(d.User) + "@'%'"
	auth := " IDENTIFIED BY PASSWORD " + sqltypes.EncodeStringSQL(nativePasswordHash(d.Password)) +
		" WITH MAX_USER_CONNECTIONS " + strconv.Itoa(d.MaxConnections)
	// In a GRANT's database name _ and % match any character; escaped,
	// they match themselves.
	grantDB := strings.NewReplacer("_", `\_`, "%", `\%`).Replace(db)
	on := " ON " + sqlescape.EscapeID(grantDB) + ".* "
	stmts := []string{
		"SET SESSION sql_log_bin = 0",
		"CREATE USER IF NOT EXISTS " + account + auth,
		"ALTER USER " + account + auth,
	}
	// Granted again on every new health connection, never revoked first:
	// the gates' open transactions must not lose a privilege meanwhile.
	if d.Transactions {
		stmts = append(stmts, "GRANT SELECT, INSERT, UPDATE, DELETE"+on+"TO "+account)
	} else {
		// A tablet that stopped offering transactions takes the writes
		// back (error 1141 when there were none: ignored).
		stmts = append(stmts, "GRANT SELECT"+on+"TO "+account, revokeWrites+on+"FROM "+account)
	}
	return append(stmts, "SET SESSION sql_log_bin = 1")
}

// revokeWrites begins the statement that takes back the writes of
// direct transactions.
const revokeWrites = "REVOKE INSERT, UPDATE, DELETE"

// erNonexistingGrant is MariaDB's ER_NONEXISTING_GRANT: a REVOKE of
// privileges the user does not hold.
const erNonexistingGrant = 1141

// nativePasswordHash is mysql_native_password's stored form of password:
// "*" and the hex of SHA1(SHA1(password)).
func nativePasswordHash(password string) string {
	first := sha1.Sum([]byte(password))
	second := sha1.Sum(first[:])
	return "*" + strings.ToUpper(hex.EncodeToString(second[:]))
}

// provisionDirectReads creates the direct-read user on conn's server and
// returns the server's @@server_id. Its errors carry MariaDB's code and
// message, not the statement.
func (s *Service) provisionDirectReads(conn *mysql.Conn) (uint32, error) {
	for i, stmt := range directReadGrants(s.cfg.DirectReads, s.cfg.MySQL.DbName) {
		if _, err := conn.ExecuteFetch(stmt, 0, false); err != nil {
			if se, ok := err.(*sqlerror.SQLError); ok && se.Num == erNonexistingGrant && strings.HasPrefix(stmt, revokeWrites) {
				continue
			}
			if se, ok := err.(*sqlerror.SQLError); ok {
				err = fmt.Errorf("error %d (%s): %s", se.Num, se.State, se.Message)
			}
			// The user's privileges this needs: CREATE USER, GRANT
			// OPTION with SELECT, BINLOG ADMIN (sql_log_bin), and on
			// replicas READ_ONLY ADMIN.
			return 0, fmt.Errorf("create the direct-read user %q on %s (step %d): %w", s.cfg.DirectReads.User, s.cfg.where(), i+1, err)
		}
	}
	res, err := conn.ExecuteFetch("SELECT @@server_id", 1, false)
	if err != nil || len(res.Rows) != 1 {
		return 0, fmt.Errorf("read @@server_id on %s: %v", s.cfg.where(), err)
	}
	id, err := res.Rows[0][0].ToUint64()
	return uint32(id), err
}

// directReadOffer is what the health stream offers gates.
func (s *Service) directReadOffer(serverID uint32) *querypb.DirectReadOffer {
	offer := &querypb.DirectReadOffer{
		Address:        s.cfg.DirectReads.Address,
		User:           s.cfg.DirectReads.User,
		Database:       s.cfg.MySQL.DbName,
		QueryTimeoutMs: s.cfg.QueryTimeout.Milliseconds(),
		MaxRows:        int64(s.cfg.MaxRows),
		ServerId:       serverID,
		ColumnsVersion: s.exec.ColumnsVersion(),
	}
	if s.cfg.DirectReads.Transactions {
		// writes_valid_ms and writes_stopping are filled in as each
		// message is sent (withWriteValidity).
		offer.Transactions = true
		offer.TransactionTimeoutMs = s.cfg.TxIdleTimeout.Milliseconds()
	}
	return offer
}
