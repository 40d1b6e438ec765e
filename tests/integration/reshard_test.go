package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/control/reshard"
	"github.com/shardgate/shardgate/localcluster"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/vindex"
)

// The resharding tests split keyspace rs from two shards into four while
// clients write through the gate, and check what a user would: no client
// error, writes held well under a second at the switch, and the new
// shards holding exactly the preloaded rows plus every acknowledged write.

const reshardVSchema = `{
  "sharded": true,
  "vindexes": {
    "hash": {"type": "hash"},
    "xx": {"type": "unicode_loose_xxhash"},
    "email_lookup": {"type": "lookup_unique", "params": {"table": "rs.email_idx", "from": "email", "to": "keyspace_id"}, "owner": "customer"}
  },
  "tables": {
    "customer": {"column_vindexes": [{"column": "id", "name": "hash"}, {"column": "email", "name": "email_lookup"}],
                 "auto_increment": {"column": "id", "sequence": "rsmain.customer_seq"}},
    "corder": {"column_vindexes": [{"column": "customer_id", "name": "hash"}]},
    "email_idx": {"column_vindexes": [{"column": "email", "name": "xx"}]},
    "country": {"type": "reference"}
  }
}`

const reshardSchema = `
CREATE TABLE customer (
  id BIGINT PRIMARY KEY, email VARCHAR(100) NOT NULL, name VARCHAR(50) CHARACTER SET utf8mb4,
  balance INT NOT NULL, updated DATETIME(6) NOT NULL, note TEXT
) DEFAULT CHARSET=utf8mb4;
CREATE TABLE corder (
  customer_id BIGINT NOT NULL, order_id BIGINT NOT NULL, sku VARCHAR(20), qty INT, price DECIMAL(10,2),
  PRIMARY KEY (customer_id, order_id)
) DEFAULT CHARSET=utf8mb4;
CREATE TABLE email_idx (email VARCHAR(100) PRIMARY KEY, keyspace_id VARBINARY(16)) DEFAULT CHARSET=utf8mb4;
CREATE TABLE country (code CHAR(2) PRIMARY KEY, name VARCHAR(50)) DEFAULT CHARSET=utf8mb4;
`

const reshardMainVSchema = `{"tables": {"customer_seq": {"type": "sequence"}}}`

// The sequence starts above the preloaded ids.
const reshardMainSchema = `
CREATE TABLE customer_seq (id INT PRIMARY KEY, next_id BIGINT NOT NULL, cache BIGINT NOT NULL);
INSERT INTO customer_seq (id, next_id, cache) VALUES (0, 1000000, 50);
`

var (
	reshardSources = []string{"-80", "80-"}
	reshardTargets = []string{"-40", "40-80", "80-c0", "c0-"}
)

func startReshardCluster(t *testing.T) *localcluster.Cluster {
	t.Helper()
	return startClusterWith(t, func(cfg *localcluster.Config) {
		cfg.Keyspaces = []localcluster.KeyspaceSpec{
			{Name: "rs", Shards: reshardSources, VSchema: []byte(reshardVSchema), Schema: []byte(reshardSchema)},
			{Name: "rsmain", VSchema: []byte(reshardMainVSchema), Schema: []byte(reshardMainSchema)},
		}
		cfg.SpareTablets = len(reshardTargets)
	})
}

// Rows of the model: what the database must hold.
type customerRow struct {
	email, name, updated, note string
	balance                    int
}

type orderRow struct {
	sku, price string
	qty        int
}

type orderKey struct{ customer, order int64 }

// model is what clients were told was committed. Each writer owns the
// customers it creates and the preloaded ones whose id it is given, so
// writers never touch the same rows and the model needs no ordering.
type model struct {
	mu        sync.Mutex
	customers map[int64]customerRow
	orders    map[orderKey]orderRow
	countries map[string]string
}

// workload runs writers and a reader against the gate and records every
// transaction's duration and every error.
type workload struct {
	t        *testing.T
	gate     *sql.DB
	m        *model
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	errMu    sync.Mutex
	errs     []string
	lat      []txTiming
	commits  atomic.Int64
	reads    atomic.Int64
	readErrs atomic.Int64
}

