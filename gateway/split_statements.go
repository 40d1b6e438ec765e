package gateway

import (
	"strings"
	"sync/atomic"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// splitterPanics counts the times Vitess's statement splitter panicked
// on input the check below let through: the wire fuzzers require zero.
var splitterPanics atomic.Int64

// statementSplitter splits a multi-statement COM_QUERY. Vitess's
// SplitStatementToPieces indexes past the end of text whose last token
// does not end (an unterminated string or identifier such as
// "select 'a;b”0"), so text the tokenizer cannot read to its end gets
// MariaDB's syntax error without being split.
func statementSplitter(parser *sqlparser.Parser) func(string) ([]string, error) {
	return func(sql string) (pieces []string, err error) {
		if strings.IndexByte(sql, ';') < 0 {
			return []string{sql}, nil
		}
		if err := tokenizes(parser, sql); err != nil {
			return nil, err
		}
		defer func() {
			if r := recover(); r != nil {
				splitterPanics.Add(1)
				pieces, err = nil, syntaxError(sql)
			}
		}()
		return parser.SplitStatementToPieces(sql)
	}
}

// tokenizes reports a syntax error when sql has a token that does not
// end.
func tokenizes(parser *sqlparser.Parser, sql string) error {
	tok := parser.NewStringTokenizer(sql)
	for {
		typ, _ := tok.Scan()
		switch typ {
		case 0:
			return nil
		case sqlparser.LEX_ERROR:
			return syntaxError(sql)
		}
	}
}

func syntaxError(sql string) error {
	near := sql
	if len(near) > 80 {
		near = near[:80]
	}
	return sqlerr.New(sqlerror.ERParseError, sqlerror.SSClientError,
		"You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '%s': a string, identifier or comment is not closed", near)
}
