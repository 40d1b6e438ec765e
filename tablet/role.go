package tablet

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gosql "github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
	"vitess.io/vitess/go/sqlescape"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/tablet/queryservice"
	"github.com/shardgate/shardgate/tablet/reparent"
	"github.com/shardgate/shardgate/tablet/replication"
	"github.com/shardgate/shardgate/topo"
)

// The role manager keeps the tablet's role in line with its shard's
// record: the tablet the record names as primary_alias serves as the
// primary (holding the shard's primary lease, see topo/primaries.go), and
// every other tablet follows it as a replica. It re-decides whenever the
// record changes, the lease is lost, or a reparent call (replication.go)
// asks it to.
//
// A replica also watches the primary's lease: when it goes (the primary's
// tablet died or froze and stopped renewing it, or its MySQL died and the
// tablet gave it up), the replica runs a failover (tablet/reparent) under
// the shard's lock, so that one replica does it. Failover lives in the
// tablets rather than in a separate orchestrator process: every shard
// that has a replica has something watching its primary, with nothing
// more to deploy, run highly available or configure, and etcd's lease and
// lock do the coordination an orchestrator would otherwise do itself.
type roleManager struct {
	cfg  Config
	ts   *topo.Server
	qs   *queryservice.Service
	db   *sql.DB // the tablet's own MySQL, for replication statements
	log  *zap.Logger
	self *topopb.Tablet
	// replicaType is the tablet's type when it is not the primary.
	replicaType topopb.TabletType
	// wantsPrimary: the tablet was started as a primary, and takes the
	// shard when the record names none.
	wantsPrimary bool

	// transition is held by a reparent call while it changes the role;
	// the serving loop waits for it before each decision.
	transition sync.Mutex
	cancel     context.CancelFunc // ends the current serving function
	stopped    chan struct{}      // closed when it has returned

	// demoted: DemotePrimary made this primary a replica; until the
	// record names another primary (or UndoDemotePrimary), it must not
	// take the shard back.
	demoted atomic.Bool
	// frozen: StopReplication stopped this replica for a failover; it
	// stays stopped until the record names the new primary.
	frozen atomic.Bool
	// primaryReady is closed when the tablet serves as the primary.
	readyMu      sync.Mutex
	primaryReady chan struct{}
	// failingOver: a failover started by this tablet is running.
	failingOver atomic.Bool
	// hasReplicas: the shard has a replica a failover could promote, so
	// the primary must stop writing when its lease is not certain.
	hasReplicas atomic.Bool
	root        context.Context
	peerTLS     *tls.Config
	// whilePrimary runs while the tablet is the primary (the resharding
	// streams into the shard).
	whilePrimary func(context.Context)
}

func newRoleManager(cfg Config, ts *topo.Server, qs *queryservice.Service, self *topopb.Tablet, log *zap.Logger) (*roleManager, error) {
	db, err := sql.Open("mysql", mysqlDSN(cfg))
	if err != nil {
		return nil, fmt.Errorf("open MySQL for replication: %w", err)
	}
	db.SetMaxOpenConns(4)
	want, _ := ParseTabletType(cfg.Type)
	m := &roleManager{cfg: cfg, ts: ts, qs: qs, db: db, log: log.Named("role"), self: self,
		replicaType: want, wantsPrimary: want == topopb.TabletType_PRIMARY, primaryReady: make(chan struct{})}
	if m.wantsPrimary {
		m.replicaType = topopb.TabletType_REPLICA
	}
	return m, nil
}

func mysqlDSN(cfg Config) string {
	c := gosql.NewConfig()
	c.User, c.Passwd = cfg.MySQLUser, cfg.MySQLPassword
	if cfg.MySQLSocket != "" {
		c.Net, c.Addr = "unix", cfg.MySQLSocket
	} else {
		c.Net, c.Addr = "tcp", net.JoinHostPort(cfg.MySQLHost, strconv.Itoa(cfg.MySQLPort))
	}
	c.Timeout = 3 * time.Second
	return c.FormatDSN()
}

// run serves the tablet's role until ctx ends.
func (m *roleManager) run(ctx context.Context) {
	m.root = ctx
	defer m.db.Close()
	for ctx.Err() == nil {
		m.transition.Lock()
		sctx, cancel := context.WithCancel(ctx)
		stopped := make(chan struct{})
		m.cancel, m.stopped = cancel, stopped
		m.transition.Unlock()

		err := m.serveOnce(sctx)
		cancel()
		close(stopped)
		if err != nil && ctx.Err() == nil {
			m.log.Warn("tablet role", zap.Error(err))
			sleep(ctx, time.Second)
		}
	}
}

