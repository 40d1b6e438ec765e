package loaddata

import (
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// Duplicates is what a LOAD DATA does with a row whose unique key another
// row holds.
type Duplicates int

const (
	// DuplicatesError: neither REPLACE nor IGNORE was given. MariaDB then
	// fails on a duplicate, except for LOCAL files, which it loads as with
	// IGNORE: it cannot stop the client's transfer midway.
	DuplicatesError Duplicates = iota
	// DuplicatesIgnore skips the row (IGNORE), with a warning.
	DuplicatesIgnore
	// DuplicatesReplace replaces the rows that hold the key (REPLACE).
	DuplicatesReplace
)

// Format is how a file's fields and lines are delimited: the FIELDS (or
// COLUMNS) and LINES clauses.
type Format struct {
	FieldsTerminatedBy string
	// EnclosedBy is "" or one byte: a field that starts with it ends at
	// the next one followed by a terminator.
	EnclosedBy string
	// OptionallyEnclosed changes nothing when reading (only SELECT ...
	// INTO OUTFILE writes differently); it is kept to be reported.
	OptionallyEnclosed bool
	// EscapedBy is "" or one byte.
	EscapedBy string
	// EscapedGiven: the statement said ESCAPED BY, which then holds even
	// when sql_mode has NO_BACKSLASH_ESCAPES (which otherwise disables the
	// default escape).
	EscapedGiven      bool
	LinesStartingBy   string
	LinesTerminatedBy string
}

// DefaultFormat is MariaDB's: fields terminated by a tab, not enclosed,
// escaped by a backslash; lines terminated by a newline, with no prefix.
func DefaultFormat() Format {
	return Format{FieldsTerminatedBy: "\t", EscapedBy: `\`, LinesTerminatedBy: "\n"}
}

// Target is one entry of the statement's column list: a column of the
// table, or a user variable (@name) that takes the field for SET
// expressions to use.
type Target struct {
	Name     string
	Variable bool
}

// Statement is a LOAD DATA statement.
type Statement struct {
	// Local: LOAD DATA LOCAL INFILE, the client sends the file.
	Local bool
	// File is the file name as the statement gives it.
	File       string
	Duplicates Duplicates
	// Keyspace qualifies the table ("" when it is not qualified).
	Keyspace, Table string
	// Partitions are the PARTITION clause's names (refused by Check).
	Partitions []string
	// Charset is the CHARACTER SET clause, lower-cased ("" when absent;
	// "default" for CHARACTER SET DEFAULT).
	Charset     string
	Format      Format
	IgnoreLines uint64
	// Targets is the column list; nil when the statement has none (every
	// column of the table, in order).
	Targets []Target
	// Set are the SET clause's assignments, in order.
	Set sqlparser.UpdateExprs
}

// Charsets LOAD DATA may read a file in: the gate's connections to the
// shards speak utf8mb4, and a value read in one of these is passed on as a
// string literal of the same character set, which MariaDB converts to the
// column's as it would convert the file's bytes.
var supportedCharsets = map[string]string{
	"utf8mb4": "", "utf8": "_utf8mb3", "utf8mb3": "_utf8mb3", "binary": "_binary",
}

// Introducer returns the character set introducer ("_binary", "_utf8mb3")
// a value read in charset (a CHARACTER SET name, lower-cased) is written
// with in SQL, "" for utf8mb4, and whether the character set is one the
// gate reads.
func Introducer(charset string) (string, bool) {
	intro, ok := supportedCharsets[charset]
	return intro, ok
}

// Check reports the first thing about the statement that Shardgate does
// not do, or that MariaDB refuses before it reads the file: error 1235 for
// what is not supported, MariaDB's own error otherwise.
func (s *Statement) Check() error {
	if !s.Local {
		return sqlerr.Unsupported("LOAD DATA INFILE without LOCAL: it reads a file on the server's host, which for Shardgate would be a shard's; use LOAD DATA LOCAL INFILE, which reads the file from the client")
	}
	if len(s.Partitions) > 0 {
		return sqlerr.Unsupported("LOAD DATA ... PARTITION (%s)", strings.Join(s.Partitions, ", "))
	}
	if s.Charset != "" && s.Charset != "default" {
		if _, ok := supportedCharsets[s.Charset]; !ok {
			return sqlerr.Unsupported("LOAD DATA ... CHARACTER SET %s (it reads utf8mb4, utf8 and binary)", s.Charset)
		}
	}
	f := s.Format
	if len(f.EnclosedBy) > 1 || len(f.EscapedBy) > 1 {
		return sqlerr.New(sqlerror.ERWrongFieldTerminators, sqlerror.SSClientError, "Field separator argument is not what is expected; check the manual")
	}
	for _, sep := range []string{f.FieldsTerminatedBy, f.EnclosedBy, f.EscapedBy, f.LinesStartingBy, f.LinesTerminatedBy} {
		for i := 0; i < len(sep); i++ {
			if sep[i] >= 0x80 {
				return sqlerr.Unsupported("LOAD DATA with a non-ASCII separator (%q)", sep)
			}
		}
	}
	if f.FieldsTerminatedBy == "" && f.EnclosedBy == "" {
		return sqlerr.Unsupported("LOAD DATA with FIELDS TERMINATED BY '' and ENCLOSED BY '' (fixed-width rows)")
	}
	seen := map[string]bool{}
	for _, t := range s.Targets {
		if t.Variable {
			continue
		}
		name := strings.ToLower(t.Name)
		if seen[name] {
			return sqlerr.New(sqlerror.ERFieldSpecifiedTwice, "42000", "Column '%s' specified twice", t.Name)
		}
		seen[name] = true
	}
	return nil
}