type txTiming struct{ start, end time.Time }

func (w *workload) fail(format string, args ...any) {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if len(w.errs) < 50 {
		w.errs = append(w.errs, fmt.Sprintf(format, args...))
	}
}

// preload writes the rows the resharding starts from.
func preload(t *testing.T, gate *sql.DB, m *model, customers int) {
	t.Helper()
	m.customers, m.orders, m.countries = map[int64]customerRow{}, map[orderKey]orderRow{}, map[string]string{}
	for _, c := range []string{"FR", "DE", "JP", "BR", "NZ"} {
		name := "country " + c
		if _, err := gate.Exec("INSERT INTO country (code, name) VALUES (?, ?)", c, name); err != nil {
			t.Fatal(err)
		}
		m.countries[c] = name
	}
	const batch = 200
	for first := 1; first <= customers; first += batch {
		var cv, ov []string
		var cargs, oargs []any
		for id := int64(first); id < int64(first+batch) && id <= int64(customers); id++ {
			row := customerRow{email: fmt.Sprintf("user%d@example.com", id), name: fmt.Sprintf("Name é %d", id), balance: int(id % 1000),
				updated: fmt.Sprintf("2026-01-%02d 10:00:00.%06d", id%28+1, id), note: strings.Repeat("n", int(id%50))}
			cv = append(cv, "(?, ?, ?, ?, ?, ?)")
			cargs = append(cargs, id, row.email, row.name, row.balance, row.updated, row.note)
			m.customers[id] = row
			for o := int64(1); o <= 2; o++ {
				or := orderRow{sku: fmt.Sprintf("sku-%d", (id+o)%97), qty: int(o), price: fmt.Sprintf("%d.%02d", id%500, o)}
				ov = append(ov, "(?, ?, ?, ?, ?)")
				oargs = append(oargs, id, o, or.sku, or.qty, or.price)
				m.orders[orderKey{id, o}] = or
			}
		}
		if _, err := gate.Exec("INSERT INTO customer (id, email, name, balance, updated, note) VALUES "+strings.Join(cv, ", "), cargs...); err != nil {
			t.Fatal(err)
		}
		if _, err := gate.Exec("INSERT INTO corder (customer_id, order_id, sku, qty, price) VALUES "+strings.Join(ov, ", "), oargs...); err != nil {
			t.Fatal(err)
		}
	}
}

// start runs writers writers and one reader until stopWorkload.
func (w *workload) start(writers int, preloaded int) {
	w.stop = make(chan struct{})
	for i := range writers {
		var owned []int64
		for id := int64(1); id <= int64(preloaded); id++ {
			if int(id%int64(writers)) == i {
				owned = append(owned, id)
			}
		}
		w.wg.Go(func() { w.writer(i, owned) })
	}
	w.wg.Go(w.reader)
}

// startWorkload preloads customers and runs 8 writers and a reader
// through the gate until stopWorkload (or the test's end).
func startWorkload(t *testing.T, c *localcluster.Cluster, customers int) *workload {
	t.Helper()
	gate := openDB(t, c.GateDSN("rs"))
	gate.SetMaxOpenConns(20)
	w := &workload{t: t, gate: gate, m: &model{}}
	preload(t, gate, w.m, customers)
	w.start(8, customers)
	t.Cleanup(w.stopWorkload)
	return w
}

func (w *workload) stopWorkload() {
	w.stopOnce.Do(func() {
		close(w.stop)
		w.wg.Wait()
	})
}

