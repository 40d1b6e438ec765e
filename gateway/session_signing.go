package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"google.golang.org/protobuf/proto"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/gatepb"
	"github.com/shardgate/shardgate/topo"
)

// The gRPC API keeps no session at the gate: the client holds it and
// sends it back with each call. What it holds must therefore not be the
// client's to choose: transaction ids on the shards (another client's
// would let it act in that transaction), settings that become SQL on the
// shards, savepoints, the two-phase commit's id. The gate signs every
// session it returns with an HMAC-SHA256 over the session and the user it
// belongs to, under a key all gates share (topo.SessionKey), and refuses
// a session whose signature does not match: altered, or issued to
// another user. A session a client builds itself carries no signature and
// may set only what a new session chooses (its target and options).

// sessionSigner signs and checks sessions; a nil one does neither (unit
// tests).
type sessionSigner struct{ key atomic.Pointer[[]byte] }

// newSessionSigner returns a signer with the cluster's key from ts. When
// the topology does not answer within timeout, it starts with a key of
// its own (sessions it issues then work on this gate only; the log says
// so) and keeps asking until it gets the cluster's, until ctx ends.
func newSessionSigner(ctx context.Context, ts *topo.Server, timeout time.Duration, log *zap.Logger) *sessionSigner {
	g := &sessionSigner{}
	kctx, cancel := context.WithTimeout(ctx, timeout)
	key, err := ts.SessionKey(kctx)
	cancel()
	if err == nil {
		g.key.Store(&key)
		return g
	}
	own := make([]byte, 32)
	_, _ = rand.Read(own)
	g.key.Store(&own)
	log.Warn("the cluster's session key is not readable yet: gRPC sessions issued now work on this gate only", zap.Error(err))
	go func() {
		for backoff := time.Second; ; backoff = min(2*backoff, 30*time.Second) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			kctx, cancel := context.WithTimeout(ctx, timeout)
			key, err := ts.SessionKey(kctx)
			cancel()
			if err == nil {
				g.key.Store(&key)
				log.Info("read the cluster's session key: gRPC sessions work on every gate again")
				return
			}
		}
	}()
	return g
}

func (g *sessionSigner) mac(p *gatepb.Session, user string) []byte {
	sig := p.Signature
	p.Signature = nil
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	p.Signature = sig
	if err != nil {
		return nil
	}
	h := hmac.New(sha256.New, *g.key.Load())
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write(data)
	return h.Sum(nil)
}

// sign sets p's signature for user.
func (g *sessionSigner) sign(p *gatepb.Session, user string) {
	if g == nil || p == nil {
		return
	}
	p.Signature = g.mac(p, user)
}

// check refuses a session that user may not send.
func (g *sessionSigner) check(p *gatepb.Session, user string) error {
	if g == nil || p == nil {
		return nil
	}
	if len(p.Signature) == 0 {
		if field := issuedOnly(p); field != "" {
			return forgedSession(user, "it sets "+field+", which only a gate's session carries, and has no signature")
		}
		return nil
	}
	if !hmac.Equal(p.Signature, g.mac(p, user)) {
		return forgedSession(user, "its signature does not match: it was changed, or issued to another user or by another cluster")
	}
	return nil
}

// issuedOnly names the first field set in p that only a session a gate
// issued may carry ("" when none).
func issuedOnly(p *gatepb.Session) string {
	switch {
	case p.InTransaction:
		return "in_transaction"
	case len(p.ShardSessions) > 0:
		return "shard_sessions"
	case p.Dtid != "":
		return "dtid"
	case len(p.Variables) > 0:
		return "variables"
	case p.ConnectionId != 0:
		return "connection_id"
	case len(p.UserVariables) > 0:
		return "user_variables"
	case len(p.Savepoints) > 0:
		return "savepoints"
	case len(p.GateSettings) > 0:
		return "gate_settings"
	case len(p.WritePositions) > 0:
		return "write_positions"
	}
	return ""
}

func forgedSession(user, why string) error {
	return sqlerr.New(sqlerror.ERAccessDeniedError, sqlerror.SSAccessDeniedError,
		"Access denied for user '%s': the session sent is not one a gate of this cluster issued to this user (%s); start a new session", user, why)
}
