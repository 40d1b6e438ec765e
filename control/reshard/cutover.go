package reshard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// The cutover moves a keyspace's writes from the shards `from` to the
// shards `to`: SwitchWrites from the workflow's sources to its targets,
// ReverseReshard back. In this file "sources" are the shards that give up
// the writes and "targets" those that take them, whichever way the
// cutover goes.
//
// steps is the whole cutover, in the order it runs; each step's do and
// undo follow below in the same order. Writes are held from
// holdGateWrites to flipServingGraph: everything between them is what
// SwitchReport.Stall measures, so nothing slow belongs there.
func (c *cutover) steps() []step {
	return []step{
		{name: "checkCaughtUp", do: c.checkCaughtUp},
		{name: "dialTablets", do: c.dialTablets},
		{name: "waitNear", do: c.waitNear},
		{name: "holdGateWrites", do: c.holdGateWrites, undo: c.releaseGateWrites,
			ifUndoFails: "gates hold the keyspace's writes until the buffer's deadline (--buffer-window after the hold began) and then run them on the shards the serving graph names: nothing to do"},
		{name: "waitGatesDrained", do: c.waitGatesDrained, lap: "gates drained"},
		{name: "stopSourceWrites", do: c.stopSourceWrites, undo: c.resumeSourceWrites, lap: "sources stopped",
			ifUndoFails: "the shards {sources} may still refuse writes, which gates then fail: run the same command again once their tablets answer, or restart those tablets (a tablet takes writes when it starts unless the workflow says its writes are switched away)"},
		{name: "stopStreamsAtPositions", do: c.stopStreamsAtPositions, undo: c.restoreWorkflow,
			ifUndoFails: "the workflow record may keep the cutover's stop positions (its streams stay stopped), or already name the new state and direction while {sources} still serve: when etcd answers again, check `shardctl reshard status` and run the same command again if the state is the one it began from, else the opposite one (switch-writes or reverse)"},
		{name: "waitStreamsStopped", do: c.waitStreamsStopped, lap: "targets caught up"},
		{name: "readTargetPositions", do: c.readTargetPositions},
		{name: "setShardServing", do: c.setShardServing, undo: c.restoreShardServing,
			ifUndoFails: "the shard records' serving flags may name {targets} as serving (shardctl shard list); gates do not route by them, but a rebuild of the serving graph does: run the same command again once etcd answers"},
		{name: "resumeTargetWrites", do: c.resumeTargetWrites, undo: c.stopTargetWritesAgain,
			ifUndoFails: "the shards {targets} may take writes while the serving graph sends them none: run the same command again once their tablets answer, or restart those tablets"},
		// recordSwitch's change is put back by stopStreamsAtPositions's
		// undo, which restores the whole record.
		{name: "recordSwitch", do: c.recordSwitch, lap: "targets serving"},
		{name: "flipServingGraph", do: c.flipServingGraph, undo: c.restoreServingGraph, lap: "serving graph flipped",
			ifUndoFails: "the serving graph may send the keyspace's writes to {targets} in some cells while {sources} take them: run the same command again at once"},
	}
}

// step is one named step of the cutover. do makes its change; undo, when
// set, puts back what do changed and what any later step left of it (it
// runs also when do failed half way, so it must not assume do finished)
// and is safe to run twice. ifUndoFails says what stays wrong when undo
// fails and what the operator does about it ({sources} and {targets}
// name the shards). lap, when set, ends a part of SwitchReport.Steps.
type step struct {
	name        string
	do          func(ctx context.Context) error
	undo        func(ctx context.Context) error
	ifUndoFails string
	lap         string
}

// undoTimeout bounds the undo of a failed cutover, all steps together.
const undoTimeout = 30 * time.Second

// stepsFailure is what runSteps reports when a step fails.
type stepsFailure struct {
	step string // the failed step
	err  error
	// changed: some step with an undo had begun, so something was put
	// back (or was to be).
	changed bool
	// undoErrs are the undo failures, each naming its step (undoErr
	// joins them); failedUndos are those steps.
	undoErrs    []error
	undoErr     error
	failedUndos []step
}

