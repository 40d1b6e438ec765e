package gateway

import (
	"sort"
	"strings"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter"
)

// TransactionMode is how a session's transactions that span shards commit
// (SET transaction_mode, with Vitess's names and values).
type TransactionMode int

const (
	// TransactionModeMulti commits each shard in turn, best effort: if a
	// commit fails after others succeeded, the client is told which
	// shards committed. The default, as in Vitess.
	TransactionModeMulti TransactionMode = iota
	// TransactionModeSingle refuses any statement that would make a
	// transaction span a second shard.
	TransactionModeSingle
	// TransactionModeTwoPC commits atomically: XA PREPARE on every shard, a
	// durable decision record, then XA COMMIT (see twopc.go).
	TransactionModeTwoPC
)

func (m TransactionMode) String() string {
	switch m {
	case TransactionModeSingle:
		return "single"
	case TransactionModeTwoPC:
		return "twopc"
	}
	return "multi"
}

// parseTransactionMode reads a SET value: a quoted or bare name, any case;
// DEFAULT is multi.
func parseTransactionMode(v string) (TransactionMode, bool) {
	switch strings.ToLower(strings.Trim(v, "'\"`")) {
	case "multi", "default":
		return TransactionModeMulti, true
	case "single":
		return TransactionModeSingle, true
	case "twopc":
		return TransactionModeTwoPC, true
	}
	return 0, false
}

// checkSingleShard refuses, in transaction_mode 'single', a statement that
// would bring a shard other than the one it is on into the session's
// transaction (or start one on several shards). It runs before any of the
// statement's queries, so a refused statement changes nothing.
func (s *Session) checkSingleShard(keyspace string, queries []sqlrouter.ShardQuery) error {
	seen := map[string]bool{}
	var joined, added []string
	s.mu.Lock()
	for _, ss := range s.shards {
		name := ss.keyspace + "/" + ss.shard
		seen[name] = true
		joined = append(joined, name)
	}
	s.mu.Unlock()
	for _, q := range queries {
		name := keyspace + "/" + q.Shard
		if !seen[name] {
			seen[name] = true
			added = append(added, name)
		}
	}
	if len(joined)+len(added) <= 1 {
		return nil
	}
	sort.Strings(added)
	if len(joined) == 0 {
		return sqlerr.Unsupported("a transaction on %d shards (%s) in transaction_mode 'single': target one shard, or SET transaction_mode = 'multi' or 'twopc'",
			len(added), strings.Join(added, ", "))
	}
	shards := "shard"
	if len(added) > 1 {
		shards = "shards"
	}
	return sqlerr.Unsupported("adding %s %s to a transaction on %s in transaction_mode 'single': COMMIT or ROLLBACK first, or SET transaction_mode = 'multi' or 'twopc' before the transaction begins",
		shards, strings.Join(added, ", "), strings.Join(joined, ", "))
}
