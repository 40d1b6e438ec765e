package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/connpool"
	"github.com/shardgate/shardgate/internal/mysqlexec"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// Direct reads.
//
// A tablet may offer, in its health stream, to let gates run autocommit
// reads on its MariaDB themselves (tablet/queryservice/direct_reads.go
// says why and how the tablet sets it up). A gate given the offer's
// password takes it: a plain SELECT outside a transaction then goes from
// the gate straight to the shard's MariaDB, over a small pool of the
// gate's own per tablet, and runs there through internal/mysqlexec, the
// runner the tablet itself uses, so that the client sees the same rows,
// columns, warnings, errors, deadline and row limit. It saves the second
// hop, which on a small machine costs as much as MariaDB's own work.
//
// Everything that is not a plain read keeps going through the tablet:
// writes and transactions (the tablet fences them), reserved connections,
// streaming reads, reads that wait for a GTID (read_your_writes on a
// replica), and reads of system schemas or of the user's identity, which
// the read-only user would see differently. A read also goes through the
// tablet when the gate's pool for it is busy or cannot connect, and when
// MariaDB refuses the read-only user what the statement needs.

// DirectReadConfig says whether and how the gate takes tablets' offers of
// direct reads.
type DirectReadConfig struct {
	// Password is the offered user's password (from PasswordFile, or
	// SHARDGATE_DIRECT_READ_PASSWORD); empty: no direct reads.
	Password     string
	PasswordFile string
	// PoolSize bounds the gate's connections to each tablet's MariaDB.
	PoolSize int
}

// DefaultDirectReadPoolSize bounds the connections a gate opens to one
// MariaDB for direct reads: reads beyond it go through the tablet. MariaDB
// holds 33-53 KiB per idle connection (measured on 10.11 with its thread
// pool), so 100 gates cost a server 50-85 MB.
const DefaultDirectReadPoolSize = 16

// directUnusableFor is how long reads go through the tablet after the
// gate failed to connect to its MariaDB.
const directUnusableFor = 10 * time.Second

// directReads is the gate's side of direct reads: one pool per tablet
// whose offer it took (tabletConn.direct).
type directReads struct {
	cfg          DirectReadConfig
	log          *zap.Logger
	reads        *prometheus.CounterVec
	transactions *prometheus.CounterVec
}

func newDirectReads(cfg DirectReadConfig, log *zap.Logger, reg prometheus.Registerer) *directReads {
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = DefaultDirectReadPoolSize
	}
	d := &directReads{cfg: cfg, log: log, reads: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shardgate_direct_reads_total",
		Help: "Reads this gate sent to a shard's MariaDB without its tablet, by result: ok, error (MariaDB's answer was an error) or fallback (sent through the tablet instead: the gate's pool for that MariaDB was busy or could not connect, or the read-only user lacked a privilege).",
	}, []string{"keyspace", "shard", "result"})}
	d.transactions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shardgate_direct_transactions_total",
		Help: "Shard parts of transactions this gate ran on a shard's MariaDB without its tablet, by outcome: begun, committed, rolled_back, ended (rolled back by a lost or killed connection, or because the tablet no longer certainly took writes), error (the first statement failed) or fallback (begun through the tablet instead).",
	}, []string{"keyspace", "shard", "result"})
	if reg != nil {
		reg.MustRegister(d.reads, d.transactions)
	}
	return d
}

// directPool is a gate's connections to one tablet's MariaDB, made from
// one offer.
type directPool struct {
	// offer is what the pool was made from; follow alone reads it.
	offer  *querypb.DirectReadOffer
	addr   string
	pool   *connpool.Pool
	exec   *mysqlexec.Server
	limits mysqlexec.Limits
	// unusableUntil (Unix nanoseconds): after a failed connect, reads go
	// through the tablet until then.
	unusableUntil atomic.Int64
	// txPool holds the connections of direct transactions (autocommit
	// off), when the offer includes them (direct_transactions.go);
	// writesValidUntil (Unix nanoseconds) is when the tablet may stop
	// admitting writes, from its latest health message.
	txPool           *connpool.Pool
	txTimeout        time.Duration
	writesValidUntil atomic.Int64
	// writesStopping: the tablet takes no new transaction; open ones may
	// finish while writesValidUntil holds.
	writesStopping atomic.Bool
}

