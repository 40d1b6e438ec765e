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

// A session's protected fields fall in two parts, each signed on its
// own: the transaction (shard sessions, two-phase commit id, savepoints)
// and the session state (settings, connection id, user variables, gate
// settings, read-your-writes positions). A client may drop a part whole
// (the Go driver abandons a transaction whose COMMIT got no answer), which
// leaves what a new session has, but not change it. Everything else in a
// session (keyspace, tablet type, autocommit, in_transaction, isolation,
// read-only, workload, transaction mode, ...) is the client's to choose,
// as it could with USE, BEGIN and SET: statements are checked against
// the user's rights whatever the session says.
func transactionPart(p *gatepb.Session) *gatepb.Session {
	if len(p.ShardSessions) == 0 && p.Dtid == "" && len(p.Savepoints) == 0 {
		return nil
	}
	return &gatepb.Session{ShardSessions: p.ShardSessions, Dtid: p.Dtid, Savepoints: p.Savepoints}
}

func statePart(p *gatepb.Session) *gatepb.Session {
	if len(p.Variables) == 0 && p.ConnectionId == 0 && len(p.UserVariables) == 0 && len(p.GateSettings) == 0 && len(p.WritePositions) == 0 {
		return nil
	}
	return &gatepb.Session{Variables: p.Variables, ConnectionId: p.ConnectionId, UserVariables: p.UserVariables,
		GateSettings: p.GateSettings, WritePositions: p.WritePositions}
}

// macOf signs one part for user; a part that is nil needs none.
func (g *sessionSigner) macOf(part *gatepb.Session, user, name string) []byte {
	if part == nil {
		return nil
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(part)
	if err != nil {
		return nil
	}
	h := hmac.New(sha256.New, *g.key.Load())
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write(data)
	return h.Sum(nil)
}

// sign sets p's signature for user: the transaction part's MAC then the
// state part's, each empty when the part is.
func (g *sessionSigner) sign(p *gatepb.Session, user string) {
	if g == nil || p == nil {
		return
	}
	tx, state := g.macOf(transactionPart(p), user, "transaction"), g.macOf(statePart(p), user, "state")
	p.Signature = nil
	if tx != nil || state != nil {
		p.Signature = append(append(make([]byte, 0, 2*sha256.Size), pad(tx)...), pad(state)...)
	}
}

func pad(mac []byte) []byte {
	if mac == nil {
		return make([]byte, sha256.Size)
	}
	return mac
}

// check refuses a session that user may not send.
func (g *sessionSigner) check(p *gatepb.Session, user string) error {
	if g == nil || p == nil {
		return nil
	}
	tx, state := transactionPart(p), statePart(p)
	if tx == nil && state == nil {
		return nil
	}
	if len(p.Signature) != 2*sha256.Size {
		return forgedSession(user, "it carries a transaction or session state but no gate's signature")
	}
	if tx != nil && !hmac.Equal(p.Signature[:sha256.Size], g.macOf(tx, user, "transaction")) {
		return forgedSession(user, "the signature of its transaction does not match: it was changed, or issued to another user or by another cluster")
	}
	if state != nil && !hmac.Equal(p.Signature[sha256.Size:], g.macOf(state, user, "state")) {
		return forgedSession(user, "the signature of its settings does not match: they were changed, or issued to another user or by another cluster")
	}
	return nil
}

func forgedSession(user, why string) error {
	return sqlerr.New(sqlerror.ERAccessDeniedError, sqlerror.SSAccessDeniedError,
		"Access denied for user '%s': the session sent is not one a gate of this cluster issued to this user (%s); start a new session", user, why)
}
