package gateway

import (
	"fmt"
	"net"
	"path"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// Rights at the gate. A user of the users file may list grants: per
// keyspace and table pattern, the rights to read, write, change the
// schema (ddl) or administer (admin: USE ks:shard, VEXPLAIN, SHOW
// VITESS_*, SHOW QUERY STATS, KILL of others' connections, FLUSH, the
// session settings that bypass the binlog or forge its positions). A user
// who lists none has every right, as before grants existed.
//
// Some things no user may do through the gate, whatever the grants,
// because they reach past the shard's data to its host or server
// (refusedEverywhere): files (LOAD_FILE, INTO OUTFILE/DUMPFILE, LOAD DATA
// without LOCAL), the mysql schema and the tablets' _shardgate database,
// SET GLOBAL, and user management (users live in the users file).

// Right is a kind of access a grant gives.
type Right uint8

const (
	RightRead Right = 1 << iota
	RightWrite
	RightDDL
	RightAdmin

	rightsAll = RightRead | RightWrite | RightDDL | RightAdmin
)

var rightNames = []struct {
	name  string
	right Right
}{{"read", RightRead}, {"write", RightWrite}, {"ddl", RightDDL}, {"admin", RightAdmin}}

func (r Right) String() string {
	var names []string
	for _, n := range rightNames {
		if r&n.right != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// Grant is one entry of a user's "grants" in the users file:
//
//	{"keyspace": "commerce", "tables": "order*", "rights": ["read", "write"]}
//
// Keyspace and Tables are names or glob patterns (*, ?, [a-z]); Tables
// defaults to every table. Rights are read, write, ddl, admin, or all.
type Grant struct {
	Keyspace string   `json:"keyspace"`
	Tables   string   `json:"tables,omitempty"`
	Rights   []string `json:"rights"`
}

type grant struct {
	keyspace, tables string
	rights           Right
}

// userRights are what one user may do.
type userRights struct {
	// all: every right on everything (a user who lists no grants).
	all    bool
	grants []grant
}

func compileGrants(user string, in []Grant) (*userRights, error) {
	if in == nil {
		return &userRights{all: true}, nil
	}
	r := &userRights{}
	for i, g := range in {
		cg := grant{keyspace: g.Keyspace, tables: g.Tables}
		if cg.tables == "" {
			cg.tables = "*"
		}
		for _, p := range []string{cg.keyspace, cg.tables} {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				return nil, fmt.Errorf("user %q: grants[%d]: %q is not a name or pattern", user, i, p)
			}
		}
		if len(g.Rights) == 0 {
			return nil, fmt.Errorf("user %q: grants[%d] gives no rights (read, write, ddl, admin or all)", user, i)
		}
		for _, name := range g.Rights {
			right, ok := parseRight(name)
			if !ok {
				return nil, fmt.Errorf("user %q: grants[%d]: right %q: use read, write, ddl, admin or all", user, i, name)
			}
			cg.rights |= right
		}
		r.grants = append(r.grants, cg)
	}
	return r, nil
}

func parseRight(name string) (Right, bool) {
	if strings.EqualFold(name, "all") {
		return rightsAll, true
	}
	for _, n := range rightNames {
		if strings.EqualFold(n.name, name) {
			return n.right, true
		}
	}
	return 0, false
}

func matches(pattern, name string) bool {
	ok, _ := path.Match(pattern, strings.ToLower(name))
	return ok || pattern == name
}

// allows reports whether the user has right on table of keyspace (table
// "": on the keyspace as a whole, for USE and database DDL, which any
// grant of the keyspace with that right gives).
func (r *userRights) allows(keyspace, table string, right Right) bool {
	if r.all {
		return true
	}
	for _, g := range r.grants {
		if g.rights&right == right && matches(g.keyspace, keyspace) && (table == "" || matches(g.tables, table)) {
			return true
		}
	}
	return false
}

// anyOn reports whether the user has some right in keyspace.
func (r *userRights) anyOn(keyspace string) bool {
	if r.all {
		return true
	}
	for _, g := range r.grants {
		if matches(g.keyspace, keyspace) {
			return true
		}
	}
	return false
}

// access is one right a statement needs.
type access struct {
	keyspace, table string // table "": the keyspace itself
	right           Right
	// verb names the statement in a refusal (SELECT, INSERT, DROP...).
	verb string
}

// requiredAccess lists the rights stmt needs, run in keyspace (the
// session's), or refuses it when no one may run it through the gate.
func requiredAccess(stmt sqlparser.Statement, keyspace, shard string) ([]access, error) {
	if err := refusedEverywhere(stmt); err != nil {
		return nil, err
	}
	var needs []access
	if shard != "" {
		// USE ks:shard sends statements to a shard as they are: rows
		// written there bypass the vindexes.
		needs = append(needs, access{keyspace: keyspace, verb: "USE"},
			access{keyspace: keyspace, right: RightAdmin, verb: "statements on one shard (USE " + keyspace + ":" + shard + ")"})
	}
	tables := namedTables(stmt, keyspace)
	each := func(right Right, verb string, skip map[tableRefKey]bool) {
		for _, t := range tables {
			if skip[t] || t.keyspace == "" {
				// Unqualified with no keyspace selected: planning answers 1046.
				continue
			}
			switch systemOnly, admin := systemSchemaNeeds(t.keyspace); {
			case systemOnly:
			case admin:
				needs = append(needs, access{keyspace: t.keyspace, right: RightAdmin, verb: verb + " on " + t.keyspace})
			default:
				needs = append(needs, access{keyspace: t.keyspace, table: t.table, right: right, verb: verb})
			}
		}
	}
	switch s := stmt.(type) {
	case *sqlparser.Select, *sqlparser.Union:
		each(RightRead, "SELECT", nil)
	case *sqlparser.Insert:
		verb := "INSERT"
		if s.Action == sqlparser.ReplaceAct {
			verb = "REPLACE"
		}
		target := tableKey(s.Table.Expr.(sqlparser.TableName), keyspace)
		needs = append(needs, access{keyspace: target.keyspace, table: target.table, right: RightWrite, verb: verb})
		each(RightRead, "SELECT", map[tableRefKey]bool{target: true})
	case *sqlparser.Update:
		written := writtenTables(s.TableExprs, nil, keyspace)
		for t := range written {
			needs = append(needs, access{keyspace: t.keyspace, table: t.table, right: RightWrite, verb: "UPDATE"})
		}
		each(RightRead, "SELECT", written)
	case *sqlparser.Delete:
		written := writtenTables(s.TableExprs, s.Targets, keyspace)
		for t := range written {
			needs = append(needs, access{keyspace: t.keyspace, table: t.table, right: RightWrite, verb: "DELETE"})
		}
		each(RightRead, "SELECT", written)
	case *sqlparser.Load:
		// Its table is known once load_data.go parses it: checked there.
	case *sqlparser.CreateDatabase:
		needs = append(needs, access{keyspace: s.DBName.String(), right: RightDDL, verb: "CREATE"})
	case *sqlparser.DropDatabase:
		needs = append(needs, access{keyspace: s.DBName.String(), right: RightDDL, verb: "DROP"})
	case *sqlparser.AlterDatabase:
		needs = append(needs, access{keyspace: s.DBName.String(), right: RightDDL, verb: "ALTER"})
	case sqlparser.DDLStatement:
		each(RightDDL, strings.ToUpper(strings.Fields(sqlparser.String(s))[0]), nil)
	case *sqlparser.Use:
		target := s.DBName.String()
		if ks, sh, ok := strings.Cut(strings.SplitN(target, "@", 2)[0], ":"); ok {
			// No right in the keyspace: 1044, as for USE ks; some, but
			// not admin: 1227.
			needs = append(needs, access{keyspace: ks, verb: "USE"},
				access{keyspace: ks, right: RightAdmin, verb: "statements on one shard (USE " + ks + ":" + sh + ")"})
		} else if target != "" {
			needs = append(needs, access{keyspace: strings.SplitN(target, "@", 2)[0], verb: "USE"})
		}
	case *sqlparser.LockTables:
		for _, t := range s.Tables {
			ate, ok := t.Table.(*sqlparser.AliasedTableExpr)
			if !ok {
				continue
			}
			tn, ok := ate.Expr.(sqlparser.TableName)
			if !ok {
				continue
			}
			k := tableKey(tn, keyspace)
			right, verb := RightRead, "LOCK TABLES ... READ"
			if t.Lock == sqlparser.Write || t.Lock == sqlparser.LowPriorityWrite {
				right, verb = RightWrite, "LOCK TABLES ... WRITE"
			}
			needs = append(needs, access{keyspace: k.keyspace, table: k.table, right: right, verb: verb})
		}
	case *sqlparser.Show:
		switch basic := s.Internal.(type) {
		case *sqlparser.ShowBasic:
			switch {
			case strings.HasPrefix(strings.TrimSpace(strings.ToLower(basic.Command.ToString())), "vitess"):
				needs = append(needs, access{keyspace: keyspace, right: RightAdmin, verb: "SHOW " + strings.ToUpper(strings.TrimSpace(basic.Command.ToString()))})
			case !basic.Tbl.IsEmpty():
				each(RightRead, "SHOW", nil)
			case !basic.DbName.IsEmpty():
				needs = append(needs, access{keyspace: basic.DbName.String(), verb: "SHOW"})
			}
		default:
			each(RightRead, "SHOW", nil)
		}
	case *sqlparser.ExplainTab:
		each(RightRead, "SELECT", nil)
	case *sqlparser.ExplainStmt:
		return requiredAccess(s.Statement, keyspace, shard)
	case *sqlparser.VExplainStmt:
		needs = append(needs, access{keyspace: keyspace, right: RightAdmin, verb: "VEXPLAIN"})
	case *sqlparser.Flush:
		needs = append(needs, access{keyspace: "*", right: RightAdmin, verb: "FLUSH"})
	case *sqlparser.OtherAdmin, *sqlparser.CallProc:
		needs = append(needs, access{keyspace: keyspace, right: RightAdmin, verb: strings.ToUpper(strings.Fields(sqlparser.String(stmt))[0])})
	case *sqlparser.Set:
		for _, e := range s.Exprs {
			if bypassesReplication[strings.ToLower(e.Var.Name.String())] && e.Var.Scope != sqlparser.VariableScope {
				needs = append(needs, access{keyspace: "*", right: RightAdmin, verb: "SET " + e.Var.Name.String()})
			}
		}
	}
	return needs, nil
}

// bypassesReplication are the session variables that would keep writes
// out of the binlog or forge their GTIDs: resharding streams, replicas
// and backups read the binlog, so only administrators may set them.
var bypassesReplication = map[string]bool{
	"sql_log_bin": true, "skip_replication": true, "gtid_domain_id": true, "gtid_seq_no": true,
	"server_id": true, "pseudo_slave_mode": true, "gtid_next": true, "sql_log_off": true,
}

type tableRefKey struct{ keyspace, table string }

func tableKey(t sqlparser.TableName, keyspace string) tableRefKey {
	if q := t.Qualifier.String(); q != "" {
		keyspace = q
	}
	return tableRefKey{keyspace: keyspace, table: strings.ToLower(t.Name.String())}
}

// namedTables lists the tables a statement names (aliases and column
// qualifiers excluded), with their keyspaces, once each.
func namedTables(stmt sqlparser.Statement, keyspace string) []tableRefKey {
	var out []tableRefKey
	seen := map[tableRefKey]bool{}
	_ = sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
		switch n := node.(type) {
		case *sqlparser.ColName, *sqlparser.StarExpr:
			return false, nil
		case sqlparser.TableName:
			if n.Name.IsEmpty() || n.Qualifier.IsEmpty() && strings.EqualFold(n.Name.String(), "dual") {
				return true, nil
			}
			k := tableKey(n, keyspace)
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
		return true, nil
	}, stmt)
	return out
}

// writtenTables are the tables an UPDATE or DELETE writes: the targets a
// multi-table DELETE names (by table or alias), else every table of its
// table list outside subqueries.
func writtenTables(from []sqlparser.TableExpr, targets sqlparser.TableNames, keyspace string) map[tableRefKey]bool {
	aliases := map[string]tableRefKey{}
	var all []tableRefKey
	for _, te := range from {
		_ = sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
			switch n := node.(type) {
			case *sqlparser.DerivedTable, *sqlparser.Subquery:
				return false, nil
			case *sqlparser.AliasedTableExpr:
				if tn, ok := n.Expr.(sqlparser.TableName); ok {
					k := tableKey(tn, keyspace)
					all = append(all, k)
					aliases[strings.ToLower(tn.Name.String())] = k
					if !n.As.IsEmpty() {
						aliases[strings.ToLower(n.As.String())] = k
					}
				}
				return false, nil
			}
			return true, nil
		}, te)
	}
	out := map[tableRefKey]bool{}
	if len(targets) == 0 {
		for _, k := range all {
			out[k] = true
		}
		return out
	}
	for _, t := range targets {
		if k, ok := aliases[strings.ToLower(t.Name.String())]; ok && t.Qualifier.IsEmpty() {
			out[k] = true
		} else {
			out[tableKey(t, keyspace)] = true
		}
	}
	return out
}

