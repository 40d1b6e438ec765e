package mysqlserver

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql/sqlerror"
)

// Connection phase: the server's handshake (protocol 10), the client's
// response (after an optional TLS upgrade), authentication with plugin
// switches, then the handler's NewConnection and the client's database.

func errHandshake() error { return newError(erHandshake, "08S01", "Bad handshake") }

// newScramble fills s with printable random bytes other than NUL and '$'
// (some clients read the scramble as a NUL-terminated string).
func newScramble(s []byte) {
	if _, err := rand.Read(s); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	for i := range s {
		s[i] &= 0x7f
		if s[i] == 0 || s[i] == '$' {
			s[i]++
		}
	}
}

func (c *Conn) serverCapabilities() uint32 {
	caps := serverCapabilities
	if c.srv.cfg.TLS != nil {
		caps |= CapSSL
	}
	return caps
}

func (c *Conn) writeGreeting() error {
	caps := c.serverCapabilities()
	b := c.begin()
	b = append(b, 10)
	b = append(b, c.srv.cfg.ServerVersion...)
	b = append(b, 0)
	b = appendUint32(b, c.id)
	b = append(b, c.scramble[:8]...)
	b = append(b, 0)
	b = appendUint16(b, uint16(caps))
	b = append(b, c.srv.cfg.Collation)
	b = appendUint16(b, StatusAutocommit)
	b = appendUint16(b, uint16(caps>>16))
	b = append(b, byte(len(c.scramble)+1))
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = appendUint32(b, serverExtCapabilities)
	b = append(b, c.scramble[8:]...)
	b = append(b, 0)
	b = append(b, NativePassword...)
	b = append(b, 0)
	if err := c.end(b); err != nil {
		return err
	}
	return c.flush()
}

// handshakeResponse is Protocol::HandshakeResponse41.
type handshakeResponse struct {
	caps    uint32
	extCaps uint32 // MariaDB's, when the client is not a MySQL one
	charset uint8
	user    string
	auth    []byte
	db      string
	plugin  string
	attrs   map[string]string
}

func parseHandshakeResponse(p []byte) (*handshakeResponse, bool) {
	d := newDecoder(p)
	r := &handshakeResponse{caps: d.uint32()}
	d.uint32() // max packet size
	r.charset = d.uint8()
	filler := d.take(23)
	if !d.ok || r.caps&CapProtocol41 == 0 {
		return nil, false
	}
	if r.caps&CapLongPassword == 0 {
		r.extCaps = binary.LittleEndian.Uint32(filler[19:])
	}
	r.user = d.nulString()
	switch {
	case r.caps&CapPluginAuthLenencClientData != 0:
		r.auth = d.lenEncBytes()
	case r.caps&CapSecureConnection != 0:
		r.auth = d.take(int(d.uint8()))
	default:
		r.auth = []byte(d.nulString())
	}
	r.auth = append([]byte(nil), r.auth...)
	if r.caps&CapConnectWithDB != 0 && d.remaining() > 0 {
		r.db = d.nulString()
	}
	if r.caps&CapPluginAuth != 0 && d.remaining() > 0 {
		r.plugin = d.nulString()
	}
	if r.caps&CapConnectAttrs != 0 && d.remaining() > 0 {
		r.attrs = parseConnectAttrs(d)
	}
	return r, d.ok
}

// parseConnectAttrs reads the length-encoded block of key/value pairs.
func parseConnectAttrs(d *decoder) map[string]string {
	block := newDecoder(d.lenEncBytes())
	attrs := map[string]string{}
	for block.ok && block.remaining() > 0 {
		k := block.lenEncBytes()
		v := block.lenEncBytes()
		if block.ok {
			attrs[string(k)] = string(v)
		}
	}
	if !block.ok {
		d.ok = false
	}
	return attrs
}

