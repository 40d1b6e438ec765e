package gateway

import (
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	querypb "vitess.io/vitess/go/vt/proto/query"

	sgquerypb "github.com/shardgate/shardgate/proto/querypb"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/sqlrouter"
	"vitess.io/vitess/go/vt/sqlparser"
)

// Session is one client connection's state. The MySQL protocol is
// sequential, so a session runs one statement at a time; the mutex guards
// only the shard list, which a multi-shard statement fills in parallel.
type Session struct {
	ConnectionID uint32
	User         string

	// Keyspace is the current keyspace ("" when none is selected); Shard,
	// when set (USE ks:-80), sends every statement to that shard as is.
	Keyspace   string
	Shard      string
	TabletType topopb.TabletType

	// ClientCollation is the collation the client reads results in (the
	// handshake's, or SET NAMES'); 0 or utf8mb4_general_ci: as the shards
	// describe them (charset.go).
	ClientCollation uint32
	// ClientFoundRows: the client connected with CLIENT_FOUND_ROWS, and
	// an UPDATE's affected rows are the rows it matched, changed or not.
	ClientFoundRows bool

	// LocalFiles asks the client for a file of its own, for LOAD DATA
	// LOCAL INFILE (load_data.go): the MySQL front end sends the name in
	// the protocol's 0xFB request and returns a reader of the file the
	// client sends back (or the error the client's refusal is). It is
	// called at most once per statement, from the statement's goroutine,
	// before any of its result; the executor reads what it returns to the
	// end and closes it, whatever happens to the statement, as the
	// protocol requires. nil: the client cannot send files (the gRPC API,
	// or a front end without the capability), and LOAD DATA LOCAL fails
	// with MariaDB's error 1148. The MySQL front end is to set it to its
	// connection's (*mysqlserver.Conn).LocalFile on every Session it makes
	// (connect, COM_RESET_CONNECTION, COM_CHANGE_USER: newSession in
	// mysql_handler.go); until it does, MySQL clients get that 1148.
	LocalFiles func(name string) (io.ReadCloser, error)

	Autocommit    bool
	InTransaction bool
	LastInsertID  uint64
	// FoundRows is what FOUND_ROWS() answers: the rows the last SELECT
	// returned, or would have without its LIMIT (SQL_CALC_FOUND_ROWS).
	FoundRows uint64
	// Workload is "oltp" (the default) or "olap" (SET workload = 'olap'):
	// an OLAP session's reads stream, unbounded, when nothing is combined
	// at the gate.
	Workload string
	// ReadYourWrites makes the session's replica reads wait for its own
	// last write on the shard, up to ReadYourWritesTimeout (0: the
	// default), and read from the primary past it (read_your_writes.go).
	ReadYourWrites        bool
	ReadYourWritesTimeout time.Duration
	// writePositions is, by "keyspace/shard", the GTID position of the
	// session's writes there.
	writePositions map[string]gtidpos.Position
	// NoScatter refuses statements that would run on more than one shard
	// (SET no_scatter = 1), to find queries missing a vindex predicate.
	NoScatter bool
	// TxIsolation is the isolation level of the session's next
	// transactions ("READ COMMITTED"); empty: the shards' default.
	TxIsolation string
	// TxReadOnly: the open transaction was begun READ ONLY, and each
	// shard's part begins so (MariaDB then refuses its writes).
	TxReadOnly bool
	// nextTxReadOnly: SET TRANSACTION READ ONLY asked for the next
	// transaction to be read-only (once).
	nextTxReadOnly bool
	// TransactionMode is how transactions that span shards commit; it
	// cannot change while a transaction is open.
	TransactionMode TransactionMode
	// settings are session variables the shards apply to every statement
	// of this session (SET STATEMENT ... FOR), in the order they were set.
	settings []setting
	// settingsPrefix is "SET STATEMENT a=1, b=2 FOR " for settings.
	settingsPrefix string

	mu     sync.Mutex
	shards []*shardSession // shards in the transaction, in the order they joined
	// dtid names the open transaction in transaction_mode 'twopc': each
	// shard's part is begun as an XA branch of it. Set when the first
	// shard joins.
	dtid string

	prepared map[uint32]*preparedStatement

	// ClientAddr is the client's address, for the slow query log and
	// access errors.
	ClientAddr string
	// rights are the user's rights as of the users rightsOf describes
	// (authorize.go).
	rights   *userRights
	rightsOf *userTable
	// currentSQL is the statement running now, as the client sent it;
	// stmtShardCalls and stmtRowsRead count its calls to shards and the
	// rows they returned (cursor.go), and stmtTables are the tables it
	// names, which tablets count statements by (query_stats.go).
	currentSQL     string
	stmtShardCalls atomic.Uint64
	stmtRowsRead   atomic.Uint64
	stmtTables     []string
	// stmtDirectRead: the statement is a plain read that may run on a
	// shard's MariaDB without its tablet (direct_reads.go).
	stmtDirectRead bool
	// stmtDirectTx: the statement is a plain read or write that may begin
	// a shard's part of a transaction on its MariaDB
	// (direct_transactions.go).
	stmtDirectTx bool

	// interrupt lets KILL stop the session from another connection.
	interrupt interruption
	// connectionBound: the session lives as long as a client connection
	// (MySQL protocol), so it may hold connections of its own on shards
	// (locks). A gRPC session lives in its client between calls.
	connectionBound bool

	// lockConn is the connection the session's lock functions run on
	// (GET_LOCK; locks.go), nil until the first.
	lockConn *reservedConn

	// tableLocks are the shards' connections holding the session's
	// LOCK TABLES, by shardKey (table_locks.go); nil when it holds none.
	tableLocks map[string]*reservedConn

	// savepoints are the open transaction's savepoints, oldest first
	// (savepoints.go).
	savepoints []string

	// diag is the session's diagnostics area (warnings.go).
	diag diagnostics

	// userVariables are the session's @variables, by the bind variable
	// that carries each (sqlrouter.UserVariableBindVar).
	userVariables map[string]*querypb.BindVariable
	// gateSettings are the values of gateKeptVariables the session set.
	gateSettings map[string]int64
	// idleTimeout, when set, applies SET wait_timeout to the client
	// connection.
	idleTimeout func(time.Duration)
}

