package replication

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shardgate/shardgate/internal/gtidpos"
)

// DB is what the operations need of a connection to the server: *sql.DB
// and *sql.Conn have it. The statements run one after another; none of
// them needs to stay on one session.
type DB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Source is the primary a replica follows.
type Source struct {
	Host     string
	Port     int
	User     string
	Password string
}

func (s Source) String() string { return s.Host + ":" + strconv.Itoa(s.Port) }

// FollowOptions are the settings of a replica's link to its primary.
type FollowOptions struct {
	// SemiSync makes the replica acknowledge transactions to a primary
	// that waits for it (see PromoteOptions.SemiSync).
	SemiSync bool
	// Heartbeat is how often an idle primary tells the replica it is
	// alive; a replica that hears nothing for NetTimeout reconnects. Zero:
	// one second.
	Heartbeat time.Duration
	// NetTimeout is how long the replica waits for data or a heartbeat
	// before it considers the link dead and reconnects (slave_net_timeout,
	// a global setting). Zero: five seconds.
	NetTimeout time.Duration
	// ConnectRetry is the pause between attempts to reach the primary.
	// Zero: one second.
	ConnectRetry time.Duration
}

func (o FollowOptions) withDefaults() FollowOptions {
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.NetTimeout <= 0 {
		o.NetTimeout = 5 * time.Second
	}
	if o.ConnectRetry <= 0 {
		o.ConnectRetry = time.Second
	}
	return o
}

// Follow makes the server a read-only replica of src, replicating from the
// transaction after the last one it holds, and starts replication. The
// server may have been a replica of another primary or a primary itself
// (its own transactions count as held); Follow does not check for errant
// transactions: call Errant first when the server may have written on
// after its successor was promoted.
func Follow(ctx context.Context, db DB, src Source, opts FollowOptions) error {
	opts = opts.withDefaults()
	steps := []string{
		"SET GLOBAL read_only = ON",
		"STOP SLAVE",
		// The last transaction this server holds, whether it applied it as
		// a replica or wrote it as a primary: what it asks its primary for
		// the successor of.
		"SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_current_pos",
		"SET GLOBAL rpl_semi_sync_master_enabled = OFF",
		"SET GLOBAL rpl_semi_sync_slave_enabled = " + onOff(opts.SemiSync),
		fmt.Sprintf("SET GLOBAL slave_net_timeout = %d", seconds(opts.NetTimeout)),
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %d, MASTER_USER = %s, MASTER_PASSWORD = %s, "+
			"MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = %d, MASTER_HEARTBEAT_PERIOD = %s",
			quote(src.Host), src.Port, quote(src.User), quote(src.Password),
			seconds(opts.ConnectRetry), strconv.FormatFloat(opts.Heartbeat.Seconds(), 'f', 3, 64)),
		"START SLAVE",
	}
	if err := run(ctx, db, steps); err != nil {
		return fmt.Errorf("replication: follow %s: %w", src, err)
	}
	return nil
}

// StopFollowing stops replication and leaves the server read-only: what a
// replica does while its shard's primary changes, so that it applies
// nothing from a primary that is being replaced.
func StopFollowing(ctx context.Context, db DB) error {
	if err := run(ctx, db, []string{"SET GLOBAL read_only = ON", "STOP SLAVE"}); err != nil {
		return fmt.Errorf("replication: stop: %w", err)
	}
	return nil
}

// PromoteOptions are the settings of a server that becomes its shard's
// primary.
type PromoteOptions struct {
	// SemiSync makes commits wait until a replica has the transaction
	// (AFTER_SYNC), or until SemiSyncTimeout passes with no replica
	// answering, after which the primary goes on asynchronously until a
	// replica catches up.
	SemiSync bool
	// SemiSyncTimeout: zero is one second.
	SemiSyncTimeout time.Duration
}

