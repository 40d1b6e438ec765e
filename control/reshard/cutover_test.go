package reshard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// record is the log of what the steps of a test did.
type record struct {
	mu  sync.Mutex
	log []string
}

func (r *record) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *record) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.log, ", ")
}

// testStep is a step that logs its do and undo and fails as told.
func testStep(r *record, name string, withUndo bool, doErr, undoErr error) step {
	s := step{name: name, ifUndoFails: name + " left {sources}/{targets}", do: func(context.Context) error {
		r.add("do " + name)
		return doErr
	}}
	if withUndo {
		s.undo = func(context.Context) error {
			r.add("undo " + name)
			return undoErr
		}
	}
	return s
}

func TestRunStepsInOrder(t *testing.T) {
	r := &record{}
	var done []string
	f := runSteps(context.Background(), []step{
		testStep(r, "a", true, nil, nil), testStep(r, "b", false, nil, nil), testStep(r, "c", true, nil, nil),
	}, func(s step) { done = append(done, s.name) })
	if f != nil {
		t.Fatalf("failure %+v", f)
	}
	if got, want := r.String(), "do a, do b, do c"; got != want {
		t.Errorf("ran %q, want %q", got, want)
	}
	if strings.Join(done, ",") != "a,b,c" {
		t.Errorf("done for %v", done)
	}
}

func TestRunStepsUndoesLastFirst(t *testing.T) {
	r := &record{}
	boom := errors.New("boom")
	f := runSteps(context.Background(), []step{
		testStep(r, "a", true, nil, nil), testStep(r, "b", false, nil, nil), testStep(r, "c", true, nil, nil),
		testStep(r, "d", true, boom, nil), testStep(r, "e", true, nil, nil),
	}, func(step) {})
	if f == nil || f.step != "d" || !errors.Is(f.err, boom) || !f.changed || f.undoErr != nil {
		t.Fatalf("failure %+v, want step d failed with boom, undone", f)
	}
	// The failed step's own undo runs too: it may have done half its work.
	if got, want := r.String(), "do a, do b, do c, do d, undo d, undo c, undo a"; got != want {
		t.Errorf("ran %q, want %q", got, want)
	}
}

func TestRunStepsCollectsEveryUndoError(t *testing.T) {
	r := &record{}
	errC, errA := errors.New("etcd away"), errors.New("tablet away")
	f := runSteps(context.Background(), []step{
		testStep(r, "a", true, nil, errA), testStep(r, "b", true, nil, nil), testStep(r, "c", true, nil, errC),
		testStep(r, "d", false, errors.New("boom"), nil),
	}, func(step) {})
	if got, want := r.String(), "do a, do b, do c, do d, undo c, undo b, undo a"; got != want {
		t.Errorf("ran %q, want %q: an undo that fails must not stop the others", got, want)
	}
	if f == nil || !errors.Is(f.undoErr, errA) || !errors.Is(f.undoErr, errC) {
		t.Fatalf("undo errors %v, want both", f.undoErr)
	}
	if msg := f.undoErr.Error(); !strings.Contains(msg, "undo c: etcd away") || !strings.Contains(msg, "undo a: tablet away") {
		t.Errorf("undo errors %q do not name their steps", msg)
	}
	if len(f.failedUndos) != 2 || f.failedUndos[0].name != "c" || f.failedUndos[1].name != "a" {
		t.Errorf("failed undos %v", f.failedUndos)
	}
}

func TestRunStepsFailingBeforeAnyChange(t *testing.T) {
	r := &record{}
	f := runSteps(context.Background(), []step{testStep(r, "check", false, errors.New("lags"), nil), testStep(r, "hold", true, nil, nil)}, func(step) {})
	if f == nil || f.changed || r.String() != "do check" {
		t.Fatalf("failure %+v after %q; want nothing changed and nothing undone", f, r)
	}
}

