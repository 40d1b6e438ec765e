package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/keyspace"
	"github.com/shardgate/shardgate/tablet/mysqld"
	"github.com/shardgate/shardgate/topo"
	"github.com/shardgate/shardgate/vindex"
)

// A resharding needs the target shards running before it starts: AddShards
// gives a running cluster a mariadbd and a tablet for each, with the
// shards recorded in the topology as not serving. The supervisor serves
// AddShards to other processes (`shardctl local add-shards`) on a unix
// socket in the data dir.

// controlSocketName is the supervisor's control socket under the data dir.
const controlSocketName = "control.sock"

// addShardsMu makes AddShards calls run one at a time.
var addShardsMu sync.Mutex

// AddShards starts a mariadbd and a primary tablet for each new shard of a
// sharded keyspace and returns once they serve. The shards are recorded
// in the topology as not serving (resharding targets); the serving graph
// does not change. The cluster's state file remembers them, so that `local
// up` starts them again. When a step fails, what the steps before did is
// undone.
func (c *Cluster) AddShards(ctx context.Context, keyspace string, shards []string) ([]Tablet, error) {
	addShardsMu.Lock()
	defer addShardsMu.Unlock()
	a, err := c.planShards(ctx, keyspace, shards)
	if err != nil {
		return nil, err
	}
	for _, step := range []func(context.Context) error{a.recordShards, a.startMySQLds, a.startTablets, a.waitTabletsServing} {
		if err := step(ctx); err != nil {
			a.undo()
			return nil, err
		}
	}
	first, err := a.adopt()
	if err != nil {
		return nil, err
	}
	for i := range a.plans {
		c.superviseTablet(first + i)
	}
	out := make([]Tablet, len(a.plans))
	for i, t := range a.plans {
		c.watchChild(a.children[i])
		c.watchExit(mysqldName(t), t.MySQL.ErrorLog(), a.procs[i].Done(), func() string { return "see its error log" })
		out[i] = t.tablet()
	}
	c.log.Info("shards added", zap.String("keyspace", keyspace), zap.Strings("shards", shards))
	return out, nil
}

// shardAddition is one AddShards call: the new shards' plans, the
// processes started for them, and how to undo what was done.
type shardAddition struct {
	c        *Cluster
	keyspace string
	ksIndex  int // of the keyspace in c.p.keyspaces
	next     int // the first new tablet's number
	plans    []tabletPlan
	procs    []*mysqld.Process
	children []*child
	undos    []func()
}

// planShards checks the request against the cluster and plans a tablet
// and a mysqld for each new shard, on free ports.
func (c *Cluster) planShards(ctx context.Context, keyspace string, shards []string) (*shardAddition, error) {
	c.mu.Lock()
	closing := c.closing
	ksIndex := slices.IndexFunc(c.p.keyspaces, func(k keyspacePlan) bool { return k.Name == keyspace })
	existing := slices.Clone(c.p.tablets)
	next := c.p.nextTablet
	c.mu.Unlock()
	if closing {
		return nil, errors.New("local cluster: closing; no shard is added")
	}
	if ksIndex < 0 {
		return nil, fmt.Errorf("keyspace %s is not part of this local cluster", keyspace)
	}
	if len(shards) == 0 {
		return nil, errors.New("name the shards to add")
	}
	ks, err := c.ts.GetKeyspace(ctx, keyspace)
	if err != nil {
		return nil, err
	}
	if !ks.Sharded {
		return nil, fmt.Errorf("keyspace %s is unsharded: only a sharded keyspace gets more shards", keyspace)
	}
	a := &shardAddition{c: c, keyspace: keyspace, ksIndex: ksIndex, next: next}
	for i, s := range shards {
		if _, err := vindex.ParseKeyRange(s); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(existing, func(t tabletPlan) bool { return t.Keyspace == keyspace && t.Shard == s }) || slices.Contains(shards[:i], s) {
			return nil, fmt.Errorf("shard %s/%s already has a tablet in this cluster", keyspace, s)
		}
		t := c.p.newTablet(next+i, keyspace, s)
		t.MySQL.Binary, t.MySQL.Log = c.mysqlBin, c.log.Named("mysqld")
		if err := t.MySQL.Validate(); err != nil {
			return nil, err
		}
		a.plans = append(a.plans, t)
	}
	var uses []portUse
	for _, t := range a.plans {
		uses = append(uses, portUse{t.GRPCPort, "tablet " + t.Alias + " gRPC"}, portUse{t.HTTPPort, "tablet " + t.Alias + " HTTP"},
			portUse{t.QueryPort, "tablet " + t.Alias + " query"}, portUse{t.MySQL.Port, "mysqld of " + t.Keyspace + "/" + t.Shard})
	}
	if err := checkPorts(uses); err != nil {
		return nil, err
	}
	return a, nil
}

// undo undoes, last first, what the steps taken did.
func (a *shardAddition) undo() {
	for i := len(a.undos) - 1; i >= 0; i-- {
		a.undos[i]()
	}
}

