package vreplication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/internal/rowkey"
	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// applyBatchBytes bounds one INSERT of copied rows.
const applyBatchBytes = 1 << 20

// stream receives one sender shard's rows for one workflow.
type stream struct {
	e        *Engine
	name     string // workflow
	sender   string
	keyRange *topopb.KeyRange // the receiver's
	// first: this sender is the first of the receiver's (in key order):
	// reference tables come from it alone.
	first bool
	log   *zap.Logger

	wf      atomic.Pointer[topopb.Workflow]
	changed chan struct{} // a new workflow record arrived

	mu     sync.Mutex
	status *topopb.StreamStatus
	// publishMu orders the saves of the status; lastPublished is the one
	// saved last (without its time).
	publishMu       sync.Mutex
	lastPublished   *topopb.StreamStatus
	lastPublishedAt time.Time
	// rate measures rows per second.
	rateRows  int64
	rateSince time.Time
	// positionSaved is when a message that moved only the position was
	// last saved; batchLimit bounds a transaction applied as one batch.
	// Both belong to the goroutine running the stream.
	positionSaved time.Time
	batchLimit    int
}

func (s *stream) setWorkflow(wf *topopb.Workflow) {
	s.wf.Store(wf)
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// run keeps the stream going until ctx ends, starting again from its saved
// state after an error.
func (s *stream) run(ctx context.Context) {
	backoff := time.Second
	for {
		err := s.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			// The workflow changed: start over with it at once.
			backoff = time.Second
			continue
		}
		s.log.Warn("resharding stream stopped; retrying", zap.Error(err), zap.Duration("in", backoff))
		s.update(func(st *topopb.StreamStatus) { st.Phase, st.Error = topopb.StreamStatus_ERROR, err.Error() })
		s.e.publish(ctx, s)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		case <-s.changed:
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (s *stream) update(f func(*topopb.StreamStatus)) {
	s.mu.Lock()
	f(s.status)
	s.mu.Unlock()
}

func (s *stream) snapshotStatus() *topopb.StreamStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(s.status).(*topopb.StreamStatus)
}

// tables are the tables this stream carries, in copy order.
func (s *stream) tables(wf *topopb.Workflow) []*topopb.TableSharding {
	var out []*topopb.TableSharding
	for _, t := range wf.Tables {
		if t.Reference && !s.first {
			continue // every sender has them; one copy is enough
		}
		out = append(out, t)
	}
	return out
}

func (s *stream) filter(wf *topopb.Workflow) *replicationpb.Filter {
	return &replicationpb.Filter{KeyRange: s.keyRange, Tables: s.tables(wf)}
}

// runOnce copies what is left to copy, then follows the sender's binlog,
// until an error, ctx's end, or a stop the workflow asks for.
func (s *stream) runOnce(ctx context.Context) error {
	wf := s.wf.Load()
	conn, err := s.e.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stopOnCancel := context.AfterFunc(ctx, conn.Close)
	defer stopOnCancel()
	if err := ensureStateTable(conn); err != nil {
		return err
	}
	s.batchLimit = batchLimit(conn)
	st, ok, err := loadState(conn, s.name, s.sender)
	if err != nil {
		return err
	}
	if !ok || st.Epoch != wf.Epoch {
		st = s.initialState(wf)
		if err := s.save(conn, st); err != nil {
			return err
		}
	}
	sender, err := s.e.sender(ctx, wf.Keyspace, s.sender)
	if err != nil {
		return err
	}
	s.reportCopy(st)
	if !st.Copy.done() {
		release, err := s.e.copySlot(ctx, wf)
		if err != nil {
			return err
		}
		defer release()
	}
	for !st.Copy.done() {
		if cur := s.wf.Load(); cur.Paused {
			s.update(func(x *topopb.StreamStatus) {
				x.Phase, x.WorkflowGeneration = topopb.StreamStatus_STOPPED, cur.Generation
			})
			return s.waitChange(ctx)
		}
		s.update(func(x *topopb.StreamStatus) { x.Phase, x.Error = topopb.StreamStatus_COPYING, "" })
		if err := s.copyChunk(ctx, conn, sender, st); err != nil {
			return err
		}
		s.reportCopy(st)
	}
	return s.follow(ctx, conn, sender, st)
}

// initialState is where a stream starts in a new epoch: at the workflow's
// start position with nothing to copy, or with every table to copy.
func (s *stream) initialState(wf *topopb.Workflow) *state {
	st := &state{Epoch: wf.Epoch}
	start, given := wf.StartAt[s.sender]
	for _, t := range s.tables(wf) {
		st.Copy.Tables = append(st.Copy.Tables, &tableCopy{Name: t.Table, Done: given})
	}
	st.Position = start
	return st
}

func (s *stream) save(conn *mysql.Conn, st *state) error {
	q, err := saveStateSQL(s.name, s.sender, st)
	if err != nil {
		return err
	}
	_, err = conn.ExecuteFetch(q, 0, false)
	return err
}

func (s *stream) reportCopy(st *state) {
	s.update(func(x *topopb.StreamStatus) {
		x.Position = st.Position
		x.Tables = x.Tables[:0]
		for _, t := range st.Copy.Tables {
			x.Tables = append(x.Tables, &topopb.StreamStatus_TableCopy{Table: t.Name, RowsCopied: t.Rows, RowsTotal: s.e.estimate(s, t.Name), Done: t.Done})
		}
	})
}

// waitChange waits for the workflow to change (then returns nil: the
// stream starts over with it) or ctx to end.
func (s *stream) waitChange(ctx context.Context) error {
	s.e.publish(ctx, s)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.changed:
		return nil
	}
}

