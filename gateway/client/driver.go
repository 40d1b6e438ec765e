package client

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"

	"vitess.io/vitess/go/sqltypes"
)

// DriverName is the name the database/sql driver registers under.
const DriverName = "shardgate"

func init() {
	sql.Register(DriverName, Driver{})
}

// Driver is the database/sql driver. sql.Open("shardgate", dsn) uses it;
// ParseDSN documents the DSN.
type Driver struct{}

// Open implements driver.Driver. Each call dials anew: prefer sql.Open,
// which uses OpenConnector and shares one connection to the gate.
func (Driver) Open(dsn string) (driver.Conn, error) {
	c, err := Driver{}.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	dc, err := c.Connect(context.Background())
	if err != nil {
		return nil, err
	}
	dc.(*conn).ownsClient = true
	return dc, nil
}

// OpenConnector implements driver.DriverContext.
func (Driver) OpenConnector(dsn string) (driver.Connector, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	return NewConnector(*cfg)
}

// Connector is a database/sql connector: its connections are sessions of
// one Client. Use sql.OpenDB(connector) to build a *sql.DB from a Config
// rather than a DSN.
type Connector struct {
	client *Client
}

// NewConnector returns a connector for cfg.
func NewConnector(cfg Config) (*Connector, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return &Connector{client: c}, nil
}

// Connect implements driver.Connector: a new session; nothing is sent to
// the gate.
func (c *Connector) Connect(context.Context) (driver.Conn, error) {
	return &conn{s: c.client.NewSession(), cfg: &c.client.cfg}, nil
}

// Driver implements driver.Connector.
func (c *Connector) Driver() driver.Driver { return Driver{} }

// Close closes the connection to the gate (sql.DB.Close calls it).
func (c *Connector) Close() error { return c.client.Close() }

// conn is a database/sql connection: one session.
type conn struct {
	s   *Session
	cfg *Config
	// ownsClient: the conn came from Driver.Open and closes its client.
	ownsClient bool
	// txIsolation is the session's isolation level before BeginTx changed
	// it for its transaction.
	txIsolation *string
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
)

// Prepare implements driver.Conn. Statements are prepared on the client:
// each execution sends the text and its parameters, and the gate reuses
// the plan of the text from its cache.
func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return &stmt{c: c, query: query}, nil
}

// PrepareContext implements driver.ConnPrepareContext.
func (c *conn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	return c.Prepare(query)
}

// Close rolls back an open transaction. The session costs nothing at the
// gate otherwise.
func (c *conn) Close() error {
	if c.s.InTransaction() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = c.s.Execute(ctx, "rollback", nil)
	}
	if c.ownsClient {
		return c.s.c.Close()
	}
	return nil
}

// Begin implements driver.Conn.
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// isolationLevels are the levels BeginTx accepts, as MariaDB names them.
var isolationLevels = map[sql.IsolationLevel]string{
	sql.LevelReadUncommitted: "READ UNCOMMITTED",
	sql.LevelReadCommitted:   "READ COMMITTED",
	sql.LevelRepeatableRead:  "REPEATABLE READ",
	sql.LevelSerializable:    "SERIALIZABLE",
}

// BeginTx implements driver.ConnBeginTx. Beginning costs no call: the
// session is marked in a transaction, and each shard's part begins with
// the first statement that reaches it, at the isolation level and in the
// access mode (read-only or not) asked for.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	level := ""
	if iso := sql.IsolationLevel(opts.Isolation); iso != sql.LevelDefault {
		var ok bool
		if level, ok = isolationLevels[iso]; !ok {
			return nil, fmt.Errorf("shardgate: isolation level %s is not supported", iso)
		}
	}
	if c.s.pb.InTransaction {
		// Like BEGIN on MySQL: the open transaction commits first.
		if _, err := c.s.Execute(ctx, "begin", nil); err != nil {
			return nil, err
		}
	}
	if level != "" {
		old := c.s.pb.TransactionIsolation
		c.txIsolation = &old
		c.s.pb.TransactionIsolation = level
	}
	c.s.pb.InTransaction = true
	// Like START TRANSACTION READ ONLY: the shards refuse its writes.
	c.s.pb.TransactionReadOnly = opts.ReadOnly
	return tx{c}, nil
}

// endTx commits or rolls back, then restores the isolation level. When
// the gate's answer is lost (it could not be reached, or the call timed
// out), the outcome is unknown, as when a MySQL connection drops during
// COMMIT: the session leaves the transaction anyway, so that the next
// statement on this connection does not run in it; what the gate did not
// end, the tablets' idle timeout rolls back.
func (c *conn) endTx(sql string) error {
	_, err := c.s.Execute(context.Background(), sql, nil)
	var se *Error
	if err != nil && !errors.As(err, &se) {
		c.s.pb.InTransaction, c.s.pb.ShardSessions, c.s.pb.Dtid = false, nil, ""
	}
	if c.txIsolation != nil {
		c.s.pb.TransactionIsolation = *c.txIsolation
		c.txIsolation = nil
	}
	return err
}