// recordShards records each new shard in the topology, not serving (a
// shard recorded already, by a resharding, is fine unless it serves).
func (a *shardAddition) recordShards(ctx context.Context) error {
	ts := a.c.ts
	for _, t := range a.plans {
		sh, err := ts.GetShard(ctx, a.keyspace, t.Shard)
		switch {
		case errors.Is(err, topo.ErrNotFound):
			if _, err := ts.CreateShardServing(ctx, a.keyspace, t.Shard, false); err != nil {
				return err
			}
			a.undos = append(a.undos, func() { _ = ts.DeleteShard(context.Background(), a.keyspace, t.Shard) })
		case err != nil:
			return err
		case sh.PrimaryServing:
			return fmt.Errorf("shard %s/%s already serves", a.keyspace, t.Shard)
		}
	}
	return nil
}

// startMySQLds initializes and starts the new shards' mysqlds, all at
// once.
func (a *shardAddition) startMySQLds(ctx context.Context) error {
	a.procs = make([]*mysqld.Process, len(a.plans))
	errs := make([]error, len(a.plans))
	var wg sync.WaitGroup
	for i, t := range a.plans {
		wg.Go(func() {
			if err := mysqld.Init(ctx, t.MySQL); err != nil {
				errs[i] = fmt.Errorf("mysqld of %s/%s: %w", t.Keyspace, t.Shard, err)
				return
			}
			a.procs[i], errs[i] = mysqld.Start(ctx, t.MySQL)
		})
	}
	wg.Wait()
	a.undos = append(a.undos, func() {
		for _, m := range a.procs {
			if m != nil {
				sctx, cancel := context.WithTimeout(context.Background(), mysqldStopGrace)
				_ = m.Stop(sctx)
				cancel()
			}
		}
	})
	return errors.Join(errs...)
}

// startTablets starts the new shards' tablets.
func (a *shardAddition) startTablets(context.Context) error {
	a.children = make([]*child, len(a.plans))
	a.undos = append(a.undos, func() {
		for _, ch := range a.children {
			if ch != nil {
				ch.stop(processStopGrace)
			}
		}
	})
	for i, t := range a.plans {
		var err error
		if a.children[i], err = a.c.startTablet(t, a.c.bins[TabletBinary]); err != nil {
			return err
		}
	}
	return nil
}