// copyChunk reads the next chunk of the first table not fully copied,
// brings the rows copied before up to the chunk's snapshot, and adds the
// chunk.
func (s *stream) copyChunk(ctx context.Context, conn *mysql.Conn, sender *senderConn, st *state) error {
	var tc *tableCopy
	for _, t := range st.Copy.Tables {
		if !t.Done {
			tc = t
			break
		}
	}
	wf := s.wf.Load()
	batch := wf.CopyBatchRows
	if batch <= 0 {
		batch = 10000
	}
	req := &replicationpb.StreamRowsRequest{Keyspace: wf.Keyspace, Table: tc.Name, Filter: s.filter(wf), MaxRows: batch}
	if tc.LastPK != nil {
		req.LastPk = queryconv.RowToProto(decodePK(tc.LastPK))
	}
	rpc, err := sender.repl.StreamRows(ctx, req)
	if err != nil {
		return sender.wrap("read rows", err)
	}
	var info *tableInfo
	var snapshot string
	var rows [][]sqltypes.Value
	var last []sqltypes.Value
	done := false
	first := true
	for {
		msg, err := rpc.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sender.wrap("read rows of "+tc.Name, err)
		}
		if first {
			first = false
			snapshot = msg.Position
			if info, err = newTableInfo(wf.Keyspace, tc.Name, queryconv.FieldsFromProto(msg.Fields), msg.PkColumns); err != nil {
				return err
			}
			continue
		}
		for _, r := range msg.Rows {
			row, err := queryconv.RowFromProto(info.fields, r)
			if err != nil {
				return fmt.Errorf("a row of %s: %w", tc.Name, err)
			}
			rows = append(rows, row)
		}
		if msg.LastPk != nil {
			if last, err = queryconv.RowFromProto(info.pkFields(), msg.LastPk); err != nil {
				return fmt.Errorf("the last key of %s: %w", tc.Name, err)
			}
		}
		done = done || msg.Done
	}
	if info == nil {
		return fmt.Errorf("the sender sent no answer for table %s", tc.Name)
	}
	// The rows copied so far move up to the chunk's snapshot first.
	if st.Position != "" {
		if err := s.catchUp(ctx, conn, sender, st, snapshot); err != nil {
			return err
		}
	}
	if _, err := conn.ExecuteFetch("BEGIN", 0, false); err != nil {
		return err
	}
	rollback := func(err error) error {
		_, _ = conn.ExecuteFetch("ROLLBACK", 0, false)
		return err
	}
	for start := 0; start < len(rows); {
		end, size := start, 0
		for end < len(rows) && (size < applyBatchBytes || end == start) {
			for _, v := range rows[end] {
				size += v.Len() + 4
			}
			end++
		}
		if _, err := conn.ExecuteFetch(info.insert(rows[start:end]), 0, false); err != nil {
			return rollback(fmt.Errorf("copy rows into %s: %w", tc.Name, err))
		}
		start = end
	}
	if last != nil {
		tc.LastPK = encodePK(last)
	}
	tc.Done = done
	tc.Rows += int64(len(rows))
	st.Position = snapshot
	if err := s.save(conn, st); err != nil {
		return rollback(err)
	}
	if _, err := conn.ExecuteFetch("COMMIT", 0, false); err != nil {
		return err
	}
	s.e.metrics.rowsCopied.WithLabelValues(wf.Name, s.sender, tc.Name).Add(float64(len(rows)))
	s.measure(int64(len(rows)))
	s.throttle(ctx, wf, int64(len(rows)))
	s.throttleOnReplicaLag(ctx)
	return nil
}