// interrupt ends the current serving function and waits for it; the caller
// holds m.transition, so the loop decides again only once it lets go.
func (m *roleManager) interrupt() {
	if m.cancel != nil {
		m.cancel()
		<-m.stopped
	}
}

// serveOnce decides the role from the shard's record and serves it until
// something changes.
func (m *roleManager) serveOnce(ctx context.Context) error {
	shard, err := m.ts.GetShard(ctx, m.cfg.Keyspace, m.cfg.Shard)
	if err != nil {
		return err
	}
	switch {
	case shard.PrimaryAlias == m.cfg.Alias && !m.demoted.Load():
		return m.servePrimary(ctx)
	case shard.PrimaryAlias == "" && m.wantsPrimary:
		_, err := m.ts.UpdateShard(ctx, m.cfg.Keyspace, m.cfg.Shard, func(s *topopb.Shard) error {
			if s.PrimaryAlias != "" {
				return nil // another took it first: follow it
			}
			s.PrimaryAlias, s.PrimaryTerm, s.PrimarySinceUnixMs = m.cfg.Alias, s.PrimaryTerm+1, time.Now().UnixMilli()
			return nil
		})
		return err
	default:
		return m.serveReplica(ctx, shard)
	}
}

// servePrimary holds the primary lease and serves as the shard's primary
// until the lease is lost, the record names another primary, its MySQL
// dies, or ctx ends; it then gives the lease up.
func (m *roleManager) servePrimary(ctx context.Context) error {
	lctx, release := context.WithCancel(ctx)
	defer release()
	lease, holder, err := m.ts.TakePrimaryLease(lctx, m.cfg.Keyspace, m.cfg.Shard, m.cfg.Alias, m.cfg.PrimaryLeaseTTL)
	if errors.Is(err, topo.ErrExists) {
		// A primary being replaced still holds it: wait for it to go.
		// (Our own lease from before a restart is taken back at once: the
		// same alias means the same MySQL server, so two processes of this
		// tablet cannot make the shard's data diverge.)
		m.log.Info("waiting for the shard's primary lease", zap.String("holder", holder))
		sleep(ctx, 500*time.Millisecond)
		return nil
	}
	if err != nil {
		return err
	}
	// Leaving, however it leaves (primarySettings failing after Promote
	// made the server writable too), the tablet takes no write until its
	// next role is settled, and MariaDB refuses other users' writes
	// before the lease goes (deferred above, so released after this).
	defer m.stopServingPrimary(ctx, false)
	if err := m.primarySettings(ctx); err != nil {
		return err
	}
	// The fence: writes only while the lease is certainly valid, or while
	// no replica could replace this primary (a shard without replicas
	// keeps taking writes through an etcd outage; nobody can fail it
	// over).
	var current atomic.Pointer[topo.Lease]
	current.Store(lease)
	m.refreshHasReplicas(ctx)
	m.qs.SetFence(func() time.Time {
		if !m.hasReplicas.Load() {
			// Nobody could replace this primary: valid for as long as a
			// lease would be, and again at every look.
			return time.Now().Add(m.cfg.PrimaryLeaseTTL)
		}
		if l := current.Load(); l != nil {
			return l.ValidUntil()
		}
		return time.Time{}
	})
	m.qs.SetType(topopb.TabletType_PRIMARY)
	// MariaDB's read_only now follows the tablet's own fence: off (Promote
	// turned it off) unless writes are stopped, and on again when the
	// tablet stops serving as primary (stopServingPrimary).
	if err := m.qs.SetPrimaryServing(ctx, true); err != nil {
		return err
	}
	m.saveType(ctx, topopb.TabletType_PRIMARY)
	m.markPrimaryReady(true)
	defer m.markPrimaryReady(false)
	if m.whilePrimary != nil {
		defer runInBackground(ctx, m.whilePrimary)()
	}
	m.log.Info("serving as the shard's primary")

	shards, err := m.ts.WatchShard(ctx, m.cfg.Keyspace, m.cfg.Shard)
	if err != nil {
		return err
	}
	check := time.NewTicker(500 * time.Millisecond)
	defer check.Stop()
	failures := 0
	gone := lease.Gone()
	for ticks := 1; ; ticks++ {
		select {
		case <-ctx.Done():
			return nil
		case <-gone:
			if m.hasReplicas.Load() {
				m.log.Warn("lost the shard's primary lease (etcd unreachable for longer than its TTL): refusing writes until it is taken again")
				return nil
			}
			m.log.Warn("lost the shard's primary lease (etcd unreachable for longer than its TTL); the shard has no replica that could replace this primary: taking writes on, and the lease again once etcd answers")
			current.Store(nil)
			gone = nil
		case sh := <-shards:
			if sh != nil && sh.PrimaryAlias != m.cfg.Alias {
				m.log.Info("the shard names another primary: stepping down", zap.String("primary", sh.PrimaryAlias))
				return nil
			}
		case <-check.C:
			if ticks%10 == 0 {
				m.refreshHasReplicas(ctx)
			}
			if current.Load() == nil {
				if l, _, err := m.ts.TakePrimaryLease(lctx, m.cfg.Keyspace, m.cfg.Shard, m.cfg.Alias, m.cfg.PrimaryLeaseTTL); err == nil {
					m.log.Info("holding the shard's primary lease again")
					current.Store(l)
					gone = l.Gone()
				}
			}
			if err := m.ping(ctx); err != nil {
				failures++
				if failures < 2 {
					continue
				}
				// Give the lease up now so that a replica takes over at
				// once, then wait for MySQL to return before deciding again.
				m.log.Error("MySQL does not answer: giving up the primary lease so that a replica takes over", zap.Error(err))
				m.stopServingPrimary(ctx, serverNotRunning(err))
				release()
				m.waitForMySQL(ctx)
				return nil
			}
			failures = 0
		}
	}
}