// Promote makes the server a primary: it stops replicating, forgets its
// primary, turns semi-sync on as opts say and becomes writable. It returns
// the position it was promoted at: everything any server of the shard may
// hold from before, which Errant compares returning servers with.
//
// The caller must have made sure the server applied everything it should
// (WaitFor the old primary's position, or the most advanced replica's)
// before promoting it; what is still in its relay log is dropped.
func Promote(ctx context.Context, db DB, opts PromoteOptions) (gtidpos.Position, error) {
	timeout := opts.SemiSyncTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	steps := []string{
		"STOP SLAVE",
		"RESET SLAVE ALL",
		"SET GLOBAL rpl_semi_sync_slave_enabled = OFF",
		"SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC",
		fmt.Sprintf("SET GLOBAL rpl_semi_sync_master_timeout = %d", timeout.Milliseconds()),
		"SET GLOBAL rpl_semi_sync_master_enabled = " + onOff(opts.SemiSync),
	}
	if err := run(ctx, db, steps); err != nil {
		return nil, fmt.Errorf("replication: promote: %w", err)
	}
	pos, err := Executed(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("replication: promote: %w", err)
	}
	if err := SetReadOnly(ctx, db, false); err != nil {
		return nil, fmt.Errorf("replication: promote: %w", err)
	}
	return pos, nil
}

// SetReadOnly turns read_only on or off. read_only refuses writes from
// users without the READ_ONLY ADMIN privilege; the tablet refuses writes
// itself where it is not the primary, since its own user has that
// privilege.
func SetReadOnly(ctx context.Context, db DB, on bool) error {
	if _, err := db.ExecContext(ctx, "SET GLOBAL read_only = "+onOff(on)); err != nil {
		return fmt.Errorf("replication: set read_only %s: %w", onOff(on), err)
	}
	return nil
}

// Executed is every transaction the server holds: those it wrote and those
// it applied (every server logs the transactions it applies, so its
// binlog position covers both).
func Executed(ctx context.Context, db DB) (gtidpos.Position, error) {
	var s string
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&s); err != nil {
		return nil, fmt.Errorf("replication: read gtid_binlog_pos: %w", err)
	}
	pos, err := gtidpos.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("replication: gtid_binlog_pos %q: %w", s, err)
	}
	return pos, nil
}

// ErrWaitTimedOut is returned by WaitFor when the server did not reach the
// position in time.
var ErrWaitTimedOut = errors.New("replication: timed out waiting for a position")

// WaitFor waits until the server has applied pos, at most until ctx ends
// (or a minute when ctx has no deadline). It waits in the server
// (MASTER_GTID_WAIT), so it returns as soon as the position is reached.
func WaitFor(ctx context.Context, db DB, pos gtidpos.Position) error {
	if len(pos) == 0 {
		return nil
	}
	timeout := time.Minute
	if d, ok := ctx.Deadline(); ok {
		// The server gives up a little before the context does, so that
		// the answer is a timeout rather than a cancelled query.
		timeout = max(time.Until(d)*9/10, time.Millisecond)
	}
	var res sql.NullInt64
	err := db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", pos.String(), timeout.Seconds()).Scan(&res)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %s: %w", ErrWaitTimedOut, pos, err)
	case err != nil:
		return fmt.Errorf("replication: wait for %s: %w", pos, err)
	case !res.Valid || res.Int64 != 0:
		return fmt.Errorf("%w: %s not applied after %s", ErrWaitTimedOut, pos, timeout.Round(time.Millisecond))
	}
	return nil
}

// Errant returns the transactions a server executed that are not in the
// history of the shard's primary, which was promoted at promotedAt: per
// replication domain, the server's last transaction when it is past the
// promotion position or differs from it at the same sequence number. A
// server with errant transactions must not follow the new primary (its
// data differs); it is rebuilt from a backup instead.
func Errant(executed, promotedAt gtidpos.Position) []gtidpos.GTID {
	var errant []gtidpos.GTID
	for d, g := range executed {
		at, ok := promotedAt[d]
		if !ok || g.Seq > at.Seq || (g.Seq == at.Seq && g.Server != at.Server) {
			errant = append(errant, g)
		}
	}
	return errant
}

