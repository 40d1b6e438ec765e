package topo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/shardgate/shardgate/proto/topopb"
)

// Resharding workflows live at workflows/<keyspace>/<name>; the status of
// each of their streams, written often by the tablet that runs it, at
// workflow_streams/<keyspace>/<name>/<receiver>/<sender>, apart, so that
// tablets watching the workflows are not woken by every status.

func (s *Server) workflowsPrefix() string { return s.root + "/workflows/" }
func (s *Server) workflowKey(ks, name string) string {
	return s.workflowsPrefix() + ks + "/" + name
}
func (s *Server) streamsPrefix(ks, name string) string {
	return s.root + "/workflow_streams/" + ks + "/" + name + "/"
}

func (s *Server) streamKey(ks, name, receiver, sender string) string {
	return s.streamsPrefix(ks, name) + receiver + "/" + sender
}

// CreateWorkflow records a new workflow (ErrExists if the name is taken).
func (s *Server) CreateWorkflow(ctx context.Context, wf *topopb.Workflow) error {
	if err := ValidateName("workflow", wf.Name); err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	wf.CreatedUnixMs, wf.UpdatedUnixMs, wf.Generation = now, now, 1
	if _, err := s.store.Create(ctx, s.workflowKey(wf.Keyspace, wf.Name), marshal(wf)); err != nil {
		return fmt.Errorf("create workflow %s.%s: %w", wf.Keyspace, wf.Name, err)
	}
	return nil
}

// GetWorkflow reads a workflow.
func (s *Server) GetWorkflow(ctx context.Context, ks, name string) (*topopb.Workflow, error) {
	wf := &topopb.Workflow{}
	if _, err := s.get(ctx, s.workflowKey(ks, name), wf); err != nil {
		return nil, fmt.Errorf("workflow %s.%s: %w", ks, name, err)
	}
	return wf, nil
}

// UpdateWorkflow applies change to a workflow, retrying when another
// writer changed it in between; change may be called more than once.
func (s *Server) UpdateWorkflow(ctx context.Context, ks, name string, change func(*topopb.Workflow) error) (*topopb.Workflow, error) {
	key := s.workflowKey(ks, name)
	for {
		wf := &topopb.Workflow{}
		version, err := s.get(ctx, key, wf)
		if err != nil {
			return nil, fmt.Errorf("workflow %s.%s: %w", ks, name, err)
		}
		if err := change(wf); err != nil {
			return nil, err
		}
		wf.UpdatedUnixMs = time.Now().UnixMilli()
		wf.Generation++
		_, err = s.store.Update(ctx, key, marshal(wf), version)
		if errors.Is(err, ErrBadVersion) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("update workflow %s.%s: %w", ks, name, err)
		}
		return wf, nil
	}
}

// DeleteWorkflow removes a workflow and its streams' statuses.
func (s *Server) DeleteWorkflow(ctx context.Context, ks, name string) error {
	if err := s.store.DeletePrefix(ctx, s.streamsPrefix(ks, name)); err != nil {
		return err
	}
	if err := s.store.Delete(ctx, s.workflowKey(ks, name), 0); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete workflow %s.%s: %w", ks, name, err)
	}
	return nil
}

// ListWorkflows returns the workflows of a keyspace ("" for every
// keyspace), sorted by keyspace and name.
func (s *Server) ListWorkflows(ctx context.Context, ks string) ([]*topopb.Workflow, error) {
	prefix := s.workflowsPrefix()
	if ks != "" {
		prefix += ks + "/"
	}
	kvs, err := s.store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	return decodeWorkflows(kvs)
}

func decodeWorkflows(kvs []KV) ([]*topopb.Workflow, error) {
	out := make([]*topopb.Workflow, 0, len(kvs))
	for _, kv := range kvs {
		wf := &topopb.Workflow{}
		if err := proto.Unmarshal(kv.Value, wf); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, wf)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Keyspace != out[j].Keyspace {
			return out[i].Keyspace < out[j].Keyspace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// WatchWorkflows sends every workflow now and again after each change,
// until ctx ends.
func (s *Server) WatchWorkflows(ctx context.Context) (<-chan []*topopb.Workflow, error) {
	snaps, err := s.store.WatchPrefix(ctx, s.workflowsPrefix())
	if err != nil {
		return nil, err
	}
	return decodeEach(ctx, snaps, decodeWorkflows), nil
}

// SaveStreamStatus records what a stream's tablet reports.
func (s *Server) SaveStreamStatus(ctx context.Context, ks, name string, st *topopb.StreamStatus) error {
	st.UpdatedUnixMs = time.Now().UnixMilli()
	_, err := s.store.Update(ctx, s.streamKey(ks, name, st.Receiver, st.Sender), marshal(st), 0)
	return err
}

// ListStreamStatuses returns a workflow's stream statuses, by receiver and
// sender.
func (s *Server) ListStreamStatuses(ctx context.Context, ks, name string) ([]*topopb.StreamStatus, error) {
	kvs, err := s.store.List(ctx, s.streamsPrefix(ks, name))
	if err != nil {
		return nil, err
	}
	out := make([]*topopb.StreamStatus, 0, len(kvs))
	for _, kv := range kvs {
		st := &topopb.StreamStatus{}
		if err := proto.Unmarshal(kv.Value, st); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// DeleteStreamStatuses forgets a workflow's stream statuses (when its
// streams change direction).
func (s *Server) DeleteStreamStatuses(ctx context.Context, ks, name string) error {
	return s.store.DeletePrefix(ctx, s.streamsPrefix(ks, name))
}

// Cells lists the cells that have a serving graph.
func (s *Server) Cells(ctx context.Context) ([]string, error) { return s.cells(ctx) }

// UpdateSrvKeyspace applies change to a keyspace's serving graph in every
// cell.
func (s *Server) UpdateSrvKeyspace(ctx context.Context, keyspace string, change func(*topopb.SrvKeyspace)) error {
	return s.UpdateSrvKeyspaceByCell(ctx, keyspace, func(_ string, srv *topopb.SrvKeyspace) { change(srv) })
}

// UpdateSrvKeyspaceByCell is UpdateSrvKeyspace with the cell passed to
// change, for callers that keep what each cell had.
func (s *Server) UpdateSrvKeyspaceByCell(ctx context.Context, keyspace string, change func(cell string, srv *topopb.SrvKeyspace)) error {
	cells, err := s.cells(ctx)
	if err != nil {
		return err
	}
	for _, cell := range cells {
		srv, err := s.GetSrvKeyspace(ctx, cell, keyspace)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		change(cell, srv)
		if err := s.SaveSrvKeyspace(ctx, cell, keyspace, srv); err != nil {
			return fmt.Errorf("serving graph of %s in cell %s: %w", keyspace, cell, err)
		}
	}
	return nil
}

// ShardReferences returns references to the named shards of a keyspace,
// in key order.
func (s *Server) ShardReferences(ctx context.Context, keyspace string, names []string) ([]*topopb.ShardReference, error) {
	var refs []*topopb.ShardReference
	for _, name := range names {
		sh, err := s.GetShard(ctx, keyspace, name)
		if err != nil {
			return nil, err
		}
		refs = append(refs, &topopb.ShardReference{Name: sh.Name, KeyRange: sh.KeyRange})
	}
	sort.Slice(refs, func(i, j int) bool {
		return string(refs[i].KeyRange.GetStart()) < string(refs[j].KeyRange.GetStart())
	})
	return refs, nil
}