// Warning is one row of SHOW WARNINGS: a note, warning or error the last
// statement raised, on a shard or at the gate.
type Warning struct {
	Level   string // "Note", "Warning" or "Error"
	Code    uint16
	Message string
}

// shardSession is a shard's part of the session's transaction: the tablet
// it is pinned to and the transaction id there.
type shardSession struct {
	keyspace, shard string
	txID            int64
	tablet          *tabletConn
	// tabletType is the type the transaction began on (zero: primary).
	tabletType topopb.TabletType
	// direct, when set, is the part running on the shard's MariaDB
	// without the tablet (direct_transactions.go); txID is then zero.
	direct *directTx
}

// target is where the shard's part of the transaction lives.
func (ss *shardSession) target() *sgquerypb.Target {
	tt := ss.tabletType
	if tt == topopb.TabletType_TABLET_TYPE_UNSPECIFIED {
		tt = topopb.TabletType_PRIMARY
	}
	return target(ss.keyspace, ss.shard, tt)
}

// preparedStatement is a server-side prepared statement: parsed and planned
// once, executed many times.
type preparedStatement struct {
	sql        string
	stmt       sqlparser.Statement
	paramCount int
	plan       *sqlrouter.Plan // nil for statements the gate handles itself
	keyspace   string          // the keyspace and vschema the plan was made for
	version    string
	// record is the statement's statistics (query_stats.go); access
	// what it needs of its user's rights (authorize.go).
	record recordSlot
	access accessSlot
}

// beginStatement resets the per-statement counters for a new statement.
func (s *Session) beginStatement(sql string) {
	s.currentSQL = sql
	s.stmtShardCalls.Store(0)
	s.stmtRowsRead.Store(0)
	s.stmtTables = nil
	s.stmtDirectRead = false
	s.stmtDirectTx = false
}

// NewSession returns a session in autocommit mode with no keyspace.
func NewSession(connectionID uint32, user string) *Session {
	return &Session{
		ConnectionID: connectionID,
		User:         user,
		TabletType:   topopb.TabletType_PRIMARY,
		Autocommit:   true,
		Workload:     workloadOLTP,
		prepared:     map[uint32]*preparedStatement{},
	}
}

func (s *Session) findShard(keyspace, shard string) *shardSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.shards {
		if ss.keyspace == keyspace && ss.shard == shard {
			return ss
		}
	}
	return nil
}

// shardList returns a copy of the shards in the transaction.
func (s *Session) shardList() []*shardSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.shards) == 0 {
		return nil
	}
	return append([]*shardSession(nil), s.shards...)
}

