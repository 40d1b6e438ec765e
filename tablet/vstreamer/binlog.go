package vstreamer

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/proto"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/replicationpb"
)

// heartbeat is how often an idle stream reports its position.
const heartbeat = time.Second

// A transaction that keeps nothing for the receiver sends no message of
// its own; the position it moved to goes with the next message, at most
// positionEvery later while the binlog is busy, and idleFlush after the
// binlog goes quiet. A receiver told to stop at a position (the switch of
// writes waits for exactly that) so learns within milliseconds that it
// is there, even when its sender's last transactions held nothing for it,
// without restarting its stream.
const (
	positionEvery = 50 * time.Millisecond
	idleFlush     = 5 * time.Millisecond
)

// maxHeldBytes bounds what a stream holds while a prepared XA transaction
// waits for its outcome.
const maxHeldBytes = 64 << 20

// StreamBinlog sends the changes of the filter's tables committed after
// position, one transaction per message with the position after it, until
// ctx ends, the binlog fails, or a DDL statement on the keyspace's
// database (sent, then the stream ends).
//
// A transaction prepared with XA reaches the binlog at XA PREPARE and is
// decided later: its rows are held, and so is everything committed after
// it, until XA COMMIT (its rows join the message) or XA ROLLBACK (they are
// dropped); the held transactions go in one message with the position
// after the last, so that a receiver that restarts meanwhile starts
// before the XA PREPARE again.
func (s *Streamer) StreamBinlog(ctx context.Context, req *replicationpb.StreamBinlogRequest, send func(*replicationpb.StreamBinlogResponse) error) error {
	if err := s.checkKeyspace(req.Keyspace); err != nil {
		return err
	}
	filter, err := NewFilter(req.Filter)
	if err != nil {
		return err
	}
	start, err := gtidpos.Parse(req.Position)
	if err != nil {
		return err
	}
	if len(start) == 0 {
		// go-mysql misnumbers the first server's later transactions when
		// it starts from an empty set; a server with no transaction yet
		// has none to skip either.
		start = gtidpos.Position{0: {Domain: 0, Server: 0, Seq: 0}}
	}
	gset, err := gomysql.ParseMariadbGTIDSet(start.String())
	if err != nil {
		return fmt.Errorf("position %q: %w", req.Position, err)
	}
	meta, err := mysql.Connect(ctx, &s.params)
	if err != nil {
		return fmt.Errorf("connect to MySQL: %w", err)
	}
	defer meta.Close()

	host := s.params.Host
	if host == "" {
		host = "127.0.0.1"
	}
	var dialer client.Dialer
	if sock := s.params.UnixSocket; sock != "" {
		// The tablet reaches its MySQL over the socket; so does the stream.
		dialer = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
	}
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID:                replicaServerID(),
		Flavor:                  gomysql.MariaDBFlavor,
		Host:                    host,
		Port:                    uint16(s.params.Port),
		Dialer:                  dialer,
		User:                    s.params.Uname,
		Password:                s.params.Pass,
		UseDecimal:              true,
		TimestampStringLocation: time.UTC,
		HeartbeatPeriod:         heartbeat,
		MaxReconnectAttempts:    1,
		Logger:                  slogDiscard,
	})
	defer syncer.Close()
	stream, err := syncer.StartSyncGTID(gset)
	if err != nil {
		return fmt.Errorf("start the binlog stream at %s: %w", start, err)
	}
	b := &binlogReader{s: s, filter: filter, meta: meta, pos: start, tables: map[string]*streamTable{}, held: map[string]*pendingXA{}, send: send}
	if req.StopPosition != "" {
		if b.stop, err = gtidpos.Parse(req.StopPosition); err != nil {
			return err
		}
		if start.AtLeast(b.stop) {
			return b.emit(nil, time.Now().Unix()) // already there
		}
	}
	return b.run(ctx, stream)
}

