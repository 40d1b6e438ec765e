package queryservice

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardgate/shardgate/internal/labelset"
)

type metrics struct {
	queries     *prometheus.CounterVec
	queryErrors *prometheus.CounterVec
	duration    prometheus.Histogram
	killed      prometheus.Counter
	// gtidWaitTimeouts counts reads that waited for a session's last
	// write and gave up (read-your-writes).
	gtidWaitTimeouts prometheus.Counter
	txIdleKilled     prometheus.Counter
	rowsReturned     prometheus.Counter
	openTx           prometheus.GaugeFunc
	preparedTx       prometheus.GaugeFunc
	poolInUse        prometheus.GaugeFunc
	txPoolInUse      prometheus.GaugeFunc
	poolWaitTotal    prometheus.CounterFunc

	// tableQueries and tableSeconds count statements by the tables the
	// gate says they name; tableNames bounds those label values.
	tableQueries *prometheus.CounterVec
	tableSeconds *prometheus.CounterVec
	tableNames   *labelset.Set
}

func newMetrics(s *Service, reg prometheus.Registerer) *metrics {
	labels := prometheus.Labels{"keyspace": s.cfg.Keyspace, "shard": s.cfg.Shard}
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardtablet_queries_total", Help: "Statements and transaction calls served, by call.", ConstLabels: labels,
		}, []string{"call"}),
		queryErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardtablet_query_errors_total", Help: "Calls that returned an error, by call.", ConstLabels: labels,
		}, []string{"call"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "shardtablet_query_duration_seconds", Help: "Time to run a statement on MySQL, queue wait included.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		gtidWaitTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardtablet_gtid_wait_timeouts_total", Help: "Reads that waited for their session's last write (read-your-writes) and gave up: the gate read from the primary.", ConstLabels: labels,
		}),
		killed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardtablet_queries_killed_total", Help: "Statements killed on MySQL after their deadline or cancellation.", ConstLabels: labels,
		}),
		txIdleKilled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardtablet_transactions_idle_killed_total", Help: "Transactions rolled back after their idle timeout.", ConstLabels: labels,
		}),
		rowsReturned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardtablet_rows_returned_total", Help: "Rows returned to gates.", ConstLabels: labels,
		}),
		openTx: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shardtablet_transactions_open", Help: "Transactions open now.", ConstLabels: labels,
		}, func() float64 { return float64(s.txs.count()) }),
		preparedTx: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shardtablet_transactions_prepared", Help: "Prepared two-phase commit branches this tablet holds the connections of.", ConstLabels: labels,
		}, func() float64 { return float64(s.txs.preparedCount()) }),
		poolInUse: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shardtablet_pool_connections_in_use", Help: "Autocommit pool connections in use.", ConstLabels: labels,
		}, func() float64 { return float64(s.pool.Stats().InUse) }),
		txPoolInUse: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shardtablet_tx_pool_connections_in_use", Help: "Transaction pool connections in use.", ConstLabels: labels,
		}, func() float64 { return float64(s.txPool.Stats().InUse) }),
		poolWaitTotal: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "shardtablet_pool_waits_total", Help: "Times a statement waited for a free pool connection.", ConstLabels: labels,
		}, func() float64 { return float64(s.pool.Stats().Waits + s.txPool.Stats().Waits) }),
	}
	m.tableQueries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shardtablet_table_queries_total", Help: "Statements from gates, by table named (a statement naming two tables counts for each; names past the first 1000 count as \"other\").", ConstLabels: labels,
	}, []string{"table"})
	m.tableSeconds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shardtablet_table_query_seconds_total", Help: "Time spent on statements from gates, by table named.", ConstLabels: labels,
	}, []string{"table"})
	m.tableNames = labelset.New(maxTableLabels)
	if reg != nil {
		reg.MustRegister(m.tableQueries, m.tableSeconds)
		reg.MustRegister(m.gtidWaitTimeouts)
		reg.MustRegister(m.queries, m.queryErrors, m.duration, m.killed, m.txIdleKilled, m.rowsReturned,
			m.openTx, m.preparedTx, m.poolInUse, m.txPoolInUse, m.poolWaitTotal)
	}
	return m
}

// maxTableLabels bounds the table names the per-table metrics keep.
const maxTableLabels = 1000

// countTables counts a statement on each table it names.
func (m *metrics) countTables(tables []string, start time.Time) {
	if len(tables) == 0 {
		return
	}
	seconds := time.Since(start).Seconds()
	for _, t := range tables {
		name := m.tableNames.Admit(t)
		m.tableQueries.WithLabelValues(name).Inc()
		m.tableSeconds.WithLabelValues(name).Add(seconds)
	}
}
