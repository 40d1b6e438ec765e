package loaddata

import (
	"fmt"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// Column is what the Batcher needs to know of a table's column to give it
// the value MariaDB's LOAD DATA would (information_schema.COLUMNS).
type Column struct {
	Name string
	// Nullable: IS_NULLABLE is YES.
	Nullable bool
	// DefaultNull: the column's default is NULL (a nullable column without
	// another default).
	DefaultNull bool
	// Type is DATA_TYPE, lower-cased ("int", "varchar", "timestamp").
	Type string
	// AutoIncrement: NULL generates the next value.
	AutoIncrement bool
	// Invisible columns are not in the default column list.
	Invisible bool
}

// Action is the statement each batch is.
type Action int

const (
	// Insert is INSERT: a duplicate key fails the batch.
	Insert Action = iota
	// InsertIgnore is INSERT IGNORE: what LOAD DATA LOCAL and LOAD DATA
	// IGNORE do.
	InsertIgnore
	// Replace is REPLACE (LOAD DATA REPLACE).
	Replace
)

// Batching bounds: a batch is sent when it has BatchRows rows or
// BatchBytes of values.
const (
	BatchRows  = 1000
	BatchBytes = 1 << 20
)

// BatchOptions say how the Batcher writes its INSERTs.
type BatchOptions struct {
	Action Action
	// Strict: sql_mode is strict and the statement does not ignore
	// errors (REPLACE): the warnings MariaDB's LOAD DATA raises itself for
	// a row (1261, 1262, 1263) are errors, as they are in MariaDB.
	Strict bool
	// Charset is the statement's CHARACTER SET ("" or "default": the
	// database's, which must be utf8mb4).
	Charset string
	// Warn receives the warnings of the rows: code and message.
	Warn func(code uint16, message string)
	// Rows and Bytes bound a batch (0: BatchRows and BatchBytes).
	Rows, Bytes int
}

// Batcher turns the rows a Reader reads into INSERT statements of at most
// BatchRows rows (or BatchBytes of values) each: every field a string
// literal (or NULL), converted by MariaDB to the column's type as LOAD
// DATA would convert it; a NULL field, and a column the line had no field
// for, given the value LOAD DATA gives (which is not always what INSERT
// gives); the SET clause's expressions with the row's @variables in place.
type Batcher struct {
	opts       BatchOptions
	introducer string
	table      sqlparser.TableName
	// targets are the statement's targets; column is the index of the
	// target's column in the table (-1 for a variable).
	targets []target
	set     sqlparser.UpdateExprs
	columns sqlparser.Columns
	// vars are the variables' values for the current row, by lower-cased
	// name.
	vars map[string]sqlparser.Expr
	// lastVars are the variables' values of the last row added.
	lastVars map[string]*querypb.BindVariable

	rows    sqlparser.Values
	bytes   int
	records int
}

type target struct {
	name   string // a variable's lower-cased name
	column *Column
}

// NewBatcher checks the statement's targets and SET columns against the
// table's columns (MariaDB's 1054 for an unknown one) and returns a
// Batcher writing INSERTs into table.
func NewBatcher(stmt *Statement, table sqlparser.TableName, columns []Column, opts BatchOptions) (*Batcher, error) {
	if opts.Rows <= 0 {
		opts.Rows = BatchRows
	}
	if opts.Bytes <= 0 {
		opts.Bytes = BatchBytes
	}
	if opts.Warn == nil {
		opts.Warn = func(uint16, string) {}
	}
	b := &Batcher{opts: opts, table: table, set: stmt.Set, vars: map[string]sqlparser.Expr{}}
	if opts.Charset != "" && opts.Charset != "default" {
		intro, ok := Introducer(opts.Charset)
		if !ok {
			return nil, sqlerr.Unsupported("LOAD DATA ... CHARACTER SET %s", opts.Charset)
		}
		b.introducer = intro
	}
	byName := make(map[string]*Column, len(columns))
	for i := range columns {
		byName[strings.ToLower(columns[i].Name)] = &columns[i]
	}
	unknown := func(name string) error {
		return sqlerr.New(sqlerror.ERBadFieldError, sqlerror.SSBadFieldError, "Unknown column '%s' in 'field list'", name)
	}
	if stmt.Targets == nil {
		for i := range columns {
			if !columns[i].Invisible {
				b.targets = append(b.targets, target{column: &columns[i]})
			}
		}
	}
	for _, t := range stmt.Targets {
		if t.Variable {
			b.targets = append(b.targets, target{name: strings.ToLower(t.Name)})
			continue
		}
		c := byName[strings.ToLower(t.Name)]
		if c == nil {
			return nil, unknown(t.Name)
		}
		b.targets = append(b.targets, target{column: c})
	}
	for _, t := range b.targets {
		if t.column != nil {
			b.columns = append(b.columns, sqlparser.NewIdentifierCI(t.column.Name))
		}
	}
	fromFile := len(b.columns)
	for _, e := range stmt.Set {
		c := byName[e.Name.Name.Lowered()]
		if c == nil {
			return nil, unknown(e.Name.Name.String())
		}
		for i, name := range b.columns {
			if name.EqualString(c.Name) {
				if i < fromFile {
					return nil, sqlerr.Unsupported("LOAD DATA that sets column %s both from the file and in SET", c.Name)
				}
				return nil, sqlerr.Unsupported("LOAD DATA that sets column %s twice in SET", c.Name)
			}
		}
		b.columns = append(b.columns, sqlparser.NewIdentifierCI(c.Name))
	}
	return b, nil
}

// Fields is how many fields of each line the Reader must read: one per
// target.
func (b *Batcher) Fields() int { return len(b.targets) }

// Records is the number of rows added so far.
func (b *Batcher) Records() int { return b.records }

// Full reports whether the batch is to be sent before the next row.
func (b *Batcher) Full() bool { return len(b.rows) >= b.opts.Rows || b.bytes >= b.opts.Bytes }

// Pending is the number of rows in the batch.
func (b *Batcher) Pending() int { return len(b.rows) }

// Variables returns the values the statement's @variables took from the
// last row added, by lower-cased name (MariaDB leaves them so).
func (b *Batcher) Variables() map[string]*querypb.BindVariable { return b.lastVars }

// Add adds a row to the batch. In strict mode, what MariaDB's LOAD DATA
// would raise as an error for the row is returned; otherwise it is a
// warning.
func (b *Batcher) Add(row *Row) error {
	b.records++
	n := b.records
	values := make(sqlparser.ValTuple, 0, len(b.columns))
	clear(b.vars)
	for i, t := range b.targets {
		var f *Field
		if i < len(row.Fields) {
			f = &row.Fields[i]
		}
		if t.column == nil {
			v := sqlparser.Expr(&sqlparser.NullVal{})
			if f != nil && !f.Null {
				v = b.literal(f.Value)
				b.bytes += len(f.Value)
			}
			b.vars[t.name] = v
			continue
		}
		c := t.column
		switch {
		case f == nil:
			if err := b.warn(1261, "01000", "Row %d doesn't contain data for all columns", n); err != nil {
				return err
			}
			values = append(values, noDataValue(c))
		case f.Null:
			v, generated := nullValue(c)
			if !generated {
				if err := b.warn(1263, "22004", "Column set to default value; NULL supplied to NOT NULL column '%s' at row %d", c.Name, n); err != nil {
					return err
				}
			}
			values = append(values, v)
		default:
			values = append(values, b.literal(f.Value))
			b.bytes += len(f.Value)
		}
		b.bytes += 8
	}
	for _, e := range b.set {
		values = append(values, b.substitute(e.Expr))
	}
	if row.Truncated {
		if err := b.warn(1262, "01000", "Row %d was truncated; it contained more data than there were input columns", n); err != nil {
			return err
		}
	}
	if len(b.vars) > 0 {
		b.lastVars = make(map[string]*querypb.BindVariable, len(b.vars))
		for name, v := range b.vars {
			b.lastVars[name] = bindVariableOf(v)
		}
	}
	b.rows = append(b.rows, values)
	return nil
}

// Take returns the batch as an INSERT and starts the next; nil when the
// batch is empty.
func (b *Batcher) Take() *sqlparser.Insert {
	if len(b.rows) == 0 {
		return nil
	}
	ins := &sqlparser.Insert{
		Table:   sqlparser.NewAliasedTableExpr(b.table, ""),
		Columns: b.columns,
		Rows:    b.rows,
	}
	switch b.opts.Action {
	case InsertIgnore:
		ins.Ignore = true
	case Replace:
		ins.Action = sqlparser.ReplaceAct
	}
	b.rows, b.bytes = nil, 0
	return ins
}

// warn raises a warning of the current row, or in strict mode returns it
// as an error.
func (b *Batcher) warn(code uint16, state string, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if b.opts.Strict {
		return sqlerr.New(sqlerror.ErrorCode(code), state, "%s", msg)
	}
	b.opts.Warn(code, msg)
	return nil
}

// literal is a field's value as a string literal of the statement's
// character set.
func (b *Batcher) literal(v []byte) sqlparser.Expr {
	lit := sqlparser.NewStrLiteral(string(v))
	if b.introducer == "" {
		return lit
	}
	return &sqlparser.IntroducerExpr{CharacterSet: b.introducer, Expr: lit}
}

// substitute is a SET expression with the row's variables in place.
func (b *Batcher) substitute(e sqlparser.Expr) sqlparser.Expr {
	e = sqlparser.CloneExpr(e)
	if len(b.vars) == 0 {
		return e
	}
	if v, ok := e.(*sqlparser.Variable); ok {
		if lit, ok := b.varValue(v); ok {
			return lit
		}
		return e
	}
	return sqlparser.Rewrite(e, nil, func(c *sqlparser.Cursor) bool {
		if v, ok := c.Node().(*sqlparser.Variable); ok {
			if lit, ok := b.varValue(v); ok {
				c.Replace(sqlparser.CloneExpr(lit))
			}
		}
		return true
	}).(sqlparser.Expr)
}

// varValue is the current row's value of a user variable the statement's
// targets set (other variables are the session's).
func (b *Batcher) varValue(v *sqlparser.Variable) (sqlparser.Expr, bool) {
	if v.Scope != sqlparser.VariableScope {
		return nil, false
	}
	lit, ok := b.vars[v.Name.Lowered()]
	return lit, ok
}

// noDataValue is what LOAD DATA gives a column a short line has no field
// for: NULL when that is its default, the current time for a NOT NULL
// TIMESTAMP, the next value of an AUTO_INCREMENT column, and otherwise the
// type's zero value, not the column's default (MariaDB resets the field).
func noDataValue(c *Column) sqlparser.Expr {
	if c.DefaultNull || c.AutoIncrement || c.Type == "timestamp" && !c.Nullable {
		return &sqlparser.NullVal{} // INSERT gives the same for these
	}
	return zeroValue(c.Type)
}

// nullValue is what LOAD DATA stores for a NULL field (\N): NULL where the
// column takes it (or, AUTO_INCREMENT and NOT NULL TIMESTAMP, turns it into
// a value), and otherwise the type's zero value, with warning 1263
// (generated false).
func nullValue(c *Column) (v sqlparser.Expr, generated bool) {
	if c.Nullable || c.AutoIncrement || c.Type == "timestamp" {
		return &sqlparser.NullVal{}, true
	}
	return zeroValue(c.Type), false
}

// zeroValue is the literal that stores a type's zero value (what
// MariaDB's Field::reset leaves).
func zeroValue(dataType string) sqlparser.Expr {
	switch dataType {
	case "tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "float", "double", "bit", "year":
		return sqlparser.NewIntLiteral("0")
	case "date":
		return sqlparser.NewStrLiteral("0000-00-00")
	case "datetime", "timestamp":
		return sqlparser.NewStrLiteral("0000-00-00 00:00:00")
	case "time":
		return sqlparser.NewStrLiteral("00:00:00")
	}
	return sqlparser.NewStrLiteral("")
}

// bindVariableOf is a variable's value as the session keeps it.
func bindVariableOf(e sqlparser.Expr) *querypb.BindVariable {
	switch v := e.(type) {
	case *sqlparser.Literal:
		return sqltypes.StringBindVariable(v.Val)
	case *sqlparser.IntroducerExpr:
		if lit, ok := v.Expr.(*sqlparser.Literal); ok {
			if v.CharacterSet == "_binary" {
				return sqltypes.BytesBindVariable([]byte(lit.Val))
			}
			return sqltypes.StringBindVariable(lit.Val)
		}
	}
	return sqltypes.NullBindVariable
}