// runSteps runs steps in order, calling done after each one that
// succeeds. When one fails, it runs the undo of that step and of every
// step before it, last first, in a context of its own (the cutover's may
// be what failed), and returns what failed and every undo that failed
// too; it does not stop at an undo that fails.
func runSteps(ctx context.Context, steps []step, done func(step)) *stepsFailure {
	for i, s := range steps {
		err := s.do(ctx)
		if err == nil {
			done(s)
			continue
		}
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) && cause != ctx.Err() {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		f := &stepsFailure{step: s.name, err: err}
		uctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
		defer cancel()
		for j := i; j >= 0; j-- {
			u := steps[j]
			if u.undo == nil {
				continue
			}
			f.changed = true
			if err := u.undo(uctx); err != nil {
				f.undoErrs = append(f.undoErrs, fmt.Errorf("undo %s: %w", u.name, err))
				f.failedUndos = append(f.failedUndos, u)
			}
		}
		f.undoErr = errors.Join(f.undoErrs...)
		return f
	}
	return nil
}

// CutoverError is a failed switch of writes (or reverse): the step that
// failed and why, whether everything was put back, and what to do next.
// The workflow record says the same (Workflow.cutover_failed).
type CutoverError struct {
	// Operation is "switch-writes" or "reverse".
	Operation          string
	Keyspace, Workflow string
	// Sources are the shards that served the keyspace's writes before the
	// attempt.
	Sources []string
	// Step is the step that failed (see steps in cutover.go), Err its
	// error.
	Step string
	Err  error
	// Changed: the attempt had changed something before it failed (and
	// put it back, or tried to).
	Changed bool
	// UndoErr joins the undo steps that failed, each naming its step; nil
	// when everything was put back and the sources serve as before.
	UndoErr error
	// RecordErr is why the workflow record does not say all this, if it
	// does not.
	RecordErr error
	// Next says what the operator must do.
	Next string
}

// SourcesServe reports whether everything was put back, so that the
// shards that served writes before serve them as before.
func (e *CutoverError) SourcesServe() bool { return e.UndoErr == nil }

func (e *CutoverError) Error() string {
	var b strings.Builder
	sources := strings.Join(e.Sources, ",")
	switch {
	case e.UndoErr != nil:
		fmt.Fprintf(&b, "%s failed at step %s: %v; putting it back failed too, so the shards %s may NOT serve the keyspace's writes as before: %v. Next: %s",
			e.Operation, e.Step, e.Err, sources, e.UndoErr, e.Next)
	case e.Changed:
		fmt.Fprintf(&b, "%s failed at step %s and was undone (the shards %s serve as before): %v", e.Operation, e.Step, sources, e.Err)
	default:
		fmt.Fprintf(&b, "%s stopped at step %s before changing anything (the shards %s serve as before): %v", e.Operation, e.Step, sources, e.Err)
	}
	if e.RecordErr != nil {
		fmt.Fprintf(&b, " (the workflow record could not say so: %v)", e.RecordErr)
	}
	return b.String()
}

