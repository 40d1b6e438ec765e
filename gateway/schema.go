package gateway

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// schemaTracker knows the columns of every table of the keyspaces the gate
// has planned for (schema tracking): the planner needs them to expand * and
// to find the table of an unqualified column in statements the gate
// evaluates itself. Every shard of a keyspace has the same schema, so one
// shard's information_schema answers for all.
//
// A keyspace is read when first needed, read again when a statement names
// a table it does not know (a table created since), after DDL through the
// gate, and every refresh interval. Version changes whenever what is
// known changes, so that cached plans made with an older schema are not
// used.
type schemaTracker struct {
	read    func(ctx context.Context, keyspace string) (map[string][]string, error)
	log     *zap.Logger
	refresh time.Duration

	mu        sync.Mutex
	keyspaces map[string]*keyspaceSchema
	version   atomic.Int64
}

type keyspaceSchema struct {
	tables map[string][]string // lower-cased table name -> columns
	read   time.Time
	stale  bool
}

// minReread is how often an unknown table may cause a keyspace to be read
// again: a statement naming a table that does not exist must not cost a
// round trip to a shard every time.
const minReread = time.Second

func newSchemaTracker(read func(ctx context.Context, keyspace string) (map[string][]string, error), refresh time.Duration, log *zap.Logger) *schemaTracker {
	return &schemaTracker{read: read, refresh: refresh, log: log, keyspaces: map[string]*keyspaceSchema{}}
}

// Columns implements sqlrouter.Schema. It may read the keyspace's schema
// from a shard, bounded by a short timeout.
func (t *schemaTracker) Columns(keyspace, table string) ([]string, bool) {
	name := strings.ToLower(table)
	t.mu.Lock()
	ks := t.keyspaces[keyspace]
	fresh := ks != nil && !ks.stale && (t.refresh <= 0 || time.Since(ks.read) < t.refresh)
	if ks != nil && fresh {
		if cols, ok := ks.tables[name]; ok {
			t.mu.Unlock()
			return cols, true
		}
		if time.Since(ks.read) < minReread {
			t.mu.Unlock()
			return nil, false
		}
	}
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.load(ctx, keyspace); err != nil {
		t.log.Warn("reading the schema of a keyspace failed", zap.String("keyspace", keyspace), zap.Error(err))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ks := t.keyspaces[keyspace]; ks != nil {
		cols, ok := ks.tables[name]
		return cols, ok
	}
	return nil, false
}

// load reads a keyspace's schema and bumps the version if it changed.
func (t *schemaTracker) load(ctx context.Context, keyspace string) error {
	tables, err := t.read(ctx, keyspace)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.keyspaces[keyspace]
	if old == nil || !maps.EqualFunc(old.tables, tables, slices.Equal[[]string]) {
		t.version.Add(1)
	}
	t.keyspaces[keyspace] = &keyspaceSchema{tables: tables, read: time.Now()}
	return nil
}

// invalidate makes the next use of a keyspace's schema read it again
// (after DDL), and changes the version so that plans are made anew.
func (t *schemaTracker) invalidate(keyspace string) {
	t.mu.Lock()
	if ks := t.keyspaces[keyspace]; ks != nil {
		ks.stale = true
	}
	t.mu.Unlock()
	t.version.Add(1)
}

// Version identifies what the tracker knows now.
func (t *schemaTracker) Version() int64 { return t.version.Load() }

// readSchema reads a keyspace's tables and columns from its first shard.
func (e *Executor) readSchema(ctx context.Context, keyspace string) (map[string][]string, error) {
	shards, err := e.topo.shards(keyspace, topopb.TabletType_PRIMARY)
	if err != nil {
		return nil, err
	}
	tc, err := e.tablets.pick(keyspace, shards[0].Name, topopb.TabletType_PRIMARY)
	if err != nil {
		return nil, err
	}
	// The shard's database is named after its keyspace.
	sql := "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = " +
		sqltypes.EncodeStringSQL(keyspace) + " ORDER BY table_name, ordinal_position"
	resp, err := tc.query.Execute(ctx, &querypb.ExecuteRequest{Target: target(keyspace, shards[0].Name, topopb.TabletType_PRIMARY), Sql: []byte(sql)})
	if err != nil {
		return nil, tabletError(tc, err)
	}
	res, err := queryconv.ResultFromProto(resp.Result)
	if err != nil {
		return nil, err
	}
	tables := map[string][]string{}
	for _, row := range res.Rows {
		name := strings.ToLower(row[0].ToString())
		tables[name] = append(tables[name], row[1].ToString())
	}
	return tables, nil
}