// testWorkflow records a keyspace with shards -80 and 80- serving, the
// targets -40 and 40-80 not, and a workflow splitting -80.
func testWorkflow(t *testing.T) (*topo.Server, *topopb.Workflow) {
	t.Helper()
	ctx := context.Background()
	ts := topo.NewServer(topo.NewMemoryStore(), "")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ts.CreateKeyspace(ctx, &topopb.Keyspace{Name: "ks", Sharded: true}))
	for _, sh := range []string{"-80", "80-"} {
		_, err := ts.CreateShardServing(ctx, "ks", sh, true)
		must(err)
	}
	for _, sh := range []string{"-40", "40-80"} {
		_, err := ts.CreateShardServing(ctx, "ks", sh, false)
		must(err)
	}
	must(ts.RebuildSrvKeyspace(ctx, topo.DefaultCell, "ks"))
	wf := &topopb.Workflow{Keyspace: "ks", Name: "split", Sources: []string{"-80"}, Targets: []string{"-40", "40-80"},
		State: topopb.Workflow_RUNNING, Epoch: 1}
	must(ts.CreateWorkflow(ctx, wf))
	wf, err := ts.GetWorkflow(ctx, "ks", "split")
	must(err)
	return ts, wf
}

func TestCutoverFailureSaysWhetherTheSourcesServe(t *testing.T) {
	ctx := context.Background()
	ts, wf := testWorkflow(t)
	c := &cutover{ts: ts, wf: wf, from: wf.Sources, to: wf.Targets, op: "switch-writes"}
	r := &record{}

	// Every undo succeeds: the sources serve as before, and both the error
	// and the workflow say so.
	_, err := c.run(ctx, []step{testStep(r, "hold", true, nil, nil), testStep(r, "stop", true, errors.New("tablet away"), nil)})
	var ce *CutoverError
	if !errors.As(err, &ce) || !ce.SourcesServe() || ce.Step != "stop" || !ce.Changed {
		t.Fatalf("error %v, want a *CutoverError at step stop, undone", err)
	}
	if !strings.Contains(err.Error(), "failed at step stop and was undone (the shards -80 serve as before): tablet away") {
		t.Errorf("error %q", err)
	}
	got, _ := ts.GetWorkflow(ctx, "ks", "split")
	if f := got.CutoverFailed; f == nil || !f.Undone || f.Step != "stop" || f.Operation != "switch-writes" || len(f.UndoErrors) != 0 ||
		!strings.Contains(f.Next, "shardctl reshard switch-writes --keyspace ks --workflow split") {
		t.Errorf("workflow's cutover_failed %v", f)
	}

	// An undo fails: neither the error nor the workflow may claim that the
	// sources serve; both say which undo failed and what to do.
	_, err = c.run(ctx, []step{testStep(r, "hold", true, nil, nil), testStep(r, "stop", true, errors.New("tablet away"), errors.New("resume refused"))})
	if !errors.As(err, &ce) || ce.SourcesServe() {
		t.Fatalf("error %v, want a *CutoverError that does not claim the sources serve", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "serve as before") || !strings.Contains(msg, "may NOT serve") || !strings.Contains(msg, "undo stop: resume refused") ||
		!strings.Contains(msg, "stop left -80/-40,40-80") {
		t.Errorf("error %q", msg)
	}
	got, _ = ts.GetWorkflow(ctx, "ks", "split")
	f := got.CutoverFailed
	if f == nil || f.Undone || f.Step != "stop" || len(f.UndoErrors) != 1 || f.UndoErrors[0] != "undo stop: resume refused" || !strings.Contains(f.Next, "stop left -80/-40,40-80") {
		t.Fatalf("workflow's cutover_failed %v", f)
	}
	var status bytes.Buffer
	_ = WriteStatus(&status, &WorkflowStatus{Workflow: got}, time.Now())
	if s := status.String(); !strings.Contains(s, "CUTOVER FAILED: switch-writes at step stop") || !strings.Contains(s, "NOT fully undone") ||
		strings.Contains(s, "serve them as before") || !strings.Contains(s, "next: stop: stop left") {
		t.Errorf("status does not tell the failure:\n%s", s)
	}

	// A cutover that succeeds clears the failure.
	c.startAt, c.next, c.reversed = map[string]string{}, topopb.Workflow_WRITES_SWITCHED, true
	if _, err := c.run(ctx, []step{{name: "recordSwitch", do: c.recordSwitch}}); err != nil {
		t.Fatal(err)
	}
	if got, _ = ts.GetWorkflow(ctx, "ks", "split"); got.CutoverFailed != nil || got.State != topopb.Workflow_WRITES_SWITCHED {
		t.Errorf("after a successful cutover: %v", got)
	}
}

// fakeRepl is a tablet's replication service: it answers positions, stops
// and resumes writes, and fails the calls it is told to.
type fakeRepl struct {
	replicationpb.ReplicationClient
	shard    string
	position string
	mu       sync.Mutex
	stopped  bool
	fail     map[string]error // by method
}

func (f *fakeRepl) err(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail[method]
}

func (f *fakeRepl) StopWrites(context.Context, *replicationpb.StopWritesRequest, ...grpc.CallOption) (*replicationpb.StopWritesResponse, error) {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	if err := f.err("StopWrites"); err != nil {
		return nil, err
	}
	return &replicationpb.StopWritesResponse{Position: f.position}, nil
}

func (f *fakeRepl) ResumeWrites(context.Context, *replicationpb.ResumeWritesRequest, ...grpc.CallOption) (*replicationpb.ResumeWritesResponse, error) {
	if err := f.err("ResumeWrites"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.stopped = false
	f.mu.Unlock()
	return &replicationpb.ResumeWritesResponse{}, nil
}

func (f *fakeRepl) Position(context.Context, *replicationpb.PositionRequest, ...grpc.CallOption) (*replicationpb.PositionResponse, error) {
	if err := f.err("Position"); err != nil {
		return nil, err
	}
	return &replicationpb.PositionResponse{Position: f.position}, nil
}

func (f *fakeRepl) writesStopped() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped
}

// fakeStreams plays the targets' streams: they report running at the
// sources' position, and stopped there once the workflow asks.
func fakeStreams(t *testing.T, ctx context.Context, ts *topo.Server, position string) {
	t.Helper()
	report := func(wf *topopb.Workflow) {
		for _, p := range streamPairs(wf) {
			st := &topopb.StreamStatus{Receiver: p[0], Sender: p[1], Phase: topopb.StreamStatus_RUNNING, Position: position, WorkflowGeneration: wf.Generation}
			if len(wf.StopAt) > 0 {
				st.Phase = topopb.StreamStatus_STOPPED
			}
			if err := ts.SaveStreamStatus(ctx, wf.Keyspace, wf.Name, st); err != nil && ctx.Err() == nil {
				t.Error(err)
			}
		}
	}
	wfs, err := ts.WatchWorkflows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap := <-wfs
	for _, wf := range snap {
		report(wf)
	}
	go func() {
		for snap := range wfs {
			for _, wf := range snap {
				report(wf)
			}
		}
	}()
}

// cutoverOnFakes runs the real steps (but dialing) of a switch of writes
// of testWorkflow on fake tablets.
func cutoverOnFakes(t *testing.T, failing string, method string, undoFailing string) (*topo.Server, *cutover, *fakeRepl, *fakeRepl, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ts, wf := testWorkflow(t)
	const pos = "0-1-100"
	fakeStreams(t, ctx, ts, pos)
	src := &fakeRepl{shard: "-80", position: pos, fail: map[string]error{}}
	dst := &fakeRepl{shard: "-40", position: "0-2-7", fail: map[string]error{}}
	c := &cutover{ts: ts, wf: wf, from: wf.Sources, to: wf.Targets, op: "switch-writes", next: topopb.Workflow_WRITES_SWITCHED, reversed: true,
		opts: SwitchOptions{BufferWindow: 5 * time.Second, DrainTimeout: 2 * time.Second, CatchUpTimeout: 5 * time.Second}}
	c.senders = []*shardTablet{{shard: "-80", tablet: &topopb.Tablet{Alias: "zone1-1"}, repl: src}}
	c.receivers = []*shardTablet{{shard: "-40", tablet: &topopb.Tablet{Alias: "zone1-2"}, repl: dst}, {shard: "40-80", tablet: &topopb.Tablet{Alias: "zone1-3"}, repl: dst}}
	var steps []step
	for _, s := range c.steps() {
		if s.name == "dialTablets" {
			continue
		}
		if s.name == failing {
			do := s.do
			s.do = func(ctx context.Context) error {
				if err := do(ctx); err != nil {
					return err
				}
				return fmt.Errorf("injected failure after %s", failing)
			}
		}
		if s.name == undoFailing {
			s.undo = func(context.Context) error { return errors.New("injected undo failure") }
		}
		steps = append(steps, s)
	}
	if method != "" {
		src.fail[method] = errors.New("tablet away")
	}
	_, err := c.run(ctx, steps)
	return ts, c, src, dst, err
}

// servingState is what a cutover changes: the shards' serving flags, the
// serving graph's primaries and hold, and the workflow's direction.
func servingState(t *testing.T, ts *topo.Server) string {
	t.Helper()
	ctx := context.Background()
	var flags []string
	shards, _ := ts.ListShards(ctx, "ks")
	for _, sh := range shards {
		flags = append(flags, fmt.Sprintf("%s=%v", sh.Name, sh.PrimaryServing))
	}
	srv, err := ts.GetSrvKeyspace(ctx, topo.DefaultCell, "ks")
	if err != nil {
		t.Fatal(err)
	}
	var primaries []string
	for _, p := range srv.Partitions {
		if p.TabletType == topopb.TabletType_PRIMARY {
			primaries = append(primaries, names(p.Shards))
		}
	}
	wf, _ := ts.GetWorkflow(ctx, "ks", "split")
	return fmt.Sprintf("serving %s; primaries %s; held %v; workflow %s reversed=%v epoch=%d stop_at=%v",
		strings.Join(flags, " "), strings.Join(primaries, " "), srv.WritesBufferedUntilUnixMs != 0, wf.State, wf.Reversed, wf.Epoch, wf.StopAt)
}

const stateBefore = "serving -40=false -80=true 40-80=false 80-=true; primaries -80,80-; held false; workflow RUNNING reversed=false epoch=1 stop_at=map[]"

func TestCutoverStepsOnFakes(t *testing.T) {
	ts, c, src, _, err := cutoverOnFakes(t, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := "serving -40=true -80=false 40-80=true 80-=true; primaries -40,40-80,80-; held false; workflow WRITES_SWITCHED reversed=true epoch=2 stop_at=map[]"
	if got := servingState(t, ts); got != want {
		t.Errorf("after the cutover:\n%s\nwant\n%s", got, want)
	}
	if !src.writesStopped() {
		t.Error("the source takes writes after the cutover")
	}
	var laps []string
	for _, l := range c.laps {
		laps = append(laps, l.Name)
	}
	if got := strings.Join(laps, ", "); got != "gates drained, sources stopped, targets caught up, targets serving, serving graph flipped" {
		t.Errorf("report steps %s", got)
	}
}

// TestCutoverUndoesEachStep fails the cutover after each step in turn and
// checks that everything is as before, the source taking writes.
func TestCutoverUndoesEachStep(t *testing.T) {
	for _, s := range (&cutover{}).steps() {
		if s.name == "dialTablets" {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			ts, _, src, _, err := cutoverOnFakes(t, s.name, "", "")
			var ce *CutoverError
			if !errors.As(err, &ce) || ce.Step != s.name || !ce.SourcesServe() {
				t.Fatalf("error %v, want a *CutoverError at %s, undone", err, s.name)
			}
			if got := servingState(t, ts); got != stateBefore {
				t.Errorf("after the undo:\n%s\nwant\n%s", got, stateBefore)
			}
			if src.writesStopped() {
				t.Error("the source refuses writes after the undo")
			}
			if wf, _ := ts.GetWorkflow(context.Background(), "ks", "split"); wf.CutoverFailed.GetStep() != s.name || !wf.CutoverFailed.GetUndone() {
				t.Errorf("workflow's cutover_failed %v", wf.CutoverFailed)
			}
		})
	}
}

func TestCutoverWhoseUndoFails(t *testing.T) {
	// The source stops, then the targets cannot be read; resuming the
	// source's writes fails too.
	ts, _, src, _, err := cutoverOnFakes(t, "readTargetPositions", "ResumeWrites", "")
	var ce *CutoverError
	if !errors.As(err, &ce) || ce.SourcesServe() || ce.Step != "readTargetPositions" {
		t.Fatalf("error %v, want a *CutoverError at readTargetPositions, not undone", err)
	}
	if !src.writesStopped() {
		t.Fatal("the fake resumed writes it was told to refuse")
	}
	if msg := err.Error(); strings.Contains(msg, "serve as before") || !strings.Contains(msg, "undo stopSourceWrites: resume writes on -80") ||
		!strings.Contains(msg, "the shards -80 may still refuse writes") {
		t.Errorf("error %q", msg)
	}
	// The other undos ran: the graph, the flags and the workflow are back.
	if got := servingState(t, ts); got != stateBefore {
		t.Errorf("after the undo:\n%s\nwant\n%s", got, stateBefore)
	}
	wf, _ := ts.GetWorkflow(context.Background(), "ks", "split")
	if f := wf.CutoverFailed; f == nil || f.Undone || len(f.UndoErrors) != 1 || !strings.Contains(f.Next, "restart those tablets") {
		t.Errorf("workflow's cutover_failed %v", f)
	}
}

func TestOperationsRefusedWhileTheKeyspaceIsLocked(t *testing.T) {
	ctx := context.Background()
	ts, _ := testWorkflow(t)
	held, err := ts.LockKeyspace(ctx, "ks", "alice@host1 (pid 7)", "reshard switch-writes")
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"create": func() error {
			_, err := CreateReshard(ctx, ts, ReshardSpec{Keyspace: "ks", Name: "other", Sources: []string{"80-"}, Targets: []string{"80-c0", "c0-"}})
			return err
		},
		"diff":         func() error { _, err := DiffReshard(ctx, ts, "ks", "split", DefaultDiffOptions()); return err },
		"switch-reads": func() error { return SwitchReads(ctx, ts, "ks", "split") },
		"switch-writes": func() error {
			_, err := SwitchWrites(ctx, ts, "ks", "split", DefaultSwitchOptions())
			return err
		},
		"reverse": func() error {
			_, err := ReverseReshard(ctx, ts, "ks", "split", DefaultSwitchOptions())
			return err
		},
		"complete": func() error { return CompleteReshard(ctx, ts, "ks", "split") },
		"cancel":   func() error { return CancelReshard(ctx, ts, "ks", "split") },
	}
	for name, op := range ops {
		err := op()
		if !errors.Is(err, topo.ErrLocked) || !strings.Contains(err.Error(), "alice@host1 (pid 7) for reshard switch-writes") {
			t.Errorf("%s while locked: %v; want refused, naming the holder", name, err)
		}
	}
	held.Release()
	// Released, the lock lets an operation in (which then fails on its
	// own: the streams have not reported).
	if err := SwitchReads(ctx, ts, "ks", "split"); err == nil || errors.Is(err, topo.ErrLocked) {
		t.Errorf("switch-reads after release: %v", err)
	}
	if h, _ := ts.KeyspaceLockHolder(ctx, "ks"); h != nil {
		t.Errorf("the operation left its lock behind: %v", h)
	}
}
