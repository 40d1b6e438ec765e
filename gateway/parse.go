package gateway

import (
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter"
)

// parse parses a statement and returns the names of its placeholders.
// MariaDB's RETURNING clause of INSERT, REPLACE and DELETE, which Vitess's
// parser does not know, is left out of what is parsed: the planner finds
// it in the statement's text and gives it back to every statement it
// sends for it. Other statements fail as the parser says (error 1064).
func (e *Executor) parse(sql string) (sqlparser.Statement, map[string]struct{}, error) {
	stmt, reserved, err := e.parser.Parse2(sql)
	if err == nil {
		return stmt, reserved, nil
	}
	if head, ok := sqlrouter.WithoutReturning(sql); ok {
		if s, r, headErr := e.parser.Parse2(head); headErr == nil {
			switch s.(type) {
			case *sqlparser.Insert, *sqlparser.Delete:
				return s, r, nil
			}
		}
	}
	return nil, nil, sqlerr.New(sqlerror.ERParseError, sqlerror.SSClientError, "You have an error in your SQL syntax; %s", err.Error())
}