// Status is a server's replication state as SHOW SLAVE STATUS reports it.
type Status struct {
	// Configured is false on a server that follows no primary; the other
	// fields are then zero.
	Configured bool
	Source     Source // without the password
	// IORunning and SQLRunning: the thread that receives the primary's
	// binlog and the one that applies it. IOConnecting is true while the
	// receiver tries to reach the primary.
	IORunning    bool
	IOConnecting bool
	SQLRunning   bool
	// IOState and SQLState are the threads' states in MariaDB's words.
	IOState  string
	SQLState string
	// LastIOError and LastSQLError are the last errors of each thread,
	// empty when there is none.
	LastIOError  string
	LastSQLError string
	// Lag is Seconds_Behind_Master; LagKnown is false when MariaDB does not
	// know it (the applier is stopped or has nothing from the primary).
	Lag      time.Duration
	LagKnown bool
	// Received is the last transaction received from the primary
	// (Gtid_IO_Pos); Applied is the last applied (gtid_slave_pos).
	Received gtidpos.Position
	Applied  gtidpos.Position
}

// ReadStatus reads the server's replication state.
func ReadStatus(ctx context.Context, db DB) (Status, error) {
	row, err := queryOneRow(ctx, db, "SHOW SLAVE STATUS")
	if err != nil {
		return Status{}, fmt.Errorf("replication: status: %w", err)
	}
	if row == nil {
		return Status{}, nil
	}
	st := Status{
		Configured: true,
		Source:     Source{Host: row["Master_Host"], User: row["Master_User"]},
		IORunning:  row["Slave_IO_Running"] == "Yes",
		SQLRunning: row["Slave_SQL_Running"] == "Yes",
		IOState:    row["Slave_IO_State"],
		SQLState:   row["Slave_SQL_Running_State"],
	}
	st.IOConnecting = row["Slave_IO_Running"] == "Connecting"
	st.Source.Port, _ = strconv.Atoi(row["Master_Port"])
	if row["Last_IO_Errno"] != "0" {
		st.LastIOError = row["Last_IO_Error"]
	}
	if row["Last_SQL_Errno"] != "0" {
		st.LastSQLError = row["Last_SQL_Error"]
	}
	if secs, err := strconv.ParseInt(row["Seconds_Behind_Master"], 10, 64); err == nil {
		st.Lag, st.LagKnown = time.Duration(secs)*time.Second, true
	}
	if st.Received, err = gtidpos.Parse(row["Gtid_IO_Pos"]); err != nil {
		return Status{}, fmt.Errorf("replication: status: Gtid_IO_Pos: %w", err)
	}
	var applied string
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_slave_pos").Scan(&applied); err != nil {
		return Status{}, fmt.Errorf("replication: status: gtid_slave_pos: %w", err)
	}
	if st.Applied, err = gtidpos.Parse(applied); err != nil {
		return Status{}, fmt.Errorf("replication: status: gtid_slave_pos %q: %w", applied, err)
	}
	return st, nil
}

// queryOneRow returns the first row of a statement whose columns vary by
// server version, by column name; nil when there is no row. NULL reads as
// "".
func queryOneRow(ctx context.Context, db DB, query string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(cols))
	for i, c := range cols {
		out[c] = vals[i].String
	}
	return out, rows.Err()
}

func run(ctx context.Context, db DB, stmts []string) error {
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", redact(s), err)
		}
	}
	return nil
}

// redact hides the password of a CHANGE MASTER statement in errors.
func redact(stmt string) string {
	i := strings.Index(stmt, "MASTER_PASSWORD = ")
	if i < 0 {
		return stmt
	}
	rest := stmt[i+len("MASTER_PASSWORD = "):]
	end := strings.Index(rest, ", MASTER_USE_GTID")
	if end < 0 {
		return stmt[:i] + "MASTER_PASSWORD = <redacted>"
	}
	return stmt[:i] + "MASTER_PASSWORD = <redacted>" + rest[end:]
}

// quote makes s a MariaDB string literal: CHANGE MASTER takes no
// placeholders.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'':
			b.WriteString(`\'`)
		case '\\':
			b.WriteString(`\\`)
		case 0:
			b.WriteString(`\0`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

func onOff(on bool) string {
	if on {
		return "ON"
	}
	return "OFF"
}

// seconds rounds d up to whole seconds, at least one.
func seconds(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}