// close closes the pool's connections; those of open transactions close
// when their transactions end.
func (dp *directPool) close() {
	// The tablet withdrew its offer (or it changed): open parts write no
	// more on its word.
	dp.writesValidUntil.Store(0)
	dp.pool.Close()
	if dp.txPool != nil {
		dp.txPool.Close()
	}
}

// follow takes a tablet's offer from its latest health message: a new or
// changed offer gets a new pool, a withdrawn one closes it.
func (d *directReads) follow(tc *tabletConn, offer *querypb.DirectReadOffer) {
	cur := tc.direct.Load()
	if cur == nil && offer == nil {
		return
	}
	if cur != nil && sameServer(cur.offer, offer) {
		if cur.offer.ColumnsVersion != offer.ColumnsVersion {
			// The tablet ran DDL: the JSON columns may have changed.
			cur.exec.ForgetColumns()
			cur.offer = offer
		}
		cur.noteWritesValid(offer, time.Now())
		return
	}
	var next *directPool
	if offer != nil {
		next = d.newPool(tc, offer)
		next.noteWritesValid(offer, time.Now())
	}
	if old := tc.direct.Swap(next); old != nil {
		old.close()
	}
	if next != nil {
		d.log.Info("reading directly from a tablet's MariaDB", zap.String("tablet", tc.record.Alias), zap.String("address", offer.Address), zap.String("user", offer.User))
	} else {
		d.log.Info("tablet withdrew its offer of direct reads", zap.String("tablet", tc.record.Alias))
	}
}

// sameServer reports whether two offers name the same server, user and
// limits (they may differ in columns_version).
func sameServer(a, b *querypb.DirectReadOffer) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Address == b.Address && a.User == b.User && a.Database == b.Database && a.ServerId == b.ServerId &&
		a.QueryTimeoutMs == b.QueryTimeoutMs && a.MaxRows == b.MaxRows &&
		a.Transactions == b.Transactions && a.TransactionTimeoutMs == b.TransactionTimeoutMs
}

// directConnectTimeout bounds opening a connection to MariaDB: a read
// that cannot connect soon goes through the tablet with time to spare.
const directConnectTimeout = time.Second

func (d *directReads) newPool(tc *tabletConn, offer *querypb.DirectReadOffer) *directPool {
	host, port, _ := net.SplitHostPort(offer.Address)
	portNum, _ := strconv.Atoi(port)
	params := &mysql.ConnParams{
		Host: host, Port: portNum, Uname: offer.User, Pass: d.cfg.Password, DbName: offer.Database,
		ConnectTimeoutMs: uint64(directConnectTimeout.Milliseconds()),
		// As the tablet's connections: MariaDB's info text reaches clients.
		EnableQueryInfo: true,
	}
	rec := tc.record
	where := "tablet " + rec.Alias + " (" + rec.Keyspace + "/" + rec.Shard + ")"
	// A wrong address (a gate's own loopback, a server moved) could reach
	// another shard's MariaDB, with the same user, password and database
	// name: every new connection must reach the server the tablet named.
	checkServer := func(conn *mysql.Conn) error {
		res, err := conn.ExecuteFetch("SELECT @@server_id", 1, false)
		if err != nil {
			return err
		}
		if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
			return fmt.Errorf("%w: %s answered SELECT @@server_id with %d rows", errWrongServer, offer.Address, len(res.Rows))
		}
		if id, _ := res.Rows[0][0].ToUint64(); uint32(id) != offer.ServerId {
			return fmt.Errorf("%w: %s answers with server_id %d, but %s's MariaDB has %d", errWrongServer, offer.Address, id, where, offer.ServerId)
		}
		return nil
	}
	dp := &directPool{
		offer:  offer,
		addr:   offer.Address,
		pool:   connpool.New("direct read", params, d.cfg.PoolSize).CheckNew(checkServer),
		exec:   mysqlexec.NewServer(where, params, d.log),
		limits: mysqlexec.Limits{Timeout: time.Duration(offer.QueryTimeoutMs) * time.Millisecond, MaxRows: int(offer.MaxRows)},
	}
	if offer.Transactions {
		dp.txTimeout = time.Duration(offer.TransactionTimeoutMs) * time.Millisecond
		dp.txPool = connpool.New("direct transaction", params, d.cfg.PoolSize, directTxSetup(offer)...).CheckNew(checkServer)
	}
	return dp
}