func (e *CutoverError) Unwrap() []error {
	var out []error
	for _, err := range []error{e.Err, e.UndoErr, e.RecordErr} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// cutover is one run of the steps: what they share.
type cutover struct {
	ts        *topo.Server
	wf        *topopb.Workflow // as read before the cutover
	from, to  []string
	op        string                // "switch-writes" or "reverse"
	next      topopb.Workflow_State // the workflow's state once switched
	reversed  bool                  // the workflow's direction once switched
	opts      SwitchOptions
	tabletOps []control.Option

	senders, receivers []*shardTablet // primaries of from and to

	// Set by the steps as they go.
	start, deadline, drainBy time.Time
	drained                  time.Duration
	positions                map[string]string // sources' positions where they stopped
	stopping                 *topopb.Workflow  // the record with the stop positions
	startAt                  map[string]string // targets' positions, where reverse streams start
	servingBefore            map[string]*topopb.SrvKeyspace
	laps                     []SwitchStep
	lastLap                  time.Time
}

// switchDirection moves writes from the shards `from` to the shards `to`
// by running the cutover's steps, and says how long writes were held.
func switchDirection(ctx context.Context, ts *topo.Server, wf *topopb.Workflow, from, to []string, next topopb.Workflow_State, reversed bool, op string, opts SwitchOptions, tabletOpts []control.Option) (*SwitchReport, error) {
	c := &cutover{ts: ts, wf: wf, from: from, to: to, op: op, next: next, reversed: reversed, opts: opts, tabletOps: tabletOpts}
	defer c.close()
	return c.run(ctx, c.steps())
}

// run runs steps; on failure it reports it as a *CutoverError and records
// it in the workflow.
func (c *cutover) run(ctx context.Context, steps []step) (*SwitchReport, error) {
	f := runSteps(ctx, steps, func(s step) {
		if s.lap != "" {
			now := time.Now()
			c.laps = append(c.laps, SwitchStep{Name: s.lap, Took: now.Sub(c.lastLap)})
			c.lastLap = now
		}
	})
	if f != nil {
		return nil, c.fail(f)
	}
	stall := time.Since(c.start)
	// Acknowledgements left behind do no harm (a gate's acknowledgement
	// names the buffer it is for); this only tidies up.
	_ = c.ts.ClearWriteBufferAcks(ctx, c.wf.Keyspace)
	return &SwitchReport{Stall: stall, Drain: c.drained, Positions: c.positions, Steps: c.laps}, nil
}

// fail makes a failure a *CutoverError and records it in the workflow.
func (c *cutover) fail(f *stepsFailure) *CutoverError {
	e := &CutoverError{Operation: c.op, Keyspace: c.wf.Keyspace, Workflow: c.wf.Name, Sources: c.from,
		Step: f.step, Err: f.err, Changed: f.changed, UndoErr: f.undoErr}
	command := fmt.Sprintf("shardctl reshard %s --keyspace %s --workflow %s", c.op, c.wf.Keyspace, c.wf.Name)
	if f.undoErr == nil {
		e.Next = fmt.Sprintf("nothing is left to put back: fix the cause above, then run %s again", command)
	} else {
		names := strings.NewReplacer("{sources}", strings.Join(c.from, ","), "{targets}", strings.Join(c.to, ","))
		var todo []string
		for _, u := range f.failedUndos {
			todo = append(todo, u.name+": "+names.Replace(u.ifUndoFails))
		}
		e.Next = fmt.Sprintf("%s. (The command to run again, whose undos are safe to repeat: %s.)", strings.Join(todo, "; "), command)
	}
	failure := &topopb.CutoverFailure{Operation: c.op, Step: f.step, Error: f.err.Error(), Undone: f.undoErr == nil,
		Next: e.Next, FailedUnixMs: time.Now().UnixMilli()}
	for _, err := range f.undoErrs {
		failure.UndoErrors = append(failure.UndoErrors, err.Error())
	}
	rctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
	defer cancel()
	_, e.RecordErr = c.ts.UpdateWorkflow(rctx, c.wf.Keyspace, c.wf.Name, func(w *topopb.Workflow) error {
		w.CutoverFailed = failure
		switch {
		case f.undoErr != nil:
			w.Message = fmt.Sprintf("%s failed at step %s and was NOT fully undone: see below", c.op, f.step)
		case f.changed:
			w.Message = fmt.Sprintf("%s failed at step %s and was undone: %v", c.op, f.step, f.err)
		default:
			w.Message = fmt.Sprintf("%s stopped at step %s before changing anything: %v", c.op, f.step, f.err)
		}
		return nil
	})
	return e
}

func (c *cutover) close() {
	closeAll(c.senders)
	closeAll(c.receivers)
}

// checkCaughtUp refuses to start while a stream copies, failed, lags more
// than 5s or does not report.
func (c *cutover) checkCaughtUp(ctx context.Context) error {
	st, err := ReshardStatus(ctx, c.ts, c.wf.Keyspace, c.wf.Name)
	if err != nil {
		return err
	}
	return caughtUp(st, 5*time.Second)
}

// dialTablets connects to the primaries of both sides. The connections
// close when the cutover ends.
func (c *cutover) dialTablets(ctx context.Context) error {
	var err error
	if c.senders, err = primaryTablets(ctx, c.ts, c.wf.Keyspace, c.from, c.tabletOps...); err != nil {
		return err
	}
	c.receivers, err = primaryTablets(ctx, c.ts, c.wf.Keyspace, c.to, c.tabletOps...)
	return err
}

// waitNear waits, before writes are held, until every stream has applied
// what its source had when it began (CatchUpTimeout at most): under the
// hold there is then only what was written meanwhile left to apply.
func (c *cutover) waitNear(ctx context.Context) error {
	want := map[string]gtidpos.Position{}
	for _, s := range c.senders {
		resp, err := s.repl.Position(ctx, &replicationpb.PositionRequest{})
		if err != nil {
			return fmt.Errorf("position of %s: %w", s.shard, control.RPCError(err, s.tablet))
		}
		if want[s.shard], err = gtidpos.Parse(resp.Position); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(c.opts.CatchUpTimeout)
	for {
		statuses, err := c.ts.ListStreamStatuses(ctx, c.wf.Keyspace, c.wf.Name)
		if err != nil {
			return err
		}
		behind := ""
		for _, p := range streamPairs(c.wf) {
			i := slices.IndexFunc(statuses, func(st *topopb.StreamStatus) bool { return st.Receiver == p[0] && st.Sender == p[1] })
			if i < 0 {
				behind = fmt.Sprintf("stream %s <- %s has not reported", p[0], p[1])
				continue
			}
			if pos, _ := gtidpos.Parse(statuses[i].Position); !pos.AtLeast(want[p[1]]) {
				behind = fmt.Sprintf("stream %s <- %s is at %s, its sender at %s", p[0], p[1], statuses[i].Position, want[p[1]])
			}
		}
		if behind == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the targets do not keep up with the writes (%s after %v): try again when the write load is lower", behind, c.opts.CatchUpTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// holdGateWrites starts the hold: the serving graph tells gates to hold
// the keyspace's new writes and transactions until the deadline.
func (c *cutover) holdGateWrites(ctx context.Context) error {
	c.start = time.Now()
	c.lastLap = c.start
	c.deadline = c.start.Add(c.opts.BufferWindow)
	return c.ts.UpdateSrvKeyspace(ctx, c.wf.Keyspace, func(srv *topopb.SrvKeyspace) { srv.WritesBufferedUntilUnixMs = c.deadline.UnixMilli() })
}

// releaseGateWrites ends the hold and forgets the gates'
// acknowledgements; gates run what they held on the shards the serving
// graph names.
func (c *cutover) releaseGateWrites(ctx context.Context) error {
	return errors.Join(
		c.ts.UpdateSrvKeyspace(ctx, c.wf.Keyspace, func(srv *topopb.SrvKeyspace) { srv.WritesBufferedUntilUnixMs = 0 }),
		c.ts.ClearWriteBufferAcks(ctx, c.wf.Keyspace))
}

// waitGatesDrained waits until every registered gate has acknowledged
// the hold (it holds new writes and has no transaction open in the
// keyspace), for DrainTimeout at most.
func (c *cutover) waitGatesDrained(ctx context.Context) error {
	c.drainBy = time.Now().Add(c.opts.DrainTimeout)
	if c.drainBy.After(c.deadline) {
		c.drainBy = c.deadline
	}
	until := c.deadline.UnixMilli()
	for {
		gates, err := c.ts.ListGates(ctx)
		if err != nil {
			return err
		}
		acks, err := c.ts.WriteBufferAcks(ctx, c.wf.Keyspace)
		if err != nil {
			return err
		}
		var waiting []string
		for _, g := range gates {
			if acks[g.Id] != until {
				waiting = append(waiting, g.Name)
			}
		}
		if len(waiting) == 0 {
			c.drained = time.Since(c.start)
			return nil
		}
		if time.Now().After(c.drainBy) {
			return fmt.Errorf("gates %s still have transactions open in keyspace %s (or do not answer): try again when the clients' long transactions are over, or give them more time (--drain-timeout)", strings.Join(waiting, ", "), c.wf.Keyspace)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// stopSourceWrites makes the sources refuse writes (the transactions open
// on them end first, until the drain's end at most) and say at which
// position they stopped: every change they ever made is at or before it.
func (c *cutover) stopSourceWrites(ctx context.Context) error {
	c.positions = map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(c.senders))
	for i, s := range c.senders {
		wg.Go(func() {
			resp, err := s.repl.StopWrites(ctx, &replicationpb.StopWritesRequest{TimeoutMs: max(1, time.Until(c.drainBy).Milliseconds())})
			if err != nil {
				errs[i] = fmt.Errorf("stop writes on %s: %w", s.shard, control.RPCError(err, s.tablet))
				return
			}
			mu.Lock()
			c.positions[s.shard] = resp.Position
			mu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// resumeSourceWrites lets every source take writes again.
func (c *cutover) resumeSourceWrites(ctx context.Context) error {
	var errs []error
	for _, s := range c.senders {
		if _, err := s.repl.ResumeWrites(ctx, &replicationpb.ResumeWritesRequest{}); err != nil {
			errs = append(errs, fmt.Errorf("resume writes on %s: %w", s.shard, control.RPCError(err, s.tablet)))
		}
	}
	return errors.Join(errs...)
}

// stopStreamsAtPositions tells the streams to apply the sources' changes
// up to the positions they stopped at, and to stop there.
func (c *cutover) stopStreamsAtPositions(ctx context.Context) error {
	var err error
	c.stopping, err = c.ts.UpdateWorkflow(ctx, c.wf.Keyspace, c.wf.Name, func(w *topopb.Workflow) error {
		w.StopAt = c.positions
		return nil
	})
	return err
}

// restoreWorkflow puts the workflow record back as it was before the
// cutover: state, direction, epoch and start positions, no stop
// positions. The streams then run on as before.
func (c *cutover) restoreWorkflow(ctx context.Context) error {
	original := c.wf
	_, err := c.ts.UpdateWorkflow(ctx, c.wf.Keyspace, c.wf.Name, func(w *topopb.Workflow) error {
		w.State, w.Reversed, w.Epoch, w.StartAt, w.StopAt = original.State, original.Reversed, original.Epoch, original.StartAt, nil
		return nil
	})
	return err
}

// waitStreamsStopped waits until every stream has applied its source's
// last change and stopped, until the hold's deadline at most.
func (c *cutover) waitStreamsStopped(ctx context.Context) error {
	return waitStopped(ctx, c.ts, c.stopping, streamPairs(c.stopping), c.positions, c.deadline)
}

// readTargetPositions reads where the targets are now: the streams of the
// other direction start there, so that nothing written after the switch
// is missed.
func (c *cutover) readTargetPositions(ctx context.Context) error {
	c.startAt = map[string]string{}
	for _, r := range c.receivers {
		resp, err := r.repl.Position(ctx, &replicationpb.PositionRequest{})
		if err != nil {
			return fmt.Errorf("position of %s: %w", r.shard, control.RPCError(err, r.tablet))
		}
		c.startAt[r.shard] = resp.Position
	}
	return nil
}

// setShardServing marks the targets' shard records serving and the
// sources' not.
func (c *cutover) setShardServing(ctx context.Context) error {
	for _, sh := range c.to {
		if _, err := c.ts.UpdateShard(ctx, c.wf.Keyspace, sh, func(s *topopb.Shard) error { s.PrimaryServing = true; return nil }); err != nil {
			return err
		}
	}
	for _, sh := range c.from {
		if _, err := c.ts.UpdateShard(ctx, c.wf.Keyspace, sh, func(s *topopb.Shard) error { s.PrimaryServing = false; return nil }); err != nil {
			return err
		}
	}
	return nil
}

// restoreShardServing marks the targets' shard records not serving and
// the sources' serving, as before; it goes on past a shard it cannot
// update, to put back all it can.
func (c *cutover) restoreShardServing(ctx context.Context) error {
	var errs []error
	for _, sh := range c.to {
		if _, err := c.ts.UpdateShard(ctx, c.wf.Keyspace, sh, func(s *topopb.Shard) error { s.PrimaryServing = false; return nil }); err != nil {
			errs = append(errs, err)
		}
	}
	for _, sh := range c.from {
		if _, err := c.ts.UpdateShard(ctx, c.wf.Keyspace, sh, func(s *topopb.Shard) error { s.PrimaryServing = true; return nil }); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// resumeTargetWrites lets the targets take writes (a reverse's targets
// had them stopped since the switch it reverses).
func (c *cutover) resumeTargetWrites(ctx context.Context) error {
	for _, r := range c.receivers {
		if _, err := r.repl.ResumeWrites(ctx, &replicationpb.ResumeWritesRequest{}); err != nil {
			return fmt.Errorf("resume writes on %s: %w", r.shard, control.RPCError(err, r.tablet))
		}
	}
	return nil
}

// stopTargetWritesAgain, for a reverse, stops the writes of its targets
// again (the shards the writes had been switched to refused them before);
// a switch-writes' targets took writes before (nobody sent them any), so
// there is nothing to put back.
func (c *cutover) stopTargetWritesAgain(ctx context.Context) error {
	if c.reversed {
		return nil
	}
	var errs []error
	for _, r := range c.receivers {
		if _, err := r.repl.StopWrites(ctx, &replicationpb.StopWritesRequest{TimeoutMs: 1}); err != nil {
			errs = append(errs, fmt.Errorf("stop writes on %s again: %w", r.shard, control.RPCError(err, r.tablet)))
		}
	}
	return errors.Join(errs...)
}

// recordSwitch records the switch in the workflow: its new state and
// direction, a new epoch whose streams start at the targets' positions,
// no stop positions, and no failed cutover any more.
func (c *cutover) recordSwitch(ctx context.Context) error {
	_, err := c.ts.UpdateWorkflow(ctx, c.wf.Keyspace, c.wf.Name, func(w *topopb.Workflow) error {
		w.State, w.Reversed, w.Epoch, w.StartAt, w.StopAt = c.next, c.reversed, w.Epoch+1, c.startAt, nil
		w.Message = fmt.Sprintf("writes switched to %s", strings.Join(c.to, ","))
		w.CutoverFailed = nil
		return nil
	})
	return err
}

// flipServingGraph makes the serving graph name the targets in place of
// the sources, for every tablet type, and ends the hold in the same
// write: gates run the writes they held on the targets.
func (c *cutover) flipServingGraph(ctx context.Context) error {
	refs, err := c.ts.ShardReferences(ctx, c.wf.Keyspace, c.to)
	if err != nil {
		return err
	}
	c.servingBefore = map[string]*topopb.SrvKeyspace{}
	return c.ts.UpdateSrvKeyspaceByCell(ctx, c.wf.Keyspace, func(cell string, srv *topopb.SrvKeyspace) {
		c.servingBefore[cell] = proto.Clone(srv).(*topopb.SrvKeyspace)
		for _, p := range srv.Partitions {
			p.Shards = replaceShards(p.Shards, c.from, refs)
		}
		srv.WritesBufferedUntilUnixMs = 0
	})
}

// restoreServingGraph puts back the serving graph of every cell the flip
// reached (in several cells, a flip can fail half way), hold included.
func (c *cutover) restoreServingGraph(ctx context.Context) error {
	var errs []error
	for cell, srv := range c.servingBefore {
		if err := c.ts.SaveSrvKeyspace(ctx, cell, c.wf.Keyspace, srv); err != nil {
			errs = append(errs, fmt.Errorf("serving graph of %s in cell %s: %w", c.wf.Keyspace, cell, err))
		}
	}
	return errors.Join(errs...)
}
