package topo

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/shardgate/shardgate/internal/grpcbackoff"
)

// EtcdStore is a Store on an etcd cluster. A key's version is its etcd
// ModRevision, so compare-and-set compares mod revisions.
type EtcdStore struct {
	client *clientv3.Client
	log    *zap.Logger
}

// EtcdOption sets a rarely needed EtcdStore setting.
type EtcdOption func(*clientv3.Config)

// WithDialTimeout bounds how long the first connection may take.
func WithDialTimeout(d time.Duration) EtcdOption {
	return func(c *clientv3.Config) { c.DialTimeout = d }
}

// NewEtcdStore connects to the etcd endpoints ("127.0.0.1:2379"). The
// connection is lazy: an unreachable etcd shows up as errors on calls.
func NewEtcdStore(endpoints []string, log *zap.Logger, opts ...EtcdOption) (*EtcdStore, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg := clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpcbackoff.Bounded)},
		// The etcd client logs every retry at warn level; ours keeps quiet
		// unless something fails a caller.
		Logger: log.Named("etcd").WithOptions(zap.IncreaseLevel(zap.ErrorLevel)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to etcd at %s: %w", strings.Join(endpoints, ","), err)
	}
	return &EtcdStore{client: c, log: log}, nil
}

func (s *EtcdStore) Get(ctx context.Context, key string) ([]byte, int64, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, 0, fmt.Errorf("etcd get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

func (s *EtcdStore) List(ctx context.Context, prefix string) ([]KV, error) {
	kvs, _, err := s.list(ctx, prefix)
	return kvs, err
}

// list also returns the store revision the listing is consistent with, so a
// watch can start right after it.
func (s *EtcdStore) list(ctx context.Context, prefix string) ([]KV, int64, error) {
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, fmt.Errorf("etcd list %s: %w", prefix, err)
	}
	out := make([]KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, KV{Key: string(kv.Key), Value: kv.Value, Version: kv.ModRevision})
	}
	return out, resp.Header.Revision, nil
}

func (s *EtcdStore) Create(ctx context.Context, key string, value []byte) (int64, error) {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value))).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd create %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("%s: %w", key, ErrExists)
	}
	return resp.Header.Revision, nil
}

func (s *EtcdStore) Update(ctx context.Context, key string, value []byte, version int64) (int64, error) {
	if version == 0 {
		resp, err := s.client.Put(ctx, key, string(value))
		if err != nil {
			return 0, fmt.Errorf("etcd put %s: %w", key, err)
		}
		return resp.Header.Revision, nil
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", version)).
		Then(clientv3.OpPut(key, string(value))).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd update %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("%s: %w", key, ErrBadVersion)
	}
	return resp.Header.Revision, nil
}

func (s *EtcdStore) Delete(ctx context.Context, key string, version int64) error {
	cmp := clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
	if version != 0 {
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", version)
	}
	resp, err := s.client.Txn(ctx).If(cmp).Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return fmt.Errorf("etcd delete %s: %w", key, err)
	}
	if !resp.Succeeded {
		if version != 0 {
			if _, _, err := s.Get(ctx, key); err != nil {
				return err
			}
			return fmt.Errorf("%s: %w", key, ErrBadVersion)
		}
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return nil
}

func (s *EtcdStore) DeletePrefix(ctx context.Context, prefix string) error {
	if _, err := s.client.Delete(ctx, prefix, clientv3.WithPrefix()); err != nil {
		return fmt.Errorf("etcd delete prefix %s: %w", prefix, err)
	}
	return nil
}

