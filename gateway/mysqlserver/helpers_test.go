package mysqlserver

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// The test side: an Authenticator over plain passwords, a Handler that
// answers a small command language, and a server started per test.

// testUser is a user of testAuth. plugin, when set, is the only plugin
// the user may log in with (others are switched); fullAuth makes the
// caching_sha2 fast path undecided, to exercise full authentication.
type testUser struct {
	password string
	plugin   string
	fullAuth bool
}

type testAuth struct {
	users map[string]testUser
}

func newTestAuth() *testAuth {
	return &testAuth{users: map[string]testUser{
		"root":   {},
		"app":    {password: "s3cret"},
		"native": {password: "n4tive", plugin: NativePassword},
		"sha2":   {password: "sha2pw", plugin: CachingSHA2Password},
		"full":   {password: "fullpw", plugin: CachingSHA2Password, fullAuth: true},
		"other":  {password: "other"},
	}}
}

func (a *testAuth) Authenticate(_ context.Context, req *AuthRequest) AuthResult {
	u, ok := a.users[req.User]
	denied := newError(erAccessDenied, "28000", "Access denied for user '%s'@'%s' (using password: %s)", req.User, "test", map[bool]string{true: "YES", false: "NO"}[len(req.Response) > 0])
	if !ok {
		return Reject(denied)
	}
	if u.plugin != "" && req.Plugin != u.plugin {
		return SwitchTo(u.plugin)
	}
	if req.Cleartext {
		if string(req.Response) == u.password {
			return Accept()
		}
		return Reject(denied)
	}
	if len(req.Response) == 0 {
		if u.password == "" {
			return Accept()
		}
		return Reject(denied)
	}
	switch req.Plugin {
	case NativePassword:
		s1 := sha1.Sum([]byte(u.password))
		s2 := sha1.Sum(s1[:])
		if CheckNativePassword(req.Scramble, req.Response, s2[:]) {
			return Accept()
		}
	case CachingSHA2Password:
		if u.fullAuth {
			return FullAuth()
		}
		h1 := sha256.Sum256([]byte(u.password))
		h2 := sha256.Sum256(h1[:])
		if CheckCachingSHA2(req.Scramble, req.Response, h2[:]) {
			return Accept()
		}
	}
	return Reject(denied)
}

// testSession implements SessionState and SessionTracker.
type testSession struct {
	user       string
	db         string
	autocommit bool
	inTx       bool
	warnings   uint16
	changes    []SessionChange
	generation int // counts ComChangeUser/ComResetConnection
}

func (s *testSession) StatusFlags() uint16 {
	var f uint16
	if s.autocommit {
		f |= StatusAutocommit
	}
	if s.inTx {
		f |= StatusInTrans
	}
	return f | StatusMoreResultsExist // must be masked by the server
}

func (s *testSession) WarningCount() uint16 { return s.warnings }

func (s *testSession) TakeSessionChanges() []SessionChange {
	ch := s.changes
	s.changes = nil
	return ch
}

// testHandler answers statements by their first words:
//
//	select 1 / select rows N / select types / select bindvars
//	insert, update (OK with info and a warning), begin, commit
//	set autocommit=0|1, use DB, error, panic, panic after rows, sleep
//	load data local infile 'NAME'
type testHandler struct {
	mu          sync.Mutex
	bindVars    map[string]*querypb.BindVariable // of the last execution
	prepared    map[string]string                // "connid/stmtid" -> sql
	closedStmts []uint32
	closedConns []uint32
	conns       int
	localData   []byte // what the last LOAD DATA read
	lastCtxErr  error
	sleeping    chan struct{} // signalled when "sleep" starts
	noSleep     bool          // "sleep" returns at once (fuzzing)
}

func newTestHandler() *testHandler {
	return &testHandler{prepared: map[string]string{}, sleeping: make(chan struct{}, 16)}
}

func sess(c *Conn) *testSession { return c.Session().(*testSession) }

