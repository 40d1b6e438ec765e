package topo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// While a switch of writes runs, the keyspace's SrvKeyspace says until
// when gates hold its writes (writes_buffered_until_unix_ms). Each gate,
// once it holds new writes and has no transaction of its own open in the
// keyspace any more, acknowledges at write_buffer_acks/<keyspace>/<gate
// id> with that deadline, so that the switch stops the shards' writes
// only when no gate has a transaction there that could still need a new
// shard.

func (s *Server) writeBufferAcksPrefix(keyspace string) string {
	return s.root + "/write_buffer_acks/" + keyspace + "/"
}

// AckWriteBuffer records that gate holds the keyspace's writes for the
// buffer that ends at untilUnixMs and has no transaction open there.
func (s *Server) AckWriteBuffer(ctx context.Context, keyspace, gateID string, untilUnixMs int64) error {
	if _, err := s.store.Update(ctx, s.writeBufferAcksPrefix(keyspace)+gateID, []byte(strconv.FormatInt(untilUnixMs, 10)), 0); err != nil {
		return fmt.Errorf("acknowledge the write buffer of keyspace %s: %w", keyspace, err)
	}
	return nil
}

// WriteBufferAcks returns, by gate id, the buffer deadline each gate last
// acknowledged for the keyspace.
func (s *Server) WriteBufferAcks(ctx context.Context, keyspace string) (map[string]int64, error) {
	prefix := s.writeBufferAcksPrefix(keyspace)
	kvs, err := s.store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(kvs))
	for _, kv := range kvs {
		until, err := strconv.ParseInt(string(kv.Value), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out[strings.TrimPrefix(kv.Key, prefix)] = until
	}
	return out, nil
}

// ClearWriteBufferAcks forgets the keyspace's acknowledgements once its
// switch is over.
func (s *Server) ClearWriteBufferAcks(ctx context.Context, keyspace string) error {
	return s.store.DeletePrefix(ctx, s.writeBufferAcksPrefix(keyspace))
}
