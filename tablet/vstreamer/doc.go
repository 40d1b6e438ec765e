// Package vstreamer is the sending side of resharding: it reads a shard's
// rows and binlog for the tablets that receive them, each filtered to the
// receiver's key range.
//
// StreamRows reads a chunk of a table in primary-key order from a
// consistent snapshot and reports the snapshot's GTID position, so that
// the receiver can bring the rows it already has up to that position
// from the binlog before it adds the chunk. StreamBinlog sends the row
// changes of committed transactions from a GTID position on, one
// transaction per message, with the position after it: a receiver that
// stores that position with the rows it applies, in one transaction,
// neither loses nor repeats a change when it restarts.
//
// Rows go to the receiver whose key range holds their keyspace id,
// computed with the table's primary vindex as the workflow names it;
// reference tables go whole. An update that moves a row's keyspace id in
// or out of the range arrives as an insert or a delete.
package vstreamer
