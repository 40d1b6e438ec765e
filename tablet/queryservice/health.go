package queryservice

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"vitess.io/vitess/go/mysql"

	"github.com/shardgate/shardgate/proto/querypb"
)

// healthState holds the latest health report and wakes streams when it
// changes.
type healthState struct {
	mu      sync.Mutex
	current *querypb.StreamHealthResponse
	changed chan struct{} // closed and replaced on every update
}

func newHealthState(initial *querypb.StreamHealthResponse) *healthState {
	return &healthState{current: initial, changed: make(chan struct{})}
}

func (h *healthState) update(change func(*querypb.StreamHealthResponse)) {
	h.mu.Lock()
	next := proto.Clone(h.current).(*querypb.StreamHealthResponse)
	change(next)
	h.current = next
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// get returns the current report (never modified afterwards) and a channel
// closed at the next update.
func (h *healthState) get() (*querypb.StreamHealthResponse, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.current, h.changed
}

// Health returns the latest health report.
func (s *Service) Health() *querypb.StreamHealthResponse {
	cur, _ := s.health.get()
	return cur
}

// StreamHealth sends the current health, then every new measurement, until
// ctx ends or the service closes. It sends at least once per health
// interval: when no new measurement comes in time (a slow mysqld holds the
// health check up to three intervals), it sends the last one again. Gates
// take a stream that stays silent for several intervals as a tablet that
// hangs (its process stopped or cut off), so the heartbeat must not depend
// on MySQL answering; what MySQL answers is in the report itself.
func (s *Service) StreamHealth(ctx context.Context, send func(*querypb.StreamHealthResponse) error) error {
	heartbeat := time.NewTimer(s.cfg.HealthInterval)
	defer heartbeat.Stop()
	for {
		cur, changed := s.health.get()
		if err := send(s.withWriteValidity(cur)); err != nil {
			return err
		}
		heartbeat.Reset(s.cfg.HealthInterval)
		select {
		case <-changed:
		case <-heartbeat.C:
		case <-ctx.Done():
			return nil
		case <-s.stop:
			// Send the final not-serving state before the stream ends.
			cur, _ := s.health.get()
			_ = send(s.withWriteValidity(cur))
			return nil
		}
	}
}

// qpsWindow is how many health intervals the QPS figure averages over.
const qpsWindow = 5

func (s *Service) healthLoop() {
	defer s.done.Done()
	var conn *mysql.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	// directReadsReady: the direct-read user exists on the server the
	// health connection reaches (created again on every new connection),
	// whose @@server_id is serverID.
	directReadsReady, serverID := false, uint32(0)
	var lastProvisionWarning time.Time
	counts := make([]int64, 0, qpsWindow+1)
	times := make([]time.Time, 0, qpsWindow+1)
	tick := time.NewTicker(s.cfg.HealthInterval)
	defer tick.Stop()
	for {
		counts = append(counts, s.served.Load())
		times = append(times, time.Now())
		if len(counts) > qpsWindow+1 {
			counts, times = counts[1:], times[1:]
		}
		qps := 0.0
		if n := len(counts); n > 1 {
			qps = float64(counts[n-1]-counts[0]) / times[n-1].Sub(times[0]).Seconds()
		}

		var stats *querypb.RealtimeStats
		prev := conn
		stats, conn = s.measure(conn)
		if conn != prev {
			// A new connection: MariaDB may have restarted, or been
			// restored without the user.
			directReadsReady = false
		}
		if s.cfg.DirectReads.Offered() && conn != nil && !directReadsReady {
			id, err := s.provisionDirectReads(conn)
			if err == nil {
				directReadsReady, serverID = true, id
			} else if time.Since(lastProvisionWarning) > time.Minute {
				lastProvisionWarning = time.Now()
				s.log.Warn("not offering direct reads (tried again every health check)", zap.Error(err))
			}
		}
		stats.Qps = qps
		stats.ConnectionsInUse = s.pool.Stats().InUse + s.txPool.Stats().InUse
		stats.OpenTransactions = int64(s.txs.count())
		if reason := s.notServingReason(); reason != "" {
			stats.HealthError = reason
		}
		s.health.update(func(h *querypb.StreamHealthResponse) {
			h.Serving = stats.HealthError == ""
			h.Stats = stats
			h.DirectRead = nil
			if h.Serving && directReadsReady {
				h.DirectRead = s.directReadOffer(serverID)
			}
		})
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

// measure asks MySQL for its GTID position (and, on replicas, lag) over a
// connection of its own, so a full pool never makes a tablet look dead.
func (s *Service) measure(conn *mysql.Conn) (*querypb.RealtimeStats, *mysql.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HealthInterval*3)
	defer cancel()
	if conn == nil || conn.IsClosed() {
		var err error
		if conn, err = mysql.Connect(ctx, &s.cfg.MySQL); err != nil {
			return &querypb.RealtimeStats{HealthError: "cannot connect to mysqld: " + err.Error()}, nil
		}
	}
	primary := s.isPrimary()
	posVar := "@@gtid_binlog_pos"
	if !primary {
		posVar = "@@gtid_slave_pos"
	}
	res, err := conn.ExecuteFetch("SELECT "+posVar, 1, false)
	if err != nil {
		conn.Close()
		return &querypb.RealtimeStats{HealthError: "mysqld health query failed: " + err.Error()}, nil
	}
	stats := &querypb.RealtimeStats{TabletType: s.Type()}
	if len(res.Rows) == 1 {
		stats.GtidPosition = res.Rows[0][0].ToString()
	}
	if primary {
		stats.SemiSyncReplicas = semiSyncClients(conn)
	} else {
		stats.Replication, stats.ReplicationLagSeconds, stats.HealthError = replicaState(conn)
	}
	if errant := s.errant.Load(); errant != nil {
		if stats.Replication == nil {
			stats.Replication = &querypb.ReplicationState{}
		}
		stats.Replication.Errant = *errant
		stats.HealthError = "errant transactions " + strings.Join(*errant, ",") +
			": this server wrote transactions its shard's primary never had; it does not replicate or serve until it is rebuilt from a backup"
	}
	return stats, conn
}

// SetErrant records the errant transactions found when the tablet rejoined
// its shard (nil: none): health reports them, and the tablet stays out of
// service while there are any.
func (s *Service) SetErrant(gtids []string) {
	if len(gtids) == 0 {
		s.errant.Store(nil)
		return
	}
	s.errant.Store(&gtids)
}

// replicaState reads SHOW SLAVE STATUS: the replica's link, its lag, and a
// health error when it does not replicate (a stopped replica's rows grow
// stale without bound, so it must not serve reads).
func replicaState(conn *mysql.Conn) (*querypb.ReplicationState, uint32, string) {
	res, err := conn.ExecuteFetch("SHOW SLAVE STATUS", 10, true)
	if err != nil {
		return nil, 0, "SHOW SLAVE STATUS failed: " + err.Error()
	}
	if len(res.Rows) == 0 {
		return nil, 0, "replica is not replicating (no SHOW SLAVE STATUS)"
	}
	col := map[string]string{}
	for i, f := range res.Fields {
		col[f.Name] = res.Rows[0][i].ToString()
	}
	st := &querypb.ReplicationState{
		Source:     col["Master_Host"] + ":" + col["Master_Port"],
		IoRunning:  col["Slave_IO_Running"] == "Yes",
		SqlRunning: col["Slave_SQL_Running"] == "Yes",
		IoState:    col["Slave_IO_State"],
		SqlState:   col["Slave_SQL_Running_State"],
		Received:   col["Gtid_IO_Pos"],
		Applied:    col["Gtid_Slave_Pos"],
	}
	if col["Last_SQL_Errno"] != "0" && col["Last_SQL_Errno"] != "" {
		st.LastError = col["Last_SQL_Error"]
	} else if col["Last_IO_Errno"] != "0" && col["Last_IO_Errno"] != "" {
		st.LastError = col["Last_IO_Error"]
	}
	lag, err := strconv.ParseUint(col["Seconds_Behind_Master"], 10, 32)
	st.LagKnown = err == nil
	if !st.SqlRunning {
		return st, 0, "replication is stopped (the applier does not run): " + st.LastError
	}
	// With the applier running but the receiver not connected (the
	// primary is down or being replaced), MariaDB knows no lag: the
	// replica still serves what it has, as its reads were never more
	// current than the primary it followed.
	return st, uint32(lag), ""
}

// semiSyncClients is how many replicas acknowledge the primary's commits
// now (0 when semi-sync is off).
func semiSyncClients(conn *mysql.Conn) int32 {
	res, err := conn.ExecuteFetch("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'", 1, false)
	if err != nil || len(res.Rows) != 1 {
		return 0
	}
	n, _ := strconv.ParseInt(res.Rows[0][1].ToString(), 10, 32)
	return int32(n)
}