func (h *testHandler) NewConnection(c *Conn) error {
	if c.User() == "refused" {
		return errors.New("refused by the handler")
	}
	h.mu.Lock()
	h.conns++
	h.mu.Unlock()
	c.SetSession(&testSession{user: c.User(), autocommit: true})
	return nil
}

func (h *testHandler) ConnectionClosed(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conns--
	h.closedConns = append(h.closedConns, c.ID())
}

func (h *testHandler) ComInitDB(_ context.Context, c *Conn, db string) error {
	if db == "nosuchdb" {
		return sqlerror.NewSQLError(sqlerror.ERBadDb, "42000", "Unknown database 'nosuchdb'")
	}
	s := sess(c)
	s.db = db
	s.changes = append(s.changes, SessionChange{Kind: SchemaChange, Name: db})
	return nil
}

func (h *testHandler) ComResetConnection(_ context.Context, c *Conn) error {
	old := sess(c)
	c.SetSession(&testSession{user: c.User(), autocommit: true, generation: old.generation + 1})
	return nil
}

func (h *testHandler) ComChangeUser(ctx context.Context, c *Conn, db string) error {
	old := sess(c)
	c.SetSession(&testSession{user: c.User(), autocommit: true, generation: old.generation + 1})
	if db != "" {
		return h.ComInitDB(ctx, c, db)
	}
	return nil
}

func (h *testHandler) ComFieldList(_ context.Context, c *Conn, table, wildcard string) ([]*querypb.Field, error) {
	if table != "t" {
		return nil, sqlerror.NewSQLError(sqlerror.ERNoSuchTable, "42S02", "Table 'x."+table+"' doesn't exist")
	}
	return []*querypb.Field{
		{Name: "id", OrgName: "id", Table: "t", OrgTable: "t", Database: "x", Type: querypb.Type_INT64, Charset: 63, ColumnLength: 20, Flags: 0x4003},
		{Name: "name", OrgName: "name", Table: "t", OrgTable: "t", Database: "x", Type: querypb.Type_VARCHAR, Charset: 45, ColumnLength: 400},
	}, nil
}

func countParams(sql string) int { return strings.Count(sql, "?") }

func (h *testHandler) ComPrepare(_ context.Context, c *Conn, stmtID uint32, sql string) (int, []*querypb.Field, error) {
	if strings.HasPrefix(sql, "error") {
		return 0, nil, sqlerror.NewSQLError(sqlerror.ERParseError, "42000", "You have an error in your SQL syntax")
	}
	h.mu.Lock()
	h.prepared[fmt.Sprintf("%d/%d", c.ID(), stmtID)] = sql
	h.mu.Unlock()
	var fields []*querypb.Field
	if res := staticResult(sql); res != nil {
		fields = res.Fields
	}
	return countParams(sql), fields, nil
}

func (h *testHandler) ComStmtExecute(ctx context.Context, c *Conn, stmtID uint32, bindVars map[string]*querypb.BindVariable, w func(*sqltypes.Result) error) error {
	h.mu.Lock()
	sql, ok := h.prepared[fmt.Sprintf("%d/%d", c.ID(), stmtID)]
	h.bindVars = bindVars
	h.mu.Unlock()
	if !ok {
		return errors.New("statement unknown to the handler")
	}
	if strings.HasPrefix(sql, "select bindvars") {
		// One VARCHAR column per parameter: "TYPE:value".
		res := &sqltypes.Result{}
		row := make([]sqltypes.Value, len(bindVars))
		for i := range row {
			name := "v" + strconv.Itoa(i+1)
			bv := bindVars[name]
			res.Fields = append(res.Fields, &querypb.Field{Name: name, Type: querypb.Type_VARCHAR, Charset: 45})
			row[i] = sqltypes.NewVarChar(bv.Type.String() + ":" + string(bv.Value))
		}
		res.Rows = [][]sqltypes.Value{row}
		return w(res)
	}
	return h.ComQuery(ctx, c, sql, w)
}