// waitTabletsServing waits until every new tablet serves, failing as soon
// as one exits.
func (a *shardAddition) waitTabletsServing(ctx context.Context) error {
	want := map[string]bool{}
	for _, t := range a.plans {
		want[t.Alias] = true
	}
	for {
		for _, ch := range a.children {
			if ch.exited() {
				return ch.exitError()
			}
		}
		problem := a.c.tabletProblem(ctx, want, a.plans)
		if problem == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the new tablets did not come up: %s: %w", problem, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// adopt makes the new shards' processes part of the cluster and saves its
// state file, so that `local up` starts them again. It returns the index
// of the first new tablet.
func (a *shardAddition) adopt() (first int, err error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	first = len(c.p.tablets)
	for i, t := range a.plans {
		c.p.tablets = append(c.p.tablets, t)
		c.mysqlds = append(c.mysqlds, a.procs[i])
		c.tablets = append(c.tablets, a.children[i])
		c.addPartLocked(Part{Kind: KindMySQLd, Name: mysqldName(t), Proc: procOf(a.procs[i].Pid()),
			Addr: t.MySQL.Addr(), Dir: a.procs[i].Config().DataDir, Log: t.MySQL.ErrorLog()})
		c.addPartLocked(a.children[i].part)
		c.p.keyspaces[a.ksIndex].Extra = append(c.p.keyspaces[a.ksIndex].Extra, t.Shard)
	}
	c.p.nextTablet = a.next + len(a.plans)
	c.state.Layout = c.state.Layout[:0]
	for _, k := range c.p.keyspaces {
		c.state.Layout = append(c.state.Layout, k.layout())
	}
	return first, c.saveLocked()
}

// ensureResharded sets up a keyspace that has shards beside its tiling
// ones: a new one gets its shards (the extra ones not serving); one that
// exists is left as its resharding made it.
func (c *Cluster) ensureResharded(ks keyspacePlan) func(ctx context.Context, ts *topo.Server, name string, shards []string, sharded bool, opts ...control.Option) (bool, error) {
	return func(ctx context.Context, ts *topo.Server, name string, shards []string, sharded bool, opts ...control.Option) (bool, error) {
		_, err := ts.GetKeyspace(ctx, name)
		if err == nil || !errors.Is(err, topo.ErrNotFound) {
			return false, err
		}
		if _, err := keyspace.EnsureKeyspace(ctx, ts, name, shards, sharded, opts...); err != nil {
			return false, err
		}
		for _, e := range ks.Extra {
			if _, err := ts.CreateShardServing(ctx, name, e, false); err != nil && !errors.Is(err, topo.ErrExists) {
				return false, err
			}
		}
		return true, nil
	}
}

// dropGoneShards leaves out the tablets of shards no longer in the
// topology: a completed resharding removed its sources (or a cancelled
// one its targets). Their data stays in the data dir.
func (c *Cluster) dropGoneShards(ctx context.Context) error {
	var keep []tabletPlan
	for _, t := range c.p.tablets {
		k := c.p.keyspaces[slices.IndexFunc(c.p.keyspaces, func(k keyspacePlan) bool { return k.Name == t.Keyspace })]
		if len(k.Extra) > 0 {
			if _, err := c.ts.GetShard(ctx, t.Keyspace, t.Shard); errors.Is(err, topo.ErrNotFound) {
				c.log.Info("shard left its keyspace in a resharding: its mysqld and tablet stay stopped", zap.String("keyspace", t.Keyspace), zap.String("shard", t.Shard))
				continue
			} else if err != nil {
				return err
			}
		}
		keep = append(keep, t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.p.tablets = keep
	c.mysqlds = make([]*mysqld.Process, len(keep))
	c.tablets = make([]*child, len(keep))
	return nil
}

func (t tabletPlan) tablet() Tablet {
	return Tablet{
		Alias: t.Alias, Keyspace: t.Keyspace, Shard: t.Shard,
		GRPCAddr: net.JoinHostPort("127.0.0.1", fmt.Sprint(t.GRPCPort)),
		HTTPAddr: net.JoinHostPort("127.0.0.1", fmt.Sprint(t.HTTPPort)),
		MySQL:    t.MySQL,
	}
}

// controlServer serves AddShards to other processes on the data dir's
// control socket.
type controlServer struct {
	ln  net.Listener
	srv *http.Server
}

type addTabletRequest struct {
	Keyspace string `json:"keyspace"`
	Shard    string `json:"shard"`
	Type     string `json:"type"`
}

// RequestAddTablet asks the supervisor of the cluster in dataDir to add a
// tablet to a shard (AddTablet), handing each progress line to progress
// as it comes.
func RequestAddTablet(ctx context.Context, dataDir, keyspace, shard, typ string, progress func(string)) error {
	path := filepath.Join(dataDir, controlSocketName)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	body, _ := json.Marshal(addTabletRequest{Keyspace: keyspace, Shard: shard, Type: typ})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://local-cluster/add-tablet", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("reach the local cluster's supervisor at %s (is `shardctl local up --data-dir %s` running?): %w", path, dataDir, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		text, _ := io.ReadAll(resp.Body)
		return errors.New(strings.TrimSpace(string(text)))
	}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if msg, ok := strings.CutPrefix(lines.Text(), "error: "); ok {
			return errors.New(msg)
		}
		progress(lines.Text())
	}
	return lines.Err()
}

type addShardsRequest struct {
	Keyspace string   `json:"keyspace"`
	Shards   []string `json:"shards"`
}

func (c *Cluster) serveControl() error {
	path := filepath.Join(c.p.cfg.DataDir, controlSocketName)
	_ = os.Remove(path) // left by a supervisor that died: we hold the lock now
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-shards", func(w http.ResponseWriter, r *http.Request) {
		var req addShardsRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		tablets, err := c.AddShards(r.Context(), req.Keyspace, req.Shards)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, t := range tablets {
			fmt.Fprintf(w, "shard %s/%s: tablet %s (gRPC %s), mysqld on port %d\n", t.Keyspace, t.Shard, t.Alias, t.GRPCAddr, t.MySQLPort())
		}
	})
	mux.HandleFunc("POST /add-tablet", func(w http.ResponseWriter, r *http.Request) {
		var req addTabletRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		flusher, _ := w.(http.Flusher)
		progress := func(line string) {
			fmt.Fprintln(w, line)
			if flusher != nil {
				flusher.Flush()
			}
		}
		t, err := c.AddTablet(r.Context(), req.Keyspace, req.Shard, req.Type, progress)
		if err != nil {
			// The status line is sent: the error is the last line.
			fmt.Fprintln(w, "error: "+err.Error())
			return
		}
		fmt.Fprintf(w, "added tablet %s (%s of %s/%s): gRPC %s, mysqld on port %d\n", t.Alias, req.Type, t.Keyspace, t.Shard, t.GRPCAddr, t.MySQLPort())
	})
	c.control = &controlServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = c.control.srv.Serve(ln) }()
	return nil
}

func (cs *controlServer) close() {
	if cs != nil {
		_ = cs.srv.Close()
	}
}

// RequestAddShards asks the supervisor of the cluster in dataDir to add
// shards (AddShards) and returns what it says about each.
func RequestAddShards(ctx context.Context, dataDir, keyspace string, shards []string) (string, error) {
	path := filepath.Join(dataDir, controlSocketName)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	body, _ := json.Marshal(addShardsRequest{Keyspace: keyspace, Shards: shards})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://local-cluster/add-shards", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("reach the local cluster's supervisor at %s (is `shardctl local up --data-dir %s` running?): %w", path, dataDir, err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(strings.TrimSpace(string(text)))
	}
	return string(text), nil
}