// handshake runs the connection phase; false closes the connection.
func (c *Conn) handshake() bool {
	newScramble(c.scramble[:])
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.cfg.HandshakeTimeout)
	defer cancel()
	if err := c.writeGreeting(); err != nil {
		return false
	}
	p, err := c.readPacket(maxHandshakeResponse)
	if err != nil {
		c.handshakeReadFailed(err)
		return false
	}
	if len(p) >= 4 && binary.LittleEndian.Uint32(p)&CapSSL != 0 && len(p) == 32 {
		if c.srv.cfg.TLS == nil {
			_ = c.writeErr(errHandshake())
			_ = c.flush()
			return false
		}
		// The client's TLS hello may already sit in the read buffer.
		tc := tls.Server(&bufferedConn{Conn: c.raw, r: c.r}, c.srv.cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.srv.log.Debug("TLS handshake failed", zap.Uint32("connection_id", c.id), zap.Stringer("remote", c.raw.RemoteAddr()), zap.Error(err))
			return false
		}
		state := tc.ConnectionState()
		c.conn, c.tlsState, c.secure = tc, &state, true
		c.r, c.idle = newReader(tc), nil
		if p, err = c.readPacket(maxHandshakeResponse); err != nil {
			c.handshakeReadFailed(err)
			return false
		}
	}
	resp, ok := parseHandshakeResponse(p)
	if !ok {
		_ = c.writeErr(errHandshake())
		_ = c.flush()
		return false
	}
	c.caps = resp.caps & c.serverCapabilities()
	c.extCaps = resp.extCaps & serverExtCapabilities
	c.charset = resp.charset
	c.attrs = resp.attrs
	if c.srv.cfg.RequireTLS && !c.secure {
		_ = c.writeErr(newError(erSecureTransport, "HY000", "Connections using insecure transport are prohibited while --require_secure_transport=ON."))
		_ = c.flush()
		return false
	}
	if err := c.authenticate(ctx, resp.user, resp.plugin, resp.auth); err != nil {
		c.refuse(resp.user, err)
		return false
	}
	c.setUser(resp.user)

	if err := c.callNewConnection(); err != nil {
		c.refuse(resp.user, err)
		return false
	}
	c.mu.Lock()
	c.loggedIn = true
	c.mu.Unlock()
	if resp.db != "" {
		if err := c.callInitDB(ctx, resp.db); err != nil {
			c.refuse(resp.user, err)
			c.connectionClosed()
			return false
		}
	}
	if err := c.writeOK(okHeader, 0, 0, 0, ""); err != nil {
		c.connectionClosed()
		return false
	}
	if err := c.flush(); err != nil {
		c.connectionClosed()
		return false
	}
	c.releaseBuffers()
	return true
}

func (c *Conn) callNewConnection() (err error) {
	defer c.recoverHandler("NewConnection", &err)
	return c.srv.handler.NewConnection(c)
}

func (c *Conn) handshakeReadFailed(err error) {
	if errors.Is(err, errPacketTooLarge) {
		_ = c.writeErr(errPacketTooLargeSQL())
		_ = c.flush()
	}
	c.srv.log.Debug("handshake failed", zap.Uint32("connection_id", c.id), zap.Stringer("remote", c.raw.RemoteAddr()), zap.Error(err))
}

// refuse answers a failed login and logs it.
func (c *Conn) refuse(user string, err error) {
	if c.ioErr == nil {
		_ = c.writeErr(err)
		_ = c.flush()
	}
	c.srv.log.Debug("login refused", zap.Uint32("connection_id", c.id), zap.String("user", user),
		zap.Stringer("remote", c.raw.RemoteAddr()), zap.Error(err))
}

// accessDenied is a rejection without a reason given.
func (c *Conn) accessDenied(user string, usedPassword bool) error {
	host := "localhost"
	if tcp, ok := c.raw.RemoteAddr().(*net.TCPAddr); ok {
		host = tcp.IP.String()
	}
	using := "NO"
	if usedPassword {
		using = "YES"
	}
	return newError(erAccessDenied, "28000", "Access denied for user '%s'@'%s' (using password: %s)", user, host, using)
}

func knownPlugin(p string) bool { return p == NativePassword || p == CachingSHA2Password }

