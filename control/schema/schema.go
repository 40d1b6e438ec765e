package schema

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// DefaultDDLTimeout bounds each schema statement when the caller's context
// has no deadline. It is far above the tablets' query timeout (meant for
// queries, not for an ALTER TABLE that copies a table).
const DefaultDDLTimeout = 10 * time.Minute

// SplitSQL splits a SQL script (a schema file) into its statements with
// Vitess's tokenizer: semicolons inside strings, quoted names and comments do
// not split, and stored-program bodies stay whole. Statements keep their
// comments (MySQL executable comments /*!...*/ must reach the server);
// pieces that are nothing but comments and whitespace are dropped.
func SplitSQL(script string) ([]string, error) {
	parser, err := sqlparser.New(sqlparser.Options{})
	if err != nil {
		return nil, err
	}
	pieces, err := parser.SplitStatementToPieces(script)
	if err != nil {
		return nil, fmt.Errorf("split SQL into statements: %w", err)
	}
	out := make([]string, 0, len(pieces))
	for _, p := range pieces {
		p = strings.TrimSpace(p)
		if p == "" || onlyComments(parser, p) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// onlyComments reports whether sql holds no token besides comments.
func onlyComments(parser *sqlparser.Parser, sql string) bool {
	tkn := parser.NewStringTokenizer(sql)
	for {
		typ, _ := tkn.Scan()
		switch typ {
		case sqlparser.COMMENT:
			continue
		case 0, ';':
			return typ == 0
		default:
			return false
		}
	}
}

// ShardError is a schema change that failed on one shard.
type ShardError struct {
	Keyspace, Shard string
	Tablet          string // alias of the primary, empty if none was found
	Statement       int    // 1-based index of the failed statement; 0 if none ran
	Statements      int    // how many statements the script has
	SQL             string // the failed statement, shortened
	Err             error
}

func (e *ShardError) Error() string {
	where := "shard " + e.Keyspace + "/" + e.Shard
	if e.Tablet != "" {
		where += " (tablet " + e.Tablet + ")"
	}
	if e.Statement == 0 {
		return where + ": " + e.Err.Error()
	}
	applied := ""
	switch {
	case e.Statement == 2:
		applied = "; statement 1 was applied there"
	case e.Statement > 2:
		applied = fmt.Sprintf("; statements 1-%d were applied there", e.Statement-1)
	}
	return fmt.Sprintf("%s: statement %d of %d (%s): %v%s", where, e.Statement, e.Statements, e.SQL, e.Err, applied)
}

func (e *ShardError) Unwrap() error { return e.Err }

// SchemaError lists the shards a schema change failed on, in key order. The
// change went through on every other shard.
type SchemaError struct {
	Keyspace string
	Shards   int // shards in the keyspace
	Failed   []*ShardError
}

func (e *SchemaError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apply schema to keyspace %s: failed on %d of %d shards", e.Keyspace, len(e.Failed), e.Shards)
	for _, f := range e.Failed {
		b.WriteString("\n  ")
		b.WriteString(f.Error())
	}
	return b.String()
}

func (e *SchemaError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f
	}
	return out
}

// ApplySchema runs a SQL script (split with SplitSQL) on the primary tablet
// of every shard of keyspace, through the tablets' query service, in the
// keyspace's database. Shards run in parallel, the statements of one shard
// in order; a failing statement stops its shard but not the others. When
// any shard fails the error is a *SchemaError naming each failed shard, its
// tablet and statement. Each statement may take until ctx's deadline, or
// DefaultDDLTimeout without one.
func ApplySchema(ctx context.Context, ts *topo.Server, keyspace, script string, opts ...control.Option) error {
	stmts, err := SplitSQL(script)
	if err != nil {
		return err
	}
	if len(stmts) == 0 {
		return errors.New("the schema holds no SQL statement")
	}
	if _, err := ts.GetKeyspace(ctx, keyspace); err != nil {
		return err
	}
	shards, err := ts.ListShards(ctx, keyspace)
	if err != nil {
		return err
	}
	if len(shards) == 0 {
		return fmt.Errorf("keyspace %s has no shards", keyspace)
	}
	failed := make([]*ShardError, len(shards))
	var wg sync.WaitGroup
	for i, sh := range shards {
		wg.Go(func() { failed[i] = applyToShard(ctx, ts, sh, stmts, opts) })
	}
	wg.Wait()
	schemaErr := &SchemaError{Keyspace: keyspace, Shards: len(shards)}
	for _, f := range failed {
		if f != nil {
			schemaErr.Failed = append(schemaErr.Failed, f)
		}
	}
	if len(schemaErr.Failed) > 0 {
		return schemaErr
	}
	return nil
}

func applyToShard(ctx context.Context, ts *topo.Server, sh *topopb.Shard, stmts []string, opts []control.Option) *ShardError {
	fail := &ShardError{Keyspace: sh.Keyspace, Shard: sh.Name, Statements: len(stmts)}
	if sh.PrimaryAlias == "" {
		fail.Err = errors.New("the shard has no primary tablet: start one (shardtablet --type primary)")
		return fail
	}
	fail.Tablet = sh.PrimaryAlias
	tablet, err := ts.GetTablet(ctx, sh.PrimaryAlias)
	if err != nil {
		fail.Err = err
		return fail
	}
	conn, err := control.DialTablet(tablet, opts...)
	if err != nil {
		fail.Err = err
		return fail
	}
	defer conn.Close()
	client := conn.QueryService()
	target := &querypb.Target{Keyspace: sh.Keyspace, Shard: sh.Name, TabletType: topopb.TabletType_PRIMARY}
	for i, stmt := range stmts {
		opts := &querypb.ExecuteOptions{TimeoutMs: DefaultDDLTimeout.Milliseconds()}
		if deadline, ok := ctx.Deadline(); ok {
			opts.TimeoutMs = max(time.Until(deadline).Milliseconds(), 1)
		}
		_, err := client.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: []byte(stmt), Options: opts})
		if err != nil {
			fail.Statement, fail.SQL = i+1, shorten(stmt)
			fail.Err = control.RPCError(err, tablet)
			return fail
		}
	}
	return nil
}

// shorten makes a statement fit in an error message: leading comments
// dropped, whitespace collapsed, at most 80 characters.
func shorten(stmt string) string {
	s := strings.Join(strings.Fields(sqlparser.StripLeadingComments(stmt)), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