// throttle keeps the copy under the workflow's rows per second.
func (s *stream) throttle(ctx context.Context, wf *topopb.Workflow, rows int64) {
	if wf.MaxRowsPerSecond <= 0 || rows == 0 {
		return
	}
	d := time.Duration(float64(rows) / float64(wf.MaxRowsPerSecond) * float64(time.Second))
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (s *stream) measure(rows int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rateSince.IsZero() {
		s.rateSince = time.Now()
	}
	s.rateRows += rows
	if el := time.Since(s.rateSince); el > 5*time.Second {
		s.status.RowsPerSecond = float64(s.rateRows) / el.Seconds()
		s.rateRows, s.rateSince = 0, time.Now()
	}
}

// catchUp applies the binlog from the stream's position to target, only
// to rows already copied.
func (s *stream) catchUp(ctx context.Context, conn *mysql.Conn, sender *senderConn, st *state, target string) error {
	to, err := gtidpos.Parse(target)
	if err != nil {
		return err
	}
	from, err := gtidpos.Parse(st.Position)
	if err != nil {
		return err
	}
	if from.AtLeast(to) {
		return nil
	}
	return s.applyBinlog(ctx, conn, sender, st, target, true)
}

// follow applies every change from the stream's position on, until ctx
// ends or the workflow asks the stream to stop (at a position, or paused).
func (s *stream) follow(ctx context.Context, conn *mysql.Conn, sender *senderConn, st *state) error {
	for {
		wf := s.wf.Load()
		if wf.Paused {
			s.update(func(x *topopb.StreamStatus) {
				x.Phase, x.WorkflowGeneration, x.Position, x.LagMs = topopb.StreamStatus_STOPPED, wf.Generation, st.Position, 0
			})
			if err := s.waitChange(ctx); err != nil {
				return err
			}
			continue
		}
		stopAt := wf.StopAt[s.sender]
		if stopAt != "" {
			cur, _ := gtidpos.Parse(st.Position)
			stop, err := gtidpos.Parse(stopAt)
			if err != nil {
				return err
			}
			if cur.AtLeast(stop) {
				s.update(func(x *topopb.StreamStatus) {
					x.Phase, x.Position, x.LagMs, x.WorkflowGeneration = topopb.StreamStatus_STOPPED, st.Position, 0, wf.Generation
				})
				if err := s.waitChange(ctx); err != nil {
					return err
				}
				continue
			}
		}
		s.update(func(x *topopb.StreamStatus) { x.Phase, x.Error = topopb.StreamStatus_RUNNING, "" })
		// The stream restarts whenever the workflow changes what it asks.
		rctx, cancel := context.WithCancel(ctx)
		watching := make(chan struct{})
		go func() {
			defer close(watching)
			for {
				select {
				case <-rctx.Done():
					return
				case <-s.changed:
					next := s.wf.Load()
					if next.Paused != wf.Paused || next.Epoch != wf.Epoch || next.State != wf.State {
						cancel()
						return
					}
					// A new stop position does not restart the binlog
					// stream (a restart has MariaDB look for the position
					// in its binlog again, which takes long on a big one):
					// the applying loop stops after the message that
					// reaches it, and the sender sends positions within
					// milliseconds even when they bring nothing. Only a
					// stream already there has to be told here.
					if stop := next.StopAt[s.sender]; stop != stopAt && s.reached(stop) {
						cancel()
						return
					}
				}
			}
		}()
		err := s.applyBinlog(rctx, conn, sender, st, stopAt, false)
		// Whatever the binlog stream returned once the watcher cancelled
		// it is that cancellation: gRPC reports it as its own Canceled
		// status (which does not wrap context.Canceled), and taking it for
		// a failure marked the stream ERROR under a diff.
		restarted := rctx.Err() != nil
		cancel()
		<-watching
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !restarted && !errors.Is(err, context.Canceled) {
			return err
		}
		if s.wf.Load().Epoch != wf.Epoch {
			return nil // the workflow changed direction: start over
		}
		// The binlog ended at the stop position, or was cancelled for a
		// change of the workflow (between transactions: applying one is
		// never interrupted): go on with the workflow as it is now.
	}
}

// applyBinlog streams the sender's binlog from the stream's position,
// applying each transaction with the position after it, until stop (when
// given) or the stream's end. partial applies only to rows already copied.
func (s *stream) applyBinlog(ctx context.Context, conn *mysql.Conn, sender *senderConn, st *state, stop string, partial bool) error {
	wf := s.wf.Load()
	rpc, err := sender.repl.StreamBinlog(ctx, &replicationpb.StreamBinlogRequest{Keyspace: wf.Keyspace, Position: st.Position, Filter: s.filter(wf), StopPosition: stop})
	if err != nil {
		return sender.wrap("stream the binlog", err)
	}
	tables := map[string]*tableInfo{}
	for {
		msg, err := rpc.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return sender.wrap("stream the binlog", err)
		}
		if msg.Ddl != "" {
			return fmt.Errorf("a DDL statement on %s stopped the stream at %s: %s (the workflow cannot apply it: cancel the workflow, and create it again once the schema change is done on the sources)", s.sender, msg.Position, msg.Ddl)
		}
		n, err := s.applyTransaction(conn, wf, tables, msg, st, partial)
		if err != nil {
			return err
		}
		lag := int64(0)
		if len(msg.Tables) > 0 && msg.TimestampUnix > 0 {
			lag = max(0, time.Since(time.Unix(msg.TimestampUnix, 0)).Milliseconds())
		}
		s.update(func(x *topopb.StreamStatus) { x.Position, x.LagMs = st.Position, lag })
		s.e.metrics.lag.WithLabelValues(wf.Name, s.sender).Set(float64(lag) / 1000)
		if n > 0 {
			s.e.metrics.rowsApplied.WithLabelValues(wf.Name, s.sender).Add(float64(n))
			if !partial {
				s.measure(int64(n))
			}
		}
		// A stop asked for while streaming ends the stream as soon as it
		// is reached, rather than when the sender's binlog says so.
		if !partial && s.reached(s.wf.Load().StopAt[s.sender]) {
			return nil
		}
	}
}