// forbiddenSchemas are databases no statement through the gate may name:
// MySQL's users and privileges, and the tablets' own bookkeeping.
var forbiddenSchemas = map[string]bool{"mysql": true, "_shardgate": true}

// refusedEverywhere refuses what no user may run through the gate.
func refusedEverywhere(stmt sqlparser.Statement) error {
	var refusal error
	_ = sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
		switch n := node.(type) {
		case *sqlparser.FuncExpr:
			if n.Name.EqualString("load_file") {
				refusal = needPrivilege("FILE", "LOAD_FILE reads files on a shard's host")
			}
		case *sqlparser.SelectInto:
			if n.Type == sqlparser.IntoOutfile || n.Type == sqlparser.IntoOutfileS3 || n.Type == sqlparser.IntoDumpfile {
				refusal = needPrivilege("FILE", "SELECT ... INTO OUTFILE and INTO DUMPFILE write files on a shard's host; read the rows with a client")
			}
		case sqlparser.TableName:
			if q := strings.ToLower(n.Qualifier.String()); forbiddenSchemas[q] {
				refusal = sqlerr.New(sqlerror.ERTableAccessDenied, sqlerror.SSClientError,
					"%s command denied for table `%s`.`%s`: the %s database of the shards is not reachable through the gate", statementVerb(stmt), q, n.Name.String(), q)
			}
		case *sqlparser.Variable:
			if n.Scope == sqlparser.GlobalScope || n.Scope == sqlparser.PersistSysScope || n.Scope == sqlparser.PersistOnlySysScope {
				if _, isSet := stmt.(*sqlparser.Set); isSet {
					refusal = needPrivilege("SUPER", "SET GLOBAL changes a shard's server for everyone; change it on the shards' MariaDB configuration")
				}
			}
		}
		return refusal == nil, nil
	}, stmt)
	if refusal != nil {
		return refusal
	}
	// (LOAD DATA without LOCAL is refused where it is parsed, load_data.go.)
	switch s := stmt.(type) {
	case *sqlparser.Use:
		name := strings.ToLower(strings.SplitN(strings.SplitN(s.DBName.String(), ":", 2)[0], "@", 2)[0])
		if forbiddenSchemas[name] {
			return sqlerr.New(sqlerror.ERDBAccessDenied, sqlerror.SSClientError, "Access denied to database '%s': the shards' %s database is not reachable through the gate", name, name)
		}
	case *sqlparser.CreateDatabase:
		if forbiddenSchemas[strings.ToLower(s.DBName.String())] {
			return sqlerr.New(sqlerror.ERDBAccessDenied, sqlerror.SSClientError, "Access denied to database '%s'", s.DBName.String())
		}
	case *sqlparser.DropDatabase:
		if forbiddenSchemas[strings.ToLower(s.DBName.String())] {
			return sqlerr.New(sqlerror.ERDBAccessDenied, sqlerror.SSClientError, "Access denied to database '%s'", s.DBName.String())
		}
	}
	return nil
}

