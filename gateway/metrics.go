package gateway

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

type metrics struct {
	queries  *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// tableQueries are counted per statement through its record
	// (query_stats.go).
	tableQueries *prometheus.CounterVec
	connections  prometheus.Gauge
	connsTotal   prometheus.Counter
	grpcCalls    *prometheus.CounterVec

	twopcCommits        prometheus.Counter
	twopcRollbacks      prometheus.Counter
	twopcRecovered      *prometheus.CounterVec
	twopcRecoveryErrors prometheus.Counter

	readYourWritesFallbacks prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardgate_queries_total", Help: "Statements executed, by keyspace and plan (statement type and route).",
		}, []string{"keyspace", "plan"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardgate_query_errors_total", Help: "Statements that returned an error, by keyspace and MySQL error code.",
		}, []string{"keyspace", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shardgate_query_duration_seconds", Help: "Time from a statement's arrival to its result, by keyspace and plan.",
			Buckets: latencyBuckets,
		}, []string{"keyspace", "plan"}),
		tableQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardgate_table_queries_total", Help: "Statements by keyspace, table named and plan (a statement naming two tables counts for each).",
		}, []string{"keyspace", "table", "plan"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shardgate_client_connections", Help: "Client connections open now.",
		}),
		connsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardgate_client_connections_total", Help: "Client connections accepted.",
		}),
		grpcCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardgate_grpc_calls_total", Help: "Calls of the gRPC Gate API, by method.",
		}, []string{"method"}),
		twopcCommits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardgate_twopc_commits_total", Help: "Transactions across shards committed with two-phase commit.",
		}),
		twopcRollbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardgate_twopc_rollbacks_total", Help: "Two-phase commits that rolled back instead (a shard could not prepare, or the decision could not be recorded).",
		}),
		twopcRecovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardgate_twopc_recovered_total", Help: "Distributed transactions whose coordinator was gone, finished by this gate, by the decision carried out.",
		}, []string{"decision"}),
		twopcRecoveryErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardgate_twopc_recovery_errors_total", Help: "Failed attempts to finish a distributed transaction whose coordinator is gone (retried).",
		}),
	}
	// Both decisions show (at 0) before the first recovery.
	m.twopcRecovered.WithLabelValues("commit")
	m.twopcRecovered.WithLabelValues("rollback")
	if reg != nil {
		reg.MustRegister(m.queries, m.errors, m.duration, m.tableQueries, m.connections, m.connsTotal, m.grpcCalls,
			m.twopcCommits, m.twopcRollbacks, m.twopcRecovered, m.twopcRecoveryErrors)
	}
	m.readYourWritesFallbacks = newReadYourWritesFallbacks(reg)
	return m
}

// latencyBuckets are the gate's latency histograms' buckets: 100 us to
// 26 s, each 4 times the last.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 4, 10)

func (m *metrics) observe(keyspace, plan string, start time.Time, err error) {
	m.queries.WithLabelValues(keyspace, plan).Inc()
	m.duration.WithLabelValues(keyspace, plan).Observe(time.Since(start).Seconds())
	if err != nil {
		m.errors.WithLabelValues(keyspace, strconv.Itoa(int(sqlerr.From(err).Num))).Inc()
	}
}
