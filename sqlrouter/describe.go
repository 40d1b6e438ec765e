package sqlrouter

import (
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqlescape"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter/vschema"
)

// planDescribe plans DESCRIBE t [col] (also spelt DESC and EXPLAIN t), SHOW
// [FULL] COLUMNS FROM t and SHOW INDEX FROM t: statements about a table's
// definition, which every shard of its keyspace holds alike, so one shard
// answers them. As Vitess does, the keyspace qualifier (ks.t, FROM ks) is
// removed from what the shard gets: the shard's connection is in the
// keyspace's database already. Tables of system schemas
// (information_schema.tables) keep theirs and are described by any shard.
//
// A table the vschema does not name is still described: the shard says
// whether it exists, with MariaDB's own error when not.
func planDescribe(stmt sqlparser.Statement, ctx PlanContext) (*Plan, error) {
	var table sqlparser.TableName
	var send func(sqlparser.TableName) string
	switch s := stmt.(type) {
	case *sqlparser.ExplainTab:
		table = s.Table
		send = func(t sqlparser.TableName) string { return describeText(t, s.Wild) }
	case *sqlparser.Show:
		show, ok := s.Internal.(*sqlparser.ShowBasic)
		if !ok || (show.Command != sqlparser.Column && show.Command != sqlparser.Index) {
			return nil, sqlerr.Internal("planDescribe: %s is not SHOW COLUMNS or SHOW INDEX", sqlparser.String(stmt))
		}
		table = show.Tbl
		if show.DbName.NotEmpty() {
			table.Qualifier = show.DbName // SHOW COLUMNS FROM t FROM ks
		}
		send = func(t sqlparser.TableName) string {
			clone := *show
			clone.Tbl, clone.DbName = t, sqlparser.IdentifierCS{}
			return sqlparser.String(&clone)
		}
	default:
		return nil, sqlerr.Internal("planDescribe: %T", stmt)
	}

	ksName := table.Qualifier.String()
	if systemSchemas[strings.ToLower(ksName)] {
		// Any keyspace's shard has the system schemas: the session's, or
		// the first by name.
		ks, err := anyKeyspace(ctx)
		if err != nil {
			return nil, err
		}
		return tableDescription(stmt, ks, send(table)), nil
	}
	if ksName == "" {
		ksName = ctx.Keyspace
	}
	if ksName == "" {
		return nil, sqlerr.New(sqlerror.ERNoDb, sqlerror.SSNoDB, "No database selected")
	}
	ks, ok := ctx.VSchema.Keyspace(ksName)
	if !ok {
		// What MariaDB says of a table in a database it does not have.
		return nil, sqlerr.New(sqlerror.ERNoSuchTable, sqlerror.SSUnknownTable, "Table '%s.%s' doesn't exist", ksName, table.Name.String())
	}
	return tableDescription(stmt, ks, send(sqlparser.TableName{Name: table.Name})), nil
}

// tableDescription sends sql to one shard of ks.
func tableDescription(stmt sqlparser.Statement, ks *vschema.Keyspace, sql string) *Plan {
	route := &Route{Opcode: AnyShard, Keyspace: ks.Name, original: sql}
	if !ks.Sharded {
		route.Opcode = Unsharded
	}
	return &Plan{Type: sqlparser.ASTToStatementType(stmt), Keyspace: ks.Name, Primitive: route}
}

// describeText is DESCRIBE of table, and of the columns wild names: a
// column name or a LIKE pattern (a quoted string), as the parser kept it.
// (Vitess prints a column name unquoted, which a name like `a b` would not
// survive.)
func describeText(table sqlparser.TableName, wild string) string {
	sql := "explain " + sqlparser.String(table)
	switch {
	case wild == "":
	case strings.HasPrefix(wild, "'"):
		sql += " " + wild
	default:
		sql += " " + sqlescape.EscapeID(wild)
	}
	return sql
}

// anyKeyspace is the keyspace statements that concern no keyspace of
// their own run in: the session's, else the first by name.
func anyKeyspace(ctx PlanContext) (*vschema.Keyspace, error) {
	if ctx.Keyspace != "" {
		if ks, ok := ctx.VSchema.Keyspace(ctx.Keyspace); ok {
			return ks, nil
		}
		return nil, sqlerr.New(sqlerror.ERBadDb, sqlerror.SSClientError, "Unknown database '%s'", ctx.Keyspace)
	}
	var first *vschema.Keyspace
	for _, ks := range ctx.VSchema.Keyspaces {
		if first == nil || ks.Name < first.Name {
			first = ks
		}
	}
	if first == nil {
		return nil, sqlerr.New(sqlerror.ERNoDb, sqlerror.SSNoDB, "No database selected and no keyspace exists to run the statement in")
	}
	return first, nil
}