// forgetDirectColumns makes the direct reads of keyspace's tablets read
// their JSON columns again, after this gate ran DDL there (a DDL through
// another gate reaches them with the tablets' next health message).
func (g *tabletGateway) forgetDirectColumns(keyspace string) {
	if g.direct == nil {
		return
	}
	for key, tablets := range *g.byTarget.Load() {
		if key.keyspace != keyspace {
			continue
		}
		for _, tc := range tablets {
			if dp := tc.direct.Load(); dp != nil {
				dp.exec.ForgetColumns()
			}
		}
	}
}

// closeDirect closes tc's pool, when it has one.
func (tc *tabletConn) closeDirect() {
	if dp := tc.direct.Swap(nil); dp != nil {
		dp.close()
	}
}

// read runs sql on tc's MariaDB. ran false: it did not run there, and the
// caller sends it through the tablet.
func (d *directReads) read(ctx context.Context, s *Session, tc *tabletConn, sql string) (res *sqltypes.Result, ran bool, err error) {
	dp := tc.direct.Load()
	if dp == nil {
		return nil, false, nil
	}
	if time.Now().UnixNano() < dp.unusableUntil.Load() {
		d.count(tc, "fallback")
		return nil, false, nil
	}
	conn, err := dp.pool.TryGet(ctx)
	if err != nil {
		d.noteConnectError(ctx, tc, dp, err)
		d.count(tc, "fallback")
		return nil, false, nil
	}
	r, _, err := dp.exec.Run(ctx, conn, sql, dp.limits)
	dp.pool.Put(conn)
	if err != nil {
		if deniedToReader(err) || refusedByReadOnly(err) {
			d.count(tc, "fallback")
			return nil, false, nil
		}
		d.count(tc, "error")
		return nil, true, err
	}
	d.count(tc, "ok")
	return s.takeShardResult(r.Result, r.Warnings, r.WarningList), true, nil
}

// noteConnectError: the gate could not get a connection to tc's MariaDB.
// Unless its pool was only busy (or the user's connection cap reached),
// the address, the password or the server is wrong, or MariaDB is down:
// the tablet knows better for a while.
func (d *directReads) noteConnectError(ctx context.Context, tc *tabletConn, dp *directPool, err error) {
	if errors.Is(err, connpool.ErrBusy) || errors.Is(err, connpool.ErrClosed) || ctx.Err() != nil || userLimitReached(err) {
		return
	}
	dp.unusableUntil.Store(time.Now().Add(directUnusableFor).UnixNano())
	log := d.log.Warn
	if errors.Is(err, errWrongServer) {
		log = d.log.Error
	}
	log("cannot use a tablet's MariaDB directly: going through the tablet for a while",
		zap.String("tablet", tc.record.Alias), zap.String("address", dp.addr), zap.Duration("for", directUnusableFor), zap.Error(err))
}

func (d *directReads) count(tc *tabletConn, result string) {
	d.reads.WithLabelValues(tc.record.Keyspace, tc.record.Shard, result).Inc()
}

