package sqlrouter

import (
	"fmt"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"
)

// Schema tells the planner which columns tables have. Only statements the
// gate evaluates itself need it: to expand * and to find the table of an
// unqualified column in a join of tables that live on different shards.
// The gate keeps one from the shards' information_schema (schema
// tracking); `shardctl explain` builds one from CREATE TABLE statements.
//
// Implementations must be safe for concurrent use.
type Schema interface {
	// Columns returns a table's column names in definition order, or false
	// when the table is unknown.
	Columns(keyspace, table string) ([]string, bool)
}

// StaticSchema is a Schema of fixed column lists: keyspace -> lower-cased
// table name -> columns in definition order.
type StaticSchema map[string]map[string][]string

// Columns implements Schema.
func (s StaticSchema) Columns(keyspace, table string) ([]string, bool) {
	cols, ok := s[keyspace][strings.ToLower(table)]
	return cols, ok
}

// AddCreateTables adds the tables of CREATE TABLE statements (other
// statements are ignored) to keyspace's part of the schema.
func (s StaticSchema) AddCreateTables(parser *sqlparser.Parser, keyspace, sql string) error {
	pieces, err := parser.SplitStatementToPieces(sql)
	if err != nil {
		return fmt.Errorf("split schema of keyspace %s: %w", keyspace, err)
	}
	for _, piece := range pieces {
		stmt, err := parser.Parse(piece)
		if err != nil {
			return fmt.Errorf("schema of keyspace %s: %w", keyspace, err)
		}
		ct, ok := stmt.(*sqlparser.CreateTable)
		if !ok || ct.TableSpec == nil {
			continue
		}
		cols := make([]string, len(ct.TableSpec.Columns))
		for i, c := range ct.TableSpec.Columns {
			cols[i] = c.Name.String()
		}
		if s[keyspace] == nil {
			s[keyspace] = map[string][]string{}
		}
		s[keyspace][strings.ToLower(ct.Table.Name.String())] = cols
	}
	return nil
}
