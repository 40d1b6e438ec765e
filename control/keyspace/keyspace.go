package keyspace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
	"github.com/shardgate/shardgate/vindex"
)

// ParseShards reads a shard specification as users write it: a count ("4":
// vindex.EvenShards, so "-40,40-80,80-c0,c0-") or a comma-separated list of
// shard names ("-80,80-"). A count of 1 is the single shard "0", the
// unsharded convention. Names are returned as given, in the given order; the
// tiling is checked by CreateKeyspace.
func ParseShards(spec string) ([]string, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New(`no shards given: use a count ("4") or shard names ("-80,80-")`)
	}
	if spec == "0" {
		return []string{"0"}, nil // the name of an unsharded keyspace's shard
	}
	if n, err := strconv.Atoi(spec); err == nil {
		return vindex.EvenShards(n)
	}
	var names []string
	for _, s := range strings.Split(spec, ",") {
		if s = strings.TrimSpace(s); s != "" {
			names = append(names, s)
		}
	}
	return names, nil
}

// KeyspacePlan is a keyspace to create: its name, whether it is sharded and
// its shards. NewKeyspacePlan makes one and checks it.
type KeyspacePlan struct {
	Name    string
	Sharded bool
	Shards  []string // in key order
}

// NewKeyspacePlan checks a keyspace definition without touching the
// topology. A keyspace is sharded when sharded is set or it has more than
// one shard. An unsharded keyspace has exactly one shard, named "0"; a
// sharded keyspace with a single shard calls it "-" (the whole key space),
// so a single shard "0" given with sharded becomes "-". The shards of a
// sharded keyspace must tile the key space: the error names the shards that
// overlap or the range nobody covers.
func NewKeyspacePlan(name string, shards []string, sharded bool) (KeyspacePlan, error) {
	if err := topo.ValidateName("keyspace", name); err != nil {
		return KeyspacePlan{}, err
	}
	if len(shards) == 0 {
		return KeyspacePlan{}, fmt.Errorf("keyspace %s: no shards given", name)
	}
	shards = slices.Clone(shards)
	if len(shards) > 1 {
		sharded = true
	}
	if !sharded {
		if shards[0] != "0" {
			return KeyspacePlan{}, fmt.Errorf(`keyspace %s: an unsharded keyspace has one shard named "0", not %q (make it sharded to name shards by key range)`, name, shards[0])
		}
		return KeyspacePlan{Name: name, Shards: shards}, nil
	}
	if len(shards) == 1 && shards[0] == "0" {
		shards[0] = "-"
	}
	if err := vindex.CheckTiling(shards); err != nil {
		return KeyspacePlan{}, fmt.Errorf("keyspace %s: %w", name, err)
	}
	slices.SortFunc(shards, func(a, b string) int {
		ra, rb := vindex.MustParseKeyRange(a), vindex.MustParseKeyRange(b)
		return strings.Compare(string(ra.Start), string(rb.Start))
	})
	return KeyspacePlan{Name: name, Sharded: true, Shards: shards}, nil
}

// CreateKeyspace creates a keyspace with its shard records and writes its
// serving graph in the cell (topo.DefaultCell unless InCell). See
// NewKeyspacePlan for what is checked before anything is written. A
// keyspace that exists already is an error wrapping topo.ErrExists. If a
// write fails half-way, what was written is removed again.
func CreateKeyspace(ctx context.Context, ts *topo.Server, name string, shards []string, sharded bool, opts ...control.Option) error {
	plan, err := NewKeyspacePlan(name, shards, sharded)
	if err != nil {
		return err
	}
	return createKeyspace(ctx, ts, plan, control.BuildOptions(opts))
}

func createKeyspace(ctx context.Context, ts *topo.Server, plan KeyspacePlan, o control.Options) error {
	if err := ts.CreateKeyspace(ctx, &topopb.Keyspace{Name: plan.Name, Sharded: plan.Sharded}); err != nil {
		if errors.Is(err, topo.ErrExists) {
			return fmt.Errorf("keyspace %s already exists: %w", plan.Name, topo.ErrExists)
		}
		return err
	}
	err := func() error {
		for _, s := range plan.Shards {
			if _, err := ts.CreateShard(ctx, plan.Name, s); err != nil {
				return err
			}
		}
		return ts.RebuildSrvKeyspace(ctx, o.Cell, plan.Name)
	}()
	if err != nil {
		// Leave no half-made keyspace behind; a cancelled ctx must not stop
		// the cleanup.
		if derr := ts.DeleteKeyspace(context.WithoutCancel(ctx), plan.Name); derr != nil {
			return fmt.Errorf("create keyspace %s: %w (and removing it again failed: %v)", plan.Name, err, derr)
		}
		return fmt.Errorf("create keyspace %s: %w", plan.Name, err)
	}
	return nil
}

// EnsureKeyspace is CreateKeyspace for a keyspace that may exist already,
// as when a local cluster restarts on its data: an existing keyspace is kept
// if it has the same sharding and shards (shards missing from it are
// created, and its serving graph is rebuilt); one that differs is an error
// saying how. created tells whether the keyspace record was new.
func EnsureKeyspace(ctx context.Context, ts *topo.Server, name string, shards []string, sharded bool, opts ...control.Option) (created bool, err error) {
	plan, err := NewKeyspacePlan(name, shards, sharded)
	if err != nil {
		return false, err
	}
	o := control.BuildOptions(opts)
	ks, err := ts.GetKeyspace(ctx, name)
	if errors.Is(err, topo.ErrNotFound) {
		return true, createKeyspace(ctx, ts, plan, o)
	}
	if err != nil {
		return false, err
	}
	if ks.Sharded != plan.Sharded {
		return false, fmt.Errorf("keyspace %s exists with sharded=%v, but sharded=%v was asked for: delete it first or use another name", name, ks.Sharded, plan.Sharded)
	}
	existing, err := ts.ListShards(ctx, name)
	if err != nil {
		return false, err
	}
	have := make([]string, 0, len(existing))
	for _, s := range existing {
		have = append(have, s.Name)
	}
	for _, s := range have {
		if !slices.Contains(plan.Shards, s) {
			return false, fmt.Errorf("keyspace %s exists with shards %s, but %s was asked for: delete it first or use another name",
				name, strings.Join(have, ","), strings.Join(plan.Shards, ","))
		}
	}
	for _, s := range plan.Shards {
		if slices.Contains(have, s) {
			continue
		}
		if _, err := ts.CreateShard(ctx, name, s); err != nil {
			return false, err
		}
	}
	return false, ts.RebuildSrvKeyspace(ctx, o.Cell, name)
}
