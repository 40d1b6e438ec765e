package gateway

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/querystats"
)

// SlowLogConfig says which statements the slow query log records.
type SlowLogConfig struct {
	// Threshold: statements that take at least this long are logged; 0
	// logs none.
	Threshold time.Duration
	// MaxPerSecond bounds the lines written per second; the statements
	// beyond are counted, and the next line says how many were left out.
	MaxPerSecond int
	// LogValues writes statements as the client sent them; by default
	// their values are replaced by placeholders, since they may be
	// personal data that logs must not keep.
	LogValues bool
}

// slowLog writes one structured line per slow statement.
type slowLog struct {
	cfg    SlowLogConfig
	log    *zap.Logger
	parser *sqlparser.Parser

	logged, suppressed prometheus.Counter

	mu          sync.Mutex
	windowStart time.Time
	inWindow    int
	// leftOut counts the slow statements not logged since the last line.
	leftOut int
}

func newSlowLog(cfg SlowLogConfig, log *zap.Logger, parser *sqlparser.Parser, reg prometheus.Registerer) *slowLog {
	l := &slowLog{cfg: cfg, log: log, parser: parser,
		logged: prometheus.NewCounter(prometheus.CounterOpts{Name: "shardgate_slow_queries_total",
			Help: "Statements that took at least --slow-query-threshold (logged or not)."}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{Name: "shardgate_slow_query_log_suppressed_total",
			Help: "Slow statements left out of the log to keep it under --slow-query-log-rate lines per second."}),
	}
	if reg != nil {
		reg.MustRegister(l.logged, l.suppressed)
	}
	return l
}

// consider logs the execution when it was slow.
func (l *slowLog) consider(s *Session, r *statementRecord, e querystats.Execution) {
	if l == nil || l.cfg.Threshold <= 0 || e.Duration < l.cfg.Threshold {
		return
	}
	l.logged.Inc()
	leftOut, ok := l.admit(time.Now())
	if !ok {
		l.suppressed.Inc()
		return
	}
	fields := []zap.Field{
		zap.String("digest", r.digest),
		zap.String("keyspace", r.keyspace),
		zap.String("query", l.text(s, r)),
		zap.Duration("duration", e.Duration),
		zap.Uint64("rows_returned", e.RowsReturned),
		zap.Uint64("rows_read", e.RowsRead),
		zap.Uint64("shard_calls", e.ShardCalls),
		zap.String("user", s.User),
		zap.String("client", s.ClientAddr),
		zap.Uint32("connection_id", s.ConnectionID),
	}
	if e.ErrorCode != 0 {
		fields = append(fields, zap.Uint16("error_code", e.ErrorCode))
	}
	if leftOut > 0 {
		fields = append(fields, zap.Int("not_logged_before", leftOut))
	}
	l.log.Warn("slow query", fields...)
}

// admit applies the rate bound: it reports whether a line may be written
// now, and how many slow statements were left out since the last one.
func (l *slowLog) admit(now time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.windowStart) >= time.Second {
		l.windowStart, l.inWindow = now, 0
	}
	if l.cfg.MaxPerSecond > 0 && l.inWindow >= l.cfg.MaxPerSecond {
		l.leftOut++
		return 0, false
	}
	l.inWindow++
	leftOut := l.leftOut
	l.leftOut = 0
	return leftOut, true
}

// text is what the line shows of the statement: with its values unless
// they are to be redacted; redacted, every literal is a placeholder (the
// normalized text keeps those of the select list).
func (l *slowLog) text(s *Session, r *statementRecord) string {
	if l.cfg.LogValues {
		return s.currentSQL
	}
	stmt, err := l.parser.Parse(r.query)
	if err != nil {
		return r.query
	}
	return sqlparser.String(redactLiterals(stmt, "redacted"))
}