func (h *testHandler) ComStmtClose(c *Conn, stmtID uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.prepared, fmt.Sprintf("%d/%d", c.ID(), stmtID))
	h.closedStmts = append(h.closedStmts, stmtID)
}

// typesFields and typesRow cover every column type, in MySQL's text form.
var typesFields = []*querypb.Field{
	{Name: "i8", Type: querypb.Type_INT8, Charset: 63, ColumnLength: 4},
	{Name: "u8", Type: querypb.Type_UINT8, Charset: 63, ColumnLength: 3, Flags: flagUnsigned},
	{Name: "i16", Type: querypb.Type_INT16, Charset: 63, ColumnLength: 6},
	{Name: "u16", Type: querypb.Type_UINT16, Charset: 63, ColumnLength: 5, Flags: flagUnsigned},
	{Name: "i24", Type: querypb.Type_INT24, Charset: 63, ColumnLength: 9},
	{Name: "u24", Type: querypb.Type_UINT24, Charset: 63, ColumnLength: 8, Flags: flagUnsigned},
	{Name: "i32", Type: querypb.Type_INT32, Charset: 63, ColumnLength: 11},
	{Name: "u32", Type: querypb.Type_UINT32, Charset: 63, ColumnLength: 10, Flags: flagUnsigned},
	{Name: "i64", Type: querypb.Type_INT64, Charset: 63, ColumnLength: 20},
	{Name: "u64", Type: querypb.Type_UINT64, Charset: 63, ColumnLength: 20, Flags: flagUnsigned},
	{Name: "yr", Type: querypb.Type_YEAR, Charset: 63, ColumnLength: 4, Flags: flagUnsigned},
	{Name: "f32", Type: querypb.Type_FLOAT32, Charset: 63, ColumnLength: 12, Decimals: 31},
	{Name: "f64", Type: querypb.Type_FLOAT64, Charset: 63, ColumnLength: 22, Decimals: 31},
	{Name: "dec", Type: querypb.Type_DECIMAL, Charset: 63, ColumnLength: 12, Decimals: 3},
	{Name: "d", Type: querypb.Type_DATE, Charset: 63, ColumnLength: 10, Flags: flagBinary},
	{Name: "dt", Type: querypb.Type_DATETIME, Charset: 63, ColumnLength: 26, Decimals: 6, Flags: flagBinary},
	{Name: "ts", Type: querypb.Type_TIMESTAMP, Charset: 63, ColumnLength: 19, Flags: flagBinary},
	{Name: "t", Type: querypb.Type_TIME, Charset: 63, ColumnLength: 10, Flags: flagBinary},
	{Name: "t6", Type: querypb.Type_TIME, Charset: 63, ColumnLength: 17, Decimals: 6, Flags: flagBinary},
	{Name: "bit", Type: querypb.Type_BIT, Charset: 63, ColumnLength: 8, Flags: flagUnsigned},
	{Name: "e", Type: querypb.Type_ENUM, Charset: 45, ColumnLength: 4, Flags: 0x100},
	{Name: "s", Type: querypb.Type_SET, Charset: 45, ColumnLength: 12, Flags: 0x800},
	{Name: "j", Type: querypb.Type_JSON, Charset: 45, ColumnLength: 4294967295},
	{Name: "vc", Type: querypb.Type_VARCHAR, Charset: 45, ColumnLength: 400},
	{Name: "blob", Type: querypb.Type_BLOB, Charset: 63, ColumnLength: 65535, Flags: flagBinary},
	{Name: "geo", Type: querypb.Type_GEOMETRY, Charset: 63, ColumnLength: 4294967295, Flags: flagBinary},
	{Name: "nul", Type: querypb.Type_VARCHAR, Charset: 45, ColumnLength: 40},
	{Name: "zdt", Type: querypb.Type_DATETIME, Charset: 63, ColumnLength: 19, Flags: flagBinary},
	{Name: "nt", Type: querypb.Type_NULL_TYPE, Charset: 63},
}