// refreshHasReplicas notes whether the shard has a replica tablet that a
// failover could promote; when the topology does not answer, the last
// answer stands.
func (m *roleManager) refreshHasReplicas(ctx context.Context) {
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	tablets, err := m.ts.ListTablets(tctx)
	if err != nil {
		return
	}
	has := false
	for _, t := range tablets {
		if t.Keyspace == m.cfg.Keyspace && t.Shard == m.cfg.Shard && t.Alias != m.cfg.Alias && t.Type == topopb.TabletType_REPLICA {
			has = true
		}
	}
	m.hasReplicas.Store(has)
}

// primarySettings makes the tablet's MySQL a writable primary with
// semi-synchronous replication: a commit waits (AFTER_SYNC) until a
// replica has it, up to --semi-sync-timeout; with no replica connected it
// does not wait at all (rpl_semi_sync_master_wait_no_slave=OFF), so a
// shard without replicas, or one whose replicas are all down, keeps
// taking writes.
func (m *roleManager) primarySettings(ctx context.Context) error {
	if _, err := replication.Promote(ctx, m.db, replication.PromoteOptions{SemiSync: true, SemiSyncTimeout: m.cfg.SemiSyncTimeout}); err != nil {
		return err
	}
	if _, err := m.db.ExecContext(ctx, "SET GLOBAL rpl_semi_sync_master_wait_no_slave = OFF"); err != nil {
		return fmt.Errorf("semi-sync settings: %w", err)
	}
	// Logged, so that replicas (new ones too) hold the keyspace's database.
	if _, err := m.db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+sqlescape.EscapeID(m.cfg.Keyspace)); err != nil {
		return fmt.Errorf("create database %s: %w", m.cfg.Keyspace, err)
	}
	return nil
}