// errWrongServer: a direct-read connection reached a MariaDB other than
// the tablet's.
var errWrongServer = errors.New("direct reads reached the wrong server")

// userLimitReached recognizes MariaDB refusing a connection past the
// user's MAX_USER_CONNECTIONS (all gates' direct reads together): the
// read goes through the tablet, as when the gate's own pool is busy.
func userLimitReached(err error) bool {
	var se *sqlerror.SQLError
	return errors.As(err, &se) && se.Num == erUserLimitReached
}

// deniedToReader recognizes MariaDB refusing the read-only user something
// the tablet's user may do (a stored function's EXECUTE, a table of
// another database): the statement then runs through the tablet, as it
// would have without direct reads.
func deniedToReader(err error) bool {
	var se *sqlerror.SQLError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Num {
	case sqlerror.ERDBAccessDenied, sqlerror.ERAccessDeniedError, sqlerror.ERTableAccessDenied,
		erColumnAccessDenied, sqlerror.ERSpecifiedAccessDenied, erProcAccessDenied:
		return true
	}
	return false
}

// refusedByReadOnly recognizes MariaDB refusing the direct user for its
// read_only (1290), which the tablet's user passes: the statement goes
// through the tablet, which answers as it would have.
func refusedByReadOnly(err error) bool {
	var se *sqlerror.SQLError
	return errors.As(err, &se) && se.Num == sqlerr.ErOptionPreventsStatement
}

// MariaDB's ER_COLUMNACCESS_DENIED_ERROR and ER_PROCACCESS_DENIED_ERROR,
// which Vitess's sqlerror does not name.
const (
	erColumnAccessDenied = sqlerror.ErrorCode(1143)
	erProcAccessDenied   = sqlerror.ErrorCode(1370)
)

// directReadable reports whether a SELECT may run as the direct-read user
// and give what it would give the tablet's: it reads no system schema
// (whose rows depend on the user's privileges) and asks for no user's
// identity or variable.
//
// A locking read (FOR UPDATE, LOCK IN SHARE MODE) goes through the tablet:
// MariaDB refuses SELECT ... FOR UPDATE to a user without READ_ONLY ADMIN
// while read_only is on (a replica, a primary whose writes are stopped),
// and outside a transaction its locks end with the statement anyway.
func directReadable(stmt sqlparser.Statement) bool {
	switch stmt.(type) {
	case *sqlparser.Select, *sqlparser.Union:
	default:
		return false
	}
	locks := false
	_ = sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
		switch n := node.(type) {
		case *sqlparser.Select:
			locks = locks || n.Lock != sqlparser.NoLock
		case *sqlparser.Union:
			locks = locks || n.Lock != sqlparser.NoLock
		}
		return !locks, nil
	}, stmt)
	return !locks && runsAsDirectUser(stmt)
}

// runsAsDirectUser reports whether a statement gives the direct user what
// it would give the tablet's: it names no system schema (whose rows depend
// on the user's privileges) and asks for no user's identity or variable.
func runsAsDirectUser(stmt sqlparser.Statement) bool {
	ok := true
	_ = sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
		switch n := node.(type) {
		case sqlparser.TableName:
			if systemSchemas[strings.ToLower(n.Qualifier.String())] {
				ok = false
			}
		case *sqlparser.Variable:
			ok = false
		case *sqlparser.FuncExpr:
			if identityFunctions[n.Name.Lowered()] {
				ok = false
			}
		}
		return ok, nil
	}, stmt)
	return ok
}

// systemSchemas are MariaDB's own databases.
var systemSchemas = map[string]bool{"information_schema": true, "mysql": true, "performance_schema": true, "sys": true}

// identityFunctions answer with the connection's user or role.
var identityFunctions = map[string]bool{
	"user": true, "current_user": true, "session_user": true, "system_user": true, "current_role": true,
}
