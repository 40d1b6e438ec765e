// Package reshard runs resharding workflows: it creates the target
// shards' schema and copy streams (CreateReshard), reports their progress
// (ReshardStatus), compares source and target rows (DiffReshard), moves
// reads and then writes to the targets (SwitchReads, SwitchWrites), and
// can move them back (ReverseReshard) until the workflow is completed
// (CompleteReshard) or cancelled (CancelReshard).
//
// # States
//
// A workflow is a record in the topology (workflows/<keyspace>/<name>);
// the target tablets run its streams as it says. Its states and the
// operations that move it:
//
//	                     switch-reads
//	create ──▶ RUNNING ─────────────────▶ READS_SWITCHED
//	             ▲  ◀─────────────────────      │
//	             │     reverse (reads back)     │ switch-writes: the cutover
//	             │                              │ (also from RUNNING)
//	             │ reverse: the cutover back    ▼
//	             └──────────────────────── WRITES_SWITCHED ──complete──▶ removed;
//	                                                                     sources leave
//	cancel, from RUNNING or READS_SWITCHED ──▶ removed; targets emptied and dropped
//	a failed cutover ──▶ the state it began in, with cutover_failed set
//
// RUNNING covers the copy (the message says "copying" and the streams
// report COPYING) and then the catch-up from the sources' binlogs; in
// WRITES_SWITCHED the streams run the other way, targets to sources, so
// that the switch can be reversed. Complete and cancel delete the record
// (the COMPLETED and CANCELLED values are not stored).
//
// A cutover that fails leaves the state where it was (RUNNING,
// READS_SWITCHED, or WRITES_SWITCHED for a reverse) when every undo
// succeeded, and records the failure in the workflow's cutover_failed
// (step, error, undone or not, what to do next). If an undo failed, the
// state may be wrong too, and cutover_failed says so; `shardctl reshard
// status` and the admin UI show it. The next successful switch-reads,
// switch-writes or reverse clears it; cancel and complete remove the
// record.
//
// # The cutover
//
// SwitchWrites and ReverseReshard run the same steps (cutover.go), from
// the shards that take writes ("sources" there) to the others
// ("targets"). Each step and what its undo puts back:
//
//	checkCaughtUp           every stream runs, lags < 5s      (nothing)
//	dialTablets             connect to both sides' primaries  (nothing)
//	waitNear                streams at the sources' position  (nothing)
//	                        of now, before anything is held
//	holdGateWrites          SrvKeyspace: gates hold writes    hold ended, acks cleared
//	waitGatesDrained        every gate acknowledged, with no  (held by holdGateWrites)
//	                        transaction open in the keyspace
//	stopSourceWrites        sources refuse writes, report     sources take writes again
//	                        their final positions
//	stopStreamsAtPositions  workflow: stop at those positions workflow record as before
//	waitStreamsStopped      streams applied them and stopped  (by stopStreamsAtPositions)
//	readTargetPositions     where the reverse streams start   (nothing)
//	setShardServing         shard records: targets serve      records as before
//	resumeTargetWrites      targets take writes               a reverse's targets refuse
//	                                                          writes again
//	recordSwitch            workflow: new state, direction,   (by stopStreamsAtPositions)
//	                        epoch, start positions
//	flipServingGraph        SrvKeyspace: targets in place of  each cell's SrvKeyspace
//	                        sources, hold ended               as before
//
// Writes are held from holdGateWrites to flipServingGraph, which is what
// SwitchReport.Stall measures ("writes held for"); the steps in between
// only wait for what must be waited for.
//
// A runner (runSteps) runs the steps in order. When one fails, it runs
// the undo of that step (it may have done half its work) and of every
// step before it, last first, collecting every undo error instead of
// stopping at one; the result is a *CutoverError that names the failed
// step and its cause and, only when every undo succeeded, says that the
// sources serve as before; otherwise it lists the failed undos and what
// the operator must do about each.
//
// # Invariants
//
//   - No write is lost: the sources refuse writes (after the ones they
//     admitted end) before their final positions are read; the targets
//     apply up to exactly those positions before they take writes; the
//     reverse streams start at the targets' positions read before the
//     targets take a write. A failed cutover resumes the sources only
//     after the workflow's stop positions are cleared and the serving
//     graph names them again, so their new writes stream on as before.
//   - No write is applied twice: every write lands on exactly one side,
//     because gates hold new writes for the whole switch and a source
//     that refuses a write returns an error the gate retries on the new
//     shards; streams store their position with each change they apply.
//     One exception: with several cells, a flip that fails after some
//     cells' serving graphs were written lets those cells' gates send
//     writes to the targets until restoreServingGraph puts the graphs
//     back, and those writes stay on the targets. A local cluster has one
//     cell.
//   - A failed cutover leaves either the sources serving as before, or a
//     workflow record and an error that say which undo failed and what to
//     do.
//   - One operation at a time per keyspace: every operation above but
//     status holds the keyspace's lock (locks/keyspaces/<keyspace>, under
//     a lease), so two operators cannot interleave their steps; the
//     second is refused with the holder's name, and a holder that died
//     loses the lock when its lease runs out.
package reshard
