package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/sqlrouter"
	"github.com/shardgate/shardgate/sqlrouter/loaddata"
)

// LOAD DATA LOCAL INFILE.
//
// The gate reads the client's file (Session.LocalFiles) as MariaDB would
// (sqlrouter/loaddata) and loads it as batches of INSERT IGNORE (what
// MariaDB does for a LOCAL file without REPLACE: it cannot stop the
// client's transfer midway, so a duplicate or a value it must convert is a
// warning) or REPLACE, each planned and run as any INSERT of the session,
// so that rows reach the shards their vindexes name, lookup vindexes are
// kept and sequences fill AUTO_INCREMENT columns.
//
// A load is one statement: in autocommit mode it runs as a transaction of
// its own (committed as the session's transaction_mode commits any
// transaction: in order, or with two-phase commit), and inside a
// transaction it is undone to a savepoint taken before it, so a load that
// fails leaves nothing of itself either way. The answer is MariaDB's: the
// affected rows, the info text "Records: N  Deleted: D  Skipped: S
// Warnings: W", and the warnings in the session's diagnostics.

// loadSavepoint is the savepoint a load inside a transaction rolls back to
// when it fails.
const loadSavepoint = "_shardgate_load_data_"

// loadCleanupTimeout bounds rolling back a failed load, which runs even
// when the statement's context has ended (KILL QUERY).
const loadCleanupTimeout = 10 * time.Second

// erNetReadError is MariaDB's ER_NET_READ_ERROR.
const erNetReadError = 1158

// loadData runs a LOAD DATA statement.
func (e *Executor) loadData(ctx context.Context, s *Session, sql string) (*sqltypes.Result, error) {
	stmt, err := loaddata.Parse(e.parser, sql)
	if err != nil {
		return nil, err
	}
	if stmt.Local && s.LocalFiles == nil {
		return nil, sqlerr.New(sqlerror.ERNotAllowedCommand, sqlerror.SSClientError, "The used command is not allowed with this MariaDB version")
	}
	if err := stmt.Check(); err != nil {
		return nil, err
	}
	keyspace := stmt.Keyspace
	if keyspace == "" {
		keyspace = s.Keyspace
	}
	if forbiddenSchemas[strings.ToLower(keyspace)] {
		return nil, sqlerr.New(sqlerror.ERTableAccessDenied, sqlerror.SSClientError, "INSERT command denied for table `%s`.`%s`: the %s database of the shards is not reachable through the gate", keyspace, stmt.Table, keyspace)
	}
	if err := e.authz.checkOne(s, access{keyspace: keyspace, table: strings.ToLower(stmt.Table), right: RightWrite, verb: "INSERT"}); err != nil {
		return nil, err
	}
	switch {
	case s.TabletType != topopb.TabletType_PRIMARY:
		return nil, sqlerr.Unsupported("LOAD DATA on %s tablets (it writes: USE the keyspace's primary)", strings.ToLower(s.TabletType.String()))
	case s.TxReadOnly || !s.InTransaction && !s.Autocommit && s.nextTxReadOnly:
		// (With autocommit off the load would begin the read-only
		// transaction SET TRANSACTION READ ONLY asked for.)
		return nil, sqlerr.New(erCantExecuteInReadOnlyTransaction, "25006", "Cannot execute statement in a READ ONLY transaction")
	case s.tableLocks != nil:
		return nil, sqlerr.Unsupported("LOAD DATA while LOCK TABLES holds (UNLOCK TABLES first)")
	}
	l, err := e.prepareLoad(ctx, s, stmt)
	if err != nil {
		return nil, sqlerr.From(err)
	}
	file, err := s.LocalFiles(stmt.File)
	if err != nil {
		return nil, sqlerr.From(err)
	}
	if file == nil {
		return nil, sqlerr.Internal("the MySQL front end gave no reader of the client's file %q", stmt.File)
	}
	res, err := l.run(ctx, file)
	// The client's file must be read to its end whatever happened.
	_, drainErr := io.Copy(io.Discard, file)
	closeErr := file.Close()
	if err == nil && (drainErr != nil || closeErr != nil) {
		err = sqlerr.New(erNetReadError, sqlerror.SSNetError, "Got an error reading communication packets: %v", errors.Join(drainErr, closeErr))
	}
	return res, err
}

// load is one LOAD DATA statement being run.
type load struct {
	e       *Executor
	s       *Session
	stmt    *loaddata.Statement
	format  loaddata.Format
	batcher *loaddata.Batcher
	action  loaddata.Action
}

