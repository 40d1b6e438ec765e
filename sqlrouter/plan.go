package sqlrouter

import (
	"context"
	"encoding/hex"
	"slices"
	"strings"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/vindex"
)

// Shard is a serving shard of a keyspace.
type Shard struct {
	Name     string
	KeyRange vindex.KeyRange
}

// ShardQuery is one statement for one shard.
type ShardQuery struct {
	Shard string
	SQL   string
}

// VCursor is what a plan needs from the gate while it executes: the serving
// shards and a way to run statements on them within the session (its
// transaction, its target tablet type). Implementations are used by one
// plan execution at a time.
type VCursor interface {
	// Shards returns the keyspace's serving shards, ordered by key range.
	Shards(keyspace string) ([]Shard, error)
	// ExecuteShards runs the queries, in parallel where there are several,
	// and returns one result per query in the same order. write marks
	// statements that change data, which the session may wrap in a
	// transaction when they span shards.
	ExecuteShards(ctx context.Context, keyspace string, queries []ShardQuery, write bool) ([]*sqltypes.Result, error)
	// StreamExecuteShards runs reads and hands their rows to callback as
	// the shards send them: the fields once, then batches of rows from any
	// shard, one call at a time.
	StreamExecuteShards(ctx context.Context, keyspace string, queries []ShardQuery, callback func(*sqltypes.Result) error) error
	// NextSequenceValues reserves count consecutive ids from the sequence
	// table keyspace.table and returns the first.
	NextSequenceValues(ctx context.Context, keyspace, table string, count int64) (int64, error)
	// ExecuteStatement plans and runs a statement the router makes itself
	// (a lookup vindex's reads and writes of its table) in keyspace, within
	// the session; with autocommit it runs outside the session's
	// transaction and commits at once (consistent lookups' writes).
	ExecuteStatement(ctx context.Context, keyspace, sql string, bindVars map[string]*querypb.BindVariable, autocommit bool) (*sqltypes.Result, error)
	// Atomically runs fn in the session's transaction, opening one for
	// the duration of fn (committed when fn succeeds, rolled back when it
	// fails) if the session has none: a statement that writes a table and
	// its lookup tables changes both or neither.
	Atomically(ctx context.Context, fn func() error) error
	// InTransaction reports whether the session has a transaction open
	// (BEGIN, or autocommit off).
	InTransaction() bool
}

// Primitive is an executable step of a plan (see tree.go).
type Primitive interface {
	// Execute runs the step and its inputs. It may be called by several
	// sessions at once: a primitive keeps no state of an execution.
	Execute(ctx context.Context, vc VCursor, bindVars map[string]*querypb.BindVariable) (*sqltypes.Result, error)
	// Inputs are the primitives this one runs and combines (none for a
	// leaf).
	Inputs() []Primitive
	// Describe says what the step does, for EXPLAIN-like output and tests:
	// a line for the step, then its inputs' descriptions indented.
	Describe() string
}

// Needs lists the session values a plan's SQL refers to; the gate supplies
// them as bind variables (see the *BindVar names).
type Needs struct {
	LastInsertID    bool
	ConnectionID    bool
	FoundRows       bool
	TransactionMode bool
	// Variables are the user variables (@x) and the system variables the
	// gate keeps for its session (SessionVariables) the plan reads, by the
	// names of the bind variables that carry them.
	Variables []string
}

// add records what another plan (a subquery's, a join side's) needs too.
func (n *Needs) add(o Needs) {
	n.LastInsertID = n.LastInsertID || o.LastInsertID
	n.ConnectionID = n.ConnectionID || o.ConnectionID
	n.FoundRows = n.FoundRows || o.FoundRows
	n.TransactionMode = n.TransactionMode || o.TransactionMode
	for _, v := range o.Variables {
		n.addVariable(v)
	}
}

func (n *Needs) addVariable(bindVar string) {
	if !slices.Contains(n.Variables, bindVar) {
		n.Variables = append(n.Variables, bindVar)
	}
}

