package gateway

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/gateway/mysqlserver"
)

// User is one entry of the users file (JSON: {"users": [ ... ]}).
//
// A user has a plain Password (fine for tests and local clusters), or the
// hashes MySQL itself stores, so that the file need not hold passwords:
// NativeHash is mysql_native_password's "*<hex SHA1(SHA1(pw))>" (as in
// mysql.user), SHA2Hash is the hex SHA256(SHA256(pw)) that
// caching_sha2_password's fast path checks.
//
// From limits where the user may connect from: "any" (the default),
// "loopback" (127.0.0.0/8, ::1 and Unix sockets), or a comma-separated
// list of networks and addresses ("10.0.0.0/8, 192.168.1.7, loopback").
// Grants say what the user may do (grants.go; none listed: everything).
// MaxConnections bounds the user's MySQL connections at once (0: no
// bound beyond the gate's --max-connections).
type User struct {
	User           string  `json:"user"`
	Password       *string `json:"password,omitempty"`
	NativeHash     string  `json:"native_password_hash,omitempty"`
	SHA2Hash       string  `json:"sha2_password_hash,omitempty"`
	From           string  `json:"from,omitempty"`
	Grants         []Grant `json:"grants,omitempty"`
	MaxConnections int     `json:"max_connections,omitempty"`
}

type usersFile struct {
	Users []User `json:"users"`
}

// credentials are a user's decoded secrets, where they may connect from
// and what they may do.
type credentials struct {
	nativeHash  []byte // SHA1(SHA1(password))
	sha2Hash    []byte // SHA256(SHA256(password))
	password    string
	hasPassword bool // a plain password was given (it may be empty)
	// networks the user may connect from; nil: anywhere. loopback adds
	// 127.0.0.0/8, ::1 and Unix sockets.
	networks       []*net.IPNet
	loopback       bool
	rights         *userRights
	grants         []Grant // as written, for SHOW GRANTS
	from           string
	maxConnections int
}

// Authenticator checks MySQL logins against the users file's users
// (mysql_native_password and caching_sha2_password's fast path), and the
// gRPC API's plain passwords against the same list, and knows each
// user's rights. Reload replaces the users while the gate runs: sessions
// keep going and see the new rights at their next statement.
type Authenticator struct {
	users atomic.Pointer[userTable]
	// throttle slows repeated failures from one address; audit logs
	// every failure (nil: not logged), failures counts them.
	throttle *loginThrottle
	audit    *zap.Logger
	failures prometheus.Counter
}

// Audit logs every failed login to log and counts them in reg.
func (a *Authenticator) Audit(log *zap.Logger, reg prometheus.Registerer) {
	a.audit = log
	a.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shardgate_login_failures_total", Help: "Failed logins (MySQL and gRPC): unknown user, wrong password or address not allowed.",
	})
	if reg != nil {
		reg.MustRegister(a.failures)
	}
}

// loginFailed records a failed login and waits as the throttle says.
func (a *Authenticator) loginFailed(ctx context.Context, user string, addr net.Addr, protocol string) {
	delay := a.throttle.failed(addr)
	if a.failures != nil {
		a.failures.Inc()
	}
	if a.audit != nil {
		a.audit.Warn("login failed", zap.String("user", user), zap.String("client", addrString(addr)), zap.String("protocol", protocol), zap.Duration("answer_delayed", delay))
	}
	wait(ctx, delay)
}

func addrString(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	return addr.String()
}

// userTable is one version of the users.
type userTable struct {
	users map[string]*credentials
}

// DefaultUsers is what a gate without a users file accepts: like a fresh
// MariaDB, root with an empty password, from loopback only.
func DefaultUsers() []User {
	empty := ""
	return []User{{User: "root", Password: &empty, From: "loopback"}}
}

// LoadUsersFile reads a users file.
func LoadUsersFile(path string) ([]User, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read users file: %w", err)
	}
	users, err := parseUsersFile(path, data)
	if err != nil {
		return nil, err
	}
	if _, err := newUserTable(users); err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return users, nil
}

// parseUsersFile decodes a users file's content.
func parseUsersFile(path string, data []byte) ([]User, error) {
	var f usersFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("users file %s: %w (expected {\"users\": [{\"user\": ..., \"password\": ...}]})", path, err)
	}
	return f.Users, nil
}