type tx struct{ c *conn }

func (t tx) Commit() error   { return t.c.endTx("commit") }
func (t tx) Rollback() error { return t.c.endTx("rollback") }

// ExecContext implements driver.ExecerContext.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	bv, err := bindVariables(args, c.cfg.Location)
	if err != nil {
		return nil, err
	}
	res, err := c.s.Execute(ctx, query, bv)
	if err != nil {
		return nil, err
	}
	return result{insertID: int64(res.InsertID), rowsAffected: int64(res.RowsAffected)}, nil
}

// QueryContext implements driver.QueryerContext: the rows stream from the
// gate as the caller reads them.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	bv, err := bindVariables(args, c.cfg.Location)
	if err != nil {
		return nil, err
	}
	rs, err := c.s.StreamExecute(ctx, query, bv)
	if err != nil {
		return nil, err
	}
	return newRows(rs, c.cfg), nil
}

// CheckNamedValue implements driver.NamedValueChecker: unsigned integers
// pass whole (database/sql's default refuses uint64 values above
// MaxInt64); everything else converts as database/sql does by default.
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	switch v := nv.Value.(type) {
	case uint:
		nv.Value = uint64(v)
	case uint64:
	case uint32:
		nv.Value = uint64(v)
	default:
		return driver.ErrSkip
	}
	return nil
}

// Ping implements driver.Pinger: a statement through the session proves
// the gate answers, the login is accepted and the target exists.
func (c *conn) Ping(ctx context.Context) error {
	_, err := c.s.Execute(ctx, "select 1", nil)
	return err
}

// ResetSession implements driver.SessionResetter.
func (c *conn) ResetSession(context.Context) error { return nil }

// IsValid implements driver.Validator.
func (c *conn) IsValid() bool { return true }

type result struct{ insertID, rowsAffected int64 }

func (r result) LastInsertId() (int64, error) { return r.insertID, nil }
func (r result) RowsAffected() (int64, error) { return r.rowsAffected, nil }

// stmt is a statement prepared on the client.
type stmt struct {
	c     *conn
	query string
}

var (
	_ driver.StmtExecContext   = (*stmt)(nil)
	_ driver.StmtQueryContext  = (*stmt)(nil)
	_ driver.NamedValueChecker = (*stmt)(nil)
)

func (s *stmt) Close() error { return nil }

// NumInput is -1: the gate counts the placeholders.
func (s *stmt) NumInput() int { return -1 }

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.query, args)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.query, args)
}

func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error { return s.c.CheckNamedValue(nv) }

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}

// rows streams a result to database/sql.
type rows struct {
	rs      *ResultStream
	cfg     *Config
	columns []column
	names   []string
	batch   []sqltypes.Row
	next    int
}

func newRows(rs *ResultStream, cfg *Config) *rows {
	r := &rows{rs: rs, cfg: cfg}
	for _, f := range rs.Fields() {
		r.columns = append(r.columns, newColumn(f))
		r.names = append(r.names, f.Name)
	}
	return r
}

func (r *rows) Columns() []string { return r.names }

// Close stops the statement if rows remain unread.
func (r *rows) Close() error {
	r.rs.Close()
	return nil
}

func (r *rows) Next(dest []driver.Value) error {
	for r.next >= len(r.batch) {
		res, err := r.rs.Recv()
		if err != nil {
			return err // io.EOF at the end
		}
		r.batch, r.next = res.Rows, 0
	}
	row := r.batch[r.next]
	r.next++
	for i, v := range row {
		var err error
		if dest[i], err = r.columns[i].value(v, r.cfg); err != nil {
			return fmt.Errorf("shardgate: column %s: %w", r.names[i], err)
		}
	}
	return nil
}

var _ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)
var _ io.Closer = (*rows)(nil)

func (r *rows) ColumnTypeDatabaseTypeName(i int) string { return r.columns[i].databaseTypeName() }
func (r *rows) ColumnTypeNullable(i int) (bool, bool)   { return r.columns[i].nullable(), true }
func (r *rows) ColumnTypeLength(i int) (int64, bool)    { return r.columns[i].length() }
func (r *rows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	return r.columns[i].precisionScale()
}

func (r *rows) ColumnTypeScanType(i int) reflect.Type { return r.columns[i].scanType() }
