// Package twopc is what the gate's two-phase commit coordinator, its
// recovery of orphaned transactions and the operator's `shardctl
// transaction resolve` share: following a decision record to its end.
//
// The protocol, as the gate runs it (gateway/twopc.go):
//
//  1. record transactions/<dtid> in state PREPARE, naming the participants;
//  2. prepare every participant (XA END, XA PREPARE on each shard);
//  3. decide: move the record from PREPARE to COMMIT by compare-and-set.
//     This is the commit point. (A failed prepare decides ROLLBACK.)
//  4. tell every participant: CommitPrepared or RollbackPrepared;
//  5. delete the record.
//
// Invariants:
//
//   - No participant commits or rolls back a prepared branch unless a decided
//     record says so, and a record is decided once (topo.DecideTransaction):
//     a coordinator, a gate recovering it and an operator that race each
//     other all follow the same outcome.
//   - A record still in PREPARE whose coordinator is gone is rolled back: the
//     coordinator can no longer reach the commit point, because its
//     compare-and-set would find the record decided.
//   - Telling a participant is idempotent (a shard that no longer has the
//     branch says so, and that counts as done), and the record is deleted
//     only after every participant has acted, so a failure part-way leaves
//     the record for the next attempt and nothing is lost by repeating.
package twopc