func needPrivilege(privilege, why string) error {
	return sqlerr.New(sqlerror.ERSpecifiedAccessDenied, sqlerror.SSClientError,
		"Access denied; you need (at least one of) the %s privilege(s) for this operation: %s", privilege, why)
}

// statementVerb is the statement's first word, upper-cased.
func statementVerb(stmt sqlparser.Statement) string {
	if f := strings.Fields(sqlparser.String(stmt)); len(f) > 0 {
		return strings.ToUpper(f[0])
	}
	return "STATEMENT"
}

// userManagement recognizes statements that manage users or the
// server, which the parser does not know: they are refused as MariaDB
// refuses them to a user without the privilege.
func userManagement(sql string) error {
	words := strings.Fields(strings.ToLower(sqlparser.StripLeadingComments(sql)))
	if len(words) < 2 {
		return nil
	}
	first, second := words[0], words[1]
	switch {
	case (first == "create" || first == "drop" || first == "alter" || first == "rename") && (second == "user" || second == "role"),
		first == "grant", first == "revoke", first == "set" && (second == "password" || second == "role" || second == "default"):
		return needPrivilege("CREATE USER", "users and their rights are kept in the gate's users file (--users-file), not on the shards")
	case first == "install" || first == "uninstall" || first == "shutdown" || first == "create" && (second == "server" || second == "function" && strings.Contains(sql, "soname")):
		return needPrivilege("SUPER", "the shards' servers are administered on their hosts, not through the gate")
	}
	return nil
}