// authenticate runs the authentication exchange for user, starting from
// the client's answer response for plugin. It returns nil when the user
// is in; otherwise the error to send (c.ioErr is set when the connection
// itself failed).
func (c *Conn) authenticate(ctx context.Context, user, plugin string, response []byte) error {
	if c.caps&CapPluginAuth == 0 {
		plugin = NativePassword // a client without plugins scrambles the native way
	}
	switched, cleartext := false, false
	for {
		if !knownPlugin(plugin) {
			if switched {
				return errHandshake()
			}
			var err error
			if response, err = c.authSwitch(NativePassword); err != nil {
				return err
			}
			plugin, switched = NativePassword, true
			continue
		}
		if plugin == CachingSHA2Password && !cleartext && len(response) == 1 && response[0] == 0 {
			response = nil
		}
		res := c.callAuthenticate(ctx, &AuthRequest{
			User: user, RemoteAddr: c.raw.RemoteAddr(), Secure: c.secure, Plugin: plugin,
			Scramble: c.scramble[:], Response: response, Cleartext: cleartext,
		})
		switch res.Verdict {
		case AuthAccept:
			if plugin == CachingSHA2Password && !cleartext && len(response) > 0 {
				return c.end(append(c.begin(), moreDataHeader, sha2FastAuthOK))
			}
			return nil
		case AuthSwitch:
			if switched || !knownPlugin(res.Plugin) || res.Plugin == plugin {
				return c.accessDenied(user, len(response) > 0)
			}
			var err error
			if response, err = c.authSwitch(res.Plugin); err != nil {
				return err
			}
			plugin, switched = res.Plugin, true
		case AuthFullAuth:
			if plugin != CachingSHA2Password || cleartext {
				return c.accessDenied(user, len(response) > 0)
			}
			if !c.secure {
				return newError(erAccessDenied, "28000", "Authentication plugin 'caching_sha2_password' reported error: Authentication requires secure connection.")
			}
			if err := c.end(append(c.begin(), moreDataHeader, sha2PerformFullAuth)); err != nil {
				return err
			}
			if err := c.flush(); err != nil {
				return err
			}
			p, err := c.readPacket(maxPreAuthPacket)
			if err != nil {
				c.ioErr = err
				return err
			}
			if n := len(p); n > 0 && p[n-1] == 0 {
				p = p[:n-1]
			}
			response, cleartext = append([]byte(nil), p...), true
		default:
			err := res.Err
			if err == nil {
				return c.accessDenied(user, len(response) > 0)
			}
			var se *sqlerror.SQLError
			if !errors.As(err, &se) {
				return newError(erAccessDenied, "28000", "%v", err)
			}
			return err
		}
	}
}

func (c *Conn) callAuthenticate(ctx context.Context, req *AuthRequest) (res AuthResult) {
	var err error
	defer func() {
		if err != nil {
			res = Reject(err)
		}
	}()
	defer c.recoverHandler("Authenticate", &err)
	return c.srv.cfg.Auth.Authenticate(ctx, req)
}

// authSwitch asks the client to answer with plugin (AuthSwitchRequest,
// with the connection's scramble) and returns its answer.
func (c *Conn) authSwitch(plugin string) ([]byte, error) {
	if c.caps&CapPluginAuth == 0 {
		return nil, newError(1251, "08004", "Client does not support authentication protocol requested by server; consider upgrading MariaDB client")
	}
	b := c.begin()
	b = append(b, eofHeader)
	b = append(b, plugin...)
	b = append(b, 0)
	b = append(b, c.scramble[:]...)
	b = append(b, 0)
	if err := c.end(b); err != nil {
		return nil, err
	}
	if err := c.flush(); err != nil {
		return nil, err
	}
	p, err := c.readPacket(maxPreAuthPacket)
	if err != nil {
		c.ioErr = err
		return nil, err
	}
	return append([]byte(nil), p...), nil
}

// comChangeUser re-authenticates the connection as another user
// (COM_CHANGE_USER). On success the prepared statements are dropped and
// the handler starts a fresh session; on failure the connection stays
// with its user and session.
func (c *Conn) comChangeUser(data []byte) error {
	d := newDecoder(data)
	user := d.nulString()
	var auth []byte
	if c.caps&CapSecureConnection != 0 {
		auth = d.take(int(d.uint8()))
	} else {
		auth = []byte(d.nulString())
	}
	auth = append([]byte(nil), auth...)
	db := d.nulString()
	if d.remaining() >= 2 {
		c.charset = byte(d.uint16())
	}
	plugin := ""
	if c.caps&CapPluginAuth != 0 && d.remaining() > 0 {
		plugin = d.nulString()
	}
	var attrs map[string]string
	if c.caps&CapConnectAttrs != 0 && d.remaining() > 0 {
		attrs = parseConnectAttrs(d)
	}
	if !d.ok {
		return c.writeErr(errMalformed("COM_CHANGE_USER"))
	}
	c.current = "change user to " + user
	ctx, done := c.commandContext()
	defer done()
	if err := c.authenticate(ctx, user, plugin, auth); err != nil {
		if c.ioErr != nil {
			return c.ioErr
		}
		c.srv.log.Debug("change user refused", zap.Uint32("connection_id", c.id), zap.String("user", user), zap.Error(err))
		return c.writeErr(err)
	}
	c.closeStatements()
	c.setUser(user)
	if attrs != nil {
		c.attrs = attrs
	}
	if err := c.callChangeUser(ctx, db); err != nil {
		return c.writeErr(err)
	}
	return c.writeOK(okHeader, 0, 0, 0, "")
}

func (c *Conn) callChangeUser(ctx context.Context, db string) (err error) {
	defer c.recoverHandler("ComChangeUser", &err)
	return c.srv.handler.ComChangeUser(ctx, c, db)
}

// bufferedConn reads what a bufio.Reader holds before reading its
// connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