// inKeyspace reports whether the session's transaction is open on some
// shard of the keyspace.
func (s *Session) inKeyspace(keyspace string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inKeyspaceLocked(keyspace)
}

func (s *Session) inKeyspaceLocked(keyspace string) bool {
	for _, ss := range s.shards {
		if ss.keyspace == keyspace {
			return true
		}
	}
	return false
}

// hasShards reports whether the session's transaction is open on a shard.
func (s *Session) hasShards() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.shards) > 0
}

// addShard adds a shard to the transaction and reports whether it is the
// first of its keyspace.
func (s *Session) addShard(ss *shardSession) (first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first = !s.inKeyspaceLocked(ss.keyspace)
	s.shards = append(s.shards, ss)
	return first
}

// removeShard takes a shard out of the transaction and reports whether it
// was the last of its keyspace.
func (s *Session) removeShard(ss *shardSession) (last bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.shards {
		if x == ss {
			s.shards = append(s.shards[:i], s.shards[i+1:]...)
			return !s.inKeyspaceLocked(ss.keyspace)
		}
	}
	return false
}

// startTransaction marks the session in a transaction: read-only when
// the statement says READ ONLY, or says neither READ ONLY nor READ WRITE
// after SET TRANSACTION READ ONLY.
func (s *Session) startTransaction(modes []sqlparser.TxAccessMode) {
	readOnly := s.nextTxReadOnly
	switch {
	case slices.Contains(modes, sqlparser.ReadOnly):
		readOnly = true
	case slices.Contains(modes, sqlparser.ReadWrite):
		readOnly = false
	}
	s.InTransaction, s.TxReadOnly, s.nextTxReadOnly = true, readOnly, false
}

// takeShards ends the session's transaction bookkeeping and returns its
// shards and, in transaction_mode 'twopc', its dtid.
func (s *Session) takeShards() ([]*shardSession, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, dtid := s.shards, s.dtid
	s.shards, s.dtid, s.savepoints = nil, "", nil
	s.InTransaction, s.TxReadOnly = false, false
	return out, dtid
}

// transactionDTID returns the dtid of the session's open transaction,
// made with newDTID when the first shard joins.
func (s *Session) transactionDTID(newDTID func() string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dtid == "" {
		s.dtid = newDTID()
	}
	return s.dtid
}

// Workloads, as Vitess names them.
const (
	workloadOLTP = "oltp"
	workloadOLAP = "olap"
)

// setting is one session variable passed on to the shards.
type setting struct {
	name  string // lower-cased MariaDB variable name
	value string // SQL of its value
}

// setSetting records (or, for DEFAULT, forgets) a session variable and
// rebuilds the statement prefix.
func (s *Session) setSetting(name, value string, isDefault bool) {
	kept := s.settings[:0]
	for _, st := range s.settings {
		if st.name != name {
			kept = append(kept, st)
		}
	}
	s.settings = kept
	if !isDefault {
		s.settings = append(s.settings, setting{name: name, value: value})
	}
	s.settingsPrefix = settingsPrefix(s.settings)
}

func settingsPrefix(settings []setting) string {
	if len(settings) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("SET STATEMENT ")
	for i, st := range settings {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(st.name + "=" + st.value)
	}
	b.WriteString(" FOR ")
	return b.String()
}

// Server status flags, as the MySQL protocol reports them in OK and EOF
// packets (SERVER_STATUS_*).
const (
	ServerStatusInTrans         uint16 = 0x0001
	ServerStatusAutocommit      uint16 = 0x0002
	ServerStatusInTransReadOnly uint16 = 0x2000
)

// StatusFlags are the session's server status flags: what a client reads
// to know whether autocommit is on and a transaction is open. Drivers act
// on them (PyMySQL, Connector/J and others skip SET autocommit=0 when the
// flags say it is off already; PDO's commit asks IN_TRANS), so they must
// be exact after every statement.
func (s *Session) StatusFlags() uint16 {
	var f uint16
	if s.Autocommit {
		f |= ServerStatusAutocommit
	}
	if s.InTransaction {
		f |= ServerStatusInTrans
		if s.TxReadOnly {
			f |= ServerStatusInTransReadOnly
		}
	}
	return f
}

// WarningCount is the number of warnings the session's last statement
// raised (what the OK or EOF packet that ends it reports).
func (s *Session) WarningCount() uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint16(min(s.diag.raised, 0xffff))
}