// NewAuthenticator validates and indexes users.
func NewAuthenticator(users []User) (*Authenticator, error) {
	a := &Authenticator{throttle: newLoginThrottle()}
	if err := a.Reload(users); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload validates users and, when they are valid, puts them in place of
// the current ones; otherwise the current ones stay.
func (a *Authenticator) Reload(users []User) error {
	t, err := newUserTable(users)
	if err != nil {
		return err
	}
	a.users.Store(t)
	return nil
}

func newUserTable(users []User) (*userTable, error) {
	t := &userTable{users: map[string]*credentials{}}
	for i, u := range users {
		if u.User == "" {
			return nil, fmt.Errorf("users[%d]: user name is empty", i)
		}
		if _, dup := t.users[u.User]; dup {
			return nil, fmt.Errorf("user %q is listed twice", u.User)
		}
		c := &credentials{from: u.From, grants: u.Grants, maxConnections: u.MaxConnections}
		if err := c.parseFrom(u.From); err != nil {
			return nil, fmt.Errorf("user %q: %w", u.User, err)
		}
		rights, err := compileGrants(u.User, u.Grants)
		if err != nil {
			return nil, err
		}
		c.rights = rights
		if u.MaxConnections < 0 {
			return nil, fmt.Errorf("user %q: max_connections must not be negative", u.User)
		}
		if u.Password != nil {
			c.hasPassword, c.password = true, *u.Password
			if c.password != "" {
				s1 := sha1.Sum([]byte(c.password))
				s2 := sha1.Sum(s1[:])
				c.nativeHash = s2[:]
				h1 := sha256.Sum256([]byte(c.password))
				h2 := sha256.Sum256(h1[:])
				c.sha2Hash = h2[:]
			}
		}
		if u.NativeHash != "" {
			h, err := hex.DecodeString(strings.TrimPrefix(u.NativeHash, "*"))
			if err != nil || len(h) != sha1.Size {
				return nil, fmt.Errorf("user %q: native_password_hash must be \"*\" and 40 hex digits", u.User)
			}
			c.nativeHash = h
		}
		if u.SHA2Hash != "" {
			h, err := hex.DecodeString(u.SHA2Hash)
			if err != nil || len(h) != sha256.Size {
				return nil, fmt.Errorf("user %q: sha2_password_hash must be 64 hex digits", u.User)
			}
			c.sha2Hash = h
		}
		if !c.hasPassword && c.nativeHash == nil && c.sha2Hash == nil {
			return nil, fmt.Errorf("user %q has no password or password hash", u.User)
		}
		t.users[u.User] = c
	}
	return t, nil
}

// parseFrom reads a user's "from".
func (c *credentials) parseFrom(from string) error {
	if from == "" || from == "any" {
		return nil
	}
	for _, part := range strings.Split(from, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "loopback":
			c.loopback = true
			continue
		case strings.Contains(part, "/"):
			_, n, err := net.ParseCIDR(part)
			if err != nil {
				return fmt.Errorf("from %q: %q is not a network (10.0.0.0/8) or address", from, part)
			}
			c.networks = append(c.networks, n)
			continue
		}
		ip := net.ParseIP(part)
		if ip == nil {
			return fmt.Errorf("from %q: %q is not \"any\", \"loopback\", a network (10.0.0.0/8) or an address", from, part)
		}
		bits := 8 * len(ip.To16())
		if v4 := ip.To4(); v4 != nil {
			ip, bits = v4, 32
		}
		c.networks = append(c.networks, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
	}
	if len(c.networks) == 0 && !c.loopback {
		return fmt.Errorf("from %q names no network", from)
	}
	return nil
}

// allowsFrom reports whether a connection from addr may log in as c.
func (c *credentials) allowsFrom(addr net.Addr) bool {
	if c.networks == nil && !c.loopback {
		return true
	}
	if c.loopback && isLoopback(addr) {
		return true
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	for _, n := range c.networks {
		if n.Contains(tcp.IP) {
			return true
		}
	}
	return false
}

// rightsOf returns a user's rights; a user no longer in the users file
// (a reload removed it) has none.
func (a *Authenticator) rightsOf(user string) *userRights {
	if c, ok := a.users.Load().users[user]; ok {
		return c.rights
	}
	return &userRights{}
}

// account returns what the users file says of a user.
func (a *Authenticator) account(user string) (*credentials, bool) {
	c, ok := a.users.Load().users[user]
	return c, ok
}

// accessDenied is MySQL's 1045, worded as MySQL words it.
func accessDenied(user string, addr net.Addr, usedPassword bool) error {
	host := "localhost"
	if tcp, ok := addr.(*net.TCPAddr); ok {
		host = tcp.IP.String()
	}
	using := "NO"
	if usedPassword {
		using = "YES"
	}
	return sqlerror.NewSQLErrorf(sqlerror.ERAccessDeniedError, sqlerror.SSAccessDeniedError,
		"Access denied for user '%s'@'%s' (using password: %s)", user, host, using)
}

func (a *Authenticator) lookup(user string, addr net.Addr) (*credentials, bool) {
	c, ok := a.users.Load().users[user]
	if !ok || !c.allowsFrom(addr) {
		return nil, false
	}
	return c, true
}

func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// emptyPassword reports whether c accepts the empty password.
func (c *credentials) emptyPassword() bool { return c.hasPassword && c.password == "" }

// Authenticate implements mysqlserver.Authenticator: mysql_native_password
// against the native hash (a plain password has both hashes), and
// caching_sha2_password's fast path against the SHA2 hash. A client that
// chose the plugin the user has no hash for is switched to the other.
func (a *Authenticator) Authenticate(ctx context.Context, req *mysqlserver.AuthRequest) mysqlserver.AuthResult {
	res := a.authenticate(req)
	switch res.Verdict {
	case mysqlserver.AuthReject:
		a.loginFailed(ctx, req.User, req.RemoteAddr, "mysql")
	case mysqlserver.AuthAccept:
		a.throttle.succeeded(req.RemoteAddr)
	}
	return res
}

func (a *Authenticator) authenticate(req *mysqlserver.AuthRequest) mysqlserver.AuthResult {
	denied := mysqlserver.Reject(accessDenied(req.User, req.RemoteAddr, len(req.Response) > 0))
	c, ok := a.lookup(req.User, req.RemoteAddr)
	if !ok {
		return denied
	}
	switch {
	case req.Cleartext:
		if c.matches(string(req.Response)) {
			return mysqlserver.Accept()
		}
		return denied
	case len(req.Response) == 0:
		if c.emptyPassword() {
			return mysqlserver.Accept()
		}
		return denied
	case c.nativeHash == nil && c.sha2Hash == nil:
		return denied // the empty password, and the client sent one
	}
	switch req.Plugin {
	case mysqlserver.NativePassword:
		if c.nativeHash == nil {
			return mysqlserver.SwitchTo(mysqlserver.CachingSHA2Password)
		}
		if mysqlserver.CheckNativePassword(req.Scramble, req.Response, c.nativeHash) {
			return mysqlserver.Accept()
		}
	case mysqlserver.CachingSHA2Password:
		if c.sha2Hash == nil {
			return mysqlserver.SwitchTo(mysqlserver.NativePassword)
		}
		if mysqlserver.CheckCachingSHA2(req.Scramble, req.Response, c.sha2Hash) {
			return mysqlserver.Accept()
		}
	}
	return denied
}

// matches reports whether password is c's, in whichever form c keeps it.
func (c *credentials) matches(password string) bool {
	switch {
	case c.hasPassword:
		return subtle.ConstantTimeCompare([]byte(c.password), []byte(password)) == 1
	case c.sha2Hash != nil:
		h1 := sha256.Sum256([]byte(password))
		h2 := sha256.Sum256(h1[:])
		return subtle.ConstantTimeCompare(h2[:], c.sha2Hash) == 1
	case c.nativeHash != nil:
		s1 := sha1.Sum([]byte(password))
		s2 := sha1.Sum(s1[:])
		return subtle.ConstantTimeCompare(s2[:], c.nativeHash) == 1
	}
	return false
}

// CheckPassword checks a user's plain password, as the gRPC API receives
// it (over TLS, or on loopback), against the same users as MySQL logins.
func (a *Authenticator) CheckPassword(ctx context.Context, user, password string, addr net.Addr) error {
	c, ok := a.lookup(user, addr)
	if !ok || !c.matches(password) {
		a.loginFailed(ctx, user, addr, "grpc")
		return accessDenied(user, addr, password != "")
	}
	return nil
}

// userConnections counts each user's open MySQL connections, for the
// users file's max_connections.
type userConnections struct {
	mu     sync.Mutex
	counts map[string]int
}

// erUserLimitReached is MySQL's ER_USER_LIMIT_REACHED.
const erUserLimitReached = 1226

// open counts a new connection of user, or refuses it when the user has
// as many as the users file allows.
func (u *userConnections) open(user string, limit int) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if limit > 0 && u.counts[user] >= limit {
		return sqlerror.NewSQLErrorf(erUserLimitReached, sqlerror.SSClientError,
			"User '%s' has exceeded the 'max_user_connections' resource (current value: %d)", user, limit)
	}
	if u.counts == nil {
		u.counts = map[string]int{}
	}
	u.counts[user]++
	return nil
}

func (u *userConnections) close(user string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.counts[user]--; u.counts[user] <= 0 {
		delete(u.counts, user)
	}
}
