package gateway

import (
	"context"
	"sort"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/sqlrouter"
)

// use selects the session's keyspace: "ks", "ks:shard" (send statements
// unchanged to one shard), "ks@replica" (read from replicas).
func (e *Executor) use(s *Session, target string) (*sqltypes.Result, error) {
	ks, shard, tabletType, err := e.parseTarget(target)
	if err != nil {
		return nil, err
	}
	// A transaction may span keyspaces (USE inside one is fine, as in
	// MariaDB), but its shards' parts live on the tablets it began on:
	// targeting one shard or another tablet type must wait for its end.
	if s.InTransaction && (shard != s.Shard || tabletType != s.TabletType) && len(s.shards) > 0 {
		return nil, sqlerr.New(sqlerror.ERCantDoThisDuringAnTransaction, sqlerror.SSCantDoThisDuringAnTransaction,
			"cannot change the target to %s inside a transaction: COMMIT or ROLLBACK first", target)
	}
	s.Keyspace, s.Shard, s.TabletType = ks, shard, tabletType
	return &sqltypes.Result{}, nil
}

// parseTarget reads "ks[:shard][@type]" and checks that the keyspace and
// shard serve, reporting an unknown one as MySQL reports an unknown
// database.
func (e *Executor) parseTarget(target string) (string, string, topopb.TabletType, error) {
	tabletType := topopb.TabletType_PRIMARY
	if base, typ, ok := strings.Cut(target, "@"); ok {
		v, known := topopb.TabletType_value[strings.ToUpper(typ)]
		if !known || v == 0 {
			return "", "", 0, sqlerr.New(sqlerror.ERBadDb, sqlerror.SSClientError, "Unknown database '%s': tablet type %q must be primary, replica or rdonly", target, typ)
		}
		target, tabletType = base, topopb.TabletType(v)
	}
	ks, shard, _ := strings.Cut(target, ":")
	if ks == "" {
		return "", "", tabletType, nil
	}
	if err := e.checkTarget(ks, shard, tabletType); err != nil {
		return "", "", 0, err
	}
	return ks, shard, tabletType, nil
}

// checkTarget reports a keyspace that does not exist, or a shard (when
// set) that does not serve the tablet type, as MySQL reports an unknown
// database.
func (e *Executor) checkTarget(ks, shard string, tabletType topopb.TabletType) error {
	if _, ok := e.topo.vschema.Load().Keyspace(ks); !ok {
		if err := e.topo.notReadError(); err != nil {
			return err
		}
		return sqlerr.New(sqlerror.ERBadDb, sqlerror.SSClientError, "Unknown database '%s'", ks)
	}
	if shard == "" {
		return nil
	}
	shards, err := e.topo.shards(ks, tabletType)
	if err != nil {
		return err
	}
	for _, sh := range shards {
		if sh.Name == shard {
			return nil
		}
	}
	return sqlerr.New(sqlerror.ERBadDb, sqlerror.SSClientError, "Unknown database '%s:%s': keyspace %s has no serving shard %q", ks, shard, ks, shard)
}

