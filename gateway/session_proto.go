package gateway

import (
	"maps"
	"slices"
	"strings"
	"time"

	"vitess.io/vitess/go/mysql/sqlerror"
	vquerypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/gatepb"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/sqlrouter"
)

// sessionFromProto builds the session a gRPC client sent: the same Session
// the MySQL listener keeps per connection, so that a statement runs the
// same way whichever door it came in by. Each shard's transaction is bound
// to its tablet by alias; a tablet that is gone makes the transaction's
// next call fail, naming it (tabletGateway.byAlias). A nil session is a
// new one.
func (e *Executor) sessionFromProto(p *gatepb.Session, user string) (*Session, error) {
	if err := e.signer.check(p, user); err != nil {
		return nil, err
	}
	if p == nil {
		p = &gatepb.Session{Autocommit: true}
	}
	id := p.ConnectionId
	if id == 0 {
		// The high bit keeps gRPC sessions' ids (what CONNECTION_ID()
		// answers) apart from the MySQL listener's.
		id = e.grpcSessionIDs.Add(1) | 1<<31
	}
	s := NewSession(id, user)
	tabletType := p.TabletType
	if tabletType == topopb.TabletType_TABLET_TYPE_UNSPECIFIED {
		tabletType = topopb.TabletType_PRIMARY
	}
	if _, known := topopb.TabletType_name[int32(tabletType)]; !known {
		return nil, sqlerr.New(sqlerror.ERBadDb, sqlerror.SSClientError, "Unknown database '%s': tablet type %d must be primary, replica or rdonly", p.Keyspace, tabletType)
	}
	if p.Keyspace != "" {
		if err := e.checkTarget(p.Keyspace, p.Shard, tabletType); err != nil {
			return nil, err
		}
	} else if p.Shard != "" {
		return nil, sqlerr.New(sqlerror.ERNoDb, sqlerror.SSNoDB, "No database selected: the session names shard %q without a keyspace", p.Shard)
	}
	s.Keyspace, s.Shard, s.TabletType = p.Keyspace, p.Shard, tabletType
	s.Autocommit = p.Autocommit
	s.InTransaction = p.InTransaction
	s.TxReadOnly = p.InTransaction && p.TransactionReadOnly
	s.nextTxReadOnly = !p.InTransaction && p.TransactionReadOnly
	s.LastInsertID = p.LastInsertId
	s.FoundRows = p.FoundRows
	s.NoScatter = p.NoScatter
	s.ReadYourWrites = p.ReadYourWrites
	s.ReadYourWritesTimeout = time.Duration(p.ReadYourWritesTimeoutMs) * time.Millisecond
	for key, pos := range p.WritePositions {
		keyspace, shard, ok := strings.Cut(key, "/")
		if !ok {
			return nil, sqlerr.Internal("the session's write position key %q is not keyspace/shard: send back the session the gate last returned", key)
		}
		s.noteWrite(keyspace, shard, pos)
	}
	s.TxIsolation = p.TransactionIsolation
	switch p.Workload {
	case "", workloadOLTP:
		s.Workload = workloadOLTP
	case workloadOLAP:
		s.Workload = workloadOLAP
	default:
		return nil, sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable 'workload' can't be set to the value of '%s' (oltp or olap)", p.Workload)
	}
	switch p.TransactionMode {
	case gatepb.TransactionMode_MULTI:
		s.TransactionMode = TransactionModeMulti
	case gatepb.TransactionMode_SINGLE:
		s.TransactionMode = TransactionModeSingle
	case gatepb.TransactionMode_TWOPC:
		s.TransactionMode = TransactionModeTwoPC
	default:
		return nil, sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable 'transaction_mode' can't be set to the value of %d", p.TransactionMode)
	}
	for _, v := range p.Variables {
		if !validVariableName(v.Name) || v.Value == "" {
			return nil, sqlerr.New(sqlerror.ERUnknownSystemVariable, sqlerror.SSUnknownSQLState, "Unknown system variable '%s' in the session", v.Name)
		}
		if !e.validSettingValue(v.Name, v.Value) {
			// A value becomes SQL on the shards (SET STATEMENT name=value
			// FOR ...): it must be one literal, as the gate wrote it.
			return nil, sqlerr.New(sqlerror.ERWrongValueForVar, sqlerror.SSClientError, "Variable '%s' can't be set to the value of '%s' in the session", v.Name, v.Value)
		}
		s.settings = append(s.settings, setting{name: v.Name, value: v.Value})
	}
	s.settingsPrefix = settingsPrefix(s.settings)
	if len(p.UserVariables) > 0 {
		values, err := queryconv.BindVariablesFromProto(p.UserVariables)
		if err != nil {
			return nil, err
		}
		s.userVariables = make(map[string]*vquerypb.BindVariable, len(values))
		for key, v := range values {
			if !validVariableName(key) || v.Type == vquerypb.Type_TUPLE {
				return nil, sqlerr.Internal("the session holds user variable %q with a %s value: send back the session the gate last returned", key, v.Type)
			}
			s.userVariables[sqlrouter.UserVariableBindVarOfKey(key)] = v
		}
	}
	for name, v := range p.GateSettings {
		if !gateKeptVariables[name] {
			return nil, sqlerr.New(sqlerror.ERUnknownSystemVariable, sqlerror.SSUnknownSQLState, "Unknown system variable '%s' in the session", name)
		}
		if s.gateSettings == nil {
			s.gateSettings = map[string]int64{}
		}
		s.gateSettings[name] = v
	}
	s.diag.rowCount = p.RowCount
	for _, w := range p.Warnings {
		s.diag.list = append(s.diag.list, Warning{Level: w.Level, Code: uint16(w.Code), Message: string(w.Message)})
	}
	if len(p.Savepoints) > 0 && !p.InTransaction {
		return nil, sqlerr.Internal("the session holds savepoints but says it is not in a transaction: send back the session the gate last returned")
	}
	s.savepoints = p.Savepoints

	if len(p.ShardSessions) > 0 && !p.InTransaction {
		return nil, sqlerr.Internal("the session holds shard transactions but says it is not in a transaction: send back the session the gate last returned")
	}
	s.dtid = p.Dtid
	for _, ss := range p.ShardSessions {
		if ss.TransactionId == 0 || ss.Keyspace == "" || ss.Shard == "" {
			return nil, sqlerr.Internal("the session's transaction names shard %q/%q with transaction id %d: send back the session the gate last returned", ss.Keyspace, ss.Shard, ss.TransactionId)
		}
		s.shards = append(s.shards, &shardSession{
			keyspace: ss.Keyspace, shard: ss.Shard, txID: ss.TransactionId,
			tablet: e.tablets.byAlias(ss.TabletAlias, ss.Keyspace, ss.Shard), tabletType: p.TabletType,
		})
	}
	return s, nil
}