// reached reports whether the stream has applied everything up to stop
// ("" is never reached).
func (s *stream) reached(stop string) bool {
	if stop == "" {
		return false
	}
	want, err := gtidpos.Parse(stop)
	if err != nil {
		return false
	}
	s.mu.Lock()
	pos := s.status.Position
	s.mu.Unlock()
	cur, err := gtidpos.Parse(pos)
	return err == nil && cur.AtLeast(want)
}

// applyTransaction applies one message's changes and the position after
// it in one transaction, and returns how many row changes it applied.
func (s *stream) applyTransaction(conn *mysql.Conn, wf *topopb.Workflow, tables map[string]*tableInfo, msg *replicationpb.StreamBinlogResponse, st *state, partial bool) (int, error) {
	var stmts []string
	for _, tc := range msg.Tables {
		key := strings.ToLower(tc.Table)
		if len(tc.Fields) > 0 {
			info, err := newTableInfo(wf.Keyspace, tc.Table, queryconv.FieldsFromProto(tc.Fields), tc.PkColumns)
			if err != nil {
				return 0, err
			}
			tables[key] = info
		}
		info, ok := tables[key]
		if !ok {
			return 0, fmt.Errorf("changes of table %s arrived before its columns", tc.Table)
		}
		copied := st.Copy.table(tc.Table)
		for _, ch := range tc.Changes {
			var before, after []sqltypes.Value
			var err error
			if ch.Before != nil {
				if before, err = queryconv.RowFromProto(info.fields, ch.Before); err != nil {
					return 0, err
				}
			}
			if ch.After != nil {
				if after, err = queryconv.RowFromProto(info.fields, ch.After); err != nil {
					return 0, err
				}
			}
			if partial {
				// Only rows already copied: at or before the table's last
				// copied key (later ones come with their chunk).
				if before != nil && !copiedRow(copied, info, before) {
					before = nil
				}
				if after != nil && !copiedRow(copied, info, after) {
					after = nil
				}
			}
			switch {
			case before != nil && after != nil:
				stmts = append(stmts, info.update(before, after))
			case after != nil:
				stmts = append(stmts, info.insert([][]sqltypes.Value{after}))
			case before != nil:
				stmts = append(stmts, info.delete(before))
			}
		}
	}
	st.Position = msg.Position
	save, err := saveStateSQL(s.name, s.sender, st)
	if err != nil {
		return 0, err
	}
	if len(stmts) == 0 {
		// Only the position moved, past transactions that kept nothing for
		// this receiver: it is saved once a second at most (senders send
		// it every few milliseconds when the binlog is quiet). A restart
		// from an older saved position reads those transactions again and
		// keeps nothing of them again.
		if time.Since(s.positionSaved) < positionSaveEvery {
			return 0, nil
		}
		s.positionSaved = time.Now()
		_, err := conn.ExecuteFetch(save, 0, false)
		return 0, err
	}
	s.positionSaved = time.Now()
	if err := applyBatch(conn, stmts, save, s.batchLimit); err != errBatchTooBig {
		if err != nil {
			return 0, fmt.Errorf("apply a transaction from %s at %s: %w", s.sender, msg.Position, err)
		}
		return len(stmts), nil
	}
	if _, err := conn.ExecuteFetch("BEGIN", 0, false); err != nil {
		return 0, err
	}
	for _, q := range append(stmts, save) {
		if _, err := conn.ExecuteFetch(q, 0, false); err != nil {
			_, _ = conn.ExecuteFetch("ROLLBACK", 0, false)
			return 0, fmt.Errorf("apply a change from %s at %s: %w (%s)", s.sender, msg.Position, err, truncate(q, 200))
		}
	}
	if _, err := conn.ExecuteFetch("COMMIT", 0, false); err != nil {
		return 0, err
	}
	return len(stmts), nil
}