// WatchPrefix lists the prefix, then follows etcd's watch from the listing's
// revision, applying events to a local copy and sending a snapshot after
// each batch. If the watch breaks (compaction, etcd restarted, network) it
// lists again and resumes, so the consumer always converges.
func (s *EtcdStore) WatchPrefix(ctx context.Context, prefix string) (<-chan []KV, error) {
	kvs, rev, err := s.list(ctx, prefix)
	if err != nil {
		return nil, err
	}
	latest := make(chan []KV, 1)
	latest <- kvs
	go s.follow(ctx, prefix, kvs, rev, latest)

	out := make(chan []KV)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case snap := <-latest:
				select {
				case out <- snap:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func (s *EtcdStore) follow(ctx context.Context, prefix string, kvs []KV, rev int64, latest chan []KV) {
	current := make(map[string]KV, len(kvs))
	for _, kv := range kvs {
		current[kv.Key] = kv
	}
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := s.client.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range wch {
			if err := resp.Err(); err != nil {
				s.log.Info("topology watch interrupted; relisting", zap.String("prefix", prefix), zap.Error(err))
				break
			}
			for _, ev := range resp.Events {
				key := string(ev.Kv.Key)
				if ev.Type == clientv3.EventTypeDelete {
					delete(current, key)
				} else {
					current[key] = KV{Key: key, Value: ev.Kv.Value, Version: ev.Kv.ModRevision}
				}
			}
			rev = resp.Header.Revision
			sendLatest(latest, snapshot(current))
		}
		cancel()
		// Relist until etcd answers again, then resume watching from there.
		for ctx.Err() == nil {
			listed, listedRev, err := s.list(ctx, prefix)
			if err == nil {
				current = make(map[string]KV, len(listed))
				for _, kv := range listed {
					current[kv.Key] = kv
				}
				rev = listedRev
				sendLatest(latest, listed)
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func snapshot(m map[string]KV) []KV {
	out := make([]KV, 0, len(m))
	for _, kv := range m {
		out = append(out, kv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// PutWithLease grants a lease of ttl (whole seconds, at least one), writes
// key under it and keeps it alive until ctx ends, then revokes it.
func (s *EtcdStore) PutWithLease(ctx context.Context, key string, value []byte, ttl time.Duration) (<-chan struct{}, error) {
	lease, err := s.grant(ctx, key, ttl)
	if err != nil {
		return nil, err
	}
	if _, err := s.client.Put(ctx, key, string(value), clientv3.WithLease(lease)); err != nil {
		s.revoke(lease)
		return nil, fmt.Errorf("etcd put %s: %w", key, err)
	}
	return s.keepAlive(ctx, key, lease)
}

// CreateWithLease is PutWithLease in one transaction with the check that
// key does not exist; when it does, the lease is revoked and the value
// there is returned with ErrExists.
func (s *EtcdStore) CreateWithLease(ctx context.Context, key string, value []byte, ttl time.Duration) (<-chan struct{}, []byte, error) {
	lease, current, err := s.createUnderLease(ctx, key, value, ttl)
	if err != nil {
		return nil, current, err
	}
	gone, err := s.keepAlive(ctx, key, lease)
	return gone, nil, err
}

// CreateFencedLease is CreateWithLease with the lease's validity tracked
// from its renewals (Lease.Valid).
func (s *EtcdStore) CreateFencedLease(ctx context.Context, key string, value []byte, ttl time.Duration) (*Lease, []byte, error) {
	granted := time.Now()
	lease, current, err := s.createUnderLease(ctx, key, value, ttl)
	if err != nil {
		return nil, current, err
	}
	alive, err := s.client.KeepAlive(ctx, lease)
	if err != nil {
		s.revoke(lease)
		return nil, nil, fmt.Errorf("etcd keepalive for %s: %w", key, err)
	}
	gone := make(chan struct{})
	l := &Lease{gone: gone}
	// The grant was asked for before granted; its TTL runs from when etcd
	// granted it, which was after.
	l.renewed(granted, ttl)
	go func() {
		defer close(gone)
		for resp := range alive {
			l.renewed(time.Now(), time.Duration(resp.TTL)*time.Second)
			if ctx.Err() != nil {
				break
			}
		}
		l.validUntil.Store(0)
		if ctx.Err() != nil {
			s.revoke(lease)
			return
		}
		s.log.Warn("lost the lease of a key", zap.String("key", key))
	}()
	return l, nil, nil
}

// createUnderLease grants a lease of ttl and writes key under it if key
// does not exist, or holds value already: a holder that restarted (a
// tablet after a crash) takes its own key back at once instead of waiting
// out the TTL of the lease its previous process held; the key moves to the
// new lease in one transaction, so watchers never see it gone. When
// another value is there, the lease is revoked and that value is returned
// with ErrExists.
func (s *EtcdStore) createUnderLease(ctx context.Context, key string, value []byte, ttl time.Duration) (clientv3.LeaseID, []byte, error) {
	lease, err := s.grant(ctx, key, ttl)
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value), clientv3.WithLease(lease))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		s.revoke(lease)
		return 0, nil, fmt.Errorf("etcd create %s: %w", key, err)
	}
	if resp.Succeeded {
		return lease, nil, nil
	}
	var current []byte
	var modRevision int64
	if r := resp.Responses[0].GetResponseRange(); r != nil && len(r.Kvs) > 0 {
		current, modRevision = r.Kvs[0].Value, r.Kvs[0].ModRevision
	}
	if current != nil && bytes.Equal(current, value) {
		// Ours from before: move it to the new lease unless it changed
		// since it was read.
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", modRevision)).
			Then(clientv3.OpPut(key, string(value), clientv3.WithLease(lease))).
			Commit()
		if err != nil {
			s.revoke(lease)
			return 0, nil, fmt.Errorf("etcd take back %s: %w", key, err)
		}
		if resp.Succeeded {
			return lease, nil, nil
		}
	}
	s.revoke(lease)
	return 0, current, fmt.Errorf("%s: %w", key, ErrExists)
}

// grant grants a lease of ttl, in whole seconds and at least one.
func (s *EtcdStore) grant(ctx context.Context, key string, ttl time.Duration) (clientv3.LeaseID, error) {
	seconds := int64((ttl + time.Second - 1) / time.Second)
	if seconds < 1 {
		seconds = 1
	}
	lease, err := s.client.Grant(ctx, seconds)
	if err != nil {
		return 0, fmt.Errorf("etcd lease for %s: %w", key, err)
	}
	return lease.ID, nil
}

// keepAlive keeps a lease alive until ctx ends, then revokes it. The
// returned channel closes once the lease is gone: revoked, or lost before.
func (s *EtcdStore) keepAlive(ctx context.Context, key string, lease clientv3.LeaseID) (<-chan struct{}, error) {
	alive, err := s.client.KeepAlive(ctx, lease)
	if err != nil {
		s.revoke(lease)
		return nil, fmt.Errorf("etcd keepalive for %s: %w", key, err)
	}
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		// The client sends keepalives by itself; the channel closes when
		// ctx ends or the lease can no longer be kept.
		for range alive {
		}
		if ctx.Err() != nil {
			s.revoke(lease)
			return
		}
		s.log.Warn("lost the lease of a key", zap.String("key", key))
	}()
	return gone, nil
}

// revoke ends a lease at once, so that its keys go now rather than after
// their ttl; failing that, they go after it anyway.
func (s *EtcdStore) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = s.client.Revoke(ctx, id)
}

func (s *EtcdStore) Close() error { return s.client.Close() }