// streamTable is a table as the binlog stream sends it.
type streamTable struct {
	t *table
	// fields type the values as sent: ENUM and SET columns go as their
	// numbers (the binlog holds indexes), BIT as an integer.
	fields []*vquerypb.Field
	rf     *rowFilter
	sent   bool // fields sent in this stream
}

// txn is a transaction being read.
type txn struct {
	gtid    gtidpos.GTID
	when    int64
	xid     string // set between XA START and XA PREPARE
	changes []*replicationpb.TableChanges
	size    int
}

type pendingXA struct {
	changes []*replicationpb.TableChanges
}

type binlogReader struct {
	s      *Streamer
	filter *Filter
	meta   *mysql.Conn // reads table definitions
	pos    gtidpos.Position
	tables map[string]*streamTable
	send   func(*replicationpb.StreamBinlogResponse) error

	cur *txn
	// held are the prepared XA transactions waiting for their outcome, by
	// gtrid; holding collects what commits meanwhile.
	held     map[string]*pendingXA
	holding  []*replicationpb.TableChanges
	heldSize int
	lastSent time.Time
	// unsent: the position moved past transactions that kept nothing
	// since the last message.
	unsent bool
	// stop ends the stream once the position reaches it (nil: never).
	stop gtidpos.Position
}

func (b *binlogReader) run(ctx context.Context, stream *replication.BinlogStreamer) error {
	for {
		ev, err := b.next(ctx, stream)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("binlog stream: %w", err)
		}
		if err := b.handle(ev); err != nil {
			if errors.Is(err, errDDL) || errors.Is(err, errStopped) {
				return nil
			}
			return err
		}
	}
}

// next waits for the binlog's next event. While a position is unsent it
// waits idleFlush at most, then sends the position and waits again.
func (b *binlogReader) next(ctx context.Context, stream *replication.BinlogStreamer) (*replication.BinlogEvent, error) {
	for b.unsent {
		wait, cancel := context.WithTimeout(ctx, idleFlush)
		ev, err := stream.GetEvent(wait) // a wait that times out leaves the stream usable
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return ev, err
		}
		if err := b.flushPosition(); err != nil {
			return nil, err
		}
	}
	return stream.GetEvent(ctx)
}

// flushPosition sends the position without changes, unless transactions
// are held (then it goes with them).
func (b *binlogReader) flushPosition() error {
	b.unsent = false
	if len(b.held) > 0 || b.cur != nil {
		return nil
	}
	return b.emit(nil, time.Now().Unix())
}

var (
	errDDL     = errors.New("a DDL statement ended the stream")
	errStopped = errors.New("the stream reached its stop position")
)

func (b *binlogReader) handle(ev *replication.BinlogEvent) error {
	switch e := ev.Event.(type) {
	case *replication.MariadbGTIDEvent:
		b.cur = &txn{gtid: gtidpos.GTID{Domain: e.GTID.DomainID, Server: e.GTID.ServerID, Seq: e.GTID.SequenceNumber}, when: int64(ev.Header.Timestamp)}
		return nil
	case *replication.RowsEvent:
		return b.rows(ev.Header.EventType, e)
	case *replication.XIDEvent:
		return b.commit()
	case *replication.QueryEvent:
		return b.query(e)
	case *replication.GenericEvent:
		if ev.Header.EventType == replication.XA_PREPARE_LOG_EVENT {
			return b.xaPrepare(e.Data)
		}
	}
	if ev.Header.EventType == replication.HEARTBEAT_EVENT || ev.Header.EventType == replication.HEARTBEAT_LOG_EVENT_V2 {
		return b.heartbeat()
	}
	return nil
}

