package backup

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQL says how to reach a MariaDB server as an administrator.
type MySQL struct {
	Host     string
	Port     int
	Socket   string // preferred over Host and Port when set
	User     string
	Password string
}

func (m MySQL) String() string {
	if m.Socket != "" {
		return m.Socket
	}
	return m.Host + ":" + strconv.Itoa(m.Port)
}

// open returns a pool of connections to m with database db selected (""
// none). Every connection reads and writes values as raw bytes (character
// set binary) and TIMESTAMPs in UTC, so values round-trip exactly.
func (m MySQL) open(db string) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = m.User, m.Password, db
	if m.Socket != "" {
		cfg.Net, cfg.Addr = "unix", m.Socket
	} else {
		cfg.Net, cfg.Addr = "tcp", m.Host+":"+strconv.Itoa(m.Port)
	}
	cfg.Timeout = 10 * time.Second
	cfg.Params = map[string]string{"time_zone": "'+00:00'", "character_set_results": "binary"}
	cfg.MaxAllowedPacket = 0 // ask the server
	cfg.Logger = nopLogger{}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysqld at %s: %w", m, err)
	}
	return sql.OpenDB(connector), nil
}

type nopLogger struct{}

func (nopLogger) Print(...any) {}

// readerSeq numbers LOAD DATA readers so that concurrent loads do not
// share a name.
var readerSeq atomic.Int64

// loadReader registers r for one LOAD DATA LOCAL INFILE statement and
// returns the file name to use in it and a function that unregisters it.
func loadReader(r io.Reader) (name string, done func()) {
	name = "shardgate-" + strconv.FormatInt(readerSeq.Add(1), 10)
	mysql.RegisterReaderHandler(name, func() io.Reader { return r })
	return "Reader::" + name, func() { mysql.DeregisterReaderHandler(name) }
}

// session opens one connection to the server, for statements whose
// session settings (sql_log_bin, lock_wait_timeout) must hold for those
// after them; done closes it.
func (m MySQL) session(ctx context.Context) (conn *sql.Conn, done func(), err error) {
	db, err := m.open("")
	if err != nil {
		return nil, nil, err
	}
	if conn, err = db.Conn(ctx); err != nil {
		db.Close()
		return nil, nil, err
	}
	return conn, func() { conn.Close(); db.Close() }, nil
}

// exec runs statements in order on one connection.
func execAll(ctx context.Context, conn interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, stmts ...string) error {
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", abbreviate(s), err)
		}
	}
	return nil
}

func abbreviate(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// quoteID quotes a MySQL identifier.
func quoteID(s string) string {
	out := make([]byte, 0, len(s)+2)
	out = append(out, '`')
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			out = append(out, '`')
		}
		out = append(out, s[i])
	}
	return string(append(out, '`'))
}

// quoteString quotes a MySQL string literal.
func quoteString(s string) string {
	out := make([]byte, 0, len(s)+2)
	out = append(out, '\'')
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}