// serveReplica follows the shard's primary until the record changes or
// ctx ends, and fails over when the primary's lease goes.
func (m *roleManager) serveReplica(ctx context.Context, shard *topopb.Shard) error {
	m.qs.SetType(m.replicaType)
	m.qs.SetFence(nil) // its type refuses writes now
	m.saveType(ctx, m.replicaType)
	if err := replication.SetReadOnly(ctx, m.db, true); err != nil {
		return err
	}
	if shard.PrimaryAlias != "" && shard.PrimaryAlias != m.cfg.Alias {
		m.demoted.Store(false) // the reparent that demoted us is done
	}
	following := ""
	if !m.frozen.Load() && shard.PrimaryAlias != "" && shard.PrimaryAlias != m.cfg.Alias {
		if err := m.follow(ctx, shard); err != nil {
			return err
		}
		following = shard.PrimaryAlias
	}

	shards, err := m.ts.WatchShard(ctx, m.cfg.Keyspace, m.cfg.Shard)
	if err != nil {
		return err
	}
	leases, err := m.ts.WatchPrimaryLease(ctx, m.cfg.Keyspace, m.cfg.Shard)
	if err != nil {
		return err
	}
	sawHolder := false
	var absentSince time.Time
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	holder := "?"
	for {
		select {
		case <-ctx.Done():
			return nil
		case sh := <-shards:
			if sh == nil {
				continue
			}
			if sh.PrimaryAlias != following {
				m.frozen.Store(false)
				return nil // decide again: follow the new primary, or become it
			}
			shard = sh
		case h := <-leases:
			holder = h
			if h != "" {
				sawHolder, absentSince = true, time.Time{}
				continue
			}
			if absentSince.IsZero() {
				absentSince = time.Now()
			}
		case <-retry.C:
		}
		// The lease is gone: after holding it, the primary stopped; never
		// seen since this replica started, the primary may be starting too,
		// so wait a while before taking it for dead.
		if holder == "" && shard.PrimaryAlias != "" && shard.PrimaryAlias != m.cfg.Alias &&
			(sawHolder || (!absentSince.IsZero() && time.Since(absentSince) > 3*m.cfg.PrimaryLeaseTTL)) {
			m.startFailover(shard.PrimaryAlias)
		}
	}
}

// follow checks this server for errant transactions and makes it
// replicate from the shard's primary.
func (m *roleManager) follow(ctx context.Context, shard *topopb.Shard) error {
	primary, err := m.ts.GetTablet(ctx, shard.PrimaryAlias)
	if err != nil {
		return fmt.Errorf("find the shard's primary: %w", err)
	}
	if errant, err := m.errant(ctx, shard); err != nil {
		return err
	} else if len(errant) > 0 {
		m.qs.SetErrant(errant)
		_ = replication.StopFollowing(ctx, m.db)
		return fmt.Errorf("errant transactions %v: this server wrote transactions that primary %s (promoted at %s) never had; it will not replicate: rebuild it from a backup",
			errant, shard.PrimaryAlias, shard.PromotionPosition)
	}
	m.qs.SetErrant(nil)
	src := replication.Source{Host: primary.Hostname, Port: int(primary.MysqlPort), User: m.cfg.ReplicationUser, Password: m.cfg.ReplicationPassword}
	st, err := replication.ReadStatus(ctx, m.db)
	if err == nil && st.Configured && st.Source.Host == src.Host && st.Source.Port == src.Port && (st.IORunning || st.IOConnecting) && st.SQLRunning {
		return nil // already following it
	}
	// A short heartbeat and network timeout: a replica whose primary froze
	// notices within two seconds and drops the link, so that stopping it
	// for a failover does not wait on a read from the frozen server.
	// Only replicas acknowledge commits: an rdonly tablet is never
	// promoted, so a commit only it holds would be lost in a failover.
	semiSync := m.replicaType == topopb.TabletType_REPLICA
	opts := replication.FollowOptions{SemiSync: semiSync, Heartbeat: 500 * time.Millisecond, NetTimeout: 2 * time.Second}
	if err := replication.Follow(ctx, m.db, src, opts); err != nil {
		return err
	}
	m.log.Info("replicating from the shard's primary", zap.String("primary", shard.PrimaryAlias), zap.Stringer("source", src))
	return nil
}

// errant returns the transactions this server wrote itself that are not in
// the history the current primary was promoted with: what a primary that
// was cut off and replaced may have committed alone.
func (m *roleManager) errant(ctx context.Context, shard *topopb.Shard) ([]string, error) {
	if shard.PromotionPosition == "" {
		return nil, nil
	}
	promotedAt, err := gtidpos.Parse(shard.PromotionPosition)
	if err != nil {
		return nil, fmt.Errorf("the shard's promotion position: %w", err)
	}
	executed, err := replication.Executed(ctx, m.db)
	if err != nil {
		return nil, err
	}
	var serverID uint32
	if err := m.db.QueryRowContext(ctx, "SELECT @@server_id").Scan(&serverID); err != nil {
		return nil, fmt.Errorf("read server_id: %w", err)
	}
	var out []string
	for _, g := range replication.Errant(executed, promotedAt) {
		// Transactions another server wrote came through replication from
		// the shard's primaries: only this server's own can be errant.
		if g.Server == serverID {
			out = append(out, g.String())
		}
	}
	return out, nil
}