// set handles SET of the session variables the gate understands. Other
// variables are refused rather than ignored: silently ignoring sql_mode or
// time_zone would change what queries return.
func (e *Executor) set(ctx context.Context, s *Session, stmt *sqlparser.Set) (*sqltypes.Result, error) {
	for _, expr := range stmt.Exprs {
		if expr.Var.Scope == sqlparser.VariableScope {
			v, err := e.evaluate(ctx, s, expr.Expr)
			if err != nil {
				return nil, err
			}
			s.setUserVariable(expr.Var.Name.String(), v)
			continue
		}
		if expr.Var.Scope == sqlparser.GlobalScope {
			return nil, sqlerr.Unsupported("SET GLOBAL %s (change it on the shards' MySQL servers)", expr.Var.Name.String())
		}
		if _, isDefault := expr.Expr.(*sqlparser.Default); !isDefault && !isSettingValue(expr.Expr) {
			// SET sql_mode = CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES'),
			// SET time_zone = @OLD_TIME_ZONE: the value, computed in the
			// session, is what is set.
			v, err := e.evaluate(ctx, s, expr.Expr)
			if err != nil {
				return nil, err
			}
			expr = &sqlparser.SetExpr{Var: expr.Var, Expr: literalOf(v)}
		}
		name := strings.ToLower(expr.Var.Name.String())
		if gateKeptVariables[name] {
			if err := s.setGateKept(name, expr.Expr); err != nil {
				return nil, err
			}
			continue
		}
		value := strings.ToLower(setValue(expr.Expr))
		if expr.Var.Scope == sqlparser.NextTxScope && (name == "transaction_read_only" || name == "tx_read_only") {
			// SET TRANSACTION READ ONLY | READ WRITE: the next transaction
			// only (SET SESSION TRANSACTION ... is passed on below and
			// holds for every statement).
			on, ok := boolSetting(strings.Trim(value, "'\""))
			if !ok {
				return nil, sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable 'tx_read_only' can't be set to the value of '%s'", value)
			}
			if s.InTransaction {
				return nil, sqlerr.New(erCantChangeTxCharacteristics, "25001", "Transaction characteristics can't be changed while a transaction is in progress")
			}
			s.nextTxReadOnly = on
			continue
		}
		switch name {
		case "autocommit":
			on, ok := boolSetting(value)
			if !ok {
				return nil, sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable 'autocommit' can't be set to the value of '%s'", value)
			}
			if on && !s.Autocommit && s.InTransaction {
				// Turning autocommit on commits the open transaction.
				if err := e.commit(ctx, s); err != nil {
					return nil, err
				}
			}
			if on && !s.InTransaction {
				s.savepoints = nil
			}
			s.Autocommit = on
		case "transaction_isolation", "tx_isolation":
			// MariaDB cannot set it per statement: the tablets set it on
			// each shard's connection before BEGIN.
			level := strings.ToUpper(strings.ReplaceAll(strings.Trim(value, "'\""), "-", " "))
			switch level {
			case "DEFAULT":
				level = ""
			case "READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE":
			default:
				return nil, sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable 'tx_isolation' can't be set to the value of '%s'", value)
			}
			s.TxIsolation = level
		case "workload":
			w := strings.Trim(value, "'\"`")
			switch w {
			case workloadOLTP, workloadOLAP, "dba":
			default:
				return nil, sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable 'workload' can't be set to the value of '%s' (oltp, olap or dba)", value)
			}
			if w == "dba" {
				w = workloadOLTP
			}
			s.Workload = w
		case "transaction_mode":
			mode, ok := parseTransactionMode(value)
			if !ok {
				return nil, sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable 'transaction_mode' can't be set to the value of '%s': use 'single', 'multi' or 'twopc'", strings.Trim(value, "'\""))
			}
			if s.InTransaction && mode != s.TransactionMode {
				return nil, sqlerr.New(sqlerr.ERCantChangeTxCharacteristics, sqlerr.SSCantChangeTxCharacteristics,
					"Transaction characteristics can't be changed while a transaction is in progress: COMMIT or ROLLBACK before SET transaction_mode")
			}
			s.TransactionMode = mode
		case "read_your_writes", "read_your_writes_timeout":
			if err := setReadYourWrites(s, name, value); err != nil {
				return nil, err
			}
		case "no_scatter":
			on, ok := boolSetting(value)
			if !ok {
				return nil, sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable 'no_scatter' can't be set to the value of '%s'", value)
			}
			s.NoScatter = on
		case "names", "character_set_client", "character_set_connection", "character_set_results", "charset", "collation_connection", "character_set_database":
			if !utf8Setting(value) {
				return nil, sqlerr.Unsupported("SET %s = %s: Shardgate speaks utf8mb4 (and utf8) only", name, value)
			}
			if name == "names" || name == "charset" || name == "character_set_results" {
				s.ClientCollation = resultsCollation(strings.Trim(value, "'\"`"))
			}
		default:
			if err := e.setPassedOn(ctx, s, name, expr.Expr); err != nil {
				return nil, err
			}
		}
	}
	return &sqltypes.Result{}, nil
}

// erCantChangeTxCharacteristics is MySQL's ER_CANT_CHANGE_TX_CHARACTERISTICS,
// which vitess's sqlerror does not name.
const erCantChangeTxCharacteristics sqlerror.ErrorCode = 1568

// passedOnAliases maps MySQL variable names to MariaDB's.
var passedOnAliases = map[string]string{"transaction_isolation": "tx_isolation", "transaction_read_only": "tx_read_only"}