func typesRow() []sqltypes.Value {
	m := func(t querypb.Type, s string) sqltypes.Value { return sqltypes.MakeTrusted(t, []byte(s)) }
	return []sqltypes.Value{
		m(querypb.Type_INT8, "-128"), m(querypb.Type_UINT8, "255"), m(querypb.Type_INT16, "-32768"), m(querypb.Type_UINT16, "65535"),
		m(querypb.Type_INT24, "-8388608"), m(querypb.Type_UINT24, "16777215"), m(querypb.Type_INT32, "-2147483648"), m(querypb.Type_UINT32, "4294967295"),
		m(querypb.Type_INT64, "-9223372036854775808"), m(querypb.Type_UINT64, "18446744073709551615"), m(querypb.Type_YEAR, "2024"),
		m(querypb.Type_FLOAT32, "1.5"), m(querypb.Type_FLOAT64, "3.25"), m(querypb.Type_DECIMAL, "-123.450"),
		m(querypb.Type_DATE, "2024-02-29"), m(querypb.Type_DATETIME, "2024-02-29 13:14:15.123456"), m(querypb.Type_TIMESTAMP, "2024-02-29 13:14:15"),
		m(querypb.Type_TIME, "-838:59:59"), m(querypb.Type_TIME, "25:00:00.500000"),
		m(querypb.Type_BIT, "\x05"), m(querypb.Type_ENUM, "b"), m(querypb.Type_SET, "a,c"), m(querypb.Type_JSON, `{"a": 1}`),
		m(querypb.Type_VARCHAR, "ünïcødé €😀"), m(querypb.Type_BLOB, "\x00\x01\xff"), m(querypb.Type_GEOMETRY, "\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\xf0?\x00\x00\x00\x00\x00\x00\x00@"),
		sqltypes.NULL, m(querypb.Type_DATETIME, "0000-00-00 00:00:00"), sqltypes.NULL,
	}
}

func rowsResult(n int) *sqltypes.Result {
	res := &sqltypes.Result{Fields: []*querypb.Field{
		{Name: "id", Type: querypb.Type_INT64, Charset: 63, ColumnLength: 20},
		{Name: "name", Type: querypb.Type_VARCHAR, Charset: 45, ColumnLength: 400},
		{Name: "score", Type: querypb.Type_DECIMAL, Charset: 63, ColumnLength: 12, Decimals: 2},
		{Name: "at", Type: querypb.Type_DATETIME, Charset: 63, ColumnLength: 19, Flags: flagBinary},
	}}
	for i := range n {
		res.Rows = append(res.Rows, []sqltypes.Value{
			sqltypes.NewInt64(int64(i)), sqltypes.NewVarChar(fmt.Sprintf("name-%d", i)),
			sqltypes.MakeTrusted(querypb.Type_DECIMAL, []byte(fmt.Sprintf("%d.25", i))),
			sqltypes.MakeTrusted(querypb.Type_DATETIME, []byte("2024-01-02 03:04:05")),
		})
	}
	return res
}