// prepareLoad does what MariaDB does before it asks for the file: it finds
// the table and its columns (ER_NO_SUCH_TABLE, ER_BAD_FIELD_ERROR), and
// plans an INSERT of the batches' shape, so that what the gate refuses is
// refused before the client sends anything.
func (e *Executor) prepareLoad(ctx context.Context, s *Session, stmt *loaddata.Statement) (*load, error) {
	keyspace := stmt.Keyspace
	if keyspace == "" {
		keyspace = s.Keyspace
	}
	if keyspace == "" {
		return nil, sqlerr.New(sqlerror.ERNoDb, sqlerror.SSNoDB, "No database selected: USE a keyspace or qualify table %s with one", stmt.Table)
	}
	vs := e.topo.vschema.Load()
	ks, ok := vs.Keyspace(keyspace)
	if !ok && s.Shard == "" {
		return nil, sqlerr.New(sqlerror.ERBadDb, sqlerror.SSClientError, "Unknown database '%s'", keyspace)
	}
	target, err := e.readLoadTarget(ctx, s, keyspace, stmt.Table)
	if err != nil {
		return nil, err
	}
	if !target.found {
		return nil, sqlerr.New(sqlerror.ERNoSuchTable, sqlerror.SSUnknownTable, "Table '%s.%s' doesn't exist", keyspace, stmt.Table)
	}
	charset := stmt.Charset
	if charset == "" || charset == "default" {
		// MariaDB reads the file in the database's character set.
		charset = strings.ToLower(target.charset)
		if _, ok := loaddata.Introducer(charset); !ok {
			return nil, sqlerr.Unsupported("LOAD DATA without CHARACTER SET into database %s, whose character set is %s (say CHARACTER SET utf8mb4, utf8 or binary)", keyspace, target.charset)
		}
	}
	l := &load{e: e, s: s, stmt: stmt, format: stmt.Format, action: loaddata.InsertIgnore}
	if stmt.Duplicates == loaddata.DuplicatesReplace {
		l.action = loaddata.Replace
	}
	var owned string
	if ks != nil {
		if t := ks.Tables[strings.ToLower(stmt.Table)]; t != nil && len(t.Owned) > 0 {
			owned = t.Owned[0].Name
		}
	}
	if owned != "" && l.action == loaddata.InsertIgnore {
		// The gate cannot INSERT IGNORE into a table that owns lookup
		// vindexes: such a load inserts, and fails (loading nothing) on a
		// row MariaDB would skip or convert with a warning.
		l.action = loaddata.Insert
	}
	if !l.format.EscapedGiven && hasMode(target.sqlMode, "NO_BACKSLASH_ESCAPES") {
		l.format.EscapedBy = ""
	}
	table := sqlparser.NewTableNameWithQualifier(stmt.Table, stmt.Keyspace)
	opts := loaddata.BatchOptions{Action: l.action, Charset: charset}
	if s.Shard == "" {
		// The batches' plan, made once now with a row of empty fields.
		probe, err := loaddata.NewBatcher(stmt, table, target.columns, opts)
		if err != nil {
			return nil, err
		}
		if err := probe.Add(&loaddata.Row{Fields: make([]loaddata.Field, probe.Fields())}); err != nil {
			return nil, err
		}
		ins := probe.Take()
		if _, err := e.plan(s, ins, sqlparser.String(ins)); err != nil {
			if owned != "" && stmt.Duplicates == loaddata.DuplicatesReplace {
				return nil, fmt.Errorf("LOAD DATA ... REPLACE runs as REPLACE: %w", err)
			}
			return nil, err
		}
	}
	opts.Strict = l.action == loaddata.Replace && (hasMode(target.sqlMode, "STRICT_TRANS_TABLES") || hasMode(target.sqlMode, "STRICT_ALL_TABLES"))
	opts.Warn = func(code uint16, msg string) { s.noteWarning("Warning", code, msg) }
	if l.batcher, err = loaddata.NewBatcher(stmt, table, target.columns, opts); err != nil {
		return nil, err
	}
	return l, nil
}

// run loads the file: in a transaction of its own in autocommit mode,
// else in the session's, undone to a savepoint if it fails.
func (l *load) run(ctx context.Context, file io.Reader) (*sqltypes.Result, error) {
	s, e := l.s, l.e
	ownTx := !s.InTransaction && s.Autocommit
	switch {
	case ownTx:
		s.InTransaction = true
	case !s.InTransaction:
		// With autocommit off, a write opens the transaction.
		s.startTransaction(nil)
	}
	if !ownTx {
		if _, err := e.savepoint(ctx, s, &sqlparser.Savepoint{Name: sqlparser.NewIdentifierCI(loadSavepoint)}); err != nil {
			return nil, err
		}
	}
	lastInsertID := s.LastInsertID
	affected, firstID, err := l.insertAll(ctx, file)
	for name, v := range l.batcher.Variables() {
		s.setUserVariable(name, v)
	}
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadCleanupTimeout)
	defer cancel()
	switch {
	case err != nil && ownTx:
		e.rollback(cleanup, s)
	case err != nil:
		if _, rbErr := e.savepoint(cleanup, s, &sqlparser.SRollback{Name: sqlparser.NewIdentifierCI(loadSavepoint)}); rbErr == nil {
			_, _ = e.savepoint(cleanup, s, &sqlparser.Release{Name: sqlparser.NewIdentifierCI(loadSavepoint)})
		}
	case ownTx:
		err = e.commit(ctx, s)
	default:
		_, err = e.savepoint(ctx, s, &sqlparser.Release{Name: sqlparser.NewIdentifierCI(loadSavepoint)})
	}
	// LAST_INSERT_ID() is the first value the load generated, if any.
	s.LastInsertID = lastInsertID
	if err != nil {
		return nil, sqlerr.From(err)
	}
	if firstID != 0 {
		s.LastInsertID = firstID
	}
	records := uint64(l.batcher.Records())
	var deleted, skipped uint64
	if l.action == loaddata.Replace {
		deleted = affected - min(affected, records)
	} else {
		skipped = records - min(affected, records)
	}
	s.mu.Lock()
	warnings := s.diag.raised
	s.mu.Unlock()
	return &sqltypes.Result{
		RowsAffected: affected,
		Info:         fmt.Sprintf("Records: %d  Deleted: %d  Skipped: %d  Warnings: %d", records, deleted, skipped, warnings),
	}, nil
}

