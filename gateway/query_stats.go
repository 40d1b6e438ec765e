package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/labelset"
	"github.com/shardgate/shardgate/internal/querystats"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter"
)

// Every statement the gate runs is accounted to its normalized text: its
// execution goes into the statement's statistics (internal/querystats,
// read with SHOW QUERY STATS, /api/query-stats and `shardctl insights`),
// into the per-table query counters, and into the slow query log when it
// took long.
//
// Finding a statement's entry must cost next to nothing, so the gate
// keeps it where it already looks: beside the plan in the plan cache, in
// the prepared statement, and for statements the gate answers itself
// (BEGIN, SET, SHOW, ...) in a small cache keyed by their text. Only a
// statement seen for the first time pays for rendering its text and its
// digest.

// statementRecord is what the gate keeps of a statement it will see
// again.
type statementRecord struct {
	keyspace string
	query    string // normalized text
	digest   string
	// stats are nil when statistics are off.
	stats *querystats.Stats
	// tables are the tables it names; tableQueries count its executions
	// on each.
	tables       []string
	tableQueries []prometheus.Counter
}

// noRecord is the record of every statement of an executor that
// accounts none (tests).
var noRecord statementRecord

// stale reports whether the record must be made again: its statistics
// were evicted from the store.
func (r *statementRecord) stale() bool { return r == nil || r.stats != nil && r.stats.Evicted() }

// recordSlot holds the record of one statement; the zero value is empty.
type recordSlot struct {
	p atomic.Pointer[statementRecord]
}

// queryStats accounts statements. Its methods are safe for concurrent use.
type queryStats struct {
	// store is nil when statistics are off (--query-stats-max-statements 0).
	store   *querystats.Store
	metrics *metrics
	slow    *slowLog

	// byText are the slots of statements the gate does not plan, by
	// keyspace and text; emptied when it reaches maxTextSlots.
	mu     sync.RWMutex
	byText map[string]*recordSlot
	// tableNames bounds the table label's values: clients may name
	// tables that do not exist.
	tableNames *labelset.Set
	// unparsed accounts the statements that did not parse.
	unparsed recordSlot
}

const maxTextSlots = 4096

// maxTableLabels bounds the tables shardgate_table_queries_total names;
// the rest count as "other".
const maxTableLabels = 1000

func newQueryStats(maxStatements int, m *metrics, slow *slowLog, reg prometheus.Registerer) *queryStats {
	q := &queryStats{metrics: m, slow: slow, byText: map[string]*recordSlot{}, tableNames: labelset.New(maxTableLabels)}
	if maxStatements > 0 {
		q.store = querystats.NewStore(maxStatements)
	}
	if reg != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shardgate_query_stats_statements", Help: "Normalized statements the gate keeps statistics of (SHOW QUERY STATS)."},
				func() float64 {
					if q.store == nil {
						return 0
					}
					return float64(q.store.Len())
				}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "shardgate_query_stats_evictions_total", Help: "Statements whose statistics were dropped to keep the bound (--query-stats-max-statements)."},
				func() float64 {
					if q.store == nil {
						return 0
					}
					return float64(q.store.Evictions())
				}))
	}
	return q
}

