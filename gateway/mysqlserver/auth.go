package mysqlserver

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"net"
)

// Authenticator decides logins (the handshake and COM_CHANGE_USER). The
// server runs the plugins' exchanges on the wire; the Authenticator looks
// at what the client sent and says what happens next. It is called
// concurrently for different connections.
type Authenticator interface {
	Authenticate(ctx context.Context, req *AuthRequest) AuthResult
}

// AuthRequest is one answer of a client to check.
type AuthRequest struct {
	User       string
	RemoteAddr net.Addr
	// Secure: the connection is TLS or a unix socket, where a password
	// may travel in clear.
	Secure bool
	// Plugin is the plugin the client answered with: NativePassword or
	// CachingSHA2Password (the server switches clients that chose another
	// one to NativePassword before asking).
	Plugin string
	// Scramble is the 20 random bytes the server sent.
	Scramble []byte
	// Response is the client's answer: the password scrambled as Plugin
	// does it (empty for an empty password), or, when Cleartext, the
	// password itself.
	Response  []byte
	Cleartext bool
}

// AuthVerdict says how an authentication goes on.
type AuthVerdict uint8

const (
	// AuthAccept logs the user in.
	AuthAccept AuthVerdict = iota
	// AuthReject refuses the login with AuthResult.Err.
	AuthReject
	// AuthSwitch asks the client to answer again with AuthResult.Plugin
	// (AuthSwitchRequest, same scramble).
	AuthSwitch
	// AuthFullAuth: the scramble settles nothing, the password is needed
	// (caching_sha2_password's full authentication). The server asks for
	// it over a secure connection and calls again with Cleartext set;
	// elsewhere it refuses the login (RSA key exchange is not offered).
	AuthFullAuth
)

// AuthResult is an Authenticator's decision.
type AuthResult struct {
	Verdict AuthVerdict
	// Err is sent on AuthReject: a *sqlerror.SQLError (usually 1045
	// ER_ACCESS_DENIED_ERROR, worded as MySQL words it) or any error,
	// which becomes 1045 with its text.
	Err error
	// Plugin is the plugin to switch to on AuthSwitch.
	Plugin string
}

// Accept, Reject, SwitchTo and FullAuth build results.
func Accept() AuthResult                { return AuthResult{Verdict: AuthAccept} }
func Reject(err error) AuthResult       { return AuthResult{Verdict: AuthReject, Err: err} }
func SwitchTo(plugin string) AuthResult { return AuthResult{Verdict: AuthSwitch, Plugin: plugin} }
func FullAuth() AuthResult              { return AuthResult{Verdict: AuthFullAuth} }

// CheckNativePassword reports whether response is mysql_native_password's
// answer to scramble for the password whose stored hash is
// SHA1(SHA1(password)) (mysql.user's "*HEX" without the star):
// response = SHA1(password) XOR SHA1(scramble + hash).
func CheckNativePassword(scramble, response, hash []byte) bool {
	if len(response) != sha1.Size || len(hash) != sha1.Size {
		return false
	}
	h := sha1.New()
	h.Write(scramble)
	h.Write(hash)
	mask := h.Sum(nil)
	stage1 := make([]byte, sha1.Size)
	for i := range stage1 {
		stage1[i] = response[i] ^ mask[i]
	}
	// SHA1(stage1) must be the stored hash.
	got := sha1.Sum(stage1)
	return subtle.ConstantTimeCompare(got[:], hash) == 1
}

// CheckCachingSHA2 reports whether response is caching_sha2_password's
// fast-path answer to scramble for the password whose hash is
// SHA256(SHA256(password)): response = SHA256(password) XOR
// SHA256(hash + scramble).
func CheckCachingSHA2(scramble, response, hash []byte) bool {
	if len(response) != sha256.Size || len(hash) != sha256.Size {
		return false
	}
	h := sha256.New()
	h.Write(hash)
	h.Write(scramble)
	mask := h.Sum(nil)
	stage1 := make([]byte, sha256.Size)
	for i := range stage1 {
		stage1[i] = response[i] ^ mask[i]
	}
	got := sha256.Sum256(stage1)
	return subtle.ConstantTimeCompare(got[:], hash) == 1
}

// ScrambleNativePassword is what a client sends for password under
// mysql_native_password (for tests and clients).
func ScrambleNativePassword(scramble []byte, password string) []byte {
	if password == "" {
		return nil
	}
	stage1 := sha1.Sum([]byte(password))
	stage2 := sha1.Sum(stage1[:])
	h := sha1.New()
	h.Write(scramble)
	h.Write(stage2[:])
	mask := h.Sum(nil)
	for i := range mask {
		mask[i] ^= stage1[i]
	}
	return mask
}

// ScrambleCachingSHA2 is what a client sends for password on
// caching_sha2_password's fast path.
func ScrambleCachingSHA2(scramble []byte, password string) []byte {
	if password == "" {
		return nil
	}
	stage1 := sha256.Sum256([]byte(password))
	stage2 := sha256.Sum256(stage1[:])
	h := sha256.New()
	h.Write(stage2[:])
	h.Write(scramble)
	mask := h.Sum(nil)
	for i := range mask {
		mask[i] ^= stage1[i]
	}
	return mask
}