// query handles a statement event: transaction control, XA, or DDL.
func (b *binlogReader) query(e *replication.QueryEvent) error {
	q := strings.TrimSpace(string(e.Query))
	upper := strings.ToUpper(q)
	switch {
	case upper == "BEGIN" || strings.HasPrefix(upper, "SAVEPOINT") || strings.HasPrefix(upper, "ROLLBACK TO"):
		return nil
	case upper == "COMMIT":
		return b.commit()
	case strings.HasPrefix(upper, "XA START"):
		if b.cur != nil {
			b.cur.xid = xaGtrid(q[len("XA START"):])
		}
		return nil
	case strings.HasPrefix(upper, "XA END"):
		return nil
	case strings.HasPrefix(upper, "XA COMMIT"), strings.HasPrefix(upper, "XA ROLLBACK"):
		commit := strings.HasPrefix(upper, "XA COMMIT")
		verb := "XA ROLLBACK"
		if commit {
			verb = "XA COMMIT"
		}
		return b.xaEnd(xaGtrid(q[len(verb):]), commit)
	}
	// Anything else is DDL (or a statement-logged change). It stops the
	// workflow when it concerns the keyspace's database; elsewhere (the
	// receivers' own bookkeeping, mysql.*) it only moves the position.
	db := strings.ToLower(b.s.keyspace)
	if !strings.EqualFold(string(e.Schema), db) && !strings.Contains(strings.ToLower(q), db) {
		return b.commit()
	}
	if b.cur != nil {
		b.pos = b.pos.After(b.cur.gtid)
		b.cur = nil
	}
	if err := b.send(&replicationpb.StreamBinlogResponse{Position: b.pos.String(), TimestampUnix: time.Now().Unix(), Ddl: q}); err != nil {
		return err
	}
	return errDDL
}

// rows adds the kept changes of a rows event to the current transaction.
func (b *binlogReader) rows(typ replication.EventType, e *replication.RowsEvent) error {
	if b.cur == nil || !strings.EqualFold(string(e.Table.Schema), b.s.keyspace) || !b.filter.Has(string(e.Table.Table)) {
		return nil
	}
	st, err := b.table(string(e.Table.Table))
	if err != nil {
		return err
	}
	tc := &replicationpb.TableChanges{Table: st.t.name}
	if !st.sent {
		tc.Fields, tc.PkColumns = queryconv.FieldsToProto(st.fields), st.t.pk
		st.sent = true
	}
	add := func(before, after []any) error {
		var ch replicationpb.RowChange
		for i, img := range [][]any{before, after} {
			if img == nil {
				continue
			}
			row, err := st.values(img)
			if err != nil {
				return fmt.Errorf("table %s: %w", st.t.name, err)
			}
			keep, err := st.rf.keep(row)
			if err != nil {
				return fmt.Errorf("table %s: %w", st.t.name, err)
			}
			if !keep {
				continue
			}
			pr := queryconv.RowToProto(row)
			b.cur.size += len(pr.Values) + 8*len(pr.Lengths)
			if i == 0 {
				ch.Before = pr
			} else {
				ch.After = pr
			}
		}
		if ch.Before != nil || ch.After != nil {
			tc.Changes = append(tc.Changes, &ch)
		}
		return nil
	}
	switch typ {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2, replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		for _, r := range e.Rows {
			if err := add(nil, r); err != nil {
				return err
			}
		}
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2, replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		for _, r := range e.Rows {
			if err := add(r, nil); err != nil {
				return err
			}
		}
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
		for i := 0; i+1 < len(e.Rows); i += 2 {
			if err := add(e.Rows[i], e.Rows[i+1]); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unexpected rows event %v", typ)
	}
	if len(tc.Changes) > 0 || tc.Fields != nil {
		b.cur.changes = append(b.cur.changes, tc)
	}
	return nil
}

// table returns a table's definition as the stream sends it.
func (b *binlogReader) table(name string) (*streamTable, error) {
	key := strings.ToLower(name)
	if st, ok := b.tables[key]; ok {
		return st, nil
	}
	t, err := loadTable(b.meta, b.s.keyspace, name)
	if err != nil {
		return nil, err
	}
	st := &streamTable{t: t, fields: make([]*vquerypb.Field, len(t.fields))}
	for i, f := range t.fields {
		c := proto.Clone(f).(*vquerypb.Field)
		switch f.Type {
		case sqltypes.Enum, sqltypes.Set, sqltypes.Bit:
			c.Type = sqltypes.Uint64
		}
		st.fields[i] = c
	}
	if st.rf, err = b.filter.forTable(t.name, st.fields); err != nil {
		return nil, err
	}
	b.tables[key] = st
	return st, nil
}

// values turns a binlog row image into values typed by the stream's
// fields.
func (st *streamTable) values(img []any) ([]sqltypes.Value, error) {
	if len(img) != len(st.fields) {
		return nil, fmt.Errorf("the binlog has %d columns and the table %d: its definition changed", len(img), len(st.fields))
	}
	out := make([]sqltypes.Value, len(img))
	for i, v := range img {
		val, err := toValue(v, st.fields[i])
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", st.fields[i].Name, err)
		}
		out[i] = val
	}
	return out, nil
}

