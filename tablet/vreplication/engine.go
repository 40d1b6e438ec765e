package vreplication

import (
	"context"
	"crypto/tls"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/tabletclient"
	"github.com/shardgate/shardgate/topo"
	"github.com/shardgate/shardgate/vindex"
)

// Config says which shard the engine receives rows for, and its MySQL.
type Config struct {
	Keyspace, Shard, Alias string
	MySQL                  mysql.ConnParams
	// PeerTLS, when set, is how streams reach their senders' tablets.
	PeerTLS *tls.Config
}

// Engine runs the streams of every workflow that sends rows to this
// tablet's shard, following the workflows in the topology: it starts a
// stream when a workflow needs one, tells it of each change of the
// workflow, and stops it (forgetting its state once the workflow is gone)
// when no longer needed. Each stream's status is saved in the topology
// every second.
type Engine struct {
	cfg     Config
	ts      *topo.Server
	log     *zap.Logger
	metrics *metrics

	keyRange *topopb.KeyRange

	mu       sync.Mutex
	streams  map[string]*runningStream // "workflow/sender"
	senders  map[string]*senderConn    // by address
	totals   map[string]int64          // row estimates, "workflow/sender/table"
	lastSeen map[string]bool           // workflows of this keyspace seen last
	// copying bounds the streams of a workflow that copy at once, by
	// workflow (see Workflow.copy_streams).
	copying map[string]chan struct{}
	// replicaLag is the shard's replicas' worst lag (replica_lag.go).
	replicaLag replicaLag
}

type runningStream struct {
	s      *stream
	cancel context.CancelFunc
	done   chan struct{}
}

// NewEngine returns an engine; Run starts it.
func NewEngine(cfg Config, ts *topo.Server, log *zap.Logger, reg prometheus.Registerer) *Engine {
	p := cfg.MySQL
	p.DbName = "" // every statement names its database
	cfg.MySQL = p
	return &Engine{cfg: cfg, ts: ts, log: log, metrics: newMetrics(reg),
		streams: map[string]*runningStream{}, senders: map[string]*senderConn{}, totals: map[string]int64{}, lastSeen: map[string]bool{},
		copying: map[string]chan struct{}{}}
}

