package reshard

import (
	"context"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"strings"
	"time"

	"vitess.io/vitess/go/sqlescape"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/internal/rowkey"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// A diff compares, table by table and receiver by receiver, the rows the
// senders hold for the receiver's key range with the receiver's rows. To
// compare like with like while clients keep writing, it pauses the
// receiver's streams, opens a consistent snapshot on each sender, lets
// the streams run up to exactly the snapshots' positions, and then reads
// both sides in primary-key order and merges them. The streams resume
// after each table; clients are never held.

// DiffOptions tune a diff.
type DiffOptions struct {
	// MaxReported bounds the mismatching primary keys listed per table
	// (all are counted).
	MaxReported int
	// ChunkRows is the rows per checksummed chunk.
	ChunkRows int
	// Progress, when set, is told of each table as it is done.
	Progress func(TableDiff)
}

// DefaultDiffOptions list 20 keys per table, in chunks of 10,000 rows.
func DefaultDiffOptions() DiffOptions { return DiffOptions{MaxReported: 20, ChunkRows: 10000} }

// TableDiff is one table on one receiver compared with its senders.
type TableDiff struct {
	Table, Receiver string
	Senders         []string
	// SenderRows and ReceiverRows are the rows each side holds for the
	// receiver's key range; Checksums their CRC-64 in primary-key order.
	SenderRows, ReceiverRows         int64
	SenderChecksum, ReceiverChecksum uint64
	Missing, Extra, Different        int64
	Chunks, ChunksDiffering          int
	Mismatches                       []Mismatch
	Duration                         time.Duration
}

// Match reports whether both sides hold the same rows.
func (d *TableDiff) Match() bool { return d.Missing == 0 && d.Extra == 0 && d.Different == 0 }

// Mismatch is one row that differs.
type Mismatch struct {
	// Kind is "missing" (the receiver lacks it), "extra" (only the
	// receiver has it) or "different".
	Kind string
	// PK is the row's primary key, as column=value pairs.
	PK string
}

// DiffReport is a whole diff.
type DiffReport struct {
	Tables []TableDiff
}

// Match reports whether every table matched.
func (r *DiffReport) Match() bool {
	for i := range r.Tables {
		if !r.Tables[i].Match() {
			return false
		}
	}
	return true
}

// DiffReshard compares the workflow's receivers with their senders (the
// targets with the sources, or, once writes are switched, the other way
// round). The copy must be over.
func DiffReshard(ctx context.Context, ts *topo.Server, keyspace, name string, opts DiffOptions, tabletOpts ...control.Option) (*DiffReport, error) {
	ctx, unlock, err := lockKeyspace(ctx, ts, keyspace, "reshard diff")
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := ReshardStatus(ctx, ts, keyspace, name)
	if err != nil {
		return nil, err
	}
	wf := st.Workflow
	switch wf.State {
	case topopb.Workflow_RUNNING, topopb.Workflow_READS_SWITCHED, topopb.Workflow_WRITES_SWITCHED:
	default:
		return nil, fmt.Errorf("workflow %s is %s: there are no streams to compare", name, wf.State)
	}
	if wf.Paused || len(wf.StopAt) > 0 {
		return nil, fmt.Errorf("workflow %s is paused or stopping (another diff or a switch runs?): try again when it runs", name)
	}
	if err := caughtUp(st, time.Minute); err != nil {
		return nil, fmt.Errorf("diff after the copy: %w", err)
	}
	receivers := wf.Targets
	if wf.Reversed {
		receivers = wf.Sources
	}
	pairs := streamPairs(wf)
	report := &DiffReport{}
	for _, receiver := range receivers {
		var senders []string
		for _, p := range pairs {
			if p[0] == receiver {
				senders = append(senders, p[1])
			}
		}
		for i, table := range wf.Tables {
			use := senders
			if table.Reference {
				use = senders[:1] // every sender has them; the first one's copy went
			}
			d, err := diffTable(ctx, ts, wf, receiver, use, wf.Tables[i], opts, tabletOpts)
			if err != nil {
				return report, fmt.Errorf("diff of %s on %s: %w", table.Table, receiver, err)
			}
			report.Tables = append(report.Tables, *d)
			if opts.Progress != nil {
				opts.Progress(*d)
			}
		}
	}
	return report, nil
}

// diffTable compares one table on one receiver with its senders.
func diffTable(ctx context.Context, ts *topo.Server, wf *topopb.Workflow, receiver string, senders []string, table *topopb.TableSharding, opts DiffOptions, tabletOpts []control.Option) (diff *TableDiff, err error) {
	start := time.Now()
	if len(senders) == 0 {
		return nil, fmt.Errorf("no sender shard overlaps %s", receiver)
	}
	pairs := make([][2]string, len(senders))
	for i, s := range senders {
		pairs[i] = [2]string{receiver, s}
	}
	recv, err := primaryTablet(ctx, ts, wf.Keyspace, receiver, tabletOpts...)
	if err != nil {
		return nil, err
	}
	defer recv.close()
	sends, err := primaryTablets(ctx, ts, wf.Keyspace, senders, tabletOpts...)
	if err != nil {
		return nil, err
	}
	defer closeAll(sends)
	kr, err := ts.ShardReferences(ctx, wf.Keyspace, []string{receiver})
	if err != nil {
		return nil, err
	}

	// The streams run again whatever happens below.
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, rerr := ts.UpdateWorkflow(rctx, wf.Keyspace, wf.Name, func(w *topopb.Workflow) error {
			w.Paused, w.StopAt = false, nil
			return nil
		}); rerr != nil && err == nil {
			err = fmt.Errorf("resume the streams: %w", rerr)
		}
	}()
	// 1. The receiver's streams pause, so that none runs past a snapshot
	// taken next.
	paused, err := ts.UpdateWorkflow(ctx, wf.Keyspace, wf.Name, func(w *topopb.Workflow) error {
		w.Paused = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := waitStopped(ctx, ts, paused, pairs, nil, time.Now().Add(time.Minute)); err != nil {
		return nil, err
	}
	// 2. A snapshot of the table on each sender, kept open while...
	sctx, cancelStreams := context.WithCancel(ctx)
	defer cancelStreams()
	filter := &replicationpb.Filter{KeyRange: kr[0].KeyRange, Tables: []*topopb.TableSharding{table}}
	sources := make([]*senderRows, len(sends))
	positions := map[string]string{}
	for i, s := range sends {
		rpc, err := s.repl.StreamRows(sctx, &replicationpb.StreamRowsRequest{Keyspace: wf.Keyspace, Table: table.Table, Filter: filter, MaxRows: -1})
		if err != nil {
			return nil, fmt.Errorf("read %s on %s: %w", table.Table, s.shard, control.RPCError(err, s.tablet))
		}
		head, err := rpc.Recv()
		if err != nil {
			return nil, fmt.Errorf("read %s on %s: %w", table.Table, s.shard, control.RPCError(err, s.tablet))
		}
		sources[i] = &senderRows{rpc: rpc, fields: queryconv.FieldsFromProto(head.Fields), shard: s.shard}
		positions[s.shard] = head.Position
		if sources[i].key, err = rowkey.Named(sources[i].fields, head.PkColumns); err != nil {
			return nil, err
		}
	}
	// 3. ...the streams apply the senders' changes up to the snapshots.
	stopping, err := ts.UpdateWorkflow(ctx, wf.Keyspace, wf.Name, func(w *topopb.Workflow) error {
		w.Paused, w.StopAt = false, positions
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := waitStopped(ctx, ts, stopping, pairs, positions, time.Now().Add(time.Minute)); err != nil {
		return nil, err
	}
	// 4. Both sides in primary-key order, merged.
	diff = &TableDiff{Table: table.Table, Receiver: receiver, Senders: senders}
	target, err := openReceiverRows(sctx, recv, wf.Keyspace, table.Table, sources[0])
	if err != nil {
		return nil, err
	}
	if err := compareRows(diff, mergeRows(sources), target, opts); err != nil {
		return nil, err
	}
	diff.Duration = time.Since(start)
	return diff, nil
}

// rowStream yields rows in primary-key order; nil at the end.
type rowStream interface {
	next() ([]sqltypes.Value, error)
}

// senderRows reads a sender's StreamRows answer.
type senderRows struct {
	rpc    replicationpb.Replication_StreamRowsClient
	fields []*vquerypb.Field
	key    rowkey.Key
	shard  string
	buf    []*querypb.Row
	done   bool
}

func (s *senderRows) next() ([]sqltypes.Value, error) {
	for len(s.buf) == 0 {
		if s.done {
			return nil, nil
		}
		msg, err := s.rpc.Recv()
		if errors.Is(err, io.EOF) {
			s.done = true
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("rows of %s: %w", s.shard, err)
		}
		s.buf = msg.Rows
		s.done = msg.Done
	}
	r := s.buf[0]
	s.buf = s.buf[1:]
	return queryconv.RowFromProto(s.fields, r)
}

// mergedRows merges senders' streams (their key ranges differ, so no
// key is in two).
type mergedRows struct {
	streams []*senderRows
	heads   [][]sqltypes.Value
	started bool
}

func mergeRows(streams []*senderRows) *mergedRows {
	return &mergedRows{streams: streams, heads: make([][]sqltypes.Value, len(streams))}
}

func (m *mergedRows) next() ([]sqltypes.Value, error) {
	if !m.started {
		m.started = true
		for i, s := range m.streams {
			r, err := s.next()
			if err != nil {
				return nil, err
			}
			m.heads[i] = r
		}
	}
	best := -1
	for i, h := range m.heads {
		if h == nil {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		c, err := m.streams[0].key.Compare(h, m.heads[best])
		if err != nil {
			return nil, err
		}
		if c < 0 {
			best = i
		}
	}
	if best < 0 {
		return nil, nil
	}
	out := m.heads[best]
	r, err := m.streams[best].next()
	if err != nil {
		return nil, err
	}
	m.heads[best] = r
	return out, nil
}

// receiverRows reads the receiver's table through its query service.
type receiverRows struct {
	rpc    querypb.QueryService_StreamExecuteClient
	fields []*vquerypb.Field
	buf    []sqltypes.Row
	done   bool
}

func openReceiverRows(ctx context.Context, t *shardTablet, keyspace, table string, like *senderRows) (*receiverRows, error) {
	var order []string
	for _, c := range like.key.Columns() {
		order = append(order, sqlescape.EscapeID(like.fields[c].Name))
	}
	// Times in UTC, as the senders send them.
	sql := "SET STATEMENT time_zone = '+00:00' FOR SELECT * FROM " + sqlescape.EscapeID(keyspace) + "." + sqlescape.EscapeID(table) + " ORDER BY " + strings.Join(order, ", ")
	rpc, err := t.query.StreamExecute(ctx, &querypb.StreamExecuteRequest{Target: t.target, Sql: []byte(sql)})
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", table, t.shard, control.RPCError(err, t.tablet))
	}
	return &receiverRows{rpc: rpc}, nil
}

func (r *receiverRows) next() ([]sqltypes.Value, error) {
	for len(r.buf) == 0 {
		if r.done {
			return nil, nil
		}
		msg, err := r.rpc.Recv()
		if errors.Is(err, io.EOF) {
			r.done = true
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		res := msg.Result
		if len(res.GetFields()) > 0 {
			r.fields = queryconv.FieldsFromProto(res.Fields)
		}
		if len(res.GetRows()) > 0 {
			if r.buf, err = queryconv.RowsFromProto(r.fields, res.Rows); err != nil {
				return nil, err
			}
		}
	}
	row := r.buf[0]
	r.buf = r.buf[1:]
	return row, nil
}

var crcTable = crc64.MakeTable(crc64.ECMA)

// compareRows merges the two sides by key, counting rows, summing
// checksums per chunk and in all, and listing mismatches.
func compareRows(d *TableDiff, senders *mergedRows, receiver rowStream, opts DiffOptions) error {
	key := senders.streams[0].key
	chunkRows := max(opts.ChunkRows, 1)
	var chunkSender, chunkReceiver uint64
	inChunk := 0
	endChunk := func() {
		if inChunk == 0 {
			return
		}
		d.Chunks++
		if chunkSender != chunkReceiver {
			d.ChunksDiffering++
		}
		chunkSender, chunkReceiver, inChunk = 0, 0, 0
	}
	report := func(kind string, row []sqltypes.Value, fields []*vquerypb.Field) {
		switch kind {
		case "missing":
			d.Missing++
		case "extra":
			d.Extra++
		default:
			d.Different++
		}
		if len(d.Mismatches) < opts.MaxReported {
			d.Mismatches = append(d.Mismatches, Mismatch{Kind: kind, PK: describeKey(key, fields, row)})
		}
	}
	s, err := senders.next()
	if err != nil {
		return err
	}
	r, err := receiver.next()
	if err != nil {
		return err
	}
	for s != nil || r != nil {
		c := 0
		switch {
		case s == nil:
			c = 1
		case r == nil:
			c = -1
		default:
			if c, err = key.Compare(s, r); err != nil {
				return err
			}
		}
		if c <= 0 {
			h := rowChecksum(s)
			d.SenderRows++
			d.SenderChecksum = crc64.Update(d.SenderChecksum, crcTable, h[:])
			chunkSender ^= crc64.Checksum(h[:], crcTable)
		}
		if c >= 0 {
			h := rowChecksum(r)
			d.ReceiverRows++
			d.ReceiverChecksum = crc64.Update(d.ReceiverChecksum, crcTable, h[:])
			chunkReceiver ^= crc64.Checksum(h[:], crcTable)
		}
		switch {
		case c < 0:
			report("missing", s, senders.streams[0].fields)
		case c > 0:
			report("extra", r, senders.streams[0].fields)
		case !sameRow(s, r):
			report("different", s, senders.streams[0].fields)
		}
		if inChunk++; inChunk >= chunkRows {
			endChunk()
		}
		if c <= 0 {
			if s, err = senders.next(); err != nil {
				return err
			}
		}
		if c >= 0 {
			if r, err = receiver.next(); err != nil {
				return err
			}
		}
	}
	endChunk()
	return nil
}

// rowChecksum is a row's CRC-64, NULLs and value boundaries included.
func rowChecksum(row []sqltypes.Value) [8]byte {
	h := crc64.New(crcTable)
	var lenBuf [5]byte
	for _, v := range row {
		if v.IsNull() {
			_, _ = h.Write([]byte{0xff})
			continue
		}
		raw := v.Raw()
		n := len(raw)
		lenBuf[0], lenBuf[1], lenBuf[2], lenBuf[3], lenBuf[4] = 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		_, _ = h.Write(lenBuf[:])
		_, _ = h.Write(raw)
	}
	var out [8]byte
	sum := h.Sum64()
	for i := range out {
		out[i] = byte(sum >> (56 - 8*i))
	}
	return out
}

func sameRow(a, b []sqltypes.Value) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].IsNull() != b[i].IsNull() || string(a[i].Raw()) != string(b[i].Raw()) {
			return false
		}
	}
	return true
}

func describeKey(key rowkey.Key, fields []*vquerypb.Field, row []sqltypes.Value) string {
	var parts []string
	for _, c := range key.Columns() {
		parts = append(parts, fields[c].Name+"="+row[c].String())
	}
	return strings.Join(parts, ",")
}