// setPassedOn records a session variable the shards apply to every
// statement of the session. It is checked on a shard first, so that an
// unknown variable or a bad value fails the SET, with MariaDB's own error,
// as it would on one server.
func (e *Executor) setPassedOn(ctx context.Context, s *Session, name string, value sqlparser.Expr) error {
	if alias, ok := passedOnAliases[name]; ok {
		name = alias
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return sqlerr.New(sqlerror.ERUnknownSystemVariable, sqlerror.SSUnknownSQLState, "Unknown system variable '%s'", name)
		}
	}
	if _, isDefault := value.(*sqlparser.Default); isDefault {
		s.setSetting(name, "", true)
		return nil
	}
	if !isSettingValue(value) {
		return sqlerr.Unsupported("SET %s to an expression (%s): use a literal value", name, sqlparser.String(value))
	}
	valueSQL := sqlparser.String(value)
	if col, ok := value.(*sqlparser.ColName); ok {
		valueSQL = "'" + col.Name.String() + "'" // SET sql_mode = ANSI: a keyword value
	}
	keyspace := s.Keyspace
	if keyspace == "" {
		if names := e.keyspaceNames(); len(names) > 0 {
			keyspace = names[0]
		}
	}
	if keyspace != "" {
		shards, err := e.topo.shards(keyspace, s.TabletType)
		if err != nil {
			return err
		}
		check := settingsPrefix([]setting{{name: name, value: valueSQL}}) + "SELECT 1"
		if _, err := e.executeAutocommit(ctx, s, keyspace, sqlrouter.ShardQuery{Shard: shards[0].Name, SQL: check}, false); err != nil {
			return err
		}
	}
	s.setSetting(name, valueSQL, false)
	return nil
}

// isSettingValue accepts what SET takes without evaluating anything:
// literals, keywords (ON, ANSI), NULL and signed numbers.
func isSettingValue(e sqlparser.Expr) bool {
	switch v := e.(type) {
	case *sqlparser.Literal, *sqlparser.NullVal, sqlparser.BoolVal:
		return true
	case *sqlparser.ColName:
		return v.Qualifier.IsEmpty()
	case *sqlparser.UnaryExpr:
		_, lit := v.Expr.(*sqlparser.Literal)
		return lit && v.Operator == sqlparser.UMinusOp
	}
	return false
}

// setValue renders a SET value: ON and OFF parse as column names.
func setValue(e sqlparser.Expr) string {
	switch v := e.(type) {
	case *sqlparser.Literal:
		return v.Val
	case *sqlparser.ColName:
		return v.Name.String()
	case sqlparser.BoolVal:
		if v {
			return "1"
		}
		return "0"
	case *sqlparser.NullVal:
		return "null"
	case *sqlparser.Default:
		return "default"
	}
	return sqlparser.String(e)
}

func boolSetting(v string) (on, ok bool) {
	switch v {
	case "1", "on", "true", "default":
		return true, true
	case "0", "off", "false":
		return false, true
	}
	return false, false
}

func utf8Setting(v string) bool {
	v = strings.Trim(v, "'\"`")
	return v == "null" || v == "default" || v == "binary" || strings.HasPrefix(v, "utf8")
}

// show answers SHOW DATABASES (and KEYSPACES), SHOW WARNINGS, SHOW
// VITESS_SHARDS and SHOW VITESS_TABLETS at the gate and sends the
// rest of SHOW to one shard of the keyspace it is about: every shard has
// the same schema.
func (e *Executor) show(ctx context.Context, s *Session, stmt *sqlparser.Show, sql string) (*sqltypes.Result, error) {
	keyspace := s.Keyspace
	switch show := stmt.Internal.(type) {
	case *sqlparser.ShowBasic:
		switch show.Command {
		case sqlparser.Database, sqlparser.Keyspace:
			return e.showDatabases(s, show.Filter), nil
		case sqlparser.VitessShards:
			return e.showVitessShards(s, show.Filter), nil
		case sqlparser.VitessTablets:
			return e.showVitessTablets(show.Filter), nil
		case sqlparser.Column, sqlparser.Index:
			if s.Shard == "" { // a targeted session sends it as it is (below)
				return e.describeTable(ctx, s, stmt, sql)
			}
		case sqlparser.Warnings:
			return s.showWarnings(false, show.Limit)
		case sqlparser.Errors:
			return s.showWarnings(true, show.Limit)
		}
		if !show.DbName.IsEmpty() {
			keyspace = show.DbName.String()
		} else if !show.Tbl.Qualifier.IsEmpty() {
			keyspace = show.Tbl.Qualifier.String()
		}
	case *sqlparser.ShowGrants:
		return e.showGrants(s, show)
	case *sqlparser.ShowCreate:
		if !show.Op.Qualifier.IsEmpty() {
			keyspace = show.Op.Qualifier.String()
		}
	}
	return e.showOnShard(ctx, s, keyspace, sql)
}