func (w *workload) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// writer runs transactions that insert a customer (numbered by the
// sequence, indexed by the lookup vindex) and an order, update an owned
// customer, and delete an owned order; writer 0 also updates a reference
// table now and then.
func (w *workload) writer(n int, owned []int64) {
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	ctx := context.Background()
	nextOrder := map[int64]int64{}
	var ownedOrders []orderKey
	w.m.mu.Lock()
	for _, id := range owned {
		nextOrder[id] = 3
		ownedOrders = append(ownedOrders, orderKey{id, 1}, orderKey{id, 2})
	}
	w.m.mu.Unlock()
	for i := 0; !w.stopped(); i++ {
		start := time.Now()
		tx, err := w.gate.BeginTx(ctx, nil)
		if err != nil {
			w.fail("writer %d: begin: %v", n, err)
			return
		}
		email := fmt.Sprintf("w%d-%d@example.com", n, i)
		newCustomer := customerRow{email: email, name: fmt.Sprintf("writer %d #%d", n, i), balance: i,
			updated: fmt.Sprintf("2026-11-30 12:%02d:%02d.%06d", i/60%60, i%60, i), note: "new"}
		res, err := tx.Exec("INSERT INTO customer (email, name, balance, updated, note) VALUES (?, ?, ?, ?, ?)",
			newCustomer.email, newCustomer.name, newCustomer.balance, newCustomer.updated, newCustomer.note)
		var newID int64
		if err == nil {
			newID, err = res.LastInsertId()
		}
		var upd int64
		var updRow customerRow
		var delKey orderKey
		newOrder := orderRow{sku: "new", qty: i % 7, price: "9.99"}
		if err == nil {
			_, err = tx.Exec("INSERT INTO corder (customer_id, order_id, sku, qty, price) VALUES (?, 1, ?, ?, ?)", newID, newOrder.sku, newOrder.qty, newOrder.price)
		}
		if err == nil && len(owned) > 0 {
			upd = owned[rng.IntN(len(owned))]
			w.m.mu.Lock()
			updRow = w.m.customers[upd]
			w.m.mu.Unlock()
			updRow.balance += 1 + rng.IntN(10)
			updRow.note = fmt.Sprintf("updated by %d at %d", n, i)
			_, err = tx.Exec("UPDATE customer SET balance = ?, note = ? WHERE id = ?", updRow.balance, updRow.note, upd)
		}
		if err == nil && len(ownedOrders) > 0 {
			j := rng.IntN(len(ownedOrders))
			delKey = ownedOrders[j]
			_, err = tx.Exec("DELETE FROM corder WHERE customer_id = ? AND order_id = ?", delKey.customer, delKey.order)
		}
		if err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
		end := time.Now()
		if err != nil {
			w.fail("writer %d transaction %d: %v", n, i, err)
			return
		}
		w.commits.Add(1)
		w.m.mu.Lock()
		w.m.customers[newID] = newCustomer
		w.m.orders[orderKey{newID, 1}] = newOrder
		if upd != 0 {
			w.m.customers[upd] = updRow
		}
		if len(ownedOrders) > 0 {
			delete(w.m.orders, delKey)
			ownedOrders = slices.DeleteFunc(ownedOrders, func(k orderKey) bool { return k == delKey })
		}
		w.m.mu.Unlock()
		owned = append(owned, newID)
		ownedOrders = append(ownedOrders, orderKey{newID, 1})
		w.errMu.Lock()
		w.lat = append(w.lat, txTiming{start, end})
		w.errMu.Unlock()

		if n == 0 && i%20 == 0 {
			// A reference table's row, on every shard at once.
			code := []string{"FR", "DE", "JP", "BR", "NZ"}[i/20%5]
			name := fmt.Sprintf("country %s v%d", code, i)
			start := time.Now()
			if _, err := w.gate.Exec("UPDATE country SET name = ? WHERE code = ?", name, code); err != nil {
				w.fail("writer 0: reference update: %v", err)
				return
			}
			w.errMu.Lock()
			w.lat = append(w.lat, txTiming{start, time.Now()})
			w.errMu.Unlock()
			w.m.mu.Lock()
			w.m.countries[code] = name
			w.m.mu.Unlock()
		}
		time.Sleep(time.Duration(2+rng.IntN(4)) * time.Millisecond)
	}
}