// insertAll reads the file and runs its batches; it returns the rows they
// affected and the first AUTO_INCREMENT value they generated.
func (l *load) insertAll(ctx context.Context, file io.Reader) (affected, firstID uint64, err error) {
	r := loaddata.NewReader(file, l.format, l.batcher.Fields(), l.stmt.IgnoreLines)
	first := 1 // the file row the batch starts at
	flush := func() error {
		n := l.batcher.Pending()
		ins := l.batcher.Take()
		if ins == nil {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		res, _, err := l.e.runStatement(ctx, l.s, ins, sqlparser.String(ins), nil, nil, nil)
		if err != nil {
			return fmt.Errorf("LOAD DATA, in the batch of rows %d to %d: %w", first, first+n-1, err)
		}
		first += n
		affected += res.RowsAffected
		if firstID == 0 {
			firstID = res.InsertID
		}
		return nil
	}
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, loaddata.ErrRowTooLarge) {
				return 0, 0, sqlerr.Unsupported("LOAD DATA of a row larger than %d bytes (row %d of the file)", loaddata.DefaultMaxRowBytes, l.batcher.Records()+1)
			}
			return 0, 0, sqlerr.New(erNetReadError, sqlerror.SSNetError, "Got an error reading communication packets: reading the client's file: %v", err)
		}
		if err := l.batcher.Add(row); err != nil {
			return 0, 0, err
		}
		if l.batcher.Full() {
			if err := flush(); err != nil {
				return 0, 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, 0, err
	}
	return affected, firstID, nil
}

// loadTarget is what a load needs to know of its table, read from a shard.
type loadTarget struct {
	found   bool
	columns []loaddata.Column
	// sqlMode is the session's sql_mode there (upper-cased), which decides
	// strictness and whether backslash escapes.
	sqlMode string
	// charset is the database's character set, the file's by default.
	charset string
}

// readLoadTarget reads a table's columns, the session's sql_mode and the
// database's character set from the keyspace's first shard (or the one
// the session targets): every shard has the same schema.
func (e *Executor) readLoadTarget(ctx context.Context, s *Session, keyspace, table string) (*loadTarget, error) {
	shard := s.Shard
	if shard == "" {
		shards, err := e.topo.shards(keyspace, topopb.TabletType_PRIMARY)
		if err != nil {
			return nil, err
		}
		shard = shards[0].Name
	}
	sql := s.settingsPrefix + "SELECT c.column_name, c.is_nullable, c.column_default, c.data_type, c.extra, @@session.sql_mode, d.default_character_set_name" +
		" FROM information_schema.schemata d LEFT JOIN information_schema.columns c ON c.table_schema = d.schema_name AND c.table_name = " + sqltypes.EncodeStringSQL(table) +
		" WHERE d.schema_name = " + sqltypes.EncodeStringSQL(keyspace) + " ORDER BY c.ordinal_position"
	ctx, cancel := context.WithTimeout(ctx, e.queryTimeout)
	defer cancel()
	res, err := e.executeAutocommit(ctx, s, keyspace, sqlrouter.ShardQuery{Shard: shard, SQL: sql}, false)
	if err != nil {
		return nil, err
	}
	if len(res.Rows) == 0 {
		return nil, sqlerr.New(sqlerror.ERBadDb, sqlerror.SSClientError, "Unknown database '%s'", keyspace)
	}
	t := &loadTarget{sqlMode: strings.ToUpper(res.Rows[0][5].ToString()), charset: res.Rows[0][6].ToString()}
	for _, row := range res.Rows {
		if row[0].IsNull() {
			continue
		}
		nullable := row[1].ToString() == "YES"
		extra := strings.ToLower(row[4].ToString())
		t.columns = append(t.columns, loaddata.Column{
			Name:          row[0].ToString(),
			Nullable:      nullable,
			DefaultNull:   nullable && (row[2].IsNull() || row[2].ToString() == "NULL"),
			Type:          strings.ToLower(row[3].ToString()),
			AutoIncrement: strings.Contains(extra, "auto_increment"),
			Invisible:     strings.Contains(extra, "invisible"),
		})
	}
	t.found = len(t.columns) > 0
	return t, nil
}

// hasMode reports whether an sql_mode value includes a mode.
func hasMode(sqlMode, mode string) bool {
	for _, m := range strings.Split(sqlMode, ",") {
		if m == mode {
			return true
		}
	}
	return false
}
