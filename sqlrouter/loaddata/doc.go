// Package loaddata reads LOAD DATA [LOCAL] INFILE: the statement (Parse),
// which Vitess's parser keeps only as an opaque *sqlparser.Load, and the
// file it names, in MariaDB's LOAD DATA text format (Reader). The gate turns
// what they yield into INSERT batches (Batcher) that it plans and runs like
// any other INSERT, so that rows land on the shards their vindexes name.
//
// Invariants:
//   - The Reader splits a file into fields and rows exactly as MariaDB's
//     LOAD DATA does (sql_load.cc): terminators, enclosures, escapes, \N and
//     NULL, LINES STARTING BY, IGNORE n LINES, short and long rows. The
//     cases in testdata/reader_cases.json hold it to that: the unit tests
//     check the Reader against them, and an integration test checks them
//     against what a real MariaDB loads.
//   - Memory is bounded whatever the file: the Reader holds one row (at most
//     MaxRowBytes) and a buffered window of the input; the Batcher one batch
//     (BatchRows rows or BatchBytes of values).
//   - Separators are ASCII. MariaDB scans multi-byte characters as units,
//     which for ASCII separators is the same as scanning bytes, so the
//     Reader works on bytes; non-ASCII separators (which MariaDB itself
//     calls "not fully supported") are refused by Statement.Check.
//   - Nothing a client sends can make Parse or the Reader panic
//     (FuzzParseLoadData, FuzzReader).
package loaddata