// showOnShard sends a SHOW to one shard of keyspace (the session's, or the
// first keyspace when none is selected): the shard the session targets, or
// the first.
func (e *Executor) showOnShard(ctx context.Context, s *Session, keyspace, sql string) (*sqltypes.Result, error) {
	if keyspace == "" {
		names := e.keyspaceNames()
		if len(names) == 0 {
			return nil, sqlerr.New(sqlerror.ERNoDb, sqlerror.SSNoDB, "No database selected")
		}
		keyspace = names[0]
	}
	if _, ok := e.topo.vschema.Load().Keyspace(keyspace); !ok {
		return nil, sqlerr.New(sqlerror.ERBadDb, sqlerror.SSClientError, "Unknown database '%s'", keyspace)
	}
	shards, err := e.topo.shards(keyspace, s.TabletType)
	if err != nil {
		return nil, err
	}
	shard := shards[0].Name
	if s.Shard != "" && keyspace == s.Keyspace {
		shard = s.Shard
	}
	return e.executeLocked(ctx, s, keyspace, sqlrouter.ShardQuery{Shard: shard, SQL: sql}, false)
}

func (e *Executor) keyspaceNames() []string {
	vs := e.topo.vschema.Load()
	names := make([]string, 0, len(vs.Keyspaces))
	for name := range vs.Keyspaces {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (e *Executor) showDatabases(s *Session, filter *sqlparser.ShowFilter) *sqltypes.Result {
	res := &sqltypes.Result{Fields: []*vquerypb.Field{varcharField("Database")}}
	matches := showMatcher(filter)
	rights := e.authz.rights(s)
	for _, name := range e.keyspaceNames() {
		if !matches(name) || !rights.anyOn(name) {
			// As in MariaDB, a user sees the databases it has rights in.
			continue
		}
		res.Rows = append(res.Rows, sqltypes.Row{sqltypes.NewVarChar(name)})
	}
	return res
}

// showMatcher is a SHOW statement's LIKE filter: % and _ (and their
// escapes), ignoring case as MariaDB's default collation does. Without a
// filter every name matches.
func showMatcher(filter *sqlparser.ShowFilter) func(name string) bool {
	if filter == nil || filter.Like == "" {
		return func(string) bool { return true }
	}
	re := sqlparser.LikeToRegexp(strings.ToLower(filter.Like))
	return func(name string) bool { return re.MatchString(strings.ToLower(name)) }
}

// isShow reports whether sql is a SHOW statement (after comments).
func isShow(sql string) bool {
	rest := strings.TrimLeft(sqlparser.StripLeadingComments(sql), " \t\r\n(")
	return len(rest) >= 5 && strings.EqualFold(rest[:4], "show") && strings.ContainsAny(rest[4:5], " \t\r\n")
}

// showUnparsed sends a SHOW the gate cannot parse to one shard of the
// session's keyspace, as it sends other SHOWs: every shard has the same
// schema and routines.
func (e *Executor) showUnparsed(ctx context.Context, s *Session, sql string) (*sqltypes.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, e.queryTimeout)
	defer cancel()
	return e.showOnShard(ctx, s, s.Keyspace, sql)
}

// showGrants answers SHOW GRANTS [FOR user]: the user's grants from the
// users file. Another user's need the admin right on every keyspace.
func (e *Executor) showGrants(s *Session, show *sqlparser.ShowGrants) (*sqltypes.Result, error) {
	user := s.User
	if show.User != nil && show.User.Name != nil && *show.User.Name != "" && !strings.EqualFold(*show.User.Name, "current_user") {
		user = *show.User.Name
	}
	if user != s.User {
		if err := e.authz.checkOne(s, access{keyspace: "*", right: RightAdmin, verb: "SHOW GRANTS FOR another user"}); err != nil {
			return nil, err
		}
	}
	var c *credentials
	if e.authz != nil && e.authz.auth != nil {
		var ok bool
		if c, ok = e.authz.auth.account(user); !ok {
			return nil, sqlerr.New(sqlerror.ERNonExistingGrant, sqlerror.SSClientError, "There is no such grant defined for user '%s' on host '%%'", user)
		}
	} else {
		c = &credentials{rights: &userRights{all: true}}
	}
	host := "%"
	if c.loopback && len(c.networks) == 0 {
		host = "localhost"
	}
	res := &sqltypes.Result{Fields: []*vquerypb.Field{varcharField("Grants for " + user + "@" + host)}}
	res.Fields[0].ColumnLength = 1024
	for _, g := range grantStatements(user, c) {
		res.Rows = append(res.Rows, sqltypes.Row{sqltypes.NewVarChar(g)})
	}
	return res, nil
}