// Any reports whether the plan needs a session value.
func (n Needs) Any() bool {
	return n.LastInsertID || n.ConnectionID || n.FoundRows || n.TransactionMode || len(n.Variables) > 0
}

// User variables live in the gate's session, not on a shard (a shard's
// connections are pooled and shared): a statement reads @x as the bind
// variable UserVariableBindVar("x"), and the gate supplies its value.
const userVariablePrefix = "__sg_udv_"

// UserVariableBindVar names the bind variable that carries user variable
// @name (names are case-insensitive; other characters than letters,
// digits and '_' are spelled in hex, so that any name makes a bind
// variable name).
func UserVariableBindVar(name string) string {
	name = strings.ToLower(name)
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return userVariablePrefix + "x" + hex.EncodeToString([]byte(name))
		}
	}
	return userVariablePrefix + name
}

// IsUserVariableBindVar reports whether a bind variable carries a user
// variable.
func IsUserVariableBindVar(bindVar string) bool {
	return strings.HasPrefix(bindVar, userVariablePrefix)
}

// UserVariableKey is the encoded name of the user variable a bind
// variable of UserVariableBindVar carries ("x", or "x" and its hex), and
// UserVariableBindVarOfKey its inverse.
func UserVariableKey(bindVar string) string { return strings.TrimPrefix(bindVar, userVariablePrefix) }

// UserVariableBindVarOfKey is the bind variable of an encoded name of
// UserVariableKey.
func UserVariableBindVarOfKey(key string) string { return userVariablePrefix + key }

// SessionVariables are the system variables whose session value the gate
// keeps (or knows better than a pooled shard connection), mapped to the
// name MariaDB gives them: a statement reads @@autocommit, say, as
// SystemVariableBindVar("autocommit").
var SessionVariables = map[string]string{
	"autocommit":          "autocommit",
	"in_transaction":      "in_transaction",
	"warning_count":       "warning_count",
	"error_count":         "error_count",
	"tx_isolation":        "tx_isolation",
	"tx_read_only":        "tx_read_only",
	"wait_timeout":        "wait_timeout",
	"interactive_timeout": "interactive_timeout",
	"last_insert_id":      "last_insert_id",
	"identity":            "last_insert_id",
}

const systemVariablePrefix = "__sg_sysvar_"

// SystemVariableBindVar names the bind variable that carries a session
// variable of SessionVariables (by its MariaDB name).
func SystemVariableBindVar(name string) string { return systemVariablePrefix + name }

// SystemVariableOf returns the variable a SystemVariableBindVar carries.
func SystemVariableOf(bindVar string) (string, bool) {
	return strings.CutPrefix(bindVar, systemVariablePrefix)
}

// Bind variable names under which the gate supplies session values.
const (
	LastInsertIDBindVar    = "__sg_last_insert_id"
	ConnectionIDBindVar    = "__sg_connection_id"
	FoundRowsBindVar       = "__sg_found_rows"
	TransactionModeBindVar = "__sg_transaction_mode"
)

// Plan is a planned statement.
type Plan struct {
	Type sqlparser.StatementType
	// Keyspace is where the statement runs.
	Keyspace  string
	Primitive Primitive
	Needs     Needs
	// ParamCount is the number of '?' placeholders (prepared statements).
	ParamCount int
	// CalcFoundRows marks a SELECT SQL_CALC_FOUND_ROWS: its FoundRows
	// primitive tells the session what FOUND_ROWS() answers next (see
	// FoundRowsSetter), which otherwise is the number of rows a SELECT
	// returned.
	CalcFoundRows bool
	// limitParams are the placeholders of LIMIT and OFFSET, whose row
	// counts execution adds to the bind variables (see BindLimits).
	limitParams []string
}

// Execute runs the plan.
func (p *Plan) Execute(ctx context.Context, vc VCursor, bindVars map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	bindVars, err := p.BindLimits(bindVars)
	if err != nil {
		return nil, err
	}
	return p.Primitive.Execute(ctx, vc, bindVars)
}