// validVariableName accepts what SET passes on: MariaDB variable names.
func validVariableName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// issueSession is the session for the client to send back, signed for
// its user (session_signing.go).
func (e *Executor) issueSession(s *Session) *gatepb.Session {
	p := sessionToProto(s)
	e.signer.sign(p, s.User)
	return p
}

// sessionToProto is the session for the client to send back. It may run
// while a statement of the session is still running (a streamed result's
// first message): the shard list is read under the session's lock.
func sessionToProto(s *Session) *gatepb.Session {
	p := &gatepb.Session{
		Keyspace: s.Keyspace, Shard: s.Shard, TabletType: s.TabletType,
		Autocommit: s.Autocommit, InTransaction: s.InTransaction,
		TransactionIsolation: s.TxIsolation, NoScatter: s.NoScatter,
		LastInsertId: s.LastInsertID, FoundRows: s.FoundRows,
		ReadYourWrites: s.ReadYourWrites, ReadYourWritesTimeoutMs: s.ReadYourWritesTimeout.Milliseconds(),
		ConnectionId: s.ConnectionID, TransactionReadOnly: s.TxReadOnly || !s.InTransaction && s.nextTxReadOnly,
	}
	if s.Workload != workloadOLTP {
		p.Workload = s.Workload
	}
	switch s.TransactionMode {
	case TransactionModeSingle:
		p.TransactionMode = gatepb.TransactionMode_SINGLE
	case TransactionModeTwoPC:
		p.TransactionMode = gatepb.TransactionMode_TWOPC
	}
	if len(s.userVariables) > 0 {
		p.UserVariables = make(map[string]*gatepb.BindVariable, len(s.userVariables))
		for name, v := range s.userVariables {
			p.UserVariables[sqlrouter.UserVariableKey(name)] = &gatepb.BindVariable{Type: querypb.Type(v.Type), Value: v.Value}
		}
	}
	if len(s.gateSettings) > 0 {
		p.GateSettings = maps.Clone(s.gateSettings)
	}
	p.Savepoints = s.savepoints
	if len(s.settings) > 0 {
		p.Variables = make([]*gatepb.SessionVariable, len(s.settings))
		for i, st := range s.settings {
			p.Variables[i] = &gatepb.SessionVariable{Name: st.name, Value: st.value}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p.RowCount = s.diag.rowCount
	for _, w := range s.diag.list {
		p.Warnings = append(p.Warnings, &querypb.Warning{Level: w.Level, Code: uint32(w.Code), Message: []byte(w.Message)})
	}
	p.Dtid = s.dtid
	if len(s.shards) > 0 {
		p.ShardSessions = make([]*gatepb.ShardSession, len(s.shards))
		for i, ss := range s.shards {
			p.ShardSessions[i] = &gatepb.ShardSession{
				Keyspace: ss.keyspace, Shard: ss.shard, TransactionId: ss.txID, TabletAlias: ss.tablet.record.Alias,
			}
		}
	}
	if len(s.writePositions) > 0 {
		p.WritePositions = make(map[string]string, len(s.writePositions))
		for key, pos := range s.writePositions {
			p.WritePositions[key] = pos.String()
		}
	}
	return p
}

// callBegins and callEnds count a gRPC session's transaction as open on
// its keyspaces in the write buffer while one of its calls runs, and only
// then: between calls the gate cannot see it (the client holds it, and
// its next call may go to another gate). A resharding's switch of writes
// does not cut it in half even so: the tablets let transactions already
// open end before they stop taking writes.
func (e *Executor) callBegins(s *Session) {
	for _, ks := range sessionKeyspaces(s) {
		e.buffer.transactionOpened(ks)
	}
}

func (e *Executor) callEnds(s *Session) {
	for _, ks := range sessionKeyspaces(s) {
		e.buffer.transactionEnded(ks)
	}
}

// sessionKeyspaces lists the keyspaces of the session's transaction.
func sessionKeyspaces(s *Session) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ss := range s.shards {
		if !slices.Contains(out, ss.keyspace) {
			out = append(out, ss.keyspace)
		}
	}
	return out
}

// joinedSince returns the shard transactions s holds that before did not:
// those a statement began.
func joinedSince(before []*shardSession, s *Session) []*shardSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*shardSession
	for _, ss := range s.shards {
		known := false
		for _, b := range before {
			known = known || b == ss
		}
		if !known {
			out = append(out, ss)
		}
	}
	return out
}

// validSettingValue reports whether value is one SET value, written as
// the gate writes it (setPassedOn): a literal or a keyword, nothing more.
func (e *Executor) validSettingValue(name, value string) bool {
	stmt, err := e.parser.Parse("set @@" + name + " = " + value)
	if err != nil {
		return false
	}
	set, ok := stmt.(*sqlparser.Set)
	if !ok || len(set.Exprs) != 1 || !isSettingValue(set.Exprs[0].Expr) {
		return false
	}
	if col, ok := set.Exprs[0].Expr.(*sqlparser.ColName); ok {
		return value == "'"+col.Name.String()+"'" || value == col.Name.String()
	}
	return sqlparser.String(set.Exprs[0].Expr) == value
}