// Run follows the workflows until ctx ends, then stops every stream.
func (e *Engine) Run(ctx context.Context) {
	defer e.stopAll()
	for e.keyRange == nil {
		sh, err := e.ts.GetShard(ctx, e.cfg.Keyspace, e.cfg.Shard)
		if err == nil {
			e.keyRange = sh.KeyRange
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	go e.publishLoop(ctx)
	go e.followReplicaLag(ctx)
	for ctx.Err() == nil {
		wfs, err := e.ts.WatchWorkflows(ctx)
		if err != nil {
			e.log.Warn("cannot watch resharding workflows; retrying", zap.Error(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for snap := range wfs {
			e.reconcile(ctx, snap)
		}
	}
}

// reconcile starts, updates and stops streams to match the workflows.
func (e *Engine) reconcile(ctx context.Context, wfs []*topopb.Workflow) {
	want := map[string]bool{}
	seen := map[string]bool{}
	for _, wf := range wfs {
		if wf.Keyspace != e.cfg.Keyspace {
			continue
		}
		seen[wf.Name] = true
		switch wf.State {
		case topopb.Workflow_RUNNING, topopb.Workflow_READS_SWITCHED, topopb.Workflow_WRITES_SWITCHED:
		default:
			continue
		}
		receivers, senders := wf.Targets, wf.Sources
		if wf.Reversed {
			receivers, senders = wf.Sources, wf.Targets
		}
		if !contains(receivers, e.cfg.Shard) {
			continue
		}
		mine := vindex.KeyRange{Start: e.keyRange.GetStart(), End: e.keyRange.GetEnd()}
		var from []string
		for _, sn := range senders {
			kr, err := vindex.ParseKeyRange(sn)
			if err != nil {
				e.log.Error("workflow names a shard that is no key range", zap.String("workflow", wf.Name), zap.String("shard", sn))
				continue
			}
			if kr.Intersects(mine) {
				from = append(from, sn)
			}
		}
		sort.Slice(from, func(i, j int) bool {
			a, _ := vindex.ParseKeyRange(from[i])
			b, _ := vindex.ParseKeyRange(from[j])
			return string(a.Start) < string(b.Start)
		})
		for i, sn := range from {
			key := wf.Name + "/" + sn
			want[key] = true
			e.mu.Lock()
			rs, ok := e.streams[key]
			e.mu.Unlock()
			if ok {
				rs.s.setWorkflow(wf)
				continue
			}
			e.start(ctx, wf, sn, i == 0)
		}
	}
	e.mu.Lock()
	var stop []*runningStream
	for key, rs := range e.streams {
		if !want[key] {
			stop = append(stop, rs)
			delete(e.streams, key)
		}
	}
	var gone []string
	for name := range e.lastSeen {
		if !seen[name] {
			gone = append(gone, name)
		}
	}
	e.lastSeen = seen
	e.mu.Unlock()
	for _, rs := range stop {
		rs.cancel()
		<-rs.done
	}
	for _, name := range gone {
		e.forget(ctx, name)
	}
}

func (e *Engine) start(ctx context.Context, wf *topopb.Workflow, sender string, first bool) {
	s := &stream{
		e: e, name: wf.Name, sender: sender, keyRange: e.keyRange, first: first,
		log:     e.log.With(zap.String("workflow", wf.Name), zap.String("sender", sender)),
		changed: make(chan struct{}, 1),
		status:  &topopb.StreamStatus{Receiver: e.cfg.Shard, Sender: sender, Tablet: e.cfg.Alias},
	}
	s.wf.Store(wf)
	sctx, cancel := context.WithCancel(ctx)
	rs := &runningStream{s: s, cancel: cancel, done: make(chan struct{})}
	e.mu.Lock()
	e.streams[wf.Name+"/"+sender] = rs
	e.mu.Unlock()
	s.log.Info("resharding stream starting")
	go func() {
		defer close(rs.done)
		s.run(sctx)
	}()
}

// copySlot waits for the workflow to let one more of this tablet's
// streams copy, and returns how to give the slot back.
func (e *Engine) copySlot(ctx context.Context, wf *topopb.Workflow) (release func(), err error) {
	if wf.CopyStreams <= 0 {
		return func() {}, nil
	}
	e.mu.Lock()
	slots, ok := e.copying[wf.Name]
	if !ok || cap(slots) != int(wf.CopyStreams) {
		slots = make(chan struct{}, wf.CopyStreams)
		e.copying[wf.Name] = slots
	}
	e.mu.Unlock()
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// forget drops the saved state of a workflow that is gone.
func (e *Engine) forget(ctx context.Context, name string) {
	conn, err := e.connect(ctx)
	if err != nil {
		e.log.Warn("cannot forget the state of a finished workflow", zap.String("workflow", name), zap.Error(err))
		return
	}
	defer conn.Close()
	if err := ensureStateTable(conn); err != nil {
		return
	}
	if _, err := conn.ExecuteFetch(deleteStateSQL(name), 0, false); err != nil {
		e.log.Warn("cannot forget the state of a finished workflow", zap.String("workflow", name), zap.Error(err))
	}
}

func (e *Engine) stopAll() {
	e.mu.Lock()
	streams := e.streams
	e.streams = map[string]*runningStream{}
	senders := e.senders
	e.senders = map[string]*senderConn{}
	e.mu.Unlock()
	for _, rs := range streams {
		rs.cancel()
		<-rs.done
	}
	for _, sc := range senders {
		_ = sc.conn.Close()
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// connect opens the connection a stream applies rows with: no default
// database (every statement names one), times in UTC as the streams send
// them, and a zero written into an AUTO_INCREMENT column stays a zero.
func (e *Engine) connect(ctx context.Context) (*mysql.Conn, error) {
	params := e.cfg.MySQL
	params.EnableMultiStatements = true // a transaction is applied in one round trip
	conn, err := mysql.Connect(ctx, &params)
	if err != nil {
		return nil, fmt.Errorf("connect to MySQL: %w", err)
	}
	for _, q := range []string{"SET SESSION time_zone = '+00:00'", "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'", "SET SESSION foreign_key_checks = 0"} {
		if _, err := conn.ExecuteFetch(q, 0, false); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return conn, nil
}

// senderConn is a connection to a sending shard's primary tablet.
type senderConn struct {
	addr  string
	alias string
	conn  *tabletclient.Conn
	repl  replicationpb.ReplicationClient
	query tabletclient.Unary
}

func (sc *senderConn) wrap(what string, err error) error {
	return fmt.Errorf("%s from tablet %s (%s): %w", what, sc.alias, sc.addr, queryconv.ErrorFromStatus(err))
}

// sender returns a connection to the primary tablet of a shard.
func (e *Engine) sender(ctx context.Context, keyspace, shard string) (*senderConn, error) {
	tablets, err := e.ts.ListTablets(ctx)
	if err != nil {
		return nil, err
	}
	var rec *topopb.Tablet
	for _, t := range tablets {
		if t.Keyspace == keyspace && t.Shard == shard && t.Type == topopb.TabletType_PRIMARY {
			rec = t
		}
	}
	if rec == nil {
		return nil, fmt.Errorf("no primary tablet of shard %s/%s is registered", keyspace, shard)
	}
	addr := tabletclient.GRPCAddr(rec)
	e.mu.Lock()
	defer e.mu.Unlock()
	if sc, ok := e.senders[addr]; ok {
		return sc, nil
	}
	conn, err := tabletclient.Dial(rec, tabletclient.WithTLS(e.cfg.PeerTLS))
	if err != nil {
		return nil, fmt.Errorf("connect to tablet %s at %s: %w", rec.Alias, addr, err)
	}
	sc := &senderConn{addr: addr, alias: rec.Alias, conn: conn, repl: conn.Replication(), query: conn.Unary()}
	e.senders[addr] = sc
	return sc, nil
}

// estimate guesses how many rows of a table the stream will copy: the
// sender's count (information_schema's estimate) times the share of the
// sender's key range this receiver takes.
func (e *Engine) estimate(s *stream, table string) int64 {
	key := s.name + "/" + s.sender + "/" + strings.ToLower(table)
	e.mu.Lock()
	n, ok := e.totals[key]
	e.mu.Unlock()
	if ok {
		return n
	}
	wf := s.wf.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sc, err := e.sender(ctx, wf.Keyspace, s.sender)
	if err != nil {
		return 0
	}
	sql := "SELECT table_rows FROM information_schema.tables WHERE table_schema = " + sqltypes.EncodeStringSQL(wf.Keyspace) +
		" AND table_name = " + sqltypes.EncodeStringSQL(table)
	resp, err := sc.query.Execute(ctx, &querypb.ExecuteRequest{Target: &querypb.Target{Keyspace: wf.Keyspace, Shard: s.sender, TabletType: topopb.TabletType_PRIMARY}, Sql: []byte(sql)})
	if err != nil {
		return 0
	}
	res, err := queryconv.ResultFromProto(resp.Result)
	if err != nil || len(res.Rows) == 0 {
		return 0
	}
	total, _ := res.Rows[0][0].ToInt64()
	share := 1.0
	for _, t := range wf.Tables {
		if strings.EqualFold(t.Table, table) && !t.Reference {
			share = overlap(s.sender, s.keyRange)
		}
	}
	n = int64(float64(total) * share)
	e.mu.Lock()
	e.totals[key] = n
	e.mu.Unlock()
	return n
}

// overlap is the share of shard's key range that kr covers, taking keyspace
// ids as evenly spread.
func overlap(shard string, kr *topopb.KeyRange) float64 {
	s, err := vindex.ParseKeyRange(shard)
	if err != nil {
		return 1
	}
	lo := func(b []byte) float64 { return fraction(b, 0) }
	hi := func(b []byte) float64 { return fraction(b, 1) }
	sLo, sHi := lo(s.Start), hi(s.End)
	kLo, kHi := lo(kr.GetStart()), hi(kr.GetEnd())
	width := sHi - sLo
	if width <= 0 {
		return 1
	}
	return max(0, min(sHi, kHi)-max(sLo, kLo)) / width
}

// fraction places a key range bound in [0, 1]; an empty bound is the
// space's start (or end).
func fraction(b []byte, empty float64) float64 {
	if len(b) == 0 {
		return empty
	}
	f, scale := 0.0, 1.0
	for _, c := range b {
		scale /= 256
		f += float64(c) * scale
	}
	return f
}

// publishLoop saves every stream's status in the topology each second.
func (e *Engine) publishLoop(ctx context.Context) {
	t := time.NewTicker(publishEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.mu.Lock()
		streams := make([]*stream, 0, len(e.streams))
		for _, rs := range e.streams {
			streams = append(streams, rs.s)
		}
		e.mu.Unlock()
		for _, s := range streams {
			e.publishIfChanged(ctx, s)
		}
	}
}

// A stream's status is saved when it changes, at most every publishEvery
// (a switch of writes waits for streams to come near their senders, and
// reads how near they are here), and every publishAnyway regardless (so
// that status shows it is alive).
const (
	publishEvery  = 100 * time.Millisecond
	publishAnyway = time.Second
)

func (e *Engine) publishIfChanged(ctx context.Context, s *stream) {
	s.publishMu.Lock()
	defer s.publishMu.Unlock()
	st := s.snapshotStatus()
	st.UpdatedUnixMs = 0
	if proto.Equal(st, s.lastPublished) && time.Since(s.lastPublishedAt) < publishAnyway {
		return
	}
	e.saveStatus(ctx, s, st)
}

// publish saves a stream's status now.
func (e *Engine) publish(ctx context.Context, s *stream) {
	s.publishMu.Lock()
	defer s.publishMu.Unlock()
	st := s.snapshotStatus()
	st.UpdatedUnixMs = 0
	e.saveStatus(ctx, s, st)
}

func (e *Engine) saveStatus(ctx context.Context, s *stream, st *topopb.StreamStatus) {
	s.lastPublished, s.lastPublishedAt = proto.Clone(st).(*topopb.StreamStatus), time.Now()
	if err := e.ts.SaveStreamStatus(ctx, e.cfg.Keyspace, s.name, st); err != nil && ctx.Err() == nil {
		e.log.Warn("cannot save a stream's status", zap.String("workflow", s.name), zap.Error(err))
	}
}

// Status describes the running streams, a line each, for /debug/status.
func (e *Engine) Status() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for key, rs := range e.streams {
		st := rs.s.snapshotStatus()
		line := fmt.Sprintf("%s: %s at %s, lag %d ms, %.0f rows/s", key, st.Phase, st.Position, st.LagMs, st.RowsPerSecond)
		for _, t := range st.Tables {
			line += fmt.Sprintf("; %s %d/%d", t.Table, t.RowsCopied, t.RowsTotal)
		}
		if st.Error != "" {
			line += "; error: " + st.Error
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

type metrics struct {
	rowsCopied  *prometheus.CounterVec
	rowsApplied *prometheus.CounterVec
	lag         *prometheus.GaugeVec
	replicaLag  prometheus.Gauge
	throttled   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rowsCopied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shardtablet_resharding_rows_copied_total",
			Help: "Rows copied into this shard by resharding streams."}, []string{"workflow", "sender", "table"}),
		rowsApplied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shardtablet_resharding_changes_applied_total",
			Help: "Row changes from senders' binlogs applied to this shard."}, []string{"workflow", "sender"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shardtablet_resharding_lag_seconds",
			Help: "How far behind its sender's newest change a stream is."}, []string{"workflow", "sender"}),
	}
	m.replicaLag = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shardtablet_resharding_replica_lag_seconds",
		Help: "The worst replication lag among this shard's replicas, which pauses resharding copies into it past the workflow's bound."})
	m.throttled = prometheus.NewCounter(prometheus.CounterOpts{Name: "shardtablet_resharding_throttled_seconds_total",
		Help: "Seconds resharding copies into this shard waited for its replicas to catch up."})
	if reg != nil {
		reg.MustRegister(m.rowsCopied, m.rowsApplied, m.lag, m.replicaLag, m.throttled)
	}
	return m
}