// reader reads by primary vindex, by lookup vindex and across shards.
func (w *workload) reader() {
	rng := rand.New(rand.NewPCG(99, 7))
	for i := 0; !w.stopped(); i++ {
		var err error
		switch i % 3 {
		case 0:
			var n int
			err = w.gate.QueryRow("SELECT COUNT(*) FROM customer WHERE id = ?", 1+rng.IntN(100)).Scan(&n)
		case 1:
			var id int64
			err = w.gate.QueryRow("SELECT id FROM customer WHERE email = ?", fmt.Sprintf("user%d@example.com", 1+rng.IntN(100))).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				err = nil
			}
		case 2:
			var n int
			err = w.gate.QueryRow("SELECT COUNT(*) FROM corder").Scan(&n)
		}
		w.reads.Add(1)
		if err != nil {
			w.readErrs.Add(1)
			w.fail("read %d: %v", i, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// longestDuring is the longest transaction that overlapped [from, to].
func (w *workload) longestDuring(from, to time.Time) time.Duration {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	var longest time.Duration
	for _, l := range w.lat {
		if l.end.After(from) && l.start.Before(to) {
			longest = max(longest, l.end.Sub(l.start))
		}
	}
	return longest
}

func (w *workload) check(t *testing.T) {
	t.Helper()
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if len(w.errs) > 0 {
		t.Fatalf("clients saw %d errors, first ones:\n%s", len(w.errs), strings.Join(w.errs, "\n"))
	}
	if w.readErrs.Load() > 0 {
		t.Fatalf("%d reads failed", w.readErrs.Load())
	}
}

// reshardCLI runs shardctl against the cluster's topology.
func reshardCLI(t *testing.T, c *localcluster.Cluster, args ...string) string {
	t.Helper()
	args = append(args, "--topo", c.TopoAddr(), "--topo-root", c.TopoRoot())
	out, err := shardctl(t, 3*time.Minute, args...)
	if err != nil {
		t.Fatalf("shardctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// waitCopied waits until every stream has copied and runs.
func waitCopied(t *testing.T, c *localcluster.Cluster, timeout time.Duration) *reshard.WorkflowStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := reshard.ReshardStatus(context.Background(), c.Topo(), "rs", "reshard")
		if err != nil {
			t.Fatal(err)
		}
		running := len(st.Streams) == len(reshardTargets)
		for _, s := range st.Streams {
			if s.Phase == topopb.StreamStatus_ERROR {
				t.Logf("stream %s <- %s: %s (retrying)", s.Receiver, s.Sender, s.Error)
			}
			running = running && s.Phase == topopb.StreamStatus_RUNNING && s.LagMs < 5000
		}
		if running {
			return st
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			_ = reshard.WriteStatus(&b, st, time.Now())
			t.Fatalf("the copy did not finish in %v:\n%s", timeout, b.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// switchWrites runs switch-writes (or reverse) and returns how long it
// held writes by its own account and the longest client transaction
// meanwhile.
func switchWrites(t *testing.T, c *localcluster.Cluster, w *workload, verb string) (held, longest time.Duration) {
	t.Helper()
	start := time.Now()
	out := reshardCLI(t, c, "reshard", verb, "--keyspace", "rs")
	end := time.Now()
	t.Logf("%s: %s", verb, strings.TrimSpace(out))
	i := strings.Index(out, "held for ")
	if i < 0 {
		t.Fatalf("%s printed no stall: %s", verb, out)
	}
	fields := strings.Fields(out[i+len("held for "):])
	held, err := time.ParseDuration(fields[0])
	if err != nil {
		t.Fatalf("%s: %v", verb, err)
	}
	// Transactions that ran while it switched finish just after it.
	time.Sleep(500 * time.Millisecond)
	longest = w.longestDuring(start, end)
	return held, longest
}

// shardRows reads a table on one shard directly, keyed by primary key.
func shardRows(t *testing.T, db *sql.DB, query string) map[string]string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := map[string]string{}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = v.String
			if !v.Valid {
				parts[i] = "NULL"
			}
		}
		out[parts[0]+"|"+parts[1]] = strings.Join(parts, "|")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkShards checks that shards together hold exactly the model, each
// row on the shard its keyspace id belongs to, and the reference table
// whole on every shard.
func checkShards(t *testing.T, c *localcluster.Cluster, m *model, shards []string) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	wantCustomers, wantOrders, wantEmails := map[string]string{}, map[string]string{}, map[string]string{}
	for id, r := range m.customers {
		wantCustomers[fmt.Sprint(id)+"|"+r.email] = strings.Join([]string{fmt.Sprint(id), r.email, r.name, fmt.Sprint(r.balance), r.updated, r.note}, "|")
		wantEmails[r.email] = shardOf(t, id, shards)
	}
	for k, r := range m.orders {
		wantOrders[fmt.Sprintf("%d|%d", k.customer, k.order)] = strings.Join([]string{fmt.Sprint(k.customer), fmt.Sprint(k.order), r.sku, fmt.Sprint(r.qty), r.price}, "|")
	}
	wantCountries := map[string]string{}
	for code, name := range m.countries {
		wantCountries[code+"|"+name] = code + "|" + name
	}
	xx, err := vindex.Create("unicode_loose_xxhash", "xx", nil)
	if err != nil {
		t.Fatal(err)
	}
	gotCustomers, gotOrders := map[string]string{}, map[string]string{}
	emails := 0
	for _, shard := range shards {
		tab, ok := c.Tablet("rs", shard)
		if !ok {
			t.Fatalf("no tablet for shard %s", shard)
		}
		db := openDB(t, tab.MySQLDSN())
		for k, v := range shardRows(t, db, "SELECT id, email, name, balance, DATE_FORMAT(updated, '%Y-%m-%d %H:%i:%s.%f'), note FROM customer") {
			id, _ := strconv.ParseInt(strings.SplitN(k, "|", 2)[0], 10, 64)
			if s := shardOf(t, id, shards); s != shard {
				t.Errorf("customer %d is on shard %s, its keyspace id is in %s", id, shard, s)
			}
			if _, dup := gotCustomers[k]; dup {
				t.Errorf("customer %s is on two shards", k)
			}
			gotCustomers[k] = v
		}
		for k, v := range shardRows(t, db, "SELECT customer_id, order_id, sku, qty, price FROM corder") {
			id, _ := strconv.ParseInt(strings.SplitN(k, "|", 2)[0], 10, 64)
			if s := shardOf(t, id, shards); s != shard {
				t.Errorf("order %s is on shard %s, its keyspace id is in %s", k, shard, s)
			}
			gotOrders[k] = v
		}
		for k := range shardRows(t, db, "SELECT email, HEX(keyspace_id) FROM email_idx") {
			email := strings.SplitN(k, "|", 2)[0]
			ksid, err := xx.(vindex.Hasher).Hash(sqltypes.NewVarChar(email))
			if err != nil {
				t.Fatal(err)
			}
			if s, _ := vindex.ShardFor(ksid, shards); s != shard {
				t.Errorf("lookup row %s is on shard %s, belongs on %s", email, shard, s)
			}
			if _, ok := wantEmails[email]; !ok {
				t.Errorf("lookup row for %s, which no customer has", email)
			}
			emails++
		}
		if got := shardRows(t, db, "SELECT code, name FROM country"); !mapsEqual(got, wantCountries) {
			t.Errorf("shard %s: reference table country is %v, want %v", shard, got, wantCountries)
		}
	}
	if emails != len(wantEmails) {
		t.Errorf("%d lookup rows, want one per customer (%d)", emails, len(wantEmails))
	}
	compareRowSets(t, "customer", gotCustomers, wantCustomers)
	compareRowSets(t, "corder", gotOrders, wantOrders)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func compareRowSets(t *testing.T, table string, got, want map[string]string) {
	t.Helper()
	var missing, extra, different []string
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case g != v:
			different = append(different, fmt.Sprintf("%s: got %s want %s", k, g, v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	if len(missing)+len(extra)+len(different) > 0 {
		sort.Strings(missing)
		sort.Strings(extra)
		sort.Strings(different)
		clipList := func(l []string) []string { return l[:min(len(l), 10)] }
		t.Errorf("table %s: %d rows, want %d; %d missing %v, %d extra %v, %d different %v", table, len(got), len(want),
			len(missing), clipList(missing), len(extra), clipList(extra), len(different), clipList(different))
	} else {
		t.Logf("table %s: all %d rows as acknowledged", table, len(want))
	}
}

func metricsText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// checkDiff runs shardctl reshard diff, which must find every copy equal.
func checkDiff(t *testing.T, c *localcluster.Cluster, when string) {
	t.Helper()
	args := []string{"reshard", "diff", "--keyspace", "rs", "--topo", c.TopoAddr(), "--topo-root", c.TopoRoot()}
	out, err := shardctl(t, 3*time.Minute, args...)
	if err != nil || !strings.Contains(out, "table copies match") {
		t.Errorf("diff %s: %v\n%s", when, err, out)
	}
}

func TestReshardUnderLoad(t *testing.T) {
	c := startReshardCluster(t)
	const preloaded = 3000
	w := startWorkload(t, c, preloaded)
	gate := w.gate

	// The targets join the running cluster through the CLI, as a user
	// would add them.
	out, err := shardctl(t, 5*time.Minute, "local", "add-shards", "--data-dir", c.DataDir(), "--keyspace", "rs", "--shards", strings.Join(reshardTargets, ","))
	if err != nil {
		t.Fatalf("local add-shards: %v\n%s", err, out)
	}
	t.Logf("add-shards:\n%s", out)

	reshardCLI(t, c, "reshard", "create", "--keyspace", "rs", "--from", strings.Join(reshardSources, ","), "--to", strings.Join(reshardTargets, ","),
		"--copy-batch-rows", "500")
	st := waitCopied(t, c, 3*time.Minute)
	status := reshardCLI(t, c, "reshard", "status", "--keyspace", "rs")
	t.Logf("status:\n%s", status)
	for _, want := range []string{"RUNNING", "customer done", "corder done", "-40 <- -80", "c0- <- 80-"} {
		if !strings.Contains(status, want) {
			t.Errorf("status does not show %q", want)
		}
	}
	if p := st.Progress(); !p.Done || p.Copied < preloaded {
		t.Errorf("progress %+v: want done with at least %d rows copied", p, preloaded)
	}
	target, _ := c.Tablet("rs", "-40")
	if mt := metricsText(t, target.HTTPAddr); !strings.Contains(mt, `shardtablet_resharding_rows_copied_total{sender="-80",table="customer",workflow="reshard"}`) {
		t.Errorf("target tablet metrics lack the copy counter")
	}

	diff := reshardCLI(t, c, "reshard", "diff", "--keyspace", "rs")
	t.Logf("diff under load:\n%s", diff)
	if !strings.Contains(diff, "all 16 table copies match") {
		t.Errorf("diff under load did not match:\n%s", diff)
	}

	reshardCLI(t, c, "reshard", "switch-reads", "--keyspace", "rs")
	held, longest := switchWrites(t, c, w, "switch-writes")
	t.Logf("switch-writes: writes held %v, longest client transaction meanwhile %v", held, longest)
	if longest >= time.Second {
		t.Errorf("a write waited %v during switch-writes; want under 1s", longest)
	}
	time.Sleep(2 * time.Second) // writes on the targets, streaming back to the sources
	checkDiff(t, c, "after switch-writes")

	held, longest = switchWrites(t, c, w, "reverse")
	t.Logf("reverse: writes held %v, longest client transaction meanwhile %v", held, longest)
	if longest >= time.Second {
		t.Errorf("a write waited %v during reverse; want under 1s", longest)
	}
	time.Sleep(2 * time.Second) // writes on the sources again
	checkDiff(t, c, "after reverse")

	held, longest = switchWrites(t, c, w, "switch-writes")
	t.Logf("switch-writes again: writes held %v, longest client transaction meanwhile %v", held, longest)
	if longest >= time.Second {
		t.Errorf("a write waited %v during the second switch-writes; want under 1s", longest)
	}
	time.Sleep(time.Second)
	checkDiff(t, c, "after the second switch-writes")
	reshardCLI(t, c, "reshard", "complete", "--keyspace", "rs")
	time.Sleep(time.Second)

	w.stopWorkload()
	t.Logf("%d transactions committed, %d reads", w.commits.Load(), w.reads.Load())
	w.check(t)
	if w.commits.Load() < 100 {
		t.Errorf("only %d transactions committed: the writers hardly ran", w.commits.Load())
	}
	checkShards(t, c, w.m, reshardTargets)

	// The sequence and the lookup vindex serve the new shards.
	var id int64
	if err := gate.QueryRow("SELECT id FROM customer WHERE email = 'user7@example.com'").Scan(&id); err != nil || id != 7 {
		t.Errorf("lookup by email after the resharding: id %d, %v", id, err)
	}
	res, err := gate.Exec("INSERT INTO customer (email, name, balance, updated) VALUES ('after@example.com', 'after', 1, '2026-11-30 00:00:00')")
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := res.LastInsertId(); id < 1000000 {
		t.Errorf("the sequence gave id %d after the resharding", id)
	}
	gm := metricsText(t, "127.0.0.1:"+strconv.Itoa(c.Ports().GateHTTP))
	if !strings.Contains(gm, "shardgate_buffer_hold_seconds_count") {
		t.Errorf("gate metrics lack the write buffer's histogram")
	}
}

// streamOf returns the status of the stream into receiver.
func streamOf(t *testing.T, c *localcluster.Cluster, receiver string) *topopb.StreamStatus {
	t.Helper()
	st, err := reshard.ReshardStatus(context.Background(), c.Topo(), "rs", "reshard")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Streams {
		if s.Receiver == receiver {
			return s
		}
	}
	return nil
}

func TestReshardResumesAfterTargetRestarts(t *testing.T) {
	c := startReshardCluster(t)
	w := startWorkload(t, c, 6000)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := c.AddShards(ctx, "rs", reshardTargets); err != nil {
		t.Fatal(err)
	}
	// A slow copy, so that it can be interrupted half way.
	reshardCLI(t, c, "reshard", "create", "--keyspace", "rs", "--from", strings.Join(reshardSources, ","), "--to", strings.Join(reshardTargets, ","),
		"--copy-batch-rows", "200", "--max-rows-per-second", "800")
	victim, _ := c.Tablet("rs", "-40")

	// 1. Kill the target during its copy.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s := streamOf(t, c, "-40")
		if s != nil && s.Phase == topopb.StreamStatus_COPYING && len(s.Tables) > 0 && s.Tables[0].RowsCopied > 0 && !s.Tables[0].Done {
			t.Logf("killing tablet %s while it copies: %s %d/%d rows", victim.Alias, s.Tables[0].Table, s.Tables[0].RowsCopied, s.Tables[0].RowsTotal)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the copy into -40 never got under way: %+v", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.KillTablet(victim.Alias); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := c.StartTablet(ctx, victim.Alias); err != nil {
		t.Fatal(err)
	}
	waitCopied(t, c, 4*time.Minute)

	// 2. Kill it while it follows the sources' binlogs (the writers keep
	// writing meanwhile), and bring it back.
	if err := c.KillTablet(victim.Alias); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := c.StartTablet(ctx, victim.Alias); err != nil {
		t.Fatal(err)
	}
	waitCopied(t, c, 2*time.Minute)
	checkDiff(t, c, "after the target's restarts")

	held, longest := switchWrites(t, c, w, "switch-writes")
	t.Logf("switch-writes: writes held %v, longest client transaction meanwhile %v", held, longest)
	if longest >= time.Second {
		t.Errorf("a write waited %v during switch-writes; want under 1s", longest)
	}
	reshardCLI(t, c, "reshard", "complete", "--keyspace", "rs")
	w.stopWorkload()
	t.Logf("%d transactions committed, %d reads", w.commits.Load(), w.reads.Load())
	w.check(t)
	checkShards(t, c, w.m, reshardTargets)
}
