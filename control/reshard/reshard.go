package reshard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"vitess.io/vitess/go/sqlescape"
	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/schema"
	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/sqlrouter/vschema"
	"github.com/shardgate/shardgate/tablet/tabletclient"
	"github.com/shardgate/shardgate/topo"
	"github.com/shardgate/shardgate/vindex"
)

// ReshardSpec describes a new resharding workflow.
type ReshardSpec struct {
	Keyspace, Name   string
	Sources, Targets []string
	// MaxRowsPerSecond bounds each stream's copy (0: none); CopyBatchRows
	// is the rows a copy round reads (0: 10,000); CopyStreams how many
	// streams of one target copy at once (0: all).
	MaxRowsPerSecond, CopyBatchRows, CopyStreams int64
	// MaxReplicaLag pauses a stream's copy while a replica of its target
	// lags more (0: no bound).
	MaxReplicaLag time.Duration
}

// shardTablet is a connection to a shard's primary tablet.
type shardTablet struct {
	shard  string
	tablet *topopb.Tablet
	conn   *tabletclient.Conn
	query  querypb.QueryServiceClient
	repl   replicationpb.ReplicationClient
	target *querypb.Target
}

func (t *shardTablet) close() {
	if t.conn != nil {
		_ = t.conn.Close()
	}
}

// execute runs one statement on the shard.
func (t *shardTablet) execute(ctx context.Context, sql string) (*sqltypes.Result, error) {
	resp, err := t.query.Execute(ctx, &querypb.ExecuteRequest{Target: t.target, Sql: []byte(sql),
		Options: &querypb.ExecuteOptions{TimeoutMs: schema.DefaultDDLTimeout.Milliseconds()}})
	if err != nil {
		return nil, fmt.Errorf("shard %s (tablet %s): %w", t.shard, t.tablet.Alias, control.RPCError(err, t.tablet))
	}
	return queryconv.ResultFromProto(resp.Result)
}

// primaryTablet connects to the primary tablet of a shard.
func primaryTablet(ctx context.Context, ts *topo.Server, keyspace, shard string, opts ...control.Option) (*shardTablet, error) {
	sh, err := ts.GetShard(ctx, keyspace, shard)
	if err != nil {
		return nil, err
	}
	if sh.PrimaryAlias == "" {
		return nil, fmt.Errorf("shard %s/%s has no primary tablet: start one (shardtablet --type primary, or shardctl local add-shards)", keyspace, shard)
	}
	tablet, err := ts.GetTablet(ctx, sh.PrimaryAlias)
	if err != nil {
		return nil, err
	}
	conn, err := control.DialTablet(tablet, opts...)
	if err != nil {
		return nil, err
	}
	return &shardTablet{shard: shard, tablet: tablet, conn: conn, query: conn.QueryService(),
		repl: conn.Replication(), target: &querypb.Target{Keyspace: keyspace, Shard: shard, TabletType: topopb.TabletType_PRIMARY}}, nil
}