// denied is the MySQL error for a missing right, worded as MariaDB words
// it: 1142 for a table, 1044 for a keyspace, 1227 for administration.
func denied(user, clientAddr string, a access) error {
	host := clientHost(clientAddr)
	switch {
	case a.right == RightAdmin:
		return sqlerr.New(sqlerror.ERSpecifiedAccessDenied, sqlerror.SSClientError,
			"Access denied for user '%s'@'%s'; you need the admin right on keyspace %s (in the users file) for %s", user, host, a.keyspace, a.verb)
	case a.table == "":
		return sqlerr.New(sqlerror.ERDBAccessDenied, sqlerror.SSClientError, "Access denied for user '%s'@'%s' to database '%s'", user, host, a.keyspace)
	default:
		return sqlerr.New(sqlerror.ERTableAccessDenied, sqlerror.SSClientError,
			"%s command denied to user '%s'@'%s' for table `%s`.`%s`", a.verb, user, host, a.keyspace, a.table)
	}
}

func clientHost(addr string) string {
	if addr == "" {
		return "localhost"
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return "localhost"
		}
		return h
	}
	return addr
}

// grantStatements renders a user's rights as MariaDB's SHOW GRANTS
// would: one GRANT per grant of the users file, with MySQL's privilege
// names for each right.
func grantStatements(user string, c *credentials) []string {
	host := "%"
	if c.loopback && len(c.networks) == 0 {
		host = "localhost"
	} else if c.from != "" && c.from != "any" {
		host = c.from
	}
	to := fmt.Sprintf(" TO `%s`@`%s`", user, host)
	if c.rights.all {
		return []string{"GRANT ALL PRIVILEGES ON *.* TO `" + user + "`@`" + host + "` WITH GRANT OPTION"}
	}
	out := []string{"GRANT USAGE ON *.*" + to}
	for _, g := range c.rights.grants {
		var privileges []string
		for _, p := range []struct {
			right Right
			names []string
		}{
			{RightRead, []string{"SELECT", "SHOW VIEW"}},
			{RightWrite, []string{"INSERT", "UPDATE", "DELETE"}},
			{RightDDL, []string{"CREATE", "ALTER", "DROP", "INDEX", "CREATE VIEW"}},
			{RightAdmin, []string{"PROCESS", "SUPER"}},
		} {
			if g.rights&p.right != 0 {
				privileges = append(privileges, p.names...)
			}
		}
		if g.rights == rightsAll {
			privileges = []string{"ALL PRIVILEGES"}
		}
		out = append(out, fmt.Sprintf("GRANT %s ON %s.%s%s", strings.Join(privileges, ", "), grantObject(g.keyspace), grantObject(g.tables), to))
	}
	return out
}

// grantObject renders a name or pattern as SHOW GRANTS does: * bare, a
// name quoted (a pattern's * stays inside the quotes).
func grantObject(p string) string {
	if p == "*" {
		return "*"
	}
	return "`" + strings.ReplaceAll(p, "`", "``") + "`"
}
