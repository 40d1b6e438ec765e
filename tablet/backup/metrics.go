package backup

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	bytes, rows     *prometheus.CounterVec
	operations      *prometheus.CounterVec
	running         *prometheus.GaugeVec
	lastSuccess     *prometheus.GaugeVec
	progress        *prometheus.GaugeVec
	binlogsArchived prometheus.Counter
	binlogBytes     prometheus.Counter
	archiveErrors   prometheus.Counter
}

func newMetrics(keyspace, shard string, reg prometheus.Registerer) *metrics {
	labels := prometheus.Labels{"keyspace": keyspace, "shard": shard}
	m := &metrics{
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardtablet_backup_bytes_total", Help: "Uncompressed bytes of table data backed up, restored or verified, by operation.", ConstLabels: labels,
		}, []string{"op"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardtablet_backup_rows_total", Help: "Rows backed up, restored or verified, by operation.", ConstLabels: labels,
		}, []string{"op"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardtablet_backup_operations_total", Help: "Backups, restores and verifications finished, by operation and result (ok, error).", ConstLabels: labels,
		}, []string{"op", "result"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shardtablet_backup_running", Help: "1 while an operation of this kind runs.", ConstLabels: labels,
		}, []string{"op"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shardtablet_backup_last_success_timestamp_seconds", Help: "When an operation of this kind last succeeded (Unix time).", ConstLabels: labels,
		}, []string{"op"}),
		progress: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shardtablet_backup_progress_ratio", Help: "Share of the running operation's bytes done (0-1).", ConstLabels: labels,
		}, []string{"op"}),
		binlogsArchived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardtablet_binlogs_archived_total", Help: "Binlog files copied to the backup store.", ConstLabels: labels,
		}),
		binlogBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardtablet_binlog_archived_bytes_total", Help: "Bytes of binlog files copied to the backup store, before compression.", ConstLabels: labels,
		}),
		archiveErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardtablet_binlog_archive_errors_total", Help: "Failed attempts to archive binlog files (retried).", ConstLabels: labels,
		}),
	}
	if reg != nil {
		reg.MustRegister(m.bytes, m.rows, m.operations, m.running, m.lastSuccess, m.progress,
			m.binlogsArchived, m.binlogBytes, m.archiveErrors)
	}
	return m
}
