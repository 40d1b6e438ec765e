package gateway

import (
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"vitess.io/vitess/go/vt/sqlparser"
)

// statementAccess is what a statement needs of its user's rights, or the
// refusal no user escapes (grants.go). It is computed once per cached
// plan and prepared statement.
type statementAccess struct {
	needs   []access
	refusal error
}

func accessOf(stmt sqlparser.Statement, keyspace, shard string) *statementAccess {
	needs, err := requiredAccess(stmt, keyspace, shard)
	return &statementAccess{needs: needs, refusal: err}
}

// accessSlot keeps a statement's access; the zero value is empty.
type accessSlot struct {
	p        atomic.Pointer[statementAccess]
	keyspace atomic.Pointer[string]
}

// of returns the access of stmt in keyspace, computing it on first use
// (or when the keyspace changed, for a prepared statement).
func (a *accessSlot) of(stmt sqlparser.Statement, keyspace string) *statementAccess {
	if got := a.p.Load(); got != nil {
		if ks := a.keyspace.Load(); ks != nil && *ks == keyspace {
			return got
		}
	}
	acc := accessOf(stmt, keyspace, "")
	a.keyspace.Store(&keyspace)
	a.p.Store(acc)
	return acc
}

// authorizer checks statements against their users' rights, and counts
// and logs what it refuses.
type authorizer struct {
	auth   *Authenticator // nil: every user has every right
	log    *zap.Logger
	denied *prometheus.CounterVec
}

func newAuthorizer(auth *Authenticator, log *zap.Logger, reg prometheus.Registerer) *authorizer {
	a := &authorizer{auth: auth, log: log, denied: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shardgate_access_denied_total",
		Help: "Statements refused for want of a right (read, write, ddl, admin), or because no user may run them through the gate (refused).",
	}, []string{"right"})}
	if reg != nil {
		reg.MustRegister(a.denied)
	}
	return a
}

// rights are the session's user's current rights.
func (a *authorizer) rights(s *Session) *userRights {
	if a == nil || a.auth == nil {
		return &userRights{all: true}
	}
	t := a.auth.users.Load()
	if s.rightsOf != t {
		s.rightsOf, s.rights = t, a.auth.rightsOf(s.User)
	}
	return s.rights
}

// check returns the error the session gets for what acc needs, if any.
func (a *authorizer) check(s *Session, acc *statementAccess) error {
	if acc.refusal != nil {
		a.refuse(s, "refused", "", "", acc.refusal)
		return acc.refusal
	}
	if len(acc.needs) == 0 {
		return nil
	}
	r := a.rights(s)
	if r.all {
		return nil
	}
	for _, n := range acc.needs {
		var ok bool
		if n.right == 0 {
			ok = r.anyOn(n.keyspace)
		} else {
			ok = r.allows(n.keyspace, n.table, n.right)
		}
		if !ok {
			err := denied(s.User, s.ClientAddr, n)
			a.refuse(s, n.right.String(), n.keyspace, n.table, err)
			return err
		}
	}
	return nil
}

// checkOne checks a single right (for what is known only while a
// statement runs: LOAD DATA's table, KILL's target).
func (a *authorizer) checkOne(s *Session, n access) error {
	return a.check(s, &statementAccess{needs: []access{n}})
}

func (a *authorizer) refuse(s *Session, right, keyspace, table string, err error) {
	if a == nil {
		return
	}
	if right == "" {
		right = "any"
	}
	a.denied.WithLabelValues(right).Inc()
	a.log.Warn("access denied", zap.String("user", s.User), zap.String("client", s.ClientAddr), zap.Uint32("connection_id", s.ConnectionID),
		zap.String("right", right), zap.String("keyspace", keyspace), zap.String("table", table), zap.Error(err))
}

// systemSchemaNeeds says what reading a system schema takes:
// information_schema is everyone's (as in MySQL), performance_schema and
// sys show every session's statements and need the admin right.
func systemSchemaNeeds(keyspace string) (skip, admin bool) {
	switch strings.ToLower(keyspace) {
	case "information_schema":
		return true, false
	case "performance_schema", "sys":
		return false, true
	}
	return false, false
}

// maxUserConnections is the users file's max_connections of user (0: no
// bound).
func (e *Executor) maxUserConnections(user string) int {
	if e.authz == nil || e.authz.auth == nil {
		return 0
	}
	if c, ok := e.authz.auth.account(user); ok {
		return c.maxConnections
	}
	return 0
}