// positionSaveEvery is how often a stream saves a position that moved
// without changes.
const positionSaveEvery = time.Second

// maxBatchBytes bounds a transaction sent as one batch, and half the
// server's max_allowed_packet does too (see batchLimit); a bigger one goes
// a statement at a time.
const maxBatchBytes = 4 << 20

// batchLimit is the largest batch the server takes with room to spare.
func batchLimit(conn *mysql.Conn) int {
	res, err := conn.ExecuteFetch("SELECT @@max_allowed_packet", 1, false)
	if err != nil || len(res.Rows) != 1 {
		return 1 << 20
	}
	packet, err := res.Rows[0][0].ToInt64()
	if err != nil {
		return 1 << 20
	}
	return int(min(maxBatchBytes, packet/2))
}

var errBatchTooBig = errors.New("transaction too big for one batch")

// applyBatch runs BEGIN, the statements, save and COMMIT as one
// multi-statement batch: one round trip to MariaDB instead of one per
// statement, which is most of what catching up costs. MariaDB stops at
// the first statement that fails; the transaction is then rolled back.
func applyBatch(conn *mysql.Conn, stmts []string, save string, limit int) error {
	size := len(save) + len("BEGIN;;COMMIT")
	for _, q := range stmts {
		size += len(q) + 1
	}
	if size > limit {
		return errBatchTooBig
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString("BEGIN;")
	for _, q := range stmts {
		b.WriteString(q)
		b.WriteByte(';')
	}
	b.WriteString(save)
	b.WriteString(";COMMIT")
	if err := conn.ExecuteFetchMultiDrain(b.String()); err != nil {
		_, _ = conn.ExecuteFetch("ROLLBACK", 0, false)
		var se *sqlerror.SQLError
		if errors.As(err, &se) {
			se.Query = truncate(se.Query, 300) // the error goes to status; the batch may be megabytes
		}
		return err
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// copiedRow reports whether a row is among those a table's copy already
// covers.
func copiedRow(tc *tableCopy, info *tableInfo, row []sqltypes.Value) bool {
	switch {
	case tc == nil || tc.Done:
		return true
	case tc.LastPK == nil:
		return false
	}
	c, err := rowkey.New(info.fields, info.pk).CompareKey(row, decodePK(tc.LastPK))
	return err == nil && c <= 0
}