// startFailover runs a failover of the shard in the background, unless
// one this tablet started still runs; the shard's lock makes sure only one
// replica of the shard does it.
func (m *roleManager) startFailover(deadPrimary string) {
	if !m.failingOver.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer m.failingOver.Store(false)
		// Replicas notice together: a random pause spreads their attempts
		// at the shard's lock.
		sleep(m.root, time.Duration(rand.IntN(300))*time.Millisecond)
		if m.root.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(m.root, 60*time.Second)
		defer cancel()
		res, err := reparent.Emergency(ctx, m.ts, m.cfg.Keyspace, m.cfg.Shard, reparent.Options{
			Holder: "tablet " + m.cfg.Alias, Reason: "primary " + deadPrimary + " lost its lease", Dial: m.dial, Log: m.log,
		})
		switch {
		case errors.Is(err, topo.ErrLocked), errors.Is(err, reparent.ErrPrimaryAlive):
			m.log.Debug("failover left to another", zap.Error(err))
		case err != nil:
			m.log.Error("failover failed", zap.Error(err))
		default:
			m.log.Info("failover done", zap.String("old_primary", res.OldPrimary), zap.String("new_primary", res.NewPrimary),
				zap.Duration("took", res.Took), zap.String("position", res.Position))
		}
	}()
}

// saveType records the tablet's role in its topology record, which gates
// route by.
func (m *roleManager) saveType(ctx context.Context, t topopb.TabletType) {
	if m.self.Type == t {
		return
	}
	m.self.Type = t
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.ts.SaveTablet(tctx, m.self); err != nil {
		m.log.Warn("cannot record the tablet's new type", zap.Stringer("type", t), zap.Error(err))
		return
	}
	if err := m.ts.RefreshServedTypes(tctx, m.cfg.Keyspace); err != nil {
		m.log.Warn("cannot update the serving graph's tablet types", zap.Error(err))
	}
}

// stopServingPrimary fences writes before the primary lease goes: the
// tablet takes none from now, and MariaDB is made read-only. When it
// cannot be (MySQL does not answer, or the tablet is closing), gates may
// still write directly until the validity the tablet last advertised
// runs out (at most two health intervals), so the lease is kept until
// then: no replica is promoted while the old primary may take writes.
//
// notRunning says the server refused the connection (no process listens):
// nobody can write to it then, and a server that starts again starts
// read-only, so the lease goes at once.
func (m *roleManager) stopServingPrimary(ctx context.Context, notRunning bool) {
	m.qs.SetFence(neverValid)
	err := m.qs.SetPrimaryServing(ctx, false)
	if err == nil || notRunning {
		return
	}
	wait := time.Until(m.qs.WritesAdvertisedUntil())
	m.log.Warn("cannot turn MariaDB's read_only on after serving as primary: keeping the lease until the gates' direct writes have certainly stopped",
		zap.Duration("wait", max(wait, 0)), zap.Error(err))
	if wait > 0 {
		time.Sleep(wait)
	}
}

// serverNotRunning recognizes a connection refused because nothing
// listens on MySQL's port or socket.
func serverNotRunning(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// neverValid is the fence of a tablet that must take no write: one that
// gave its lease up and is still typed primary.
func neverValid() time.Time { return time.Time{} }

// resumeWrites lets the tablet take writes again after a stop that did
// not go on (a demotion that failed or was undone, or one done: its type
// then refuses them).
func (m *roleManager) resumeWrites(ctx context.Context) {
	if err := m.qs.ResumeWrites(ctx); err != nil {
		m.log.Warn("cannot bring MariaDB's read_only in line with the tablet's writes", zap.Error(err))
	}
}

func (m *roleManager) markPrimaryReady(ready bool) {
	m.readyMu.Lock()
	defer m.readyMu.Unlock()
	select {
	case <-m.primaryReady:
		if !ready {
			m.primaryReady = make(chan struct{})
		}
	default:
		if ready {
			close(m.primaryReady)
		}
	}
}

// waitPrimary waits until the tablet serves as the primary.
func (m *roleManager) waitPrimary(ctx context.Context) error {
	m.readyMu.Lock()
	ready := m.primaryReady
	m.readyMu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tablet %s did not start serving as primary: %w", m.cfg.Alias, ctx.Err())
	}
}

func (m *roleManager) ping(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return m.db.PingContext(pctx)
}

func (m *roleManager) waitForMySQL(ctx context.Context) {
	for ctx.Err() == nil {
		if m.ping(ctx) == nil {
			m.log.Info("MySQL answers again")
			return
		}
		sleep(ctx, time.Second)
	}
}

func zapPos(pos gtidpos.Position) zap.Field { return zap.Stringer("position", pos) }

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
