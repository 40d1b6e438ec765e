// Package reshard runs resharding workflows: it creates the target shards'
// schema and copy streams (CreateReshard), reports their progress
// (ReshardStatus), compares source and target rows (DiffReshard), moves
// reads and then writes to the targets (SwitchReads, SwitchWrites), and
// can move them back (ReverseReshard) until the workflow is completed
// (CompleteReshard) or cancelled (CancelReshard).
package reshard