// primaryTablets connects to the primaries of several shards.
func primaryTablets(ctx context.Context, ts *topo.Server, keyspace string, shards []string, opts ...control.Option) ([]*shardTablet, error) {
	var out []*shardTablet
	for _, s := range shards {
		t, err := primaryTablet(ctx, ts, keyspace, s, opts...)
		if err != nil {
			for _, o := range out {
				o.close()
			}
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func closeAll(ts []*shardTablet) {
	for _, t := range ts {
		t.close()
	}
}

// CreateReshard checks a resharding and records its workflow; the target
// tablets start copying as soon as they see it. It creates the target
// shards (not serving) when missing and copies the tables' definitions
// from a source to every target. The sources must be serving shards whose
// key ranges together equal the targets'; every table of the keyspace
// must be in its vschema, sharded by a functional primary vindex or a
// reference table, with a primary key; the targets' tables must be empty.
func CreateReshard(ctx context.Context, ts *topo.Server, spec ReshardSpec, opts ...control.Option) (*topopb.Workflow, error) {
	if err := topo.ValidateName("workflow", spec.Name); err != nil {
		return nil, err
	}
	ctx, unlock, err := lockKeyspace(ctx, ts, spec.Keyspace, "reshard create")
	if err != nil {
		return nil, err
	}
	defer unlock()
	ks, err := ts.GetKeyspace(ctx, spec.Keyspace)
	if err != nil {
		return nil, err
	}
	if !ks.Sharded {
		return nil, fmt.Errorf("keyspace %s is unsharded: resharding splits or merges the shards of a sharded keyspace", spec.Keyspace)
	}
	if existing, err := ts.ListWorkflows(ctx, spec.Keyspace); err != nil {
		return nil, err
	} else if len(existing) > 0 {
		return nil, fmt.Errorf("keyspace %s already has workflow %s: complete or cancel it first", spec.Keyspace, existing[0].Name)
	}
	if err := checkReshardShards(ctx, ts, spec); err != nil {
		return nil, err
	}
	tables, err := reshardTables(ctx, ts, spec.Keyspace)
	if err != nil {
		return nil, err
	}
	for _, name := range spec.Targets {
		if _, err := ts.GetShard(ctx, spec.Keyspace, name); errors.Is(err, topo.ErrNotFound) {
			if _, err := ts.CreateShardServing(ctx, spec.Keyspace, name, false); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
	}
	if tables, err = copySchema(ctx, ts, spec, tables, opts...); err != nil {
		return nil, err
	}
	wf := &topopb.Workflow{
		Keyspace: spec.Keyspace, Name: spec.Name, Sources: spec.Sources, Targets: spec.Targets, Tables: tables,
		State: topopb.Workflow_RUNNING, Epoch: 1, MaxRowsPerSecond: spec.MaxRowsPerSecond, CopyBatchRows: spec.CopyBatchRows, CopyStreams: spec.CopyStreams,
		MaxReplicaLagSeconds: int64(spec.MaxReplicaLag / time.Second),
		Message:              "copying",
	}
	if err := ts.CreateWorkflow(ctx, wf); err != nil {
		return nil, err
	}
	return wf, nil
}

// checkReshardShards checks that the sources serve and that sources and
// targets cover the same key space, each tiling it without overlap.
func checkReshardShards(ctx context.Context, ts *topo.Server, spec ReshardSpec) error {
	if len(spec.Sources) == 0 || len(spec.Targets) == 0 {
		return errors.New("name the source and the target shards")
	}
	for _, s := range spec.Sources {
		if slices.Contains(spec.Targets, s) {
			return fmt.Errorf("shard %s is both a source and a target", s)
		}
		sh, err := ts.GetShard(ctx, spec.Keyspace, s)
		if err != nil {
			return fmt.Errorf("source %w", err)
		}
		if !sh.PrimaryServing {
			return fmt.Errorf("source shard %s/%s does not serve", spec.Keyspace, s)
		}
	}
	for _, t := range spec.Targets {
		if sh, err := ts.GetShard(ctx, spec.Keyspace, t); err == nil && sh.PrimaryServing {
			return fmt.Errorf("target shard %s/%s already serves", spec.Keyspace, t)
		}
	}
	src, err := coverage(spec.Sources)
	if err != nil {
		return fmt.Errorf("sources: %w", err)
	}
	dst, err := coverage(spec.Targets)
	if err != nil {
		return fmt.Errorf("targets: %w", err)
	}
	if !src.Equal(dst) {
		return fmt.Errorf("the sources cover %s and the targets %s: they must cover the same keyspace ids", src, dst)
	}
	return nil
}

// coverage is the one key range shards tile without gap or overlap.
func coverage(shards []string) (vindex.KeyRange, error) {
	ranges := make([]vindex.KeyRange, len(shards))
	for i, s := range shards {
		kr, err := vindex.ParseKeyRange(s)
		if err != nil {
			return vindex.KeyRange{}, err
		}
		ranges[i] = kr
	}
	sort.Slice(ranges, func(i, j int) bool { return string(ranges[i].Start) < string(ranges[j].Start) })
	for i := 1; i < len(ranges); i++ {
		if string(ranges[i-1].End) != string(ranges[i].Start) {
			return vindex.KeyRange{}, fmt.Errorf("%s and %s do not meet: shards must follow each other without gap or overlap", ranges[i-1], ranges[i])
		}
	}
	return vindex.KeyRange{Start: ranges[0].Start, End: ranges[len(ranges)-1].End}, nil
}

// reshardTables reads how each table of the keyspace's vschema maps to
// keyspace ids.
func reshardTables(ctx context.Context, ts *topo.Server, keyspace string) ([]*topopb.TableSharding, error) {
	data, _, err := ts.GetVSchema(ctx, keyspace)
	if err != nil {
		return nil, err
	}
	ks, decl, err := vschema.ParseVSchema(keyspace, true, data)
	if err != nil {
		return nil, err
	}
	var out []*topopb.TableSharding
	for _, name := range sortedTableNames(ks) {
		t := ks.Tables[name]
		switch t.Type {
		case "reference":
			out = append(out, &topopb.TableSharding{Table: t.Name, Reference: true})
			continue
		case "sequence":
			return nil, fmt.Errorf("table %s is a sequence: sequences live in unsharded keyspaces", t.Name)
		}
		cv := t.PrimaryVindex()
		if cv.Vindex.NeedsCursor() {
			return nil, fmt.Errorf("table %s: its primary vindex %s needs a database to map rows; resharding needs a functional one", t.Name, cv.Name)
		}
		vd := decl.Vindexes[cv.Name]
		out = append(out, &topopb.TableSharding{Table: t.Name, Columns: cv.Columns, VindexType: vd.Type, VindexParams: vd.Params})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the vschema of keyspace %s has no table to reshard", keyspace)
	}
	return out, nil
}

func sortedTableNames(ks *vschema.Keyspace) []string {
	names := make([]string, 0, len(ks.Tables))
	for n := range ks.Tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// copySchema creates the tables on every target as a source defines them,
// and checks that every table of the source is in the workflow and that
// the targets hold no row yet. It returns the tables that exist (a
// vschema may name tables not created yet: they have nothing to copy).
func copySchema(ctx context.Context, ts *topo.Server, spec ReshardSpec, tables []*topopb.TableSharding, opts ...control.Option) ([]*topopb.TableSharding, error) {
	src, err := primaryTablet(ctx, ts, spec.Keyspace, spec.Sources[0], opts...)
	if err != nil {
		return nil, err
	}
	defer src.close()
	res, err := src.execute(ctx, "SHOW FULL TABLES FROM "+sqlescape.EscapeID(spec.Keyspace))
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, t := range tables {
		known[strings.ToLower(t.Table)] = true
	}
	exists := map[string]bool{}
	for _, row := range res.Rows {
		if row[1].ToString() != "BASE TABLE" {
			continue
		}
		name := row[0].ToString()
		if !known[strings.ToLower(name)] {
			return nil, fmt.Errorf("table %s of shard %s is not in the vschema of %s: add it (shardctl vschema apply) so that its rows know their shard", name, spec.Sources[0], spec.Keyspace)
		}
		exists[strings.ToLower(name)] = true
	}
	var present []*topopb.TableSharding
	for _, t := range tables {
		if exists[strings.ToLower(t.Table)] {
			present = append(present, t)
		}
	}
	if len(present) == 0 {
		return nil, fmt.Errorf("shard %s has none of the tables of the vschema of %s: nothing to reshard", spec.Sources[0], spec.Keyspace)
	}
	targets, err := primaryTablets(ctx, ts, spec.Keyspace, spec.Targets, opts...)
	if err != nil {
		return nil, err
	}
	defer closeAll(targets)
	for _, t := range present {
		qualified := sqlescape.EscapeID(spec.Keyspace) + "." + sqlescape.EscapeID(t.Table)
		res, err := src.execute(ctx, "SHOW CREATE TABLE "+qualified)
		if err != nil {
			return nil, err
		}
		create := res.Rows[0][1].ToString()
		create = strings.Replace(create, "CREATE TABLE ", "CREATE TABLE IF NOT EXISTS "+sqlescape.EscapeID(spec.Keyspace)+".", 1)
		for _, dst := range targets {
			if _, err := dst.execute(ctx, create); err != nil {
				return nil, fmt.Errorf("create table %s on target: %w", t.Table, err)
			}
			rows, err := dst.execute(ctx, "SELECT 1 FROM "+qualified+" LIMIT 1")
			if err != nil {
				return nil, err
			}
			if len(rows.Rows) > 0 {
				return nil, fmt.Errorf("target shard %s already has rows in %s: resharding copies into empty tables (a cancelled workflow empties them)", dst.shard, t.Table)
			}
		}
	}
	return present, nil
}

// WorkflowStatus is a workflow and what its streams report.
type WorkflowStatus struct {
	Workflow *topopb.Workflow
	Streams  []*topopb.StreamStatus
}

// Copying reports whether some stream has not finished copying.
func (s *WorkflowStatus) Copying() bool {
	for _, st := range s.Streams {
		if st.Phase == topopb.StreamStatus_COPYING {
			return true
		}
	}
	return len(s.Streams) == 0
}

// ReshardStatus reads a workflow and its streams' statuses.
func ReshardStatus(ctx context.Context, ts *topo.Server, keyspace, name string) (*WorkflowStatus, error) {
	wf, err := ts.GetWorkflow(ctx, keyspace, name)
	if err != nil {
		return nil, err
	}
	streams, err := ts.ListStreamStatuses(ctx, keyspace, name)
	if err != nil {
		return nil, err
	}
	return &WorkflowStatus{Workflow: wf, Streams: streams}, nil
}

// streamPairs lists the (receiver, sender) pairs a workflow runs in its
// current direction.
func streamPairs(wf *topopb.Workflow) [][2]string {
	receivers, senders := wf.Targets, wf.Sources
	if wf.Reversed {
		receivers, senders = wf.Sources, wf.Targets
	}
	var out [][2]string
	for _, r := range receivers {
		rk, _ := vindex.ParseKeyRange(r)
		for _, s := range senders {
			sk, _ := vindex.ParseKeyRange(s)
			if rk.Intersects(sk) {
				out = append(out, [2]string{r, s})
			}
		}
	}
	return out
}

// SwitchReads sends replica and rdonly reads to the targets.
func SwitchReads(ctx context.Context, ts *topo.Server, keyspace, name string) error {
	ctx, unlock, err := lockKeyspace(ctx, ts, keyspace, "reshard switch-reads")
	if err != nil {
		return err
	}
	defer unlock()
	wf, err := ts.GetWorkflow(ctx, keyspace, name)
	if err != nil {
		return err
	}
	if wf.State != topopb.Workflow_RUNNING {
		return fmt.Errorf("workflow %s is %s: reads switch from RUNNING", name, wf.State)
	}
	st, err := ReshardStatus(ctx, ts, keyspace, name)
	if err != nil {
		return err
	}
	if err := caughtUp(st, 10*time.Second); err != nil {
		return err
	}
	if err := setPartitions(ctx, ts, keyspace, wf.Sources, wf.Targets, topopb.TabletType_REPLICA, topopb.TabletType_RDONLY); err != nil {
		return err
	}
	_, err = ts.UpdateWorkflow(ctx, keyspace, name, func(w *topopb.Workflow) error {
		w.State, w.Message = topopb.Workflow_READS_SWITCHED, "replica and rdonly reads switched to the targets"
		w.CutoverFailed = nil
		return nil
	})
	return err
}

// caughtUp refuses a switch while a stream copies, fails or lags.
func caughtUp(st *WorkflowStatus, maxLag time.Duration) error {
	want := streamPairs(st.Workflow)
	byPair := map[[2]string]*topopb.StreamStatus{}
	for _, s := range st.Streams {
		byPair[[2]string{s.Receiver, s.Sender}] = s
	}
	for _, p := range want {
		s, ok := byPair[p]
		switch {
		case !ok:
			return fmt.Errorf("stream %s <- %s has not reported yet: is the tablet of %s running?", p[0], p[1], p[0])
		case s.Phase == topopb.StreamStatus_COPYING:
			return fmt.Errorf("stream %s <- %s is still copying", p[0], p[1])
		case s.Phase == topopb.StreamStatus_ERROR:
			return fmt.Errorf("stream %s <- %s failed: %s", p[0], p[1], s.Error)
		case time.Duration(s.LagMs)*time.Millisecond > maxLag:
			return fmt.Errorf("stream %s <- %s lags %d ms behind its sender", p[0], p[1], s.LagMs)
		case time.Since(time.UnixMilli(s.UpdatedUnixMs)) > 10*time.Second:
			return fmt.Errorf("stream %s <- %s has not reported for %v: is the tablet of %s running?", p[0], p[1], time.Since(time.UnixMilli(s.UpdatedUnixMs)).Round(time.Second), p[0])
		}
	}
	return nil
}

// setPartitions makes the shards to serve the given tablet types in every
// cell in place of the shards from; the keyspace's other shards stay.
func setPartitions(ctx context.Context, ts *topo.Server, keyspace string, from, to []string, types ...topopb.TabletType) error {
	refs, err := ts.ShardReferences(ctx, keyspace, to)
	if err != nil {
		return err
	}
	return ts.UpdateSrvKeyspace(ctx, keyspace, func(srv *topopb.SrvKeyspace) {
		for _, tt := range types {
			found := false
			for _, p := range srv.Partitions {
				if p.TabletType == tt {
					p.Shards, found = replaceShards(p.Shards, from, refs), true
				}
			}
			if !found {
				// No partition of that type (the keyspace has no such
				// tablets): start from the primary's shards, so that it
				// still covers the whole keyspace.
				var base []*topopb.ShardReference
				for _, p := range srv.Partitions {
					if p.TabletType == topopb.TabletType_PRIMARY {
						base = p.Shards
					}
				}
				srv.Partitions = append(srv.Partitions, &topopb.SrvKeyspace_Partition{TabletType: tt, Shards: replaceShards(base, from, refs)})
			}
		}
	})
}

// replaceShards is current without the shards from (and to), with to
// added, in key order.
func replaceShards(current []*topopb.ShardReference, from []string, to []*topopb.ShardReference) []*topopb.ShardReference {
	var out []*topopb.ShardReference
	for _, r := range current {
		if !slices.Contains(from, r.Name) && !slices.ContainsFunc(to, func(t *topopb.ShardReference) bool { return t.Name == r.Name }) {
			out = append(out, r)
		}
	}
	out = append(out, to...)
	sort.Slice(out, func(i, j int) bool { return string(out[i].KeyRange.GetStart()) < string(out[j].KeyRange.GetStart()) })
	return out
}

// SwitchOptions bounds a switch of writes.
type SwitchOptions struct {
	// BufferWindow is how long gates hold writes at most (their clients
	// wait meanwhile); the switch must finish within it.
	BufferWindow time.Duration
	// DrainTimeout bounds the wait for the open transactions on the
	// shards that give up their writes.
	DrainTimeout time.Duration
	// CatchUpTimeout bounds the wait, before writes are held, for the
	// streams to apply what their senders had when the switch began.
	CatchUpTimeout time.Duration
}

// DefaultSwitchOptions are the defaults of shardctl.
func DefaultSwitchOptions() SwitchOptions {
	return SwitchOptions{BufferWindow: 5 * time.Second, DrainTimeout: 2 * time.Second, CatchUpTimeout: 30 * time.Second}
}

// SwitchReport says how a switch of writes went.
type SwitchReport struct {
	// Stall is how long gates held writes: from the buffer's start to the
	// serving graph's switch.
	Stall time.Duration
	// Drain is the part of it spent waiting for the gates' open
	// transactions to end.
	Drain time.Duration
	// Positions are the positions the shards gave up their writes at.
	Positions map[string]string
	// Steps say how long each step took, in order.
	Steps []SwitchStep
}

// SwitchStep is one step of a switch of writes and how long it took.
type SwitchStep struct {
	Name string
	Took time.Duration
}

// SwitchWrites moves the keyspace's writes from the sources to the targets
// (or, for a workflow whose writes are switched, back: see ReverseReshard).
// Gates hold the keyspace's writes meanwhile; the sources stop taking
// writes once their open transactions end; the targets apply the sources'
// last changes; reverse streams are set to start from the targets'
// positions (so that the switch can be undone without losing a write);
// the serving graph flips; gates run the held writes on the targets (the
// steps are listed in cutover.go). It holds the keyspace's lock
// meanwhile. When a step fails, the steps taken are undone, last first,
// and the error is a *CutoverError: it says whether everything was put
// back (the sources serve as before) or which undo failed and what to do,
// and the workflow record's cutover_failed says the same.
func SwitchWrites(ctx context.Context, ts *topo.Server, keyspace, name string, opts SwitchOptions, tabletOpts ...control.Option) (*SwitchReport, error) {
	ctx, unlock, err := lockKeyspace(ctx, ts, keyspace, "reshard switch-writes")
	if err != nil {
		return nil, err
	}
	defer unlock()
	wf, err := ts.GetWorkflow(ctx, keyspace, name)
	if err != nil {
		return nil, err
	}
	if wf.State != topopb.Workflow_RUNNING && wf.State != topopb.Workflow_READS_SWITCHED {
		return nil, fmt.Errorf("workflow %s is %s: writes switch from RUNNING or READS_SWITCHED", name, wf.State)
	}
	return switchDirection(ctx, ts, wf, wf.Sources, wf.Targets, topopb.Workflow_WRITES_SWITCHED, true, "switch-writes", opts, tabletOpts)
}

// ReverseReshard undoes a switch: for a workflow whose writes are
// switched, writes (and reads) go back to the sources and the streams run
// from the sources to the targets again; for one whose reads are
// switched, reads go back.
func ReverseReshard(ctx context.Context, ts *topo.Server, keyspace, name string, opts SwitchOptions, tabletOpts ...control.Option) (*SwitchReport, error) {
	ctx, unlock, err := lockKeyspace(ctx, ts, keyspace, "reshard reverse")
	if err != nil {
		return nil, err
	}
	defer unlock()
	wf, err := ts.GetWorkflow(ctx, keyspace, name)
	if err != nil {
		return nil, err
	}
	switch wf.State {
	case topopb.Workflow_READS_SWITCHED:
		if err := setPartitions(ctx, ts, keyspace, wf.Targets, wf.Sources, topopb.TabletType_REPLICA, topopb.TabletType_RDONLY); err != nil {
			return nil, err
		}
		_, err := ts.UpdateWorkflow(ctx, keyspace, name, func(w *topopb.Workflow) error {
			w.State, w.Message = topopb.Workflow_RUNNING, "reads switched back to the sources"
			w.CutoverFailed = nil
			return nil
		})
		return &SwitchReport{}, err
	case topopb.Workflow_WRITES_SWITCHED:
		return switchDirection(ctx, ts, wf, wf.Targets, wf.Sources, topopb.Workflow_RUNNING, false, "reverse", opts, tabletOpts)
	}
	return nil, fmt.Errorf("workflow %s is %s: there is no switch to undo", name, wf.State)
}

// waitStopped waits until the streams of pairs have seen the workflow
// record wf (its generation) and stopped: paused, or, with positions, at
// or past their sender's position there.
func waitStopped(ctx context.Context, ts *topo.Server, wf *topopb.Workflow, pairs [][2]string, positions map[string]string, deadline time.Time) error {
	want := map[string]gtidpos.Position{}
	for s, p := range positions {
		pos, err := gtidpos.Parse(p)
		if err != nil {
			return err
		}
		want[s] = pos
	}
	for {
		statuses, err := ts.ListStreamStatuses(ctx, wf.Keyspace, wf.Name)
		if err != nil {
			return err
		}
		byPair := map[[2]string]*topopb.StreamStatus{}
		for _, st := range statuses {
			byPair[[2]string{st.Receiver, st.Sender}] = st
		}
		var waiting string
		for _, p := range pairs {
			st := byPair[p]
			switch {
			case st == nil:
				waiting = fmt.Sprintf("stream %s <- %s has not reported", p[0], p[1])
			case st.Phase == topopb.StreamStatus_ERROR:
				return fmt.Errorf("stream %s <- %s failed: %s", st.Receiver, st.Sender, st.Error)
			case st.Phase != topopb.StreamStatus_STOPPED || st.WorkflowGeneration < wf.Generation:
				waiting = fmt.Sprintf("stream %s <- %s is at %s", p[0], p[1], st.Position)
			case positions != nil:
				if pos, _ := gtidpos.Parse(st.Position); !pos.AtLeast(want[p[1]]) {
					waiting = fmt.Sprintf("stream %s <- %s is at %s, not yet at %s", p[0], p[1], st.Position, positions[p[1]])
				}
			}
		}
		if waiting == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the streams did not stop in time: %s", waiting)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// CompleteReshard ends a workflow whose writes are switched: the reverse
// streams stop and the sources leave the keyspace (their shard records
// go; their tablets and data are left for the operator to remove).
func CompleteReshard(ctx context.Context, ts *topo.Server, keyspace, name string) error {
	ctx, unlock, err := lockKeyspace(ctx, ts, keyspace, "reshard complete")
	if err != nil {
		return err
	}
	defer unlock()
	wf, err := ts.GetWorkflow(ctx, keyspace, name)
	if err != nil {
		return err
	}
	if wf.State != topopb.Workflow_WRITES_SWITCHED {
		return fmt.Errorf("workflow %s is %s: complete follows switch-writes", name, wf.State)
	}
	if err := ts.DeleteWorkflow(ctx, keyspace, name); err != nil {
		return err
	}
	for _, sh := range wf.Sources {
		if err := ts.DeleteShard(ctx, keyspace, sh); err != nil && !errors.Is(err, topo.ErrNotFound) {
			return fmt.Errorf("remove source shard %s: %w", sh, err)
		}
	}
	return nil
}

// CancelReshard abandons a workflow whose writes are not switched: reads
// go back to the sources, the streams stop, the targets' copied rows are
// deleted and the targets leave the keyspace.
func CancelReshard(ctx context.Context, ts *topo.Server, keyspace, name string, opts ...control.Option) error {
	ctx, unlock, err := lockKeyspace(ctx, ts, keyspace, "reshard cancel")
	if err != nil {
		return err
	}
	defer unlock()
	wf, err := ts.GetWorkflow(ctx, keyspace, name)
	if err != nil {
		return err
	}
	switch wf.State {
	case topopb.Workflow_WRITES_SWITCHED:
		return fmt.Errorf("workflow %s has its writes switched: reverse it first, or complete it", name)
	case topopb.Workflow_READS_SWITCHED:
		if err := setPartitions(ctx, ts, keyspace, wf.Targets, wf.Sources, topopb.TabletType_REPLICA, topopb.TabletType_RDONLY); err != nil {
			return err
		}
	}
	if err := ts.DeleteWorkflow(ctx, keyspace, name); err != nil {
		return err
	}
	targets, err := primaryTablets(ctx, ts, keyspace, wf.Targets, opts...)
	if err != nil {
		return err
	}
	defer closeAll(targets)
	// The streams stop when the tablets see the workflow gone; wait a
	// moment for them before emptying the tables under them.
	time.Sleep(2 * time.Second)
	for _, t := range targets {
		for _, tb := range wf.Tables {
			if _, err := t.execute(ctx, "DELETE FROM "+sqlescape.EscapeID(keyspace)+"."+sqlescape.EscapeID(tb.Table)); err != nil {
				return err
			}
		}
	}
	for _, sh := range wf.Targets {
		if err := ts.DeleteShard(ctx, keyspace, sh); err != nil && !errors.Is(err, topo.ErrNotFound) {
			return err
		}
	}
	return nil
}