// textSlot returns the slot of a statement the gate does not plan.
func (q *queryStats) textSlot(keyspace, sql string) *recordSlot {
	if q == nil {
		return nil
	}
	key := keyspace + "\x00" + sql
	q.mu.RLock()
	slot := q.byText[key]
	q.mu.RUnlock()
	if slot != nil {
		return slot
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if slot = q.byText[key]; slot == nil {
		if len(q.byText) >= maxTextSlots {
			// Statements with values in their text (SET @x = 5) would
			// otherwise fill it; the entries come back on their next use.
			q.byText = map[string]*recordSlot{}
		}
		slot = &recordSlot{}
		q.byText[key] = slot
	}
	return slot
}

// unparsedSlot is the slot of the statements that did not parse.
func (q *queryStats) unparsedSlot() *recordSlot {
	if q == nil {
		return nil
	}
	return &q.unparsed
}

// recordOf returns the record in slot, making it when the slot is empty
// or its statistics were evicted. text renders the statement's
// normalized text; it is called only then.
func (q *queryStats) recordOf(slot *recordSlot, keyspace, plan string, stmt sqlparser.Statement, text func() string) *statementRecord {
	if q == nil {
		return &noRecord
	}
	if r := slot.p.Load(); !r.stale() && r.keyspace == keyspace {
		return r
	}
	query := text()
	r := &statementRecord{keyspace: keyspace, query: query, digest: querystats.Digest(query), tables: tablesOf(stmt, keyspace)}
	if q.store != nil {
		r.stats = q.store.Lookup(keyspace, query, func() querystats.Info { return querystats.Info{Plan: plan, Tables: r.tables} })
	}
	for _, t := range r.tables {
		r.tableQueries = append(r.tableQueries, q.metrics.tableQueries.WithLabelValues(keyspace, q.tableNames.Admit(t), plan))
	}
	slot.p.Store(r)
	return r
}

// account adds one execution of the statement r describes.
func (q *queryStats) account(s *Session, r *statementRecord, start time.Time, res *sqltypes.Result, streamedRows uint64, err error) {
	if q == nil {
		return
	}
	now := time.Now()
	e := querystats.Execution{Duration: now.Sub(start), ShardCalls: s.stmtShardCalls.Load(), RowsRead: s.stmtRowsRead.Load(), RowsReturned: streamedRows}
	if res != nil {
		if len(res.Fields) > 0 {
			e.RowsReturned = uint64(len(res.Rows))
		} else {
			e.RowsReturned = res.RowsAffected
		}
	}
	if err != nil {
		e.ErrorCode = uint16(sqlerr.From(err).Num)
	}
	if r.stats != nil {
		r.stats.Record(now, e)
	}
	for _, c := range r.tableQueries {
		c.Inc()
	}
	q.slow.consider(s, r, e)
}

// statementText is a statement's normalized text: the plan cache's
// (literals of WHERE, VALUES, SET ... as bind variables), and for the
// statements the planner does not normalize, every literal replaced. stmt
// is not changed.
func statementText(stmt sqlparser.Statement) string {
	clone := sqlparser.CloneStatement(stmt)
	if !sqlrouter.Normalize(clone, map[string]*querypb.BindVariable{}) {
		clone = redactLiterals(clone, "vtg")
	}
	return sqlparser.String(clone)
}

// redactLiterals replaces every literal of stmt (in place) by a bind
// variable named prefix1, prefix2, ...
func redactLiterals(stmt sqlparser.Statement, prefix string) sqlparser.Statement {
	n := 0
	out := sqlparser.Rewrite(stmt, nil, func(c *sqlparser.Cursor) bool {
		switch c.Node().(type) {
		case *sqlparser.Literal:
			n++
			c.Replace(sqlparser.NewArgument(prefix + strconv.Itoa(n)))
		}
		return true
	})
	if s, ok := out.(sqlparser.Statement); ok {
		return s
	}
	return stmt
}

// tablesOf lists the tables a statement names, lower-cased, once each;
// a table of another keyspace or schema than keyspace is qualified.
func tablesOf(stmt sqlparser.Statement, keyspace string) []string {
	var out []string
	if stmt == nil {
		return nil
	}
	_ = sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
		switch node.(type) {
		case *sqlparser.ColName, *sqlparser.StarExpr:
			return false, nil // a column's qualifier is an alias or table, named in FROM
		}
		t, ok := node.(sqlparser.TableName)
		if !ok || t.Name.IsEmpty() {
			return true, nil
		}
		name := strings.ToLower(t.Name.String())
		if q := t.Qualifier.String(); q != "" && !strings.EqualFold(q, keyspace) {
			name = strings.ToLower(q) + "." + name
		} else if name == "dual" {
			return true, nil
		}
		for _, seen := range out {
			if seen == name {
				return true, nil
			}
		}
		out = append(out, name)
		return true, nil
	}, stmt)
	return out
}

// reportHandler serves the statistics as a querystats.Report (JSON), for
// `shardctl insights` and the admin UI.
func (q *queryStats) reportHandler(gate string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if q == nil || q.store == nil {
			http.Error(w, "query statistics are off on this gate (--query-stats-max-statements 0)", http.StatusNotFound)
			return
		}
		report := querystats.Report{Gate: gate, Taken: time.Now().UTC(), Evictions: q.store.Evictions(), Statements: q.store.Snapshot()}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(report)
	})
}