// toValue renders a value the binlog decoder produced as the text MySQL
// reads back into the column.
func toValue(v any, f *vquerypb.Field) (sqltypes.Value, error) {
	unsigned := f.Flags&uint32(vquerypb.MySqlFlag_UNSIGNED_FLAG) != 0
	switch x := v.(type) {
	case nil:
		return sqltypes.NULL, nil
	case int8:
		if unsigned {
			return sqltypes.NewUint64(uint64(uint8(x))), nil
		}
		return sqltypes.NewInt64(int64(x)), nil
	case int16:
		if unsigned {
			return sqltypes.NewUint64(uint64(uint16(x))), nil
		}
		return sqltypes.NewInt64(int64(x)), nil
	case int32:
		if unsigned {
			if f.Type == sqltypes.Uint24 || f.Type == sqltypes.Int24 {
				return sqltypes.NewUint64(uint64(uint32(x) & 0xffffff)), nil
			}
			return sqltypes.NewUint64(uint64(uint32(x))), nil
		}
		return sqltypes.NewInt64(int64(x)), nil
	case int64:
		if unsigned || f.Type == sqltypes.Uint64 {
			return sqltypes.NewUint64(uint64(x)), nil
		}
		return sqltypes.NewInt64(x), nil
	case uint64:
		return sqltypes.NewUint64(x), nil
	case float32:
		return sqltypes.MakeTrusted(sqltypes.Float32, []byte(strconv.FormatFloat(float64(x), 'g', -1, 32))), nil
	case float64:
		return sqltypes.MakeTrusted(sqltypes.Float64, []byte(strconv.FormatFloat(x, 'g', -1, 64))), nil
	case decimal.Decimal:
		return sqltypes.MakeTrusted(sqltypes.Decimal, []byte(x.String())), nil
	case string:
		return sqltypes.MakeTrusted(textType(f), []byte(x)), nil
	case []byte:
		return sqltypes.MakeTrusted(textType(f), x), nil
	}
	return sqltypes.NULL, fmt.Errorf("unexpected binlog value %T", v)
}

// textType is how a string value travels: quoted, as text or bytes.
func textType(f *vquerypb.Field) sqltypes.Type {
	switch {
	case sqltypes.IsBinary(f.Type) || f.Type == sqltypes.Geometry:
		return sqltypes.VarBinary
	case sqltypes.IsText(f.Type):
		return sqltypes.VarChar
	}
	return f.Type // dates and times keep their type: quoted as they are
}

// commit ends the current transaction: its kept changes are sent (or
// held behind a prepared XA transaction).
func (b *binlogReader) commit() error {
	if b.cur == nil {
		return nil
	}
	cur := b.cur
	b.cur = nil
	b.pos = b.pos.After(cur.gtid)
	if len(b.held) > 0 {
		b.holding = append(b.holding, cur.changes...)
		b.heldSize += cur.size
		if b.heldSize > maxHeldBytes {
			return fmt.Errorf("a prepared XA transaction (%s) stays undecided while %d bytes of later changes wait behind it", b.firstHeld(), b.heldSize)
		}
		return nil
	}
	if len(cur.changes) == 0 && time.Since(b.lastSent) < positionEvery && !b.atStop() {
		b.unsent = true // a transaction that kept nothing: a later message carries the position
		return nil
	}
	return b.emit(cur.changes, cur.when)
}