// staticResult is the result of the statements whose answer is fixed.
func staticResult(sql string) *sqltypes.Result {
	switch {
	case sql == "select 1":
		return &sqltypes.Result{Fields: []*querypb.Field{{Name: "1", Type: querypb.Type_INT64, Charset: 63, ColumnLength: 1}},
			Rows: [][]sqltypes.Value{{sqltypes.NewInt64(1)}}}
	case strings.HasPrefix(sql, "select rows "):
		n, _ := strconv.Atoi(strings.Fields(sql)[2])
		return rowsResult(min(n, 100000))
	case strings.HasPrefix(sql, "select types"):
		return &sqltypes.Result{Fields: typesFields, Rows: [][]sqltypes.Value{typesRow()}}
	case sql == "select json":
		// What MariaDB describes for a JSON column (LONGTEXT) of t.j, as
		// the tablets mark it.
		return &sqltypes.Result{Fields: []*querypb.Field{{Name: "js", OrgName: "js", Table: "j", OrgTable: "j", Database: "t",
			Type: querypb.Type_TEXT, Charset: 33, ColumnLength: 4294967295, Flags: 0x90, ColumnType: "json"}},
			Rows: [][]sqltypes.Value{{sqltypes.NewVarChar(`{"a": 1}`)}}}
	case strings.HasPrefix(sql, "select bindvars"):
		return &sqltypes.Result{Fields: []*querypb.Field{{Name: "v1", Type: querypb.Type_VARCHAR}}}
	}
	return nil
}

