package gateway

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"

	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/querystats"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter"
)

// SHOW QUERY STATS lists this gate's statement statistics, one row per
// normalized statement and keyspace, with the columns of
// querystats.Columns:
//
//	SHOW QUERY STATS [LIKE 'pattern' | WHERE condition]
//	    [ORDER BY column [ASC | DESC], ...] [LIMIT [offset,] count]
//
// LIKE matches the statement's text; WHERE, ORDER BY and LIMIT work as on
// a table. Vitess's parser knows no such statement, so the gate reads it
// as SELECT * FROM a table of these rows.
var showQueryStatsSyntax = regexp.MustCompile(`(?is)^\s*show\s+query\s+stats\b(.*?);?\s*$`)

// isShowQueryStats recognizes the statement cheaply: every statement
// passes here.
func isShowQueryStats(sql string) bool {
	t := strings.TrimLeft(sql, " \t\r\n")
	return len(t) > 15 && strings.EqualFold(t[:4], "show") && showQueryStatsSyntax.MatchString(t)
}

func (e *Executor) showQueryStats(ctx context.Context, s *Session, sql string) (*sqltypes.Result, error) {
	end := s.startDiagnostics(nil)
	res, err := e.queryStatsResult(ctx, sql)
	end(res, err)
	return res, err
}

func (e *Executor) queryStatsResult(ctx context.Context, sql string) (*sqltypes.Result, error) {
	if e.stats == nil || e.stats.store == nil {
		return nil, sqlerr.New(sqlerror.ERNotSupportedYet, sqlerror.SSUnknownSQLState, "query statistics are off on this gate (--query-stats-max-statements 0)")
	}
	rest := strings.TrimSpace(showQueryStatsSyntax.FindStringSubmatch(sql)[1])
	if len(rest) >= 4 && strings.EqualFold(rest[:4], "like") {
		rest = "where query like " + rest[4:]
	}
	stmt, err := e.parser.Parse("select * from query_stats " + rest)
	if err != nil {
		return nil, sqlerr.New(sqlerror.ERParseError, sqlerror.SSClientError,
			"You have an error in your SQL syntax near '%s': SHOW QUERY STATS takes [LIKE 'pattern' | WHERE condition] [ORDER BY column] [LIMIT n]", rest)
	}
	sel, ok := stmt.(*sqlparser.Select)
	if !ok {
		return nil, sqlerr.New(sqlerror.ERParseError, sqlerror.SSClientError, "You have an error in your SQL syntax near '%s'", rest)
	}
	return sqlrouter.QueryRows(ctx, sel, queryStatsRows(e.stats.store.Snapshot()))
}

// queryStatsRows renders statements as the rows of SHOW QUERY STATS, by
// default in order of total time, the most first.
func queryStatsRows(stmts []querystats.Statement) *sqltypes.Result {
	total, _ := querystats.ColumnByName("total_ms")
	querystats.SortBy(stmts, total, true)
	res := &sqltypes.Result{Fields: make([]*querypb.Field, len(querystats.Columns))}
	for i, c := range querystats.Columns {
		f := &querypb.Field{Name: c.Name, Charset: uint32(collations.CollationBinaryID), Flags: uint32(querypb.MySqlFlag_NOT_NULL_FLAG)}
		switch c.Kind {
		case querystats.Uint:
			f.Type, f.ColumnLength, f.Flags = sqltypes.Uint64, 20, f.Flags|uint32(querypb.MySqlFlag_UNSIGNED_FLAG|querypb.MySqlFlag_NUM_FLAG)
		case querystats.Float:
			f.Type, f.ColumnLength, f.Decimals, f.Flags = sqltypes.Decimal, 20, 3, f.Flags|uint32(querypb.MySqlFlag_NUM_FLAG)
		case querystats.Time:
			f.Type, f.ColumnLength = sqltypes.Datetime, 19
		default:
			f = varcharField(c.Name)
			f.ColumnLength = 4096 * 4
		}
		res.Fields[i] = f
	}
	for i := range stmts {
		row := make(sqltypes.Row, len(querystats.Columns))
		for j, c := range querystats.Columns {
			switch v := c.Value(&stmts[i]).(type) {
			case uint64:
				row[j] = sqltypes.NewUint64(v)
			case float64:
				row[j] = sqltypes.MakeTrusted(sqltypes.Decimal, []byte(strconv.FormatFloat(v, 'f', 3, 64)))
			case time.Time:
				row[j] = sqltypes.MakeTrusted(sqltypes.Datetime, []byte(v.UTC().Format(time.DateTime)))
			default:
				row[j] = sqltypes.NewVarChar(c.Format(&stmts[i]))
			}
		}
		res.Rows = append(res.Rows, row)
	}
	return res
}