func (b *binlogReader) atStop() bool { return b.stop != nil && b.pos.AtLeast(b.stop) }

// emit sends changes at the current position, and ends the stream if
// that is its stop position.
func (b *binlogReader) emit(changes []*replicationpb.TableChanges, when int64) error {
	b.lastSent, b.unsent = time.Now(), false
	if err := b.send(&replicationpb.StreamBinlogResponse{Position: b.pos.String(), TimestampUnix: when, Tables: changes}); err != nil {
		return err
	}
	if b.atStop() {
		return errStopped
	}
	return nil
}

func (b *binlogReader) heartbeat() error {
	if len(b.held) > 0 || b.cur != nil {
		return nil
	}
	return b.emit(nil, time.Now().Unix())
}

// xaPrepare ends an XA transaction's group at XA PREPARE: its rows wait
// for the outcome.
func (b *binlogReader) xaPrepare(data []byte) error {
	cur := b.cur
	b.cur = nil
	if cur == nil {
		return nil
	}
	b.pos = b.pos.After(cur.gtid)
	gtrid := cur.xid
	if g := xaPrepareGtrid(data); g != "" {
		gtrid = g
	}
	b.held[gtrid] = &pendingXA{changes: cur.changes}
	b.heldSize += cur.size
	return nil
}

// xaEnd decides a prepared XA transaction: its rows join the held ones at
// the point of its XA COMMIT; once none is pending, everything held goes.
func (b *binlogReader) xaEnd(gtrid string, commit bool) error {
	cur := b.cur
	b.cur = nil
	if cur != nil {
		b.pos = b.pos.After(cur.gtid)
	}
	p, ok := b.held[gtrid]
	if !ok {
		// Prepared before the stream's start: the receiver cannot have
		// its rows, and never will. Stop rather than lose them silently.
		if commit {
			return fmt.Errorf("XA COMMIT of a transaction prepared before this stream's start position (%s): its rows cannot be streamed; restart the stream from before its XA PREPARE", gtrid)
		}
		return b.commitTrailing()
	}
	delete(b.held, gtrid)
	if commit {
		b.holding = append(b.holding, p.changes...)
	}
	return b.commitTrailing()
}

func (b *binlogReader) commitTrailing() error {
	if len(b.held) > 0 {
		return nil
	}
	changes := b.holding
	b.holding, b.heldSize = nil, 0
	return b.emit(changes, time.Now().Unix())
}

func (b *binlogReader) firstHeld() string {
	for k := range b.held {
		return k
	}
	return ""
}

// xaGtrid reads the gtrid of "XA COMMIT X'6474',X”,1" or "XA COMMIT
// 'dt'" (the text after the keyword), hex-encoded.
func xaGtrid(s string) string {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "X'") || strings.HasPrefix(s, "x'"):
		end := strings.IndexByte(s[2:], '\'')
		if end >= 0 {
			return strings.ToLower(s[2 : 2+end])
		}
	case strings.HasPrefix(s, "'"):
		end := strings.IndexByte(s[1:], '\'')
		if end >= 0 {
			return hex.EncodeToString([]byte(s[1 : 1+end]))
		}
	}
	return strings.ToLower(s)
}

// xaPrepareGtrid reads the gtrid of an XA_PREPARE_LOG_EVENT (one_phase,
// format id, gtrid and bqual lengths, data), hex-encoded.
func xaPrepareGtrid(data []byte) string {
	if len(data) < 13 {
		return ""
	}
	gl := int(binary.LittleEndian.Uint32(data[5:9]))
	if 13+gl > len(data) {
		return ""
	}
	return hex.EncodeToString(data[13 : 13+gl])
}