func (h *testHandler) ComQuery(ctx context.Context, c *Conn, sql string, w func(*sqltypes.Result) error) error {
	s := sess(c)
	s.warnings = 0
	lower := strings.ToLower(strings.TrimSpace(sql))
	if res := staticResult(lower); res != nil {
		if strings.HasPrefix(lower, "select rows ") && len(res.Rows) > 10 {
			// Stream: fields first, then rows in batches.
			if err := w(&sqltypes.Result{Fields: res.Fields}); err != nil {
				return err
			}
			for len(res.Rows) > 0 {
				k := min(7, len(res.Rows))
				if err := w(&sqltypes.Result{Rows: res.Rows[:k]}); err != nil {
					return err
				}
				res.Rows = res.Rows[k:]
			}
			return nil
		}
		return w(res)
	}
	switch {
	case strings.HasPrefix(lower, "select big "):
		n, _ := strconv.Atoi(strings.Fields(lower)[2])
		n = min(n, 20<<20)
		return w(&sqltypes.Result{Fields: []*querypb.Field{{Name: "big", Type: querypb.Type_BLOB, Charset: 63}},
			Rows: [][]sqltypes.Value{{sqltypes.MakeTrusted(querypb.Type_BLOB, []byte(strings.Repeat("b", n)))}}})
	case strings.HasPrefix(lower, "select length "):
		return w(&sqltypes.Result{Fields: []*querypb.Field{{Name: "length", Type: querypb.Type_INT64, Charset: 63}},
			Rows: [][]sqltypes.Value{{sqltypes.NewInt64(int64(len(sql)))}}})
	case strings.HasPrefix(lower, "insert"):
		return w(&sqltypes.Result{RowsAffected: 1, InsertID: 42, InsertIDChanged: true})
	case strings.HasPrefix(lower, "update"):
		s.warnings = 1
		return w(&sqltypes.Result{RowsAffected: 2, Info: "Rows matched: 3  Changed: 2  Warnings: 1"})
	case lower == "begin" || lower == "start transaction":
		s.inTx = true
		return nil
	case lower == "commit" || lower == "rollback":
		s.inTx = false
		return nil
	case lower == "set autocommit=0" || lower == "set autocommit=1":
		s.autocommit = strings.HasSuffix(lower, "1")
		v := map[bool]string{true: "ON", false: "OFF"}[s.autocommit]
		s.changes = append(s.changes, SessionChange{Kind: SystemVariableChange, Name: "autocommit", Value: v})
		return nil
	case strings.HasPrefix(lower, "set names "):
		cs := strings.TrimPrefix(lower, "set names ")
		for _, v := range []string{"character_set_client", "character_set_connection", "character_set_results"} {
			s.changes = append(s.changes, SessionChange{Kind: SystemVariableChange, Name: v, Value: cs})
		}
		return nil
	case strings.HasPrefix(lower, "use "):
		return h.ComInitDB(ctx, c, strings.TrimSpace(sql[4:]))
	case lower == "select database()":
		return w(&sqltypes.Result{Fields: []*querypb.Field{{Name: "database()", Type: querypb.Type_VARCHAR, Charset: 45}},
			Rows: [][]sqltypes.Value{{sqltypes.NewVarChar(s.db)}}})
	case lower == "select user()":
		return w(&sqltypes.Result{Fields: []*querypb.Field{{Name: "user()", Type: querypb.Type_VARCHAR, Charset: 45}},
			Rows: [][]sqltypes.Value{{sqltypes.NewVarChar(fmt.Sprintf("%s gen%d", s.user, s.generation))}}})
	case lower == "select connection_id()":
		return w(&sqltypes.Result{Fields: []*querypb.Field{{Name: "connection_id()", Type: querypb.Type_UINT32, Charset: 63}},
			Rows: [][]sqltypes.Value{{sqltypes.NewUint32(c.ID())}}})
	case strings.HasPrefix(lower, "error"):
		return sqlerror.NewSQLError(sqlerror.ERNoSuchTable, "42S02", "Table 'x.nope' doesn't exist")
	case lower == "plain error":
		return errors.New("something broke")
	case lower == "panic":
		panic("boom")
	case lower == "panic after rows":
		_ = w(rowsResult(2))
		panic("boom after rows")
	case lower == "sleep" && h.noSleep:
		return nil
	case lower == "sleep":
		h.sleeping <- struct{}{}
		select {
		case <-ctx.Done():
			h.mu.Lock()
			h.lastCtxErr = ctx.Err()
			h.mu.Unlock()
			return sqlerror.NewSQLError(sqlerror.ERQueryInterrupted, "70100", "Query execution was interrupted")
		case <-time.After(10 * time.Second):
			return errors.New("sleep was not interrupted")
		}
	case strings.HasPrefix(lower, "load data local infile "):
		name := strings.Trim(strings.Fields(sql)[4], "'")
		f, err := c.LocalFile(name)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		_ = f.Close()
		h.mu.Lock()
		h.localData = data
		h.mu.Unlock()
		return w(&sqltypes.Result{RowsAffected: uint64(strings.Count(string(data), "\n"))})
	case strings.HasPrefix(lower, "load data local half "):
		// Reads 3 bytes and leaves the rest for the server to drain.
		f, err := c.LocalFile(strings.Trim(strings.Fields(sql)[4], "'"))
		if err != nil {
			return err
		}
		var b [3]byte
		_, _ = io.ReadFull(f, b[:])
		return w(&sqltypes.Result{RowsAffected: 3})
	case lower == "":
		return sqlerror.NewSQLError(sqlerror.EREmptyQuery, "42000", "Query was empty")
	}
	return sqlerror.NewSQLError(sqlerror.ERParseError, "42000", "You have an error in your SQL syntax near '"+sql+"'")
}

// splitSemicolons splits on ';' (the tests have no quoted semicolons).
func splitSemicolons(sql string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(sql, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

type testServer struct {
	*Server
	handler *testHandler
	logs    *observer.ObservedLogs
	addr    string
}

// startServer starts a server on loopback with the test handler and
// authenticator; edit adjusts the configuration.
func startServer(t testing.TB, edit func(*Config)) *testServer {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	h := newTestHandler()
	cfg := Config{
		Addr: "127.0.0.1:0", ServerVersion: "5.5.5-10.11.6-MariaDB-shardgate",
		Auth: newTestAuth(), Handler: h, SplitStatements: splitSemicolons, Log: zap.New(core),
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if t.Failed() {
			for _, e := range logs.All() {
				t.Logf("server log: %s %v", e.Message, e.ContextMap())
			}
		}
		for _, e := range logs.FilterMessageSnippet("panic in the MySQL server").All() {
			t.Errorf("server panicked: %v", e.ContextMap())
		}
	})
	return &testServer{Server: s, handler: h, logs: logs, addr: s.Addr().String()}
}

func (ts *testServer) hostPort(t testing.TB) (string, int) {
	host, port, err := net.SplitHostPort(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// waitFor polls cond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
